//! `nrt-shim demo`: the bundled legacy program (tests/legacy/p2_double_buffer.c,
//! compiled by `cargo xtask demo` or installed by `cargo xtask install`) run three
//! ways on the simulator, with a trace and a timeline picture of each.
//!
//! Where each trace comes from:
//! - `shim`: the shim's own trace (NRT_SHIM_TRACE): host calls with their blocked
//!   time, device work per request as the shim saw it.
//! - `sync` and `implicit`: the shim cannot be there (these are the runs without it;
//!   it would also remove the implicit mode's variable), so `libnrt_demo_timeline.so`
//!   (cli/demo/timeline.c) is preloaded instead. It measures each nrt_execute /
//!   nrt_tensor_read / nrt_tensor_write call and, in implicit mode, the time each
//!   completion reached the legacy callback. Device slices are inferred: synchronous
//!   runtime, the nrt_execute calls themselves (they return when the device is done);
//!   implicit mode, from the later of the call's return and the previous completion to
//!   the request's completion. A call's blocked time is the part of it during which
//!   the device was busy. The trace says so in `otherData.note`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::locate;
use crate::svg;
use crate::trace::{self, Trace};

const LATENCY_US: u32 = 1000;
const HOST_US: u32 = 600;
const TIMELINE_LIB: &str = "libnrt_demo_timeline.so";

struct Config {
    name: &'static str,
    what: &'static str,
    env: Vec<(&'static str, String)>,
    shim: bool,
}

pub fn demo(iterations: u32, out: Option<PathBuf>, program: Option<PathBuf>) -> ExitCode {
    match demo_inner(iterations, out, program) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            crate::error(e);
            ExitCode::from(1)
        }
    }
}

fn demo_inner(iterations: u32, out: Option<PathBuf>, program: Option<PathBuf>) -> Result<(), String> {
    let program = match program {
        Some(p) => locate::absolute(&p),
        None => locate::demo_program()?,
    };
    let shim = locate::shim_lib()?;
    let sim = locate::sim_lib_dir(3)?;
    let timeline = program.parent().map(|d| d.join(TIMELINE_LIB)).filter(|p| p.is_file());
    let out = locate::absolute(&out.unwrap_or_else(|| PathBuf::from("nrt-shim-demo")));
    std::fs::create_dir_all(&out)
        .map_err(|e| format!("cannot create {}: {e}: choose another --out DIR", out.display()))?;

    println!(
        "Legacy program: {} (tests/legacy/p2_double_buffer.c, unmodified), {iterations} iterations, model {LATENCY_US} us, host work {HOST_US} us per step, on nrt-sim ({})",
        program.display(),
        sim.display()
    );
    let configs = [
        Config {
            name: "sync",
            what: "SDK 2.31+ runtime, no shim (what legacy binaries get today)",
            env: vec![("NRT_SIM_RUNTIME", "2.32".into())],
            shim: false,
        },
        Config {
            name: "implicit",
            what: "SDK 2.30 runtime, NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS=3 (what they had)",
            env: vec![("NRT_SIM_RUNTIME", "2.30".into()), ("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS", "3".into())],
            shim: false,
        },
        Config {
            name: "shim",
            what: "SDK 2.31+ runtime, nrt-async-shim preloaded, same variable",
            env: vec![("NRT_SIM_RUNTIME", "2.32".into()), ("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS", "3".into())],
            shim: true,
        },
    ];
    println!();
    println!("{:<9} {:>10} {:>10} {:>12} {:>8}  what", "config", "wall ms", "iter/s", "device busy", "vs sync");
    let mut sync_ms = 0.0;
    let mut files = Vec::new();
    let mut notes = Vec::new();
    for c in &configs {
        let report = out.join(format!("{}.report.json", c.name));
        let trace_path = out.join(format!("{}.trace.json", c.name));
        let raw = out.join(format!("{}.timeline.txt", c.name));
        for p in [&report, &trace_path, &raw] {
            let _ = std::fs::remove_file(p);
        }
        let mut cmd = Command::new(&program);
        cmd.args([iterations.to_string(), LATENCY_US.to_string(), HOST_US.to_string()])
            .env_remove("LD_PRELOAD")
            .env_remove("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS")
            .env_remove("NRT_SHIM_MODE")
            .env_remove("NRT_SHIM_MAX_INFLIGHT")
            .env_remove("NRT_SHIM_STATS")
            .env("LD_LIBRARY_PATH", run_prepend(&sim))
            .env("NRT_SIM_REPORT", &report)
            .envs(c.env.iter().map(|(k, v)| (*k, v.as_str())));
        if c.shim {
            cmd.env("LD_PRELOAD", &shim).env("NRT_SHIM_TRACE", &trace_path);
        } else if let Some(lib) = &timeline {
            cmd.env("LD_PRELOAD", lib).env("NRT_DEMO_TIMELINE", &raw);
        }
        let output = run_with_watchdog(cmd, Duration::from_secs(120)).map_err(|e| format!("the {} run {e}", c.name))?;
        if !output.0 {
            return Err(format!(
                "the {} run failed:\n{}\nrun `nrt-shim doctor {}` to check the set-up",
                c.name,
                output.1.trim_end(),
                program.display()
            ));
        }
        let text = std::fs::read_to_string(&report)
            .map_err(|e| format!("the {} run wrote no simulator report ({}: {e})", c.name, report.display()))?;
        let r: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", report.display()))?;
        let wall = r["wall_us"].as_f64().unwrap_or(0.0);
        let busy = busiest_unit_us(&r);
        let hazards = r["hazards"].as_u64().unwrap_or(0);
        let util = if wall > 0.0 { busy / wall * 100.0 } else { 0.0 };
        let ms = wall / 1000.0;
        if c.name == "sync" {
            sync_ms = ms;
        }
        println!(
            "{:<9} {:>10.1} {:>10.0} {:>11.0}% {:>7.2}x  {}{}",
            c.name,
            ms,
            f64::from(iterations) / (wall / 1e6),
            util,
            if ms > 0.0 { sync_ms / ms } else { 0.0 },
            c.what,
            if hazards > 0 { format!(" [{hazards} HAZARDS]") } else { String::new() }
        );
        files.push(report.clone());

        // The trace and its picture.
        if !c.shim {
            match std::fs::read_to_string(&raw) {
                Ok(raw_text) => {
                    let json = timeline_to_trace(&raw_text, c.name);
                    std::fs::write(&trace_path, json).map_err(|e| format!("writing {}: {e}", trace_path.display()))?;
                }
                Err(_) => notes.push(format!(
                    "{}: no trace ({TIMELINE_LIB} was not found next to the program, or wrote nothing)",
                    c.name
                )),
            }
        } else if !trace_path.is_file() {
            notes.push(format!("{}: the shim wrote no trace (an older shim without NRT_SHIM_TRACE?)", c.name));
        }
        if let Ok(text) = std::fs::read_to_string(&trace_path) {
            match Trace::parse(&text) {
                Ok(t) => {
                    let svg_path = out.join(format!("{}.svg", c.name));
                    std::fs::write(&svg_path, svg::render(&t, &format!("{}: {}", c.name, c.what)))
                        .map_err(|e| format!("writing {}: {e}", svg_path.display()))?;
                    files.push(trace_path.clone());
                    files.push(svg_path);
                }
                Err(e) => notes.push(format!("{}: the trace {} is unreadable: {e}", c.name, trace_path.display())),
            }
        }
    }
    println!();
    println!("Every run checked every output against the model's formula (the program exits 1 on a wrong byte).");
    println!("device busy: the simulator's busiest unit busy_us / wall_us (its report).");
    println!("Traces: shim = the shim's own NRT_SHIM_TRACE; sync and implicit = measured host calls with device");
    println!("slices inferred from them and the completion callbacks (see otherData.note in each file).");
    for n in &notes {
        println!("note: {n}");
    }
    println!("Files (open *.trace.json in ui.perfetto.dev; `nrt-shim report FILE` summarises one):");
    for f in files {
        println!("  {}", f.display());
    }
    Ok(())
}

fn run_prepend(dir: &Path) -> std::ffi::OsString {
    crate::run::prepend(dir, std::env::var_os("LD_LIBRARY_PATH"))
}

/// Runs `cmd` (stdout, stderr captured); Err if it outlives `limit` (it is killed).
fn run_with_watchdog(mut cmd: Command, limit: Duration) -> Result<(bool, String), String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start: {e}"))?;
    // Drain both pipes in threads so a chatty program cannot block on a full pipe.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t1 = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut so, &mut s);
        s
    });
    let t2 = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut se, &mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("did not finish within {} s and was killed", limit.as_secs()));
            }
        }
    };
    let (out, err) = (t1.join().unwrap_or_default(), t2.join().unwrap_or_default());
    Ok((status.success(), format!("{out}{err}")))
}

/// The busiest unit's busy time in the report's "busy_us" object.
fn busiest_unit_us(r: &Value) -> f64 {
    let mut best: f64 = 0.0;
    if let Some(cores) = r["busy_us"].as_object() {
        for units in cores.values() {
            if let Some(u) = units.as_object() {
                for v in u.values() {
                    best = best.max(v.as_f64().unwrap_or(0.0));
                }
            }
        }
    }
    best
}

/// A trace in the shim's format from the timing interposer's lines (see the module doc).
pub fn timeline_to_trace(raw: &str, config: &str) -> String {
    let mut host: Vec<(String, f64, f64)> = Vec::new();
    let mut done: Vec<(u64, u64, f64)> = Vec::new();
    for line in raw.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["H", name, a, b] => {
                if let (Ok(a), Ok(b)) = (a.parse::<f64>(), b.parse::<f64>()) {
                    host.push((name.to_string(), a, b));
                }
            }
            ["C", vnc, job, at] => {
                if let (Ok(v), Ok(j), Ok(t)) = (vnc.parse(), job.parse(), at.parse()) {
                    done.push((v, j, t));
                }
            }
            _ => {}
        }
    }
    host.sort_by(|a, b| a.1.total_cmp(&b.1));
    done.sort_by(|a, b| a.2.total_cmp(&b.2));
    let executes: Vec<&(String, f64, f64)> = host.iter().filter(|h| h.0 == "nrt_execute").collect();
    // Device slices: (core, job, start, end).
    let mut device: Vec<(u64, u64, f64, f64)> = Vec::new();
    let note;
    if !done.is_empty() && done.len() == executes.len() {
        note = "measured by libnrt_demo_timeline.so (no shim in this run): host calls as timed; device slices inferred from each nrt_execute's return and the completion callback (start = the later of the return and the previous completion); blocked = the part of a call during which the device was busy";
        let mut last_end: std::collections::HashMap<u64, f64> = Default::default();
        for (e, (vnc, job, at)) in executes.iter().zip(&done) {
            let prev = last_end.get(vnc).copied().unwrap_or(0.0);
            let start = e.2.max(prev).min(*at);
            device.push((*vnc, *job, start, *at));
            last_end.insert(*vnc, *at);
        }
    } else {
        note = "measured by libnrt_demo_timeline.so (no shim in this run): host calls as timed; the runtime is synchronous, so the device slices are the nrt_execute calls themselves (core 0 assumed); blocked = the part of a call during which the device was busy";
        for (i, e) in executes.iter().enumerate() {
            device.push((0, i as u64 + 1, e.1, e.2));
        }
    }
    let busy = trace::merged(device.iter().map(|d| (d.2, d.3)));
    let overlap = |a: f64, b: f64| -> f64 { busy.iter().map(|(x, y)| (b.min(*y) - a.max(*x)).max(0.0)).sum() };

    let mut ev: Vec<String> = vec![
        r#"{"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "nrt-shim demo timeline"}}"#.into(),
        r#"{"ph": "M", "name": "thread_name", "pid": 1, "tid": 1, "args": {"name": "app thread 1"}}"#.into(),
    ];
    let mut cores: Vec<u64> = device.iter().map(|d| d.0).collect();
    cores.sort_unstable();
    cores.dedup();
    for c in &cores {
        ev.push(format!(
            r#"{{"ph": "M", "name": "thread_name", "pid": 1, "tid": {}, "args": {{"name": "core {c} compute"}}}}"#,
            1000 + 16 * c
        ));
    }
    for (name, a, b) in &host {
        ev.push(format!(
            r#"{{"ph": "X", "cat": "host", "name": "{name}", "pid": 1, "tid": 1, "ts": {a:.3}, "dur": {:.3}, "args": {{"blocked_us": {:.3}}}}}"#,
            b - a,
            overlap(*a, *b)
        ));
    }
    for (c, job, a, b) in &device {
        ev.push(format!(
            r#"{{"ph": "X", "cat": "device", "name": "double_buffer #{job}", "pid": 1, "tid": {}, "ts": {a:.3}, "dur": {:.3}, "args": {{"core": {c}, "job": {job}, "status": 0}}}}"#,
            1000 + 16 * c,
            b - a
        ));
    }
    let mut s = String::new();
    let _ = write!(
        s,
        "{{\n  \"displayTimeUnit\": \"ms\",\n  \"otherData\": {{\"tool\": \"nrt-shim demo\", \"mode\": {}, \"events\": {}, \"dropped_events\": 0, \"note\": {}}},\n  \"traceEvents\": [\n    {}\n  ]\n}}\n",
        Value::from(config),
        ev.len(),
        Value::from(note),
        ev.join(",\n    ")
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_timeline_becomes_a_trace() {
        let raw =
            "H nrt_tensor_write 0 10\nH nrt_execute 10 1010\nH nrt_tensor_read 1010 1020\nH nrt_execute 1600 2600\n";
        let t = Trace::parse(&timeline_to_trace(raw, "sync")).unwrap();
        assert_eq!(t.tracks.len(), 2);
        let dev = &t.tracks[1];
        assert_eq!(dev.name, "core 0 compute");
        assert_eq!(dev.slices.len(), 2);
        assert_eq!((dev.slices[0].ts, dev.slices[0].dur), (10.0, 1000.0));
        let exec = t.tracks[0].slices.iter().find(|s| s.name == "nrt_execute").unwrap();
        assert_eq!(exec.blocked_us, 1000.0);
        assert!(t.other["note"].contains("synchronous"));
    }

    #[test]
    fn implicit_timeline_infers_device_slices_from_completions() {
        // Two executes return at once; completions at 1010 and 2010; the read waits.
        let raw = "H nrt_execute 0 10\nH nrt_execute 20 30\nH nrt_tensor_read 40 2015\nC 0 1 1010\nC 0 2 2010\n";
        let t = Trace::parse(&timeline_to_trace(raw, "implicit")).unwrap();
        let dev = &t.tracks[1];
        assert_eq!(
            dev.slices.iter().map(|s| (s.ts, s.end())).collect::<Vec<_>>(),
            vec![(10.0, 1010.0), (1010.0, 2010.0)]
        );
        let read = t.tracks[0].slices.iter().find(|s| s.name == "nrt_tensor_read").unwrap();
        assert_eq!(read.blocked_us, 1970.0);
        assert!(t.other["note"].contains("completion callback"));
    }
}

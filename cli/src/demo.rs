//! `nrt-shim demo`: the bundled legacy program (tests/legacy/p2_double_buffer.c,
//! compiled by `cargo xtask demo` or installed by `cargo xtask install`) run four
//! ways on the simulator: the synchronous runtime, the old implicit async mode under
//! each of its two fence rules (`NRT_SIM_IMPLICIT_FENCE=all`: every read and write
//! waits for all pending executions, the documentation's rule; `=storage`: a read
//! waits only for in-flight writes of its storage, a write for all in-flight access
//! of it, the 2.31.24 runtime binary's rule), and the shim. The shim is judged against
//! the faster implicit run, the weaker shown beside it. A trace and a timeline of each
//! run, and `compare.svg`, all of them on one time axis.
//!
//! Where each trace comes from:
//! - `shim`: the shim's own trace (NRT_SHIM_TRACE): host calls with their blocked
//!   time, device work per request as the shim saw it.
//! - the others: the shim cannot be there (these are the runs without it; it would
//!   also remove the implicit mode's variable), so `libnrt_demo_timeline.so`
//!   (cli/demo/timeline.c) is preloaded instead; see timeline.rs.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::locate;
use crate::svg::{self, Run};
use crate::timeline;
use crate::trace::Trace;

const LATENCY_US: u32 = 1000;
const HOST_US: u32 = 600;
const TIMELINE_LIB: &str = "libnrt_demo_timeline.so";
/// Within this share, two measurements on a shared machine are "alike".
const NOISE: f64 = 0.10;

struct Config {
    name: &'static str,
    what: &'static str,
    env: Vec<(&'static str, &'static str)>,
    shim: bool,
    implicit: bool,
}

/// What one run measured.
struct Outcome {
    wall_us: f64,
    util: f64,
    hazards: u64,
    trace: Option<Trace>,
}

fn configs() -> [Config; 4] {
    let implicit = |fence| {
        vec![
            ("NRT_SIM_RUNTIME", "2.30"),
            ("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS", "3"),
            ("NRT_SIM_IMPLICIT_FENCE", fence),
        ]
    };
    [
        Config {
            name: "sync",
            what: "SDK 2.31+ runtime, no shim (what legacy binaries get today)",
            env: vec![("NRT_SIM_RUNTIME", "2.32")],
            shim: false,
            implicit: false,
        },
        Config {
            name: "implicit-all",
            what: "SDK 2.30, NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS=3; reads and writes wait for all pending executions (the documentation's rule)",
            env: implicit("all"),
            shim: false,
            implicit: true,
        },
        Config {
            name: "implicit-storage",
            what: "SDK 2.30, same variable; a read waits only for writes of its storage (the 2.31.24 binary's rule)",
            env: implicit("storage"),
            shim: false,
            implicit: true,
        },
        Config {
            name: "shim",
            what: "SDK 2.31+ runtime, nrt-async-shim preloaded, same variable",
            env: vec![("NRT_SIM_RUNTIME", "2.32"), ("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS", "3")],
            shim: true,
            implicit: false,
        },
    ]
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

struct Setup {
    program: PathBuf,
    shim: PathBuf,
    sim: PathBuf,
    timeline: Option<PathBuf>,
    out: PathBuf,
    iterations: u32,
}

fn demo_inner(iterations: u32, out: Option<PathBuf>, program: Option<PathBuf>) -> Result<(), String> {
    let program = match program {
        Some(p) => locate::absolute(&p),
        None => locate::demo_program()?,
    };
    let setup = Setup {
        shim: locate::shim_lib()?,
        sim: locate::sim_lib_dir(3)?,
        timeline: program.parent().map(|d| d.join(TIMELINE_LIB)).filter(|p| p.is_file()),
        out: locate::absolute(&out.unwrap_or_else(|| PathBuf::from("nrt-shim-demo"))),
        program,
        iterations,
    };
    std::fs::create_dir_all(&setup.out)
        .map_err(|e| format!("cannot create {}: {e}: choose another --out DIR", setup.out.display()))?;
    println!(
        "Legacy program: {} (tests/legacy/p2_double_buffer.c, unmodified), {iterations} iterations, model {LATENCY_US} us, host work {HOST_US} us per step, on nrt-sim ({})",
        setup.program.display(),
        setup.sim.display()
    );

    let configs = configs();
    let mut notes = Vec::new();
    let mut files = Vec::new();
    let mut outcomes = Vec::new();
    for c in &configs {
        outcomes.push(run_one(&setup, c, &mut files, &mut notes)?);
    }
    print_table(&configs, &outcomes, iterations);

    // The comparison picture, of every run that has a trace.
    let runs: Vec<Run> = configs
        .iter()
        .zip(&outcomes)
        .filter_map(|(c, o)| Some(Run { label: c.name.into(), detail: c.what.into(), trace: o.trace.as_ref()? }))
        .collect();
    let compare = setup.out.join("compare.svg");
    let _ = std::fs::remove_file(&compare);
    if runs.len() > 1 {
        let title = format!(
            "p2_double_buffer.c, {iterations} iterations ({LATENCY_US} us model, {HOST_US} us host work per step): every run on one time axis"
        );
        std::fs::write(&compare, svg::render_runs(&title, &runs))
            .map_err(|e| format!("writing {}: {e}", compare.display()))?;
    } else {
        notes.push("no comparison picture: fewer than two runs have a trace".into());
    }

    println!();
    println!("Every run checked every output against the model's formula (the program exits 1 on a wrong byte).");
    println!("device busy: the simulator's busiest unit busy_us / wall_us (its report).");
    println!("Traces: shim = the shim's own NRT_SHIM_TRACE; the others = measured host calls with device slices");
    println!("inferred from them and the completion callbacks (see otherData.note in each file). In the pictures,");
    println!("wall time and device busy are measured from each trace (first call to last), so they differ a little");
    println!("from the table's (the simulator's report, nrt_init to nrt_close).");
    for n in &notes {
        println!("note: {n}");
    }
    if compare.is_file() {
        println!("Comparison picture (all runs on one time axis): {}", compare.display());
    }
    println!(
        "Per-run files (open *.trace.json in ui.perfetto.dev; `nrt-shim report A B --svg OUT` compares any traces):"
    );
    for f in files {
        println!("  {}", f.display());
    }
    Ok(())
}

/// Runs the program under `c`; writes its report, trace and picture (named in `files`).
fn run_one(setup: &Setup, c: &Config, files: &mut Vec<PathBuf>, notes: &mut Vec<String>) -> Result<Outcome, String> {
    let out = &setup.out;
    let report = out.join(format!("{}.report.json", c.name));
    let trace_path = out.join(format!("{}.trace.json", c.name));
    let raw = out.join(format!("{}.timeline.txt", c.name));
    let svg_path = out.join(format!("{}.svg", c.name));
    for p in [&report, &trace_path, &raw, &svg_path] {
        let _ = std::fs::remove_file(p);
    }
    let mut cmd = Command::new(&setup.program);
    cmd.args([setup.iterations.to_string(), LATENCY_US.to_string(), HOST_US.to_string()])
        .env_remove("LD_PRELOAD")
        .env_remove("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS")
        .env_remove("NRT_SIM_IMPLICIT_FENCE")
        .env_remove("NRT_SHIM_MODE")
        .env_remove("NRT_SHIM_MAX_INFLIGHT")
        .env_remove("NRT_SHIM_STATS")
        .env("LD_LIBRARY_PATH", run_prepend(&setup.sim))
        .env("NRT_SIM_REPORT", &report)
        .envs(c.env.iter().copied());
    if c.shim {
        cmd.env("LD_PRELOAD", &setup.shim).env("NRT_SHIM_TRACE", &trace_path);
    } else if let Some(lib) = &setup.timeline {
        cmd.env("LD_PRELOAD", lib).env("NRT_DEMO_TIMELINE", &raw);
    }
    let output = run_with_watchdog(cmd, Duration::from_secs(120)).map_err(|e| format!("the {} run {e}", c.name))?;
    if !output.0 {
        return Err(format!(
            "the {} run failed:\n{}\nrun `nrt-shim doctor {}` to check the set-up",
            c.name,
            output.1.trim_end(),
            setup.program.display()
        ));
    }
    let text = std::fs::read_to_string(&report)
        .map_err(|e| format!("the {} run wrote no simulator report ({}: {e})", c.name, report.display()))?;
    let r: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", report.display()))?;
    let wall_us = r["wall_us"].as_f64().unwrap_or(0.0);
    let util = if wall_us > 0.0 { busiest_unit_us(&r) / wall_us } else { 0.0 };
    files.push(report);

    if !c.shim {
        match std::fs::read_to_string(&raw) {
            Ok(raw_text) => std::fs::write(&trace_path, timeline::to_trace(&raw_text, c.name))
                .map_err(|e| format!("writing {}: {e}", trace_path.display()))?,
            Err(_) => notes.push(format!(
                "{}: no trace ({TIMELINE_LIB} was not found next to the program, or wrote nothing)",
                c.name
            )),
        }
    } else if !trace_path.is_file() {
        notes.push(format!("{}: the shim wrote no trace (an older shim without NRT_SHIM_TRACE?)", c.name));
    }
    let mut trace = None;
    if let Ok(text) = std::fs::read_to_string(&trace_path) {
        match Trace::parse(&text) {
            Ok(t) => {
                std::fs::write(&svg_path, svg::render(&t, c.name, c.what))
                    .map_err(|e| format!("writing {}: {e}", svg_path.display()))?;
                files.push(trace_path);
                files.push(svg_path);
                trace = Some(t);
            }
            Err(e) => notes.push(format!("{}: the trace {} is unreadable: {e}", c.name, trace_path.display())),
        }
    }
    Ok(Outcome { wall_us, util, hazards: r["hazards"].as_u64().unwrap_or(0), trace })
}

/// The table, and what it shows, said no stronger than it holds against the faster
/// of the two implicit runs.
fn print_table(configs: &[Config], outcomes: &[Outcome], iterations: u32) {
    let named = |name: &str| configs.iter().position(|c| c.name == name).map(|i| &outcomes[i]);
    let (Some(sync), Some(shim)) = (named("sync"), named("shim")) else { return };
    let mut implicit: Vec<(&Config, &Outcome)> = configs.iter().zip(outcomes).filter(|(c, _)| c.implicit).collect();
    // The stronger baseline first (the faster one; a tie goes to the binary's rule,
    // listed second).
    implicit.sort_by(|a, b| a.1.wall_us.total_cmp(&b.1.wall_us).then(b.0.name.cmp(a.0.name)));
    let ratio = |base: &Outcome, o: &Outcome| if o.wall_us > 0.0 { base.wall_us / o.wall_us } else { 0.0 };
    println!();
    println!(
        "{:<17} {:>9} {:>8} {:>12} {:>8} {:>12}  what",
        "config", "wall ms", "iter/s", "device busy", "vs sync", "vs implicit"
    );
    for (c, o) in configs.iter().zip(outcomes) {
        let vs_implicit = implicit.first().map(|(_, best)| format!("{:.2}x", ratio(best, o))).unwrap_or_default();
        println!(
            "{:<17} {:>9.1} {:>8.0} {:>11.0}% {:>7.2}x {:>12}  {}{}",
            c.name,
            o.wall_us / 1000.0,
            f64::from(iterations) / (o.wall_us / 1e6),
            o.util * 100.0,
            ratio(sync, o),
            vs_implicit,
            c.what,
            if o.hazards > 0 { format!(" [{} HAZARDS]", o.hazards) } else { String::new() }
        );
    }
    let [(best_c, best), (weak_c, weak)] = implicit.as_slice() else { return };
    println!();
    println!(
        "vs implicit: against the faster implicit run, {} ({:.1} ms). Against the slower, {} ({:.1} ms), the shim is {:.2}x.",
        best_c.name,
        best.wall_us / 1000.0,
        weak_c.name,
        weak.wall_us / 1000.0,
        ratio(weak, shim)
    );
    let (r, s) = (ratio(best, shim), ratio(sync, shim));
    // Both rules measuring alike means this simulator may not know the variable: then
    // the stronger baseline was not measured and "at its best" would claim too much.
    let alike = weak.wall_us > 0.0 && (weak.wall_us - best.wall_us) / weak.wall_us < 0.03;
    let baseline = if alike { "the old implicit mode as measured here" } else { "the old implicit mode at its best" };
    if r >= 1.0 + NOISE {
        println!("On this program the shim is {r:.2}x {baseline}, and {s:.2}x the synchronous runtime.");
    } else if r > 1.0 - NOISE {
        println!(
            "On this program the shim matches {baseline} ({r:.2}x, within {:.0}%) and is {s:.2}x the synchronous",
            NOISE * 100.0
        );
        println!("runtime: it gives back the pipelining legacy binaries had before SDK 2.31; it does not beat it.");
    } else {
        println!("On this program the shim is slower than {baseline} ({r:.2}x), and {s:.2}x the synchronous runtime.");
    }
    if alike {
        println!(
            "note: the two implicit rules measured within 3% of each other. A simulator without NRT_SIM_IMPLICIT_FENCE"
        );
        println!(
            "runs both by the documentation's rule; then the binary's rule, the stronger baseline, was not measured."
        );
    }
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

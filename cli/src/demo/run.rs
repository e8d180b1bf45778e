//! One run of the demo's program under a configuration, and keeping the median run's
//! files of a configuration.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Config, Outcome, Setup, TIMELINE_LIB};
use crate::svg;
use crate::timeline;
use crate::trace::Trace;

/// What one run measured, and where its files are.
pub struct Measured {
    wall_us: f64,
    util: f64,
    hazards: u64,
    report: PathBuf,
    /// The trace (the shim's, or made from the interposer's lines), if there is one.
    trace: Option<PathBuf>,
    raw: Option<PathBuf>,
}

fn note(notes: &mut Vec<String>, n: String) {
    if !notes.contains(&n) {
        notes.push(n);
    }
}

/// Runs the program under `c` (round `round`: its files are `NAME.ROUND.*`).
pub fn run_one(setup: &Setup, c: &Config, round: u32, notes: &mut Vec<String>) -> Result<Measured, String> {
    let out = &setup.out;
    let report = out.join(format!("{}.{round}.report.json", c.name));
    let trace_path = out.join(format!("{}.{round}.trace.json", c.name));
    let raw = out.join(format!("{}.{round}.timeline.txt", c.name));
    for p in [&report, &trace_path, &raw] {
        let _ = std::fs::remove_file(p);
    }
    let mut cmd = Command::new(&setup.program);
    cmd.args([setup.iterations.to_string(), super::LATENCY_US.to_string(), super::HOST_US.to_string()])
        .env_remove("LD_PRELOAD")
        .env_remove("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS")
        .env_remove("NRT_SIM_IMPLICIT_FENCE")
        .env_remove("NRT_SHIM_MODE")
        .env_remove("NRT_SHIM_MAX_INFLIGHT")
        .env_remove("NRT_SHIM_STATS")
        .env("LD_LIBRARY_PATH", crate::run::prepend(&setup.sim, std::env::var_os("LD_LIBRARY_PATH")))
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

    let mut kept_raw = None;
    if !c.shim {
        match std::fs::read_to_string(&raw) {
            Ok(raw_text) => {
                std::fs::write(&trace_path, timeline::to_trace(&raw_text, c.name))
                    .map_err(|e| format!("writing {}: {e}", trace_path.display()))?;
                kept_raw = Some(raw);
            }
            Err(_) => note(
                notes,
                format!("{}: no trace ({TIMELINE_LIB} was not found next to the program, or wrote nothing)", c.name),
            ),
        }
    } else if !trace_path.is_file() {
        note(notes, format!("{}: the shim wrote no trace (an older shim without NRT_SHIM_TRACE?)", c.name));
    }
    let trace = trace_path.is_file().then_some(trace_path);
    Ok(Measured { wall_us, util, hazards: r["hazards"].as_u64().unwrap_or(0), report, trace, raw: kept_raw })
}

/// The median of `runs` (the faster middle one of an even count): its files renamed
/// to `NAME.report.json`, `NAME.trace.json`, `NAME.timeline.txt`, its picture
/// `NAME.svg` drawn, the other runs' files removed.
pub fn keep_median(
    setup: &Setup,
    c: &Config,
    mut runs: Vec<Measured>,
    files: &mut Vec<PathBuf>,
    notes: &mut Vec<String>,
) -> Result<Outcome, String> {
    runs.sort_by(|a, b| a.wall_us.total_cmp(&b.wall_us));
    let (min_us, max_us) = (runs[0].wall_us, runs[runs.len() - 1].wall_us);
    let hazards = runs.iter().map(|m| m.hazards).sum();
    let median = runs.remove((runs.len() - 1) / 2);
    for m in &runs {
        for p in [Some(&m.report), m.trace.as_ref(), m.raw.as_ref()].into_iter().flatten() {
            let _ = std::fs::remove_file(p);
        }
    }
    let out = &setup.out;
    let keep = |from: &Path, suffix: &str| -> Result<PathBuf, String> {
        let to = out.join(format!("{}.{suffix}", c.name));
        std::fs::rename(from, &to).map_err(|e| format!("renaming {} to {}: {e}", from.display(), to.display()))?;
        Ok(to)
    };
    let svg_path = out.join(format!("{}.svg", c.name));
    let _ = std::fs::remove_file(&svg_path);
    files.push(keep(&median.report, "report.json")?);
    if let Some(raw) = &median.raw {
        keep(raw, "timeline.txt")?;
    }
    let mut trace = None;
    if let Some(from) = &median.trace {
        let path = keep(from, "trace.json")?;
        let text = std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        match Trace::parse(&text) {
            Ok(t) => {
                std::fs::write(&svg_path, svg::render(&t, c.name, c.what))
                    .map_err(|e| format!("writing {}: {e}", svg_path.display()))?;
                files.push(path);
                files.push(svg_path);
                trace = Some(t);
            }
            Err(e) => note(notes, format!("{}: the trace {} is unreadable: {e}", c.name, path.display())),
        }
    }
    Ok(Outcome { wall_us: median.wall_us, min_us, max_us, util: median.util, hazards, trace })
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

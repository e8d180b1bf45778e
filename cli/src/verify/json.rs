//! The "send us this report" JSON of verify (`--json`).

use serde_json::{json, Value};

use super::recfile::Call;
use super::report::{describe, median, status_name, Report};
use super::runner::Config;
use super::timing::{Reported, Timing};
use super::Verdict;

impl Report<'_> {
    pub fn json(&self) -> String {
        let runs: Vec<Value> = self
            .done
            .iter()
            .map(|d| {
                let o = &d.outcome;
                json!({
                    "config": match d.config { Config::Reference => "reference".to_string(), Config::Depth(n) => format!("async depth {n}") },
                    "wall_s": o.wall.as_secs_f64(),
                    "exit": o.exit,
                    "signal": o.signal,
                    "timed_out": o.timed_out,
                    "stdout_bytes": o.stdout_len,
                    "stdout_digest": format!("{:016x}", o.stdout_digest),
                    "threads": o.record.as_ref().map(|p| p.threads.len()),
                    "calls": o.record.as_ref().map(|p| p.threads.values().map(Vec::len).sum::<usize>()),
                    "other_processes": o.other_processes,
                    "other_process_calls": o.other_calls,
                    "failures_reported_later": timing_json(&d.timing),
                    "reads_of_failed_bytes": d.timing.marked_reads,
                })
            })
            .collect();
        let shim_version = self
            .done
            .iter()
            .find_map(|d| d.outcome.record.as_ref().map(|p| p.shim_version.clone()))
            .unwrap_or_default();
        let runtime = self.runtime();
        let (verdict, figures, difference) = match self.result {
            Verdict::Identical(f) => ("identical", Some(f), Value::Null),
            Verdict::Different(f, found) => {
                let d = found.diff.as_ref();
                let side = |c: Option<&Call>| c.map(|c| describe(Some(c)));
                (
                    "different",
                    Some(f),
                    json!({
                        "config": found.config.describe(),
                        "run": found.run,
                        "thread": d.map(|d| d.reference.thread),
                        "call_index": d.map(|d| d.index),
                        "what": d.map(|d| d.what.clone()),
                        "reference": d.and_then(|d| side(d.reference.call.as_ref())),
                        "shim": d.and_then(|d| side(d.run.call.as_ref())),
                        "bytes": found.bytes,
                        "other": found.other,
                        "reproduce": match found.config { Config::Depth(n) => self.reproduce(n), Config::Reference => String::new() },
                    }),
                )
            }
            Verdict::Undecided(msg) => ("undecided", None, json!({ "error": msg })),
        };
        let figures = figures.map(|f| {
            json!({
                "reads": f.baseline.reads,
                "statuses": f.baseline.statuses,
                "threads": f.baseline.threads,
                "nondeterministic_reads": f.baseline.nondeterministic_reads,
                "nondeterministic_statuses": f.baseline.nondeterministic_statuses,
                "uncompared_calls": f.baseline.uncompared_calls,
                "stdout_nondeterministic": f.stdout_nondeterministic,
                "other_processes": f.other_processes,
                "speedup_at_deepest": self.speedup().map(|(d, x)| json!({"depth": d, "x": x})),
                "median_wall_s": self.medians(),
            })
        });
        let v = json!({
            "report": "nrt-shim verify",
            "nrt_shim_version": env!("CARGO_PKG_VERSION"),
            "shim_version": shim_version,
            "runtime": runtime,
            "machine": machine(),
            "program": self.args.program.iter().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>(),
            "depths": self.args.depths,
            "runs_per_depth": self.args.runs,
            "timeout_s": self.args.timeout,
            "verdict": verdict,
            "summary": self.summary(),
            "failure_timing": self.timing_note(),
            "figures": figures,
            "first_difference": difference,
            "runs": runs,
        });
        serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
    }

    fn medians(&self) -> Value {
        let mut m = serde_json::Map::new();
        if let Some(r) = median(self.walls(Config::Reference)) {
            m.insert("reference".into(), json!(r.as_secs_f64()));
        }
        for d in &self.args.depths {
            if let Some(w) = median(self.walls(Config::Depth(*d))) {
                m.insert(format!("depth {d}"), json!(w.as_secs_f64()));
            }
        }
        Value::Object(m)
    }

    /// Which runtime the runs used, and what it says of its version.
    fn runtime(&self) -> Value {
        let lib = self.runtime_lib.as_deref();
        let probe = lib.and_then(|l| crate::probe::probe(l).ok());
        json!({
            "simulator": self.on_sim,
            "library": lib.map(|l| l.display().to_string()),
            "version": probe.as_ref().map(|p| p.version.clone()),
            "detail": probe.as_ref().map(|p| p.detail.clone()),
            "nrta_generation": probe.as_ref().map(|p| p.generation()),
        })
    }
}

/// One run's deferred failures: where each was returned in the reference and reported under the shim.
fn timing_json(t: &Timing) -> Value {
    let moves: Vec<Value> = t
        .deferrals
        .iter()
        .map(|d| {
            let to = match &d.reported {
                Reported::Call { thread, index, func } => {
                    json!({"thread": thread, "call_index": index, "function": func})
                }
                Reported::Callback => json!("callback"),
            };
            json!({
                "status": status_name(d.status),
                "returned_in_reference_by": {"thread": d.thread, "call_index": d.index, "function": d.func},
                "reported_under_shim_by": to,
            })
        })
        .collect();
    Value::Array(moves)
}

fn machine() -> Value {
    // SAFETY: uname fills the zeroed struct; its fields are NUL-terminated.
    let u = unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        libc::uname(&mut u);
        u
    };
    let field = |f: &[libc::c_char]| -> String {
        let bytes: Vec<u8> = f.iter().take_while(|c| **c != 0).map(|c| *c as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|t| {
        t.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    });
    json!({
        "os": field(&u.sysname),
        "release": field(&u.release),
        "arch": field(&u.machine),
        "cpus": cpus,
        "cpu": model,
    })
}

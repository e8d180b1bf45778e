//! What verify prints (the verdict on stdout) and the "send us this report" JSON.

use std::time::Duration;

use serde_json::{json, Value};

use super::recfile::Call;
use super::runner::Config;
use super::timing::{Reported, Timing};
use super::{Done, Figures, Verdict, VerifyArgs};

pub struct Report<'a> {
    pub args: &'a VerifyArgs,
    pub on_sim: bool,
    pub runtime_lib: Option<std::path::PathBuf>,
    pub done: &'a [Done],
    pub result: &'a Verdict,
}

/// 1236 as "1,236".
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

fn median(mut v: Vec<Duration>) -> Option<Duration> {
    v.sort();
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2),
    }
}

pub fn status_name(code: u64) -> String {
    let name = match code {
        0 => "NRT_SUCCESS",
        1 => "NRT_FAILURE",
        2 => "NRT_INVALID",
        3 => "NRT_INVALID_HANDLE",
        4 => "NRT_RESOURCE",
        5 => "NRT_TIMEOUT",
        6 => "NRT_HW_ERROR",
        7 => "NRT_QUEUE_FULL",
        13 => "NRT_UNINITIALIZED",
        14 => "NRT_CLOSED",
        101 => "NRT_EXEC_UNIT_UNRECOVERABLE",
        1002 => "NRT_EXEC_BAD_INPUT",
        1003 => "NRT_EXEC_COMPLETED_WITH_NUM_ERR",
        1004 => "NRT_EXEC_COMPLETED_WITH_ERR",
        1005 => "NRT_EXEC_NC_BUSY",
        _ => return code.to_string(),
    };
    format!("{code} {name}")
}

fn describe(c: Option<&Call>) -> String {
    let Some(c) = c else { return "(no call)".into() };
    let mut s = format!("{} {}", c.func, if c.tensor.is_empty() { "-" } else { &c.tensor });
    if c.size > 0 || c.offset > 0 {
        s.push_str(&format!(" bytes [{}, {})", c.offset, c.offset + c.size));
    }
    if !c.tensor2.is_empty() && !c.func.starts_with("nrt_execute") {
        s.push_str(&format!(" with {}", c.tensor2));
    }
    s.push_str(&format!(" -> {}", status_name(c.status)));
    if c.is_read() {
        s.push_str(&format!(", digest {:016x}", c.last));
    }
    s
}

fn shell_word(w: &std::ffi::OsStr) -> String {
    let s = w.to_string_lossy();
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@%".contains(c)) {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

impl Report<'_> {
    fn depths_text(&self) -> String {
        let d: Vec<String> = self.args.depths.iter().map(u32::to_string).collect();
        match d.len() {
            1 => format!("depth {}", d[0]),
            _ => format!("depths {} and {}", d[..d.len() - 1].join(", "), d[d.len() - 1]),
        }
    }

    fn walls(&self, config: Config) -> Vec<Duration> {
        self.done.iter().filter(|d| d.config == config).map(|d| d.outcome.wall).collect()
    }

    /// The reference's median wall time over the deepest depth's.
    fn speedup(&self) -> Option<(u32, f64)> {
        let deepest = *self.args.depths.iter().max()?;
        let r = median(self.walls(Config::Reference))?;
        let d = median(self.walls(Config::Depth(deepest)))?;
        Some((deepest, r.as_secs_f64() / d.as_secs_f64().max(1e-9)))
    }

    fn prefix_env(&self) -> String {
        let mut s = String::new();
        for (k, v) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("NRT_SHIM_TEST_") {
                s.push_str(&format!("{k}={} ", shell_word(&v)));
            }
        }
        s
    }

    pub fn reproduce(&self, depth: u32) -> String {
        let mut s = self.prefix_env();
        s.push_str("nrt-shim run");
        if self.on_sim {
            s.push_str(" --sim");
        }
        if let Some(a) = self.args.sim_abi {
            s.push_str(&format!(" --sim-abi {a}"));
        }
        s.push_str(&format!(" --max-inflight {depth} --"));
        for w in &self.args.program {
            s.push(' ');
            s.push_str(&shell_word(w));
        }
        s
    }

    fn uncompared(&self, f: &Figures) -> String {
        let b = &f.baseline;
        let mut parts = Vec::new();
        if b.nondeterministic_reads > 0 {
            parts.push(plural(b.nondeterministic_reads, "read", "reads"));
        }
        if b.nondeterministic_statuses > 0 {
            parts.push(plural(b.nondeterministic_statuses, "status", "statuses"));
        }
        if b.uncompared_calls > 0 {
            parts.push(format!(
                "{} after the reference runs' calls diverged",
                plural(b.uncompared_calls, "call", "calls")
            ));
        }
        if f.stdout_nondeterministic {
            parts.push("stdout".into());
        }
        let mut s = String::new();
        if !parts.is_empty() {
            s = format!(
                "; left out as the program's own nondeterminism (different in the two reference runs): {}",
                parts.join(", ")
            );
        }
        if f.other_processes > 0 {
            s.push_str(&format!("; {} not compared", plural(f.other_processes, "other process", "other processes")));
        }
        s
    }

    pub fn summary(&self) -> Option<String> {
        let Verdict::Identical(f) = self.result else { return None };
        let b = &f.baseline;
        let runs = self.done.iter().filter(|d| d.config != Config::Reference).count();
        let mut s = format!(
            "{}, {}, {}: identical in {} at {}",
            plural(b.reads, "read", "reads"),
            plural(b.statuses, "status", "statuses"),
            plural(b.threads, "thread", "threads"),
            plural(runs, "run", "runs"),
            self.depths_text()
        );
        if let Some(note) = self.timing_note() {
            s.push_str(&format!(" ({note})"));
        }
        if let Some((d, x)) = self.speedup() {
            if x >= 1.0 {
                s.push_str(&format!("; {x:.2}x faster at depth {d}"));
            } else {
                s.push_str(&format!("; {:.2}x slower at depth {d}", 1.0 / x));
            }
        }
        s.push_str(&self.uncompared(f));
        Some(s)
    }

    /// What the failure-timing contract explained, over the compared runs.
    fn timing_note(&self) -> Option<String> {
        let runs: Vec<&Done> = self.done.iter().filter(|d| d.config != Config::Reference).collect();
        let first = runs.iter().find(|d| !d.timing.deferrals.is_empty())?;
        let mut note = first.timing.note()?;
        let same = runs.iter().filter(|d| d.timing == first.timing).count();
        if same < runs.len() {
            note.push_str(&format!(
                " (so in {same} of {} runs; the others moved other failures or none: each run's list is in --json)",
                runs.len()
            ));
        }
        Some(note)
    }

    pub fn print(&self) {
        match self.result {
            Verdict::Identical(_) => println!("{}", self.summary().unwrap_or_default()),
            Verdict::Undecided(_) => {}
            Verdict::Different(f, found) => {
                let Config::Depth(depth) = found.config else { return };
                println!("DIFFERENT at depth {depth} (run {} of {}):", found.run, self.args.runs);
                if let Some(d) = &found.diff {
                    let thread =
                        if d.reference.thread == u32::MAX { "-".into() } else { d.reference.thread.to_string() };
                    println!("  thread {thread}, call {}: {}", d.index, d.what);
                    println!("  {:<28} {}", Config::Reference.describe(), describe(d.reference.call.as_ref()));
                    println!("  {:<28} {}", found.config.describe(), describe(d.run.call.as_ref()));
                }
                if let Some(b) = &found.bytes {
                    println!("  {b}");
                }
                for o in &found.other {
                    println!("  {o}");
                }
                let b = &f.baseline;
                println!(
                    "  compared: {}, {}, {}{}",
                    plural(b.reads, "read", "reads"),
                    plural(b.statuses, "status", "statuses"),
                    plural(b.threads, "thread", "threads"),
                    self.uncompared(f)
                );
                println!("  reproduce: {}", self.reproduce(depth));
                let mut again =
                    format!("{}nrt-shim verify --depth {depth} --runs {}", self.prefix_env(), self.args.runs);
                if self.on_sim {
                    again.push_str(" --sim");
                }
                again.push_str(" --");
                for w in &self.args.program {
                    again.push(' ');
                    again.push_str(&shell_word(w));
                }
                println!("  or check again: {again}");
            }
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_words() {
        assert_eq!(thousands(1236), "1,236");
        assert_eq!(thousands(412), "412");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(plural(1, "run", "runs"), "1 run");
        assert_eq!(status_name(3), "3 NRT_INVALID_HANDLE");
        assert_eq!(shell_word(std::ffi::OsStr::new("a b")), "'a b'");
        assert_eq!(shell_word(std::ffi::OsStr::new("./p2")), "./p2");
    }
}

//! What verify prints (the verdict on stdout); the JSON is in json.rs.

use std::time::Duration;

use super::recfile::Call;
use super::runner::Config;
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

pub(super) fn median(mut v: Vec<Duration>) -> Option<Duration> {
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

pub(super) fn describe(c: Option<&Call>) -> String {
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

    pub(super) fn walls(&self, config: Config) -> Vec<Duration> {
        self.done.iter().filter(|d| d.config == config).map(|d| d.outcome.wall).collect()
    }

    /// The reference's median wall time over the deepest depth's.
    pub(super) fn speedup(&self) -> Option<(u32, f64)> {
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
    pub(super) fn timing_note(&self) -> Option<String> {
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

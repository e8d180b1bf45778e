//! Observability: counters, and the logger (stderr, every line prefixed with
//! the library's name). Counters are relaxed atomics: no lock, no system call.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::tracker::Hazard;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Counter {
    Executions,
    HostExecutions,
    FailedRequests,
    FailuresReported,
    QueueFull,
    WindowFullWaits,
    DeferredFrees,
    MirrorSets,
    BlockedNanos,
    ReadAfterWrite,
    WriteAfterRead,
    WriteAfterWrite,
}

const NAMES: [&str; 12] = [
    "executions",
    "host_executions",
    "failed_requests",
    "failures_reported",
    "queue_full_absorbed",
    "window_full_waits",
    "deferred_frees",
    "mirror_sets",
    "blocked_ns",
    "hazards_read_after_write",
    "hazards_write_after_read",
    "hazards_write_after_write",
];

pub struct Counters([AtomicU64; 12]);

pub static COUNTERS: Counters = Counters([const { AtomicU64::new(0) }; 12]);

impl Counters {
    pub fn add(&self, c: Counter, n: u64) {
        self.0[c as usize].fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self, c: Counter) -> u64 {
        self.0[c as usize].load(Ordering::Relaxed)
    }

    pub fn hazard(&self, h: Hazard) {
        self.add(
            match h {
                Hazard::ReadAfterWrite => Counter::ReadAfterWrite,
                Hazard::WriteAfterRead => Counter::WriteAfterRead,
                Hazard::WriteAfterWrite => Counter::WriteAfterWrite,
            },
            1,
        );
    }

    /// The counters as a JSON object.
    pub fn to_json(&self) -> String {
        let mut s = String::from("{");
        for (i, name) in NAMES.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            s.push_str(&format!("\"{name}\": {}", self.0[i].load(Ordering::Relaxed)));
        }
        s.push('}');
        s
    }
}

struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            // One write per line, so lines of several threads do not interleave.
            let line = format!("nrt-async-shim: {}: {}\n", r.level().as_str().to_ascii_lowercase(), r.args());
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }

    fn flush(&self) {}
}

static LOGGER: StderrLogger = StderrLogger;

/// Installs the logger once; harmless if called again (this library has its
/// own copy of the `log` crate, so the host program's logger is untouched).
pub fn init_logging(level: log::LevelFilter) {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_and_serialise() {
        let before = COUNTERS.get(Counter::QueueFull);
        COUNTERS.add(Counter::QueueFull, 2);
        COUNTERS.hazard(Hazard::WriteAfterRead);
        assert_eq!(COUNTERS.get(Counter::QueueFull), before + 2);
        let j = COUNTERS.to_json();
        assert!(j.starts_with('{') && j.ends_with('}'));
        assert!(j.contains("\"queue_full_absorbed\": "));
        assert_eq!(j.matches(':').count(), NAMES.len());
    }
}

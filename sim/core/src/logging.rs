//! stderr logger: every line prefixed `nrt-sim:`, level from NRT_SIM_LOG; one
//! lock-free write(2) per line (fork-safe).

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::sync::Once;

struct SimLogger;

impl Log for SimLogger {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= log::max_level()
    }
    fn log(&self, r: &Record) {
        if self.enabled(r.metadata()) {
            let lvl = match r.level() {
                Level::Error => "error",
                Level::Warn => "warn",
                Level::Info => "info",
                Level::Debug => "debug",
                Level::Trace => "trace",
            };
            let line = format!("nrt-sim: {lvl}: {}\n", r.args());
            // Not std's stderr: its lock may be held by a thread that a forked child lacks.
            crate::raw::write_stderr(line.as_bytes());
        }
    }
    fn flush(&self) {}
}

static LOGGER: SimLogger = SimLogger;
static INIT: Once = Once::new();

/// Installs the logger once; tolerates a logger installed by someone else.
pub fn init() {
    INIT.call_once(|| {
        let level = match std::env::var("NRT_SIM_LOG").unwrap_or_default().trim().to_ascii_lowercase().as_str() {
            "off" | "none" => LevelFilter::Off,
            "error" => LevelFilter::Error,
            "info" => LevelFilter::Info,
            "debug" => LevelFilter::Debug,
            "trace" => LevelFilter::Trace,
            _ => LevelFilter::Warn,
        };
        if log::set_logger(&LOGGER).is_ok() {
            log::set_max_level(level);
        }
    });
}

//! The logger: stderr, one write(2) per line, every line prefixed with the
//! library's name.

struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            // One write(2) per line, so lines of several threads do not
            // interleave; not through std's stderr, whose lock a forked child
            // may inherit held by a thread it lacks.
            let line = format!("nrt-async-shim: {}: {}\n", r.level().as_str().to_ascii_lowercase(), r.args());
            write_stderr(line.as_bytes());
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

/// Writes `bytes` to fd 2 with one write(2) (a short write drops the rest:
/// a log line is not worth a loop that a full pipe could stall).
pub fn write_stderr(bytes: &[u8]) {
    // SAFETY: a valid buffer of that length; fd 2 may be closed (EBADF, ignored).
    let _ = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
}

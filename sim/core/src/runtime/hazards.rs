//! The hazard oracle's outputs as they happen: call-site capture per op, the
//! NRT_SIM_HAZARDS=stderr lines and NRT_SIM_HAZARD_ABORT.

use super::*;
use crate::hazard::Example;
use crate::site;

impl Runtime {
    /// The program's call site of the current API call (recorded by the
    /// export), when something can print it.
    pub(super) fn call_site(&self) -> usize {
        site::current()
    }

    /// After a check that found hazards: prints those at new pairs of sites
    /// (NRT_SIM_HAZARDS=stderr) and aborts if asked to. May run with a queue
    /// locked: it takes only the oracle's lock, briefly.
    pub(super) fn hazards_found(&self) {
        if !self.cfg.hazards_stderr && !self.cfg.hazard_abort {
            return;
        }
        let fresh = self.oracle.lock().take_fresh();
        for ex in &fresh {
            crate::raw::write_stderr(format!("nrt-sim: hazard: {}\n", example_text(ex)).as_bytes());
        }
        if self.cfg.hazard_abort && !fresh.is_empty() {
            crate::raw::write_stderr(b"nrt-sim: NRT_SIM_HAZARD_ABORT=1: aborting at the first hazard\n");
            std::process::abort();
        }
    }
}

/// One hazard with both call sites resolved.
pub(super) fn example_text(ex: &Example) -> String {
    format!(
        "{}; the racing call at {}, the in-flight op scheduled at {}",
        ex.text,
        site::describe(ex.site),
        site::describe(ex.inflight_site)
    )
}

//! Program call sites for the hazard report (nrt_common::site): each export
//! records the return address of its call (`enter`, in the export macro,
//! while something can print it), which the ops it schedules keep; the
//! simulator's symbolizer setting is NRT_SIM_ADDR2LINE.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

pub use nrt_common::site::{capture_here, Resolved, NONE};

static ENABLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// The site of the export this thread is in (or was last in).
    static CURRENT: Cell<usize> = const { Cell::new(NONE) };
}

/// At nrt_init: whether sites are captured (a report, hazard lines or abort is on).
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// An export begins, called from `site` (see `capture_here!`).
pub fn enter(site: usize) {
    CURRENT.with(|c| c.set(site));
}

/// The program's call site of the current API call, or NONE.
pub fn current() -> usize {
    if enabled() {
        CURRENT.with(|c| c.get())
    } else {
        NONE
    }
}

fn tool() -> Option<String> {
    static TOOL: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    TOOL.get_or_init(|| nrt_common::site::addr2line_tool("NRT_SIM_ADDR2LINE")).clone()
}

pub fn resolve(pc: usize) -> Option<Resolved> {
    nrt_common::site::resolve(pc, tool().as_deref())
}

pub fn describe(pc: usize) -> String {
    nrt_common::site::describe(pc, tool().as_deref())
}

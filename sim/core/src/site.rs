//! Program call sites for the hazard report (nrt_common::site), with the
//! simulator's symbolizer setting, NRT_SIM_ADDR2LINE.

pub use nrt_common::site::{capture, Resolved, NONE};

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

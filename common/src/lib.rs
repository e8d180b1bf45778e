//! What nrt-async-shim and nrt-sim both need at their C edge and in their
//! reports, written once: the panic boundary of an export ([`catch_panic`],
//! [`FfiDefault`]), JSON string escaping ([`json`]) and program call sites
//! ([`site`]).

pub mod json;
mod panic;
pub mod site;

pub use panic::{catch_panic, FfiDefault};

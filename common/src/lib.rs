//! What nrt-async-shim and nrt-sim both need at their C edge and in their
//! reports, written once: the panic boundary of an export ([`catch_panic`],
//! [`FfiDefault`]) and JSON string escaping ([`json`]).

pub mod json;
mod panic;

pub use panic::{catch_panic, FfiDefault};

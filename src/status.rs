//! The runtime's status codes, as the header gives them (through nrt-sys):
//! the header is the only source of their numbers. A leaf: it uses nothing
//! else of the shim, so every module may use it.

/// A runtime status (`NRT_STATUS`).
pub type Status = nrt_sys::NRT_STATUS;

pub use nrt_sys::{
    NRT_CLOSED, NRT_EXEC_UNIT_UNRECOVERABLE, NRT_FAILURE, NRT_INVALID, NRT_INVALID_HANDLE, NRT_QUEUE_FULL,
    NRT_RESOURCE, NRT_SUCCESS, NRT_TIMEOUT, NRT_UNINITIALIZED,
};

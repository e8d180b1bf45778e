//! The implicit-async mode's leftovers, re-implemented on the shim's own
//! completions: the status callback and the per-core drain.

use std::ffi::c_void;

use nrt_sys::*;

use crate::ffi::export;
use crate::scheduler::Callback;
use crate::status::NRT_INVALID;

/// Calls the application's C callback stored in `raw`.
fn trampoline(raw: usize, params: usize, model_id: u32, vnc: u32, job_id: u64, status: u32) {
    // SAFETY: raw was an NRT_ASYNC_EXEC_STATUS_CALLBACK the application registered.
    let f: unsafe extern "C" fn(*mut c_void, u32, u32, u64, NRT_STATUS) = unsafe { std::mem::transmute(raw) };
    // SAFETY: calling the application's callback with its own params.
    unsafe { f(params as *mut c_void, model_id, vnc, job_id, status) }
}

export! {
    /// Replaces any earlier callback; called once per request, from the
    /// shim's completion thread, in completion order.
    fn nrt_register_async_exec_callback(callback: NRT_ASYNC_EXEC_STATUS_CALLBACK, params: *mut c_void) -> NRT_STATUS
    [passthrough] |s, real| {
        // The runtime's checks: the state, then a NULL callback.
        s.engine.check_open()?;
        let Some(f) = callback else {
            return Err(crate::observe::reject(NRT_INVALID, format_args!("callback is NULL")));
        };
        s.engine.set_callback(Some(Callback { call: trampoline, raw: f as usize, params: params as usize }));
        Ok(NRT_SUCCESS)
    }
}

export! {
    /// Waits for every request of the core; returns the first failure not
    /// reported yet (then it counts as reported).
    fn nrt_async_drain_queued_execs(vnc: i32) -> NRT_STATUS [passthrough] |s, real| {
        Ok(s.engine.drain(vnc))
    }
}

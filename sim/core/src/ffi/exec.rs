//! Execution exports, the implicit-async leftovers, and the nrta_* calls common
//! to both async generations (nrta_is_completed, nrta_cc_prepare).

use super::{nonnull, put};
use crate::raw::Callback;
use crate::runtime::{rt, rt_async, Res, NRT_INVALID};
use nrt_sys::*;
use std::ffi::{c_int, c_void};

/// The collectives calls (nrta_cc_*): the session checks, then NRT_INVALID.
pub fn collectives_not_simulated(call: &str) -> Res<()> {
    rt_async(call)?;
    Err(crate::reject!(NRT_INVALID, "{call}: collectives are not simulated by nrt-sim"))
}

// ======================================================================= execution

export!(nrt_sys; fn nrt_execute(model: *mut nrt_model_t, input_set: *const nrt_tensor_set_t, output_set: *mut nrt_tensor_set_t) -> Res<()> {
    let call = "nrt_execute";
    let r = rt(call)?;
    nonnull(call, &[("model", model.is_null()), ("input_set", input_set.is_null()), ("output_set", output_set.is_null())])?;
    r.execute(model as usize, input_set as usize, output_set as usize)
});

export!(nrt_sys; fn nrt_execute_repeat(model: *mut nrt_model_t, input_set: *const nrt_tensor_set_t, output_set: *mut nrt_tensor_set_t, repeat_count: c_int) -> Res<()> {
    let call = "nrt_execute_repeat";
    let r = rt(call)?;
    nonnull(call, &[("model", model.is_null()), ("input_set", input_set.is_null()), ("output_set", output_set.is_null())])?;
    r.execute_repeat(model as usize, input_set as usize, output_set as usize, repeat_count)
});
// ======================================================================= implicit-async leftovers

export!(nrt_sys; fn nrt_register_async_exec_callback(callback: NRT_ASYNC_EXEC_STATUS_CALLBACK, params: *mut c_void) -> Res<()> {
    let call = "nrt_register_async_exec_callback";
    let r = rt(call)?;
    nonnull(call, &[("callback", callback.is_none())])?;
    // SAFETY: the caller registers f with params as the runtime's contract says: f may be
    // called with params from a worker thread until it is replaced or the runtime closes.
    r.register_callback(callback.map(|f| unsafe { Callback::new(f, params) }));
    Ok(())
});

export!(nrt_sys; fn nrt_async_drain_queued_execs(vnc: i32) -> Res<()> {
    let r = rt("nrt_async_drain_queued_execs")?;
    r.drain(vnc)
});

// ======================================================================= nrta_* common to both generations

export!(nrt_sys; fn nrta_is_completed(seq: nrta_seq_t, is_completed: *mut bool) -> Res<()> {
    let call = "nrta_is_completed";
    let r = rt_async(call)?;
    nonnull(call, &[("is_completed", is_completed.is_null())])?;
    let d = r.is_completed(seq)?;
    // SAFETY: is_completed was checked non-NULL; the caller passes a writable bool.
    unsafe { put(is_completed, d) };
    Ok(())
});

export!(nrt_sys; fn nrta_cc_prepare(comm: *mut nrt_cc_comm_t, input: *mut nrt_tensor_list_t, output: *mut nrt_tensor_list_t, dtype: nrt_dtype_t, op: nrt_op_type_t, cc_op: nrt_cc_op_type_t, ctx: *mut *mut nrt_cc_context_t) -> Res<()> {
    let _ = (comm, input, output, dtype, op, cc_op, ctx);
    collectives_not_simulated("nrta_cc_prepare")
});

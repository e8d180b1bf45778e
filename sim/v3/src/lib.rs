//! nrt-sim as `libnrt.so.1` with the v3 (SDK 2.29 and later) explicit async API:
//! the schedule calls write the request's status to `*ret`, the tensor calls
//! take an `lnc`, completion is signalled on caller-owned eventfds.
//!
//! The synchronous API and the exports common to both generations come from
//! `nrt-sim-core` (re-exported by this cdylib). See `sim/README.md`.

use nrt_sim_core::export;
use nrt_sim_core::ffi::exec::collectives_not_simulated;
use nrt_sim_core::ffi::{nonnull, put};
use nrt_sim_core::raw::{self, StatusPtr, UserBuf};
use nrt_sim_core::reject;
use nrt_sim_core::runtime::{rt_async, Completion, NRT_INVALID};
use nrt_sys::*;
use std::ffi::{c_int, c_void};

// Keep every export of the core in this library.
pub use nrt_sim_core::ffi as _core_exports;

extern "C" fn set_generation() {
    nrt_sim_core::runtime::set_generation(3);
}

/// Tells the core which generation this library presents, at load time.
#[used]
#[link_section = ".init_array"]
static SET_GENERATION: extern "C" fn() = set_generation;

export!(nrt_sys; fn nrta_execute_schedule(model: *mut nrt_model_t, input: *mut nrt_tensor_set_t, output: *mut nrt_tensor_set_t, queue: u32, ret: *mut NRT_STATUS, req_sequence: *mut nrta_seq_t) -> Res<()> {
    let call = "nrta_execute_schedule";
    let r = rt_async(call)?;
    nonnull(call, &[("model", model.is_null()), ("input", input.is_null()), ("output", output.is_null()), ("ret", ret.is_null()), ("req_sequence", req_sequence.is_null())])?;
    // SAFETY: ret was checked non-NULL; the caller keeps it a valid, aligned NRT_STATUS until the
    // request completes (the explicit async contract).
    let done = Completion::Ret(unsafe { StatusPtr::new(ret) });
    let s = r.schedule_exec(model as usize, input as usize, output as usize, queue as i64, done)?;
    // SAFETY: req_sequence was checked non-NULL; the caller passes a writable nrta_seq_t.
    unsafe { put(req_sequence, s) };
    Ok(())
});

export!(nrt_sys; fn nrta_tensor_write(tensor: *mut nrt_tensor_t, buf: *mut c_void, offset: u64, size: u64, lnc: u32, queue: u32, ret: *mut NRT_STATUS, req_sequence: *mut nrta_seq_t) -> Res<()> {
    let call = "nrta_tensor_write";
    let r = rt_async(call)?;
    nonnull(call, &[("tensor", tensor.is_null()), ("buf", buf.is_null() && size > 0), ("ret", ret.is_null()), ("req_sequence", req_sequence.is_null())])?;
    // SAFETY: the explicit async contract: buf holds `size` bytes that the caller keeps valid
    // and leaves alone until the request's sequence completes (NULL only when size is 0).
    let user = unsafe { UserBuf::new(buf, size as usize) };
    // SAFETY: ret was checked non-NULL; the caller keeps it a valid, aligned NRT_STATUS until the
    // request completes (the explicit async contract).
    let done = Completion::Ret(unsafe { StatusPtr::new(ret) });
    let s = r.schedule_write(tensor as usize, user, offset, Some(lnc), queue as i64, done)?;
    // SAFETY: req_sequence was checked non-NULL; the caller passes a writable nrta_seq_t.
    unsafe { put(req_sequence, s) };
    Ok(())
});

export!(nrt_sys; fn nrta_tensor_read(buf: *mut c_void, tensor: *mut nrt_tensor_t, offset: u64, size: u64, lnc: u32, queue: u32, ret: *mut NRT_STATUS, req_sequence: *mut nrta_seq_t) -> Res<()> {
    let call = "nrta_tensor_read";
    let r = rt_async(call)?;
    nonnull(call, &[("buf", buf.is_null() && size > 0), ("tensor", tensor.is_null()), ("ret", ret.is_null()), ("req_sequence", req_sequence.is_null())])?;
    // SAFETY: the explicit async contract: buf holds `size` bytes that the caller keeps valid
    // and leaves alone until the request's sequence completes (NULL only when size is 0).
    let user = unsafe { UserBuf::new(buf, size as usize) };
    // SAFETY: ret was checked non-NULL; the caller keeps it a valid, aligned NRT_STATUS until the
    // request completes (the explicit async contract).
    let done = Completion::Ret(unsafe { StatusPtr::new(ret) });
    let s = r.schedule_read(tensor as usize, user, offset, Some(lnc), queue as i64, done)?;
    // SAFETY: req_sequence was checked non-NULL; the caller passes a writable nrta_seq_t.
    unsafe { put(req_sequence, s) };
    Ok(())
});

export!(nrt_sys; fn nrta_tensor_copy(src: *mut nrt_tensor_t, src_offset: u64, dst: *mut nrt_tensor_t, dst_offset: u64, size: u64, lnc: u32, queue: u32, ret: *mut NRT_STATUS, req_sequence: *mut nrta_seq_t) -> Res<()> {
    let call = "nrta_tensor_copy";
    let r = rt_async(call)?;
    nonnull(call, &[("src", src.is_null()), ("dst", dst.is_null()), ("ret", ret.is_null()), ("req_sequence", req_sequence.is_null())])?;
    // SAFETY: ret was checked non-NULL; the caller keeps it a valid, aligned NRT_STATUS until the
    // request completes (the explicit async contract).
    let done = Completion::Ret(unsafe { StatusPtr::new(ret) });
    let s = r.schedule_copy(src as usize, src_offset, dst as usize, dst_offset, size, Some(lnc), queue as i64, done)?;
    // SAFETY: req_sequence was checked non-NULL; the caller passes a writable nrta_seq_t.
    unsafe { put(req_sequence, s) };
    Ok(())
});

export!(nrt_sys; fn nrta_cc_schedule(ctx: *mut *mut nrt_cc_context_t, queue: u32, reserved: *mut c_void, req_sequence: *mut nrta_seq_t) -> Res<()> {
    let _ = (ctx, queue, reserved, req_sequence);
    collectives_not_simulated("nrta_cc_schedule")
});

export!(nrt_sys; fn nrta_get_sequence(lnc: u32, xu: nrta_xu_t, queue: c_int, last_completed: *mut nrta_seq_t) -> Res<()> {
    let call = "nrta_get_sequence";
    let r = rt_async(call)?;
    nonnull(call, &[("last_completed", last_completed.is_null())])?;
    let s = r.get_sequence(lnc, xu, queue as i64)?;
    // SAFETY: last_completed was checked non-NULL; the caller passes a writable nrta_seq_t.
    unsafe { put(last_completed, s) };
    Ok(())
});

export!(nrt_sys; fn nrta_event_register_seq_id_completion(seq: nrta_seq_t, efd: c_int) -> Res<()> {
    let call = "nrta_event_register_seq_id_completion";
    let r = rt_async(call)?;
    if efd == -1 {
        return r.deregister_seq(call, seq);
    }
    if efd < 0 {
        return Err(reject!(NRT_INVALID, "{call}: efd {efd} is not a file descriptor"));
    }
    r.is_completed(seq)?; // validates seq before taking a reference to the fd
    let Some(fd) = raw::dup_cloexec(efd) else {
        return Err(reject!(NRT_INVALID, "{call}: efd {efd} is not an open file descriptor"));
    };
    r.notify_on_completion(call, seq, fd)
});

export!(nrt_sys; fn nrta_event_register_xu_completion(lnc: u32, xu: nrta_xu_t, queue: c_int, efd: c_int) -> Res<()> {
    let call = "nrta_event_register_xu_completion";
    let r = rt_async(call)?;
    r.register_xu(call, lnc, xu, queue as i64, efd)
});

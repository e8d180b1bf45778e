//! nrt-sim as `libnrt.so.1` with the v2 (SDK 2.28) explicit async API: errors
//! are collected in error trackers, completion is a pollable fd
//! (`nrta_get_completion_handle`). `nrta_error_tracker_create` is exported only
//! here: that is how a program tells the generation.
//!
//! The synchronous API and the exports common to both generations come from
//! `nrt-sim-core` (re-exported by this cdylib). See `sim/README.md`.

use nrt_sim_core::export;
use nrt_sim_core::ffi::exec::collectives_not_simulated;
use nrt_sim_core::ffi::{nonnull, put};
use nrt_sim_core::raw::{self, UserBuf};
use nrt_sim_core::reject;
use nrt_sim_core::runtime::{rt, rt_async, Completion, Res, Runtime, NRT_INVALID};
use nrt_sys::v2::{nrta_error_tracker_t, nrta_xu_t};
use nrt_sys::*;
use std::ffi::{c_int, c_void};

pub use nrt_sim_core::ffi as _core_exports;

extern "C" fn set_generation() {
    nrt_sim_core::runtime::set_generation(2);
}

/// Tells the core which generation this library presents, at load time.
#[used]
#[link_section = ".init_array"]
static SET_GENERATION: extern "C" fn() = set_generation;

/// The v2 schedule calls' checks of `queue` (only 0) and `err`: how the
/// request's outcome is delivered (its tracker, if any).
fn completion(r: &Runtime, call: &str, queue: c_int, err: *mut nrta_error_tracker_t) -> Res<Completion> {
    if queue != 0 {
        return Err(reject!(NRT_INVALID, "{call}: queue {queue} must be 0"));
    }
    if err.is_null() {
        return Ok(Completion::Tracker(None));
    }
    Ok(Completion::Tracker(Some(r.tracker(call, err as usize)?)))
}

export!(nrt_sys::v2; fn nrta_execute_schedule(model: *mut nrt_model_t, input: *const nrt_tensor_set_t, output: *mut nrt_tensor_set_t, queue: c_int, err: *mut nrta_error_tracker_t, req_sequence: *mut nrta_seq_t) -> Res<()> {
    let call = "nrta_execute_schedule";
    let r = rt_async(call)?;
    nonnull(call, &[("model", model.is_null()), ("input", input.is_null()), ("output", output.is_null()), ("req_sequence", req_sequence.is_null())])?;
    let done = completion(&r, call, queue, err)?;
    let s = r.schedule_exec(model as usize, input as usize, output as usize, queue as i64, done)?;
    // SAFETY: req_sequence was checked non-NULL; the caller passes a writable nrta_seq_t.
    unsafe { put(req_sequence, s) };
    Ok(())
});

export!(nrt_sys::v2; fn nrta_tensor_write(tensor: *mut nrt_tensor_t, buf: *const c_void, offset: u64, size: u64, queue: c_int, err: *mut nrta_error_tracker_t, req_sequence: *mut nrta_seq_t) -> Res<()> {
    let call = "nrta_tensor_write";
    let r = rt_async(call)?;
    nonnull(call, &[("tensor", tensor.is_null()), ("buf", buf.is_null() && size > 0), ("req_sequence", req_sequence.is_null())])?;
    let done = completion(&r, call, queue, err)?;
    // SAFETY: the explicit async contract: buf holds `size` bytes that the caller keeps valid
    // and leaves alone until the request's sequence completes (NULL only when size is 0).
    let user = unsafe { UserBuf::new(buf, size as usize) };
    let s = r.schedule_write(tensor as usize, user, offset, None, queue as i64, done)?;
    // SAFETY: req_sequence was checked non-NULL; the caller passes a writable nrta_seq_t.
    unsafe { put(req_sequence, s) };
    Ok(())
});

export!(nrt_sys::v2; fn nrta_tensor_read(buf: *mut c_void, tensor: *mut nrt_tensor_t, offset: u64, size: u64, queue: c_int, err: *mut nrta_error_tracker_t, req_sequence: *mut nrta_seq_t) -> Res<()> {
    let call = "nrta_tensor_read";
    let r = rt_async(call)?;
    nonnull(call, &[("buf", buf.is_null() && size > 0), ("tensor", tensor.is_null()), ("req_sequence", req_sequence.is_null())])?;
    let done = completion(&r, call, queue, err)?;
    // SAFETY: the explicit async contract: buf holds `size` bytes that the caller keeps valid
    // and leaves alone until the request's sequence completes (NULL only when size is 0).
    let user = unsafe { UserBuf::new(buf, size as usize) };
    let s = r.schedule_read(tensor as usize, user, offset, None, queue as i64, done)?;
    // SAFETY: req_sequence was checked non-NULL; the caller passes a writable nrta_seq_t.
    unsafe { put(req_sequence, s) };
    Ok(())
});

export!(nrt_sys::v2; fn nrta_tensor_copy(src: *mut nrt_tensor_t, src_offset: u64, dst: *mut nrt_tensor_t, dst_offset: u64, size: u64, queue: c_int, err: *mut nrta_error_tracker_t, req_sequence: *mut nrta_seq_t) -> Res<()> {
    let call = "nrta_tensor_copy";
    let r = rt_async(call)?;
    nonnull(call, &[("src", src.is_null()), ("dst", dst.is_null()), ("req_sequence", req_sequence.is_null())])?;
    let done = completion(&r, call, queue, err)?;
    let s = r.schedule_copy(src as usize, src_offset, dst as usize, dst_offset, size, None, queue as i64, done)?;
    // SAFETY: req_sequence was checked non-NULL; the caller passes a writable nrta_seq_t.
    unsafe { put(req_sequence, s) };
    Ok(())
});

export!(nrt_sys::v2; fn nrta_cc_schedule(ctx: *mut *mut nrt_cc_context_t, queue: c_int, err: *mut nrta_error_tracker_t, req_sequence: *mut nrta_seq_t) -> Res<()> {
    let _ = (ctx, queue, err, req_sequence);
    collectives_not_simulated("nrta_cc_schedule")
});

export!(nrt_sys::v2; fn nrta_get_sequence(lnc: u32, xu: nrta_xu_t, queue: c_int, last_completed: *mut nrta_seq_t) -> Res<()> {
    let call = "nrta_get_sequence";
    let r = rt_async(call)?;
    nonnull(call, &[("last_completed", last_completed.is_null())])?;
    let s = r.get_sequence(lnc, xu, queue as i64)?;
    // SAFETY: last_completed was checked non-NULL; the caller passes a writable nrta_seq_t.
    unsafe { put(last_completed, s) };
    Ok(())
});

export!(nrt_sys::v2; fn nrta_get_completion_handle(seq: nrta_seq_t, fd: *mut c_int) -> Res<()> {
    let call = "nrta_get_completion_handle";
    let r = rt_async(call)?;
    nonnull(call, &[("fd", fd.is_null())])?;
    r.is_completed(seq)?;
    let Some(efd) = raw::new_eventfd() else {
        return Err(reject!(NRT_RESOURCE, "{call}: cannot create an eventfd"));
    };
    let Some(ours) = raw::dup_cloexec(efd) else {
        raw::close_fd(efd);
        return Err(reject!(NRT_RESOURCE, "{call}: cannot duplicate an eventfd"));
    };
    if let Err(e) = r.notify_on_completion(call, seq, ours) {
        raw::close_fd(efd);
        return Err(e);
    }
    // SAFETY: fd was checked non-NULL; the caller passes a writable c_int.
    unsafe { put(fd, efd) };
    Ok(())
});

export!(nrt_sys::v2; fn nrta_error_tracker_create(lnc_idx: u32, error_tracker: *mut *mut nrta_error_tracker_t) -> Res<()> {
    let call = "nrta_error_tracker_create";
    let r = rt_async(call)?;
    nonnull(call, &[("error_tracker", error_tracker.is_null())])?;
    let h = r.tracker_create(lnc_idx)?;
    // SAFETY: error_tracker was checked non-NULL; the caller passes a writable pointer slot.
    unsafe { put(error_tracker, h as *mut nrta_error_tracker_t) };
    Ok(())
});

export!(nrt_sys::v2; fn nrta_error_tracker_destroy(error_tracker: *mut nrta_error_tracker_t) {
    let call = "nrta_error_tracker_destroy";
    let Ok(r) = rt(call) else { return };
    if r.implicit > 0 {
        log::warn!("{call}: Explicit async API cannot be used in implicit async mode");
        return;
    }
    if error_tracker.is_null() {
        log::warn!("{call}: NULL error tracker");
        return;
    }
    let _ = r.tracker_destroy(error_tracker as usize);
});

export!(nrt_sys::v2; fn nrta_error_tracker_get_list(error_tracker: *mut nrta_error_tracker_t, list: *mut *const nrta_error_t, error_count: *mut usize) -> Res<()> {
    let call = "nrta_error_tracker_get_list";
    let r = rt_async(call)?;
    nonnull(call, &[("error_tracker", error_tracker.is_null()), ("list", list.is_null()), ("error_count", error_count.is_null())])?;
    let (p, n) = r.tracker_list(error_tracker as usize)?;
    // SAFETY: list was checked non-NULL; the caller passes a writable pointer slot.
    unsafe { put(list, p) };
    // SAFETY: error_count was checked non-NULL; the caller passes a writable usize.
    unsafe { put(error_count, n) };
    Ok(())
});

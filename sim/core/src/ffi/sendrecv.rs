//! The point-to-point send/recv exports (nrt_async_sendrecv_*): a loopback pair
//! between cores of this process (runtime/sendrecv.rs).

use super::{cstr, nonnull, put};
use crate::runtime::{rt, Res};
use nrt_sys::*;
use std::ffi::{c_char, c_int};

export!(nrt_sys; fn nrt_async_sendrecv_init(local_lnc: c_int) -> Res<()> {
    let call = "nrt_async_sendrecv_init";
    rt(call)?.sr_core_call(call, local_lnc, false)
});

export!(nrt_sys; fn nrt_async_sendrecv_close(local_lnc: c_int) -> Res<()> {
    let call = "nrt_async_sendrecv_close";
    rt(call)?.sr_core_call(call, local_lnc, true)
});

export!(nrt_sys; fn nrt_async_sendrecv_flush(lnc: c_int) -> Res<()> {
    let call = "nrt_async_sendrecv_flush";
    rt(call)?.sr_core_call(call, lnc, false)
});

export!(nrt_sys; fn nrt_async_sendrecv_get_max_num_pending_request(num: *mut c_int) -> Res<()> {
    let call = "nrt_async_sendrecv_get_max_num_pending_request";
    rt(call)?;
    nonnull(call, &[("num", num.is_null())])?;
    // SAFETY: num was checked non-NULL; the caller passes a writable int.
    unsafe { put(num, crate::runtime::SENDRECV_MAX_PENDING as c_int) };
    Ok(())
});

/// connect / accept: the checks, then a communicator in `*out`.
///
/// # Safety
/// `ip` must be NULL or NUL-terminated; `out` NULL or writable.
unsafe fn open(
    call: &str,
    send: bool,
    ip: *const c_char,
    peer: c_int,
    local: c_int,
    out: *mut *mut nrt_async_sendrecv_comm_t,
) -> Res<()> {
    let r = rt(call)?;
    nonnull(call, &[("peer_ip", ip.is_null()), ("comm", out.is_null())])?;
    // SAFETY: ip was checked non-NULL; by this function's contract it is NUL-terminated.
    let ip = unsafe { cstr(ip) };
    let h = r.sr_open(call, send, &ip, peer, local)?;
    // SAFETY: out was checked non-NULL; writable by this function's contract.
    unsafe { put(out, h as *mut nrt_async_sendrecv_comm_t) };
    Ok(())
}

export!(nrt_sys; fn nrt_async_sendrecv_connect(peer_ip: *const c_char, peer_lnc: c_int, local_lnc: c_int, send_comm: *mut *mut nrt_async_sendrecv_comm_t) -> Res<()> {
    // SAFETY: the caller's string and slot, as `open` requires (NULLs are rejected there).
    unsafe { open("nrt_async_sendrecv_connect", true, peer_ip, peer_lnc, local_lnc, send_comm) }
});

export!(nrt_sys; fn nrt_async_sendrecv_accept(peer_ip: *const c_char, peer_lnc: c_int, local_lnc: c_int, recv_comm: *mut *mut nrt_async_sendrecv_comm_t) -> Res<()> {
    // SAFETY: the caller's string and slot, as `open` requires (NULLs are rejected there).
    unsafe { open("nrt_async_sendrecv_accept", false, peer_ip, peer_lnc, local_lnc, recv_comm) }
});

export!(nrt_sys; fn nrt_async_sendrecv_test_comm(comm: *mut nrt_async_sendrecv_comm_t, done: *mut bool) -> Res<()> {
    let call = "nrt_async_sendrecv_test_comm";
    let r = rt(call)?;
    nonnull(call, &[("comm", comm.is_null()), ("done", done.is_null())])?;
    let d = r.sr_test_comm(comm as usize)?;
    // SAFETY: done was checked non-NULL; the caller passes a writable bool.
    unsafe { put(done, d) };
    Ok(())
});

/// send_tensor / recv_tensor: the checks, then a request in `*out`.
///
/// # Safety
/// `out` must be NULL or writable.
unsafe fn post(
    call: &str,
    send: bool,
    t: *mut nrt_tensor_t,
    off: usize,
    len: usize,
    comm: *mut nrt_async_sendrecv_comm_t,
    out: *mut *mut nrt_async_sendrecv_request_t,
) -> Res<()> {
    let r = rt(call)?;
    nonnull(call, &[("tensor", t.is_null()), ("comm", comm.is_null()), ("request", out.is_null())])?;
    let h = r.sr_post(call, send, t as usize, off as u64, len as u64, comm as usize)?;
    // SAFETY: out was checked non-NULL; writable by this function's contract.
    unsafe { put(out, h as *mut nrt_async_sendrecv_request_t) };
    Ok(())
}

export!(nrt_sys; fn nrt_async_sendrecv_send_tensor(tensor: *mut nrt_tensor_t, offset: usize, length: usize, send_comm: *mut nrt_async_sendrecv_comm_t, request: *mut *mut nrt_async_sendrecv_request_t) -> Res<()> {
    // SAFETY: the caller's slot, as `post` requires (NULL is rejected there).
    unsafe { post("nrt_async_sendrecv_send_tensor", true, tensor, offset, length, send_comm, request) }
});

export!(nrt_sys; fn nrt_async_sendrecv_recv_tensor(tensor: *mut nrt_tensor_t, offset: usize, length: usize, recv_comm: *mut nrt_async_sendrecv_comm_t, request: *mut *mut nrt_async_sendrecv_request_t) -> Res<()> {
    // SAFETY: the caller's slot, as `post` requires (NULL is rejected there).
    unsafe { post("nrt_async_sendrecv_recv_tensor", false, tensor, offset, length, recv_comm, request) }
});

export!(nrt_sys; fn nrt_async_sendrecv_test_request(request: *mut nrt_async_sendrecv_request_t, done: *mut bool, size: *mut usize) -> Res<()> {
    let call = "nrt_async_sendrecv_test_request";
    let r = rt(call)?;
    nonnull(call, &[("request", request.is_null()), ("done", done.is_null()), ("size", size.is_null())])?;
    let (d, n) = r.sr_test_request(request as usize)?;
    // SAFETY: done and size were checked non-NULL; the caller passes writable slots.
    unsafe {
        put(done, d);
        put(size, n);
    }
    Ok(())
});

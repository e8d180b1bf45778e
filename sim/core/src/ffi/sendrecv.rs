//! The point-to-point send/recv calls (nrt_async_sendrecv_*): declared and
//! exported so that programs link, not simulated: after the session checks,
//! NRT_FAILURE (the runtime's status for "other errors") and one log line.

use crate::runtime::{rt, Res, NRT_FAILURE};
use nrt_sys::*;
use std::ffi::{c_char, c_int};

fn not_simulated(call: &str) -> Res<()> {
    rt(call)?;
    Err(crate::reject!(NRT_FAILURE, "{call}: send/recv between cores is not simulated by nrt-sim"))
}

export!(nrt_sys; fn nrt_async_sendrecv_init(local_lnc: c_int) -> Res<()> {
    let _ = local_lnc;
    not_simulated("nrt_async_sendrecv_init")
});
export!(nrt_sys; fn nrt_async_sendrecv_close(local_lnc: c_int) -> Res<()> {
    let _ = local_lnc;
    not_simulated("nrt_async_sendrecv_close")
});
export!(nrt_sys; fn nrt_async_sendrecv_get_max_num_pending_request(num: *mut c_int) -> Res<()> {
    let _ = num;
    not_simulated("nrt_async_sendrecv_get_max_num_pending_request")
});
export!(nrt_sys; fn nrt_async_sendrecv_connect(peer_ip: *const c_char, peer_lnc: c_int, local_lnc: c_int, send_comm: *mut *mut nrt_async_sendrecv_comm_t) -> Res<()> {
    let _ = (peer_ip, peer_lnc, local_lnc, send_comm);
    not_simulated("nrt_async_sendrecv_connect")
});
export!(nrt_sys; fn nrt_async_sendrecv_accept(peer_ip: *const c_char, peer_lnc: c_int, local_lnc: c_int, recv_comm: *mut *mut nrt_async_sendrecv_comm_t) -> Res<()> {
    let _ = (peer_ip, peer_lnc, local_lnc, recv_comm);
    not_simulated("nrt_async_sendrecv_accept")
});
export!(nrt_sys; fn nrt_async_sendrecv_test_comm(comm: *mut nrt_async_sendrecv_comm_t, done: *mut bool) -> Res<()> {
    let _ = (comm, done);
    not_simulated("nrt_async_sendrecv_test_comm")
});
export!(nrt_sys; fn nrt_async_sendrecv_send_tensor(tensor: *mut nrt_tensor_t, offset: usize, length: usize, send_comm: *mut nrt_async_sendrecv_comm_t, request: *mut *mut nrt_async_sendrecv_request_t) -> Res<()> {
    let _ = (tensor, offset, length, send_comm, request);
    not_simulated("nrt_async_sendrecv_send_tensor")
});
export!(nrt_sys; fn nrt_async_sendrecv_recv_tensor(tensor: *mut nrt_tensor_t, offset: usize, length: usize, recv_comm: *mut nrt_async_sendrecv_comm_t, request: *mut *mut nrt_async_sendrecv_request_t) -> Res<()> {
    let _ = (tensor, offset, length, recv_comm, request);
    not_simulated("nrt_async_sendrecv_recv_tensor")
});
export!(nrt_sys; fn nrt_async_sendrecv_test_request(request: *mut nrt_async_sendrecv_request_t, done: *mut bool, size: *mut usize) -> Res<()> {
    let _ = (request, done, size);
    not_simulated("nrt_async_sendrecv_test_request")
});
export!(nrt_sys; fn nrt_async_sendrecv_flush(lnc: c_int) -> Res<()> {
    let _ = lnc;
    not_simulated("nrt_async_sendrecv_flush")
});

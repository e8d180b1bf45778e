//! Calls that order work across the runtime (a barrier between ranks, the
//! inspect brackets) or move a tensor's bytes to or from a peer: the shim's
//! pending work they may touch completes first, then the runtime's call.

use nrt_sys::*;

use super::Shim;
use crate::ffi::export;
use crate::registry::TensorView;
use crate::tracker::{AccessKind, ByteRange, Status};

export! {
    /// The core's pending requests complete first: the other ranks see
    /// what this one's executions wrote.
    fn nrt_barrier(vnc: i32, g_device_id: u32, g_device_count: u32) -> NRT_STATUS
    [passthrough] |s, real| {
        s.engine.drain_core(vnc, "barrier");
        Ok(real())
    }
}

export! {
    fn nrt_inspect_begin() -> NRT_STATUS [passthrough] |s, real| {
        s.engine.drain_everything("inspect-begin");
        Ok(real())
    }
}

export! {
    fn nrt_inspect_begin_with_options(options: *mut nrt_inspect_config_t) -> NRT_STATUS [passthrough] |s, real| {
        s.engine.drain_everything("inspect-begin");
        Ok(real())
    }
}

export! {
    /// The session's executions complete before it is written.
    fn nrt_inspect_stop() -> NRT_STATUS [passthrough] |s, real| {
        s.engine.drain_everything("inspect-stop");
        Ok(real())
    }
}

/// Before a transfer of `length` bytes at `offset` of the tensor: waits for
/// the pending requests that conflict with the device's access of `kind`.
/// The runtime judges NULL arguments and ranges itself (they are forwarded),
/// but a tensor the program freed may still be the runtime's (its free
/// deferred), so the shim's own record is checked first, as in every call
/// that takes a tensor.
fn before_transfer(
    s: &'static Shim,
    tensor: *mut nrt_tensor_t,
    offset: usize,
    length: usize,
    comm_and_request_given: bool,
    kind: AccessKind,
) -> Result<Option<(TensorView, ByteRange)>, Status> {
    if !s.engine.is_open() || tensor.is_null() || !comm_and_request_given {
        return Ok(None);
    }
    let rec = s.engine.tensor(tensor as usize)?;
    // The runtime moves the bytes of the program's handle: its own storage.
    // A received tensor stays there (the peer writes it unseen).
    s.engine.bring_home(&rec, kind == AccessKind::Write);
    let view = rec.view();
    let Some(end) = offset.checked_add(length).filter(|&e| e as u64 <= view.size) else { return Ok(None) };
    let range = ByteRange::new(view.offset + offset as u64, (end - offset) as u64);
    s.engine.wait_pending(&view, range, kind, None);
    Ok(Some((view, range)))
}

export! {
    /// The device reads the bytes: their pending writers complete first.
    fn nrt_async_sendrecv_send_tensor(
        tensor: *mut nrt_tensor_t,
        offset: usize,
        length: usize,
        send_comm: *mut nrt_async_sendrecv_comm_t,
        request: *mut *mut nrt_async_sendrecv_request_t,
    ) -> NRT_STATUS
    [passthrough] |s, real| {
        before_transfer(s, tensor, offset, length, !send_comm.is_null() && !request.is_null(), AccessKind::Read)?;
        Ok(real())
    }
}

export! {
    /// The device writes the bytes: their pending users complete first. The
    /// peer writes them until the program's nrt_async_sendrecv_test_request
    /// says done, outside the shim's sight: the tensor is exposed from now on
    /// (its later executions complete before nrt_execute returns).
    fn nrt_async_sendrecv_recv_tensor(
        tensor: *mut nrt_tensor_t,
        offset: usize,
        length: usize,
        recv_comm: *mut nrt_async_sendrecv_comm_t,
        request: *mut *mut nrt_async_sendrecv_request_t,
    ) -> NRT_STATUS
    [passthrough] |s, real| {
        let part = before_transfer(s, tensor, offset, length, !recv_comm.is_null() && !request.is_null(), AccessKind::Write)?;
        let st = real();
        if st == NRT_SUCCESS {
            if let Some((view, range)) = part {
                s.engine.received(&view, range);
            }
        }
        Ok(st)
    }
}

//! The runtime's tensor-op calls (`nrta_tensor_write`, `nrta_tensor_copy`),
//! typed per generation (v3: lnc, queue, status pointer; v2: queue, error
//! tracker), found by symbol: a runtime without them keeps the synchronous
//! transfers.

use std::ffi::{c_int, c_void};

use nrt_sys::*;

use super::{Generation, Runtime};
use crate::status::NRT_FAILURE;

/// The two calls' types in each generation, as bindgen declares them
/// (checked below); the program's own calls of them (exports/nrta.rs) use
/// the same.
pub type WriteV3 = unsafe extern "C" fn(
    *mut nrt_tensor_t,
    *mut c_void,
    u64,
    u64,
    u32,
    u32,
    *mut NRT_STATUS,
    *mut nrta_seq_t,
) -> NRT_STATUS;
pub type WriteV2 = unsafe extern "C" fn(
    *mut nrt_tensor_t,
    *const c_void,
    u64,
    u64,
    c_int,
    *mut v2::nrta_error_tracker_t,
    *mut nrta_seq_t,
) -> NRT_STATUS;
pub type CopyV3 = unsafe extern "C" fn(
    *mut nrt_tensor_t,
    u64,
    *mut nrt_tensor_t,
    u64,
    u64,
    u32,
    u32,
    *mut NRT_STATUS,
    *mut nrta_seq_t,
) -> NRT_STATUS;
pub type CopyV2 = unsafe extern "C" fn(
    *mut nrt_tensor_t,
    u64,
    *mut nrt_tensor_t,
    u64,
    u64,
    c_int,
    *mut v2::nrta_error_tracker_t,
    *mut nrta_seq_t,
) -> NRT_STATUS;
const _: WriteV3 = nrt_sys::nrta_tensor_write;
const _: WriteV2 = nrt_sys::v2::nrta_tensor_write;
const _: CopyV3 = nrt_sys::nrta_tensor_copy;
const _: CopyV2 = nrt_sys::v2::nrta_tensor_copy;

pub enum TensorOps {
    V3 { write: WriteV3, copy: CopyV3 },
    V2 { write: WriteV2, copy: CopyV2 },
    None,
}

impl TensorOps {
    pub fn find(rt: &Runtime, generation: Generation) -> TensorOps {
        let (Some(w), Some(c)) = (rt.resolve("nrta_tensor_write\0"), rt.resolve("nrta_tensor_copy\0")) else {
            return TensorOps::None;
        };
        match generation {
            Generation::V3 => TensorOps::V3 {
                // SAFETY: the runtime's function of this name, whose v3 type
                // is WriteV3 (checked against bindgen above).
                write: unsafe { std::mem::transmute::<*mut c_void, WriteV3>(w) },
                // SAFETY: as above, CopyV3.
                copy: unsafe { std::mem::transmute::<*mut c_void, CopyV3>(c) },
            },
            Generation::V2 => TensorOps::V2 {
                // SAFETY: as above, the v2 type WriteV2.
                write: unsafe { std::mem::transmute::<*mut c_void, WriteV2>(w) },
                // SAFETY: as above, CopyV2.
                copy: unsafe { std::mem::transmute::<*mut c_void, CopyV2>(c) },
            },
        }
    }

    pub fn available(&self) -> bool {
        !matches!(self, TensorOps::None)
    }

    /// The tensor-op unit's queues (v3: 0 and 1; v2's write and tensor-op
    /// units have queue 0 only).
    pub fn queues(&self) -> u32 {
        match self {
            TensorOps::V3 { .. } => 2,
            TensorOps::V2 { .. } | TensorOps::None => 1,
        }
    }

    /// nrta_tensor_write; `err` is the status slot (v3) or the core's error
    /// tracker (v2). The runtime's status and the request's sequence number.
    pub fn write(
        &self,
        core: u32,
        queue: u32,
        tensor: usize,
        offset: u64,
        buf: &[u8],
        err: *mut c_void,
    ) -> (NRT_STATUS, u64) {
        let mut seq: nrta_seq_t = 0;
        let (t, p, n) = (tensor as *mut nrt_tensor_t, buf.as_ptr() as *mut c_void, buf.len() as u64);
        let st = match self {
            // SAFETY: a tensor the runtime issued; `buf` and `err` stay valid
            // until the transfer completes (the caller's contract).
            TensorOps::V3 { write, .. } => unsafe { write(t, p, offset, n, core, queue, err.cast(), &mut seq) },
            // SAFETY: as above.
            TensorOps::V2 { write, .. } => unsafe { write(t, p, offset, n, queue as c_int, err.cast(), &mut seq) },
            TensorOps::None => return (NRT_FAILURE, 0),
        };
        (st, seq)
    }

    /// nrta_tensor_copy (as [`write`](Self::write)).
    #[allow(clippy::too_many_arguments)]
    pub fn copy(
        &self,
        core: u32,
        queue: u32,
        src: usize,
        src_offset: u64,
        dst: usize,
        dst_offset: u64,
        size: u64,
        err: *mut c_void,
    ) -> (NRT_STATUS, u64) {
        let mut seq: nrta_seq_t = 0;
        let (s, d) = (src as *mut nrt_tensor_t, dst as *mut nrt_tensor_t);
        let st = match self {
            // SAFETY: tensors the runtime issued; `err` stays valid until
            // the transfer completes.
            TensorOps::V3 { copy, .. } => unsafe {
                copy(s, src_offset, d, dst_offset, size, core, queue, err.cast(), &mut seq)
            },
            // SAFETY: as above.
            TensorOps::V2 { copy, .. } => unsafe {
                copy(s, src_offset, d, dst_offset, size, queue as c_int, err.cast(), &mut seq)
            },
            TensorOps::None => return (NRT_FAILURE, 0),
        };
        (st, seq)
    }
}

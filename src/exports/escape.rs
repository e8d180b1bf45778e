//! Device memory that reaches the CPU or a NIC without the runtime's tensor
//! calls: a direct copy to a device address, a whole HBM bank mapped, a
//! dma-buf of device memory. Each waits for the pending work on the memory
//! it touches and marks it exposed (src/scheduler/escape.rs), then forwards.

use std::ffi::{c_int, c_void};

use nrt_sys::*;

use super::Shim;
use crate::ffi::export;
use crate::registry::Handle;

/// The runtime's own nrt_tensor_get_va of a tensor (0 for none), to learn
/// the address of a storage the program never asked about.
fn resolver(s: &'static Shim) -> impl FnMut(Handle) -> usize {
    let get_va = super::tensor::nrt_tensor_get_va::original(s.rt);
    move |t| match get_va {
        // SAFETY: the runtime's function, on a tensor handle it issued and
        // the shim still holds (the registry's record).
        Some(f) => (unsafe { f(t as *const nrt_tensor_t) }) as usize,
        None => 0,
    }
}

export! {
    /// Waits for the pending requests using the bytes at `dest` (every
    /// request, when the shim knows no tensor there), then copies.
    fn nrt_memcpy_to_device(dest: *mut c_void, src: *const c_void, size: usize) -> NRT_STATUS
    [passthrough] |s, real| {
        // Bad input, or no work of the shim's to order: the runtime's answer.
        if !s.engine.is_open() || dest.is_null() || (src.is_null() && size > 0) {
            return Ok(real());
        }
        Ok(s.engine.direct_write(dest as usize, size as u64, &mut resolver(s), real))
    }
}

export! {
    /// A bank mapped to the CPU: every device tensor is exposed from now on.
    fn nrt_get_hbm_mmap_va(device_id: c_int, hbm_idx: c_int, va: *mut *mut c_void, size: *mut usize) -> NRT_STATUS
    [passthrough] |s, real| {
        let st = real();
        if st == NRT_SUCCESS {
            s.engine.expose_everything();
        }
        Ok(st)
    }
}

export! {
    /// The memory at `va` goes to another device: its tensors' pending work
    /// completes first, and they are exposed from now on.
    fn nrt_get_dmabuf_fd(va: u64, size: u64, fd: *mut c_int) -> NRT_STATUS
    [passthrough] |s, real| {
        if !s.engine.is_open() || fd.is_null() || va == 0 {
            return Ok(real());
        }
        Ok(s.engine.dmabuf_export(va, size, &mut resolver(s), real))
    }
}

//! Exports that reach device memory by address or order work across ranks:
//! nrt_memcpy_to_device, nrt_get_hbm_mmap_va, nrt_get_dmabuf_fd, nrt_barrier.

use super::{nonnull, put};
use crate::raw::UserBuf;
use crate::runtime::rt;
use std::ffi::{c_int, c_void};

export!(nrt_sys; fn nrt_memcpy_to_device(dest: *mut c_void, src: *const c_void, size: usize) -> Res<()> {
    let call = "nrt_memcpy_to_device";
    let r = rt(call)?;
    nonnull(call, &[("dest", dest.is_null()), ("src", src.is_null() && size > 0)])?;
    // SAFETY: the caller gives `size` readable bytes at src for the duration of the call, which
    // copies them before returning.
    let user = unsafe { UserBuf::new(src, size) };
    r.memcpy_to_device(dest as usize, user)
});

export!(nrt_sys; fn nrt_get_hbm_mmap_va(device_id: c_int, hbm_idx: c_int, va: *mut *mut c_void, size: *mut usize) -> Res<()> {
    let call = "nrt_get_hbm_mmap_va";
    let r = rt(call)?;
    nonnull(call, &[("va", va.is_null()), ("size", size.is_null())])?;
    let (a, n) = r.hbm_mmap_va(device_id, hbm_idx)?;
    // SAFETY: va and size were checked non-NULL; the caller passes writable slots.
    unsafe {
        put(va, a as *mut c_void);
        put(size, n);
    }
    Ok(())
});

export!(nrt_sys; fn nrt_get_dmabuf_fd(va: u64, size: u64, fd: *mut c_int) -> Res<()> {
    let call = "nrt_get_dmabuf_fd";
    let r = rt(call)?;
    nonnull(call, &[("fd", fd.is_null())])?;
    let f = r.dmabuf_fd(va, size)?;
    // SAFETY: fd was checked non-NULL; the caller passes a writable int.
    unsafe { put(fd, f) };
    Ok(())
});

export!(nrt_sys; fn nrt_barrier(vnc: i32, g_device_id: u32, g_device_count: u32) -> Res<()> {
    let r = rt("nrt_barrier")?;
    r.barrier(vnc, g_device_id, g_device_count)
});

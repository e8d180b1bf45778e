//! Model exports: load, unload, model info, the tensor-info blocks.

use super::{free_tensor_info_block, nonnull, put};
use crate::runtime::{rt, Res};
use nrt_sys::*;
use std::ffi::{c_char, c_void};

unsafe fn load(call: &str, neff: *const c_void, size: usize, vnc: i32, model: *mut *mut nrt_model_t) -> Res<()> {
    let r = rt(call)?;
    nonnull(call, &[("neff_bytes", neff.is_null() && size > 0), ("model", model.is_null())])?;
    let data: &[u8] = if size == 0 {
        &[]
    } else {
        // SAFETY: neff is non-NULL (checked) and the caller gives `size` readable bytes.
        unsafe { std::slice::from_raw_parts(neff as *const u8, size) }
    };
    let h = r.load(data, vnc)?;
    // SAFETY: model was checked non-NULL; by this function's contract it is writable.
    unsafe { put(model, h as *mut nrt_model_t) };
    Ok(())
}

export!(nrt_sys; fn nrt_load(neff_bytes: *const c_void, size: usize, vnc: i32, vnc_count: i32, model: *mut *mut nrt_model_t) -> Res<()> {
    let _ = vnc_count;
    // SAFETY: the caller's pointers are what load requires (NULLs are rejected there).
    unsafe { load("nrt_load", neff_bytes, size, vnc, model) }
});

export!(nrt_sys; fn nrt_load_collectives(neff_bytes: *const c_void, size: usize, vnc: i32, vnc_count: i32, ctx_device_id: u32, ctx_device_count: u32, model: *mut *mut nrt_model_t) -> Res<()> {
    let _ = (vnc_count, ctx_device_id, ctx_device_count);
    // SAFETY: the caller's pointers are what load requires (NULLs are rejected there).
    unsafe { load("nrt_load_collectives", neff_bytes, size, vnc, model) }
});

export!(nrt_sys; fn nrt_unload(model: *mut nrt_model_t) -> Res<()> {
    let r = rt("nrt_unload")?;
    nonnull("nrt_unload", &[("model", model.is_null())])?;
    r.unload(model as usize)
});

export!(nrt_sys; fn nrt_get_model_vnc_count(model: *const nrt_model_t, vnc_count: *mut u32) -> Res<()> {
    let call = "nrt_get_model_vnc_count";
    let r = rt(call)?;
    nonnull(call, &[("model", model.is_null()), ("vnc_count", vnc_count.is_null())])?;
    r.model_info(call, model as usize)?;
    // SAFETY: vnc_count was checked non-NULL; the caller passes a writable u32.
    unsafe { put(vnc_count, 1) };
    Ok(())
});

export!(nrt_sys; fn nrt_get_model_info(model: *const nrt_model_t, info: *mut nrt_model_info_t, size_in: usize, size_out: *mut usize) -> Res<()> {
    let call = "nrt_get_model_info";
    let r = rt(call)?;
    nonnull(call, &[("model", model.is_null()), ("info", info.is_null()), ("size_out", size_out.is_null())])?;
    let m = r.model_info(call, model as usize)?;
    let v = nrt_model_info_t { vnc: m.core };
    let n = size_in.min(std::mem::size_of::<nrt_model_info_t>());
    // SAFETY: info is non-NULL and the caller gives size_in writable bytes; n <= size_in and
    // n <= size_of(v); v is a local, so the ranges cannot overlap.
    unsafe { std::ptr::copy_nonoverlapping(&v as *const nrt_model_info_t as *const u8, info as *mut u8, n) };
    // SAFETY: size_out was checked non-NULL; the caller passes a writable usize.
    unsafe { put(size_out, std::mem::size_of::<nrt_model_info_t>()) };
    Ok(())
});

export!(nrt_sys; fn nrt_get_model_tensor_info(model: *mut nrt_model_t, tensor_info: *mut *mut nrt_tensor_info_array_t) -> Res<()> {
    let call = "nrt_get_model_tensor_info";
    let r = rt(call)?;
    nonnull(call, &[("model", model.is_null()), ("tensor_info", tensor_info.is_null())])?;
    let m = r.model_info(call, model as usize)?;
    let decls: Vec<_> = m.def.inputs.iter().map(|d| (d, NRT_TENSOR_USAGE_INPUT))
        .chain(m.def.outputs.iter().map(|d| (d, NRT_TENSOR_USAGE_OUTPUT))).collect();
    let n = decls.len();
    let isz = std::mem::size_of::<nrt_tensor_info_t>();
    let head = std::mem::size_of::<nrt_tensor_info_array_t>();
    let shapes_off = head + n * isz;
    let total = shapes_off + n * 4;
    // SAFETY: calloc has no precondition; the result is checked for NULL below.
    let p = unsafe { libc::calloc(1, total) } as *mut u8;
    if p.is_null() {
        return Err(crate::reject!(NRT_FAIL_HOST_MEM_ALLOC, "{call}: out of memory"));
    }
    let arr = p as *mut nrt_tensor_info_array_t;
    // SAFETY: p is a fresh zeroed block of `total` bytes, malloc-aligned, starting with the header.
    unsafe { (*arr).tensor_count = n as u64 };
    // SAFETY: head <= total: the infos start inside the block.
    let infos = unsafe { p.add(head) } as *mut nrt_tensor_info_t;
    // SAFETY: shapes_off <= total: the shapes start inside the block.
    let shapes = unsafe { p.add(shapes_off) } as *mut u32;
    for (i, (d, usage)) in decls.iter().enumerate() {
        // SAFETY: i < n, so info i lies inside the block; nothing else refers to it.
        let ti = unsafe { &mut *infos.add(i) };
        for (k, b) in d.name.bytes().take(ti.name.len() - 1).enumerate() {
            ti.name[k] = b as c_char;
        }
        ti.usage = *usage;
        ti.size = d.size;
        ti.dtype = NRT_DTYPE_UINT8;
        // SAFETY: i < n, so shape i lies inside the block (the last n * 4 bytes).
        let shape = unsafe { shapes.add(i) };
        // SAFETY: shape is in bounds, 4-aligned (shapes_off is a multiple of 8) and unaliased.
        unsafe { *shape = d.size.min(u32::MAX as usize) as u32 };
        ti.shape = shape;
        ti.ndim = 1;
    }
    r.remember_tensor_info(p as usize);
    // SAFETY: tensor_info was checked non-NULL; the caller passes a writable pointer slot.
    unsafe { put(tensor_info, arr) };
    Ok(())
});

export!(nrt_sys; fn nrt_free_model_tensor_info(tensor_info: *mut nrt_tensor_info_array_t) -> Res<()> {
    let call = "nrt_free_model_tensor_info";
    let r = rt(call)?;
    nonnull(call, &[("tensor_info", tensor_info.is_null())])?;
    if !r.forget_tensor_info(tensor_info as usize) {
        return Err(crate::reject!(NRT_INVALID_HANDLE, "{call}: {tensor_info:p} was not returned by nrt_get_model_tensor_info or was already freed"));
    }
    free_tensor_info_block(tensor_info as usize);
    Ok(())
});

//! Tensor-set and tensor exports: allocation, data calls, info, completion counts.

use super::{cstr, nonnull, put};
use crate::raw::{Mem, UserBuf};
use crate::runtime::{rt, Res, NRT_INVALID};
use nrt_sys::*;
use std::ffi::{c_char, c_int, c_void};

// ======================================================================= tensor sets

export!(nrt_sys; fn nrt_allocate_tensor_set(result: *mut *mut nrt_tensor_set_t) -> Res<()> {
    let r = rt("nrt_allocate_tensor_set")?;
    nonnull("nrt_allocate_tensor_set", &[("result", result.is_null())])?;
    // SAFETY: result was checked non-NULL; the caller passes a writable pointer slot.
    unsafe { put(result, r.set_alloc() as *mut nrt_tensor_set_t) };
    Ok(())
});

export!(nrt_sys; fn nrt_destroy_tensor_set(tensor_set: *mut *mut nrt_tensor_set_t) {
    let call = "nrt_destroy_tensor_set";
    let Ok(r) = rt(call) else { return };
    // SAFETY: tensor_set is checked non-NULL first; the caller passes a valid, writable slot.
    if tensor_set.is_null() || unsafe { *tensor_set }.is_null() {
        log::warn!("{call}: NULL tensor set");
        return;
    }
    // SAFETY: tensor_set is non-NULL and the caller's valid slot (checked above).
    let h = unsafe { *tensor_set } as usize;
    // SAFETY: as above; the runtime clears the caller's handle.
    unsafe { *tensor_set = std::ptr::null_mut() };
    let _ = r.set_destroy(h);
});

export!(nrt_sys; fn nrt_add_tensor_to_tensor_set(tensor_set: *mut nrt_tensor_set_t, tensor_name: *const c_char, tensor: *mut nrt_tensor_t) -> Res<()> {
    let call = "nrt_add_tensor_to_tensor_set";
    let r = rt(call)?;
    nonnull(call, &[("tensor_set", tensor_set.is_null()), ("tensor_name", tensor_name.is_null()), ("tensor", tensor.is_null())])?;
    // SAFETY: tensor_name was checked non-NULL; the caller passes a NUL-terminated string.
    let name = unsafe { cstr(tensor_name) };
    r.set_add(tensor_set as usize, &name, tensor as usize)
});

export!(nrt_sys; fn nrt_get_tensor_from_tensor_set(tensor_set: *mut nrt_tensor_set_t, tensor_name: *const c_char, tensor: *mut *mut nrt_tensor_t) -> Res<()> {
    let call = "nrt_get_tensor_from_tensor_set";
    let r = rt(call)?;
    nonnull(call, &[("tensor_set", tensor_set.is_null()), ("tensor_name", tensor_name.is_null()), ("tensor", tensor.is_null())])?;
    // SAFETY: tensor_name was checked non-NULL; the caller passes a NUL-terminated string.
    let name = unsafe { cstr(tensor_name) };
    let h = r.set_get(tensor_set as usize, &name)?;
    // SAFETY: tensor was checked non-NULL; the caller passes a writable pointer slot.
    unsafe { put(tensor, h as *mut nrt_tensor_t) };
    Ok(())
});
// ======================================================================= tensors

export!(nrt_sys; fn nrt_tensor_allocate(tensor_placement: nrt_tensor_placement_t, vnc: c_int, size: usize, name: *const c_char, tensor: *mut *mut nrt_tensor_t) -> Res<()> {
    let call = "nrt_tensor_allocate";
    let r = rt(call)?;
    nonnull(call, &[("name", name.is_null()), ("tensor", tensor.is_null())])?;
    // SAFETY: name was checked non-NULL; the caller passes a NUL-terminated string.
    let name = unsafe { cstr(name) };
    let h = r.tensor_allocate(tensor_placement, vnc, size, &name)?;
    // SAFETY: tensor was checked non-NULL; the caller passes a writable pointer slot.
    unsafe { put(tensor, h as *mut nrt_tensor_t) };
    Ok(())
});

export!(nrt_sys; fn nrt_tensor_free(tensor: *mut *mut nrt_tensor_t) {
    let Ok(r) = rt("nrt_tensor_free") else { return };
    // SAFETY: tensor is checked non-NULL first; the caller passes a valid, writable slot.
    if tensor.is_null() || unsafe { *tensor }.is_null() {
        return;
    }
    // SAFETY: tensor is non-NULL and the caller's valid slot (checked above).
    let h = unsafe { *tensor } as usize;
    // SAFETY: as above; the runtime clears the caller's handle.
    unsafe { *tensor = std::ptr::null_mut() };
    let _ = r.tensor_free(h);
});

export!(nrt_sys; fn nrt_tensor_read(tensor: *const nrt_tensor_t, buf: *mut c_void, offset: usize, size: usize) -> Res<()> {
    let call = "nrt_tensor_read";
    let r = rt(call)?;
    nonnull(call, &[("tensor", tensor.is_null()), ("buf", buf.is_null() && size > 0)])?;
    // SAFETY: the caller gives `size` writable bytes at buf for the duration of the call, which
    // is synchronous (it returns only when the read is done).
    let user = unsafe { UserBuf::new(buf, size) };
    r.tensor_read(tensor as usize, offset as u64, user, true)
});

export!(nrt_sys; fn nrt_tensor_write(tensor: *mut nrt_tensor_t, buf: *const c_void, offset: usize, size: usize) -> Res<()> {
    let call = "nrt_tensor_write";
    let r = rt(call)?;
    nonnull(call, &[("tensor", tensor.is_null()), ("buf", buf.is_null() && size > 0)])?;
    // SAFETY: the caller gives `size` readable bytes at buf for the duration of the call, which
    // is synchronous (it returns only when the write is done).
    let user = unsafe { UserBuf::new(buf, size) };
    r.tensor_write(tensor as usize, offset as u64, user, true)
});

unsafe fn batch(call: &str, write: bool, batches: *const nrt_tensor_batch_t, n: u64, unsafe_mode: bool) -> Res<()> {
    let r = rt(call)?;
    nonnull(call, &[("batches", batches.is_null() && n > 0)])?;
    let mut v = Vec::new();
    for i in 0..n as usize {
        // SAFETY: batches is non-NULL (checked, n > 0) and the caller gives n valid entries; i < n.
        let b = unsafe { &*batches.add(i) };
        nonnull(
            call,
            &[("batches[i].tensor", b.tensor.is_null()), ("batches[i].ops", b.ops.is_null() && b.num_ops > 0)],
        )?;
        let mut ops = Vec::new();
        for k in 0..b.num_ops as usize {
            // SAFETY: b.ops is non-NULL (checked, num_ops > 0) and holds num_ops entries; k < num_ops.
            let op = unsafe { &*b.ops.add(k) };
            nonnull(call, &[("ops[k].buffer", op.buffer.is_null() && op.size > 0)])?;
            if op.size > usize::MAX as u64 {
                return Err(crate::reject!(NRT_INVALID, "{call}: size {} too large", op.size));
            }
            // SAFETY: the caller gives op.size bytes at op.buffer for the duration of the call,
            // which is synchronous (the batch is done when it returns).
            let user = unsafe { UserBuf::new(op.buffer, op.size as usize) };
            ops.push((op.offset, user));
        }
        v.push((b.tensor as usize, ops));
    }
    r.tensor_batch(write, v, unsafe_mode)
}

export!(nrt_sys; fn nrt_tensor_read_batch(batches: *const nrt_tensor_batch_t, num_batches: u64, unsafe_mode: bool) -> Res<()> {
    // SAFETY: the caller's array and buffers are what batch requires (NULLs are rejected there).
    unsafe { batch("nrt_tensor_read_batch", false, batches, num_batches, unsafe_mode) }
});

export!(nrt_sys; fn nrt_tensor_write_batch(batches: *const nrt_tensor_batch_t, num_batches: u64, unsafe_mode: bool) -> Res<()> {
    // SAFETY: the caller's array and buffers are what batch requires (NULLs are rejected there).
    unsafe { batch("nrt_tensor_write_batch", true, batches, num_batches, unsafe_mode) }
});

export!(nrt_sys; fn nrt_tensor_copy(src: *const nrt_tensor_t, src_offset: usize, dst: *mut nrt_tensor_t, dst_offset: usize, size: usize) -> Res<()> {
    let call = "nrt_tensor_copy";
    let r = rt(call)?;
    nonnull(call, &[("src", src.is_null()), ("dst", dst.is_null())])?;
    r.tensor_copy(src as usize, src_offset as u64, dst as usize, dst_offset as u64, size as u64)
});

export!(nrt_sys; fn nrt_tensor_get_size(tensor: *const nrt_tensor_t) -> usize {
    let call = "nrt_tensor_get_size";
    let Ok(r) = rt(call) else { return 0 };
    if nonnull(call, &[("tensor", tensor.is_null())]).is_err() {
        return 0;
    }
    r.tensor_size(tensor as usize).unwrap_or(0)
});

export!(nrt_sys; fn nrt_tensor_memset(tensor: *mut nrt_tensor_t, offset: u64, value: c_int, size: usize) -> Res<()> {
    let call = "nrt_tensor_memset";
    let r = rt(call)?;
    nonnull(call, &[("tensor", tensor.is_null())])?;
    r.tensor_memset(tensor as usize, offset, value, size as u64)
});

export!(nrt_sys; fn nrt_tensor_allocate_empty(name: *const c_char, tensor: *mut *mut nrt_tensor_t) -> Res<()> {
    let call = "nrt_tensor_allocate_empty";
    let r = rt(call)?;
    nonnull(call, &[("name", name.is_null()), ("tensor", tensor.is_null())])?;
    // SAFETY: name was checked non-NULL; the caller passes a NUL-terminated string.
    let name = unsafe { cstr(name) };
    let h = r.tensor_allocate_empty(&name);
    // SAFETY: tensor was checked non-NULL; the caller passes a writable pointer slot.
    unsafe { put(tensor, h as *mut nrt_tensor_t) };
    Ok(())
});

export!(nrt_sys; fn nrt_tensor_attach_buffer(tensor: *mut nrt_tensor_t, buffer: *mut c_void, size: usize) -> Res<()> {
    let call = "nrt_tensor_attach_buffer";
    let r = rt(call)?;
    nonnull(call, &[("tensor", tensor.is_null()), ("buffer", buffer.is_null())])?;
    // SAFETY: the runtime's contract: the caller keeps `size` bytes at buffer valid for the life
    // of every tensor using them.
    let mem = unsafe { Mem::attach(buffer, size) };
    r.tensor_attach(tensor as usize, mem)
});

export!(nrt_sys; fn nrt_tensor_allocate_slice(tensor_source: *const nrt_tensor_t, offset: usize, size: usize, name: *const c_char, tensor_slice: *mut *mut nrt_tensor_t) -> Res<()> {
    let call = "nrt_tensor_allocate_slice";
    let r = rt(call)?;
    nonnull(call, &[("tensor_source", tensor_source.is_null()), ("name", name.is_null()), ("tensor_slice", tensor_slice.is_null())])?;
    // SAFETY: name was checked non-NULL; the caller passes a NUL-terminated string.
    let name = unsafe { cstr(name) };
    let h = r.tensor_slice(tensor_source as usize, offset as u64, size as u64, &name)?;
    // SAFETY: tensor_slice was checked non-NULL; the caller passes a writable pointer slot.
    unsafe { put(tensor_slice, h as *mut nrt_tensor_t) };
    Ok(())
});

export!(nrt_sys; fn nrt_tensor_get_va(tensor: *const nrt_tensor_t) -> *mut c_void {
    let call = "nrt_tensor_get_va";
    let Ok(r) = rt(call) else { return std::ptr::null_mut() };
    if nonnull(call, &[("tensor", tensor.is_null())]).is_err() {
        return std::ptr::null_mut();
    }
    match r.tensor_va(tensor as usize) {
        Ok(Some(a)) => a as *mut c_void,
        _ => std::ptr::null_mut(),
    }
});

export!(nrt_sys; fn nrt_tensor_get_device_allocation_info(tensor: *const nrt_tensor_t, alloc_info: *mut nrt_tensor_device_allocation_info_t) -> Res<()> {
    let call = "nrt_tensor_get_device_allocation_info";
    let r = rt(call)?;
    nonnull(call, &[("tensor", tensor.is_null()), ("alloc_info", alloc_info.is_null())])?;
    let (pa, size, hbm) = r.device_alloc_info(tensor as usize)?;
    let info = nrt_tensor_device_allocation_info_t { physical_address: pa, size, hbm_index: hbm };
    // SAFETY: alloc_info was checked non-NULL; the caller passes a writable struct.
    unsafe { put(alloc_info, info) };
    Ok(())
});

export!(nrt_sys; fn nrt_tensor_check_output_completion(output_tensor: *const nrt_tensor_t, timeout_us: i64, expected_completion_count: u64) -> Res<()> {
    let call = "nrt_tensor_check_output_completion";
    let r = rt(call)?;
    nonnull(call, &[("output_tensor", output_tensor.is_null())])?;
    r.check_output_completion(output_tensor as usize, timeout_us, expected_completion_count)
});

export!(nrt_sys; fn nrt_tensor_reset_output_completion(output_tensor: *mut nrt_tensor_t) -> Res<()> {
    let call = "nrt_tensor_reset_output_completion";
    let r = rt(call)?;
    nonnull(call, &[("output_tensor", output_tensor.is_null())])?;
    r.reset_output_completion(output_tensor as usize)
});

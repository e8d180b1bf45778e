//! Tensor calls: each waits only for the pending requests that touch the
//! bytes it reads or overwrites, then runs the runtime's own call.

use std::ffi::{c_char, c_int, c_void};

use nrt_sys::*;

use super::{handle, Shim};
use crate::config::Mode;
use crate::ffi::export;
use crate::observe;
use crate::registry::TensorRecord;
use crate::status::{NRT_FAILURE, NRT_INVALID, NRT_RESOURCE};
use crate::tracker::{AccessKind, Status};

/// The tensor's record after the checks every tensor call makes, in the
/// runtime's order: state, NULL arguments (the tensor, then a buffer the
/// call needs: `null_buffer`), then the handle (never seen or freed:
/// NRT_INVALID_HANDLE).
fn checked(
    s: &'static Shim,
    t: *const nrt_tensor_t,
    null_buffer: bool,
) -> Result<std::sync::Arc<TensorRecord>, Status> {
    s.engine.check_open()?;
    let h = handle(t, "tensor")?;
    if null_buffer {
        return Err(observe::reject(NRT_INVALID, format_args!("buffer is NULL")));
    }
    s.engine.tensor(h)
}

/// The runtime's `$name` on runtime tensor `$phys` (a renamed version of the
/// program's tensor, same size and core) instead of the program's handle,
/// with the caller's other arguments.
macro_rules! on_version {
    ($name:ident, $s:expr, $phys:expr $(, $arg:expr)*) => {
        match $name::original($s.rt) {
            // SAFETY: the runtime's function, on a tensor the runtime issued
            // to the shim, with the arguments the caller gave (checked).
            Some(f) => unsafe { f($phys as _ $(, $arg)*) },
            None => NRT_FAILURE,
        }
    };
}
pub(super) use on_version;

/// A tensor's name, for stats and traces (only when they are on: it allocates).
fn name_of(name: *const c_char) -> Option<std::sync::Arc<str>> {
    if name.is_null() || crate::observe::get().is_none() {
        return None;
    }
    // SAFETY: the runtime accepted it as a NUL-terminated name.
    Some(std::sync::Arc::from(unsafe { std::ffi::CStr::from_ptr(name) }.to_string_lossy().as_ref()))
}

export! {
    fn nrt_tensor_allocate(placement: nrt_tensor_placement_t, vnc: c_int, size: usize, name: *const c_char, tensor: *mut *mut nrt_tensor_t) -> NRT_STATUS
    |s, real| {
        let frees_before = s.engine.deferred_frees_done();
        let mut st = real();
        if s.mode == Mode::Passthrough {
            return Ok(st);
        }
        if st == NRT_RESOURCE && (s.engine.has_deferred_frees() || s.engine.deferred_frees_done() != frees_before) {
            // Memory may be held by tensors freed while still in use (or
            // their frees ended after this attempt): finish those frees, then
            // try once more.
            log::info!("nrt_tensor_allocate: out of memory with deferred frees pending; completing them and retrying");
            s.engine.run_deferred(true);
            st = real();
        }
        if st == NRT_RESOURCE && s.engine.shed_versions() > 0 {
            // Spare versions (renaming) give their memory back first.
            log::info!("nrt_tensor_allocate: out of memory; freed the spare versions and retrying");
            st = real();
        }
        // SAFETY: on success the runtime filled the out-pointer.
        if st == NRT_SUCCESS && !unsafe { *tensor }.is_null() {
            let core = (placement == NRT_TENSOR_PLACEMENT_DEVICE && vnc >= 0).then_some(vnc as u32);
            // SAFETY: as above.
            s.engine.tensor_allocated(unsafe { *tensor } as usize, name_of(name), core, size as u64);
        }
        Ok(st)
    }
}

export! {
    /// Returns at once; the runtime's free runs when no pending request uses the tensor.
    fn nrt_tensor_free(tensor: *mut *mut nrt_tensor_t) [passthrough] |s, real| {
        // SAFETY: checked for NULL before reading.
        if tensor.is_null() || unsafe { *tensor }.is_null() {
            return real();
        }
        // SAFETY: non-NULL, checked above.
        unsafe {
            s.engine.free_tensor(*tensor as usize);
            *tensor = std::ptr::null_mut();
        }
    }
}

export! {
    /// Waits only for pending requests that write the bytes it reads.
    fn nrt_tensor_read(tensor: *const nrt_tensor_t, buf: *mut c_void, offset: usize, size: usize) -> NRT_STATUS
    [passthrough] |s, real| {
        let rec = checked(s, tensor, buf.is_null() && size > 0)?;
        let view = rec.view();
        let r = view.range(offset as u64, size as u64)?;
        Ok(s.engine.on_current_version(&rec, view, |view, phys| {
            s.engine.host_access(view, r, AccessKind::Read, None, || {
                if phys == rec.handle { real() } else { on_version!(nrt_tensor_read, s, phys, buf, offset, size) }
            })
        }))
    }
}

export! {
    /// Waits only for pending requests that read or write the bytes it
    /// overwrites, or goes to a fresh version of the tensor (renaming).
    fn nrt_tensor_write(tensor: *mut nrt_tensor_t, buf: *const c_void, offset: usize, size: usize) -> NRT_STATUS
    [passthrough] |s, real| {
        let rec = checked(s, tensor, buf.is_null() && size > 0)?;
        let view = rec.view();
        let r = view.range(offset as u64, size as u64)?;
        let fill = |dst: &mut [u8]| {
            // SAFETY: the program passes `size` readable bytes at `buf` (not
            // NULL: checked above, and the shim stages only size > 0); `dst`
            // has `size` bytes.
            dst.copy_from_slice(unsafe { std::slice::from_raw_parts(buf as *const u8, size) })
        };
        // Staged (when asked for) into the version the tensor has now; a
        // staged write waits for the bytes' readers (it is never renamed).
        if let Some(st) = s.engine.write_staged_current(&rec, &view, r, offset as u64, fill) {
            return Ok(st);
        }
        Ok(s.engine.host_write(&rec, view, r, |phys| {
            if phys == rec.handle { real() } else { on_version!(nrt_tensor_write, s, phys, buf, offset, size) }
        }))
    }
}

export! {
    fn nrt_tensor_memset(tensor: *mut nrt_tensor_t, offset: u64, value: c_int, size: usize) -> NRT_STATUS
    [passthrough] |s, real| {
        let rec = checked(s, tensor, false)?;
        let view = rec.view();
        let r = view.range(offset, size as u64)?;
        // The runtime sets each byte to the value's low byte.
        let fill = |dst: &mut [u8]| dst.fill(value as u8);
        if let Some(st) = s.engine.write_staged_current(&rec, &view, r, offset, fill) {
            return Ok(st);
        }
        Ok(s.engine.host_write(&rec, view, r, |phys| {
            if phys == rec.handle { real() } else { on_version!(nrt_tensor_memset, s, phys, offset, value, size) }
        }))
    }
}

export! {
    /// Waits for writers of the source bytes and for users of the destination bytes.
    fn nrt_tensor_copy(src: *const nrt_tensor_t, src_offset: usize, dst: *mut nrt_tensor_t, dst_offset: usize, size: usize) -> NRT_STATUS
    [passthrough] |s, real| {
        s.engine.check_open()?;
        let (src_h, dst_h) = (handle(src, "source tensor")?, handle(dst, "destination tensor")?);
        let (src_rec, dst_rec) = (s.engine.tensor(src_h)?, s.engine.tensor(dst_h)?);
        let (sv, dv) = (src_rec.view(), dst_rec.view());
        let sr = sv.range(src_offset as u64, size as u64)?;
        let dr = dv.range(dst_offset as u64, size as u64)?;
        // On the tensor-op unit when both are the tensors' own storage and
        // the destination would not be renamed (a rename saves the wait for
        // its readers, which the device-side copy must make).
        let (src_phys, dst_own) = (sv.phys(src_h), dv.phys(dst_h) == dst_h);
        if src_phys == src_h && dst_own && !s.engine.would_rename(&dv, dr) {
            let (so, doff) = (src_offset as u64, dst_offset as u64);
            if let Some(st) = s.engine.copy_on_device(src_h, so, &sv, sr, dst_h, doff, &dv, dr) {
                return Ok(st);
            }
        }
        // The source's writers first (and a failure they left in its bytes),
        // then the destination, which may go to a fresh version (renaming).
        let st = s.engine.host_access(&sv, sr, AccessKind::Read, None, || NRT_SUCCESS);
        if st != NRT_SUCCESS {
            return Ok(st);
        }
        Ok(s.engine.host_write(&dst_rec, dv, dr, |dst_phys| {
            if src_phys == src_h && dst_phys == dst_h {
                real()
            } else {
                on_version!(nrt_tensor_copy, s, src_phys, src_offset, dst_phys as *mut nrt_tensor_t, dst_offset, size)
            }
        }))
    }
}

export! {
    /// Waits for all pending work on the tensor: the application may touch
    /// its bytes directly from now on, so later requests using it complete
    /// before nrt_execute returns (unless NRT_SHIM_TRUST_HOST_MEMORY=1).
    fn nrt_tensor_get_va(tensor: *const nrt_tensor_t) -> *mut c_void [passthrough] |s, real| {
        // Bad input was logged once, by `checked`; an unknown handle is not
        // passed on (the runtime could not do better than NULL either).
        let Ok(rec) = checked(s, tensor, false) else { return std::ptr::null_mut() };
        // The address is the program's own storage's: the newest bytes go
        // there, and the tensor is never renamed again.
        s.engine.bring_home(&rec, true);
        let view = rec.view();
        // The program may read or write through the address: wait for
        // every pending user. Touching no bytes, it clears no failure mark.
        s.engine.wait_pending(&view, view.whole(), AccessKind::Write, None);
        let va = real();
        if !va.is_null() {
            s.engine.address_taken(&rec);
            // Found again by a call given only an address (memcpy_to_device, dmabuf).
            s.engine.address_known(&rec, va as usize);
        }
        va
    }
}

export! {
    /// Waits for the tensor's producer (within the timeout), then asks the runtime.
    fn nrt_tensor_check_output_completion(output_tensor: *const nrt_tensor_t, timeout_us: i64, expected_completion_count: u64) -> NRT_STATUS
    [passthrough] |s, real| {
        let view = checked(s, output_tensor, false)?.view();
        // The synchronous runtime completed every request the program
        // issued before this call, so those count whatever the timeout
        // (a count already reached must not time out). The caller's
        // timeout is for completions it has not asked for yet (another
        // thread's executions), and the runtime applies it. It counts
        // completions, as the runtime does (a failed request counts: it
        // ran); it reads no byte, so it reports no failure.
        s.engine.wait_pending(&view, view.whole(), AccessKind::Read, None);
        Ok(real())
    }
}

export! {
    fn nrt_tensor_reset_output_completion(output_tensor: *mut nrt_tensor_t) -> NRT_STATUS [passthrough] |s, real| {
        let view = checked(s, output_tensor, false)?.view();
        // Pending producers would count after the reset otherwise.
        s.engine.wait_pending(&view, view.whole(), AccessKind::Read, None);
        Ok(real())
    }
}

export! {
    fn nrt_tensor_allocate_empty(name: *const c_char, tensor: *mut *mut nrt_tensor_t) -> NRT_STATUS |s, real| {
        let st = real();
        // SAFETY: on success the runtime filled the out-pointer.
        if st == NRT_SUCCESS && s.mode != Mode::Passthrough && !unsafe { *tensor }.is_null() {
            // SAFETY: as above.
            s.engine.tensor_allocated_empty(unsafe { *tensor } as usize, name_of(name));
        }
        Ok(st)
    }
}

export! {
    /// Moves the tensor onto memory the application owns (after its pending work).
    fn nrt_tensor_attach_buffer(tensor: *mut nrt_tensor_t, buffer: *mut c_void, size: usize) -> NRT_STATUS
    [passthrough] |s, real| {
        let rec = checked(s, tensor, false)?;
        // Every version's readers are done before the storage changes.
        s.engine.bring_home(&rec, true);
        let view = rec.view();
        s.engine.wait_pending(&view, view.whole(), AccessKind::Write, None);
        let st = real();
        if st == NRT_SUCCESS {
            s.engine.buffer_attached(&rec, size as u64);
        }
        Ok(st)
    }
}

export! {
    /// A slice shares its source's storage: hazards see both.
    fn nrt_tensor_allocate_slice(tensor_source: *const nrt_tensor_t, offset: usize, size: usize, name: *const c_char, tensor_slice: *mut *mut nrt_tensor_t) -> NRT_STATUS
    |s, real| {
        // The runtime's order: state, NULL arguments, then the source's handle,
        // which must be the shim's (a freed one may still be the runtime's).
        if s.mode != Mode::Passthrough && s.engine.is_open() && !name.is_null() && !tensor_slice.is_null() {
            known(s, tensor_source)?;
            // The slice views the source's own storage: its newest bytes go
            // there, and neither is renamed from now on.
            if !tensor_source.is_null() {
                let src = s.engine.tensor(tensor_source as usize)?;
                s.engine.bring_home(&src, true);
            }
        }
        let st = real();
        if st == NRT_SUCCESS && s.mode != Mode::Passthrough {
            // SAFETY: on success the runtime filled the out-pointer.
            let slice = unsafe { *tensor_slice } as usize;
            if !s.engine.slice_of_allocated(slice, name_of(name), tensor_source as usize, offset as u64, size as u64) {
                log::warn!("nrt_tensor_allocate_slice: source {:#x} unknown to the shim; slice untracked", tensor_source as usize);
            }
        }
        Ok(st)
    }
}

/// For a call the runtime checks itself: the handle (non-NULL) must be a
/// tensor the shim knows. One the program freed may still be the runtime's
/// while its free is deferred, and the runtime would accept it.
fn known(s: &'static Shim, t: *const nrt_tensor_t) -> Result<(), Status> {
    if t.is_null() {
        return Ok(());
    }
    s.engine.tensor(t as usize).map(drop)
}

export! {
    /// The size of a tensor the program has not freed (0 otherwise, as the runtime).
    fn nrt_tensor_get_size(tensor: *const nrt_tensor_t) -> usize |s, real| {
        if s.mode != Mode::Passthrough && s.engine.is_open() && known(s, tensor).is_err() {
            return 0;
        }
        real()
    }
}

export! {
    /// The tensor's physical address escapes (a NIC or another device may
    /// use it): its pending work completes first, and it is exposed from now
    /// on, like a tensor whose CPU address the program holds.
    fn nrt_tensor_get_device_allocation_info(tensor: *const nrt_tensor_t, alloc_info: *mut nrt_tensor_device_allocation_info_t) -> NRT_STATUS
    [passthrough] |s, real| {
        if !s.engine.is_open() || alloc_info.is_null() || tensor.is_null() {
            return Ok(real());
        }
        let rec = s.engine.tensor(tensor as usize)?;
        // The program learns where the bytes are: they go home and stay there.
        s.engine.bring_home(&rec, true);
        let st = real();
        if st == NRT_SUCCESS {
            s.engine.escape(&rec);
        }
        Ok(st)
    }
}

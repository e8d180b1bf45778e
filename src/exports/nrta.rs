//! The application's own explicit async calls (a half-migrated program,
//! migrated one loop at a time). Before forwarding a call that touches
//! tensors, the shim waits for its own pending work on those bytes (a read
//! for pending writes, a write for pending reads and writes, an execution
//! for both on its sets); once the runtime accepted it, the request's bytes
//! are recorded under its sequence number (scheduler/foreign.rs), so that a
//! later legacy call on them waits for it. The application's sequence
//! numbers, status pointers and error trackers pass through untouched.
//!
//! One symbol serves both generations, whose argument lists differ (v3 adds
//! `lnc` to the tensor calls, v2's 5th pointer is an error tracker): these
//! exports take 8-byte slots (`slots` in src/ffi.rs) and read them as the
//! runtime's generation, detected at init, says.
//!
//! Not exported, because the shim has nothing to do there and a shadow of the
//! runtime's symbol would only cost: `nrta_get_sequence`, the event and
//! completion-handle calls (the application's waits are its own), the v2
//! error tracker calls (exporting them would make a generation probe by
//! `dlsym(RTLD_DEFAULT, "nrta_error_tracker_create")` lie on a v3 runtime),
//! and the collectives (`nrta_cc_*`: their tensors are in prepared contexts
//! the shim cannot see; neither runtime here implements them).

use std::cell::RefCell;
use std::ffi::c_void;

use nrt_sys::*;

use super::Shim;
use crate::backend::transfer::{CopyV2, CopyV3, WriteV2, WriteV3};
use crate::backend::Generation;
use crate::ffi::export;
use crate::registry::TensorView;
use crate::tracker::{AccessKind, ByteRange, Status, StorageRange};

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("the nrta_* exports read their arguments as 8-byte slots: x86_64 and aarch64 only");

type Part = (TensorView, ByteRange, AccessKind);

/// Per-thread buffers (see `scratch`): these calls allocate nothing in steady state.
#[derive(Default)]
struct Scratch {
    parts: Vec<Part>,
    ranges: Vec<StorageRange>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// One application request: `collect` names the bytes it touches (Err: bad
/// input the shim itself must refuse), the shim waits for its own pending
/// work on them, `schedule` forwards it, and on success the request is
/// recorded under the sequence number the runtime wrote at `seq`.
///
/// `v3_ret`: the status pointer of a v3 call. Before the runtime is open, or
/// with a NULL out-pointer, the runtime's own first checks answer, so the
/// call goes straight to it.
fn around(
    s: &'static Shim,
    seq: *mut nrta_seq_t,
    v3_ret: u64,
    collect: impl FnOnce(&mut Vec<Part>) -> Result<(), Status>,
    schedule: impl FnOnce() -> Status,
) -> Status {
    let v3 = s.engine.device().generation == Generation::V3;
    if !s.engine.is_open() || seq.is_null() || (v3 && v3_ret == 0) {
        return schedule();
    }
    crate::scratch::with(&SCRATCH, |b| {
        b.parts.clear();
        b.ranges.clear();
        let st = match collect(&mut b.parts) {
            Ok(()) => {
                for (view, range, kind) in &b.parts {
                    s.engine.wait_own(view, *range, *kind, None);
                }
                let st = schedule();
                if st == NRT_SUCCESS && !seq.is_null() && !b.parts.is_empty() {
                    // SAFETY: the runtime accepted the request, so `seq` is the
                    // caller's writable nrta_seq_t, which it just filled.
                    let seq = unsafe { seq.read() };
                    let ranges = b.parts.iter().filter_map(|(v, range, kind)| {
                        Some(StorageRange { storage: v.storage.as_ref()?.id, range: *range, kind: *kind })
                    });
                    b.ranges.extend(ranges);
                    s.engine.foreign_scheduled(seq, &b.ranges);
                    for (view, range, _) in b.parts.iter().filter(|p| p.2 == AccessKind::Write) {
                        s.engine.app_writes(view, *range);
                    }
                }
                st
            }
            Err(st) => st,
        };
        // Drop the views (their storage references) now; keep the capacity.
        b.parts.clear();
        b.ranges.clear();
        st
    })
}

/// The bytes `[offset, offset + size)` of tensor `t`, when the shim tracks
/// it on device memory and they fit (the runtime judges the rest).
fn tensor_part(
    s: &'static Shim,
    t: *const nrt_tensor_t,
    offset: u64,
    size: u64,
    kind: AccessKind,
    parts: &mut Vec<Part>,
) -> Result<(), Status> {
    if t.is_null() {
        return Ok(());
    }
    let Some(rec) = s.engine.app_tensor(t as usize)? else { return Ok(()) };
    // The runtime reaches the bytes by the program's handle: its own storage.
    s.engine.bring_home(&rec, false);
    let view = rec.view();
    let fits = offset.checked_add(size).is_some_and(|end| end <= view.size);
    if fits && view.storage.as_ref().is_some_and(|st| st.core.is_some()) {
        let range = ByteRange::new(view.offset + offset, size);
        parts.push((view, range, kind));
    }
    Ok(())
}

/// Where the runtime writes the request's sequence number: the last pointer
/// of the call, whose slot depends on the generation.
fn seq_slot(s: &'static Shim, v3: u64, v2: u64) -> *mut nrta_seq_t {
    (match s.engine.device().generation {
        Generation::V3 => v3,
        Generation::V2 => v2,
    }) as usize as *mut nrta_seq_t
}

type ScheduleV3 = unsafe extern "C" fn(
    *mut nrt_model_t,
    *mut nrt_tensor_set_t,
    *mut nrt_tensor_set_t,
    u32,
    *mut NRT_STATUS,
    *mut nrta_seq_t,
) -> NRT_STATUS;
type ScheduleV2 = unsafe extern "C" fn(
    *mut nrt_model_t,
    *const nrt_tensor_set_t,
    *mut nrt_tensor_set_t,
    std::ffi::c_int,
    *mut v2::nrta_error_tracker_t,
    *mut nrta_seq_t,
) -> NRT_STATUS;

export! {
    /// Waits for the shim's pending work on the sets' tensors (their
    /// producers, and the readers of its outputs), then schedules it and
    /// records it.
    fn nrta_execute_schedule(model: *mut nrt_model_t, input: *mut nrt_tensor_set_t, output: *mut nrt_tensor_set_t, queue: u64, ret_or_err: *mut c_void, req_sequence: *mut nrta_seq_t) -> NRT_STATUS
    slots(v3 = ScheduleV3; v2 = ScheduleV2;)
    [passthrough] |s, real| {
        let collect = |parts: &mut Vec<Part>| s.engine.app_schedule_parts(model as usize, input as usize, output as usize, parts);
        if queue as u32 != 0 {
            // The only compute queue (the runtime says so, before the handles).
            return Ok(real());
        }
        Ok(around(s, req_sequence, ret_or_err as u64, collect, real))
    }
}

type ReadV3 = unsafe extern "C" fn(
    *mut c_void,
    *mut nrt_tensor_t,
    u64,
    u64,
    u32,
    u32,
    *mut NRT_STATUS,
    *mut nrta_seq_t,
) -> NRT_STATUS;
type ReadV2 = unsafe extern "C" fn(
    *mut c_void,
    *mut nrt_tensor_t,
    u64,
    u64,
    std::ffi::c_int,
    *mut v2::nrta_error_tracker_t,
    *mut nrta_seq_t,
) -> NRT_STATUS;

export! {
    /// Waits for the shim's pending writes of the bytes it reads.
    fn nrta_tensor_read(buf: *mut c_void, tensor: *mut nrt_tensor_t, offset: u64, size: u64, a4: u64, a5: u64, a6: u64, a7: u64) -> NRT_STATUS
    slots(v3 = ReadV3; v2 = ReadV2;)
    [passthrough] |s, real| {
        // v3: lnc, queue, ret, seq; v2: queue, err, seq.
        let collect = |parts: &mut Vec<Part>| tensor_part(s, tensor, offset, size, AccessKind::Read, parts);
        Ok(around(s, seq_slot(s, a7, a6), a6, collect, real))
    }
}

export! {
    /// Waits for the shim's pending reads and writes of the bytes it overwrites.
    fn nrta_tensor_write(tensor: *mut nrt_tensor_t, buf: *mut c_void, offset: u64, size: u64, a4: u64, a5: u64, a6: u64, a7: u64) -> NRT_STATUS
    slots(v3 = WriteV3; v2 = WriteV2;)
    [passthrough] |s, real| {
        let collect = |parts: &mut Vec<Part>| tensor_part(s, tensor, offset, size, AccessKind::Write, parts);
        Ok(around(s, seq_slot(s, a7, a6), a6, collect, real))
    }
}

export! {
    /// Waits for the shim's writers of the source bytes and users of the destination bytes.
    fn nrta_tensor_copy(src: *mut nrt_tensor_t, src_offset: u64, dst: *mut nrt_tensor_t, dst_offset: u64, size: u64, a5: u64, a6: u64, a7: u64, a8: u64) -> NRT_STATUS
    slots(v3 = CopyV3; v2 = CopyV2;)
    [passthrough] |s, real| {
        // v3: lnc, queue, ret, seq; v2: queue, err, seq.
        let collect = |parts: &mut Vec<Part>| {
            tensor_part(s, src, src_offset, size, AccessKind::Read, parts)?;
            tensor_part(s, dst, dst_offset, size, AccessKind::Write, parts)
        };
        Ok(around(s, seq_slot(s, a8, a7), a7, collect, real))
    }
}

export! {
    /// Passes through; a request the application sees completed is
    /// forgotten at once (one atomic load when it has none recorded).
    fn nrta_is_completed(seq: nrta_seq_t, is_completed: *mut bool) -> NRT_STATUS [passthrough] |s, real| {
        let st = real();
        // SAFETY: the runtime succeeded, so is_completed is the caller's valid out-pointer, filled.
        if st == NRT_SUCCESS && s.engine.has_foreign() && !is_completed.is_null() && unsafe { *is_completed } {
            s.engine.foreign_completed(seq);
        }
        Ok(st)
    }
}

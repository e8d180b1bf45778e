//! Batch calls (nrt_tensor_read_batch, nrt_tensor_write_batch): every
//! tensor's accesses checked in the runtime's order and waited for together,
//! under all the tensors' renaming locks, allocating nothing in steady state.

use nrt_sys::*;

use super::tensor::on_version;
use super::{handle, Shim};
use crate::ffi::export;
use crate::observe;
use crate::registry::{TensorRecord, TensorView};
use crate::status::NRT_INVALID;
use crate::tracker::{AccessKind, ByteRange, Status};

/// A batch's ops.
///
/// # Safety
/// `b.ops` points to `b.num_ops` ops (or `num_ops` is 0).
unsafe fn batch_ops(b: &nrt_tensor_batch_t) -> impl Iterator<Item = &nrt_tensor_batch_op_t> {
    // SAFETY: as the caller promises.
    (0..b.num_ops as usize).map(move |j| unsafe { &*b.ops.add(j) })
}

type Part = (TensorView, ByteRange, AccessKind);

/// Per-thread buffers for batch calls (see `scratch`): a batch allocates
/// nothing in steady state.
#[derive(Default)]
struct BatchScratch {
    /// The batches' tensors, in batch order, and their indices by address
    /// (the order their renaming locks are taken in).
    recs: Vec<std::sync::Arc<TensorRecord>>,
    order: Vec<usize>,
    views: Vec<TensorView>,
    parts: Vec<Part>,
    /// The batches with renamed tensors' current versions in place of their handles.
    redirected: Vec<nrt_tensor_batch_t>,
}

thread_local! {
    static BATCH_SCRATCH: std::cell::RefCell<BatchScratch> = std::cell::RefCell::new(BatchScratch::default());
}

/// The accesses of a batch call, checked in the runtime's order: every NULL
/// (array, tensors, ops, buffers), then every tensor's handle, then ranges.
fn batch_parts(
    s: &'static Shim,
    batches: *const nrt_tensor_batch_t,
    n: u64,
    scratch: &mut BatchScratch,
) -> Result<(), Status> {
    s.engine.check_open()?;
    if n > 0 {
        handle(batches, "batch array")?;
    }
    // SAFETY: the caller passes n batches (batches checked for NULL above).
    let batch = |i: usize| unsafe { &*batches.add(i) };
    for i in 0..n as usize {
        let b = batch(i);
        handle(b.tensor, "batch tensor")?;
        if b.num_ops > 0 && b.ops.is_null() {
            return Err(observe::reject(NRT_INVALID, format_args!("batch {i} has NULL ops")));
        }
        // SAFETY: ops checked for NULL just above; the caller passes num_ops of them.
        if let Some(j) = unsafe { batch_ops(b) }.position(|op| op.buffer.is_null() && op.size > 0) {
            return Err(observe::reject(NRT_INVALID, format_args!("batch {i} op {j} has a NULL buffer")));
        }
    }
    for i in 0..n as usize {
        scratch.recs.push(s.engine.tensor(batch(i).tensor as usize)?);
    }
    Ok(())
}

/// The batch's views and accesses (`batch_parts` checked it), taken under
/// the tensors' renaming locks: the versions they have now.
fn batch_views(
    batches: *const nrt_tensor_batch_t,
    kind: AccessKind,
    recs: &[std::sync::Arc<TensorRecord>],
    scratch: &mut BatchScratch,
) -> Result<(), Status> {
    // SAFETY: batch_parts checked the array and each batch's ops.
    let batch = |i: usize| unsafe { &*batches.add(i) };
    scratch.views.extend(recs.iter().map(|r| r.view()));
    for (i, view) in scratch.views.iter().enumerate() {
        // SAFETY: checked in the first pass.
        for op in unsafe { batch_ops(batch(i)) } {
            scratch.parts.push((view.clone(), view.range(op.offset, op.size)?, kind));
        }
    }
    Ok(())
}

/// A batch read or write: its accesses checked and waited for, then `call`
/// on the batches (with the current versions of renamed tensors). A batch is
/// never renamed itself: it waits.
fn batch_call(
    s: &'static Shim,
    batches: *const nrt_tensor_batch_t,
    n: u64,
    kind: AccessKind,
    call: impl FnOnce(*const nrt_tensor_batch_t) -> Status,
) -> Status {
    crate::scratch::with(&BATCH_SCRATCH, |scratch| {
        scratch.recs.clear();
        scratch.views.clear();
        scratch.parts.clear();
        scratch.redirected.clear();
        let st = match batch_parts(s, batches, n, scratch) {
            Ok(()) => {
                // Every tensor's renaming lock, held to the end of the call (as
                // nrt_tensor_write holds its one): no other thread renames one
                // or brings it home (nrt_get_hbm_mmap_va) between the choice of
                // its version and the runtime's call on it.
                let BatchScratch { recs, order, .. } = &mut *scratch;
                order.clear();
                order.extend(0..recs.len());
                order.sort_unstable_by_key(|&i| std::sync::Arc::as_ptr(&recs[i]) as usize);
                let (recs, order) = (std::mem::take(recs), std::mem::take(order));
                let (mut st, mut call) = (NRT_SUCCESS, Some(call));
                crate::scheduler::with_versions_locked(&recs, &order, &mut || {
                    st = batch_locked(s, batches, kind, &recs, scratch, &mut call);
                });
                (scratch.recs, scratch.order) = (recs, order);
                st
            }
            Err(st) => st,
        };
        // Drop the records and views (their storage references) now; keep the capacity.
        scratch.recs.clear();
        scratch.views.clear();
        scratch.parts.clear();
        scratch.redirected.clear();
        st
    })
}

/// The body of a batch call under its tensors' renaming locks.
fn batch_locked(
    s: &'static Shim,
    batches: *const nrt_tensor_batch_t,
    kind: AccessKind,
    recs: &[std::sync::Arc<TensorRecord>],
    scratch: &mut BatchScratch,
    call: &mut Option<impl FnOnce(*const nrt_tensor_batch_t) -> Status>,
) -> Status {
    if let Err(st) = batch_views(batches, kind, recs, scratch) {
        return st;
    }
    let Some(call) = call.take() else { return NRT_SUCCESS };
    // SAFETY: n batches, checked by batch_parts.
    let own = |i: usize| unsafe { (*batches.add(i)).tensor } as usize;
    let redirect = scratch.views.iter().enumerate().any(|(i, v)| v.phys(own(i)) != own(i));
    if redirect {
        for (i, v) in scratch.views.iter().enumerate() {
            // SAFETY: as above.
            let mut b = unsafe { *batches.add(i) };
            b.tensor = v.phys(own(i)) as *const nrt_tensor_t;
            scratch.redirected.push(b);
        }
    }
    let ptr = if redirect { scratch.redirected.as_ptr() } else { batches };
    s.engine.host_accesses(&scratch.parts, || call(ptr))
}

export! {
    fn nrt_tensor_read_batch(batches: *const nrt_tensor_batch_t, num_batches: u64, unsafe_mode: bool) -> NRT_STATUS
    [passthrough] |s, real| {
        Ok(batch_call(s, batches, num_batches, AccessKind::Read, |b| {
            if b == batches { real() } else { on_version!(nrt_tensor_read_batch, s, b, num_batches, unsafe_mode) }
        }))
    }
}

export! {
    fn nrt_tensor_write_batch(batches: *const nrt_tensor_batch_t, num_batches: u64, unsafe_mode: bool) -> NRT_STATUS
    [passthrough] |s, real| {
        Ok(batch_call(s, batches, num_batches, AccessKind::Write, |b| {
            if b == batches { real() } else { on_version!(nrt_tensor_write_batch, s, b, num_batches, unsafe_mode) }
        }))
    }
}

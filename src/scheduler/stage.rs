//! Asynchronous transfers: a write or memset of a device tensor copied into a
//! staging buffer and run on the core's tensor-op unit, a copy between device
//! tensors of one core run there, the call returning at once. The state is
//! `transfer::Transfers` in the core's queue; this is the engine's side: the
//! runtime calls, completion (under the core's retiring gate), the waits.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::transfer::{Staging, MAX_QUEUES, XFER_SLOTS};
use super::*;
use crate::tracker::StorageId;

impl<D: Device> Engine<D> {
    /// Whether transfers may run asynchronously at all.
    /// Whether a write of `n` bytes may be staged at all (no lock taken).
    #[inline]
    pub fn may_stage(&'static self, n: u64) -> bool {
        n != 0 && n <= self.config.stage_max_bytes && self.stages()
    }

    fn stages(&'static self) -> bool {
        self.config.stage && self.config.mode == Mode::Async && self.device.can_transfer()
    }

    /// nrt_tensor_write / nrt_tensor_memset of `range` of `view` (the
    /// tensor `tensor`, at `offset` of it), staged: `fill` writes the bytes
    /// into the staging buffer. None: it must run synchronously (too large,
    /// host memory, an address the program holds, no slot or staging room,
    /// the runtime refused it): the caller does it as before. Never a failure
    /// of its own.
    pub fn write_staged(
        &'static self,
        tensor: Handle,
        offset: u64,
        view: &TensorView,
        range: ByteRange,
        mut fill: impl FnMut(&mut [u8]),
    ) -> Option<Status> {
        let n = range.end - range.start;
        if !self.stages() || n == 0 || n > self.config.stage_max_bytes {
            return None;
        }
        let storage = view.storage.as_ref()?;
        storage.core?;
        if storage.host_visible.load(Ordering::Acquire) || self.all_exposed() {
            // The program may look at the bytes through its address at once
            // (its own, or the mapping of every bank: nrt_get_hbm_mmap_va).
            return None;
        }
        self.wait_pending(view, range, AccessKind::Write, None);
        self.stage_write(storage.core?, (storage.id, range), tensor, offset, &mut fill)
    }

    /// nrt_tensor_copy between device tensors of one core, on its tensor-op
    /// unit: waits for the writers of the source and the users of the
    /// destination (pending requests and transfers), reports the source's
    /// failure marks as a read does, then queues it. None: the caller copies
    /// synchronously, as before.
    #[allow(clippy::too_many_arguments)]
    pub fn copy_on_device(
        &'static self,
        src: Handle,
        src_offset: u64,
        sv: &TensorView,
        sr: ByteRange,
        dst: Handle,
        dst_offset: u64,
        dv: &TensorView,
        dr: ByteRange,
    ) -> Option<Status> {
        if !self.stages() || sr.is_empty() {
            return None;
        }
        let (ss, ds) = (sv.storage.as_ref()?, dv.storage.as_ref()?);
        if ss.core.is_none() || ss.core != ds.core || (ss.id == ds.id && sr.overlaps(&dr)) {
            return None;
        }
        if ss.host_visible.load(Ordering::Acquire) || ds.host_visible.load(Ordering::Acquire) {
            return None;
        }
        let st = self.host_access(sv, sr, AccessKind::Read, None, || NRT_SUCCESS);
        if st != NRT_SUCCESS {
            return Some(st);
        }
        self.wait_pending(dv, dr, AccessKind::Write, None);
        let c = ds.core?;
        let (slot, _) = self.core(c).q.lock().transfers.reserve(0)?;
        let n = sr.end - sr.start;
        let sent = self.issue(c, slot, (ds.id, dr), Some((ss.id, sr)), None, |queue, slot_ref, _| {
            self.device.schedule_copy(c, queue, src, src_offset, dst, dst_offset, n, slot_ref)
        });
        sent.then_some(NRT_SUCCESS)
    }

    /// Stages `n` bytes (filled by `fill`) and schedules their write.
    fn stage_write(
        &'static self,
        c: u32,
        dst: (StorageId, ByteRange),
        tensor: Handle,
        offset: u64,
        fill: &mut dyn FnMut(&mut [u8]),
    ) -> Option<Status> {
        let core = self.core(c);
        let n = (dst.1.end - dst.1.start) as usize;
        let (slot, staging) = core.q.lock().transfers.reserve(n as u64)?;
        let mut buf = match staging {
            Some(Staging::Pooled(b)) => b,
            Some(Staging::Allocate(len)) => vec![0u8; len].into_boxed_slice(),
            None => {
                core.q.lock().transfers.unreserve(slot, None);
                return None;
            }
        };
        // The program's bytes are copied outside any lock.
        fill(&mut buf[..n]);
        let sent = self.issue(c, slot, dst, None, Some(buf), |queue, slot_ref, buf| {
            let bytes = buf.map_or(&[][..], |b| &b[..n]);
            self.device.schedule_write(c, queue, tensor, offset, bytes, slot_ref)
        });
        sent.then_some(NRT_SUCCESS)
    }

    /// Records the reserved transfer (so that requests and host accesses of
    /// its bytes wait for it from now on) on a tensor-op queue, makes the
    /// schedule call outside the core's lock, and keeps it (true) or, refused
    /// or impossible to order, undoes it (false).
    fn issue(
        &'static self,
        c: u32,
        slot: usize,
        dst: (StorageId, ByteRange),
        src: Option<(StorageId, ByteRange)>,
        buf: Option<Box<[u8]>>,
        schedule: impl FnOnce(u32, &AtomicU32, Option<&[u8]>) -> SubmitOutcome,
    ) -> bool {
        let core = self.core(c);
        let queues = self.device.transfer_queues();
        let (id, queue, was_idle) = {
            let mut q = core.q.lock();
            let was_idle = !q.has_device_work();
            let after = q.last_accepted();
            let Some((id, queue)) = q.transfers.begin(slot, after, dst, src, None, queues) else {
                q.transfers.unreserve(slot, buf);
                return false;
            };
            core.transfers.store(q.transfers.len() as u32, Ordering::Release);
            (id, queue, was_idle)
        };
        let outcome = schedule(queue, &core.xfer_slots[slot % XFER_SLOTS], buf.as_deref());
        let mut q = core.q.lock();
        match outcome {
            SubmitOutcome::Queued { device_seq } => {
                q.transfers.issued(id, device_seq, buf);
                drop(q);
                self.thread.ensure(self);
                self.thread.kick(&self.device, was_idle);
                true
            }
            SubmitOutcome::QueueFull | SubmitOutcome::Refused(_) => {
                q.transfers.finish(id);
                q.transfers.recycle(buf);
                core.transfers.store(q.transfers.len() as u32, Ordering::Release);
                drop(q);
                // Requests held back by it may go now.
                core.cv.notify_all();
                self.pump(c);
                false
            }
        }
    }

    /// Retires the transfers of core `c` that completed; true if any did.
    /// Called by the holder of the core's retiring gate only (the v2 error
    /// list is read there).
    #[inline]
    pub(super) fn poll_transfers(&'static self, c: u32) -> bool {
        self.core(c).has_transfers() && self.poll_transfers_now(c)
    }

    #[inline(never)]
    fn poll_transfers_now(&'static self, c: u32) -> bool {
        let core = self.core(c);
        // A copy of the list, on the stack: the runtime is asked outside the lock.
        let mut on_device = [(0u64, 0usize, 0u64); XFER_SLOTS];
        let mut len = 0;
        for t in core.q.lock().transfers.on_device().take(XFER_SLOTS) {
            on_device[len] = t;
            len += 1;
        }
        let mut progressed = false;
        for &(id, slot, device_seq) in &on_device[..len] {
            let status = match self.device.is_completed(device_seq) {
                Ok(false) => continue,
                Ok(true) => self.device.status_of(c, device_seq, &core.xfer_slots[slot]),
                Err(st) => {
                    log::error!("core {c}: nrta_is_completed failed with status {st} for a transfer; failing it");
                    if st == NRT_SUCCESS {
                        crate::status::NRT_FAILURE
                    } else {
                        st
                    }
                }
            };
            let mut q = core.q.lock();
            let Some(t) = q.transfers.finish(id) else { continue };
            if status == NRT_SUCCESS {
                // The bytes are the program's again: no failure's any more.
                q.host_wrote(t.dst.0, t.dst.1);
            } else {
                log::warn!("core {c}: a transfer failed on the device: status {status}");
                COUNTERS.add(Counter::FailedRequests, 1);
                q.transfer_failed(t.id, t.after, t.dst, status);
            }
            core.poisoned.store(q.tracker().has_any_poison(), Ordering::Release);
            core.transfers.store(q.transfers.len() as u32, Ordering::Release);
            progressed = true;
        }
        if progressed {
            core.cv.notify_all();
        }
        progressed
    }

    /// What core `c` should be woken for: the first transfer on the device
    /// when the next request waits for transfers or nothing else is on the
    /// device, else `head` (the oldest request on the device).
    #[inline]
    pub(super) fn transfer_to_watch(&'static self, c: u32, head: Option<u64>) -> Option<u64> {
        if !self.core(c).has_transfers() {
            return head;
        }
        self.transfer_to_watch_now(c, head)
    }

    /// The oldest of core `c`'s transfers on the device on each tensor-op
    /// queue (the queues complete independently).
    #[inline]
    pub(super) fn transfers_on_device(&'static self, c: u32) -> [Option<u64>; MAX_QUEUES as usize] {
        if !self.core(c).has_transfers() {
            return [None; MAX_QUEUES as usize];
        }
        self.core(c).q.lock().transfers.heads_on_device()
    }

    #[inline(never)]
    fn transfer_to_watch_now(&'static self, c: u32, head: Option<u64>) -> Option<u64> {
        let q = self.core(c).q.lock();
        match q.transfers.first_on_device() {
            Some(t) if head.is_none() || q.next_blocked_by_transfer() => Some(t),
            _ => head,
        }
    }

    /// Waits until no pending transfer of core `c` conflicts with an access
    /// of `kind` to `range` of `storage` (false: the deadline passed).
    pub(super) fn wait_transfers(
        &'static self,
        c: u32,
        storage: StorageId,
        range: ByteRange,
        kind: AccessKind,
        deadline: Option<Instant>,
    ) -> bool {
        let core = self.core(c);
        if !core.has_transfers() || !core.q.lock().transfers.conflicts(storage, range, kind) {
            return true;
        }
        let started = Instant::now();
        let done = self.block_on_core(c, deadline, |q| !q.transfers.conflicts(storage, range, kind));
        let ns = started.elapsed().as_nanos() as u64;
        COUNTERS.add(Counter::BlockedNanos, ns);
        if let Some(o) = observe::get() {
            o.waited(c, None, "transfer", None, ns);
        }
        done
    }

    /// Waits until core `c` has no pending transfer (drains, close, host
    /// executions, frees).
    pub(super) fn wait_no_transfers(
        &'static self,
        c: u32,
        deadline: Option<Instant>,
        touching: Option<StorageId>,
    ) -> bool {
        let core = self.core(c);
        let busy = |q: &CoreQueue<OpPayload>| match touching {
            Some(s) => q.transfers.touches(s),
            None => !q.transfers.is_empty(),
        };
        if !core.has_transfers() || !busy(&core.q.lock()) {
            return true;
        }
        self.block_on_core(c, deadline, |q| !busy(q))
    }
}

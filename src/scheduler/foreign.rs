//! The application's own `nrta_*` requests (a half-migrated program): the
//! byte ranges each one touches, kept until the runtime says it completed, so
//! that a later legacy call on those bytes waits for it exactly as for the
//! shim's own requests.
//!
//! They are not on the shim's queues: a transfer of the application's runs on
//! the runtime's tensor-op (v3) or read/write (v2) units, in no order with
//! the shim's executions on the compute unit. So the rule is the simplest
//! correct one: a legacy call that conflicts with one waits until the
//! runtime reports it completed (`nrta_is_completed` on its sequence number,
//! or the device's direct wait), before it runs or is accepted. Completion
//! is learnt lazily: by that wait, when the application itself sees the
//! request complete (`nrta_is_completed`), or when the table needs room.
//!
//! The table is bounded and allocated once; an empty one costs a legacy call
//! one atomic load. The application's sequence numbers, status pointers and
//! error trackers are only ever read by the runtime: the shim asks
//! `nrta_is_completed`, which consumes nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::*;
use crate::tracker::Hazard;

/// Byte ranges of the application's requests tracked at once. A request that
/// finds the table full first forgets the completed ones, then waits for the
/// oldest; the runtime's queues hold far fewer requests than this.
pub const FOREIGN_CAP: usize = 1024;

/// The longest one look at a pending request of the application sleeps.
const FOREIGN_SLICE: Duration = Duration::from_millis(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ForeignAccess {
    /// The runtime's sequence number of the application's request.
    seq: u64,
    access: StorageRange,
}

/// The pending accesses of the application's requests (safe Rust, no C).
#[derive(Debug)]
pub struct ForeignTable {
    entries: Vec<ForeignAccess>,
}

impl Default for ForeignTable {
    fn default() -> Self {
        ForeignTable { entries: Vec::with_capacity(FOREIGN_CAP) }
    }
}

fn hazard(new: AccessKind, pending: AccessKind) -> Option<Hazard> {
    match (new, pending) {
        (AccessKind::Read, AccessKind::Read) => None,
        (AccessKind::Read, AccessKind::Write) => Some(Hazard::ReadAfterWrite),
        (AccessKind::Write, AccessKind::Read) => Some(Hazard::WriteAfterRead),
        (AccessKind::Write, AccessKind::Write) => Some(Hazard::WriteAfterWrite),
    }
}

impl ForeignTable {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Records the (non-empty) accesses of request `seq`; false, recording
    /// nothing, if they do not all fit.
    pub fn record(&mut self, seq: u64, accesses: &[StorageRange]) -> bool {
        let n = accesses.iter().filter(|a| !a.range.is_empty()).count();
        if self.entries.len() + n > FOREIGN_CAP {
            return false;
        }
        let new = accesses.iter().filter(|a| !a.range.is_empty()).map(|&access| ForeignAccess { seq, access });
        self.entries.extend(new);
        true
    }

    /// A recorded request that conflicts with one of `accesses` (same
    /// storage, overlapping bytes, at least one side writes), and how.
    pub fn conflict(&self, accesses: &[StorageRange]) -> Option<(u64, Hazard)> {
        self.entries.iter().find_map(|e| {
            accesses
                .iter()
                .filter(|a| a.storage == e.access.storage && a.range.overlaps(&e.access.range))
                .find_map(|a| hazard(a.kind, e.access.kind))
                .map(|h| (e.seq, h))
        })
    }

    /// Forgets every access of request `seq` (it completed).
    pub fn retire(&mut self, seq: u64) {
        self.entries.retain(|e| e.seq != seq);
    }

    /// Forgets the requests `done` says completed (asked once per request
    /// and look: a request's accesses are recorded together). Returns how
    /// many requests it forgot.
    pub fn retire_where(&mut self, mut done: impl FnMut(u64) -> bool) -> usize {
        let mut last: Option<(u64, bool)> = None;
        let mut forgotten = 0;
        self.entries.retain(|e| {
            let d = match last {
                Some((seq, d)) if seq == e.seq => d,
                _ => {
                    let d = done(e.seq);
                    forgotten += d as usize;
                    last = Some((e.seq, d));
                    d
                }
            };
            !d
        });
        forgotten
    }

    /// The oldest request still recorded.
    pub fn oldest(&self) -> Option<u64> {
        self.entries.first().map(|e| e.seq)
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

/// The engine's table, with its length mirrored for the lock-free fast path.
#[derive(Default)]
pub struct Foreign {
    table: Mutex<ForeignTable>,
    len: AtomicUsize,
}

impl Foreign {
    fn publish(&self, t: &ForeignTable) {
        self.len.store(t.len(), Ordering::Release);
    }
}

impl<D: Device> Engine<D> {
    /// The device (the exports of the `nrta_*` calls read its generation).
    pub fn device(&'static self) -> &'static D {
        &self.device
    }

    /// Whether any request of the application is recorded (one atomic load).
    #[inline]
    pub fn has_foreign(&'static self) -> bool {
        self.foreign.len.load(Ordering::Acquire) != 0
    }

    /// Whether the runtime says the application's request `seq` completed.
    /// A status other than success (the runtime no longer knows it: closed
    /// and opened again, a forked child) counts as completed: there is
    /// nothing left to wait for.
    fn foreign_done(&'static self, seq: u64) -> bool {
        self.device.is_completed(seq).unwrap_or(true)
    }

    /// Waits until no recorded request of the application conflicts with
    /// `accesses` (legacy calls on core `c`, before they run or are
    /// accepted). False if the deadline passed first.
    #[inline]
    pub(super) fn wait_foreign(
        &'static self,
        c: u32,
        accesses: &[StorageRange],
        deadline: Option<Instant>,
        tensor: Option<&Arc<str>>,
    ) -> bool {
        !self.has_foreign() || self.wait_foreign_pending(c, accesses, deadline, tensor)
    }

    #[inline(never)]
    fn wait_foreign_pending(
        &'static self,
        c: u32,
        accesses: &[StorageRange],
        deadline: Option<Instant>,
        tensor: Option<&Arc<str>>,
    ) -> bool {
        let started = Instant::now();
        let mut waited = false;
        let mut attempt = 0u32;
        let done = loop {
            let conflict = self.foreign.table.lock().conflict(accesses);
            let Some((seq, h)) = conflict else { break true };
            if !waited {
                COUNTERS.hazard(h);
                waited = true;
            }
            if self.foreign_done(seq) {
                let mut t = self.foreign.table.lock();
                t.retire(seq);
                self.foreign.publish(&t);
                continue;
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                break false;
            }
            let slice = deadline.map_or(FOREIGN_SLICE, |d| (d - now).min(FOREIGN_SLICE));
            if !(self.device.can_wait_for() && self.device.wait_for(seq, slice)) {
                // Polling: spin a little, then back off to the slice.
                attempt = attempt.saturating_add(1);
                let pause = Duration::from_micros(20u64.saturating_mul(1 << attempt.min(8)));
                std::thread::sleep(pause.min(slice));
            }
        };
        if waited {
            let ns = started.elapsed().as_nanos() as u64;
            COUNTERS.add(Counter::BlockedNanos, ns);
            if let Some(o) = observe::get() {
                o.waited(c, None, "application-request", tensor, ns);
            }
        }
        done
    }

    /// The application's request `seq`, accepted by the runtime, touches
    /// `accesses`: record them until it completes.
    pub fn foreign_scheduled(&'static self, seq: u64, accesses: &[StorageRange]) {
        if accesses.iter().all(|a| a.range.is_empty()) {
            return;
        }
        loop {
            let mut t = self.foreign.table.lock();
            if t.record(seq, accesses) {
                self.foreign.publish(&t);
                return;
            }
            if t.retire_where(|s| self.foreign_done(s)) > 0 {
                self.foreign.publish(&t);
                continue;
            }
            let oldest = t.oldest();
            drop(t);
            match oldest {
                Some(old) => {
                    // Full of requests still running: wait for the oldest.
                    while !self.foreign_done(old) {
                        if !(self.device.can_wait_for() && self.device.wait_for(old, FOREIGN_SLICE)) {
                            std::thread::sleep(Duration::from_micros(200));
                        }
                    }
                }
                None => {
                    // More ranges than the whole table (a model with more
                    // tensors than FOREIGN_CAP): the request completes
                    // before the call returns instead.
                    log::info!("an application request touches more than {FOREIGN_CAP} tensors: waiting for it");
                    while !self.foreign_done(seq) {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    return;
                }
            }
        }
    }

    /// The application saw its request `seq` complete (`nrta_is_completed`):
    /// forget it, if the table is free now (never waits).
    pub fn foreign_completed(&'static self, seq: u64) {
        if let Some(mut t) = self.foreign.table.try_lock() {
            t.retire(seq);
            self.foreign.publish(&t);
        }
    }

    /// A tensor an application's `nrta_*` call names: its record if the shim
    /// tracks it, None if the shim never saw it (the runtime judges it),
    /// NRT_INVALID_HANDLE (one line) if the program freed it while the
    /// shim's requests still use it: the runtime still knows it then, and
    /// would accept what the synchronous runtime refused.
    pub fn app_tensor(&'static self, h: Handle) -> Result<Option<Arc<TensorRecord>>, Status> {
        if let Some(rec) = self.tensors.get(h) {
            return Ok(Some(rec));
        }
        if self.is_deferred(h) {
            return Err(observe::reject(NRT_INVALID_HANDLE, format_args!("tensor {h:#x} was freed")));
        }
        Ok(None)
    }

    /// The device bytes an application's `nrta_execute_schedule` of `model`
    /// on its own sets touches (inputs read, outputs written), appended to
    /// `parts`, once the shim's requests on the model's core completed. What the shim cannot see (an unknown set or name, a size the
    /// model does not declare) adds nothing: the runtime rejects it. A model
    /// the runtime cannot describe is refused with its status, as
    /// `nrt_execute` refuses it (the description's one log line).
    pub fn app_schedule_parts(
        &'static self,
        model: Handle,
        input: Handle,
        output: Handle,
        parts: &mut Vec<(TensorView, ByteRange, AccessKind)>,
    ) -> Result<(), Status> {
        if model == 0 || input == 0 || output == 0 {
            return Ok(());
        }
        let m = self.model(model)?;
        // The runtime sees one core's executions in the program's order (the
        // order that decides which request meets a model's failure), as under
        // the synchronous runtime: the shim's accepted ones complete first.
        if self.tracks_core(m.core) {
            let last = self.core(m.core).q.lock().last_accepted();
            self.wait_done(m.core, last, None, "application-execution", None);
        }
        for (set, decl, kind) in [(input, &m.inputs, AccessKind::Read), (output, &m.outputs, AccessKind::Write)] {
            let Some(set) = self.sets.get(set) else { continue };
            let contents = set.contents.lock();
            for t in decl.iter() {
                let Some(h) = contents.get(&t.name) else { continue };
                let Some(rec) = self.app_tensor(h)? else { continue };
                // The runtime runs on the program's sets: the tensors' own storage.
                self.bring_home(&rec, false);
                let view = rec.view();
                if view.size == t.size && view.storage.as_ref().is_some_and(|st| st.core == Some(m.core)) {
                    let range = view.whole();
                    parts.push((view, range, kind));
                }
            }
        }
        Ok(())
    }

    /// The runtime accepted an application's request that writes these
    /// bytes: like a legacy write, it ends a failed request's mark on them
    /// (a legacy read waits for it, then reads what it wrote).
    pub fn app_writes(&'static self, view: &TensorView, range: ByteRange) {
        self.host_wrote(view, range);
    }

    /// nrt_close: the runtime forgets every request.
    pub(super) fn forget_foreign(&'static self) {
        let mut t = self.foreign.table.lock();
        t.clear();
        self.foreign.publish(&t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::StorageId;
    use AccessKind::{Read, Write};

    fn acc(storage: StorageId, start: u64, len: u64, kind: AccessKind) -> StorageRange {
        StorageRange { storage, range: ByteRange::new(start, len), kind }
    }

    #[test]
    fn conflicts_follow_the_hazard_rules() {
        let mut t = ForeignTable::default();
        assert!(t.record(7, &[acc(1, 0, 64, Read), acc(2, 0, 64, Write)]));
        // A read waits for writes only; a write for reads and writes.
        assert_eq!(t.conflict(&[acc(1, 0, 8, Read)]), None);
        assert_eq!(t.conflict(&[acc(1, 60, 8, Write)]), Some((7, Hazard::WriteAfterRead)));
        assert_eq!(t.conflict(&[acc(2, 10, 1, Read)]), Some((7, Hazard::ReadAfterWrite)));
        assert_eq!(t.conflict(&[acc(2, 0, 64, Write)]), Some((7, Hazard::WriteAfterWrite)));
        // Other bytes, other storages, empty ranges: no conflict.
        assert_eq!(t.conflict(&[acc(2, 64, 8, Write)]), None);
        assert_eq!(t.conflict(&[acc(3, 0, 64, Write)]), None);
        assert_eq!(t.conflict(&[acc(2, 8, 0, Write)]), None);
    }

    #[test]
    fn retiring_forgets_only_that_request() {
        let mut t = ForeignTable::default();
        t.record(1, &[acc(1, 0, 64, Write)]);
        t.record(2, &[acc(1, 0, 64, Write), acc(2, 0, 8, Read)]);
        t.retire(1);
        assert_eq!(t.conflict(&[acc(1, 0, 1, Read)]).map(|c| c.0), Some(2));
        assert_eq!(t.oldest(), Some(2));
        assert_eq!(t.len(), 2);
        t.retire(2);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn retire_where_asks_once_per_request() {
        let mut t = ForeignTable::default();
        t.record(1, &[acc(1, 0, 8, Write), acc(2, 0, 8, Write), acc(3, 0, 8, Read)]);
        t.record(2, &[acc(1, 8, 8, Write)]);
        t.record(3, &[acc(4, 0, 8, Read), acc(5, 0, 8, Read)]);
        let mut asked = Vec::new();
        let n = t.retire_where(|s| {
            asked.push(s);
            s != 2
        });
        assert_eq!(asked, vec![1, 2, 3]);
        assert_eq!(n, 2);
        assert_eq!(t.len(), 1);
        assert_eq!(t.oldest(), Some(2));
    }

    #[test]
    fn the_table_is_bounded_and_allocated_once() {
        let mut t = ForeignTable::default();
        let cap = t.entries.capacity();
        for i in 0..FOREIGN_CAP as u64 {
            assert!(t.record(i + 1, &[acc(1, i, 1, Write)]));
        }
        assert!(!t.record(9999, &[acc(1, 0, 1, Write)]), "a full table records nothing more");
        assert_eq!(t.len(), FOREIGN_CAP);
        assert_eq!(t.entries.capacity(), cap, "the table grew");
        // Empty ranges take no room.
        assert!(t.record(10_000, &[acc(1, 0, 0, Write)]));
        t.clear();
        assert_eq!(t.len(), 0);
    }
}

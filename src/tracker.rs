//! The dependency tracker: which pending operations touch which bytes of which
//! storage, and which bytes hold the outputs of a failed request.
//!
//! Hazards are computed on byte ranges of the underlying storage, never on
//! tensor handles, because slices and attached buffers alias. A tracker belongs
//! to one in-order queue (one core's compute unit): operations retire in the
//! order they were accepted, so "wait for every conflicting operation" reduces
//! to "wait for the newest one", which is what [`Tracker::latest_conflict`]
//! returns.
//!
//! Each storage also carries a version counter, bumped by every accepted write
//! (nothing decides on it). Renaming (scheduler/rename.rs) does not need it:
//! every physical version of a tensor is a storage of its own, with its own
//! id, so the hazards of one version never involve another.
//!
//! Safe Rust, no C: tested on its own below.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasherDefault;

use crate::idhash::IdHasher;

/// Identifies one storage region (a device allocation, or one attached host
/// buffer). Slices share their source's id.
pub type StorageId = u64;

/// The acceptance number of an operation within its queue: 1, 2, 3, ...
pub type OpSeq = u64;

pub use crate::status::Status;

/// Identifies a failed request (its job id), so that its failure is reported
/// once however many ranges it poisoned.
pub type FailureId = u64;

/// A half-open range of bytes `[start, end)` of one storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    pub fn new(start: u64, len: u64) -> Self {
        ByteRange { start, end: start.saturating_add(len) }
    }

    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// Whether the two share a byte. An empty range touches no byte, so it
    /// overlaps nothing (a zero-byte read inside marked bytes reads none).
    pub fn overlaps(&self, other: &ByteRange) -> bool {
        !self.is_empty() && !other.is_empty() && self.start < other.end && other.start < self.end
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessKind {
    Read,
    Write,
}

/// One operation's access to a byte range of a storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StorageRange {
    pub storage: StorageId,
    pub range: ByteRange,
    pub kind: AccessKind,
}

/// The kind of hazard a new access has with a pending one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hazard {
    /// Read after write: the new access reads what a pending op writes.
    ReadAfterWrite,
    /// Write after read: the new access overwrites what a pending op reads.
    WriteAfterRead,
    /// Write after write.
    WriteAfterWrite,
}

impl Hazard {
    fn between(new: AccessKind, pending: AccessKind) -> Option<Hazard> {
        match (new, pending) {
            (AccessKind::Read, AccessKind::Read) => None,
            (AccessKind::Read, AccessKind::Write) => Some(Hazard::ReadAfterWrite),
            (AccessKind::Write, AccessKind::Read) => Some(Hazard::WriteAfterRead),
            (AccessKind::Write, AccessKind::Write) => Some(Hazard::WriteAfterWrite),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Hazard::ReadAfterWrite => "read-after-write",
            Hazard::WriteAfterRead => "write-after-read",
            Hazard::WriteAfterWrite => "write-after-write",
        }
    }
}

/// The newest pending operation an access must wait for, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub op: OpSeq,
    pub hazard: Hazard,
}

#[derive(Clone, Copy, Debug)]
struct PendingAccess {
    op: OpSeq,
    range: ByteRange,
    kind: AccessKind,
}

/// Bytes written by a failed request (or by a request that consumed such
/// bytes): they stay marked until something writes them again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoisonMark {
    pub range: ByteRange,
    pub status: Status,
    pub failure: FailureId,
}

#[derive(Default, Debug)]
struct StorageTrack {
    /// In acceptance order (operations retire oldest first: see `retire`).
    pending: VecDeque<PendingAccess>,
    poison: Vec<PoisonMark>,
    version: u64,
}

/// Pending accesses and poison marks of the storages of one queue.
#[derive(Default, Debug)]
pub struct Tracker {
    storages: HashMap<StorageId, StorageTrack, BuildHasherDefault<IdHasher>>,
    poison_marks: usize,
}

impl Tracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts tracking a storage (idempotent).
    pub fn add_storage(&mut self, id: StorageId) {
        self.storages.entry(id).or_default();
    }

    /// Whether any byte of any storage of this queue is poisoned.
    pub fn has_any_poison(&self) -> bool {
        self.poison_marks > 0
    }

    /// Stops tracking a storage. Only valid once nothing pending uses it;
    /// returns false (and keeps it) otherwise.
    pub fn remove_storage(&mut self, id: StorageId) -> bool {
        match self.storages.get(&id) {
            Some(t) if !t.pending.is_empty() => false,
            _ => {
                if let Some(t) = self.storages.remove(&id) {
                    self.poison_marks -= t.poison.len();
                }
                true
            }
        }
    }

    pub fn is_tracked(&self, id: StorageId) -> bool {
        self.storages.contains_key(&id)
    }

    /// The newest pending operation that conflicts with `access` (at least one
    /// side writes, the byte ranges overlap), if any.
    pub fn latest_conflict(&self, access: &StorageRange) -> Option<Conflict> {
        let track = self.storages.get(&access.storage)?;
        let mut best: Option<Conflict> = None;
        for p in &track.pending {
            if !p.range.overlaps(&access.range) {
                continue;
            }
            if let Some(hazard) = Hazard::between(access.kind, p.kind) {
                if best.is_none_or(|b| p.op > b.op) {
                    best = Some(Conflict { op: p.op, hazard });
                }
            }
        }
        best
    }

    /// The newest conflict over several accesses.
    pub fn latest_conflict_of(&self, accesses: &[StorageRange]) -> Option<Conflict> {
        accesses.iter().filter_map(|a| self.latest_conflict(a)).max_by_key(|c| c.op)
    }

    /// Whether any pending operation touches the storage at all.
    pub fn has_pending(&self, id: StorageId) -> bool {
        self.storages.get(&id).is_some_and(|t| !t.pending.is_empty())
    }

    /// Records the accesses of a newly accepted operation.
    pub fn record(&mut self, op: OpSeq, accesses: &[StorageRange]) {
        for a in accesses {
            if a.range.is_empty() {
                continue;
            }
            let track = self.storages.entry(a.storage).or_default();
            if a.kind == AccessKind::Write {
                track.version += 1;
            }
            track.pending.push_back(PendingAccess { op, range: a.range, kind: a.kind });
        }
    }

    /// Forgets the accesses of an operation that completed.
    /// A queue retires its operations oldest first, so their accesses are at
    /// the front: constant time however many are pending (a full window of
    /// requests on one storage would otherwise cost a scan per retire).
    pub fn retire(&mut self, op: OpSeq, accesses: &[StorageRange]) {
        for a in accesses {
            if let Some(track) = self.storages.get_mut(&a.storage) {
                while track.pending.front().is_some_and(|p| p.op == op) {
                    track.pending.pop_front();
                }
                // Accesses are recorded in increasing `op` order, so an older
                // one still in front means this one retired out of order.
                if track.pending.front().is_some_and(|p| p.op < op) {
                    track.pending.retain(|p| p.op != op);
                }
            }
        }
    }

    /// The storage's content version (number of writes accepted so far).
    pub fn version(&self, id: StorageId) -> u64 {
        self.storages.get(&id).map_or(0, |t| t.version)
    }

    /// Marks bytes as produced by a failed request.
    pub fn poison(&mut self, storage: StorageId, range: ByteRange, status: Status, failure: FailureId) {
        if range.is_empty() {
            return;
        }
        self.clear_poison(storage, range);
        let track = self.storages.entry(storage).or_default();
        track.poison.push(PoisonMark { range, status, failure });
        self.poison_marks += 1;
    }

    /// Bytes were written by something that succeeded: they are good again.
    #[inline]
    pub fn clear_poison(&mut self, storage: StorageId, range: ByteRange) {
        // Every successful request's outputs come here: without a mark
        // anywhere, skip the lookup.
        if self.poison_marks != 0 {
            self.clear_poison_marks(storage, range);
        }
    }

    fn clear_poison_marks(&mut self, storage: StorageId, range: ByteRange) {
        let Some(track) = self.storages.get_mut(&storage) else { return };
        if track.poison.is_empty() || range.is_empty() {
            return;
        }
        let before = track.poison.len();
        let mut i = 0;
        while i < track.poison.len() {
            let m = track.poison[i];
            if !m.range.overlaps(&range) {
                i += 1;
                continue;
            }
            // Keep the parts of the mark outside the cleared range.
            track.poison.swap_remove(i);
            if m.range.start < range.start {
                track.poison.push(PoisonMark { range: ByteRange { start: m.range.start, end: range.start }, ..m });
            }
            if range.end < m.range.end {
                track.poison.push(PoisonMark { range: ByteRange { start: range.end, end: m.range.end }, ..m });
            }
        }
        self.poison_marks = self.poison_marks - before + track.poison.len();
    }

    /// Poison marks overlapping the range, oldest first.
    pub fn poison_in(&self, storage: StorageId, range: ByteRange) -> impl Iterator<Item = &PoisonMark> + '_ {
        self.storages.get(&storage).into_iter().flat_map(|t| t.poison.iter()).filter(move |m| m.range.overlaps(&range))
    }

    pub fn any_poison(&self, storage: StorageId) -> bool {
        self.storages.get(&storage).is_some_and(|t| !t.poison.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_range_overlaps_nothing() {
        let r = ByteRange::new(0, 16);
        assert!(r.overlaps(&ByteRange::new(15, 1)));
        assert!(!r.overlaps(&ByteRange::new(16, 1)));
        assert!(!r.overlaps(&ByteRange::new(8, 0)));
        assert!(!ByteRange::new(8, 0).overlaps(&r));
    }

    fn acc(storage: StorageId, start: u64, len: u64, kind: AccessKind) -> StorageRange {
        StorageRange { storage, range: ByteRange::new(start, len), kind }
    }
    use AccessKind::{Read, Write};

    #[test]
    fn retiring_in_order_and_out_of_order_forgets_exactly_that_operation() {
        let mut t = Tracker::new();
        // Op 1 reads and writes storage 4 in place (two accesses), op 2 reads
        // it, op 3 writes another part of it.
        t.record(1, &[acc(4, 0, 16, Read), acc(4, 0, 16, Write)]);
        t.record(2, &[acc(4, 0, 8, Read)]);
        t.record(3, &[acc(4, 32, 8, Write)]);
        // Out of order: op 2 first; ops 1 and 3 stay.
        t.retire(2, &[acc(4, 0, 8, Read)]);
        assert_eq!(t.latest_conflict(&acc(4, 0, 4, Write)).map(|c| c.op), Some(1));
        assert_eq!(t.latest_conflict(&acc(4, 32, 1, Read)), Some(Conflict { op: 3, hazard: Hazard::ReadAfterWrite }));
        // In order: op 1 (both its accesses), then op 3.
        t.retire(1, &[acc(4, 0, 16, Read), acc(4, 0, 16, Write)]);
        assert_eq!(t.latest_conflict(&acc(4, 0, 4, Write)), None);
        assert!(t.has_pending(4));
        t.retire(3, &[acc(4, 32, 8, Write)]);
        assert!(!t.has_pending(4));
        // Retiring an operation that is not pending changes nothing.
        t.record(5, &[acc(4, 0, 1, Write)]);
        t.retire(4, &[acc(4, 0, 1, Write)]);
        assert!(t.has_pending(4));
    }

    #[test]
    fn read_waits_only_for_overlapping_writers() {
        let mut t = Tracker::new();
        t.record(1, &[acc(1, 0, 100, Write)]);
        t.record(2, &[acc(1, 100, 100, Write)]);
        t.record(3, &[acc(1, 0, 50, Read)]);
        assert_eq!(t.latest_conflict(&acc(1, 0, 10, Read)), Some(Conflict { op: 1, hazard: Hazard::ReadAfterWrite }));
        assert_eq!(t.latest_conflict(&acc(1, 150, 10, Read)).map(|c| c.op), Some(2));
        assert_eq!(t.latest_conflict(&acc(1, 200, 10, Read)), None, "adjacent, not overlapping");
        assert_eq!(t.latest_conflict(&acc(2, 0, 10, Read)), None, "other storage");
    }

    #[test]
    fn write_waits_for_readers_and_writers() {
        let mut t = Tracker::new();
        t.record(1, &[acc(7, 0, 64, Write)]);
        t.record(2, &[acc(7, 32, 64, Read)]);
        let c = t.latest_conflict(&acc(7, 40, 1, Write)).unwrap();
        assert_eq!(c, Conflict { op: 2, hazard: Hazard::WriteAfterRead });
        let c = t.latest_conflict(&acc(7, 0, 8, Write)).unwrap();
        assert_eq!(c, Conflict { op: 1, hazard: Hazard::WriteAfterWrite });
        // Reads never conflict with reads.
        t.retire(1, &[acc(7, 0, 64, Write)]);
        assert_eq!(t.latest_conflict(&acc(7, 32, 8, Read)), None);
    }

    #[test]
    fn slices_of_one_storage_interact_by_bytes() {
        // A 1 KiB storage; slice A = [0, 512), slice B = [512, 1024).
        let mut t = Tracker::new();
        t.record(5, &[acc(3, 0, 512, Read)]); // an execution reads slice A
        assert_eq!(t.latest_conflict(&acc(3, 512, 512, Write)), None, "writing B need not wait");
        assert_eq!(t.latest_conflict(&acc(3, 511, 2, Write)).map(|c| c.op), Some(5));
    }

    #[test]
    fn retire_forgets_only_that_op() {
        let mut t = Tracker::new();
        let a = [acc(1, 0, 10, Write), acc(2, 0, 10, Read)];
        t.record(1, &a);
        t.record(2, &[acc(1, 0, 10, Read)]);
        assert!(t.has_pending(2));
        t.retire(1, &a);
        assert!(!t.has_pending(2));
        assert!(t.has_pending(1));
        assert_eq!(t.latest_conflict(&acc(1, 0, 1, Write)).map(|c| c.op), Some(2));
        assert!(!t.remove_storage(1), "still used by op 2");
        t.retire(2, &[acc(1, 0, 10, Read)]);
        assert!(t.remove_storage(1));
        assert!(!t.is_tracked(1));
    }

    #[test]
    fn newest_conflict_over_many_accesses() {
        let mut t = Tracker::new();
        t.record(1, &[acc(1, 0, 10, Write)]);
        t.record(4, &[acc(2, 0, 10, Write)]);
        t.record(9, &[acc(3, 0, 10, Read)]);
        let c = t.latest_conflict_of(&[acc(1, 0, 10, Read), acc(2, 0, 10, Read), acc(3, 0, 10, Read)]);
        assert_eq!(c.map(|c| c.op), Some(4));
    }

    #[test]
    fn empty_ranges_are_not_recorded() {
        let mut t = Tracker::new();
        t.record(1, &[acc(1, 5, 0, Write)]);
        assert!(!t.has_pending(1));
        assert_eq!(t.latest_conflict(&acc(1, 0, 100, Read)), None);
    }

    #[test]
    fn versions_count_accepted_writes() {
        let mut t = Tracker::new();
        t.record(1, &[acc(1, 0, 10, Write), acc(2, 0, 10, Read)]);
        t.record(2, &[acc(1, 0, 10, Write)]);
        assert_eq!(t.version(1), 2);
        assert_eq!(t.version(2), 0);
    }

    #[test]
    fn poison_is_cleared_by_byte_ranges() {
        let mut t = Tracker::new();
        t.add_storage(1);
        t.poison(1, ByteRange::new(0, 100), 1004, 7);
        assert!(t.any_poison(1));
        t.clear_poison(1, ByteRange::new(40, 20)); // leaves [0,40) and [60,100)
        let mut marks: Vec<_> = t.poison_in(1, ByteRange::new(0, 100)).map(|m| m.range).collect();
        marks.sort_by_key(|r| r.start);
        assert_eq!(marks, vec![ByteRange { start: 0, end: 40 }, ByteRange { start: 60, end: 100 }]);
        assert_eq!(t.poison_in(1, ByteRange::new(40, 20)).count(), 0);
        let m = t.poison_in(1, ByteRange::new(65, 1)).next().unwrap();
        assert_eq!((m.status, m.failure), (1004, 7));
        assert!(t.has_any_poison());
        t.clear_poison(1, ByteRange::new(0, 100));
        assert!(!t.any_poison(1));
        assert!(!t.has_any_poison());
    }

    #[test]
    fn poisoning_again_replaces_the_older_mark() {
        let mut t = Tracker::new();
        t.poison(1, ByteRange::new(0, 10), 1004, 1);
        t.poison(1, ByteRange::new(0, 10), 1003, 2);
        let marks: Vec<_> = t.poison_in(1, ByteRange::new(0, 10)).collect();
        assert_eq!(marks.len(), 1);
        assert_eq!(marks[0].failure, 2);
    }
}

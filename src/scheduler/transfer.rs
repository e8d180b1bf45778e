//! One core's asynchronous transfers (staged writes, memsets, device-side
//! copies) running on its tensor-op unit, and the pool of staging buffers
//! they copy the program's bytes into.
//!
//! Plain state under the core's lock, calling nothing: the engine
//! (`stage.rs`) makes the runtime calls. Across execution units the runtime
//! orders nothing, so a request that touches bytes of a pending transfer is
//! not submitted until the transfer completed ([`Transfers::blocks`]), and a
//! host access of them waits for it ([`Transfers::conflicts`]).

use crate::tracker::{AccessKind, ByteRange, OpSeq, StorageId, StorageRange};

/// Transfers in flight per core at most (each needs a status slot).
pub const XFER_SLOTS: usize = 32;

/// Tensor-op queues per core the shim spreads its transfers over, at most
/// (v3 has two; v2's units one).
pub const MAX_QUEUES: u32 = 2;

/// Failure ids of transfers, apart from acceptance numbers (which are small).
const XFER_ID_BASE: u64 = 1 << 62;

#[derive(Debug)]
pub struct PendingTransfer {
    /// Its failure id (never an acceptance number).
    pub id: u64,
    /// The newest request accepted before it (orders its failure among the
    /// requests' for a drain).
    pub after: OpSeq,
    pub slot: usize,
    /// The tensor-op queue it runs on.
    pub queue: u32,
    /// None while its schedule call is being made.
    pub device_seq: Option<u64>,
    /// The bytes it writes.
    pub dst: (StorageId, ByteRange),
    /// The bytes it reads (a copy's source).
    pub src: Option<(StorageId, ByteRange)>,
    /// The staged bytes, returned to the pool when it completes.
    pub buf: Option<Box<[u8]>>,
}

impl PendingTransfer {
    /// Whether an access of `kind` to these bytes must wait for this transfer.
    fn conflicts(&self, storage: StorageId, range: &ByteRange, kind: AccessKind) -> bool {
        let hit = |(s, r): (StorageId, ByteRange)| s == storage && r.overlaps(range);
        hit(self.dst) || (kind == AccessKind::Write && self.src.is_some_and(hit))
    }
}

/// Where a staged write's buffer comes from.
#[derive(Debug)]
pub enum Staging {
    /// A pooled buffer, at least as large as the write.
    Pooled(Box<[u8]>),
    /// Allocate one of this many bytes (already counted against the cap).
    Allocate(usize),
}

#[derive(Debug)]
pub struct Transfers {
    pending: Vec<PendingTransfer>,
    /// Bit i set: status slot i is free.
    free_slots: u32,
    /// Buffers not in use.
    pool: Vec<Box<[u8]>>,
    /// Bytes of every staging buffer, in use or pooled.
    pool_bytes: u64,
    /// The most `pool_bytes` may reach.
    cap: u64,
    next_id: u64,
}

impl Default for Transfers {
    fn default() -> Self {
        Transfers::new(crate::config::STAGE_POOL_BYTES)
    }
}

/// A staging buffer's size for a write of `n` bytes: whole powers of two
/// from 4 KiB, so writes of similar sizes share buffers.
fn bucket(n: u64) -> u64 {
    n.max(4096).next_power_of_two()
}

impl Transfers {
    pub fn new(cap: u64) -> Self {
        Transfers {
            pending: Vec::with_capacity(XFER_SLOTS),
            free_slots: u32::MAX,
            pool: Vec::new(),
            pool_bytes: 0,
            cap,
            next_id: XFER_ID_BASE,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Bytes of staging memory held (in use or pooled).
    pub fn pool_bytes(&self) -> u64 {
        self.pool_bytes
    }

    /// Whether an access of `kind` to `range` must wait for a pending transfer.
    pub fn conflicts(&self, storage: StorageId, range: ByteRange, kind: AccessKind) -> bool {
        self.pending.iter().any(|t| t.conflicts(storage, &range, kind))
    }

    /// Whether any pending transfer touches `storage` at all.
    pub fn touches(&self, storage: StorageId) -> bool {
        self.pending.iter().any(|t| t.dst.0 == storage || t.src.is_some_and(|s| s.0 == storage))
    }

    /// Whether a request with these accesses must wait for a transfer before
    /// it may go to the runtime.
    pub fn blocks(&self, accesses: &[StorageRange]) -> bool {
        !self.pending.is_empty() && accesses.iter().any(|a| self.conflicts(a.storage, a.range, a.kind))
    }

    /// A status slot for a transfer, if one is free.
    fn take_slot(&mut self) -> Option<usize> {
        if self.free_slots == 0 {
            return None;
        }
        let i = self.free_slots.trailing_zeros() as usize;
        self.free_slots &= !(1 << i);
        Some(i)
    }

    fn give_slot(&mut self, i: usize) {
        self.free_slots |= 1 << i;
    }

    /// A status slot and, for a staged write of `n` bytes (`n` > 0), its
    /// buffer; None when the slots or the staging cap are used up (the write
    /// then runs synchronously).
    pub fn reserve(&mut self, n: u64) -> Option<(usize, Option<Staging>)> {
        if n == 0 {
            return self.take_slot().map(|s| (s, None));
        }
        let staging = self.staging(n)?;
        match self.take_slot() {
            Some(s) => Some((s, Some(staging))),
            None => {
                self.give_back(staging);
                None
            }
        }
    }

    fn staging(&mut self, n: u64) -> Option<Staging> {
        // The smallest pooled buffer that fits.
        let fit = self.pool.iter().enumerate().filter(|(_, b)| b.len() as u64 >= n).min_by_key(|(_, b)| b.len());
        if let Some((i, _)) = fit {
            return Some(Staging::Pooled(self.pool.swap_remove(i)));
        }
        let want = bucket(n);
        // Room for a new one, dropping pooled buffers too small to serve it.
        while self.pool_bytes + want > self.cap {
            let b = self.pool.pop()?;
            self.pool_bytes -= b.len() as u64;
        }
        self.pool_bytes += want;
        Some(Staging::Allocate(want as usize))
    }

    /// Undoes a reservation's staging that will not be used.
    pub fn give_back(&mut self, s: Staging) {
        match s {
            Staging::Pooled(b) => self.pool.push(b),
            Staging::Allocate(n) => self.pool_bytes -= n as u64,
        }
    }

    /// Undoes a whole reservation (slot and buffer).
    pub fn unreserve(&mut self, slot: usize, buf: Option<Box<[u8]>>) {
        self.give_slot(slot);
        if let Some(b) = buf {
            self.pool.push(b);
        }
    }

    /// Records a reserved transfer before its schedule call is made, on one
    /// of `queues` tensor-op queues (see [`pick_queue`](Self::pick_queue));
    /// returns its id and queue. None: it cannot be ordered (nothing recorded).
    pub fn begin(
        &mut self,
        slot: usize,
        after: OpSeq,
        dst: (StorageId, ByteRange),
        src: Option<(StorageId, ByteRange)>,
        buf: Option<Box<[u8]>>,
        queues: u32,
    ) -> Option<(u64, u32)> {
        let queue = self.pick_queue(dst, src, queues)?;
        let id = self.next_id;
        self.next_id += 1;
        self.pending.push(PendingTransfer { id, after, slot, queue, device_seq: None, dst, src, buf });
        Some((id, queue))
    }

    /// The queue of a new transfer that writes `dst` and reads `src`. Callers
    /// have waited for every pending transfer it conflicts with, so one is
    /// left only when another thread of the program raced it onto the same
    /// bytes: it then goes on that transfer's queue, which runs the two one
    /// after the other, never interleaved (in the order of their schedule
    /// calls), as the synchronous runtime would (None if those are on two
    /// queues: the caller runs it synchronously, after them). Otherwise the
    /// queue with the fewest pending transfers, so that two writes of one
    /// step run side by side; on a tie the highest, since the runtime's own
    /// synchronous transfers may use queue 0 (sim/FIDELITY.md 6.2).
    fn pick_queue(&self, dst: (StorageId, ByteRange), src: Option<(StorageId, ByteRange)>, queues: u32) -> Option<u32> {
        let queues = queues.clamp(1, MAX_QUEUES);
        if queues == 1 {
            return Some(0);
        }
        let mut load = [0usize; MAX_QUEUES as usize];
        let mut ordered_after = 0u32; // bit q: a conflicting transfer is on queue q
        for t in &self.pending {
            load[t.queue as usize] += 1;
            let writes_over = t.conflicts(dst.0, &dst.1, AccessKind::Write);
            if writes_over || src.is_some_and(|(s, r)| t.conflicts(s, &r, AccessKind::Read)) {
                ordered_after |= 1 << t.queue;
            }
        }
        match ordered_after.count_ones() {
            0 => (0..queues).rev().min_by_key(|&q| load[q as usize]),
            1 => Some(ordered_after.trailing_zeros()),
            _ => None,
        }
    }

    /// The runtime queued transfer `id` as `device_seq`; `buf` (its staged
    /// bytes) is kept until it completes.
    pub fn issued(&mut self, id: u64, device_seq: u64, buf: Option<Box<[u8]>>) {
        match self.pending.iter_mut().find(|t| t.id == id) {
            Some(t) => {
                t.device_seq = Some(device_seq);
                t.buf = buf;
            }
            None => self.recycle(buf),
        }
    }

    /// A staging buffer back to the pool.
    pub fn recycle(&mut self, buf: Option<Box<[u8]>>) {
        if let Some(b) = buf {
            self.pool.push(b);
        }
    }

    /// The first pending transfer on the device (what to wait for).
    pub fn first_on_device(&self) -> Option<u64> {
        self.heads_on_device().into_iter().flatten().next()
    }

    /// The oldest transfer on the device on each queue: the next to complete
    /// there (a queue runs in order; sequence numbers grow per queue).
    pub fn heads_on_device(&self) -> [Option<u64>; MAX_QUEUES as usize] {
        let mut heads = [None; MAX_QUEUES as usize];
        for t in &self.pending {
            if let Some(d) = t.device_seq {
                let h = &mut heads[t.queue as usize];
                *h = Some(h.map_or(d, |h: u64| h.min(d)));
            }
        }
        heads
    }

    /// Transfer `id` left the runtime (refused, or completed): its slot and
    /// buffer go back. Returns it.
    pub fn finish(&mut self, id: u64) -> Option<PendingTransfer> {
        let i = self.pending.iter().position(|t| t.id == id)?;
        let mut t = self.pending.swap_remove(i);
        self.give_slot(t.slot);
        if let Some(b) = t.buf.take() {
            self.pool.push(b);
        }
        Some(t)
    }

    /// The transfers queued on the device: (id, slot, device sequence).
    pub fn on_device(&self) -> impl Iterator<Item = (u64, usize, u64)> + '_ {
        self.pending.iter().filter_map(|t| t.device_seq.map(|d| (t.id, t.slot, d)))
    }

    /// Forgets every transfer (a forked child: the parent's are not its own).
    pub fn abandon_all(&mut self) {
        while let Some(t) = self.pending.pop() {
            self.give_slot(t.slot);
            if let Some(b) = t.buf {
                self.pool.push(b);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, len: u64) -> ByteRange {
        ByteRange::new(start, len)
    }

    #[test]
    fn a_pending_write_blocks_readers_and_writers_of_its_bytes_only() {
        let mut t = Transfers::new(1 << 20);
        let (slot, staging) = t.reserve(100).unwrap();
        let Some(Staging::Allocate(n)) = staging else { panic!("a new buffer") };
        assert_eq!(n, 4096);
        let (id, _) = t.begin(slot, 3, (7, r(0, 100)), None, None, 1).unwrap();
        let acc = |s, start, len, kind| [StorageRange { storage: s, range: r(start, len), kind }];
        assert!(t.blocks(&acc(7, 50, 10, AccessKind::Read)));
        assert!(t.blocks(&acc(7, 99, 10, AccessKind::Write)));
        assert!(!t.blocks(&acc(7, 100, 10, AccessKind::Read)), "past its last byte");
        assert!(!t.blocks(&acc(8, 0, 10, AccessKind::Read)), "another storage");
        t.issued(id, 42, Some(vec![0; n].into_boxed_slice()));
        assert_eq!(t.on_device().collect::<Vec<_>>(), [(id, slot, 42)]);
        let done = t.finish(id).unwrap();
        assert_eq!(done.after, 3);
        assert!(t.is_empty() && !t.blocks(&acc(7, 50, 10, AccessKind::Read)));
    }

    #[test]
    fn transfers_spread_over_the_queues_unless_they_must_run_in_order() {
        let mut t = Transfers::new(1 << 20);
        let begin = |t: &mut Transfers, dst, src, queues| {
            let (slot, _) = t.reserve(0).unwrap();
            t.begin(slot, 0, dst, src, None, queues)
        };
        // One queue (v2): always 0.
        let (a, qa) = begin(&mut t, (1, r(0, 64)), None, 1).unwrap();
        assert_eq!(qa, 0);
        t.finish(a);
        // Independent transfers: the emptier queue, the highest on a tie.
        let (x, qx) = begin(&mut t, (1, r(0, 64)), None, 2).unwrap();
        let (_, qy) = begin(&mut t, (2, r(0, 64)), None, 2).unwrap();
        assert_eq!((qx, qy), (1, 0), "side by side");
        let (_, qz) = begin(&mut t, (3, r(0, 64)), None, 2).unwrap();
        assert_eq!(qz, 1, "a tie again");
        // A write over bytes a pending transfer writes: behind it, on its queue.
        assert_eq!(begin(&mut t, (2, r(32, 64)), None, 2).unwrap().1, 0);
        // A copy reading bytes a pending transfer writes, or writing bytes a
        // pending copy reads: on that transfer's queue.
        assert_eq!(begin(&mut t, (4, r(0, 8)), Some((1, r(8, 8))), 2).unwrap().1, qx);
        t.finish(x);
        assert_eq!(begin(&mut t, (4, r(0, 8)), None, 2).unwrap().1, 1, "behind the copy of 4");
        let reads_2 = begin(&mut t, (5, r(0, 8)), Some((6, r(0, 8))), 2).unwrap();
        assert_eq!(begin(&mut t, (6, r(0, 8)), None, 2).unwrap().1, reads_2.1, "behind the copy reading 6");
        // Conflicts on both queues: no queue orders it.
        let len_before = t.len();
        let (_, q3) = begin(&mut t, (3, r(0, 8)), None, 2).unwrap();
        let (_, q2) = begin(&mut t, (2, r(0, 8)), None, 2).unwrap();
        assert_ne!(q3, q2);
        assert!(begin(&mut t, (8, r(0, 8)), Some((3, r(0, 8))), 2).is_some());
        assert!(begin(&mut t, (2, r(0, 8)), Some((3, r(0, 8))), 2).is_none(), "behind transfers on both queues");
        assert_eq!(t.len(), len_before + 3, "nothing recorded for it");
    }

    #[test]
    fn a_copy_blocks_writers_of_its_source_not_readers() {
        let mut t = Transfers::new(1 << 20);
        let (slot, staging) = t.reserve(0).unwrap();
        assert!(staging.is_none(), "a copy stages nothing");
        t.begin(slot, 0, (1, r(0, 64)), Some((2, r(0, 64))), None, 1).unwrap();
        assert!(t.conflicts(2, r(0, 8), AccessKind::Write));
        assert!(!t.conflicts(2, r(0, 8), AccessKind::Read));
        assert!(t.conflicts(1, r(0, 8), AccessKind::Read));
        assert!(t.touches(2) && t.touches(1) && !t.touches(3));
    }

    #[test]
    fn buffers_are_recycled_and_bounded_by_the_cap() {
        let mut t = Transfers::new(16 << 10);
        let mut ids = Vec::new();
        for _ in 0..2 {
            let (slot, s) = t.reserve(8 << 10).unwrap();
            let Some(Staging::Allocate(n)) = s else { panic!("new") };
            ids.push(t.begin(slot, 0, (1, r(0, 1)), None, Some(vec![0; n].into_boxed_slice()), 1).unwrap().0);
        }
        assert_eq!(t.pool_bytes(), 16 << 10);
        assert!(t.reserve(1).is_none(), "the cap is reached: the write runs synchronously");
        t.finish(ids[0]);
        let (slot, s) = t.reserve(100).unwrap();
        assert!(matches!(s, Some(Staging::Pooled(ref b)) if b.len() == 8 << 10), "the freed buffer serves it");
        assert_eq!(t.pool_bytes(), 16 << 10, "no new memory");
        let Some(Staging::Pooled(b)) = s else { unreachable!() };
        t.unreserve(slot, Some(b));
        // A larger write drops pooled buffers that cannot serve it, within the cap.
        t.finish(ids[1]);
        let (_, s) = t.reserve(16 << 10).unwrap();
        assert!(matches!(s, Some(Staging::Allocate(n)) if n == 16 << 10));
        assert_eq!(t.pool_bytes(), 16 << 10);
    }

    #[test]
    fn slots_run_out_then_come_back() {
        let mut t = Transfers::new(0);
        let slots: Vec<usize> = (0..XFER_SLOTS).map(|_| t.reserve(0).unwrap().0).collect();
        assert!(t.reserve(0).is_none());
        assert!(t.reserve(1).is_none(), "a cap of 0 stages nothing");
        t.unreserve(slots[5], None);
        assert_eq!(t.reserve(0).unwrap().0, slots[5]);
    }

    #[test]
    fn abandon_forgets_pending_and_keeps_the_memory_accounted() {
        let mut t = Transfers::new(1 << 20);
        let (slot, _) = t.reserve(10).unwrap();
        t.begin(slot, 0, (1, r(0, 10)), None, Some(vec![0; 4096].into_boxed_slice()), 1).unwrap();
        t.abandon_all();
        assert!(t.is_empty());
        assert_eq!(t.pool_bytes(), 4096);
        assert!(matches!(t.reserve(10), Some((_, Some(Staging::Pooled(_))))));
    }
}

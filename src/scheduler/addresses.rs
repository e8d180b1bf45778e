//! The CPU addresses of device storage the shim has seen handed out
//! (nrt_tensor_get_va), so that a call given only an address
//! (nrt_memcpy_to_device, nrt_get_dmabuf_fd) finds the storages it touches.
//!
//! Entries hold the storage weakly: a storage whose tensors are all gone is
//! dropped from the index the next time a lookup meets it. Storages never
//! overlap while alive (the runtime does not reuse memory before its free),
//! so a lookup walks back from the end of the range until an entry ends
//! before it.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

use crate::registry::Storage;
use crate::tracker::ByteRange;

struct Entry {
    end: u64,
    storage: Weak<Storage>,
}

#[derive(Default)]
pub struct AddressIndex {
    /// Storage base address -> the storage mapped there.
    by_base: BTreeMap<u64, Entry>,
}

impl AddressIndex {
    /// The storage's first byte is at CPU address `base`. A dead entry at the
    /// same base (freed memory the runtime handed out again) is replaced.
    pub fn insert(&mut self, base: u64, storage: &Arc<Storage>) {
        let end = base.saturating_add(storage.size.max(1));
        self.by_base.insert(base, Entry { end, storage: Arc::downgrade(storage) });
    }

    /// Every live storage intersecting `[addr, addr + len)` (len 0: the byte
    /// at `addr`), with the intersection as a range of that storage.
    pub fn lookup(&mut self, addr: u64, len: u64) -> Vec<(Arc<Storage>, ByteRange)> {
        let end = addr.saturating_add(len.max(1));
        let mut found = Vec::new();
        let mut dead = Vec::new();
        for (&base, e) in self.by_base.range(..end).rev() {
            let Some(st) = e.storage.upgrade() else {
                dead.push(base);
                continue;
            };
            if e.end <= addr {
                break;
            }
            let from = addr.max(base) - base;
            let to = end.min(e.end) - base;
            found.push((st, ByteRange::new(from, to - from)));
        }
        for base in dead {
            self.by_base.remove(&base);
        }
        found
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_base.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_storages_a_range_touches() {
        let mut ix = AddressIndex::default();
        let a = Storage::new(Some(0), 100, false);
        let b = Storage::new(Some(0), 50, false);
        ix.insert(0x1000, &a);
        ix.insert(0x2000, &b);
        let hit = ix.lookup(0x1010, 8);
        assert_eq!(hit.len(), 1);
        assert_eq!(hit[0].0.id, a.id);
        assert_eq!(hit[0].1, ByteRange::new(0x10, 8));
        // Across the end of a: clipped to its bytes.
        let hit = ix.lookup(0x1060, 0x10);
        assert_eq!(hit[0].1, ByteRange::new(0x60, 4));
        // Spanning both.
        let mut ids: Vec<_> = ix.lookup(0x1000, 0x1010).iter().map(|(s, _)| s.id).collect();
        ids.sort();
        assert_eq!(ids, vec![a.id, b.id]);
        // Between them, before, after: nothing.
        assert!(ix.lookup(0x1064, 0x10).is_empty());
        assert!(ix.lookup(0x10, 0x10).is_empty());
        assert!(ix.lookup(0x2032, 1).is_empty());
    }

    #[test]
    fn dead_storages_leave_the_index() {
        let mut ix = AddressIndex::default();
        let a = Storage::new(Some(0), 100, false);
        ix.insert(0x1000, &a);
        drop(a);
        assert!(ix.lookup(0x1000, 1).is_empty());
        assert_eq!(ix.len(), 0);
        // The address handed out again, to a new storage.
        let b = Storage::new(Some(0), 10, false);
        ix.insert(0x1000, &b);
        assert_eq!(ix.lookup(0x1004, 1)[0].0.id, b.id);
    }

    #[test]
    fn a_range_at_the_top_of_the_address_space_does_not_overflow() {
        let mut ix = AddressIndex::default();
        let a = Storage::new(Some(0), 100, false);
        ix.insert(u64::MAX - 10, &a);
        assert_eq!(ix.lookup(u64::MAX - 5, u64::MAX).len(), 1);
    }
}

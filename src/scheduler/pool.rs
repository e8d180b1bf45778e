//! The spare versions of one core (renaming, see rename.rs): the bytes they
//! hold against the cap, and the idle ones no tensor uses, kept for the next
//! rename of the same size rather than freed and allocated again.
//!
//! Safe Rust, no C, no engine: the engine allocates and frees the runtime
//! tensors; this only decides which spare may be reused and when.

use std::sync::Arc;

use crate::registry::Storage;
use crate::tracker::OpSeq;

/// A spare no tensor uses, free to reuse once request `free_after` completed
/// (its last reader, or the last request of the tensor it left).
#[derive(Debug)]
struct Idle {
    storage: Arc<Storage>,
    free_after: OpSeq,
}

#[derive(Debug, Default)]
pub struct Pool {
    idle: Vec<Idle>,
    /// Bytes of every spare of this core, in use or idle.
    held: u64,
    peak: u64,
}

impl Pool {
    /// Room for a new spare of `size` bytes under `cap`: counted as held
    /// from now on (give it back with [`unreserve`](Self::unreserve) if the
    /// allocation fails). False: the cap is reached.
    pub fn reserve(&mut self, size: u64, cap: u64) -> bool {
        match self.held.checked_add(size) {
            Some(n) if n <= cap => {
                self.held = n;
                self.peak = self.peak.max(n);
                true
            }
            _ => false,
        }
    }

    /// A spare of `size` bytes was freed (or never allocated).
    pub fn unreserve(&mut self, size: u64) {
        self.held = self.held.saturating_sub(size);
    }

    pub fn held(&self) -> u64 {
        self.held
    }

    pub fn peak(&self) -> u64 {
        self.peak
    }

    pub fn idle_count(&self) -> usize {
        self.idle.len()
    }

    /// A spare a tensor no longer uses; reusable once `free_after` completed.
    pub fn put(&mut self, storage: Arc<Storage>, free_after: OpSeq) {
        self.idle.push(Idle { storage, free_after });
    }

    /// An idle spare of exactly `size` bytes whose last user completed
    /// (`completed`: the core's completed sequence number).
    pub fn take(&mut self, size: u64, completed: OpSeq) -> Option<Arc<Storage>> {
        let i = self.idle.iter().position(|s| s.storage.size == size && s.free_after <= completed)?;
        Some(self.idle.swap_remove(i).storage)
    }

    /// Removes the idle spares whose last user completed, for the caller to
    /// free (their bytes no longer count).
    pub fn drain_idle(&mut self, completed: OpSeq) -> Vec<Arc<Storage>> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.idle.len() {
            if self.idle[i].free_after <= completed {
                let s = self.idle.swap_remove(i).storage;
                self.held = self.held.saturating_sub(s.size);
                out.push(s);
            } else {
                i += 1;
            }
        }
        out
    }

    /// Every idle spare, whatever its last user (the runtime is closing and
    /// every request completed). Spares still attached to tensors come back
    /// through [`put`](Self::put) first.
    pub fn drain_all(&mut self) -> Vec<Arc<Storage>> {
        self.drain_idle(OpSeq::MAX)
    }

    /// After a close: the counts start again (the peak is kept for the stats).
    pub fn reset(&mut self) {
        self.idle.clear();
        self.held = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_bounds_what_is_held() {
        let mut p = Pool::default();
        assert!(p.reserve(600, 1000));
        assert!(!p.reserve(600, 1000), "over the cap");
        assert!(p.reserve(400, 1000), "exactly the cap");
        assert_eq!((p.held(), p.peak()), (1000, 1000));
        p.unreserve(600);
        assert_eq!(p.held(), 400);
        assert!(p.reserve(600, 1000));
        assert!(!p.reserve(u64::MAX, u64::MAX), "no overflow");
    }

    #[test]
    fn a_spare_is_reused_only_after_its_last_user_and_at_its_size() {
        let mut p = Pool::default();
        assert!(p.reserve(64, 1 << 20));
        let s = Storage::spare(0, 64, 0x1000);
        p.put(s.clone(), 7);
        assert!(p.take(64, 6).is_none(), "its last user is still pending");
        assert!(p.take(32, 7).is_none(), "another size");
        let got = p.take(64, 7).expect("idle now");
        assert!(Arc::ptr_eq(&got, &s));
        assert_eq!(p.idle_count(), 0);
        assert_eq!(p.held(), 64, "in use again, still held");
    }

    #[test]
    fn draining_frees_only_idle_spares_and_their_bytes() {
        let mut p = Pool::default();
        for (i, after) in [3u64, 9, 5].into_iter().enumerate() {
            assert!(p.reserve(100, 1000));
            p.put(Storage::spare(0, 100, 0x1000 + i), after);
        }
        let freed = p.drain_idle(5);
        assert_eq!(freed.len(), 2);
        assert_eq!(p.held(), 100);
        assert_eq!(p.idle_count(), 1);
        assert_eq!(p.drain_all().len(), 1);
        assert_eq!(p.held(), 0);
        assert_eq!(p.peak(), 300);
    }
}

//! Renaming: a host write that would wait only because pending requests
//! still read (or write) the bytes it overwrites goes to another physical
//! version of the tensor instead: one no pending request uses (its home
//! storage or a spare it took before), else a spare from the core's pool
//! (pool.rs), else a new device tensor the shim allocates. Requests accepted
//! before the write keep the version they were given (the mirror sets hold
//! its runtime handle); the tensor's record points at the new one, so later
//! requests and host calls use it.
//!
//! What is renamed: a write of every byte of a device tensor the program has
//! not exposed (no address, no allocation info, no attached buffer, no slice
//! of its storage, never an execution's output: the runtime counts output
//! completions on the program's own handle). Anything else waits as before
//! and is counted by reason. A rename that the cap or the runtime's memory
//! refuses waits too: renaming never makes a call fail.
//!
//! Calls that hand the program the bytes outside the shim, and executions on
//! the program's own sets (host executions), first bring the newest version
//! home to the tensor's own storage.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::*;
use crate::registry::Versions;

/// Versions of one tensor at most: its home, the current one and the spares
/// pending requests still read. Each busy version is held by a request in the
/// window, so the window's depth bounds them as well.
pub const MAX_VERSIONS: usize = 8;

/// Why a write was not renamed.
enum Keep {
    /// Nothing pending conflicts with it (any more): it runs in place.
    InPlace,
    /// It waits, for this reason.
    Wait(Counter),
}

impl<D: Device> Engine<D> {
    /// A host write of `range` of tensor `rec`: `call(phys)` is the runtime's
    /// write into runtime tensor `phys` (the tensor's current version, or the
    /// fresh one it is renamed to).
    pub fn host_write(
        &'static self,
        rec: &TensorRecord,
        view: TensorView,
        range: ByteRange,
        call: impl FnOnce(Handle) -> Status,
    ) -> Status {
        if !self.config.rename {
            let phys = view.phys(rec.handle);
            return self.host_access(&view, range, AccessKind::Write, None, || call(phys));
        }
        // The tensor's lock is held to the end of the write: another thread
        // bringing it home meanwhile (nrt_get_hbm_mmap_va, a shed) would
        // otherwise move its bytes away from the version this write goes to.
        let mut v = rec.versions.lock();
        // Under the tensor's lock, the version it has now.
        let view = if v.home.is_some() { rec.view() } else { view };
        if self.write_conflicts(&view, range) {
            match self.rename_target(rec, &view, range, &mut v) {
                Ok(target) => return self.write_renamed(rec, &view, range, &mut v, target, call),
                Err(Keep::Wait(why)) => COUNTERS.add(why, 1),
                Err(Keep::InPlace) => {}
            }
        }
        let phys = view.phys(rec.handle);
        let st = self.host_access(&view, range, AccessKind::Write, None, || call(phys));
        drop(v);
        st
    }

    /// A staged write (stage.rs) into the version the tensor has when the
    /// transfer is issued, under the tensor's lock as `host_write`: another
    /// thread bringing it home meanwhile (nrt_get_hbm_mmap_va, a shed) would
    /// otherwise leave the transfer writing a version that is no longer the
    /// tensor's, and the bytes lost. None: not staged (see `write_staged`).
    pub fn write_staged_current(
        &'static self,
        rec: &TensorRecord,
        view: &TensorView,
        range: ByteRange,
        offset: u64,
        fill: impl FnMut(&mut [u8]),
    ) -> Option<Status> {
        if !self.may_stage(range.end - range.start) {
            return None;
        }
        let v = rec.versions.lock();
        let current;
        let view = if v.home.is_some() {
            current = rec.view();
            &current
        } else {
            view
        };
        let st = self.write_staged(view.phys(rec.handle), offset, view, range, fill);
        drop(v);
        st
    }

    /// Runs `f` on the tensor's place: as it is when the tensor is at home
    /// (nothing can move it then but a write of the program's, which holds
    /// the lock), else under the tensor's lock, with the version it has
    /// then, so that no other thread brings it home and recycles that
    /// version while `f` reads it.
    /// `f` gets the view and the runtime handle of the version's bytes.
    #[inline(always)]
    pub fn on_current_version<R>(
        &'static self,
        rec: &TensorRecord,
        view: TensorView,
        f: impl FnOnce(&TensorView, Handle) -> R,
    ) -> R {
        let phys = view.phys(rec.handle);
        // One call of `f` (so that it is inlined on the common path).
        let (held, view, phys) = if phys == rec.handle {
            (None, view, phys)
        } else {
            let held = rec.versions.lock();
            let view = rec.view();
            let phys = view.phys(rec.handle);
            (Some(held), view, phys)
        };
        let r = f(&view, phys);
        drop(held);
        r
    }

    /// Whether a write of `range` would be renamed if renaming allows it
    /// (renaming on, and a pending request conflicts with it).
    pub fn would_rename(&'static self, view: &TensorView, range: ByteRange) -> bool {
        self.config.rename && self.write_conflicts(view, range)
    }

    /// Whether a write of `range` would wait for a pending request.
    fn write_conflicts(&'static self, view: &TensorView, range: ByteRange) -> bool {
        let Some(storage) = view.storage.as_ref() else { return false };
        let Some(c) = storage.core else { return false };
        let core = self.core(c);
        storage.last_user.load(Ordering::Acquire) > core.completed.load(Ordering::Acquire)
            && core
                .q
                .lock()
                .latest_conflict(&[StorageRange { storage: storage.id, range, kind: AccessKind::Write }])
                .is_some()
    }

    fn rename_target(
        &'static self,
        rec: &TensorRecord,
        view: &TensorView,
        range: ByteRange,
        v: &mut Versions,
    ) -> Result<Arc<Storage>, Keep> {
        let cur = view.storage.as_ref().ok_or(Keep::InPlace)?;
        let c = cur.core.ok_or(Keep::InPlace)?;
        if v.pinned
            || cur.host_visible.load(Ordering::Acquire)
            || rec.exec_output.load(Ordering::Acquire)
            || self.all_exposed()
        {
            return Err(Keep::Wait(Counter::RenameWaitExposed));
        }
        if cur.sliced.load(Ordering::Acquire) || view.offset != 0 || view.size != cur.size {
            return Err(Keep::Wait(Counter::RenameWaitSlice));
        }
        if (range.start != 0 || range.end != cur.size) && !self.config.rename_partial {
            return Err(Keep::Wait(Counter::RenameWaitPartial));
        }
        let home = v.home.get_or_insert_with(|| cur.clone()).clone();
        let core = self.core(c);
        {
            let q = core.q.lock();
            // A transfer still writing the bytes (staged, device-side copy):
            // a carry-over copy would miss it, so the write waits in place.
            if q.transfers.touches(cur.id) {
                return Err(Keep::InPlace);
            }
            if q.tracker().latest_conflict(&StorageRange { storage: cur.id, range, kind: AccessKind::Write }).is_none()
            {
                return Err(Keep::InPlace);
            }
            let idle = |s: &Arc<Storage>| !Arc::ptr_eq(s, cur) && !q.tracker().has_pending(s.id);
            if idle(&home) {
                return Ok(home);
            }
            if let Some(i) = v.spares.iter().position(idle) {
                return Ok(v.spares.swap_remove(i));
            }
        }
        // Home, the current version and the busy spares.
        if v.spares.len() + 2 >= MAX_VERSIONS {
            return Err(Keep::Wait(Counter::RenameWaitCap));
        }
        let size = cur.size;
        {
            let mut pool = core.pool.lock();
            if let Some(s) = pool.take(size, core.completed.load(Ordering::Acquire)) {
                return Ok(s);
            }
            if !pool.reserve(size, self.config.rename_max_bytes) {
                return Err(Keep::Wait(Counter::RenameWaitCap));
            }
            COUNTERS.max(Counter::RenameSparePeakBytes, pool.peak());
        }
        match self.device.allocate_tensor(c, size) {
            Ok(h) => Ok(Storage::spare(c, size, h)),
            Err(st) => {
                core.pool.lock().unreserve(size);
                log::debug!("renaming: no spare of {size} bytes on core {c} (status {st}); the write waits");
                Err(Keep::Wait(Counter::RenameWaitCap))
            }
        }
    }

    fn write_renamed(
        &'static self,
        rec: &TensorRecord,
        view: &TensorView,
        range: ByteRange,
        v: &mut Versions,
        target: Arc<Storage>,
        call: impl FnOnce(Handle) -> Status,
    ) -> Status {
        let old = view.storage.clone();
        let partial = old.as_ref().is_some_and(|cur| range.start != 0 || range.end != cur.size);
        if let Some(cur) = old.as_ref().filter(|_| partial) {
            // The bytes the write leaves are carried over first, on the
            // device: the old version has only readers pending (outputs are
            // never renamed), so copying from it waits for nothing.
            let st = self.device.copy_tensor(cur.phys_for(rec.handle), target.phys_for(rec.handle), cur.size);
            if st != NRT_SUCCESS {
                log::debug!("renaming: carrying a partial write's other bytes over failed (status {st}); it waits");
                if target.phys != 0 {
                    v.spares.push(target);
                }
                COUNTERS.add(Counter::RenameWaitPartial, 1);
                let phys = cur.phys_for(rec.handle);
                return self.host_access(view, range, AccessKind::Write, None, || call(phys));
            }
            COUNTERS.add(Counter::RenamedPartialWrites, 1);
        }
        let st = call(target.phys_for(rec.handle));
        let keep = if st == NRT_SUCCESS {
            let tview = TensorView { storage: Some(target.clone()), ..view.clone() };
            // Stale marks of an earlier use of this version are overwritten.
            self.host_wrote(&tview, range);
            *rec.storage.lock() = Some(target);
            COUNTERS.add(Counter::RenamedWrites, 1);
            if let (Some(o), Some(c)) = (observe::get(), view.storage.as_ref().and_then(|s| s.core)) {
                o.waited(c, None, "renamed", view.name.as_ref(), 0);
            }
            old
        } else {
            // The write failed: the tensor keeps its version; the target stays a spare.
            Some(target)
        };
        if let Some(s) = keep.filter(|s| s.phys != 0) {
            v.spares.push(s);
        }
        st
    }

    /// Before anything that uses the tensor's bytes through the program's
    /// own handle (the runtime's calls, host executions): the newest version
    /// is copied home. `pin`: the program now sees the bytes outside the
    /// shim, so the tensor is never renamed again and its spares go back to
    /// the pool. On a failed copy the tensor keeps its version (and the
    /// status is returned): no byte is lost.
    pub fn bring_home(&'static self, rec: &TensorRecord, pin: bool) -> Status {
        let mut v = rec.versions.lock();
        v.pinned |= pin;
        let Some(home) = v.home.clone() else { return NRT_SUCCESS };
        let cur = rec.storage.lock().clone();
        let mut st = NRT_SUCCESS;
        if let Some(cur) = cur.filter(|c| !Arc::ptr_eq(c, &home)) {
            let whole = ByteRange::new(0, home.size);
            let of = |s: &Arc<Storage>| TensorView {
                name: rec.name.clone(),
                storage: Some(s.clone()),
                offset: 0,
                size: s.size,
            };
            let (cview, hview) = (of(&cur), of(&home));
            self.wait_pending(&cview, whole, AccessKind::Read, None);
            self.wait_pending(&hview, whole, AccessKind::Write, None);
            st = self.device.copy_tensor(cur.phys_for(rec.handle), rec.handle, home.size);
            if st == NRT_SUCCESS {
                self.host_wrote(&hview, whole);
                *rec.storage.lock() = Some(home);
                v.spares.push(cur);
                COUNTERS.add(Counter::RenameBroughtHome, 1);
            } else {
                log::error!("renaming: copying the newest version home failed (status {st}); it stays where it is");
            }
        }
        if pin && st == NRT_SUCCESS {
            let after = rec.last_use.load(Ordering::Acquire);
            self.return_spares(&mut v.spares, after);
        }
        st
    }

    /// The tensor is freed (or its storage replaced): every version the shim
    /// gave it goes back to the pool, reusable once its last request completed.
    pub fn release_versions(&'static self, rec: &TensorRecord) {
        let mut v = rec.versions.lock();
        v.pinned = true;
        if v.home.is_none() {
            return;
        }
        if let Some(cur) = rec.storage.lock().clone().filter(|s| s.phys != 0) {
            v.spares.push(cur);
        }
        let after = rec.last_use.load(Ordering::Acquire);
        self.return_spares(&mut v.spares, after);
    }

    fn return_spares(&'static self, spares: &mut Vec<Arc<Storage>>, after: OpSeq) {
        for s in spares.drain(..) {
            if let Some(c) = s.core {
                self.core(c).pool.lock().put(s, after);
            }
        }
    }

    /// Frees the pool's idle spares (all of them when `all`: at close, once
    /// every request completed). Returns how many were freed.
    pub fn free_spares(&'static self, all: bool) -> usize {
        let mut n = 0;
        for core in self.cores().iter() {
            let freed = {
                let mut pool = core.pool.lock();
                if all {
                    pool.drain_all()
                } else {
                    pool.drain_idle(core.completed.load(Ordering::Acquire))
                }
            };
            for s in freed {
                let mut q = core.q.lock();
                q.tracker_mut().remove_storage(s.id);
                drop(q);
                self.device.free_tensor(s.phys);
                n += 1;
            }
        }
        n
    }

    /// The program's own allocation found no device memory: every renamed
    /// tensor goes home and every spare is freed once the requests using it
    /// completed, so that a retry finds the memory the shim held. Returns
    /// how many spares were freed.
    #[cold]
    pub fn shed_versions(&'static self) -> usize {
        let mut any = false;
        for rec in self.tensors.values() {
            if rec.versions.lock().home.is_none() {
                continue;
            }
            any = true;
            if self.bring_home(&rec, false) == NRT_SUCCESS {
                let mut v = rec.versions.lock();
                let after = rec.last_use.load(Ordering::Acquire);
                self.return_spares(&mut v.spares, after);
            }
        }
        if !any && self.spare_bytes() == 0 {
            return 0;
        }
        self.wait_all(None, "rename-shed");
        self.free_spares(false)
    }

    /// Bytes held by spare versions now, over every core.
    pub fn spare_bytes(&'static self) -> u64 {
        self.cores().iter().map(|c| c.pool.lock().held()).sum()
    }
}

/// Runs `f` holding the renaming locks of `recs` (each once, in the order of
/// `order`: their indices sorted by address, so that two callers never wait
/// for each other's), as `host_write` holds one: meanwhile no other thread
/// renames these tensors or brings them home. Recursive, so that the guards
/// live on the stack (a call allocates nothing).
pub fn with_versions_locked(recs: &[Arc<TensorRecord>], order: &[usize], f: &mut dyn FnMut()) {
    fn from(recs: &[Arc<TensorRecord>], order: &[usize], prev: *const TensorRecord, f: &mut dyn FnMut()) {
        match order.split_first() {
            None => f(),
            Some((&i, rest)) => {
                let r = Arc::as_ptr(&recs[i]);
                if std::ptr::eq(r, prev) {
                    // The same tensor twice in one batch: locked once.
                    return from(recs, rest, prev, f);
                }
                let _held = recs[i].versions.lock();
                from(recs, rest, r, f)
            }
        }
    }
    from(recs, order, std::ptr::null(), f)
}

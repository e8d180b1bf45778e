//! Host access to a tensor's bytes (read, write, copy, memset, batches): wait
//! for the conflicting pending requests, then the poison rules, in one place:
//! a read of bytes a failed request produced reports its failure (once); the
//! program's own write of them clears the mark.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::*;

impl<D: Device> Engine<D> {
    /// Waits for the pending requests that conflict with an access of `kind`
    /// to `range` (or the deadline: false). Touches no bytes and reports no
    /// failure: alone, it serves the calls that touch no bytes themselves
    /// (get_va, before the program may; reset_output_completion).
    pub fn wait_pending(
        &'static self,
        view: &TensorView,
        range: ByteRange,
        kind: AccessKind,
        deadline: Option<Instant>,
    ) -> bool {
        let Some(storage) = view.storage.as_ref() else { return true };
        let Some(c) = storage.core else { return true };
        // The application's own nrta_* requests on these bytes first
        // (scheduler/foreign.rs); one atomic load when it has none.
        if self.has_foreign()
            && !self.wait_foreign(c, &[StorageRange { storage: storage.id, range, kind }], deadline, view.name.as_ref())
        {
            return false;
        }
        self.wait_own(view, range, kind, deadline)
    }

    /// [`wait_pending`](Self::wait_pending) for the shim's own requests only
    /// (before an application's `nrta_*` call: the application orders its
    /// own requests itself).
    pub fn wait_own(
        &'static self,
        view: &TensorView,
        range: ByteRange,
        kind: AccessKind,
        deadline: Option<Instant>,
    ) -> bool {
        let Some(storage) = view.storage.as_ref() else { return true };
        let Some(c) = storage.core else { return true };
        let last = match kind {
            AccessKind::Read => storage.last_writer.load(Ordering::Acquire),
            AccessKind::Write => storage.last_user.load(Ordering::Acquire),
        };
        // Fast path: nothing pending touches this storage.
        (last <= self.core(c).completed.load(Ordering::Acquire)
            || self.wait_conflicts(
                c,
                &[StorageRange { storage: storage.id, range, kind }],
                deadline,
                view.name.as_ref(),
            ))
            && self.wait_transfers(c, storage.id, range, kind, deadline)
    }

    /// Makes a host access to a tensor's bytes safe: waits for what it must,
    /// reports a pending failure of the request that produced the bytes (for
    /// reads), then runs `call` (the real runtime call). `deadline`: give up
    /// with NRT_TIMEOUT.
    #[inline]
    pub fn host_access(
        &'static self,
        view: &TensorView,
        range: ByteRange,
        kind: AccessKind,
        deadline: Option<Instant>,
        call: impl FnOnce() -> Status,
    ) -> Status {
        let skip = kind == AccessKind::Read && crate::config::test_skips_this_wait();
        // The common case, decided by a few atomic loads without a call:
        // nothing of the shim's or the program's is pending on the storage
        // and no failure is marked on its core, so there is nothing to wait
        // for, report or clear (the test hook's skip changes nothing here).
        if let Some(storage) = view.storage.as_deref() {
            if storage.core.is_some_and(|c| self.quiet(c, storage, kind)) {
                return call();
            }
        }
        self.host_access_slow(view, range, kind, deadline, skip, call)
    }

    /// Whether an access of `kind` to `storage` (on core `c`) has nothing to
    /// wait for and no failure to report or clear (see `host_access`).
    #[inline(always)]
    fn quiet(&'static self, c: u32, storage: &Storage, kind: AccessKind) -> bool {
        let last = match kind {
            AccessKind::Read => storage.last_writer.load(Ordering::Acquire),
            AccessKind::Write => storage.last_user.load(Ordering::Acquire),
        };
        let core = self.core(c);
        last <= core.completed.load(Ordering::Acquire)
            && !self.has_foreign()
            && !core.poisoned.load(Ordering::Acquire)
            && !core.has_transfers()
    }

    #[inline(never)]
    fn host_access_slow(
        &'static self,
        view: &TensorView,
        range: ByteRange,
        kind: AccessKind,
        deadline: Option<Instant>,
        skip: bool,
        call: impl FnOnce() -> Status,
    ) -> Status {
        if !skip && !self.wait_pending(view, range, kind, deadline) {
            return NRT_TIMEOUT;
        }
        if kind == AccessKind::Read {
            if let Some(status) = self.failure_in(view, range) {
                COUNTERS.add(Counter::FailuresReported, 1);
                return status;
            }
        }
        let st = call();
        if kind == AccessKind::Write && st == NRT_SUCCESS {
            self.host_wrote(view, range);
        }
        st
    }

    /// The status of a failed request whose output these bytes hold (the
    /// read that finds it reports it), if any.
    pub(super) fn failure_in(&'static self, view: &TensorView, range: ByteRange) -> Option<Status> {
        let storage = view.storage.as_ref()?;
        let core = self.core(storage.core?);
        if !core.poisoned.load(Ordering::Acquire) {
            return None;
        }
        core.q.lock().failure_in(storage.id, range)
    }

    /// The program wrote these bytes: they no longer hold a failed request's output.
    pub(super) fn host_wrote(&'static self, view: &TensorView, range: ByteRange) {
        let Some(storage) = view.storage.as_ref() else { return };
        let Some(c) = storage.core else { return };
        let core = self.core(c);
        if core.poisoned.load(Ordering::Acquire) {
            let mut q = core.q.lock();
            q.host_wrote(storage.id, range);
            core.poisoned.store(q.tracker().has_any_poison(), Ordering::Release);
        }
    }

    /// Several host accesses made safe together (batches, copies): waits for
    /// all of them, then runs `call` once.
    pub fn host_accesses(
        &'static self,
        parts: &[(TensorView, ByteRange, AccessKind)],
        call: impl FnOnce() -> Status,
    ) -> Status {
        let mut failed = NRT_SUCCESS;
        for (view, range, kind) in parts {
            match kind {
                // Every part is checked, so that one call reports every
                // failure whose outputs it touches; the first status wins.
                AccessKind::Read => {
                    let st = self.host_access(view, *range, AccessKind::Read, None, || NRT_SUCCESS);
                    if failed == NRT_SUCCESS {
                        failed = st;
                    }
                }
                // Marks are cleared only once the runtime has written the bytes.
                AccessKind::Write => {
                    self.wait_pending(view, *range, AccessKind::Write, None);
                }
            }
        }
        if failed != NRT_SUCCESS {
            return failed;
        }
        let st = call();
        if st == NRT_SUCCESS {
            for (view, range, kind) in parts {
                if *kind == AccessKind::Write {
                    self.host_wrote(view, *range);
                }
            }
        }
        st
    }
}

//! Device memory that escapes the shim's tracking, and the runtime calls that
//! touch tensor bytes or order work behind its back (issue 15):
//!
//! - escapes (a device tensor's CPU address, its allocation info, a dmabuf
//!   of its memory, a whole HBM bank mapped): wait for the storage's pending
//!   work, then mark it exposed, so that every later request using it
//!   completes before the call that made it returns, as for host memory;
//! - direct writes to an address (nrt_memcpy_to_device): wait for the pending
//!   users of the bytes there, or for everything when the address is unknown;
//! - sync points (barrier, profile stop, inspect brackets): drain first;
//! - profiling: a profiled model's executions take the synchronous path.
//!
//! None of these is on the hot path: an execution reads two atomics here.

use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::addresses::AddressIndex;
use super::*;
use crate::tracker::StorageId;

#[derive(Default)]
pub(super) struct Escapes {
    state: Mutex<EscapeState>,
    /// A whole bank was mapped (nrt_get_hbm_mmap_va): every device storage,
    /// and every one allocated later, is reachable by the CPU.
    all_exposed: AtomicBool,
    /// Some model is being profiled.
    profiling: AtomicBool,
}

#[derive(Default)]
pub(super) struct EscapeState {
    addresses: AddressIndex,
    /// Storages with ids up to this one were asked for their address.
    resolved_upto: StorageId,
    /// Models being profiled, with the file nrt_profile_start named.
    profiles: Vec<(Handle, Option<CString>)>,
}

impl Escapes {
    /// pthread_atfork prepare (see fork.rs).
    pub(super) fn lock(&'static self) -> MutexGuard<'static, EscapeState> {
        self.state.lock()
    }

    /// In a forked child: the parent's addresses and profiles are not its own
    /// (forgotten, not dropped: see fork.rs).
    pub(super) fn forget_in_child(&self, held: &mut EscapeState) {
        std::mem::forget(std::mem::take(held));
        self.all_exposed.store(false, Ordering::Release);
        self.profiling.store(false, Ordering::Release);
    }

    /// nrt_close: the runtime forgets its mappings and profiles.
    pub(super) fn reset(&self) {
        *self.state.lock() = EscapeState::default();
        self.all_exposed.store(false, Ordering::Release);
        self.profiling.store(false, Ordering::Release);
    }
}

/// The whole of a storage, as a view the host-access rules take.
fn whole(storage: &Arc<Storage>) -> TensorView {
    TensorView { name: None, storage: Some(storage.clone()), offset: 0, size: storage.size }
}

impl<D: Device> Engine<D> {
    /// Whether every device storage is exposed (a bank was mapped), unless
    /// the program said it synchronises its own CPU accesses.
    #[inline]
    pub(super) fn all_exposed(&'static self) -> bool {
        !self.config.trust_host_memory && self.escapes.all_exposed.load(Ordering::Acquire)
    }

    /// The tensor's memory escapes (its CPU or physical address is handed
    /// out): waits for every pending user, then marks the storage exposed.
    /// Touching no bytes, it clears no failure mark.
    pub fn escape(&'static self, rec: &TensorRecord) {
        let view = rec.view();
        self.wait_pending(&view, view.whole(), AccessKind::Write, None);
        self.address_taken(rec);
    }

    /// nrt_tensor_get_va gave `va` for the tensor's first byte: remembered,
    /// so that a later call given an address finds the storage.
    pub fn address_known(&'static self, rec: &TensorRecord, va: usize) {
        let view = rec.view();
        let Some(storage) = view.storage.as_ref().filter(|s| s.core.is_some()) else { return };
        let Some(base) = (va as u64).checked_sub(view.offset) else { return };
        self.escapes.state.lock().addresses.insert(base, storage);
    }

    /// The device storages intersecting `[addr, addr + len)`. If the index
    /// holds none, the storages allocated since the last such miss are asked
    /// for their address first (`resolve`: the runtime's nrt_tensor_get_va of
    /// a tensor, 0 for none), so that an address the program learned some
    /// other way (a mapped bank) still finds its tensor.
    fn storages_at(
        &'static self,
        addr: u64,
        len: u64,
        resolve: &mut dyn FnMut(Handle) -> usize,
    ) -> Vec<(Arc<Storage>, ByteRange)> {
        let found = self.escapes.state.lock().addresses.lookup(addr, len);
        if !found.is_empty() {
            return found;
        }
        let newest = Storage::newest_id();
        let upto = self.escapes.state.lock().resolved_upto;
        if newest <= upto {
            return found;
        }
        // Outside the lock: resolving calls the runtime.
        for rec in self.tensors.values() {
            let view = rec.view();
            let Some(st) = view.storage.as_ref() else { continue };
            if st.core.is_none() || st.id <= upto {
                continue;
            }
            let va = resolve(rec.handle);
            if va != 0 {
                self.address_known(&rec, va);
            }
        }
        let mut state = self.escapes.state.lock();
        state.resolved_upto = state.resolved_upto.max(newest);
        state.addresses.lookup(addr, len)
    }

    /// nrt_memcpy_to_device(dest, _, size): waits for the pending requests
    /// that read or write the bytes at `dest` (for every request, when the
    /// shim knows no storage there), then `call`. The program holds an address
    /// of those storages, so they are exposed from now on; on success their
    /// bytes no longer hold a failed request's output.
    pub fn direct_write(
        &'static self,
        dest: usize,
        size: u64,
        resolve: &mut dyn FnMut(Handle) -> usize,
        call: impl FnOnce() -> Status,
    ) -> Status {
        let parts = self.storages_at(dest as u64, size, resolve);
        if parts.is_empty() {
            self.wait_all(None, "direct-write-unknown-address");
        }
        for (st, range) in &parts {
            self.wait_pending(&whole(st), *range, AccessKind::Write, None);
            st.host_visible.store(true, Ordering::Release);
        }
        let status = call();
        if status == NRT_SUCCESS {
            for (st, range) in &parts {
                self.host_wrote(&whole(st), *range);
            }
        }
        status
    }

    /// nrt_get_dmabuf_fd(va, size): the device memory at `va` is handed to
    /// another device (a NIC), which may read or write it at any time: its
    /// storages wait for their pending work, then are exposed. Unknown
    /// memory: everything pending is drained first.
    pub fn dmabuf_export(
        &'static self,
        va: u64,
        size: u64,
        resolve: &mut dyn FnMut(Handle) -> usize,
        call: impl FnOnce() -> Status,
    ) -> Status {
        let parts = self.storages_at(va, size, resolve);
        if parts.is_empty() {
            self.wait_all(None, "dmabuf-unknown-address");
        }
        for (st, range) in &parts {
            self.wait_pending(&whole(st), *range, AccessKind::Write, None);
            st.host_visible.store(true, Ordering::Release);
        }
        call()
    }

    /// A receive into these bytes was issued (nrt_async_sendrecv_recv_tensor):
    /// a peer writes them until the program's own test says done, unseen by
    /// the shim, so the storage is exposed; the bytes will no longer hold a
    /// failed request's output.
    pub fn received(&'static self, view: &TensorView, range: ByteRange) {
        if let Some(st) = view.storage.as_ref() {
            st.host_visible.store(true, Ordering::Release);
        }
        self.host_wrote(view, range);
    }

    /// nrt_get_hbm_mmap_va: a whole bank reaches the CPU. The shim does not
    /// know which tensors live on which bank, so every device tensor (and
    /// every one allocated later) is treated as exposed, after all pending
    /// work is done.
    pub fn expose_everything(&'static self) {
        if !self.is_open() {
            return;
        }
        // Exposed first, so that no execution accepted from now on runs
        // behind the mapping; then what is pending completes.
        if !self.config.trust_host_memory && !self.escapes.all_exposed.swap(true, Ordering::AcqRel) {
            log::info!(
                "nrt_get_hbm_mmap_va: device memory is mapped to the CPU; from now on every execution \
                 completes before nrt_execute returns (synchronous; NRT_SHIM_TRUST_HOST_MEMORY=1 lifts it)"
            );
        }
        // The bank holds each tensor's own storage: renamed ones go home,
        // and none is renamed again.
        for rec in self.tensors.values() {
            self.bring_home(&rec, true);
        }
        self.wait_all(None, "hbm-mmap");
    }

    /// A sync point of core `vnc` (nrt_barrier): its pending requests first.
    /// A core the shim does not track is the runtime's to judge.
    pub fn drain_core(&'static self, vnc: i32, why: &'static str) {
        if !self.is_open() || vnc < 0 || vnc as u32 >= self.ncores() {
            return;
        }
        let c = vnc as u32;
        let last = self.core(c).q.lock().last_accepted();
        self.wait_done(c, last, None, why, None);
    }

    /// A sync point that may touch any core: every pending request first.
    pub fn drain_everything(&'static self, why: &'static str) {
        if self.is_open() {
            self.wait_all(None, why);
        }
    }

    /// Before nrt_profile_start(model, file): from now on the model's
    /// executions go through the runtime's synchronous nrt_execute, the only
    /// path the runtime profiles; its pending requests complete first.
    /// [`profile_start_failed`](Self::profile_start_failed) undoes it.
    pub fn profile_starting(&'static self, model: Handle, file: Option<&CStr>) {
        if !self.is_open() {
            return;
        }
        {
            let mut st = self.escapes.state.lock();
            st.profiles.push((model, file.map(CStr::to_owned)));
            self.escapes.profiling.store(true, Ordering::Release);
        }
        if let Some(m) = self.models.get(model) {
            self.wait_done(m.core, m.last_request(), None, "profile-start", None);
        }
    }

    /// The runtime refused nrt_profile_start.
    pub fn profile_start_failed(&'static self, model: Handle) {
        let mut st = self.escapes.state.lock();
        if let Some(i) = st.profiles.iter().rposition(|(m, _)| *m == model) {
            st.profiles.remove(i);
        }
        self.escapes.profiling.store(!st.profiles.is_empty(), Ordering::Release);
    }

    /// After nrt_profile_stop(file) (the caller drained first): the models
    /// profiled into `file` go back to the async path.
    pub fn profile_stopped(&'static self, file: Option<&CStr>) {
        let mut st = self.escapes.state.lock();
        st.profiles.retain(|(_, f)| f.as_deref() != file);
        self.escapes.profiling.store(!st.profiles.is_empty(), Ordering::Release);
    }

    /// Whether the model's executions must take the synchronous path (it is
    /// profiled). One atomic load unless some model is.
    #[inline]
    pub(super) fn profiled(&'static self, model: Handle) -> bool {
        self.escapes.profiling.load(Ordering::Acquire)
            && self.escapes.state.lock().profiles.iter().any(|(m, _)| *m == model)
    }

    /// The model was unloaded: a later model at the same handle is not profiled.
    pub(super) fn profile_forget(&'static self, model: Handle) {
        if self.escapes.profiling.load(Ordering::Acquire) {
            let mut st = self.escapes.state.lock();
            st.profiles.retain(|(m, _)| *m != model);
            self.escapes.profiling.store(!st.profiles.is_empty(), Ordering::Release);
        }
    }
}

//! The engine's upkeep of its registries (the records are in src/registry.rs):
//! models described on first use, tensors allocated, sliced, attached and
//! freed (a free deferred while a pending request uses the tensor), and the
//! application's tensor sets.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::*;

impl<D: Device> Engine<D> {
    pub fn model(&'static self, handle: Handle) -> Result<Arc<ModelRecord>, Status> {
        if let Some(m) = self.models.get(handle) {
            return Ok(m);
        }
        let desc = self.device.describe_model(handle)?;
        if !self.tracks_core(desc.core) {
            let n = self.cores().len();
            log::error!("model {handle:#x} is on core {}, beyond the {n} the shim tracks", desc.core);
            return Err(NRT_INVALID);
        }
        let rec = Arc::new(ModelRecord {
            handle,
            id: self.next_model_id.fetch_add(1, Ordering::Relaxed),
            core: desc.core,
            inputs: desc.inputs,
            outputs: desc.outputs,
            last_use: AtomicU64::new(0),
        });
        self.models.insert(handle, rec.clone());
        Ok(rec)
    }

    /// Before the real nrt_unload: wait for the model's requests (then the
    /// spare versions they left idle are freed).
    pub fn unload(&'static self, handle: Handle) {
        if let Some(m) = self.models.remove(handle) {
            self.wait_done(m.core, m.last_request(), None, "unload", None);
            self.free_spares(false);
        }
        self.profile_forget(handle);
    }

    pub fn tensor(&'static self, handle: Handle) -> Result<Arc<TensorRecord>, Status> {
        if handle == 0 {
            return Err(NRT_INVALID);
        }
        self.tensors
            .get(handle)
            .ok_or_else(|| observe::reject(NRT_INVALID_HANDLE, format_args!("tensor {handle:#x} is unknown or freed")))
    }

    /// Records a tensor the runtime allocated.
    pub fn tensor_allocated(&'static self, handle: Handle, name: Option<Arc<str>>, core: Option<u32>, size: u64) {
        // A core the shim does not track (see `opened`): the runtime's calls
        // on the tensor go through untouched, as for host memory.
        let core = core.filter(|&c| self.tracks_core(c));
        let storage = Storage::new(core, size, core.is_none());
        self.tensors.insert(handle, TensorRecord::new(handle, name, Some(storage), 0, size));
    }

    pub fn tensor_allocated_empty(&'static self, handle: Handle, name: Option<Arc<str>>) {
        self.tensors.insert(handle, TensorRecord::new(handle, name, None, 0, 0));
    }

    pub fn slice_allocated(
        &'static self,
        handle: Handle,
        name: Option<Arc<str>>,
        source: &TensorView,
        offset: u64,
        size: u64,
    ) {
        if let Some(st) = source.storage.as_ref() {
            // Bytes seen through two handles are never renamed.
            st.sliced.store(true, Ordering::Release);
        }
        let rec = TensorRecord::new(handle, name, source.storage.clone(), source.offset + offset, size);
        self.tensors.insert(handle, rec);
    }

    /// Records a slice of tensor `source`, by handle; false (the slice is
    /// untracked) if the shim does not know the source.
    pub fn slice_of_allocated(
        &'static self,
        handle: Handle,
        name: Option<Arc<str>>,
        source: Handle,
        offset: u64,
        size: u64,
    ) -> bool {
        let Some(source) = self.tensors.get(source) else { return false };
        self.slice_allocated(handle, name, &source.view(), offset, size);
        true
    }

    /// nrt_tensor_attach_buffer succeeded: the tensor now views host memory
    /// the application owns.
    pub fn buffer_attached(&'static self, rec: &TensorRecord, size: u64) {
        self.release_versions(rec);
        *rec.storage.lock() = Some(Storage::new(None, size, true));
        rec.size.store(size, Ordering::Release);
    }

    /// The CPU address of the tensor is now known to the application.
    pub fn address_taken(&'static self, rec: &TensorRecord) {
        if let Some(s) = rec.storage.lock().as_ref() {
            s.host_visible.store(true, Ordering::Release);
        }
    }

    /// nrt_tensor_free: forget the handle now; free it now if nothing pending
    /// uses it, else when its last user completes.
    pub fn free_tensor(&'static self, handle: Handle) {
        let Some(rec) = self.tensors.remove(handle) else {
            if self.is_deferred(handle) {
                // The runtime still knows it (its free is deferred) and would
                // free it under the pending requests: the reference's answer.
                observe::reject(
                    NRT_INVALID_HANDLE,
                    format_args!("nrt_tensor_free: tensor {handle:#x} was already freed"),
                );
                return;
            }
            // Not ours to judge: the runtime says what a bad free is.
            self.device.free_tensor(handle);
            return;
        };
        self.release_versions(&rec);
        // A transfer names the tensor itself: the runtime's free waits for it.
        if let (Some(c), Some(st)) = (rec.core(), rec.storage.lock().clone()) {
            self.wait_no_transfers(c, None, Some(st.id));
        }
        if self.tensor_busy(&rec) {
            COUNTERS.add(Counter::DeferredFrees, 1);
            {
                let mut d = self.deferred.lock();
                d.push(rec);
                self.has_deferred.store(true, Ordering::Release);
            }
            self.thread.ensure(self);
            // Its last user may have completed since the check, with nobody
            // left to look at the list.
            self.run_deferred(false);
        } else {
            self.device.free_tensor(handle);
        }
    }

    pub(super) fn tensor_busy(&'static self, rec: &TensorRecord) -> bool {
        match rec.core() {
            Some(c) => rec.last_use.load(Ordering::Acquire) > self.core(c).completed.load(Ordering::Acquire),
            None => false,
        }
    }

    /// Whether a free is deferred or in progress.
    pub fn has_deferred_frees(&'static self) -> bool {
        self.has_deferred.load(Ordering::Acquire)
    }

    /// How many deferred frees have been carried out (see `deferred_done`).
    pub fn deferred_frees_done(&'static self) -> u64 {
        self.deferred_done.load(Ordering::Acquire)
    }

    /// The program freed this handle and its free is still deferred.
    pub(super) fn is_deferred(&'static self, handle: Handle) -> bool {
        self.has_deferred.load(Ordering::Acquire) && self.deferred.lock().iter().any(|r| r.handle == handle)
    }

    /// Carries out the deferred frees whose users completed (all of them
    /// after waiting, when `wait`). Returns once every free that was in
    /// progress in another thread is done too.
    #[inline]
    pub fn run_deferred(&'static self, wait: bool) {
        if self.has_deferred.load(Ordering::Acquire) {
            self.run_deferred_now(wait);
        }
    }

    #[inline(never)]
    fn run_deferred_now(&'static self, wait: bool) {
        if wait {
            self.wait_all(None, "deferred-free");
        }
        let mut d = self.deferred.lock();
        let mut freed = 0;
        let mut i = 0;
        while i < d.len() {
            if self.tensor_busy(&d[i]) {
                i += 1;
            } else {
                // Under the lock (see `deferred`); the runtime's free does not wait for the device.
                self.device.free_tensor(d.swap_remove(i).handle);
                freed += 1;
            }
        }
        if freed > 0 {
            self.deferred_done.fetch_add(freed, Ordering::AcqRel);
        }
        self.has_deferred.store(!d.is_empty(), Ordering::Release);
    }

    pub fn set_allocated(&'static self, handle: Handle) {
        self.sets.insert(handle, Arc::new(SetRecord { handle, contents: Mutex::new(SetContents::default()) }));
    }

    pub fn set_record(&'static self, handle: Handle) -> Result<Arc<SetRecord>, Status> {
        if handle == 0 {
            return Err(NRT_INVALID);
        }
        self.sets.get(handle).ok_or_else(|| {
            observe::reject(NRT_INVALID_HANDLE, format_args!("tensor set {handle:#x} is unknown or destroyed"))
        })
    }

    /// The runtime added `tensor` to the set under `name` (a set the shim
    /// does not know is not tracked).
    pub fn set_member_added(&'static self, set: Handle, name: &[u8], tensor: Handle) {
        if let Some(set) = self.sets.get(set) {
            set.contents.lock().put(name, tensor);
            // The thread-local lookups of executions (execute.rs) hold the old member.
            self.sets.touch();
        }
    }
}

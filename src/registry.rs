//! What the shim knows about the runtime's handles: tensors (and the storage
//! they view), tensor sets (the runtime cannot list a set's members, so the
//! shim records every add), and models (their core and declared tensors).
//!
//! Handles are the runtime's opaque pointers, kept as `usize`. Lookups go
//! through a sharded map, so threads working on different handles do not
//! serialise on one lock; nothing here calls the runtime.

use std::collections::HashMap;
use std::ffi::CString;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::sync::plain::{Mutex, RwLock, RwLockWriteGuard};

use crate::idhash::IdHasher;
use crate::status::NRT_INVALID;
use crate::tracker::{ByteRange, OpSeq, Status, StorageId};

/// A runtime handle (an opaque pointer).
pub type Handle = usize;

const SHARDS: usize = 16;

type PtrMap<T> = HashMap<Handle, Arc<T>, BuildHasherDefault<IdHasher>>;

/// A map from handle to record, split in shards.
pub struct Registry<T> {
    shards: Box<[RwLock<PtrMap<T>>]>,
    /// Bumped by every change of the map (and by [`touch`](Self::touch)), so
    /// that a lookup cached at one generation is known to hold while it lasts.
    generation: AtomicU64,
}

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Registry {
            shards: (0..SHARDS).map(|_| RwLock::new(PtrMap::default())).collect(),
            generation: AtomicU64::new(0),
        }
    }
}

impl<T> Registry<T> {
    fn shard(&self, h: Handle) -> &RwLock<PtrMap<T>> {
        &self.shards[(h >> 4) % SHARDS]
    }

    pub fn get(&self, h: Handle) -> Option<Arc<T>> {
        self.shard(h).read().get(&h).cloned()
    }

    /// Calls `f` on the record without cloning its Arc.
    pub fn with<R>(&self, h: Handle, f: impl FnOnce(&T) -> R) -> Option<R> {
        self.shard(h).read().get(&h).map(|r| f(r))
    }

    pub fn insert(&self, h: Handle, rec: Arc<T>) -> Option<Arc<T>> {
        let old = self.shard(h).write().insert(h, rec);
        self.touch();
        old
    }

    pub fn remove(&self, h: Handle) -> Option<Arc<T>> {
        let old = self.shard(h).write().remove(&h);
        self.touch();
        old
    }

    pub fn drain(&self) -> Vec<Arc<T>> {
        let all = self.shards.iter().flat_map(|s| s.write().drain().map(|(_, v)| v).collect::<Vec<_>>()).collect();
        self.touch();
        all
    }

    /// The map's generation (see `generation`).
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Ends every cached lookup: the map or a record's contents that a
    /// lookup depends on changed.
    pub fn touch(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Every record, at one moment (a slow path: it allocates).
    pub fn values(&self) -> Vec<Arc<T>> {
        self.shards.iter().flat_map(|s| s.read().values().cloned().collect::<Vec<_>>()).collect()
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Locks every shard (the fork prepare handler), until the guard goes.
    pub fn lock_all(&'static self) -> RegistryHeld<T> {
        RegistryHeld(self.shards.iter().map(|s| s.write()).collect(), &self.generation)
    }
}

/// Every shard of a registry, locked (see [`Registry::lock_all`]).
pub struct RegistryHeld<T: 'static>(Vec<RwLockWriteGuard<'static, PtrMap<T>>>, &'static AtomicU64);

impl<T> RegistryHeld<T> {
    /// In a forked child: forgets every record without dropping it (its
    /// memory stays as the parent's copy-on-write pages).
    pub fn forget_all(&mut self) {
        for shard in self.0.iter_mut() {
            std::mem::forget(std::mem::take(&mut **shard));
        }
        self.1.fetch_add(1, Ordering::AcqRel);
    }
}

/// Where a tensor's bytes live.
#[derive(Debug)]
pub struct Storage {
    pub id: StorageId,
    /// The core whose device memory this is; None for host memory (host or
    /// virtual placement, attached buffers), which only synchronous calls touch.
    pub core: Option<u32>,
    pub size: u64,
    /// Acceptance number (on `core`) of the newest request writing any byte of it.
    pub last_writer: AtomicU64,
    /// ... reading or writing any byte of it.
    pub last_user: AtomicU64,
    /// The application holds a CPU address of these bytes (nrt_tensor_get_va).
    pub host_visible: AtomicBool,
    /// The runtime tensor holding these bytes: 0 for the tensor's own handle,
    /// else a spare version the shim allocated (renaming, scheduler/rename.rs).
    pub phys: Handle,
    /// A slice views these bytes: a write through one handle must be seen
    /// through the others, so they are never renamed.
    pub sliced: AtomicBool,
}

static NEXT_STORAGE: AtomicU64 = AtomicU64::new(1);

impl Storage {
    pub fn new(core: Option<u32>, size: u64, host_visible: bool) -> Arc<Storage> {
        Arc::new(Storage {
            id: NEXT_STORAGE.fetch_add(1, Ordering::Relaxed),
            core,
            size,
            last_writer: AtomicU64::new(0),
            last_user: AtomicU64::new(0),
            host_visible: AtomicBool::new(host_visible),
            phys: 0,
            sliced: AtomicBool::new(false),
        })
    }

    /// The id the newest storage got (0: none yet).
    pub fn newest_id() -> StorageId {
        NEXT_STORAGE.load(Ordering::Relaxed) - 1
    }
    /// A spare version: device memory on `core` the shim allocated as runtime tensor `phys`.
    pub fn spare(core: u32, size: u64, phys: Handle) -> Arc<Storage> {
        Arc::new(Storage {
            id: NEXT_STORAGE.fetch_add(1, Ordering::Relaxed),
            core: Some(core),
            size,
            last_writer: AtomicU64::new(0),
            last_user: AtomicU64::new(0),
            host_visible: AtomicBool::new(false),
            phys,
            sliced: AtomicBool::new(false),
        })
    }

    /// The runtime handle holding these bytes, for a tensor whose own handle is `own`.
    #[inline]
    pub fn phys_for(&self, own: Handle) -> Handle {
        if self.phys == 0 {
            own
        } else {
            self.phys
        }
    }
}

/// A tensor's renamed versions (scheduler/rename.rs): the storage it was
/// allocated with (`home`, once renamed) and the spares it took.
#[derive(Debug, Default)]
pub struct Versions {
    pub home: Option<Arc<Storage>>,
    pub spares: Vec<Arc<Storage>>,
    /// The program saw the bytes outside the shim (address, allocation info,
    /// completion counts): never renamed again.
    pub pinned: bool,
}

#[derive(Debug)]
pub struct TensorRecord {
    pub handle: Handle,
    /// The name given at allocation, for stats and traces.
    pub name: Option<Arc<str>>,
    /// None for a tensor from nrt_tensor_allocate_empty with no buffer yet.
    pub storage: Mutex<Option<Arc<Storage>>>,
    /// Offset of the tensor's first byte in its storage (slices).
    pub offset: u64,
    pub size: AtomicU64,
    /// Acceptance number (on the storage's core) of the newest request using it.
    pub last_use: AtomicU64,
    /// Renaming's state; its lock orders the renames of this tensor.
    pub versions: Mutex<Versions>,
    /// An execution wrote it: the runtime counts its output completions on
    /// this handle, so its bytes must stay on it (never renamed).
    pub exec_output: AtomicBool,
}

/// A snapshot of a tensor's place, taken once per call.
#[derive(Clone, Debug)]
pub struct TensorView {
    pub name: Option<Arc<str>>,
    pub storage: Option<Arc<Storage>>,
    pub offset: u64,
    pub size: u64,
}

/// The parts of a tensor's place an execution checks, copied out (see
/// [`TensorRecord::place`]).
#[derive(Clone, Copy, Debug)]
pub struct TensorPlace {
    pub storage: Option<StorageId>,
    /// The storage's core (None: host memory, or no storage).
    pub core: Option<u32>,
    /// The application holds a CPU address of the storage.
    pub host_visible: bool,
    /// The runtime handle of a renamed version's bytes (0: the tensor's own).
    pub phys: Handle,
    pub offset: u64,
    pub size: u64,
}

impl TensorView {
    /// `size` bytes at `offset` of the tensor, checked against its size
    /// (overflow-safe): NRT_INVALID, logged, when they do not fit.
    #[inline]
    pub fn range(&self, offset: u64, size: u64) -> Result<ByteRange, Status> {
        match offset.checked_add(size) {
            Some(end) if end <= self.size => Ok(ByteRange::new(self.offset + offset, size)),
            _ => Err(crate::observe::reject(
                NRT_INVALID,
                format_args!("offset {offset} + size {size} is outside the tensor ({} bytes)", self.size),
            )),
        }
    }

    /// Every byte of the tensor.
    #[inline]
    pub fn whole(&self) -> ByteRange {
        ByteRange::new(self.offset, self.size)
    }

    /// The runtime tensor holding these bytes, for a tensor whose own handle is `own`.
    #[inline]
    pub fn phys(&self, own: Handle) -> Handle {
        self.storage.as_ref().map_or(own, |s| s.phys_for(own))
    }
}

impl TensorRecord {
    pub fn new(
        handle: Handle,
        name: Option<Arc<str>>,
        storage: Option<Arc<Storage>>,
        offset: u64,
        size: u64,
    ) -> Arc<TensorRecord> {
        Arc::new(TensorRecord {
            handle,
            name,
            storage: Mutex::new(storage),
            offset,
            size: AtomicU64::new(size),
            last_use: AtomicU64::new(0),
            versions: Mutex::new(Versions::default()),
            exec_output: AtomicBool::new(false),
        })
    }

    pub fn view(&self) -> TensorView {
        TensorView {
            name: self.name.clone(),
            storage: self.storage.lock().clone(),
            offset: self.offset,
            size: self.size.load(Ordering::Relaxed),
        }
    }

    /// Where the tensor's bytes are, read under one lock without cloning
    /// anything (the execute path's per-tensor checks).
    #[inline]
    pub fn place(&self) -> TensorPlace {
        let storage = self.storage.lock();
        let st = storage.as_ref();
        TensorPlace {
            storage: st.map(|s| s.id),
            core: st.and_then(|s| s.core),
            host_visible: st.is_some_and(|s| s.host_visible.load(Ordering::Acquire)),
            phys: st.map_or(0, |s| s.phys),
            offset: self.offset,
            size: self.size.load(Ordering::Relaxed),
        }
    }

    /// The device core, if the tensor is device memory.
    pub fn core(&self) -> Option<u32> {
        self.storage.lock().as_ref().and_then(|s| s.core)
    }
}

/// A runtime tensor set owned by the shim, holding exactly one model's tensors
/// for one role. Scheduled requests use these, never the application's sets,
/// so the application may change or destroy its sets as soon as a call returns.
/// While a pending request holds an Arc to it, its contents do not change.
#[derive(Debug)]
pub struct Mirror {
    pub set: Handle,
    pub model: Handle,
    /// Holds the model's outputs (else its inputs): one application set may
    /// serve as both, with the same tensors under different names.
    pub outputs: bool,
    pub tensors: Vec<Handle>,
}

#[derive(Debug, Default)]
pub struct SetContents {
    /// name -> tensor, in the order first added.
    pub entries: Vec<(CString, Handle)>,
    pub mirrors: Vec<Arc<Mirror>>,
}

impl SetContents {
    pub fn get(&self, name: &CString) -> Option<Handle> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, t)| *t)
    }

    pub fn put(&mut self, name: &[u8], tensor: Handle) {
        match self.entries.iter_mut().find(|(n, _)| n.as_bytes() == name) {
            Some(e) => e.1 = tensor,
            None => {
                if let Ok(n) = CString::new(name) {
                    self.entries.push((n, tensor));
                }
            }
        }
    }
}

#[derive(Debug)]
pub struct SetRecord {
    pub handle: Handle,
    pub contents: Mutex<SetContents>,
}

/// A declared input or output of a model.
#[derive(Debug, Clone)]
pub struct ModelTensor {
    pub name: CString,
    pub size: u64,
}

#[derive(Debug)]
pub struct ModelRecord {
    pub handle: Handle,
    /// The id given to the legacy callback (the shim's own numbering, from 1).
    pub id: u32,
    pub core: u32,
    pub inputs: Vec<ModelTensor>,
    pub outputs: Vec<ModelTensor>,
    /// Acceptance number (on `core`) of its newest request.
    pub last_use: AtomicU64,
}

impl ModelRecord {
    pub fn last_request(&self) -> OpSeq {
        self.last_use.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_insert_get_remove() {
        let r: Registry<u32> = Registry::default();
        for h in (0x1000..0x2000).step_by(16) {
            r.insert(h, Arc::new(h as u32));
        }
        assert_eq!(r.len(), 256);
        assert_eq!(*r.get(0x1010).unwrap(), 0x1010);
        assert_eq!(r.with(0x1020, |v| *v + 1), Some(0x1021));
        assert!(r.remove(0x1010).is_some());
        assert!(r.get(0x1010).is_none());
        assert_eq!(r.drain().len(), 255);
        assert!(r.is_empty());
    }

    #[test]
    fn set_contents_replace_by_name() {
        let mut s = SetContents::default();
        s.put(b"a", 1);
        s.put(b"b", 2);
        s.put(b"a", 3);
        assert_eq!(s.entries.len(), 2);
        assert_eq!(s.get(&CString::new("a").unwrap()), Some(3));
        assert_eq!(s.get(&CString::new("c").unwrap()), None);
    }

    #[test]
    fn storages_get_distinct_ids() {
        let a = Storage::new(Some(0), 10, false);
        let b = Storage::new(None, 10, true);
        assert_ne!(a.id, b.id);
    }
}

//! The scheduler: per-core in-flight windows, submission in acceptance order,
//! completion in order, waiting callers, failure routing, deferred frees.
//!
//! Safe Rust over the [`Device`] trait: the backend implements it on the real
//! runtime; the tests below implement it with a fake. The synchronous runtime
//! calls an export forwards (read, write, ...) are passed in as closures, so
//! this module decides *when* they may run and never calls C itself.

mod completion;
mod doorbell;
mod gate;
pub mod queue;

use std::cell::RefCell;
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::sync::plain::{Condvar, Mutex, MutexGuard};

use crate::config::{Config, Mode};
use crate::observe::{self, Counter, COUNTERS};
use crate::registry::{
    Handle, Mirror, ModelRecord, ModelTensor, Registry, RegistryHeld, SetContents, SetRecord, Storage, TensorRecord,
    TensorView,
};
use crate::status::{
    NRT_CLOSED, NRT_EXEC_UNIT_UNRECOVERABLE, NRT_INVALID, NRT_INVALID_HANDLE, NRT_SUCCESS, NRT_TIMEOUT,
    NRT_UNINITIALIZED,
};
use crate::tracker::{AccessKind, ByteRange, OpSeq, Status, StorageRange};
pub use queue::{CoreQueue, SubmitOutcome};

/// Status slots per core: at least the deepest window.
const SLOTS: usize = crate::config::MAX_INFLIGHT_CAP;

/// A model as the runtime describes it.
#[derive(Debug, Clone)]
pub struct ModelDesc {
    pub core: u32,
    pub inputs: Vec<ModelTensor>,
    pub outputs: Vec<ModelTensor>,
}

/// What the scheduler needs from the runtime's async side.
pub trait Device: Send + Sync + 'static {
    /// nrta_execute_schedule on the model's core. `status_slot` stays valid
    /// (and untouched by the shim) until the request completes.
    fn schedule(
        &self,
        core: u32,
        model: Handle,
        input: Handle,
        output: Handle,
        status_slot: &AtomicU32,
    ) -> SubmitOutcome;
    fn is_completed(&self, device_seq: u64) -> Result<bool, Status>;
    /// The status of a completed request.
    fn status_of(&self, core: u32, device_seq: u64, status_slot: &AtomicU32) -> Status;
    /// Blocks until one of these requests may have completed, a wake-up, or
    /// the timeout. `attempt` counts the waits since the last progress.
    fn wait_any(&self, device_seqs: &[u64], attempt: u32);
    /// Ends a wait_any early.
    fn wake(&self);
    /// Whether [`wait_for`](Self::wait_for) works: an application thread can
    /// be woken by the runtime itself when a request completes.
    fn can_wait_for(&self) -> bool {
        false
    }
    /// Blocks the calling thread until request `device_seq` may have
    /// completed, or the timeout (spurious returns are allowed). False: it
    /// could not wait (the runtime refused the registration), so the caller
    /// must wait some other way rather than call it again at once.
    fn wait_for(&self, _device_seq: u64, _timeout: Duration) -> bool {
        false
    }
    /// All work is done and the runtime is about to close: forget the
    /// runtime objects the device created for itself.
    fn closed(&self) {}
    /// nrt_init succeeded; the shim tracks cores `0..ncores` (the same count
    /// after every init of the process).
    fn opened(&self, _ncores: u32) {}
    /// pthread_atfork prepare, after the engine's own locks: take the device's.
    fn before_fork(&'static self) {}
    /// pthread_atfork parent / child: release them; in the child, forget the
    /// parent's runtime objects (the child's runtime starts afresh).
    fn after_fork(&'static self, _child: bool) {}
    fn describe_model(&self, model: Handle) -> Result<ModelDesc, Status>;
    fn allocate_set(&self) -> Result<Handle, Status>;
    fn add_to_set(&self, set: Handle, name: &CString, tensor: Handle) -> Status;
    fn destroy_set(&self, set: Handle);
    fn free_tensor(&self, tensor: Handle);
    /// Starts a named thread with every signal blocked.
    fn spawn(&self, name: &str, f: Box<dyn FnOnce() + Send>) -> bool;
}

/// The legacy callback: (params, model id, core, job id, status).
#[derive(Clone, Copy)]
pub struct Callback {
    pub call: fn(usize, usize, u32, u32, u64, Status),
    pub raw: usize,
    pub params: usize,
}

/// What a pending request carries for the engine.
#[derive(Debug)]
pub struct OpPayload {
    model: Arc<ModelRecord>,
    /// The shim's sets it runs on (None: a host execution, run on the
    /// application's own sets by its synchronous call).
    sets: Option<(Arc<Mirror>, Arc<Mirror>)>,
}

struct Core {
    q: Mutex<CoreQueue<OpPayload>>,
    cv: Condvar,
    /// Mirror of the queue's completed_upto, for lock-free fast paths.
    completed: AtomicU64,
    /// Mirror of "the tracker holds poison marks".
    poisoned: AtomicBool,
    slots: Box<[AtomicU32]>,
    /// Held by the one thread retiring this core's completions (the
    /// completion thread or a waiting application thread).
    gate: gate::RetireGate,
}

impl Core {
    fn new(depth: usize) -> Core {
        Core {
            q: Mutex::new(CoreQueue::new(depth)),
            cv: Condvar::new(),
            completed: AtomicU64::new(0),
            poisoned: AtomicBool::new(false),
            slots: (0..SLOTS).map(|_| AtomicU32::new(0)).collect(),
            gate: gate::RetireGate::default(),
        }
    }

    fn slot(&self, seq: OpSeq) -> &AtomicU32 {
        &self.slots[(seq as usize) % SLOTS]
    }
}

/// The longest a directly waiting thread sleeps before it looks again.
const DIRECT_WAIT_SLICE: Duration = Duration::from_millis(50);

/// The runtime's state as the shim saw it (an atomic: every call reads it).
const UNINITIALIZED: u8 = 0;
const OPEN: u8 = 1;
const CLOSED: u8 = 2;

/// Per-thread scratch space, so a call allocates nothing in steady state.
#[derive(Default)]
struct Scratch {
    accesses: Vec<StorageRange>,
    tensors: Vec<(Arc<TensorRecord>, AccessKind)>,
    in_handles: Vec<Handle>,
    out_handles: Vec<Handle>,
}

impl Scratch {
    fn clear(&mut self) {
        self.accesses.clear();
        self.tensors.clear();
        self.in_handles.clear();
        self.out_handles.clear();
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

pub struct Engine<D: Device> {
    pub device: D,
    pub config: Config,
    /// One per core of the runtime, sized by the first nrt_init's core count
    /// and kept for the process (later inits and forked children reuse it).
    cores: OnceLock<Box<[Core]>>,
    pub tensors: Registry<TensorRecord>,
    pub sets: Registry<SetRecord>,
    pub models: Registry<ModelRecord>,
    state: AtomicU8,
    ncores: AtomicU32,
    next_model_id: AtomicU32,
    callback: Mutex<Option<Callback>>,
    has_callback: AtomicBool,
    /// Tensors freed by the application while requests still used them. The
    /// runtime's frees run under this lock, so a free in progress still
    /// counts as pending: whoever takes the lock after it finds it done.
    deferred: Mutex<Vec<Arc<TensorRecord>>>,
    /// True from a deferral until its free is done.
    has_deferred: AtomicBool,
    /// Deferred frees carried out so far (an allocation that failed before
    /// one of them ended must retry).
    deferred_done: AtomicU64,
    /// Mirrors of destroyed sets, destroyed when no request holds them.
    orphans: Mutex<Vec<Arc<Mirror>>>,
    has_orphans: AtomicBool,
    thread: completion::ThreadControl,
}

/// How a tensor takes part in an execution.
enum Placement {
    Device(u32),
    /// Host memory (or no storage): only the synchronous nrt_execute takes it.
    Host,
}

impl<D: Device> Engine<D> {
    pub fn new(device: D, config: Config) -> Self {
        Engine {
            device,
            config,
            cores: OnceLock::new(),
            tensors: Registry::default(),
            sets: Registry::default(),
            models: Registry::default(),
            state: AtomicU8::new(UNINITIALIZED),
            ncores: AtomicU32::new(0),
            next_model_id: AtomicU32::new(1),
            callback: Mutex::new(None),
            has_callback: AtomicBool::new(false),
            deferred: Mutex::new(Vec::new()),
            has_deferred: AtomicBool::new(false),
            deferred_done: AtomicU64::new(0),
            orphans: Mutex::new(Vec::new()),
            has_orphans: AtomicBool::new(false),
            thread: completion::ThreadControl::default(),
        }
    }

    // ---- lifecycle ------------------------------------------------------

    /// The runtime's state check every call makes first.
    pub fn check_open(&'static self) -> Result<(), Status> {
        match self.state.load(Ordering::Acquire) {
            OPEN => Ok(()),
            UNINITIALIZED => Err(observe::reject(
                NRT_UNINITIALIZED,
                format_args!("the runtime is not initialized (call nrt_init first)"),
            )),
            _ => Err(observe::reject(NRT_CLOSED, format_args!("the runtime is closed (nrt_close was called)"))),
        }
    }

    pub fn is_open(&'static self) -> bool {
        self.state.load(Ordering::Acquire) == OPEN
    }

    /// The real nrt_init succeeded, with `ncores` cores. The first one sizes
    /// the per-core state; a later one that reports more cores (the runtime's
    /// set of visible cores grew between nrt_close and nrt_init) keeps the
    /// shim to the cores it has, with one error line: requests for the others
    /// get NRT_INVALID, their tensors bypass the shim's tracking.
    pub fn opened(&'static self, ncores: u32) {
        let depth = self.config.max_inflight;
        let table = self.cores.get_or_init(|| (0..ncores.max(1)).map(|_| Core::new(depth)).collect());
        if ncores as usize > table.len() {
            log::error!(
                "the runtime reports {ncores} cores, the shim tracks the {} it saw at the first nrt_init; \
                 executions on the others return NRT_INVALID",
                table.len()
            );
        }
        self.device.opened(table.len() as u32);
        self.ncores.store(ncores.min(table.len() as u32), Ordering::Release);
        self.state.store(OPEN, Ordering::Release);
    }

    /// Every core's state (none before the first nrt_init).
    fn cores(&'static self) -> &'static [Core] {
        self.cores.get().map_or(&[], |t| t)
    }

    /// Whether the shim tracks core `c` (every core the runtime reported at
    /// the first nrt_init).
    pub fn tracks_core(&'static self, c: u32) -> bool {
        (c as usize) < self.cores().len()
    }

    pub fn ncores(&'static self) -> u32 {
        self.ncores.load(Ordering::Acquire)
    }

    /// Before the real nrt_close: finish all work, stop the thread, release
    /// the shim's own runtime objects, forget every handle.
    pub fn close(&'static self) {
        if !self.is_open() {
            return;
        }
        self.wait_all(None, "nrt_close");
        self.thread.stop(&self.device, Duration::from_secs(5));
        self.run_deferred(true);
        for set in self.sets.drain() {
            let mirrors = std::mem::take(&mut set.contents.lock().mirrors);
            self.orphans.lock().extend(mirrors);
        }
        self.has_orphans.store(true, Ordering::Release);
        self.sweep_orphans();
        self.tensors.drain();
        self.models.drain();
        // The runtime forgets the callback at nrt_close; so does the shim.
        self.set_callback(None);
        self.device.closed();
        for core in self.cores().iter() {
            let mut q = core.q.lock();
            *q = CoreQueue::new(self.config.max_inflight);
            core.completed.store(0, Ordering::Release);
            core.poisoned.store(false, Ordering::Release);
        }
        self.state.store(CLOSED, Ordering::Release);
    }

    /// At exit: give in-flight work a bounded time, then stop the thread.
    pub fn shutdown_at_exit(&'static self, timeout: Duration) {
        if self.is_open() {
            self.wait_all(Some(Instant::now() + timeout), "exit");
        }
        self.thread.stop(&self.device, Duration::from_millis(500));
    }

    /// Waits until every request accepted so far on every core completed.
    /// Returns false if the deadline passed first.
    pub fn wait_all(&'static self, deadline: Option<Instant>, why: &'static str) -> bool {
        let n = self.ncores() as usize;
        for (c, core) in self.cores().iter().enumerate().take(n) {
            let last = core.q.lock().last_accepted();
            if !self.wait_done(c as u32, last, deadline, why, None) {
                return false;
            }
        }
        true
    }

    fn core(&'static self, c: u32) -> &'static Core {
        &self.cores()[c as usize]
    }

    // ---- callbacks --------------------------------------------------------

    pub fn set_callback(&'static self, cb: Option<Callback>) {
        *self.callback.lock() = cb;
        self.has_callback.store(cb.is_some(), Ordering::Release);
    }

    // ---- models -------------------------------------------------------------

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

    /// Before the real nrt_unload: wait for the model's requests.
    pub fn unload(&'static self, handle: Handle) {
        if let Some(m) = self.models.remove(handle) {
            self.wait_done(m.core, m.last_request(), None, "unload", None);
        }
    }

    // ---- tensors ---------------------------------------------------------

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

    fn tensor_busy(&'static self, rec: &TensorRecord) -> bool {
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
    fn is_deferred(&'static self, handle: Handle) -> bool {
        self.has_deferred.load(Ordering::Acquire) && self.deferred.lock().iter().any(|r| r.handle == handle)
    }

    /// Carries out the deferred frees whose users completed (all of them
    /// after waiting, when `wait`). Returns once every free that was in
    /// progress in another thread is done too.
    pub fn run_deferred(&'static self, wait: bool) {
        if !self.has_deferred.load(Ordering::Acquire) {
            return;
        }
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

    // ---- tensor sets -----------------------------------------------------

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
        }
    }

    /// Before the real nrt_destroy_tensor_set: the shim's mirrors of it go
    /// when no pending request holds them.
    pub fn set_destroyed(&'static self, handle: Handle) {
        if let Some(set) = self.sets.remove(handle) {
            let mirrors = std::mem::take(&mut set.contents.lock().mirrors);
            if !mirrors.is_empty() {
                self.orphans.lock().extend(mirrors);
                self.has_orphans.store(true, Ordering::Release);
                self.sweep_orphans();
            }
        }
    }

    fn sweep_orphans(&'static self) {
        if !self.has_orphans.load(Ordering::Acquire) {
            return;
        }
        let free: Vec<Arc<Mirror>> = {
            let mut o = self.orphans.lock();
            let (free, held): (Vec<_>, Vec<_>) = o.drain(..).partition(|m| Arc::strong_count(m) == 1);
            *o = held;
            self.has_orphans.store(!o.is_empty(), Ordering::Release);
            free
        };
        for m in free {
            self.device.destroy_set(m.set);
        }
    }

    /// A runtime set holding `tensors` under the model's names for one role,
    /// unchanged while requests use it.
    fn mirror(
        &'static self,
        set: &SetRecord,
        model: &ModelRecord,
        outputs: bool,
        tensors: &[Handle],
    ) -> Result<Arc<Mirror>, Status> {
        let names = if outputs { &model.outputs } else { &model.inputs };
        let same_use = |m: &Arc<Mirror>| m.model == model.handle && m.outputs == outputs;
        let mut spare = {
            let mut c = set.contents.lock();
            if let Some(m) = c.mirrors.iter().find(|m| same_use(m) && m.tensors == tensors) {
                return Ok(m.clone());
            }
            // One no request holds can be rewritten in place.
            c.mirrors.iter().position(|m| same_use(m) && Arc::strong_count(m) == 1).map(|i| c.mirrors.swap_remove(i))
        };
        let mirror = match spare.as_mut().and_then(Arc::get_mut) {
            Some(m) => {
                for (i, name) in names.iter().enumerate() {
                    if m.tensors[i] != tensors[i] {
                        let st = self.device.add_to_set(m.set, &name.name, tensors[i]);
                        if st != NRT_SUCCESS {
                            return Err(st);
                        }
                        m.tensors[i] = tensors[i];
                    }
                }
                spare.unwrap()
            }
            None => {
                COUNTERS.add(Counter::MirrorSets, 1);
                let h = self.device.allocate_set()?;
                for (i, name) in names.iter().enumerate() {
                    let st = self.device.add_to_set(h, &name.name, tensors[i]);
                    if st != NRT_SUCCESS {
                        self.device.destroy_set(h);
                        return Err(st);
                    }
                }
                Arc::new(Mirror { set: h, model: model.handle, outputs, tensors: tensors.to_vec() })
            }
        };
        let mut c = set.contents.lock();
        c.mirrors.push(mirror.clone());
        // Keep a handful: a set whose contents keep changing must not grow without bound.
        if c.mirrors.len() > 8 {
            if let Some(i) = c.mirrors.iter().position(|m| Arc::strong_count(m) == 1) {
                let old = c.mirrors.swap_remove(i);
                drop(c);
                self.device.destroy_set(old.set);
            }
        }
        Ok(mirror)
    }

    // ---- waiting -----------------------------------------------------------

    /// Waits until request `seq` of core `c` completed (or the deadline);
    /// the wait is attributed to `why` and `tensor` in the stats.
    pub fn wait_done(
        &'static self,
        c: u32,
        seq: OpSeq,
        deadline: Option<Instant>,
        why: &'static str,
        tensor: Option<&Arc<str>>,
    ) -> bool {
        let core = self.core(c);
        if core.completed.load(Ordering::Acquire) >= seq {
            return true;
        }
        let started = Instant::now();
        // `completed` is published (under the core's lock) only after the
        // request's callback ran, so a drain never returns ahead of its callbacks.
        let done = self.block_on_core(c, deadline, |_| core.completed.load(Ordering::Acquire) >= seq);
        let ns = started.elapsed().as_nanos() as u64;
        COUNTERS.add(Counter::BlockedNanos, ns);
        if let Some(o) = observe::get() {
            o.waited(c, Some(seq), why, tensor, ns);
        }
        done
    }

    /// Blocks until `ready` holds for core `c` (checked under its lock) or
    /// the deadline; returns whether it holds. Without a legacy callback, and
    /// when the runtime can wake this thread itself, the thread retires the
    /// core's completions on its own instead of waiting for the completion
    /// thread to do it and wake it: one wake-up less per wait.
    fn block_on_core(
        &'static self,
        c: u32,
        deadline: Option<Instant>,
        ready: impl Fn(&CoreQueue<OpPayload>) -> bool,
    ) -> bool {
        let core = self.core(c);
        self.thread.ensure(self);
        loop {
            let direct =
                self.config.direct_wait && self.device.can_wait_for() && !self.has_callback.load(Ordering::Acquire);
            if !direct {
                let mut q = core.q.lock();
                while !ready(&q) {
                    match deadline {
                        Some(d) => {
                            let (next, r) = core.cv.wait_until(q, d);
                            q = next;
                            if r.timed_out() {
                                return ready(&q);
                            }
                        }
                        None => q = core.cv.wait(q),
                    }
                    // A callback registered meanwhile changes nothing here.
                }
                return true;
            }
            let waiting = completion::retire_completed(self, c, true).and_then(|(_, w)| w);
            let mut q = core.q.lock();
            if ready(&q) {
                return true;
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return false;
            }
            // Bounded, so that a wake-up lost to a race costs a delay, never a hang.
            let limit = deadline.map_or(DIRECT_WAIT_SLICE, |d| (d - now).min(DIRECT_WAIT_SLICE));
            if let Some(device_seq) = waiting {
                drop(q);
                if self.device.wait_for(device_seq, limit) {
                    continue;
                }
                q = core.q.lock();
                if ready(&q) {
                    return true;
                }
            }
            // Nothing of ours on the device (another thread is retiring, or
            // the head is not submitted yet), or the runtime refused to signal
            // this thread: whoever retires notifies.
            drop(core.cv.wait_for(q, limit.min(Duration::from_millis(1))));
        }
    }

    /// Waits for the pending requests that conflict with `accesses` (all on
    /// core `c`). Returns false on timeout.
    fn wait_conflicts(
        &'static self,
        c: u32,
        accesses: &[StorageRange],
        deadline: Option<Instant>,
        tensor: Option<&Arc<str>>,
    ) -> bool {
        let conflict = self.core(c).q.lock().latest_conflict(accesses);
        match conflict {
            Some(conf) => {
                COUNTERS.hazard(conf.hazard);
                self.wait_done(c, conf.op, deadline, conf.hazard.name(), tensor)
            }
            None => true,
        }
    }

    // ---- host-side tensor calls ---------------------------------------------

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
        let last = match kind {
            AccessKind::Read => storage.last_writer.load(Ordering::Acquire),
            AccessKind::Write => storage.last_user.load(Ordering::Acquire),
        };
        // Fast path: nothing pending touches this storage.
        last <= self.core(c).completed.load(Ordering::Acquire)
            || self.wait_conflicts(
                c,
                &[StorageRange { storage: storage.id, range, kind }],
                deadline,
                view.name.as_ref(),
            )
    }

    /// Makes a host access to a tensor's bytes safe: waits for what it must,
    /// reports a pending failure of the request that produced the bytes (for
    /// reads), then runs `call` (the real runtime call). `deadline`: give up
    /// with NRT_TIMEOUT.
    pub fn host_access(
        &'static self,
        view: &TensorView,
        range: ByteRange,
        kind: AccessKind,
        deadline: Option<Instant>,
        call: impl FnOnce() -> Status,
    ) -> Status {
        if !self.wait_pending(view, range, kind, deadline) {
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
    fn failure_in(&'static self, view: &TensorView, range: ByteRange) -> Option<Status> {
        let storage = view.storage.as_ref()?;
        let core = self.core(storage.core?);
        if !core.poisoned.load(Ordering::Acquire) {
            return None;
        }
        core.q.lock().failure_in(storage.id, range)
    }

    /// The program wrote these bytes: they no longer hold a failed request's output.
    fn host_wrote(&'static self, view: &TensorView, range: ByteRange) {
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

    // ---- execution -----------------------------------------------------------

    /// nrt_execute / nrt_execute_repeat. `run_sync` is the runtime's own
    /// synchronous execution, for requests the async path cannot take.
    pub fn execute(
        &'static self,
        model: Handle,
        input: Handle,
        output: Handle,
        repeat: u32,
        run_sync: impl FnOnce() -> Status,
    ) -> Status {
        match self.execute_inner(model, input, output, repeat, run_sync) {
            Ok(st) | Err(st) => st,
        }
    }

    fn execute_inner(
        &'static self,
        model: Handle,
        input: Handle,
        output: Handle,
        repeat: u32,
        run_sync: impl FnOnce() -> Status,
    ) -> Result<Status, Status> {
        self.check_open()?;
        for (h, what) in [(model, "model"), (input, "input set"), (output, "output set")] {
            if h == 0 {
                return Err(observe::reject(NRT_INVALID, format_args!("{what} is NULL")));
            }
        }
        let m = self.model(model)?;
        let in_set = self.set_record(input)?;
        let out_set = self.set_record(output)?;
        crate::scratch::with(&SCRATCH, |s| {
            s.clear();
            let r = self.execute_with(s, &m, &in_set, &out_set, repeat, run_sync);
            // Release the records now (a freed tensor's must not wait for this
            // thread's next call); keep the capacity.
            s.clear();
            r
        })
    }

    fn execute_with(
        &'static self,
        s: &mut Scratch,
        m: &Arc<ModelRecord>,
        in_set: &Arc<SetRecord>,
        out_set: &Arc<SetRecord>,
        repeat: u32,
        run_sync: impl FnOnce() -> Status,
    ) -> Result<Status, Status> {
        // The runtime's order: first the handles of every named tensor
        // (NRT_INVALID_HANDLE), then presence, size, placement and core
        // (NRT_INVALID), so that a program gets the status it got before.
        let decls = [(&in_set, &m.inputs, AccessKind::Read), (&out_set, &m.outputs, AccessKind::Write)];
        let mut missing = None;
        for (set, decl, kind) in decls {
            let contents = set.contents.lock();
            for t in decl.iter() {
                match contents.get(&t.name) {
                    Some(h) => {
                        s.tensors.push((self.tensor(h)?, kind));
                        match kind {
                            AccessKind::Read => s.in_handles.push(h),
                            AccessKind::Write => s.out_handles.push(h),
                        }
                    }
                    None => missing = missing.or(Some((&t.name, kind))),
                }
            }
        }
        if let Some((name, kind)) = missing {
            let (role, name) = (role(kind), name.to_string_lossy());
            return Err(observe::reject(NRT_INVALID, format_args!("the {role} set has no tensor named '{name}'")));
        }
        let mut host = false;
        let decls = m.inputs.iter().chain(m.outputs.iter());
        for (t, (rec, kind)) in decls.zip(s.tensors.iter()) {
            let view = rec.view();
            if view.size != t.size {
                let (name, size) = (t.name.to_string_lossy(), view.size);
                return Err(observe::reject(
                    NRT_INVALID,
                    format_args!("tensor '{name}' has {size} bytes, the model declares {}", t.size),
                ));
            }
            match placement(&view) {
                Placement::Device(c) if c != m.core => {
                    let name = t.name.to_string_lossy();
                    return Err(observe::reject(
                        NRT_INVALID,
                        format_args!("tensor '{name}' is on core {c}, the model on core {}", m.core),
                    ));
                }
                Placement::Device(_) => {}
                Placement::Host => host = true,
            }
            if let Some(st) = view.storage.as_ref().filter(|s| s.core.is_some()) {
                s.accesses.push(StorageRange {
                    storage: st.id,
                    range: ByteRange::new(view.offset, view.size),
                    kind: *kind,
                });
            }
        }
        if host {
            return self.execute_on_host(m, &s.accesses, &s.tensors, run_sync);
        }
        let visible = !self.config.trust_host_memory
            && s.tensors
                .iter()
                .any(|(t, _)| t.storage.lock().as_ref().is_some_and(|st| st.host_visible.load(Ordering::Acquire)));
        let input = self.mirror(in_set, m, false, &s.in_handles)?;
        let output = self.mirror(out_set, m, true, &s.out_handles)?;
        let mut last = 0;
        for _ in 0..repeat.max(1) {
            last = self.accept(m, &s.accesses, &s.tensors, Some((&input, &output)))?;
            // Submit as we go: a repeat count above the window must not
            // wait for room that only submitted requests can make.
            self.pump(m.core);
        }
        if self.config.mode == Mode::Sync || visible {
            // Memory the application can touch directly cannot be watched:
            // the request completes before the call returns.
            self.wait_done(m.core, last, None, "completes-before-return", None);
            let mut q = self.core(m.core).q.lock();
            if let Some(st) = q.take_failure_by_id(last) {
                return Ok(st);
            }
        }
        Ok(NRT_SUCCESS)
    }

    /// A request with host tensors: the runtime's async paths refuse them, so
    /// it runs through the synchronous nrt_execute. It is accepted like any
    /// request (a window slot, a job number, a callback in its place) and
    /// goes to the runtime in acceptance order: after every earlier request of
    /// the core reached the runtime and completed (its hazards), before any
    /// later one. Without a callback its status is returned here (that is its
    /// report); with one, the callback carries it and this returns success.
    fn execute_on_host(
        &'static self,
        m: &Arc<ModelRecord>,
        accesses: &[StorageRange],
        tensors: &[(Arc<TensorRecord>, AccessKind)],
        run_sync: impl FnOnce() -> Status,
    ) -> Result<Status, Status> {
        COUNTERS.add(Counter::HostExecutions, 1);
        let c = m.core;
        let core = self.core(c);
        let seq = self.accept(m, accesses, tensors, None)?;
        self.pump(c);
        loop {
            let mut q = core.q.lock();
            if q.host_turn(seq) {
                q.begin_host(seq);
                break;
            }
            drop(q);
            self.block_on_core(c, None, |q| q.host_turn(seq));
        }
        if let Some(o) = observe::get() {
            o.submitted(c, seq);
        }
        self.wait_done(c, seq - 1, None, "host-execution", None);
        let st = run_sync();
        core.q.lock().end_host(seq, st);
        self.thread.ensure(self);
        self.thread.kick(&self.device, true);
        self.pump(c);
        // Retired (its callback run, its outputs marked) before it returns.
        self.wait_done(c, seq, None, "host-execution", None);
        Ok(if self.has_callback.load(Ordering::Acquire) { NRT_SUCCESS } else { st })
    }

    /// Accepts one request into its core's window (waiting for room).
    /// `sets`: the shim's input and output sets (None: a host execution).
    fn accept(
        &'static self,
        m: &Arc<ModelRecord>,
        accesses: &[StorageRange],
        tensors: &[(Arc<TensorRecord>, AccessKind)],
        sets: Option<(&Arc<Mirror>, &Arc<Mirror>)>,
    ) -> Result<OpSeq, Status> {
        let core = self.core(m.core);
        let mut q = core.q.lock();
        if !q.has_room() && !q.is_dead() {
            let started = Instant::now();
            while !q.has_room() && !q.is_dead() {
                drop(q);
                self.block_on_core(m.core, None, |q| q.has_room() || q.is_dead());
                q = core.q.lock();
            }
            let ns = started.elapsed().as_nanos() as u64;
            COUNTERS.add(Counter::BlockedNanos, ns);
            COUNTERS.add(Counter::WindowFullWaits, 1);
            if let Some(o) = observe::get() {
                o.waited(m.core, None, "window-full", None, ns);
            }
        }
        if let Some(o) = observe::get() {
            o.accepted(q.outstanding());
        }
        if q.is_dead() {
            log::error!(
                "core {}: the compute unit is unrecoverable (NRT_EXEC_UNIT_UNRECOVERABLE); restart the process",
                m.core
            );
            return Err(NRT_EXEC_UNIT_UNRECOVERABLE);
        }
        let mut buf = q.access_buffer();
        buf.extend_from_slice(accesses);
        let payload = OpPayload { model: m.clone(), sets: sets.map(|(i, o)| (i.clone(), o.clone())) };
        let host = payload.sets.is_none();
        let seq = if host { q.admit_host(buf, payload) } else { q.admit(buf, payload) };
        // Publish for the lock-free fast paths of later host calls.
        m.last_use.store(seq, Ordering::Release);
        for (t, kind) in tensors {
            t.last_use.store(seq, Ordering::Release);
            if let Some(st) = t.storage.lock().as_ref() {
                st.last_user.store(seq, Ordering::Release);
                if *kind == AccessKind::Write {
                    st.last_writer.store(seq, Ordering::Release);
                }
            }
        }
        COUNTERS.add(Counter::Executions, 1);
        Ok(seq)
    }

    /// Hands accepted requests of core `c` to the runtime, in order, outside
    /// the core's lock. Whichever thread finds no submission in progress does it.
    fn pump(&'static self, c: u32) {
        let core = self.core(c);
        let mut submitted_any = false;
        let mut was_idle = false;
        loop {
            let (seq, model, input, output) = {
                let mut q = core.q.lock();
                if !submitted_any {
                    was_idle = !q.has_device_work();
                }
                let Some(op) = q.begin_submit() else { break };
                let (input, output) = op.payload.sets.as_ref().map_or((0, 0), |(i, o)| (i.set, o.set));
                (op.seq, op.payload.model.handle, input, output)
            };
            let outcome = self.device.schedule(c, model, input, output, core.slot(seq));
            if let Some(o) = observe::get() {
                o.submitted(c, seq);
            }
            if outcome == SubmitOutcome::QueueFull {
                COUNTERS.add(Counter::QueueFull, 1);
            }
            if let SubmitOutcome::Refused(st) = outcome {
                if st == NRT_EXEC_UNIT_UNRECOVERABLE {
                    log::error!("core {c}: the runtime reports NRT_EXEC_UNIT_UNRECOVERABLE; restart the process");
                } else {
                    log::warn!("core {c}: the runtime refused a request: status {st}");
                }
            }
            let host_waiting = {
                let mut q = core.q.lock();
                q.end_submit(seq, outcome);
                q.has_host_waiting()
            };
            if host_waiting {
                // A host execution waits for its turn, which this may be.
                core.cv.notify_all();
            }
            submitted_any = true;
        }
        if submitted_any {
            self.thread.ensure(self);
            // A core that already had work on the device is being watched;
            // only a core going from idle to busy needs the thread's attention.
            self.thread.kick(&self.device, was_idle);
        }
    }

    /// nrt_async_drain_queued_execs.
    pub fn drain(&'static self, vnc: i32) -> Status {
        if let Err(st) = self.check_open() {
            return st;
        }
        if vnc < 0 || vnc as u32 >= self.ncores() {
            return observe::reject(NRT_INVALID, format_args!("core {vnc} does not exist"));
        }
        let c = vnc as u32;
        let last = self.core(c).q.lock().last_accepted();
        self.wait_done(c, last, None, "drain", None);
        match self.core(c).q.lock().take_all_failures() {
            Some(st) => {
                COUNTERS.add(Counter::FailuresReported, 1);
                st
            }
            None => NRT_SUCCESS,
        }
    }

    /// Requests not completed yet, over all cores.
    pub fn outstanding(&'static self) -> usize {
        self.cores().iter().take(self.ncores() as usize).map(|c| c.q.lock().outstanding()).sum()
    }

    // ---- fork ---------------------------------------------------------------

    /// pthread_atfork prepare: takes the engine's locks in one fixed order, so
    /// that the child never inherits one held by a thread it lacks. The
    /// holders are short critical sections that wait for nothing and call
    /// nothing outside the shim, so this waits at most for those. Every other
    /// lock the engine has (per tensor, per set) the child never takes: it
    /// forgets the objects that hold them.
    pub fn before_fork(&'static self) -> ForkHeld {
        let thread = self.thread.before_fork();
        let cores = self.cores().iter().map(|c| c.q.lock()).collect();
        let registries = (self.tensors.lock_all(), self.sets.lock_all(), self.models.lock_all());
        let callback = self.callback.lock();
        let deferred = self.deferred.lock();
        let orphans = self.orphans.lock();
        self.device.before_fork();
        ForkHeld { thread, cores, registries, callback, deferred, orphans }
    }

    /// pthread_atfork parent / child, with what [`before_fork`](Self::before_fork)
    /// took. The parent releases the locks and goes on. The child starts from a
    /// fresh, uninitialised shim, as the runtime's child does: the parent's
    /// requests are not its own (they never complete here, and no completion
    /// thread exists), nor are its handles, callback or deferred frees. They are
    /// forgotten, not freed (the parent's memory stays as copy-on-write pages,
    /// and nothing of it runs any code): the child needs no lock that a thread
    /// of the parent may have held. nrt_init starts afresh.
    pub fn after_fork(&'static self, held: ForkHeld, child: bool) {
        let ForkHeld { thread, mut cores, registries, mut callback, mut deferred, mut orphans } = held;
        if child {
            self.state.store(UNINITIALIZED, Ordering::Release);
            self.ncores.store(0, Ordering::Release);
            for (core, q) in self.cores().iter().zip(cores.iter_mut()) {
                std::mem::forget(std::mem::replace(&mut **q, CoreQueue::new(self.config.max_inflight)));
                core.completed.store(0, Ordering::Release);
                core.poisoned.store(false, Ordering::Release);
                // A parent's thread that was retiring or waiting does not exist here.
                core.gate.reset();
                core.cv.forget_waiters();
            }
            let (mut tensors, mut sets, mut models) = registries;
            tensors.forget_all();
            sets.forget_all();
            models.forget_all();
            *callback = None;
            self.has_callback.store(false, Ordering::Release);
            std::mem::forget(std::mem::take(&mut *deferred));
            self.has_deferred.store(false, Ordering::Release);
            std::mem::forget(std::mem::take(&mut *orphans));
            self.has_orphans.store(false, Ordering::Release);
        } else {
            drop(registries);
        }
        drop((cores, callback, deferred, orphans));
        self.device.after_fork(child);
        self.thread.after_fork(thread, child);
    }
}

/// The engine's locks, held by the forking thread from the prepare handler to
/// the parent's or the child's (the three run on that thread).
pub struct ForkHeld {
    thread: completion::ForkHeld,
    cores: Vec<MutexGuard<'static, CoreQueue<OpPayload>>>,
    registries: (RegistryHeld<TensorRecord>, RegistryHeld<SetRecord>, RegistryHeld<ModelRecord>),
    callback: MutexGuard<'static, Option<Callback>>,
    deferred: MutexGuard<'static, Vec<Arc<TensorRecord>>>,
    orphans: MutexGuard<'static, Vec<Arc<Mirror>>>,
}

fn role(kind: AccessKind) -> &'static str {
    match kind {
        AccessKind::Read => "input",
        AccessKind::Write => "output",
    }
}

fn placement(view: &TensorView) -> Placement {
    match view.storage.as_ref().and_then(|s| s.core) {
        Some(c) => Placement::Device(c),
        None => Placement::Host,
    }
}

impl<D: Device> Engine<D> {
    /// Retires the oldest request of core `c`: tracker, window, waiters,
    /// callback, deferred work. Called only by the holder of the core's
    /// retiring gate (completion::retire_completed).
    fn retire_head(&'static self, c: u32, device_status: Status) {
        let core = self.core(c);
        let callback = if self.has_callback.load(Ordering::Acquire) { *self.callback.lock() } else { None };
        let done = {
            let mut q = core.q.lock();
            let Some(queue::Completed { seq, status, accesses, payload, .. }) =
                q.complete_head(device_status, callback.is_some())
            else {
                return;
            };
            core.poisoned.store(q.tracker().has_any_poison(), Ordering::Release);
            q.recycle(accesses);
            (seq, status, payload)
        };
        let (seq, status, payload) = done;
        if let Some(o) = observe::get() {
            o.retired(c, seq, payload.model.id, status);
        }
        if status != NRT_SUCCESS {
            COUNTERS.add(Counter::FailedRequests, 1);
        }
        if let Some(cb) = callback {
            (cb.call)(cb.raw, cb.params, payload.model.id, c, seq, status);
        }
        // Release the request's sets before anyone learns it completed: a
        // woken program that executes again at once must find them idle, or
        // it gets a new mirror instead of reusing this one.
        drop(payload);
        {
            let _q = core.q.lock();
            core.completed.store(seq, Ordering::Release);
        }
        core.cv.notify_all();
        self.run_deferred(false);
        self.sweep_orphans();
    }
}

#[cfg(test)]
mod tests;

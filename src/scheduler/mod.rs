//! The scheduler: per-core in-flight windows, submission in acceptance order,
//! completion in order, waiting callers, failure routing, deferred frees.
//!
//! Safe Rust over the [`Device`] trait: the backend implements it on the real
//! runtime; the tests below implement it with a fake. The synchronous runtime
//! calls an export forwards (read, write, ...) are passed in as closures, so
//! this module decides *when* they may run and never calls C itself.

mod addresses;
mod completion;
mod doorbell;
mod escape;
mod execute;
mod foreign;
mod fork;
mod gate;
mod host;
mod mirrors;
pub mod pool;
pub mod queue;
mod records;
mod rename;
mod stage;
pub mod transfer;
mod wait;

pub use fork::ForkHeld;
pub use rename::with_versions_locked;

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
    /// Returns false if the wait ran out without a signal where the runtime
    /// signals completions (a completion found after it was late).
    fn wait_any(&self, device_seqs: &[u64], attempt: u32) -> bool;
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
    /// Whether the runtime has the tensor-op calls (nrta_tensor_write and
    /// nrta_tensor_copy); without them every transfer stays synchronous.
    fn can_transfer(&self) -> bool {
        false
    }
    /// How many queues of the tensor-op unit transfers may use (v3: 2).
    fn transfer_queues(&self) -> u32 {
        1
    }
    /// nrta_tensor_write of `buf` into `tensor` at `offset`, on queue
    /// `queue` of the tensor-op unit of the tensor's core `core`. `buf` and
    /// `status_slot` stay valid and unchanged until the transfer completes.
    fn schedule_write(
        &self,
        _core: u32,
        _queue: u32,
        _tensor: Handle,
        _offset: u64,
        _buf: &[u8],
        _status_slot: &AtomicU32,
    ) -> SubmitOutcome {
        SubmitOutcome::Refused(crate::status::NRT_FAILURE)
    }
    /// nrta_tensor_copy of `size` bytes between two device tensors of `core`
    /// (on queue `queue`).
    #[allow(clippy::too_many_arguments)]
    fn schedule_copy(
        &self,
        _core: u32,
        _queue: u32,
        _src: Handle,
        _src_offset: u64,
        _dst: Handle,
        _dst_offset: u64,
        _size: u64,
        _status_slot: &AtomicU32,
    ) -> SubmitOutcome {
        SubmitOutcome::Refused(crate::status::NRT_FAILURE)
    }
    fn describe_model(&self, model: Handle) -> Result<ModelDesc, Status>;
    fn allocate_set(&self) -> Result<Handle, Status>;
    fn add_to_set(&self, set: Handle, name: &CString, tensor: Handle) -> Status;
    fn destroy_set(&self, set: Handle);
    fn free_tensor(&self, tensor: Handle);
    /// A device tensor of `size` bytes on `core`, for a spare version
    /// (renaming). None: renaming is not possible (the write waits).
    fn allocate_tensor(&self, _core: u32, _size: u64) -> Result<Handle, Status> {
        Err(crate::status::NRT_RESOURCE)
    }
    /// The runtime's synchronous copy of `size` bytes from tensor `src` to
    /// tensor `dst` (both at offset 0): a version brought home.
    fn copy_tensor(&self, _src: Handle, _dst: Handle, _size: u64) -> Status {
        crate::status::NRT_FAILURE
    }
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
    /// Mirror of the queue's last accepted request: with `completed` and
    /// `transfers`, whether the core has anything at all (`is_idle`).
    accepted: AtomicU64,
    /// Mirror of the queue's submitted_upto: above `accepted`, no request
    /// waits to be handed to the runtime (`pump` returns at once).
    submitted: AtomicU64,
    /// Mirror of "the tracker holds poison marks".
    poisoned: AtomicBool,
    slots: Box<[AtomicU32]>,
    /// The transfers' status slots (see `transfer`).
    xfer_slots: Box<[AtomicU32]>,
    /// Mirror of the number of pending transfers, for lock-free fast paths.
    transfers: AtomicU32,
    /// Held by the one thread retiring this core's completions (the
    /// completion thread or a waiting application thread).
    gate: gate::RetireGate,
    /// Spare versions of this core's tensors (renaming).
    pool: Mutex<pool::Pool>,
}

impl Core {
    fn new(q: CoreQueue<OpPayload>) -> Core {
        Core {
            q: Mutex::new(q),
            cv: Condvar::new(),
            completed: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            submitted: AtomicU64::new(0),
            poisoned: AtomicBool::new(false),
            slots: (0..SLOTS).map(|_| AtomicU32::new(0)).collect(),
            xfer_slots: (0..transfer::XFER_SLOTS).map(|_| AtomicU32::new(0)).collect(),
            transfers: AtomicU32::new(0),
            gate: gate::RetireGate::default(),
            pool: Mutex::new(pool::Pool::default()),
        }
    }

    /// Whether a transfer of this core is pending (one load: the fast paths).
    #[inline(always)]
    fn has_transfers(&self) -> bool {
        self.transfers.load(Ordering::Acquire) != 0
    }

    /// Whether every request accepted on this core has retired and no
    /// transfer is pending: the completion thread's pass skips it. A request
    /// accepted after this look is handed to the device by a `pump` that
    /// finds the core idle and wakes the thread (`ThreadControl::kick`).
    #[inline(always)]
    fn is_idle(&self) -> bool {
        self.completed.load(Ordering::Acquire) >= self.accepted.load(Ordering::Acquire) && !self.has_transfers()
    }

    /// Whether some accepted request may wait to be handed to the runtime.
    /// Both mirrors change under the queue's lock: a thread that accepted a
    /// request, or that saw one held back (by a transfer, a full queue, a
    /// host execution's turn) through that lock, reads them at least that
    /// new, so it never skips a request it knows of.
    #[inline(always)]
    fn may_have_unsubmitted(&self) -> bool {
        self.submitted.load(Ordering::Acquire) <= self.accepted.load(Ordering::Acquire)
    }

    /// The lock-free mirrors of a fresh queue (nrt_close, a forked child).
    fn reset_mirrors(&self) {
        self.transfers.store(0, Ordering::Release);
        self.completed.store(0, Ordering::Release);
        self.accepted.store(0, Ordering::Release);
        self.submitted.store(0, Ordering::Release);
        self.poisoned.store(false, Ordering::Release);
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

pub struct Engine<D: Device> {
    device: D,
    config: Config,
    /// One per core of the runtime, sized by the first nrt_init's core count
    /// and kept for the process (later inits and forked children reuse it).
    cores: OnceLock<Box<[Core]>>,
    tensors: Registry<TensorRecord>,
    sets: Registry<SetRecord>,
    models: Registry<ModelRecord>,
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
    /// The application's own `nrta_*` requests (scheduler/foreign.rs).
    foreign: foreign::Foreign,
    /// Escaped memory, known addresses, profiled models (escape.rs).
    escapes: escape::Escapes,
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
            foreign: foreign::Foreign::default(),
            escapes: escape::Escapes::default(),
        }
    }

    /// The runtime's state check every call makes first.
    #[inline]
    pub fn check_open(&'static self) -> Result<(), Status> {
        match self.state.load(Ordering::Acquire) {
            OPEN => Ok(()),
            state => Err(not_open(state)),
        }
    }
}

/// The status (logged) of a call made while the runtime is not open.
#[cold]
fn not_open(state: u8) -> Status {
    match state {
        UNINITIALIZED => {
            observe::reject(NRT_UNINITIALIZED, format_args!("the runtime is not initialized (call nrt_init first)"))
        }
        _ => observe::reject(NRT_CLOSED, format_args!("the runtime is closed (nrt_close was called)")),
    }
}

impl<D: Device> Engine<D> {
    pub fn is_open(&'static self) -> bool {
        self.state.load(Ordering::Acquire) == OPEN
    }

    /// The real nrt_init succeeded, with `ncores` cores. The first one sizes
    /// the per-core state; a later one that reports more cores (the runtime's
    /// set of visible cores grew between nrt_close and nrt_init) keeps the
    /// shim to the cores it has, with one error line: requests for the others
    /// get NRT_INVALID, their tensors bypass the shim's tracking.
    pub fn opened(&'static self, ncores: u32) {
        let table = self.cores.get_or_init(|| (0..ncores.max(1)).map(|_| Core::new(self.fresh_queue())).collect());
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
    #[inline]
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
        self.forget_foreign();
        self.thread.stop(&self.device, Duration::from_secs(5));
        self.run_deferred(true);
        for set in self.sets.drain() {
            let mirrors = std::mem::take(&mut set.contents.lock().mirrors);
            self.orphans.lock().extend(mirrors);
        }
        self.has_orphans.store(true, Ordering::Release);
        self.sweep_orphans();
        for rec in self.tensors.drain() {
            self.release_versions(&rec);
        }
        self.free_spares(true);
        self.models.drain();
        self.escapes.reset();
        // The runtime forgets the callback at nrt_close; so does the shim.
        self.set_callback(None);
        self.device.closed();
        for core in self.cores().iter() {
            let mut q = core.q.lock();
            *q = self.fresh_queue();
            core.reset_mirrors();
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

    /// An empty queue for a core, with this configuration's staging cap.
    fn fresh_queue(&self) -> CoreQueue<OpPayload> {
        let mut q = CoreQueue::new(self.config.max_inflight);
        q.transfers = transfer::Transfers::new(self.config.stage_pool_bytes);
        q
    }

    #[inline]
    fn core(&'static self, c: u32) -> &'static Core {
        &self.cores()[c as usize]
    }

    pub fn set_callback(&'static self, cb: Option<Callback>) {
        *self.callback.lock() = cb;
        self.has_callback.store(cb.is_some(), Ordering::Release);
    }

    /// Requests not completed yet, over all cores.
    pub fn outstanding(&'static self) -> usize {
        self.cores().iter().take(self.ncores() as usize).map(|c| c.q.lock().outstanding()).sum()
    }
}

#[cfg(test)]
mod tests;

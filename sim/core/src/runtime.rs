//! The simulated runtime: state, registries, execution units and their workers.

use crate::config::{self, Config};
use crate::hazard::{Oracle, Range};
use crate::model::{self, ModelDef};
use crate::pace::{self, Kind};
use crate::raw::{self, Callback, Mem, StatusPtr, UserBuf};
use crate::seq;
use crate::sync::{Condvar, Mutex, MutexGuard};
use nrt_sys as sys;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

mod implicit;
use implicit::{Access, Use};

pub type Status = u32;
pub type Res<T> = Result<T, Status>;

pub use sys::{
    NRT_CLOSED, NRT_EXEC_UNIT_UNRECOVERABLE, NRT_FAILURE, NRT_INVALID, NRT_INVALID_HANDLE, NRT_LOAD_NOT_ENOUGH_NC,
    NRT_QUEUE_FULL, NRT_RESOURCE, NRT_SUCCESS, NRT_TIMEOUT, NRT_UNINITIALIZED, NRT_UNSUPPORTED_NEFF_VERSION,
};

/// Logs a rejected call and returns its status.
#[macro_export]
macro_rules! reject {
    ($st:expr, $($fmt:tt)+) => {{
        log::warn!($($fmt)+);
        $st
    }};
}

// ---------------------------------------------------------------- generation

/// Which explicit-async generation this library presents (2 or 3).
static GENERATION: AtomicU8 = AtomicU8::new(3);

/// Called by the cdylib at load time (an .init_array constructor).
pub fn set_generation(g: u8) {
    GENERATION.store(g, Ordering::Relaxed);
}

pub fn generation() -> u8 {
    GENERATION.load(Ordering::Relaxed)
}

/// Unit types of the generation: (name, queues). Index = the nrta_xu_t value.
pub fn unit_table(gen: u8) -> &'static [(&'static str, u32)] {
    if gen == 2 {
        &[("tensor_read", 1), ("tensor_write", 1), ("tensor_op", 1), ("compute", 1), ("collectives", 1)]
    } else {
        &[("tensor_op", 2), ("compute", 1), ("collectives", 3)]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitRole {
    Read,
    Write,
    Op,
    Compute,
}

pub fn unit_type(gen: u8, role: UnitRole) -> u32 {
    match (gen, role) {
        (2, UnitRole::Read) => 0,
        (2, UnitRole::Write) => 1,
        (2, UnitRole::Op) => 2,
        (2, UnitRole::Compute) => 3,
        (_, UnitRole::Compute) => 1,
        (_, _) => 0,
    }
}

// ---------------------------------------------------------------- handles

/// Handles are opaque addresses that are never dereferenced and never reused.
static NEXT_HANDLE: AtomicU64 = AtomicU64::new(0);

fn new_handle() -> usize {
    let n = NEXT_HANDLE.fetch_add(1, Ordering::Relaxed) + 1;
    (0x5eed_0000_0000usize) + (n as usize) * 16
}

static NEXT_STORAGE: AtomicU64 = AtomicU64::new(0);
static NEXT_PA: AtomicU64 = AtomicU64::new(0x1000_0000_0000);

// ---------------------------------------------------------------- storage & tensors

pub struct Storage {
    pub id: u64,
    pub mem: Mem,
    pub pa: u64,
    accounted: Option<Arc<AtomicU64>>,
}

impl Drop for Storage {
    fn drop(&mut self) {
        if let Some(a) = &self.accounted {
            a.fetch_sub(self.mem.len() as u64, Ordering::Relaxed);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    Device(u32),
    Host,
    Virtual,
    /// allocate_empty without a buffer yet
    Empty,
    /// the caller's buffer (attach_buffer)
    Attached,
}

#[derive(Clone)]
pub struct Tensor {
    pub name: String,
    pub placement: Placement,
    pub storage: Option<Arc<Storage>>,
    pub offset: usize,
    pub size: usize,
}

impl Tensor {
    fn region(&self, off: usize, len: usize) -> Region {
        Region {
            storage: self.storage.clone().expect("region of a tensor without storage"),
            off: self.offset + off,
            len,
            tensor: self.name.clone(),
        }
    }
    fn device_core(&self) -> Option<u32> {
        match self.placement {
            Placement::Device(c) => Some(c),
            _ => None,
        }
    }
}

#[derive(Clone)]
pub struct Region {
    pub storage: Arc<Storage>,
    pub off: usize,
    pub len: usize,
    pub tensor: String,
}

impl Region {
    fn range(&self, write: bool) -> Range {
        Range {
            storage: self.storage.id,
            start: self.off,
            end: self.off + self.len,
            write,
            tensor: self.tensor.clone(),
        }
    }
    fn view(&self) -> raw::View<'_> {
        self.storage.mem.view(self.off, self.len)
    }
}

/// A validated execution: model, input regions, output regions with their
/// tensor handles, and the sizes of host tensors (sync path DMA).
type ExecPlan = (Arc<Model>, Vec<Region>, Vec<(Region, usize)>, Vec<usize>);

pub struct Model {
    pub handle: usize,
    pub id: u32,
    pub core: u32,
    pub def: Arc<ModelDef>,
    execs: AtomicU64,
    last_counter: AtomicU64,
}

pub struct Tracker {
    pub lnc: u32,
    state: Mutex<(Vec<sys::nrta_error_t>, Vec<sys::nrta_error_t>)>,
}

impl Tracker {
    fn push(&self, seq: u64, status: Status) {
        self.state.lock().0.push(sys::nrta_error_t { seq_id: seq, error_code: status as u64 });
    }
}

#[derive(Default)]
struct Registry {
    tensors: HashMap<usize, Tensor>,
    models: HashMap<usize, Arc<Model>>,
    sets: HashMap<usize, BTreeMap<String, usize>>,
    trackers: HashMap<usize, Arc<Tracker>>,
    tensor_infos: HashMap<usize, usize>,
    models_per_core: Vec<u32>,
    next_model_id: u32,
    output_counts: HashMap<usize, u64>,
}

// ---------------------------------------------------------------- ops

/// A synchronous caller's completion: polled briefly, then slept on.
pub struct SyncSlot {
    /// The status, SLOT_PENDING until the op completes.
    status: AtomicU64,
    /// The waiter sleeps on `cv` (so completing must notify).
    sleeping: AtomicBool,
    lock: Mutex<()>,
    cv: Condvar,
    /// The caller waits for this op at once and for nothing else, so on an idle
    /// queue it may run the op itself (see `submit`).
    inline: bool,
}

const SLOT_PENDING: u64 = u64::MAX;

thread_local! {
    /// Whether this caller's synchronous waits spin first (pace::SpinGate).
    static SYNC_GATE: RefCell<pace::SpinGate> = RefCell::new(pace::SpinGate::default());
}

impl SyncSlot {
    fn with_inline(inline: bool) -> Arc<SyncSlot> {
        Arc::new(SyncSlot {
            status: AtomicU64::new(SLOT_PENDING),
            sleeping: AtomicBool::new(false),
            lock: Mutex::new(()),
            cv: Condvar::new(),
            inline,
        })
    }
    fn new() -> Arc<SyncSlot> {
        Self::with_inline(false)
    }
    /// For a caller that waits for this one op right after submitting it.
    fn new_inline() -> Arc<SyncSlot> {
        Self::with_inline(true)
    }
    fn complete(&self, status: Status) {
        // SeqCst pairs with `wait`: either the waiter sees the status or we see it sleeping.
        self.status.store(status as u64, Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            let _g = self.lock.lock();
            self.cv.notify_all();
        }
    }
    fn wait(&self) -> Status {
        let done = || self.status.load(Ordering::SeqCst) != SLOT_PENDING;
        if !SYNC_GATE.with(|g| g.borrow_mut().spin(pace::SYNC_SPIN, done)) {
            let mut g = self.lock.lock();
            self.sleeping.store(true, Ordering::SeqCst);
            while !done() {
                self.cv.wait(&mut g);
            }
        }
        self.status.load(Ordering::SeqCst) as Status
    }
}

/// How a request's outcome is delivered.
pub enum Completion {
    Sync(Arc<SyncSlot>),
    /// v3: the status is written to *ret.
    Ret(StatusPtr),
    /// v2: failures are appended to the tracker (if any).
    Tracker(Option<Arc<Tracker>>),
    /// implicit-async: the registered callback, and the storage fence.
    Implicit(implicit::Ticket),
}

enum Work {
    Exec { model: Arc<Model>, inputs: Vec<Region>, outputs: Vec<(Region, usize)>, fail: Option<Status> },
    Write { dst: Region, src: UserBuf },
    Read { src: Region, dst: UserBuf },
    Copy { src: Region, dst: Region },
    Memset { dst: Region, value: u8 },
}

struct Op {
    counter: u64,
    work: Work,
    dur: Duration,
    enq: Instant,
    done: Completion,
    hazard_key: u64,
}

#[derive(Default)]
struct QState {
    pending: VecDeque<Op>,
    issued: u64,
    completed: u64,
    accepted: u64,
    closing: bool,
    stop: bool,
    clock: Option<Instant>,
    busy: Duration,
    notify: Vec<(u64, i32)>,
    /// v3 `nrta_event_register_xu_completion`: our dup of the fd signalled at
    /// every completion of this queue.
    xu_notify: Option<i32>,
    /// A synchronous caller is running the queue's op itself (see `submit`).
    inline_active: bool,
}

pub struct Queue {
    pub uid: u16,
    pub core: u32,
    pub utype: u32,
    pub qidx: u32,
    pub name: String,
    st: Mutex<QState>,
    work_cv: Condvar,
    done_cv: Condvar,
    worker: Mutex<Option<JoinHandle<()>>>,
    /// Counts ops queued for the worker, so that an idle worker can poll for new
    /// work without taking `st`.
    doorbell: AtomicU64,
}

impl Queue {
    fn wait_completed(&self, counter: u64) {
        let mut st = self.st.lock();
        while st.completed < counter {
            self.done_cv.wait(&mut st);
        }
    }
    fn drain(&self) {
        let target = self.st.lock().issued;
        self.wait_completed(target);
    }
}

// ---------------------------------------------------------------- runtime

#[derive(Default)]
struct Stats {
    executions: AtomicU64,
    failed: AtomicU64,
    queue_full: AtomicU64,
    fail_counter: AtomicU64,
}

struct Implicit {
    inflight: Vec<u32>,
    jobs: Vec<u64>,
}

pub struct Runtime {
    pub cfg: &'static Config,
    pub gen: u8,
    /// N of the implicit-async mode, 0 when off.
    pub implicit: u32,
    start: Instant,
    reg: Mutex<Registry>,
    output_cv: Condvar,
    queues: HashMap<u16, Arc<Queue>>,
    device_used: Arc<AtomicU64>,
    stats: Stats,
    oracle: Mutex<Oracle>,
    imp: Mutex<Implicit>,
    imp_cv: Condvar,
    fence: implicit::Fence,
    callback: Mutex<Option<Callback>>,
    /// Where this session's report goes (NRT_SIM_REPORT, `.<pid>` appended in a forked child).
    report: Option<String>,
}

enum Phase {
    Uninit,
    Running(Arc<Runtime>),
    Closing,
    Closed,
}

/// The session. Lock order: PHASE, then NOTIFY_FDS (both taken by `fork_prepare`).
static PHASE: Mutex<Phase> = Mutex::new(Phase::Uninit);

/// The private eventfd dups (v3 `nrta_event_register_seq_id_completion`, v2
/// `nrta_get_completion_handle`) waiting for a completion: removed under this
/// lock just before they are signalled and closed, so that a forked child,
/// which closes its copies of them, never closes anything else.
static NOTIFY_FDS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Set in a forked child (of a process that had initialised the runtime).
static FORKED_CHILD: AtomicBool = AtomicBool::new(false);

/// The running runtime, or NRT_UNINITIALIZED / NRT_CLOSED (logged).
pub fn rt(call: &str) -> Res<Arc<Runtime>> {
    crate::logging::init();
    match &*PHASE.lock() {
        Phase::Running(r) => Ok(r.clone()),
        Phase::Uninit => {
            Err(reject!(NRT_UNINITIALIZED, "{call}: the runtime is not initialized (call nrt_init first)"))
        }
        Phase::Closing | Phase::Closed => Err(reject!(NRT_CLOSED, "{call}: the runtime is closed")),
    }
}

/// Like `rt`, for nrta_* calls: NRT_FAILURE in implicit-async mode.
pub fn rt_async(call: &str) -> Res<Arc<Runtime>> {
    let r = rt(call)?;
    if r.implicit > 0 {
        return Err(reject!(NRT_FAILURE, "{call}: Explicit async API cannot be used in implicit async mode"));
    }
    Ok(r)
}

fn implicit_from_env(cfg: &Config) -> u32 {
    let v = match std::env::var("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS") {
        Ok(v) if !v.trim().is_empty() => v,
        _ => return 0,
    };
    let n: u64 = match v.trim().parse() {
        Ok(n) => n,
        Err(_) => {
            log::warn!("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS={v:?} is not a number; implicit async mode off");
            return 0;
        }
    };
    if n == 0 {
        return 0;
    }
    if !cfg.has_implicit_mode() {
        log::warn!(
            "NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS={n} is ignored: the implicit async mode was removed in SDK 2.31 \
             (this runtime behaves as {}); executions are synchronous",
            cfg.runtime
        );
        return 0;
    }
    if cfg.runtime_version.1 == 30 && cfg.runtime_version.0 == 2 {
        log::warn!(
            "NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS is deprecated (SDK 2.30) and removed in SDK 2.31: use the \
             nrta_* API"
        );
    }
    if n > 63 {
        log::warn!("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS={n} is above the limit; using 63");
        return 63;
    }
    n as u32
}

pub fn init() -> Status {
    crate::logging::init();
    let cfg = config::get();
    // Before PHASE: pthread_atfork waits for a concurrent fork, whose prepare
    // handler waits for PHASE.
    raw::register_atfork_once();
    let mut ph = PHASE.lock();
    match &*ph {
        Phase::Running(_) | Phase::Closing => {
            return reject!(NRT_FAILURE, "nrt_init: the runtime is already initialized (call nrt_close first)");
        }
        Phase::Uninit | Phase::Closed => {}
    }
    let gen = generation();
    if let Some(want) = cfg.async_abi_env {
        if want as u8 != gen {
            let dir = if want == 2 { "lib-v2/" } else { "lib/" };
            log::warn!(
                "NRT_SIM_ASYNC_ABI={want} but this library presents the v{gen} async API; the generation is a property of \
                 the library file: use the one in {dir} (cargo xtask sim)"
            );
        }
    }
    let implicit = implicit_from_env(cfg);
    let mut queues = HashMap::new();
    for core in 0..cfg.cores {
        for (t, (uname, nq)) in unit_table(gen).iter().enumerate() {
            for q in 0..*nq {
                let uid = seq::unit_id(core, t as u32, q);
                queues.insert(
                    uid,
                    Arc::new(Queue {
                        uid,
                        core,
                        utype: t as u32,
                        qidx: q,
                        name: format!(
                            "nrt-sim-c{core}-{}{}",
                            uname.replace('_', ""),
                            if *nq > 1 { q.to_string() } else { String::new() }
                        ),
                        st: Mutex::new(QState::default()),
                        work_cv: Condvar::new(),
                        done_cv: Condvar::new(),
                        worker: Mutex::new(None),
                        doorbell: AtomicU64::new(0),
                    }),
                );
            }
        }
    }
    let reg = Registry { models_per_core: vec![0; cfg.cores as usize], ..Default::default() };
    let r = Arc::new(Runtime {
        cfg,
        gen,
        implicit,
        start: Instant::now(),
        reg: Mutex::new(reg),
        output_cv: Condvar::new(),
        queues,
        device_used: Arc::new(AtomicU64::new(0)),
        stats: Stats::default(),
        oracle: Mutex::new(Oracle::default()),
        imp: Mutex::new(Implicit { inflight: vec![0; cfg.cores as usize], jobs: vec![0; cfg.cores as usize] }),
        imp_cv: Condvar::new(),
        fence: implicit::Fence::new(cfg.implicit_fence),
        callback: Mutex::new(None),
        report: cfg.report.as_ref().map(|p| {
            if FORKED_CHILD.load(Ordering::Relaxed) {
                format!("{p}.{}", std::process::id())
            } else {
                p.clone()
            }
        }),
    });
    let has_report = r.report.is_some();
    *ph = Phase::Running(r);
    drop(ph);
    if has_report {
        raw::register_atexit_once();
    }
    log::info!(
        "nrt_init: {} cores, async API v{gen}, behaving as SDK {}, implicit async {}",
        cfg.cores,
        cfg.runtime,
        if implicit > 0 { format!("on (N={implicit})") } else { "off".into() }
    );
    NRT_SUCCESS
}

pub fn close() {
    crate::logging::init();
    let r = {
        let mut ph = PHASE.lock();
        match std::mem::replace(&mut *ph, Phase::Closing) {
            Phase::Running(r) => r,
            other => {
                let what = if matches!(other, Phase::Uninit) { "not initialized" } else { "already closed" };
                *ph = other;
                log::warn!("nrt_close: the runtime is {what}");
                return;
            }
        }
    };
    // Refuse new work, let queued work finish.
    let mut qs: Vec<&Arc<Queue>> = r.queues.values().collect();
    qs.sort_by_key(|q| q.uid);
    for q in &qs {
        let mut st = q.st.lock();
        st.closing = true;
        q.done_cv.notify_all();
        while st.completed < st.issued {
            q.done_cv.wait(&mut st);
        }
    }
    for q in &qs {
        q.st.lock().stop = true;
        q.work_cv.notify_all();
        if let Some(h) = q.worker.lock().take() {
            let _ = h.join();
        }
        if let Some(fd) = q.st.lock().xu_notify.take() {
            forget_notify_fd(fd);
        }
    }
    r.write_report();
    {
        let mut reg = r.reg.lock();
        let infos: Vec<usize> = reg.tensor_infos.keys().copied().collect();
        *reg = Registry::default();
        drop(reg);
        for p in infos {
            crate::ffi::free_tensor_info_block(p);
        }
    }
    *PHASE.lock() = Phase::Closed;
    log::info!("nrt_close: done");
}

pub fn write_report_at_exit() {
    let r = match &*PHASE.lock() {
        Phase::Running(r) => r.clone(),
        _ => return,
    };
    r.write_report();
}

/// Signals and closes a registered private eventfd (see NOTIFY_FDS).
fn signal_notify_fd(fd: i32) {
    let mut fds = NOTIFY_FDS.lock();
    if let Some(i) = fds.iter().position(|&f| f == fd) {
        fds.swap_remove(i);
    }
    raw::signal_and_close(fd);
}

/// Signals a registered XU eventfd (our dup, in NOTIFY_FDS) and keeps it: adds 1
/// through a transient dup, under NOTIFY_FDS so that no fork copies the dup.
fn signal_xu_fd(fd: i32) {
    let _fds = NOTIFY_FDS.lock();
    if let Some(d) = raw::dup_cloexec(fd) {
        raw::signal_and_close(d);
    }
}

/// Closes one of our registered eventfd dups and forgets it.
fn forget_notify_fd(fd: i32) {
    let mut fds = NOTIFY_FDS.lock();
    if let Some(i) = fds.iter().position(|&f| f == fd) {
        fds.swap_remove(i);
    }
    raw::close_fd(fd);
}

// ---------------------------------------------------------------- fork

/// The simulator's global locks, held by the forking thread from `fork_prepare`
/// to `fork_parent` / `fork_child` (the three run on that thread).
struct ForkHeld {
    phase: MutexGuard<'static, Phase>,
    fds: MutexGuard<'static, Vec<i32>>,
}

thread_local! {
    static FORK_HELD: RefCell<Option<ForkHeld>> = const { RefCell::new(None) };
}

/// pthread_atfork prepare: takes the global locks in their fixed order (PHASE,
/// NOTIFY_FDS), so the child never inherits one held by a thread it lacks.
/// Waits at most for a short critical section: no thread waits for anything
/// while holding either lock.
pub fn fork_prepare() {
    let _ = FORK_HELD.try_with(|h| {
        let phase = PHASE.lock();
        let fds = NOTIFY_FDS.lock();
        *h.borrow_mut() = Some(ForkHeld { phase, fds });
    });
}

/// pthread_atfork parent: releases the locks; the parent's session goes on.
pub fn fork_parent() {
    let _ = FORK_HELD.try_with(|h| drop(h.borrow_mut().take()));
}

/// pthread_atfork child: releases the locks and resets the simulator to a fresh,
/// uninitialised state. The parent's session, if any, is forgotten without being
/// touched: its workers do not exist here, and its own locks may be held by
/// threads that do not either (its memory is leaked: copy-on-write pages of the
/// parent). So nothing waits for its queued work, its report is not written at
/// exit, and its private eventfd copies are closed. A new nrt_init starts afresh.
pub fn fork_child() {
    let Ok(Some(held)) = FORK_HELD.try_with(|h| h.borrow_mut().take()) else { return };
    let ForkHeld { mut phase, mut fds } = held;
    FORKED_CHILD.store(true, Ordering::Relaxed);
    let old = std::mem::replace(&mut *phase, Phase::Uninit);
    let had_session = matches!(old, Phase::Running(_) | Phase::Closing);
    std::mem::forget(old);
    for fd in fds.drain(..) {
        raw::close_fd(fd);
    }
    drop(fds);
    drop(phase);
    if had_session {
        log::debug!("forked child: the parent's session is not inherited; call nrt_init to use the runtime");
    }
}

impl Runtime {
    fn queue(&self, core: u32, utype: u32, q: u32) -> &Arc<Queue> {
        &self.queues[&seq::unit_id(core, utype, q)]
    }
    fn role_queue(&self, core: u32, role: UnitRole) -> &Arc<Queue> {
        self.queue(core, unit_type(self.gen, role), 0)
    }
    pub fn cores(&self) -> u32 {
        self.cfg.cores
    }

    // ---------------- submission and workers

    fn ensure_worker(self: &Arc<Self>, q: &Arc<Queue>) {
        let mut w = q.worker.lock();
        if w.is_none() {
            let rt = self.clone();
            let qq = q.clone();
            let h = std::thread::Builder::new()
                .name(q.name.clone())
                .spawn(move || rt.worker(qq))
                .expect("nrt-sim: cannot start a worker thread");
            *w = Some(h);
        }
    }

    /// Queues one op. `blocking`: wait for room instead of NRT_QUEUE_FULL.
    #[allow(clippy::too_many_arguments)]
    fn submit(
        self: &Arc<Self>,
        q: &Arc<Queue>,
        call: &str,
        what: String,
        work: Work,
        dur: Duration,
        done: Completion,
        blocking: bool,
    ) -> Res<u64> {
        let depth = self.cfg.queue_depth as u64;
        let mut st = q.st.lock();
        loop {
            if st.closing {
                return Err(reject!(NRT_CLOSED, "{call}: the runtime is closing"));
            }
            if st.issued - st.completed < depth {
                break;
            }
            if !blocking {
                self.stats.queue_full.fetch_add(1, Ordering::Relaxed);
                log::debug!("{call}: queue {} is full ({depth} requests)", q.name);
                return Err(NRT_QUEUE_FULL);
            }
            q.done_cv.wait(&mut st);
        }
        // A synchronous caller on an idle queue runs its op itself: no hand-over
        // to the worker and back (two thread wake-ups), same timing and order.
        let inline = matches!(&done, Completion::Sync(s) if s.inline)
            && st.pending.is_empty()
            && !st.inline_active
            && st.completed == st.issued;
        let is_compute = q.utype == unit_type(self.gen, UnitRole::Compute);
        if is_compute {
            if let Some(n) = self.cfg.unrecoverable_after {
                if st.accepted >= n {
                    return Err(reject!(
                        NRT_EXEC_UNIT_UNRECOVERABLE,
                        "{call}: execution unit {} is unrecoverable (NRT_SIM_UNRECOVERABLE_AFTER={n})",
                        q.name
                    ));
                }
            }
        }
        st.accepted += 1;
        st.issued += 1;
        let counter = st.issued;
        let seqno = seq::make(q.uid, counter);
        let mut work = work;
        let mut ranges = Vec::new();
        match &mut work {
            Work::Exec { model, inputs, outputs, fail } => {
                let n = self.stats.fail_counter.fetch_add(1, Ordering::Relaxed) + 1;
                if self.cfg.fail_every > 0 && n.is_multiple_of(self.cfg.fail_every) {
                    *fail = Some(self.cfg.fail_status);
                }
                let m = model.execs.fetch_add(1, Ordering::Relaxed) + 1;
                if let Some((every, status)) = model.def.fail_every {
                    if fail.is_none() && m.is_multiple_of(every) {
                        *fail = Some(status);
                    }
                }
                model.last_counter.store(counter, Ordering::Relaxed);
                ranges.extend(inputs.iter().map(|r| r.range(false)));
                ranges.extend(outputs.iter().map(|(r, _)| r.range(true)));
            }
            Work::Write { dst, .. } | Work::Memset { dst, .. } => ranges.push(dst.range(true)),
            Work::Read { src, .. } => ranges.push(src.range(false)),
            Work::Copy { src, dst } => {
                ranges.push(src.range(false));
                ranges.push(dst.range(true));
            }
        }
        let desc = format!("{what} (seq {seqno:#018x} on {})", q.name);
        let hazard_key = self.oracle.lock().register(q.uid, desc, ranges);
        let op = Op { counter, work, dur, enq: Instant::now(), done, hazard_key };
        if inline {
            st.inline_active = true;
            let prev = st.clock;
            drop(st);
            // The worker still starts on the queue's first use, from this thread
            // (it inherits this thread's signal mask, as before).
            self.ensure_worker(q);
            self.process(q, op, prev);
            q.st.lock().inline_active = false;
            // Work queued meanwhile waited for this op (see `worker`).
            q.work_cv.notify_one();
            return Ok(seqno);
        }
        st.pending.push_back(op);
        q.doorbell.fetch_add(1, Ordering::Release);
        drop(st);
        self.ensure_worker(q);
        q.work_cv.notify_one();
        Ok(seqno)
    }

    fn worker(self: Arc<Self>, q: Arc<Queue>) {
        pace::init_worker();
        let mut gate = pace::SpinGate::default();
        loop {
            let (op, prev) = {
                let mut st = q.st.lock();
                let mut spun = false;
                loop {
                    if !st.inline_active {
                        if let Some(op) = st.pending.pop_front() {
                            break (op, st.clock);
                        }
                    }
                    if st.stop {
                        return;
                    }
                    if !spun && !st.inline_active {
                        // Out of work: poll a little before sleeping, since the next
                        // request often follows at once (a caller that waited for this
                        // one); waking a sleeping thread costs more than the poll.
                        spun = true;
                        let rung = q.doorbell.load(Ordering::Acquire);
                        drop(st);
                        gate.spin(pace::IDLE_SPIN, || q.doorbell.load(Ordering::Acquire) != rung);
                        st = q.st.lock();
                        continue;
                    }
                    q.work_cv.wait(&mut st);
                }
            };
            self.process(&q, op, prev);
        }
    }

    /// Runs one op of `q` and completes it: on its worker, or inline on the
    /// thread of a synchronous caller (`submit`). `prev`: the unit's clock.
    fn process(&self, q: &Queue, op: Op, prev: Option<Instant>) {
        // Deadline model: an op starts when it was queued or when the previous
        // op's deadline passed, whichever is later; it ends dur later.
        let start = match prev {
            Some(p) if p > op.enq => p,
            _ => op.enq,
        };
        let end = start + op.dur;
        let Op { counter, work, dur, done, hazard_key, .. } = op;
        let status = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run(q, work, start, end))) {
            Ok(s) => s,
            Err(_) => {
                log::error!("internal error (panic) while running a request on {}", q.name);
                NRT_FAILURE
            }
        };
        {
            // Account the op before its completion is visible to anyone.
            let mut st = q.st.lock();
            st.clock = Some(end);
            st.busy += dur;
        }
        self.oracle.lock().remove(hazard_key);
        let seqno = seq::make(q.uid, counter);
        // A synchronous caller is woken only once the op has left the
        // queue (below), so its next schedule call finds the slot free.
        let mut sync_waiter = None;
        match done {
            Completion::Sync(slot) => sync_waiter = Some(slot),
            Completion::Ret(p) => p.store(status),
            Completion::Tracker(t) => {
                if status != NRT_SUCCESS {
                    if let Some(t) = t {
                        t.push(seqno, status);
                    }
                }
            }
            Completion::Implicit(ticket) => self.implicit_done(q.core, ticket, status),
        }
        let mut st = q.st.lock();
        st.completed = counter;
        let mut i = 0;
        while i < st.notify.len() {
            if st.notify[i].0 <= counter {
                let (_, fd) = st.notify.swap_remove(i);
                signal_notify_fd(fd);
            } else {
                i += 1;
            }
        }
        if let Some(fd) = st.xu_notify {
            signal_xu_fd(fd);
        }
        q.done_cv.notify_all();
        drop(st);
        if let Some(slot) = sync_waiter {
            slot.complete(status);
        }
    }

    /// The op's effect on the bytes, timed so that it is done when the op ends
    /// (`pace::run_data_phase`); returns at `end`.
    fn run(&self, q: &Queue, work: Work, start: Instant, end: Instant) -> Status {
        match work {
            Work::Exec { model, inputs, outputs, fail } => {
                if fail.is_none() {
                    let units = crate::exec::units(&model.def, &outputs);
                    pace::run_data_phase(start, end, Kind::Compute, units, || {
                        crate::exec::execute(&model.def, &inputs, &outputs)
                    });
                } else {
                    pace::sleep_until(end);
                }
                self.stats.executions.fetch_add(1, Ordering::Relaxed);
                if let Some(s) = fail {
                    self.stats.failed.fetch_add(1, Ordering::Relaxed);
                    log::debug!(
                        "execution of {} on {} fails with status {s} (fault injection)",
                        model.def.name,
                        q.name
                    );
                }
                {
                    let mut reg = self.reg.lock();
                    for (_, h) in &outputs {
                        if let Some(c) = reg.output_counts.get_mut(h) {
                            *c += 1;
                        }
                    }
                }
                self.output_cv.notify_all();
                fail.unwrap_or(NRT_SUCCESS)
            }
            Work::Write { dst, src } => {
                pace::run_data_phase(start, end, Kind::Copy, dst.len as u64, || dst.view().copy_from_user(&src));
                NRT_SUCCESS
            }
            Work::Read { src, dst } => {
                pace::run_data_phase(start, end, Kind::Copy, src.len as u64, || src.view().copy_to_user(&dst));
                NRT_SUCCESS
            }
            Work::Copy { src, dst } => {
                pace::run_data_phase(start, end, Kind::Copy, src.len as u64, || dst.view().copy_from(&src.view()));
                NRT_SUCCESS
            }
            Work::Memset { dst, value } => {
                pace::run_data_phase(start, end, Kind::Copy, dst.len as u64, || dst.view().fill(value));
                NRT_SUCCESS
            }
        }
    }

    /// A host-side access outside the units: check it against in-flight ops.
    fn host_access(&self, what: &str, ranges: &[Range]) {
        let n = self.oracle.lock().check(None, what, ranges);
        if n > 0 {
            log::debug!("hazard oracle: {n} hazard(s) at {what}");
        }
    }

    /// Implicit mode: wait until no execution is pending on `core` (None: any core).
    fn implicit_wait(&self, core: Option<u32>) {
        if self.implicit == 0 {
            return;
        }
        let mut im = self.imp.lock();
        loop {
            let busy = match core {
                Some(c) => im.inflight[c as usize] > 0,
                None => im.inflight.iter().any(|&n| n > 0),
            };
            if !busy {
                return;
            }
            self.imp_cv.wait(&mut im);
        }
    }

    // ---------------- lookups

    fn tensor(&self, call: &str, h: usize) -> Res<Tensor> {
        self.reg.lock().tensors.get(&h).cloned().ok_or_else(|| {
            reject!(NRT_INVALID_HANDLE, "{call}: tensor handle {h:#x} is unknown (never allocated or already freed)")
        })
    }
    fn model(&self, call: &str, h: usize) -> Res<Arc<Model>> {
        self.reg.lock().models.get(&h).cloned().ok_or_else(|| {
            reject!(NRT_INVALID_HANDLE, "{call}: model handle {h:#x} is unknown (never loaded or already unloaded)")
        })
    }
    fn with_storage(call: &str, t: &Tensor) -> Res<()> {
        if t.storage.is_none() {
            return Err(reject!(
                NRT_INVALID,
                "{call}: tensor '{}' has no storage (allocate_empty without attach_buffer)",
                t.name
            ));
        }
        Ok(())
    }
    fn range_check(call: &str, t: &Tensor, off: u64, size: u64) -> Res<(usize, usize)> {
        match off.checked_add(size) {
            Some(e) if e <= t.size as u64 => Ok((off as usize, size as usize)),
            _ => Err(reject!(
                NRT_INVALID,
                "{call}: offset {off} + size {size} is outside tensor '{}' ({} bytes)",
                t.name,
                t.size
            )),
        }
    }

    // ---------------- counts, models

    pub fn load(&self, data: &[u8], vnc: i32) -> Res<usize> {
        let cores = self.cfg.cores;
        if vnc < -1 {
            return Err(reject!(NRT_INVALID, "nrt_load: vnc {vnc} is invalid (-1 or 0..{cores})"));
        }
        if vnc >= cores as i32 {
            return Err(reject!(NRT_LOAD_NOT_ENOUGH_NC, "nrt_load: vnc {vnc} does not exist ({cores} cores)"));
        }
        let def = match model::parse(data) {
            Ok(d) => d,
            Err(e @ model::LoadError::Neff) => return Err(reject!(NRT_UNSUPPORTED_NEFF_VERSION, "nrt_load: {e}")),
            Err(e) => return Err(reject!(NRT_INVALID, "nrt_load: {e}")),
        };
        let mut reg = self.reg.lock();
        let core = if vnc >= 0 {
            vnc as u32
        } else {
            let m = *reg.models_per_core.iter().min().unwrap();
            reg.models_per_core.iter().position(|&n| n == m).unwrap() as u32
        };
        reg.models_per_core[core as usize] += 1;
        reg.next_model_id += 1;
        let h = new_handle();
        let m = Model {
            handle: h,
            id: reg.next_model_id,
            core,
            def: Arc::new(def),
            execs: AtomicU64::new(0),
            last_counter: AtomicU64::new(0),
        };
        log::info!("nrt_load: model '{}' (id {}) on core {core}", m.def.name, m.id);
        reg.models.insert(h, Arc::new(m));
        Ok(h)
    }

    pub fn unload(&self, h: usize) -> Res<()> {
        let m = self.model("nrt_unload", h)?;
        let q = self.role_queue(m.core, UnitRole::Compute);
        q.wait_completed(m.last_counter.load(Ordering::Relaxed));
        let mut reg = self.reg.lock();
        if reg.models.remove(&h).is_some() {
            reg.models_per_core[m.core as usize] -= 1;
            Ok(())
        } else {
            Err(reject!(NRT_INVALID_HANDLE, "nrt_unload: model handle {h:#x} was unloaded concurrently"))
        }
    }

    pub fn model_info(&self, call: &str, h: usize) -> Res<Arc<Model>> {
        self.model(call, h)
    }

    pub fn remember_tensor_info(&self, p: usize) {
        self.reg.lock().tensor_infos.insert(p, p);
    }
    pub fn forget_tensor_info(&self, p: usize) -> bool {
        self.reg.lock().tensor_infos.remove(&p).is_some()
    }

    // ---------------- tensor sets

    pub fn set_alloc(&self) -> usize {
        let h = new_handle();
        self.reg.lock().sets.insert(h, BTreeMap::new());
        h
    }
    pub fn set_destroy(&self, h: usize) -> Res<()> {
        self.reg.lock().sets.remove(&h).map(|_| ()).ok_or_else(|| {
            reject!(NRT_INVALID_HANDLE, "nrt_destroy_tensor_set: tensor set {h:#x} is unknown or already destroyed")
        })
    }
    pub fn set_add(&self, h: usize, name: &str, t: usize) -> Res<()> {
        let mut reg = self.reg.lock();
        if !reg.sets.contains_key(&h) {
            return Err(reject!(NRT_INVALID_HANDLE, "nrt_add_tensor_to_tensor_set: tensor set {h:#x} is unknown"));
        }
        if !reg.tensors.contains_key(&t) {
            return Err(reject!(
                NRT_INVALID_HANDLE,
                "nrt_add_tensor_to_tensor_set: tensor {t:#x} ('{name}') is unknown"
            ));
        }
        reg.sets.get_mut(&h).unwrap().insert(name.to_string(), t);
        Ok(())
    }
    pub fn set_get(&self, h: usize, name: &str) -> Res<usize> {
        let reg = self.reg.lock();
        let s = reg.sets.get(&h).ok_or_else(|| {
            reject!(NRT_INVALID_HANDLE, "nrt_get_tensor_from_tensor_set: tensor set {h:#x} is unknown")
        })?;
        s.get(name)
            .copied()
            .ok_or_else(|| reject!(NRT_INVALID, "nrt_get_tensor_from_tensor_set: no tensor named '{name}' in the set"))
    }

    // ---------------- tensors

    pub fn tensor_allocate(&self, placement: u32, vnc: i32, size: usize, name: &str) -> Res<usize> {
        let call = "nrt_tensor_allocate";
        let p = match placement {
            sys::NRT_TENSOR_PLACEMENT_DEVICE => {
                if vnc < 0 || vnc as u32 >= self.cfg.cores {
                    return Err(reject!(
                        NRT_INVALID,
                        "{call}: device tensor '{name}' needs vnc in 0..{} (got {vnc})",
                        self.cfg.cores
                    ));
                }
                Placement::Device(vnc as u32)
            }
            sys::NRT_TENSOR_PLACEMENT_HOST => Placement::Host,
            sys::NRT_TENSOR_PLACEMENT_VIRTUAL if !self.cfg.has_virtual_placement() => {
                return Err(reject!(
                    NRT_INVALID,
                    "{call}: placement VIRTUAL was removed in SDK 2.30 (this runtime behaves as {})",
                    self.cfg.runtime
                ))
            }
            sys::NRT_TENSOR_PLACEMENT_VIRTUAL => Placement::Virtual,
            other => return Err(reject!(NRT_INVALID, "{call}: placement {other} is not DEVICE, HOST or VIRTUAL")),
        };
        if vnc < -1 || vnc >= self.cfg.cores as i32 {
            return Err(reject!(NRT_INVALID, "{call}: vnc {vnc} is invalid"));
        }
        let accounted = if let Placement::Device(_) = p {
            let limit = self.cfg.device_memory;
            let mut cur = self.device_used.load(Ordering::Relaxed);
            loop {
                let new = cur.saturating_add(size as u64);
                if new > limit {
                    return Err(reject!(
                        NRT_RESOURCE,
                        "{call}: device memory exhausted: '{name}' needs {size} bytes, {cur} of {limit} in use (NRT_SIM_DEVICE_MEMORY)"
                    ));
                }
                match self.device_used.compare_exchange(cur, new, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => break,
                    Err(c) => cur = c,
                }
            }
            Some(self.device_used.clone())
        } else {
            None
        };
        let mem = match Mem::alloc(size) {
            Some(m) => m,
            None => {
                if let Some(a) = &accounted {
                    a.fetch_sub(size as u64, Ordering::Relaxed);
                }
                return Err(reject!(
                    sys::NRT_FAIL_HOST_MEM_ALLOC,
                    "{call}: cannot allocate {size} bytes of host memory"
                ));
            }
        };
        let pa = NEXT_PA.fetch_add((size as u64).div_ceil(4096) * 4096 + 4096, Ordering::Relaxed);
        let st = Arc::new(Storage { id: NEXT_STORAGE.fetch_add(1, Ordering::Relaxed) + 1, mem, pa, accounted });
        let h = new_handle();
        let mut reg = self.reg.lock();
        reg.tensors.insert(h, Tensor { name: name.to_string(), placement: p, storage: Some(st), offset: 0, size });
        reg.output_counts.insert(h, 0);
        Ok(h)
    }

    pub fn tensor_allocate_empty(&self, name: &str) -> usize {
        let h = new_handle();
        let mut reg = self.reg.lock();
        reg.tensors.insert(
            h,
            Tensor { name: name.to_string(), placement: Placement::Empty, storage: None, offset: 0, size: 0 },
        );
        reg.output_counts.insert(h, 0);
        h
    }

    pub fn tensor_attach(&self, h: usize, mem: Mem) -> Res<()> {
        let call = "nrt_tensor_attach_buffer";
        let mut reg = self.reg.lock();
        let t =
            reg.tensors.get_mut(&h).ok_or_else(|| reject!(NRT_INVALID_HANDLE, "{call}: tensor {h:#x} is unknown"))?;
        if t.placement != Placement::Empty && t.placement != Placement::Attached {
            return Err(reject!(NRT_INVALID, "{call}: tensor '{}' already has its own storage", t.name));
        }
        let size = mem.len();
        t.storage = Some(Arc::new(Storage {
            id: NEXT_STORAGE.fetch_add(1, Ordering::Relaxed) + 1,
            mem,
            pa: 0,
            accounted: None,
        }));
        t.placement = Placement::Attached;
        t.offset = 0;
        t.size = size;
        Ok(())
    }

    pub fn tensor_slice(&self, src: usize, off: u64, size: u64, name: &str) -> Res<usize> {
        let call = "nrt_tensor_allocate_slice";
        let t = self.tensor(call, src)?;
        Self::with_storage(call, &t)?;
        let (off, size) = Self::range_check(call, &t, off, size)?;
        let h = new_handle();
        let mut reg = self.reg.lock();
        reg.tensors.insert(
            h,
            Tensor {
                name: name.to_string(),
                placement: t.placement,
                storage: t.storage.clone(),
                offset: t.offset + off,
                size,
            },
        );
        reg.output_counts.insert(h, 0);
        Ok(h)
    }

    pub fn tensor_free(&self, h: usize) -> Res<()> {
        let mut reg = self.reg.lock();
        reg.output_counts.remove(&h);
        match reg.tensors.remove(&h) {
            Some(t) => {
                drop(reg);
                drop(t); // storage lives on while slices or queued ops use it
                Ok(())
            }
            None => Err(reject!(NRT_INVALID_HANDLE, "nrt_tensor_free: tensor {h:#x} is unknown or already freed")),
        }
    }

    pub fn tensor_size(&self, h: usize) -> Res<usize> {
        Ok(self.tensor("nrt_tensor_get_size", h)?.size)
    }

    pub fn tensor_va(&self, h: usize) -> Res<Option<usize>> {
        let t = self.tensor("nrt_tensor_get_va", h)?;
        Ok(match (t.placement, &t.storage) {
            (Placement::Device(_), _) | (_, None) => None,
            (_, Some(s)) => Some(s.mem.addr() + t.offset),
        })
    }

    /// (physical address, size, hbm index) of a device tensor.
    pub fn device_alloc_info(&self, h: usize) -> Res<(u64, usize, i32)> {
        let call = "nrt_tensor_get_device_allocation_info";
        let t = self.tensor(call, h)?;
        match (t.placement, &t.storage) {
            (Placement::Device(_), Some(s)) => Ok((s.pa + t.offset as u64, t.size, 0)),
            _ => Err(reject!(NRT_INVALID, "{call}: tensor '{}' is not a device tensor", t.name)),
        }
    }

    pub fn check_output_completion(&self, h: usize, timeout_us: i64, expected: u64) -> Res<()> {
        let call = "nrt_tensor_check_output_completion";
        let deadline = (timeout_us >= 0).then(|| Instant::now() + Duration::from_micros(timeout_us as u64));
        let mut reg = self.reg.lock();
        loop {
            let c = match reg.output_counts.get(&h) {
                Some(c) => *c,
                None => return Err(reject!(NRT_INVALID_HANDLE, "{call}: tensor {h:#x} is unknown")),
            };
            if c >= expected {
                return Ok(());
            }
            match deadline {
                None => self.output_cv.wait(&mut reg),
                Some(d) => {
                    if Instant::now() >= d || self.output_cv.wait_until(&mut reg, d).timed_out() {
                        let c = reg.output_counts.get(&h).copied().unwrap_or(0);
                        if c >= expected {
                            return Ok(());
                        }
                        return Err(NRT_TIMEOUT);
                    }
                }
            }
        }
    }

    pub fn reset_output_completion(&self, h: usize) -> Res<()> {
        let mut reg = self.reg.lock();
        match reg.output_counts.get_mut(&h) {
            Some(c) => {
                *c = 0;
                Ok(())
            }
            None => Err(reject!(NRT_INVALID_HANDLE, "nrt_tensor_reset_output_completion: tensor {h:#x} is unknown")),
        }
    }

    /// Validates a synchronous read/write target; returns the tensor and range.
    fn io_target(&self, call: &str, h: usize, off: u64, size: u64) -> Res<(Tensor, usize, usize)> {
        let t = self.tensor(call, h)?;
        Self::with_storage(call, &t)?;
        let (off, size) = Self::range_check(call, &t, off, size)?;
        Ok((t, off, size))
    }

    /// nrt_tensor_read (sync). `honour_implicit`: false for unsafe batch mode.
    pub fn tensor_read(self: &Arc<Self>, h: usize, off: u64, buf: UserBuf, honour_implicit: bool) -> Res<()> {
        let call = "nrt_tensor_read";
        let (t, off, size) = self.io_target(call, h, off, buf.len() as u64)?;
        // The implicit mode's fence runs here, not in transfer_validated.
        self.implicit_fence(&[Use::new(&t, off, size, Access::Read)], honour_implicit)?;
        self.transfer_validated(call, &t, off, size, buf, false, false)
    }

    /// A validated synchronous transfer between `buf` and the tensor's bytes
    /// (`write`: into the tensor).
    #[allow(clippy::too_many_arguments)]
    fn transfer_validated(
        self: &Arc<Self>,
        call: &str,
        t: &Tensor,
        off: usize,
        size: usize,
        buf: UserBuf,
        honour_implicit: bool,
        write: bool,
    ) -> Res<()> {
        if size == 0 {
            return Ok(());
        }
        if honour_implicit {
            self.implicit_wait(t.device_core());
        }
        let r = t.region(off, size);
        let desc = format!("{call} of '{}'", t.name);
        match (t.device_core(), write) {
            (None, false) => {
                self.host_access(&desc, &[r.range(false)]);
                r.view().copy_to_user(&buf);
                Ok(())
            }
            (None, true) => {
                self.host_access(&desc, &[r.range(true)]);
                r.view().copy_from_user(&buf);
                Ok(())
            }
            (Some(core), false) => {
                self.transfer_and_wait(core, UnitRole::Read, call, desc, Work::Read { src: r, dst: buf }, size as u64)
            }
            (Some(core), true) => {
                self.transfer_and_wait(core, UnitRole::Write, call, desc, Work::Write { dst: r, src: buf }, size as u64)
            }
        }
    }

    pub fn tensor_write(self: &Arc<Self>, h: usize, off: u64, buf: UserBuf, honour_implicit: bool) -> Res<()> {
        let call = "nrt_tensor_write";
        let (t, off, size) = self.io_target(call, h, off, buf.len() as u64)?;
        let uses = [Use::new(&t, off, size, Access::Write)];
        self.implicit_fence(&uses, honour_implicit)?;
        self.transfer_validated(call, &t, off, size, buf, false, true)?;
        self.implicit_rewritten(&uses);
        Ok(())
    }

    /// A synchronous transfer: one op on the core's unit for `role`, and the
    /// wait for it (the synchronous API is "schedule, then wait").
    fn transfer_and_wait(
        self: &Arc<Self>,
        core: u32,
        role: UnitRole,
        call: &str,
        desc: String,
        work: Work,
        bytes: u64,
    ) -> Res<()> {
        let q = self.role_queue(core, role).clone();
        let slot = SyncSlot::new_inline();
        let dur = self.cfg.dma_time(bytes);
        self.submit(&q, call, desc, work, dur, Completion::Sync(slot.clone()), true)?;
        match slot.wait() {
            NRT_SUCCESS => Ok(()),
            st => Err(st),
        }
    }

    /// Batch read/write: validates every op first, then performs them in order.
    pub fn tensor_batch(
        self: &Arc<Self>,
        write: bool,
        batches: Vec<(usize, Vec<(u64, UserBuf)>)>,
        unsafe_mode: bool,
    ) -> Res<()> {
        let call = if write { "nrt_tensor_write_batch" } else { "nrt_tensor_read_batch" };
        let mut plan = Vec::new();
        for (h, ops) in &batches {
            let t = self.tensor(call, *h)?;
            plan.push((t, ops));
        }
        let mut checked = Vec::new();
        for (t, ops) in &plan {
            Self::with_storage(call, t)?;
            for (off, buf) in ops.iter() {
                let (o, s) = Self::range_check(call, t, *off, buf.len() as u64)?;
                checked.push((t.clone(), o, s, *buf));
            }
        }
        // The implicit mode's fence, for every op at once: a failure it reports
        // leaves the batch undone.
        let access = if write { Access::Write } else { Access::Read };
        let uses: Vec<Use> = if self.implicit > 0 {
            checked.iter().map(|(t, o, s, _)| Use::new(t, *o, *s, access)).collect()
        } else {
            Vec::new()
        };
        self.implicit_fence(&uses, !unsafe_mode)?;
        for (t, o, s, buf) in checked {
            self.transfer_validated(call, &t, o, s, buf, false, write)?;
        }
        self.implicit_rewritten(&uses);
        Ok(())
    }

    pub fn tensor_copy(self: &Arc<Self>, src: usize, soff: u64, dst: usize, doff: u64, size: u64) -> Res<()> {
        let call = "nrt_tensor_copy";
        let s = self.tensor(call, src)?;
        let d = self.tensor(call, dst)?;
        Self::with_storage(call, &s)?;
        Self::with_storage(call, &d)?;
        let (so, n) = Self::range_check(call, &s, soff, size)?;
        let (dof, _) = Self::range_check(call, &d, doff, size)?;
        let core = match (s.device_core(), d.device_core()) {
            (Some(a), Some(b)) if a != b => {
                return Err(reject!(
                    NRT_INVALID,
                    "{call}: '{}' is on core {a} and '{}' on core {b}: copies stay on one core",
                    s.name,
                    d.name
                ))
            }
            (a, b) => a.or(b),
        };
        if n == 0 {
            return Ok(());
        }
        let uses = [Use::new(&s, so, n, Access::Read), Use::new(&d, dof, n, Access::Write)];
        self.implicit_fence(&uses, true)?;
        let (sr, dr) = (s.region(so, n), d.region(dof, n));
        match core {
            None => {
                self.host_access(&format!("{call} '{}' -> '{}'", s.name, d.name), &[sr.range(false), dr.range(true)]);
                dr.view().copy_from(&sr.view());
            }
            Some(c) => self.transfer_and_wait(
                c,
                UnitRole::Op,
                call,
                format!("{call} '{}' -> '{}'", s.name, d.name),
                Work::Copy { src: sr, dst: dr },
                n as u64,
            )?,
        }
        self.implicit_rewritten(&uses);
        Ok(())
    }

    pub fn tensor_memset(self: &Arc<Self>, h: usize, off: u64, value: i32, size: u64) -> Res<()> {
        let call = "nrt_tensor_memset";
        let (t, off, size) = self.io_target(call, h, off, size)?;
        if size == 0 {
            return Ok(());
        }
        let uses = [Use::new(&t, off, size, Access::Write)];
        self.implicit_fence(&uses, true)?;
        let r = t.region(off, size);
        match t.device_core() {
            None => {
                self.host_access(&format!("{call} of '{}'", t.name), &[r.range(true)]);
                r.view().fill(value as u8);
            }
            Some(c) => self.transfer_and_wait(
                c,
                UnitRole::Op,
                call,
                format!("{call} of '{}'", t.name),
                Work::Memset { dst: r, value: value as u8 },
                size as u64,
            )?,
        }
        self.implicit_rewritten(&uses);
        Ok(())
    }

    // ---------------- execution

    /// Validates an execution. `async_path`: host tensors are rejected.
    fn prepare_exec(&self, call: &str, mh: usize, inh: usize, outh: usize, async_path: bool) -> Res<ExecPlan> {
        let reg = self.reg.lock();
        let m = reg
            .models
            .get(&mh)
            .cloned()
            .ok_or_else(|| reject!(NRT_INVALID_HANDLE, "{call}: model handle {mh:#x} is unknown"))?;
        let ins = reg
            .sets
            .get(&inh)
            .ok_or_else(|| reject!(NRT_INVALID_HANDLE, "{call}: input tensor set {inh:#x} is unknown"))?;
        let outs = reg
            .sets
            .get(&outh)
            .ok_or_else(|| reject!(NRT_INVALID_HANDLE, "{call}: output tensor set {outh:#x} is unknown"))?;
        // 1) handles of the named tensors
        let decls =
            m.def.inputs.iter().map(|d| (d, ins, "input")).chain(m.def.outputs.iter().map(|d| (d, outs, "output")));
        for (d, set, kind) in decls.clone() {
            if let Some(th) = set.get(&d.name) {
                if !reg.tensors.contains_key(th) {
                    return Err(reject!(
                        NRT_INVALID_HANDLE,
                        "{call}: {kind} '{}' of model '{}' is a freed tensor",
                        d.name,
                        m.def.name
                    ));
                }
            }
        }
        // 2) presence, storage, size, placement, core
        let mut inputs = Vec::new();
        let mut outputs = Vec::new();
        let mut host = Vec::new();
        for (d, set, kind) in decls {
            let th = *set.get(&d.name).ok_or_else(|| {
                reject!(
                    NRT_INVALID,
                    "{call}: {kind} '{}' of model '{}' is missing from the {kind} set",
                    d.name,
                    m.def.name
                )
            })?;
            let t = &reg.tensors[&th];
            Self::with_storage(call, t)?;
            if t.size != d.size {
                return Err(reject!(
                    NRT_INVALID,
                    "{call}: {kind} '{}' of model '{}' must be {} bytes, tensor '{}' has {}",
                    d.name,
                    m.def.name,
                    d.size,
                    t.name,
                    t.size
                ));
            }
            match t.device_core() {
                Some(c) if c != m.core => {
                    return Err(reject!(
                        NRT_INVALID,
                        "{call}: {kind} '{}' (tensor '{}') is on core {c}, model '{}' on core {}",
                        d.name,
                        t.name,
                        m.def.name,
                        m.core
                    ))
                }
                Some(_) => {}
                None => {
                    if async_path {
                        return Err(reject!(
                            NRT_INVALID,
                            "{call}: {kind} '{}' (tensor '{}'): Async exec mode only supports device allocated tensors",
                            d.name,
                            t.name
                        ));
                    }
                    host.push(t.size);
                }
            }
            let r = t.region(0, t.size);
            if kind == "input" {
                inputs.push(r);
            } else {
                outputs.push((r, th));
            }
        }
        Ok((m, inputs, outputs, host))
    }

    fn exec_duration(&self, m: &Model, host: &[usize]) -> Duration {
        let mut d = self.cfg.scaled(m.def.latency_us as f64);
        for &b in host {
            d += self.cfg.dma_time(b as u64);
        }
        d
    }

    /// nrt_execute: synchronous, or implicit-async when the mode is on.
    pub fn execute(self: &Arc<Self>, mh: usize, inh: usize, outh: usize) -> Res<()> {
        let call = "nrt_execute";
        if self.implicit > 0 {
            return self.execute_implicit(call, mh, inh, outh);
        }
        let (m, inputs, outputs, host) = self.prepare_exec(call, mh, inh, outh, false)?;
        let slot = SyncSlot::new_inline();
        let q = self.role_queue(m.core, UnitRole::Compute).clone();
        let dur = self.exec_duration(&m, &host);
        let what = format!("{call}('{}')", m.def.name);
        self.submit(
            &q,
            call,
            what,
            Work::Exec { model: m, inputs, outputs, fail: None },
            dur,
            Completion::Sync(slot.clone()),
            true,
        )?;
        match slot.wait() {
            NRT_SUCCESS => Ok(()),
            s => Err(s),
        }
    }

    fn execute_implicit(self: &Arc<Self>, call: &str, mh: usize, inh: usize, outh: usize) -> Res<()> {
        let (m, inputs, outputs, _) = self.prepare_exec(call, mh, inh, outh, true)?;
        let core = m.core as usize;
        let job_id = {
            let mut im = self.imp.lock();
            while im.inflight[core] >= self.implicit {
                self.imp_cv.wait(&mut im);
            }
            im.inflight[core] += 1;
            im.jobs[core] += 1;
            im.jobs[core]
        };
        let q = self.role_queue(m.core, UnitRole::Compute).clone();
        let dur = self.exec_duration(&m, &[]);
        let what = format!("{call}('{}', implicit job {job_id})", m.def.name);
        // Its storages count as in flight from now on (the fence).
        let ticket = self.implicit_begin(m.core, m.id, job_id, &inputs, &outputs);
        let r = self.submit(
            &q,
            call,
            what,
            Work::Exec { model: m, inputs, outputs, fail: None },
            dur,
            Completion::Implicit(ticket),
            true,
        );
        if let Err(e) = r {
            self.fence.cancel(core as u32, job_id);
            let mut im = self.imp.lock();
            im.inflight[core] -= 1;
            self.imp_cv.notify_all();
            return Err(e);
        }
        Ok(())
    }

    pub fn execute_repeat(self: &Arc<Self>, mh: usize, inh: usize, outh: usize, n: i32) -> Res<()> {
        let call = "nrt_execute_repeat";
        if self.implicit > 0 {
            let (m, ..) = self.prepare_exec(call, mh, inh, outh, true)?;
            drop(m);
            if n < 1 {
                return Err(reject!(NRT_INVALID, "{call}: repeat_count {n} must be >= 1"));
            }
            for _ in 0..n {
                self.execute_implicit(call, mh, inh, outh)?;
            }
            return Ok(());
        }
        let (m, inputs, outputs, host) = self.prepare_exec(call, mh, inh, outh, false)?;
        if n < 1 {
            return Err(reject!(NRT_INVALID, "{call}: repeat_count {n} must be >= 1"));
        }
        let q = self.role_queue(m.core, UnitRole::Compute).clone();
        let dur = self.exec_duration(&m, &host);
        let mut slots = Vec::new();
        let mut first_err = None;
        for i in 0..n {
            let slot = SyncSlot::new();
            let work = Work::Exec { model: m.clone(), inputs: inputs.clone(), outputs: outputs.clone(), fail: None };
            match self.submit(
                &q,
                call,
                format!("{call}('{}') #{}", m.def.name, i + 1),
                work,
                dur,
                Completion::Sync(slot.clone()),
                true,
            ) {
                Ok(_) => slots.push(slot),
                Err(e) => {
                    first_err = Some(e);
                    break;
                }
            }
        }
        for s in slots {
            let st = s.wait();
            if st != NRT_SUCCESS && first_err.is_none() {
                first_err = Some(st);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    pub fn register_callback(&self, cb: Option<Callback>) {
        *self.callback.lock() = cb;
    }

    pub fn drain(&self, vnc: i32) -> Res<()> {
        if vnc < 0 || vnc as u32 >= self.cfg.cores {
            return Err(reject!(NRT_INVALID, "nrt_async_drain_queued_execs: vnc {vnc} does not exist"));
        }
        let upto = self.implicit_last_job(vnc as u32);
        self.role_queue(vnc as u32, UnitRole::Compute).drain();
        // Implicit mode: the drain surfaces a failure among the requests it waited for.
        self.implicit_drained(vnc as u32, upto)
    }

    // ---------------- explicit async

    /// Validates (lnc, unit type, queue) and returns the queue.
    fn async_queue(&self, call: &str, lnc: u32, utype: u32, queue: i64) -> Res<Arc<Queue>> {
        let table = unit_table(self.gen);
        if lnc >= self.cfg.cores {
            return Err(reject!(NRT_INVALID, "{call}: lnc {lnc} does not exist ({} cores)", self.cfg.cores));
        }
        let Some((uname, nq)) = table.get(utype as usize) else {
            return Err(reject!(NRT_INVALID, "{call}: execution unit type {utype} does not exist"));
        };
        if queue < 0 || queue >= *nq as i64 {
            return Err(reject!(
                NRT_INVALID,
                "{call}: queue {queue} is out of range for the {uname} unit ({nq} queue(s))"
            ));
        }
        Ok(self.queue(lnc, utype, queue as u32).clone())
    }

    fn check_queue_index(&self, call: &str, role: UnitRole, queue: i64) -> Res<()> {
        let t = unit_type(self.gen, role);
        let (uname, nq) = unit_table(self.gen)[t as usize];
        if queue < 0 || queue >= nq as i64 {
            return Err(reject!(
                NRT_INVALID,
                "{call}: queue {queue} is out of range for the {uname} unit ({nq} queue(s))"
            ));
        }
        Ok(())
    }

    pub fn schedule_exec(
        self: &Arc<Self>,
        mh: usize,
        inh: usize,
        outh: usize,
        queue: i64,
        done: Completion,
    ) -> Res<u64> {
        let call = "nrta_execute_schedule";
        self.check_queue_index(call, UnitRole::Compute, queue)?;
        let (m, inputs, outputs, _) = self.prepare_exec(call, mh, inh, outh, true)?;
        let q = self.role_queue(m.core, UnitRole::Compute).clone();
        let dur = self.exec_duration(&m, &[]);
        let what = format!("{call}('{}')", m.def.name);
        self.submit(&q, call, what, Work::Exec { model: m, inputs, outputs, fail: None }, dur, done, false)
    }

    /// The queue for an async tensor op: v3 (lnc given) the tensor-op unit of lnc;
    /// v2 the role's unit of the tensor's core. The tensor must be a device tensor there.
    fn async_tensor_queue(
        &self,
        call: &str,
        t: &Tensor,
        lnc: Option<u32>,
        role: UnitRole,
        queue: i64,
    ) -> Res<Arc<Queue>> {
        let core = match (t.device_core(), lnc) {
            (None, _) => return Err(reject!(NRT_INVALID, "{call}: tensor '{}' is not a device tensor", t.name)),
            (Some(c), Some(l)) if c != l => {
                return Err(reject!(NRT_INVALID, "{call}: tensor '{}' is on core {c}, not on lnc {l}", t.name))
            }
            (Some(c), _) => c,
        };
        Ok(self.queue(core, unit_type(self.gen, role), queue as u32).clone())
    }

    fn check_lnc_queue(&self, call: &str, lnc: Option<u32>, role: UnitRole, queue: i64) -> Res<()> {
        if let Some(l) = lnc {
            if l >= self.cfg.cores {
                return Err(reject!(NRT_INVALID, "{call}: lnc {l} does not exist ({} cores)", self.cfg.cores));
            }
        }
        self.check_queue_index(call, role, queue)
    }

    pub fn schedule_write(
        self: &Arc<Self>,
        h: usize,
        buf: UserBuf,
        off: u64,
        lnc: Option<u32>,
        queue: i64,
        done: Completion,
    ) -> Res<u64> {
        let call = "nrta_tensor_write";
        let role = if lnc.is_some() { UnitRole::Op } else { UnitRole::Write };
        self.check_lnc_queue(call, lnc, role, queue)?;
        let (t, off, size) = self.io_target(call, h, off, buf.len() as u64)?;
        let q = self.async_tensor_queue(call, &t, lnc, role, queue)?;
        let dur = self.cfg.dma_time(size as u64);
        self.submit(
            &q,
            call,
            format!("{call} of '{}'", t.name),
            Work::Write { dst: t.region(off, size), src: buf },
            dur,
            done,
            false,
        )
    }

    pub fn schedule_read(
        self: &Arc<Self>,
        h: usize,
        buf: UserBuf,
        off: u64,
        lnc: Option<u32>,
        queue: i64,
        done: Completion,
    ) -> Res<u64> {
        let call = "nrta_tensor_read";
        let role = if lnc.is_some() { UnitRole::Op } else { UnitRole::Read };
        self.check_lnc_queue(call, lnc, role, queue)?;
        let (t, off, size) = self.io_target(call, h, off, buf.len() as u64)?;
        let q = self.async_tensor_queue(call, &t, lnc, role, queue)?;
        let dur = self.cfg.dma_time(size as u64);
        self.submit(
            &q,
            call,
            format!("{call} of '{}'", t.name),
            Work::Read { src: t.region(off, size), dst: buf },
            dur,
            done,
            false,
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub fn schedule_copy(
        self: &Arc<Self>,
        src: usize,
        soff: u64,
        dst: usize,
        doff: u64,
        size: u64,
        lnc: Option<u32>,
        queue: i64,
        done: Completion,
    ) -> Res<u64> {
        let call = "nrta_tensor_copy";
        self.check_lnc_queue(call, lnc, UnitRole::Op, queue)?;
        let s = self.tensor(call, src)?;
        let d = self.tensor(call, dst)?;
        Self::with_storage(call, &s)?;
        Self::with_storage(call, &d)?;
        let (so, n) = Self::range_check(call, &s, soff, size)?;
        let (dof, _) = Self::range_check(call, &d, doff, size)?;
        let q = self.async_tensor_queue(call, &s, lnc, UnitRole::Op, queue)?;
        if d.device_core() != Some(q.core) {
            return Err(reject!(
                NRT_INVALID,
                "{call}: destination '{}' is not a device tensor of core {}",
                d.name,
                q.core
            ));
        }
        let dur = self.cfg.dma_time(n as u64);
        self.submit(
            &q,
            call,
            format!("{call} '{}' -> '{}'", s.name, d.name),
            Work::Copy { src: s.region(so, n), dst: d.region(dof, n) },
            dur,
            done,
            false,
        )
    }

    fn decode_seq(&self, call: &str, seqno: u64) -> Res<(Arc<Queue>, u64)> {
        let (uid, counter) = seq::split(seqno);
        let q = self
            .queues
            .get(&uid)
            .ok_or_else(|| reject!(NRT_INVALID, "{call}: sequence {seqno:#x} names no execution unit"))?;
        let issued = q.st.lock().issued;
        if counter == 0 || counter > issued {
            return Err(reject!(NRT_INVALID, "{call}: sequence {seqno:#x} was never issued"));
        }
        Ok((q.clone(), counter))
    }

    pub fn is_completed(&self, seqno: u64) -> Res<bool> {
        let (q, c) = self.decode_seq("nrta_is_completed", seqno)?;
        let done = q.st.lock().completed >= c;
        Ok(done)
    }

    pub fn get_sequence(&self, lnc: u32, xu: u32, queue: i64) -> Res<u64> {
        let q = self.async_queue("nrta_get_sequence", lnc, xu, queue)?;
        let c = q.st.lock().completed;
        Ok(seq::make(q.uid, c))
    }

    /// Signals `fd` (which we own) when seq completes; at once if it has.
    pub fn notify_on_completion(&self, call: &str, seqno: u64, fd: i32) -> Res<()> {
        let (q, c) = match self.decode_seq(call, seqno) {
            Ok(x) => x,
            Err(e) => {
                raw::close_fd(fd);
                return Err(e);
            }
        };
        let mut st = q.st.lock();
        if st.completed >= c {
            drop(st);
            raw::signal_and_close(fd);
        } else {
            NOTIFY_FDS.lock().push(fd);
            st.notify.push((c, fd));
        }
        Ok(())
    }

    /// v3 `nrta_event_register_seq_id_completion(seq, -1)`: drops every
    /// registration of `seqno` (our dups are closed, never signalled).
    pub fn deregister_seq(&self, call: &str, seqno: u64) -> Res<()> {
        let (q, c) = self.decode_seq(call, seqno)?;
        let mut st = q.st.lock();
        let mut i = 0;
        while i < st.notify.len() {
            if st.notify[i].0 == c {
                let (_, fd) = st.notify.swap_remove(i);
                forget_notify_fd(fd);
            } else {
                i += 1;
            }
        }
        Ok(())
    }

    /// v3 `nrta_event_register_xu_completion(lnc, xu, queue, efd)`: a dup of
    /// `efd` gets 1 added at every completion on that queue from now on; it
    /// replaces an earlier registration of the queue; `efd` -1 deregisters.
    pub fn register_xu(&self, call: &str, lnc: u32, xu: u32, queue: i64, efd: i32) -> Res<()> {
        let q = self.async_queue(call, lnc, xu, queue)?;
        let fd = match efd {
            -1 => None,
            e if e < 0 => return Err(reject!(NRT_INVALID, "{call}: efd {e} is not a file descriptor")),
            e => match raw::dup_cloexec(e) {
                Some(d) => Some(d),
                None => return Err(reject!(NRT_INVALID, "{call}: efd {e} is not an open file descriptor")),
            },
        };
        let mut st = q.st.lock();
        if let Some(d) = fd {
            NOTIFY_FDS.lock().push(d);
        }
        if let Some(old) = std::mem::replace(&mut st.xu_notify, fd) {
            forget_notify_fd(old);
        }
        Ok(())
    }

    pub fn tracker_create(&self, lnc: u32) -> Res<usize> {
        if lnc >= self.cfg.cores {
            return Err(reject!(NRT_INVALID, "nrta_error_tracker_create: lnc {lnc} does not exist"));
        }
        let h = new_handle();
        self.reg.lock().trackers.insert(h, Arc::new(Tracker { lnc, state: Mutex::new((Vec::new(), Vec::new())) }));
        Ok(h)
    }
    pub fn tracker(&self, call: &str, h: usize) -> Res<Arc<Tracker>> {
        self.reg
            .lock()
            .trackers
            .get(&h)
            .cloned()
            .ok_or_else(|| reject!(NRT_INVALID_HANDLE, "{call}: error tracker {h:#x} is unknown"))
    }
    pub fn tracker_destroy(&self, h: usize) -> Res<()> {
        self.reg.lock().trackers.remove(&h).map(|_| ()).ok_or_else(|| {
            reject!(NRT_INVALID_HANDLE, "nrta_error_tracker_destroy: error tracker {h:#x} is unknown or destroyed")
        })
    }
    /// Moves the errors recorded since the last call into the tracker's list; returns (ptr, count).
    pub fn tracker_list(&self, h: usize) -> Res<(*const sys::nrta_error_t, usize)> {
        let t = self.tracker("nrta_error_tracker_get_list", h)?;
        let mut st = t.state.lock();
        let (pending, last) = &mut *st;
        *last = std::mem::take(pending);
        let r = (last.as_ptr(), last.len());
        // The Vec lives in the tracker (kept alive by the registry) until the next call/destroy.
        Ok(r)
    }

    // ---------------- report

    pub fn report_json(&self) -> String {
        let o = self.oracle.lock();
        let mut s = String::from("{\n");
        s += &format!("  \"hazards\": {},\n", o.count);
        s += "  \"hazard_examples\": [";
        for (i, e) in o.examples.iter().enumerate() {
            s += if i == 0 { "\n    " } else { ",\n    " };
            s += &json_str(e);
        }
        s += if o.examples.is_empty() { "],\n" } else { "\n  ],\n" };
        drop(o);
        s += &format!("  \"executions\": {},\n", self.stats.executions.load(Ordering::Relaxed));
        s += &format!("  \"failed_executions\": {},\n", self.stats.failed.load(Ordering::Relaxed));
        s += &format!("  \"wall_us\": {},\n", self.start.elapsed().as_micros());
        s += "  \"busy_us\": {";
        let table = unit_table(self.gen);
        for core in 0..self.cfg.cores {
            s += if core == 0 { "\n" } else { ",\n" };
            s += &format!("    \"core{core}\": {{");
            for (t, (uname, nq)) in table.iter().enumerate() {
                let busy: Duration = (0..*nq).map(|q| self.queue(core, t as u32, q).st.lock().busy).sum();
                s += &format!("{}\"{uname}\": {}", if t == 0 { "" } else { ", " }, busy.as_micros());
            }
            s += "}";
        }
        s += "\n  },\n";
        s += &format!("  \"queue_full\": {},\n", self.stats.queue_full.load(Ordering::Relaxed));
        s += &format!("  \"runtime\": {},\n", json_str(&self.cfg.runtime));
        s += &format!("  \"async_abi\": {},\n", self.gen);
        s += &self.implicit_report();
        s += &format!("  \"implicit_inflight\": {}\n", self.implicit);
        s += "}\n";
        s
    }

    pub fn write_report(&self) {
        let Some(path) = &self.report else { return };
        let tmp = format!("{path}.tmp.{}", std::process::id());
        let r = std::fs::write(&tmp, self.report_json()).and_then(|_| std::fs::rename(&tmp, path));
        match r {
            Ok(()) => log::info!("report written to {path}"),
            Err(e) => log::error!("cannot write the report to {path}: {e}"),
        }
    }
}

pub fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn json_escape() {
        assert_eq!(json_str("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
    }
    #[test]
    fn tables() {
        assert_eq!(unit_table(3).len(), 3);
        assert_eq!(unit_table(2).len(), 5);
        assert_eq!(unit_type(3, UnitRole::Compute), sys::NRTA_XU_COMPUTE);
        assert_eq!(unit_type(3, UnitRole::Read), sys::NRTA_XU_TENSOR_OP);
        assert_eq!(unit_type(2, UnitRole::Compute), sys::v2::NRTA_XU_COMPUTE);
        assert_eq!(unit_type(2, UnitRole::Read), sys::v2::NRTA_XU_TENSOR_READ);
        assert_eq!(unit_type(2, UnitRole::Write), sys::v2::NRTA_XU_TENSOR_WRITE);
        assert_eq!(unit_type(2, UnitRole::Op), sys::v2::NRTA_XU_TENSOR_OP);
    }
    #[test]
    fn range_checks() {
        let t = Tensor { name: "t".into(), placement: Placement::Host, storage: None, offset: 0, size: 8 };
        assert_eq!(Runtime::range_check("x", &t, 0, 8), Ok((0, 8)));
        assert_eq!(Runtime::range_check("x", &t, 8, 0), Ok((8, 0)));
        assert_eq!(Runtime::range_check("x", &t, 4, 5), Err(NRT_INVALID));
        assert_eq!(Runtime::range_check("x", &t, 9, 0), Err(NRT_INVALID));
        assert_eq!(Runtime::range_check("x", &t, u64::MAX, 2), Err(NRT_INVALID));
        assert_eq!(Runtime::range_check("x", &t, 2, u64::MAX), Err(NRT_INVALID));
        assert_eq!(Runtime::with_storage("x", &t), Err(NRT_INVALID));
    }
    #[test]
    fn handles_unique() {
        let a = new_handle();
        let b = new_handle();
        assert_ne!(a, b);
        assert!(b > a);
    }
}

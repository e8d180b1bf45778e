//! Observability: counters (always on: relaxed atomics), and, when asked for
//! with NRT_SHIM_STATS / NRT_SHIM_TRACE, per-call statistics, the waits per
//! tensor and why, the queue depth over time, and a Chrome trace of host calls
//! and device work (formats: docs/trace-format.md). Also the logger (stderr,
//! every line prefixed with the library's name).
//!
//! With both off, a call pays one atomic load here. With them on, a call that
//! does not wait pays two clock reads and a few atomics; a call that waited
//! also takes the lock of the wait table, and tracing takes the ring's lock.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::sync::plain::{Mutex, MutexGuard};
use once_cell::sync::OnceCell;

use crate::config::{Config, StatsOut};
use crate::tracker::Hazard;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Counter {
    Executions,
    HostExecutions,
    FailedRequests,
    FailuresReported,
    QueueFull,
    WindowFullWaits,
    DeferredFrees,
    MirrorSets,
    BlockedNanos,
    ReadAfterWrite,
    WriteAfterRead,
    WriteAfterWrite,
    RenamedWrites,
    RenameSparePeakBytes,
    RenameWaitPartial,
    RenameWaitSlice,
    RenameWaitCap,
    RenameWaitExposed,
    RenameBroughtHome,
    RenamedPartialWrites,
    /// Completions the completion thread found only after its wait ran out
    /// with no signal: a registration missed (0 when waking works).
    LateCompletions,
}

const NAMES: [&str; 21] = [
    "executions",
    "host_executions",
    "failed_requests",
    "failures_reported",
    "queue_full_absorbed",
    "window_full_waits",
    "deferred_frees",
    "mirror_sets",
    "blocked_ns",
    "hazards_read_after_write",
    "hazards_write_after_read",
    "hazards_write_after_write",
    "renamed_writes",
    "rename_spare_bytes_peak",
    "rename_waited_partial_write",
    "rename_waited_partial_write_through_a_slice",
    "rename_waited_cap_reached",
    "rename_waited_exposed_or_output",
    "rename_brought_home",
    "renamed_partial_writes",
    "late_completions",
];

pub struct Counters([AtomicU64; 21]);

pub static COUNTERS: Counters = Counters([const { AtomicU64::new(0) }; 21]);

impl Counters {
    pub fn add(&self, c: Counter, n: u64) {
        self.0[c as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// For a gauge's peak.
    pub fn max(&self, c: Counter, n: u64) {
        self.0[c as usize].fetch_max(n, Ordering::Relaxed);
    }

    pub fn get(&self, c: Counter) -> u64 {
        self.0[c as usize].load(Ordering::Relaxed)
    }

    pub fn hazard(&self, h: Hazard) {
        self.add(
            match h {
                Hazard::ReadAfterWrite => Counter::ReadAfterWrite,
                Hazard::WriteAfterRead => Counter::WriteAfterRead,
                Hazard::WriteAfterWrite => Counter::WriteAfterWrite,
            },
            1,
        );
    }

    /// The counters as a JSON object.
    pub fn to_json(&self) -> String {
        let mut s = String::from("{");
        for (i, name) in NAMES.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            let _ = write!(s, "\"{name}\": {}", self.0[i].load(Ordering::Relaxed));
        }
        s.push('}');
        s
    }
}

// ---- per-call statistics ------------------------------------------------

const BUCKETS: usize = 48;

/// Statistics of one exported function (a static per export).
pub struct CallStat {
    pub name: &'static str,
    registered: AtomicBool,
    count: AtomicU64,
    blocked_ns: AtomicU64,
    /// Blocked time per call, log2 buckets of nanoseconds (bucket 0: none).
    hist: [AtomicU64; BUCKETS],
}

impl CallStat {
    pub const fn new(name: &'static str) -> CallStat {
        CallStat {
            name,
            registered: AtomicBool::new(false),
            count: AtomicU64::new(0),
            blocked_ns: AtomicU64::new(0),
            hist: [const { AtomicU64::new(0) }; BUCKETS],
        }
    }

    fn record(&'static self, obs: &Observer, blocked_ns: u64) {
        if !self.registered.swap(true, Ordering::Relaxed) {
            obs.calls.lock().push(self);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.blocked_ns.fetch_add(blocked_ns, Ordering::Relaxed);
        let b = (64 - blocked_ns.leading_zeros() as usize).min(BUCKETS - 1);
        self.hist[b].fetch_add(1, Ordering::Relaxed);
    }

    /// The blocked time (µs) below which a fraction `q` of calls fall:
    /// the upper end of the log2 bucket holding that quantile.
    fn quantile_us(&self, q: f64) -> f64 {
        let n = self.count.load(Ordering::Relaxed);
        if n == 0 {
            return 0.0;
        }
        let target = ((n as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (b, h) in self.hist.iter().enumerate() {
            seen += h.load(Ordering::Relaxed);
            if seen >= target {
                return if b == 0 { 0.0 } else { (1u64 << b) as f64 / 1000.0 };
            }
        }
        0.0
    }
}

// ---- what the current call waited for -------------------------------------

/// What a call waited for: request `job` of `core` (None: room in the
/// window), because of `why`, on bytes of `tensor`, for `ns`.
#[derive(Clone)]
struct Wait {
    core: u32,
    job: Option<u64>,
    why: &'static str,
    tensor: Option<Arc<str>>,
    ns: u64,
}

#[derive(Default)]
struct CallCtx {
    tid: u32,
    blocked_ns: u64,
    /// The longest wait of this call.
    waited: Option<Wait>,
}

thread_local! {
    static CTX: RefCell<CallCtx> = RefCell::new(CallCtx::default());
    /// The export this thread is in, for log lines written deeper down.
    static CALL: std::cell::Cell<&'static str> = const { std::cell::Cell::new("nrt") };
}

/// An export begins on this thread; returns what to restore at its end.
pub fn enter_call(name: &'static str) -> &'static str {
    CALL.with(|c| c.replace(name))
}

pub fn leave_call(outer: &'static str) {
    CALL.with(|c| c.set(outer));
}

/// The name of the export the calling thread is in ("nrt" outside any).
pub fn current_call() -> &'static str {
    CALL.with(|c| c.get())
}

/// Rejects bad input: one warning naming the export, then the status. Every
/// status the shim decides by itself (not the runtime) goes through here, so
/// that the program sees one log line per bad call, as without the shim.
pub fn reject(status: u32, why: std::fmt::Arguments) -> u32 {
    log::warn!("{}: {why}", current_call());
    status
}

static NEXT_TID: AtomicU32 = AtomicU32::new(1);

fn tid() -> u32 {
    CTX.with(|c| {
        let mut c = c.borrow_mut();
        if c.tid == 0 {
            c.tid = NEXT_TID.fetch_add(1, Ordering::Relaxed);
        }
        c.tid
    })
}

// ---- the trace ------------------------------------------------------------

enum Event {
    Host { tid: u32, name: &'static str, ts: u64, dur: u64, blocked: u64, waited: Option<Wait> },
    Device { core: u32, job: u64, model: u32, ts: u64, dur: u64, status: u32 },
    Flow { core: u32, tid: u32, from: u64, to: u64 },
}

struct Ring {
    events: Vec<Event>,
    next: usize,
    total: u64,
    cap: usize,
}

impl Ring {
    fn push(&mut self, e: Event) {
        self.total += 1;
        if self.events.len() < self.cap {
            self.events.push(e);
        } else {
            self.events[self.next] = e;
            self.next = (self.next + 1) % self.cap;
        }
    }

    /// Events oldest first.
    fn ordered(&self) -> impl Iterator<Item = &Event> {
        self.events[self.next..].iter().chain(self.events[..self.next].iter())
    }
}

/// Cores with their own timing slots (the observer exists before nrt_init
/// tells the core count): the simulator's most, 255. Beyond, cores share
/// slots, which only blurs the device slices of the trace.
const CORES: usize = 256;
const SLOTS: usize = crate::config::MAX_INFLIGHT_CAP;

#[derive(Hash, PartialEq, Eq, Clone)]
struct WaitKey {
    tensor: Option<Arc<str>>,
    call: &'static str,
    why: &'static str,
    /// The program's call site (a return address, `nrt_common::site`; 0: unknown).
    site: usize,
}

#[derive(Default, Clone, Copy)]
struct WaitAgg {
    count: u64,
    ns: u64,
}

pub struct Observer {
    start: Instant,
    stats: Option<StatsOut>,
    trace: Option<(String, Mutex<Ring>)>,
    mode: String,
    depth: usize,
    calls: Mutex<Vec<&'static CallStat>>,
    waits: Mutex<HashMap<WaitKey, WaitAgg>>,
    queue_depth: [AtomicU64; SLOTS + 1],
    /// When each request was submitted / seen complete, by core and job slot.
    submitted_ns: Box<[AtomicU64]>,
    ended_ns: Box<[AtomicU64]>,
    last_end_ns: Box<[AtomicU64]>,
    cores_seen: AtomicU32,
}

static OBSERVER: OnceCell<Option<Observer>> = OnceCell::new();

/// Sets up stats and tracing as configured (once).
pub fn init(config: &Config, mode: &str) {
    OBSERVER.get_or_init(|| (config.stats.is_some() || config.trace.is_some()).then(|| Observer::new(config, mode)));
}

/// The observer, when stats or tracing are on.
pub fn get() -> Option<&'static Observer> {
    OBSERVER.get().and_then(Option::as_ref)
}

/// The observer's locks, held across fork (so the child gets them unheld).
pub struct ObserveHeld {
    _calls: MutexGuard<'static, Vec<&'static CallStat>>,
    _waits: MutexGuard<'static, HashMap<WaitKey, WaitAgg>>,
    _ring: Option<MutexGuard<'static, Ring>>,
}

/// pthread_atfork prepare (after the engine's locks: calls hold none of these
/// while taking one of the engine's).
pub fn before_fork() -> Option<ObserveHeld> {
    get().map(|o| ObserveHeld {
        _calls: o.calls.lock(),
        _waits: o.waits.lock(),
        _ring: o.trace.as_ref().map(|(_, r)| r.lock()),
    })
}

fn slot(core: u32, job: u64) -> usize {
    (core as usize % CORES) * SLOTS + (job as usize % SLOTS)
}

impl Observer {
    fn new(config: &Config, mode: &str) -> Observer {
        let trace = config.trace.clone().map(|path| {
            let cap = config.trace_events;
            (path, Mutex::new(Ring { events: Vec::with_capacity(cap.min(1 << 20)), next: 0, total: 0, cap }))
        });
        Observer {
            start: Instant::now(),
            stats: config.stats.clone(),
            trace,
            mode: mode.to_string(),
            depth: config.max_inflight,
            calls: Mutex::new(Vec::new()),
            waits: Mutex::new(HashMap::new()),
            queue_depth: [const { AtomicU64::new(0) }; SLOTS + 1],
            submitted_ns: (0..CORES * SLOTS).map(|_| AtomicU64::new(0)).collect(),
            ended_ns: (0..CORES * SLOTS).map(|_| AtomicU64::new(0)).collect(),
            last_end_ns: (0..CORES).map(|_| AtomicU64::new(0)).collect(),
            cores_seen: AtomicU32::new(0),
        }
    }

    fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// An export starts: forget what the previous call of this thread waited for.
    pub fn begin(&self) -> u64 {
        CTX.with(|c| {
            let mut c = c.borrow_mut();
            c.blocked_ns = 0;
            c.waited = None;
        });
        self.now_ns()
    }

    /// An export, called from `site` in the program (a return address, see
    /// `nrt_common::site`), ends: its statistics, its wait (kept per site), its
    /// trace event.
    pub fn end(&self, stat: &'static CallStat, t0: u64, site: usize) {
        let t1 = self.now_ns();
        let tid = tid();
        let (blocked, waited) = CTX.with(|c| {
            let mut c = c.borrow_mut();
            (c.blocked_ns, c.waited.take())
        });
        stat.record(self, blocked);
        if let Some(w) = &waited {
            let mut waits = self.waits.lock();
            let agg = waits.entry(WaitKey { tensor: w.tensor.clone(), call: stat.name, why: w.why, site }).or_default();
            agg.count += 1;
            agg.ns += w.ns;
        }
        if let Some((_, ring)) = &self.trace {
            let mut ring = ring.lock();
            if let Some(Wait { core, job: Some(job), .. }) = &waited {
                let from = self.ended_ns[slot(*core, *job)].load(Ordering::Relaxed);
                if from > 0 && from <= t1 {
                    ring.push(Event::Flow { core: *core, tid, from, to: t1 });
                }
            }
            ring.push(Event::Host { tid, name: stat.name, ts: t0, dur: t1 - t0, blocked, waited });
        }
    }

    /// The current call waited `ns` for request `job` of `core` (None: for
    /// room in the window), because of `why`, on bytes of `tensor`.
    pub fn waited(&self, core: u32, job: Option<u64>, why: &'static str, tensor: Option<&Arc<str>>, ns: u64) {
        CTX.with(|c| {
            let mut c = c.borrow_mut();
            c.blocked_ns += ns;
            if c.waited.as_ref().is_none_or(|w| w.ns < ns) {
                c.waited = Some(Wait { core, job, why, tensor: tensor.cloned(), ns });
            }
        });
    }

    /// A request was accepted with `depth` others outstanding on its core.
    pub fn accepted(&self, depth: usize) {
        self.queue_depth[depth.min(SLOTS)].fetch_add(1, Ordering::Relaxed);
    }

    /// A request was handed to the device.
    pub fn submitted(&self, core: u32, job: u64) {
        self.submitted_ns[slot(core, job)].store(self.now_ns(), Ordering::Relaxed);
        self.cores_seen.fetch_max(core + 1, Ordering::Relaxed);
    }

    /// A request left the device (seen by the completion thread).
    pub fn retired(&self, core: u32, job: u64, model: u32, status: u32) {
        let end = self.now_ns();
        let s = slot(core, job);
        self.ended_ns[s].store(end, Ordering::Relaxed);
        let c = core as usize % CORES;
        // It could start once submitted and once the unit finished the previous one.
        let start = self.submitted_ns[s].load(Ordering::Relaxed).max(self.last_end_ns[c].load(Ordering::Relaxed));
        self.last_end_ns[c].store(end, Ordering::Relaxed);
        if let Some((_, ring)) = &self.trace {
            let start = start.min(end);
            ring.lock().push(Event::Device { core, job, model, ts: start, dur: end - start, status });
        }
    }
}

mod logging;
pub mod record;
mod report;

pub use logging::{init_logging, write_stderr};

#[cfg(test)]
mod tests;

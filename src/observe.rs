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
}

const NAMES: [&str; 12] = [
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
];

pub struct Counters([AtomicU64; 12]);

pub static COUNTERS: Counters = Counters([const { AtomicU64::new(0) }; 12]);

impl Counters {
    pub fn add(&self, c: Counter, n: u64) {
        self.0[c as usize].fetch_add(n, Ordering::Relaxed);
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

    /// An export ends: its statistics, its wait, its trace event.
    pub fn end(&self, stat: &'static CallStat, t0: u64) {
        let t1 = self.now_ns();
        let tid = tid();
        let (blocked, waited) = CTX.with(|c| {
            let mut c = c.borrow_mut();
            (c.blocked_ns, c.waited.take())
        });
        stat.record(self, blocked);
        if let Some(w) = &waited {
            let mut waits = self.waits.lock();
            let agg = waits.entry(WaitKey { tensor: w.tensor.clone(), call: stat.name, why: w.why }).or_default();
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

    /// Writes the trace and the stats files (at nrt_close and at exit, each
    /// time with everything so far); the text summary only at exit (`last`).
    pub fn write_reports(&self, last: bool) {
        if let Some((path, ring)) = &self.trace {
            let json = self.trace_json(&ring.lock());
            if let Err(e) = write_atomically(path, &json) {
                log::warn!("cannot write the trace to {path}: {e}");
            }
        }
        match &self.stats {
            Some(StatsOut::Stderr) if last => {
                let _ = std::io::stderr().write_all(self.stats_text().as_bytes());
            }
            Some(StatsOut::File(path)) => {
                if let Err(e) = write_atomically(path, &self.stats_json()) {
                    log::warn!("cannot write the stats to {path}: {e}");
                }
            }
            _ => {}
        }
    }

    fn trace_json(&self, ring: &Ring) -> String {
        let us = |ns: u64| ns as f64 / 1000.0;
        let mut out = String::with_capacity(ring.events.len() * 160 + 1024);
        let _ = write!(
            out,
            "{{\"displayTimeUnit\": \"ms\", \"otherData\": {{\"tool\": \"nrt-async-shim\", \"version\": \"{}\", \
             \"mode\": \"{}\", \"in_flight_depth\": {}, \"events\": {}, \"dropped_events\": {}}},\n\"traceEvents\": [\n",
            env!("CARGO_PKG_VERSION"),
            self.mode,
            self.depth,
            ring.events.len(),
            ring.total.saturating_sub(ring.events.len() as u64)
        );
        out.push_str(
            "{\"ph\": \"M\", \"name\": \"process_name\", \"pid\": 1, \"args\": {\"name\": \"nrt-async-shim\"}}",
        );
        for t in 1..NEXT_TID.load(Ordering::Relaxed) {
            let _ = write!(
                out,
                ",\n{{\"ph\": \"M\", \"name\": \"thread_name\", \"pid\": 1, \"tid\": {t}, \"args\": {{\"name\": \"app thread {t}\"}}}}"
            );
        }
        for c in 0..self.cores_seen.load(Ordering::Relaxed) {
            let _ = write!(
                out,
                ",\n{{\"ph\": \"M\", \"name\": \"thread_name\", \"pid\": 1, \"tid\": {}, \"args\": {{\"name\": \"core {c} compute\"}}}}",
                device_tid(c)
            );
        }
        for (flow_id, e) in ring.ordered().enumerate() {
            match e {
                Event::Host { tid, name, ts, dur, blocked, waited } => {
                    let _ = write!(
                        out,
                        ",\n{{\"ph\": \"X\", \"cat\": \"host\", \"name\": \"{name}\", \"pid\": 1, \"tid\": {tid}, \
                         \"ts\": {:.3}, \"dur\": {:.3}, \"args\": {{\"blocked_us\": {:.3}",
                        us(*ts),
                        us(*dur),
                        us(*blocked)
                    );
                    if let Some(Wait { core, job, why, tensor, .. }) = waited {
                        match job {
                            Some(j) => {
                                let _ = write!(out, ", \"waited_for\": \"core{core} #{j}\"");
                            }
                            None => {
                                let _ = write!(out, ", \"waited_for\": \"core{core} window\"");
                            }
                        }
                        let _ = write!(out, ", \"hazard\": \"{why}\"");
                        if let Some(t) = tensor {
                            let _ = write!(out, ", \"tensor\": \"{}\"", json_escape(t));
                        }
                    }
                    out.push_str("}}");
                }
                Event::Device { core, job, model, ts, dur, status } => {
                    let _ = write!(
                        out,
                        ",\n{{\"ph\": \"X\", \"cat\": \"device\", \"name\": \"model {model} #{job}\", \"pid\": 1, \
                         \"tid\": {}, \"ts\": {:.3}, \"dur\": {:.3}, \"args\": {{\"core\": {core}, \"job\": {job}, \
                         \"status\": {status}}}}}",
                        device_tid(*core),
                        us(*ts),
                        us(*dur)
                    );
                }
                Event::Flow { core, tid, from, to } => {
                    // Bound to the end of the request's slice and of the wait.
                    let _ = write!(
                        out,
                        ",\n{{\"ph\": \"s\", \"cat\": \"dependency\", \"name\": \"waits for\", \"id\": {flow_id}, \
                         \"pid\": 1, \"tid\": {}, \"ts\": {:.3}}},\n{{\"ph\": \"f\", \"bp\": \"e\", \"cat\": \
                         \"dependency\", \"name\": \"waits for\", \"id\": {flow_id}, \"pid\": 1, \"tid\": {tid}, \"ts\": {:.3}}}",
                        device_tid(*core),
                        us(from.saturating_sub(1)),
                        us(*to)
                    );
                }
            }
        }
        out.push_str("\n]}\n");
        out
    }

    fn sorted_calls(&self) -> Vec<&'static CallStat> {
        let mut calls = self.calls.lock().clone();
        calls.sort_by_key(|c| c.name);
        calls
    }

    fn sorted_waits(&self) -> Vec<(WaitKey, WaitAgg)> {
        let mut waits: Vec<_> = self.waits.lock().iter().map(|(k, v)| (k.clone(), *v)).collect();
        waits.sort_by_key(|w| std::cmp::Reverse(w.1.ns));
        waits
    }

    /// The three largest sources of waiting, in plain words.
    fn advice(&self, wall_ns: u64) -> Vec<String> {
        self.sorted_waits()
            .into_iter()
            .take(3)
            .map(|(k, v)| {
                let pct = 100.0 * v.ns as f64 / wall_ns.max(1) as f64;
                let what = k.tensor.as_deref().map_or_else(|| "tensors".to_string(), |t| format!("'{t}'"));
                match (k.call, k.why) {
                    (_, "window-full") => format!(
                        "{} waited {pct:.0}% of the run for room in the in-flight window (depth {}): the device is the \
                         bottleneck; a deeper window (NRT_SHIM_MAX_INFLIGHT) only helps if requests vary in length",
                        k.call, self.depth
                    ),
                    (c, "read-after-write") if c.contains("read") || c.contains("completion") => format!(
                        "reads of {what} waited {pct:.0}% of the run for the execution that produces them: read them \
                         one step later (after submitting the next request) to overlap"
                    ),
                    (_, "write-after-read") => format!(
                        "writes to {what} waited {pct:.0}% of the run for executions still reading them: write into a \
                         second buffer (double-buffer the inputs) so the transfer overlaps compute"
                    ),
                    (_, "write-after-write") => format!(
                        "writes to {what} waited {pct:.0}% of the run for executions that produce them: write after \
                         reading the results, or into a second buffer"
                    ),
                    (call, why) => format!("{call} on {what} waited {pct:.0}% of the run ({why})"),
                }
            })
            .collect()
    }

    fn stats_json(&self) -> String {
        let wall = self.now_ns();
        let mut s = String::new();
        let _ = write!(
            s,
            "{{\"version\": \"{}\", \"wall_us\": {:.3}, \"mode\": \"{}\", \"in_flight_depth\": {},\n\"calls\": {{",
            env!("CARGO_PKG_VERSION"),
            wall as f64 / 1000.0,
            self.mode,
            self.depth
        );
        for (i, c) in self.sorted_calls().iter().enumerate() {
            let _ = write!(
                s,
                "{}\"{}\": {{\"count\": {}, \"blocked_us\": {{\"total\": {:.3}, \"median\": {:.3}, \"p99\": {:.3}}}}}",
                if i > 0 { ", " } else { "" },
                c.name,
                c.count.load(Ordering::Relaxed),
                c.blocked_ns.load(Ordering::Relaxed) as f64 / 1000.0,
                c.quantile_us(0.5),
                c.quantile_us(0.99)
            );
        }
        s.push_str("},\n\"waits\": [");
        for (i, (k, v)) in self.sorted_waits().iter().enumerate() {
            let tensor = k.tensor.as_deref().map_or_else(|| "null".to_string(), |t| format!("\"{}\"", json_escape(t)));
            let _ = write!(
                s,
                "{}{{\"tensor\": {tensor}, \"call\": \"{}\", \"hazard\": \"{}\", \"count\": {}, \"total_us\": {:.3}, \
                 \"share_of_run\": {:.4}}}",
                if i > 0 { ", " } else { "" },
                k.call,
                k.why,
                v.count,
                v.ns as f64 / 1000.0,
                v.ns as f64 / wall.max(1) as f64
            );
        }
        s.push_str("],\n\"queue_depth\": {");
        let mut first = true;
        for (d, n) in self.queue_depth.iter().enumerate() {
            let n = n.load(Ordering::Relaxed);
            if n > 0 {
                let _ = write!(s, "{}\"{d}\": {n}", if first { "" } else { ", " });
                first = false;
            }
        }
        let _ = write!(s, "}},\n\"counters\": {},\n\"advice\": [", COUNTERS.to_json());
        for (i, a) in self.advice(wall).iter().enumerate() {
            let _ = write!(s, "{}\"{}\"", if i > 0 { ", " } else { "" }, json_escape(a));
        }
        s.push_str("]}\n");
        s
    }

    fn stats_text(&self) -> String {
        let wall = self.now_ns();
        let mut s = String::new();
        let p = "nrt-async-shim: stats:";
        let _ = writeln!(s, "{p} {:.3} s, mode {}, in-flight depth {}", wall as f64 / 1e9, self.mode, self.depth);
        let _ =
            writeln!(s, "{p}   {:<36} {:>9} {:>14} {:>12} {:>12}", "call", "count", "blocked total", "median", "p99");
        for c in self.sorted_calls() {
            let _ = writeln!(
                s,
                "{p}   {:<36} {:>9} {:>11.3} ms {:>9.1} us {:>9.1} us",
                c.name,
                c.count.load(Ordering::Relaxed),
                c.blocked_ns.load(Ordering::Relaxed) as f64 / 1e6,
                c.quantile_us(0.5),
                c.quantile_us(0.99)
            );
        }
        for (k, v) in self.sorted_waits().iter().take(10) {
            let _ = writeln!(
                s,
                "{p}   waited: {} {} ({}): {} waits, {:.3} ms ({:.1}% of the run)",
                k.call,
                k.tensor.as_deref().map_or_else(|| "-".to_string(), |t| format!("'{t}'")),
                k.why,
                v.count,
                v.ns as f64 / 1e6,
                100.0 * v.ns as f64 / wall.max(1) as f64
            );
        }
        let depths: Vec<String> = self
            .queue_depth
            .iter()
            .enumerate()
            .filter(|(_, n)| n.load(Ordering::Relaxed) > 0)
            .map(|(d, n)| format!("{d}:{}", n.load(Ordering::Relaxed)))
            .collect();
        let _ = writeln!(s, "{p}   requests outstanding at nrt_execute (depth:count): {}", depths.join(" "));
        let _ = writeln!(s, "{p}   counters: {}", COUNTERS.to_json());
        for (i, a) in self.advice(wall).iter().enumerate() {
            let _ = writeln!(s, "{p}   {}. {a}", i + 1);
        }
        s
    }
}

fn device_tid(core: u32) -> u32 {
    1000 + 16 * core
}

fn json_escape(s: &str) -> String {
    nrt_common::json::escape(s, nrt_common::json::Controls::Unicode)
}

fn write_atomically(path: &str, text: &str) -> std::io::Result<()> {
    let tmp = format!("{path}.tmp.{}", std::process::id());
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

// ---- logging --------------------------------------------------------------

struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            // One write(2) per line, so lines of several threads do not
            // interleave; not through std's stderr, whose lock a forked child
            // may inherit held by a thread it lacks.
            let line = format!("nrt-async-shim: {}: {}\n", r.level().as_str().to_ascii_lowercase(), r.args());
            write_stderr(line.as_bytes());
        }
    }

    fn flush(&self) {}
}

static LOGGER: StderrLogger = StderrLogger;

/// Installs the logger once; harmless if called again (this library has its
/// own copy of the `log` crate, so the host program's logger is untouched).
pub fn init_logging(level: log::LevelFilter) {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}

/// Writes `bytes` to fd 2 with one write(2) (a short write drops the rest:
/// a log line is not worth a loop that a full pipe could stall).
pub fn write_stderr(bytes: &[u8]) {
    // SAFETY: a valid buffer of that length; fd 2 may be closed (EBADF, ignored).
    let _ = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_and_serialise() {
        let before = COUNTERS.get(Counter::QueueFull);
        COUNTERS.add(Counter::QueueFull, 2);
        COUNTERS.hazard(Hazard::WriteAfterRead);
        assert_eq!(COUNTERS.get(Counter::QueueFull), before + 2);
        let j = COUNTERS.to_json();
        assert!(j.starts_with('{') && j.ends_with('}'));
        assert!(j.contains("\"queue_full_absorbed\": "));
        assert_eq!(j.matches(':').count(), NAMES.len());
    }

    fn observer(trace_cap: usize) -> Observer {
        let mut config = Config::from_lookup(|_| None, None).0;
        config.stats = Some(StatsOut::Stderr);
        config.trace = Some("unused".into());
        config.trace_events = trace_cap;
        Observer::new(&config, "async")
    }

    static READ: CallStat = CallStat::new("nrt_tensor_read");

    #[test]
    fn a_wait_is_attributed_to_its_call_tensor_and_hazard() {
        let o = observer(100);
        o.submitted(0, 1);
        std::thread::sleep(std::time::Duration::from_millis(2));
        o.retired(0, 1, 1, 0);
        let t0 = o.begin();
        let name: Arc<str> = Arc::from("logits");
        o.waited(0, Some(1), "read-after-write", Some(&name), 5_000_000);
        o.end(&READ, t0);
        let stats = o.stats_json();
        assert!(
            stats.contains("\"tensor\": \"logits\", \"call\": \"nrt_tensor_read\", \"hazard\": \"read-after-write\"")
        );
        assert!(stats.contains("reads of 'logits' waited"), "{stats}");
        let trace = o.trace_json(&o.trace.as_ref().unwrap().1.lock());
        assert!(trace.contains("\"cat\": \"device\""));
        assert!(trace.contains("\"waited_for\": \"core0 #1\""));
        assert!(trace.contains("\"ph\": \"s\"") && trace.contains("\"ph\": \"f\""));
        assert!(trace.contains("\"name\": \"core 0 compute\""));
        assert!(o.stats_text().contains("1. reads of 'logits'"));
    }

    #[test]
    fn the_ring_keeps_the_newest_and_counts_the_dropped() {
        let o = observer(3);
        for j in 1..=5 {
            o.submitted(0, j);
            o.retired(0, j, 1, 0);
        }
        let ring = o.trace.as_ref().unwrap().1.lock();
        let jobs: Vec<u64> = ring.ordered().map(|e| if let Event::Device { job, .. } = e { *job } else { 0 }).collect();
        assert_eq!(jobs, vec![3, 4, 5]);
        let trace = o.trace_json(&ring);
        assert!(trace.contains("\"dropped_events\": 2"));
    }

    #[test]
    fn quantiles_come_from_the_histogram() {
        static S: CallStat = CallStat::new("q");
        let o = observer(1);
        for _ in 0..98 {
            S.record(&o, 0);
        }
        S.record(&o, 1_000_000);
        S.record(&o, 1_000_000);
        assert_eq!(S.quantile_us(0.5), 0.0);
        let p99 = S.quantile_us(0.99);
        assert!((1000.0..=2100.0).contains(&p99), "{p99}");
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_escape("a\"b\\c\n"), "a\\\"b\\\\c\\u000a");
    }
}

//! The engine against a fake device: no C, no runtime. The fake queues
//! requests per core and completes them only when a test says so, so every
//! wait and wake-up can be observed.

use std::collections::{HashMap, HashSet, VecDeque};
use std::ffi::CString;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use crate::sync::plain::Mutex;

use super::*;
use crate::config::Config;

#[derive(Default)]
struct FakeState {
    /// (set, name, tensor) of every add, to check what requests were given.
    added: Vec<(Handle, String, Handle)>,
    queued: HashMap<u32, VecDeque<u64>>,
    done: HashSet<u64>,
    statuses: HashMap<u64, Status>,
    next_seq: u64,
    capacity: usize,
    freed: Vec<Handle>,
    closed: usize,
    sets_allocated: usize,
    sets_destroyed: usize,
    adds: usize,
    schedules: usize,
}

#[derive(Default)]
struct Fake {
    st: Mutex<FakeState>,
    models: HashMap<Handle, ModelDesc>,
    threads: AtomicUsize,
    /// Offer direct waiting (Device::wait_for), as the real v3/v2 backends do.
    direct: std::sync::atomic::AtomicBool,
    direct_waits: AtomicUsize,
}

impl Fake {
    /// Completes the oldest request of `core` with `status`.
    fn complete(&self, core: u32, status: Status) -> bool {
        let mut st = self.st.lock();
        let Some(seq) = st.queued.get_mut(&core).and_then(|q| q.pop_front()) else { return false };
        st.done.insert(seq);
        st.statuses.insert(seq, status);
        true
    }

    fn queued(&self, core: u32) -> usize {
        self.st.lock().queued.get(&core).map_or(0, |q| q.len())
    }
}

impl Device for Fake {
    fn schedule(&self, core: u32, _m: Handle, _i: Handle, _o: Handle, _slot: &AtomicU32) -> SubmitOutcome {
        let mut st = self.st.lock();
        st.schedules += 1;
        let cap = if st.capacity == 0 { usize::MAX } else { st.capacity };
        if st.queued.get(&core).map_or(0, |q| q.len()) >= cap {
            return SubmitOutcome::QueueFull;
        }
        st.next_seq += 1;
        let seq = st.next_seq;
        st.queued.entry(core).or_default().push_back(seq);
        SubmitOutcome::Queued { device_seq: seq }
    }
    fn is_completed(&self, seq: u64) -> Result<bool, Status> {
        Ok(self.st.lock().done.contains(&seq))
    }
    fn status_of(&self, _core: u32, seq: u64, _slot: &AtomicU32) -> Status {
        self.st.lock().statuses.get(&seq).copied().unwrap_or(NRT_SUCCESS)
    }
    fn wait_any(&self, _seqs: &[u64], _attempt: u32) {
        std::thread::sleep(Duration::from_micros(200));
    }
    fn wake(&self) {}
    fn can_wait_for(&self) -> bool {
        self.direct.load(Ordering::SeqCst)
    }
    fn wait_for(&self, _seq: u64, timeout: Duration) -> bool {
        self.direct_waits.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(timeout.min(Duration::from_micros(200)));
        true
    }
    fn closed(&self) {
        self.st.lock().closed += 1;
    }
    fn describe_model(&self, model: Handle) -> Result<ModelDesc, Status> {
        self.models.get(&model).cloned().ok_or(NRT_INVALID_HANDLE)
    }
    fn allocate_set(&self) -> Result<Handle, Status> {
        let mut st = self.st.lock();
        st.sets_allocated += 1;
        Ok(0x9000_0000 + st.sets_allocated * 16)
    }
    fn add_to_set(&self, set: Handle, name: &CString, t: Handle) -> Status {
        let mut st = self.st.lock();
        st.added.push((set, name.to_string_lossy().into_owned(), t));
        st.adds += 1;
        NRT_SUCCESS
    }
    fn destroy_set(&self, _set: Handle) {
        self.st.lock().sets_destroyed += 1;
    }
    fn free_tensor(&self, t: Handle) {
        self.st.lock().freed.push(t);
    }
    fn spawn(&self, name: &str, f: Box<dyn FnOnce() + Send>) -> bool {
        self.threads.fetch_add(1, Ordering::SeqCst);
        std::thread::Builder::new().name(name.into()).spawn(f).is_ok()
    }
}

mod fork;

const MODEL: Handle = 0x100;
const MODEL1: Handle = 0x110;
const IN: Handle = 0x200;
const OUT: Handle = 0x210;
const IN2: Handle = 0x220;
const OUT2: Handle = 0x230;
const X: Handle = 0x1000;
const Y: Handle = 0x1010;
const X2: Handle = 0x1020;
const Y2: Handle = 0x1030;
const HOST: Handle = 0x1040;

fn mt(name: &str, size: u64) -> ModelTensor {
    ModelTensor { name: CString::new(name).unwrap(), size }
}

/// One model (x:64 -> y:64) on core 0, one on core 1; tensors x, y (and x2,
/// y2) on core 0, sets IN={x:X} OUT={y:Y}, IN2={x:X2} OUT2={y:Y2}.
fn engine(depth: usize) -> &'static Engine<Fake> {
    engine_with(depth, |_| {})
}

fn engine_with(depth: usize, tweak: impl FnOnce(&mut Config)) -> &'static Engine<Fake> {
    let mut fake = Fake::default();
    let desc = |core| ModelDesc { core, inputs: vec![mt("x", 64)], outputs: vec![mt("y", 64)] };
    fake.models.insert(MODEL, desc(0));
    fake.models.insert(MODEL1, desc(1));
    let mut config = Config::from_lookup(|_| None, None).0;
    config.max_inflight = depth;
    tweak(&mut config);
    let e: &'static Engine<Fake> = Box::leak(Box::new(Engine::new(fake, config)));
    e.opened(2);
    for t in [X, Y, X2, Y2] {
        e.tensor_allocated(t, None, Some(0), 64);
    }
    e.tensor_allocated(HOST, None, None, 64);
    for (set, t) in [(IN, X), (OUT, Y), (IN2, X2), (OUT2, Y2)] {
        e.set_allocated(set);
        let name: &[u8] = if set == IN || set == IN2 { b"x" } else { b"y" };
        e.sets.get(set).unwrap().contents.lock().put(name, t);
    }
    e
}

fn exec(e: &'static Engine<Fake>, input: Handle, output: Handle) -> Status {
    e.execute(MODEL, input, output, 1, || panic!("device tensors never take the host path"))
}

fn read(e: &'static Engine<Fake>, t: Handle) -> Status {
    let view = e.tensor(t).unwrap().view();
    let r = ByteRange::new(view.offset, view.size);
    e.host_access(&view, r, AccessKind::Read, None, || NRT_SUCCESS)
}

fn write(e: &'static Engine<Fake>, t: Handle) -> Status {
    let view = e.tensor(t).unwrap().view();
    let r = ByteRange::new(view.offset, view.size);
    e.host_access(&view, r, AccessKind::Write, None, || NRT_SUCCESS)
}

/// Runs `f` on another thread; returns a receiver for its result.
fn spawn<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> mpsc::Receiver<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx
}

const BLOCKED: Duration = Duration::from_millis(100);
const WATCHDOG: Duration = Duration::from_secs(10);

#[test]
fn execute_returns_before_the_device_finishes() {
    let e = engine(4);
    assert_eq!(exec(e, IN, OUT), NRT_SUCCESS);
    assert_eq!(e.device.queued(0), 1, "scheduled on the device");
    assert_eq!(e.outstanding(), 1);
}

#[test]
fn read_waits_for_its_producer_only() {
    let e = engine(4);
    assert_eq!(exec(e, IN, OUT), NRT_SUCCESS);
    // x2 is untouched by the pending request: no wait.
    assert_eq!(read(e, X2), NRT_SUCCESS);
    // x is only read by it: reading x needs no wait either.
    assert_eq!(read(e, X), NRT_SUCCESS);
    // y is its output: the read blocks until it completes.
    let r = spawn(move || read(e, Y));
    assert!(r.recv_timeout(BLOCKED).is_err(), "the read of y must wait");
    assert!(e.device.complete(0, NRT_SUCCESS));
    assert_eq!(r.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
}

#[test]
fn write_waits_for_readers_of_its_bytes() {
    let e = engine(4);
    exec(e, IN, OUT);
    let w = spawn(move || write(e, X));
    assert!(w.recv_timeout(BLOCKED).is_err(), "overwriting an input in use must wait");
    e.device.complete(0, NRT_SUCCESS);
    assert_eq!(w.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
}

#[test]
fn the_window_blocks_the_next_request() {
    let e = engine(2);
    exec(e, IN, OUT);
    exec(e, IN2, OUT2);
    let third = spawn(move || exec(e, IN, OUT));
    assert!(third.recv_timeout(BLOCKED).is_err(), "a third request waits for room");
    e.device.complete(0, NRT_SUCCESS);
    assert_eq!(third.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
}

#[test]
fn queue_full_is_absorbed() {
    let e = engine(4);
    e.device.st.lock().capacity = 1;
    exec(e, IN, OUT);
    exec(e, IN2, OUT2);
    assert_eq!(e.device.queued(0), 1, "the runtime took one");
    e.device.complete(0, NRT_SUCCESS);
    // The completion thread retries the refused request.
    let t0 = std::time::Instant::now();
    while e.device.queued(0) == 0 && t0.elapsed() < WATCHDOG {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(e.device.queued(0), 1);
    e.device.complete(0, NRT_SUCCESS);
    assert!(e.wait_all(Some(std::time::Instant::now() + WATCHDOG), "test"));
}

#[test]
fn a_failure_reaches_the_next_read_of_an_output_once() {
    let e = engine(4);
    exec(e, IN, OUT);
    e.device.complete(0, 1004);
    assert_eq!(read(e, X), NRT_SUCCESS, "inputs are not affected");
    assert_eq!(read(e, Y), 1004);
    assert_eq!(e.drain(0), NRT_SUCCESS, "the read reported it");
    assert_eq!(read(e, Y), 1004, "never returned as good data");
    assert_eq!(write(e, Y), NRT_SUCCESS);
    assert_eq!(read(e, Y), NRT_SUCCESS, "rewritten: good again");
}

#[test]
fn drain_reports_a_failure_no_read_saw() {
    let e = engine(4);
    exec(e, IN, OUT);
    e.device.complete(0, 1004);
    assert_eq!(e.drain(0), 1004);
    assert_eq!(e.drain(0), NRT_SUCCESS, "reported once");
    assert_eq!(read(e, Y), 1004, "the bytes are still bad");
    assert_eq!(e.drain(1), NRT_SUCCESS);
    assert_eq!(e.drain(5), NRT_INVALID);
}

static CALLS: Mutex<Vec<(u32, u64, Status)>> = Mutex::new(Vec::new());

fn record(_raw: usize, _params: usize, _model: u32, vnc: u32, job: u64, status: Status) {
    CALLS.lock().push((vnc, job, status));
}

#[test]
fn the_callback_gets_every_status_once() {
    let e = engine(4);
    e.set_callback(Some(Callback { call: record, raw: 0, params: 0 }));
    exec(e, IN, OUT);
    exec(e, IN2, OUT2);
    e.device.complete(0, 1004);
    e.device.complete(0, NRT_SUCCESS);
    assert!(e.wait_all(Some(std::time::Instant::now() + WATCHDOG), "test"));
    let calls: Vec<_> = CALLS.lock().clone();
    assert_eq!(calls, vec![(0, 1, 1004), (0, 2, NRT_SUCCESS)]);
    assert_eq!(e.drain(0), NRT_SUCCESS, "the callback reported it");
    assert_eq!(read(e, Y), 1004, "the bytes are still bad");
}

#[test]
fn free_is_deferred_until_the_last_user_completes() {
    let e = engine(4);
    exec(e, IN, OUT);
    e.free_tensor(Y);
    assert!(e.device.st.lock().freed.is_empty(), "in use: deferred");
    assert_eq!(e.tensor(Y).unwrap_err(), NRT_INVALID_HANDLE, "the handle is gone at once");
    e.device.complete(0, NRT_SUCCESS);
    assert!(e.wait_all(Some(std::time::Instant::now() + WATCHDOG), "test"));
    let t0 = std::time::Instant::now();
    while e.device.st.lock().freed.is_empty() && t0.elapsed() < WATCHDOG {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(e.device.st.lock().freed, vec![Y]);
    e.free_tensor(X2);
    assert_eq!(e.device.st.lock().freed, vec![Y, X2], "unused: freed at once");
}

#[test]
fn steady_state_reuses_the_shims_tensor_sets() {
    let e = engine(8);
    for _ in 0..3 {
        exec(e, IN, OUT);
        exec(e, IN2, OUT2);
    }
    let st = e.device.st.lock();
    assert_eq!(st.sets_allocated, 4, "one mirror per set");
    assert_eq!(st.schedules, 6);
}

#[test]
fn changing_a_set_in_flight_does_not_touch_the_pending_request() {
    let e = engine(8);
    exec(e, IN, OUT);
    // The application points its input set at another tensor right away.
    e.sets.get(IN).unwrap().contents.lock().put(b"x", X2);
    exec(e, IN, OUT2);
    assert_eq!(e.device.st.lock().sets_allocated, 4, "a second mirror, the first one unchanged");
    e.device.complete(0, NRT_SUCCESS);
    e.device.complete(0, NRT_SUCCESS);
    assert!(e.wait_all(Some(std::time::Instant::now() + WATCHDOG), "test"));
    // Back to x: the idle first mirror matches again.
    e.sets.get(IN).unwrap().contents.lock().put(b"x", X);
    exec(e, IN, OUT);
    assert_eq!(e.device.st.lock().sets_allocated, 4);
    e.set_destroyed(IN);
    assert!(e.device.st.lock().sets_destroyed >= 1);
}

#[test]
fn bad_requests_get_the_runtimes_statuses() {
    let e = engine(4);
    assert_eq!(e.execute(MODEL, 0x9999, OUT, 1, || 0), NRT_INVALID_HANDLE, "unknown set");
    assert_eq!(e.execute(0x7777, IN, OUT, 1, || 0), NRT_INVALID_HANDLE, "unknown model");
    assert_eq!(e.execute(MODEL, OUT, OUT, 1, || 0), NRT_INVALID, "no tensor named x");
    assert_eq!(e.execute(MODEL1, IN, OUT, 1, || 0), NRT_INVALID, "tensors of another core");
    e.tensor_allocated(0x5000, None, Some(0), 32);
    e.sets.get(IN2).unwrap().contents.lock().put(b"x", 0x5000);
    assert_eq!(exec(e, IN2, OUT2), NRT_INVALID, "size differs from the model's");
    assert_eq!(e.device.st.lock().schedules, 0);
}

#[test]
fn host_tensors_run_synchronously_after_their_hazards() {
    let e = engine(4);
    e.set_allocated(0x240);
    e.sets.get(0x240).unwrap().contents.lock().put(b"x", HOST);
    exec(e, IN2, OUT); // writes y
                       // An execution that reads host x and writes y must wait for the pending writer of y.
    let ran = std::sync::Arc::new(AtomicU32::new(0));
    let ran2 = ran.clone();
    let r = spawn(move || {
        e.execute(MODEL, 0x240, OUT, 1, move || {
            ran2.store(1, Ordering::SeqCst);
            NRT_SUCCESS
        })
    });
    assert!(r.recv_timeout(BLOCKED).is_err());
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    e.device.complete(0, NRT_SUCCESS);
    assert_eq!(r.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

#[test]
fn before_init_and_after_close() {
    let fake = Fake::default();
    let e: &'static Engine<Fake> = Box::leak(Box::new(Engine::new(fake, Config::from_lookup(|_| None, None).0)));
    assert_eq!(e.execute(MODEL, IN, OUT, 1, || 0), NRT_UNINITIALIZED);
    e.opened(1);
    e.close();
    assert_eq!(e.execute(MODEL, IN, OUT, 1, || 0), NRT_CLOSED);
    assert_eq!(e.device.st.lock().closed, 1, "the device forgets its runtime objects (v2 error trackers)");
}

#[test]
fn handles_are_checked_before_names_as_the_runtime_does() {
    let e = engine(4);
    // The input set lacks x, the output set names a freed tensor: the
    // runtime reports the handle (NRT_INVALID_HANDLE) before the name.
    e.set_allocated(0x260);
    e.free_tensor(Y2);
    assert_eq!(e.execute(MODEL, 0x260, OUT2, 1, || 0), NRT_INVALID_HANDLE);
    assert_eq!(e.execute(MODEL, 0x260, OUT, 1, || 0), NRT_INVALID, "no freed handle: the missing name");
}

#[test]
fn waiting_without_touching_bytes_keeps_failure_marks() {
    let e = engine(4);
    exec(e, IN, OUT);
    e.device.complete(0, 1006);
    // What nrt_tensor_get_va and reset_output_completion do: wait, touch nothing.
    let view = e.tensor(Y).unwrap().view();
    e.wait_pending(&view, ByteRange::new(view.offset, view.size), AccessKind::Write, None);
    assert_eq!(read(e, Y), 1006, "still the failed request's output");
}

#[test]
fn a_zero_byte_read_inside_marked_bytes_succeeds() {
    let e = engine(4);
    exec(e, IN, OUT);
    e.device.complete(0, 1004);
    let view = e.tensor(Y).unwrap().view();
    assert_eq!(e.host_access(&view, ByteRange::new(8, 0), AccessKind::Read, None, || NRT_SUCCESS), NRT_SUCCESS);
    assert_eq!(e.drain(0), 1004, "and reports nothing");
}

#[test]
fn a_read_reports_every_failure_whose_marks_it_touches() {
    let e = engine(4);
    // One 128-byte tensor; two requests write its halves (through slices) and fail.
    const BIG: Handle = 0x1100;
    e.tensor_allocated(BIG, None, Some(0), 128);
    let big = e.tensor(BIG).unwrap().view();
    for (slice, off, set) in [(0x1110, 0, 0x270), (0x1120, 64, 0x280)] {
        e.slice_allocated(slice, None, &big, off, 64);
        e.set_allocated(set);
        e.sets.get(set).unwrap().contents.lock().put(b"y", slice);
    }
    exec(e, IN, 0x270);
    exec(e, IN2, 0x280);
    e.device.complete(0, 1004);
    e.device.complete(0, 1006);
    let whole = ByteRange::new(0, 128);
    assert_eq!(e.host_access(&big, whole, AccessKind::Read, None, || NRT_SUCCESS), 1004, "the lowest mark's status");
    assert_eq!(e.drain(0), NRT_SUCCESS, "the read reported both");
}

#[test]
fn a_failure_whose_marks_were_replaced_is_reported_by_the_drain() {
    let e = engine(4);
    exec(e, IN, OUT);
    exec(e, IN2, OUT); // writes y again
    e.device.complete(0, 1004);
    e.device.complete(0, 1006);
    assert_eq!(read(e, Y), 1006, "y holds the second request's (failed) output");
    assert_eq!(e.drain(0), 1004, "the first failure reaches the program once, at the drain");
    assert_eq!(e.drain(0), NRT_SUCCESS);
}

/// The runtime's queue can be full of work that is not the shim's (another
/// thread's synchronous execution of host tensors shares the in-order queue).
/// Then no completion of the shim's will come to retry the refused request:
/// it must be retried anyway, not left waiting forever (a hang found by the
/// 100,000-program soak).
#[test]
fn queue_full_with_nothing_of_ours_on_the_device_is_retried() {
    let e = engine(4);
    {
        let mut st = e.device.st.lock();
        st.capacity = 1;
        st.queued.entry(0).or_default().push_back(u64::MAX); // the runtime's own work
    }
    assert_eq!(exec(e, IN, OUT), NRT_SUCCESS);
    assert_eq!(e.device.queued(0), 1, "refused: the queue holds the other work");
    assert!(e.device.complete(0, NRT_SUCCESS), "the other work finishes; no completion of ours");
    let t0 = std::time::Instant::now();
    while e.device.queued(0) == 0 && t0.elapsed() < WATCHDOG {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(e.device.queued(0), 1, "retried without waiting for a completion of its own");
    e.device.complete(0, NRT_SUCCESS);
    assert!(e.wait_all(Some(std::time::Instant::now() + WATCHDOG), "test"));
}

/// The tests of waiting, again with the application thread retiring
/// completions itself (direct waiting) instead of the completion thread.
fn direct(depth: usize) -> &'static Engine<Fake> {
    let e = engine(depth);
    e.device.direct.store(true, Ordering::SeqCst);
    e
}

#[test]
fn direct_waiting_read_waits_for_its_producer_only() {
    let e = direct(4);
    exec(e, IN, OUT);
    assert_eq!(read(e, X2), NRT_SUCCESS);
    let r = spawn(move || read(e, Y));
    assert!(r.recv_timeout(BLOCKED).is_err(), "the read of y must wait");
    assert!(e.device.complete(0, NRT_SUCCESS));
    assert_eq!(r.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
    assert!(e.device.direct_waits.load(Ordering::SeqCst) > 0, "the reader waited on the device itself");
}

/// NRT_SHIM_DIRECT_WAIT=0: the same wait, through the completion thread only.
#[test]
fn direct_waiting_switched_off_waits_for_the_completion_thread() {
    let e = engine_with(4, |c| c.direct_wait = false);
    e.device.direct.store(true, Ordering::SeqCst);
    exec(e, IN, OUT);
    let r = spawn(move || read(e, Y));
    assert!(r.recv_timeout(BLOCKED).is_err(), "the read of y must wait");
    assert!(e.device.complete(0, NRT_SUCCESS));
    assert_eq!(r.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
    assert_eq!(e.device.direct_waits.load(Ordering::SeqCst), 0, "switched off, yet the reader waited on the device");
}

#[test]
fn direct_waiting_window_and_failures() {
    let e = direct(2);
    exec(e, IN, OUT);
    exec(e, IN2, OUT2);
    let third = spawn(move || exec(e, IN, OUT));
    assert!(third.recv_timeout(BLOCKED).is_err(), "a third request waits for room");
    e.device.complete(0, 1004);
    assert_eq!(third.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
    e.device.complete(0, NRT_SUCCESS);
    e.device.complete(0, NRT_SUCCESS);
    assert!(e.wait_all(Some(std::time::Instant::now() + WATCHDOG), "test"));
    // The first failed; the third rewrote y: the drain reports the failure once.
    assert_eq!(read(e, Y), NRT_SUCCESS);
    assert_eq!(e.drain(0), 1004);
    assert_eq!(e.drain(0), NRT_SUCCESS);
}

#[test]
fn direct_waiting_with_a_callback_leaves_retiring_to_the_completion_thread() {
    let e = direct(4);
    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    fn cb(_raw: usize, _params: usize, _model: u32, _vnc: u32, _job: u64, _status: Status) {
        SEEN.lock().push(std::thread::current().name().unwrap_or("").to_string());
    }
    e.set_callback(Some(Callback { call: cb, raw: 0, params: 0 }));
    exec(e, IN, OUT);
    let r = spawn(move || read(e, Y));
    e.device.complete(0, NRT_SUCCESS);
    assert_eq!(r.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
    assert_eq!(*SEEN.lock(), vec!["nrt-shim-compl".to_string()], "callbacks run on the completion thread");
}

#[test]
fn direct_waiting_many_threads_lose_no_wake_up() {
    let e = direct(3);
    // A device that completes everything as it comes, on its own thread.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = stop.clone();
    let dev = std::thread::spawn(move || {
        while !s2.load(Ordering::SeqCst) {
            if !e.device.complete(0, NRT_SUCCESS) {
                std::thread::yield_now();
            }
        }
    });
    let workers: Vec<_> = (0..4)
        .map(|i| {
            spawn(move || {
                let (input, output) = if i % 2 == 0 { (IN, OUT) } else { (IN2, OUT2) };
                for _ in 0..200 {
                    assert_eq!(exec(e, input, output), NRT_SUCCESS);
                    assert_eq!(read(e, if i % 2 == 0 { Y } else { Y2 }), NRT_SUCCESS);
                }
            })
        })
        .collect();
    for w in workers {
        w.recv_timeout(WATCHDOG * 3).expect("a worker hung: lost wake-up");
    }
    stop.store(true, Ordering::SeqCst);
    dev.join().unwrap();
    assert!(e.wait_all(Some(std::time::Instant::now() + WATCHDOG), "test"));
    assert_eq!(e.device.st.lock().schedules, 800);
}

#[test]
fn a_host_execution_waits_for_earlier_requests_to_reach_the_device() {
    let e = engine(4);
    e.device.st.lock().capacity = 1;
    e.set_allocated(0x240);
    e.sets.get(0x240).unwrap().contents.lock().put(b"x", HOST);
    assert_eq!(exec(e, IN, OUT), NRT_SUCCESS); // on the device
    assert_eq!(exec(e, IN2, OUT2), NRT_SUCCESS); // refused for a full queue: waits in the shim
    let schedules = e.device.st.lock().schedules;
    let seen = std::sync::Arc::new(Mutex::new(None));
    let seen2 = seen.clone();
    let r = spawn(move || {
        e.execute(MODEL, 0x240, 0x210, 1, move || {
            *seen2.lock() = Some(e.device.st.lock().queued.get(&0).map_or(0, |q| q.len()));
            1004
        })
    });
    assert!(r.recv_timeout(BLOCKED).is_err(), "the second request has not reached the device");
    assert!(seen.lock().is_none());
    e.device.complete(0, NRT_SUCCESS);
    // The second request goes to the device next, then completes; only then the host execution.
    let deadline = std::time::Instant::now() + WATCHDOG;
    while e.device.queued(0) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(e.device.st.lock().schedules > schedules, "the refused request was retried");
    assert!(seen.lock().is_none(), "the host execution overtook it");
    e.device.complete(0, NRT_SUCCESS);
    assert_eq!(r.recv_timeout(WATCHDOG).unwrap(), 1004, "without a callback its own status is its report");
    assert_eq!(*seen.lock(), Some(0), "nothing of ours was queued when it ran");
    assert_eq!(read(e, Y), 1004, "its device output is marked (sticky)");
    assert_eq!(e.drain(0), NRT_SUCCESS, "reported once, by nrt_execute");
}

#[test]
fn a_derived_failure_shares_the_original_report() {
    let e = engine(4);
    e.set_allocated(0x250);
    e.sets.get(0x250).unwrap().contents.lock().put(b"x", Y);
    exec(e, IN, OUT); // fails: y marked
    exec(e, 0x250, OUT2); // reads y, writes y2
    e.device.complete(0, 1004);
    e.device.complete(0, NRT_SUCCESS);
    assert!(e.wait_all(Some(std::time::Instant::now() + WATCHDOG), "test"));
    assert_eq!(e.drain(0), 1004);
    assert_eq!(e.drain(0), NRT_SUCCESS, "one device failure, one report");
    assert_eq!(read(e, Y2), 1004, "the consumer's output holds no good data");
    // A consumer accepted after the failure is known still reaches the device.
    let before = e.device.st.lock().schedules;
    exec(e, 0x250, OUT2);
    assert_eq!(e.device.st.lock().schedules, before + 1);
    e.device.complete(0, NRT_SUCCESS);
    assert!(e.wait_all(Some(std::time::Instant::now() + WATCHDOG), "test"));
    assert_eq!(read(e, Y2), 1004);
    assert_eq!(e.drain(0), NRT_SUCCESS);
}

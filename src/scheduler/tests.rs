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
    /// Spare tensors allocate_tensor may still hand out (renaming tests).
    spare_budget: usize,
    spares: Vec<Handle>,
    copies: Vec<(Handle, Handle)>,
    /// A value per runtime tensor: its bytes, for the renaming tests.
    bytes: HashMap<Handle, u64>,
    /// The input tensor ("x") each request's input set held when scheduled.
    input_of: HashMap<u64, Handle>,
    /// The value each request's input held when it completed (ran).
    read_values: Vec<u64>,
    /// Input sets of the scheduled requests, in the order they reached the fake.
    scheduled_inputs: Vec<Handle>,
    /// Transfers on the tensor-op units, oldest first (device seqs).
    xfers: VecDeque<u64>,
    /// (tensor, offset, bytes) of every nrta_tensor_write.
    written: Vec<(Handle, u64, Vec<u8>)>,
    /// (src, dst, size) of every nrta_tensor_copy.
    copied: Vec<(Handle, Handle, u64)>,
    /// The tensor-op queue of every transfer, in order.
    xfer_queues: Vec<u32>,
    /// A `wake` not yet taken by a signalled `wait_any`.
    woken: bool,
}

#[derive(Default)]
struct Fake {
    st: Mutex<FakeState>,
    models: HashMap<Handle, ModelDesc>,
    threads: AtomicUsize,
    /// Offer direct waiting (Device::wait_for), as the real v3/v2 backends do.
    direct: std::sync::atomic::AtomicBool,
    direct_waits: AtomicUsize,
    /// Offer the tensor-op calls (Device::schedule_write / schedule_copy).
    transfers: std::sync::atomic::AtomicBool,
    /// Device::transfer_queues (0: the default, 1).
    queues: std::sync::atomic::AtomicU32,
    /// `wait_any` as the real backends' (`completion_waits`): it returns
    /// when one of its requests completes or on `wake`, not after a pause.
    signalled: std::sync::atomic::AtomicBool,
    /// The control of the tests that rely on `wake`: it does nothing.
    drop_wakes: std::sync::atomic::AtomicBool,
    /// Signalled waits begun so far.
    waits: AtomicUsize,
    cv: crate::sync::plain::Condvar,
}

impl Fake {
    /// Completes the oldest request of `core` with `status`.
    fn complete(&self, core: u32, status: Status) -> bool {
        let mut st = self.st.lock();
        let Some(seq) = st.queued.get_mut(&core).and_then(|q| q.pop_front()) else { return false };
        if let Some(t) = st.input_of.get(&seq).copied() {
            let v = st.bytes.get(&t).copied().unwrap_or(0);
            st.read_values.push(v);
        }
        st.done.insert(seq);
        st.statuses.insert(seq, status);
        drop(st);
        self.cv.notify_all();
        true
    }

    /// Completes the oldest transfer with `status`.
    fn complete_transfer(&self, status: Status) -> bool {
        self.finish_transfer(false, status)
    }

    /// Completes the newest transfer (another queue's, run out of order).
    fn complete_newest_transfer(&self, status: Status) -> bool {
        self.finish_transfer(true, status)
    }

    fn finish_transfer(&self, newest: bool, status: Status) -> bool {
        let mut st = self.st.lock();
        let seq = if newest { st.xfers.pop_back() } else { st.xfers.pop_front() };
        let Some(seq) = seq else { return false };
        st.done.insert(seq);
        st.statuses.insert(seq, status);
        drop(st);
        self.cv.notify_all();
        true
    }

    fn queue_transfer(&self) -> SubmitOutcome {
        let mut st = self.st.lock();
        st.next_seq += 1;
        let seq = st.next_seq;
        st.xfers.push_back(seq);
        SubmitOutcome::Queued { device_seq: seq }
    }

    fn queued(&self, core: u32) -> usize {
        self.st.lock().queued.get(&core).map_or(0, |q| q.len())
    }
}

impl Device for Fake {
    fn schedule(&self, core: u32, _m: Handle, input: Handle, _o: Handle, _slot: &AtomicU32) -> SubmitOutcome {
        let mut st = self.st.lock();
        st.schedules += 1;
        st.scheduled_inputs.push(input);
        let cap = if st.capacity == 0 { usize::MAX } else { st.capacity };
        if st.queued.get(&core).map_or(0, |q| q.len()) >= cap {
            return SubmitOutcome::QueueFull;
        }
        st.next_seq += 1;
        let seq = st.next_seq;
        st.queued.entry(core).or_default().push_back(seq);
        if let Some(&(_, _, t)) = st.added.iter().rev().find(|(set, n, _)| *set == input && n == "x") {
            st.input_of.insert(seq, t);
        }
        SubmitOutcome::Queued { device_seq: seq }
    }
    fn is_completed(&self, seq: u64) -> Result<bool, Status> {
        Ok(self.st.lock().done.contains(&seq))
    }
    fn status_of(&self, _core: u32, seq: u64, _slot: &AtomicU32) -> Status {
        self.st.lock().statuses.get(&seq).copied().unwrap_or(NRT_SUCCESS)
    }
    fn wait_any(&self, seqs: &[u64], _attempt: u32) -> bool {
        if !self.signalled.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_micros(200));
            return true;
        }
        self.waits.fetch_add(1, Ordering::SeqCst);
        // Longer than any test's watchdog: a wait nothing ends fails the test.
        let deadline = std::time::Instant::now() + 3 * WATCHDOG;
        let mut st = self.st.lock();
        loop {
            if std::mem::take(&mut st.woken) || seqs.iter().any(|s| st.done.contains(s)) {
                return true;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            st = self.cv.wait_for(st, left).0;
        }
    }
    fn wake(&self) {
        if !self.drop_wakes.load(Ordering::SeqCst) {
            self.st.lock().woken = true;
            self.cv.notify_all();
        }
    }
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
    fn can_transfer(&self) -> bool {
        self.transfers.load(Ordering::SeqCst)
    }
    fn transfer_queues(&self) -> u32 {
        self.queues.load(Ordering::SeqCst).max(1)
    }
    fn schedule_write(
        &self,
        _core: u32,
        queue: u32,
        t: Handle,
        offset: u64,
        buf: &[u8],
        _slot: &AtomicU32,
    ) -> SubmitOutcome {
        let mut st = self.st.lock();
        st.written.push((t, offset, buf.to_vec()));
        st.xfer_queues.push(queue);
        drop(st);
        self.queue_transfer()
    }
    fn schedule_copy(
        &self,
        _c: u32,
        queue: u32,
        s: Handle,
        _so: u64,
        d: Handle,
        _do: u64,
        n: u64,
        _slot: &AtomicU32,
    ) -> SubmitOutcome {
        let mut st = self.st.lock();
        st.copied.push((s, d, n));
        st.xfer_queues.push(queue);
        drop(st);
        self.queue_transfer()
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
    fn allocate_tensor(&self, _core: u32, _size: u64) -> Result<Handle, Status> {
        let mut st = self.st.lock();
        if st.spare_budget == 0 {
            return Err(crate::status::NRT_RESOURCE);
        }
        st.spare_budget -= 1;
        let h = 0x7000_0000 + st.spares.len() * 16;
        st.spares.push(h);
        Ok(h)
    }
    fn copy_tensor(&self, src: Handle, dst: Handle, _size: u64) -> Status {
        let mut st = self.st.lock();
        st.copies.push((src, dst));
        let v = st.bytes.get(&src).copied().unwrap_or(0);
        st.bytes.insert(dst, v);
        NRT_SUCCESS
    }
    fn spawn(&self, name: &str, f: Box<dyn FnOnce() + Send>) -> bool {
        self.threads.fetch_add(1, Ordering::SeqCst);
        std::thread::Builder::new().name(name.into()).spawn(f).is_ok()
    }
}

mod bad_input;
mod cached_lookups;
mod completion_thread;
mod direct;
mod escape;
mod failures;
mod foreign;
mod fork;
mod pipelining;
mod rename;
mod stage;

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
        e.set_member_added(set, name, t);
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

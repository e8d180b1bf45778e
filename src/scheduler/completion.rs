//! The completion thread: learns which requests finished (eventfd, completion
//! fd, or adaptive polling, as the backend can), retires them in order, wakes
//! blocked callers, runs the legacy callback and deferred work, and refills
//! the device queues.
//!
//! Started lazily on the first request, never from a constructor; stopped with
//! a timeout at nrt_close and at exit, never joined (a thread that does not
//! answer must not hang the process); forgotten in a forked child.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::doorbell::{BellHeld, Doorbell};
use super::transfer::MAX_QUEUES;
use super::{queue, Device, Engine};
use crate::observe::{self, Counter, COUNTERS};
use crate::status::{Status, NRT_FAILURE, NRT_SUCCESS};
use crate::sync::plain::MutexGuard;

/// The completion-thread test hook fires once.
static TEST_PANICKED: AtomicBool = AtomicBool::new(false);

#[derive(Default)]
pub struct ThreadControl {
    started: AtomicBool,
    stop: AtomicBool,
    /// Serialises `ensure` (the thread is started once).
    starting: crate::sync::plain::Mutex<()>,
    bell: Doorbell,
}

/// How long the idle thread sleeps at most: a bound on a wake-up lost in the
/// runtime's paths, not a polling period (see `doorbell`).
const IDLE_SLEEP: Duration = Duration::from_millis(200);

enum Head {
    Empty,
    Resolved,
    OnDevice { seq: u64, device_seq: u64 },
}

impl ThreadControl {
    /// Starts the thread if it is not running.
    #[inline]
    pub fn ensure<D: Device>(&self, engine: &'static Engine<D>) {
        if !self.started.load(Ordering::Acquire) {
            self.start(engine);
        }
    }

    #[inline(never)]
    fn start<D: Device>(&self, engine: &'static Engine<D>) {
        let _g = self.starting.lock();
        if self.started.load(Ordering::Acquire) {
            return;
        }
        self.stop.store(false, Ordering::SeqCst);
        self.bell.started();
        if engine.device.spawn("nrt-shim-compl", Box::new(move || run(engine))) {
            self.started.store(true, Ordering::Release);
        } else {
            self.bell.stopped();
            log::error!("cannot start the completion thread; requests will not complete");
        }
    }

    /// New work was handed to the device. `core_was_idle`: its core had
    /// nothing on the device before, so a thread waiting on other cores'
    /// requests must look again.
    pub fn kick<D: Device>(&self, device: &D, core_was_idle: bool) {
        if !self.bell.ring_if_idle() && core_was_idle {
            device.wake();
        }
    }

    /// Asks the thread to stop and waits up to `timeout` for it to say so.
    pub fn stop<D: Device>(&self, device: &D, timeout: Duration) {
        if !self.started.load(Ordering::Acquire) {
            return;
        }
        self.stop.store(true, Ordering::SeqCst);
        device.wake();
        self.bell.ring();
        if !self.bell.wait_stopped(Instant::now() + timeout) {
            log::warn!("the completion thread did not stop within {timeout:?}; leaving it");
        }
        self.started.store(false, Ordering::Release);
    }

    /// pthread_atfork prepare: the thread's locks (starting, then the bell's).
    pub fn before_fork(&'static self) -> ForkHeld {
        let starting = self.starting.lock();
        ForkHeld { bell: self.bell.before_fork(), _starting: starting }
    }

    /// pthread_atfork parent / child, with what `before_fork` took.
    pub fn after_fork(&'static self, held: ForkHeld, child: bool) {
        let ForkHeld { bell, _starting } = held;
        if child {
            // The thread does not exist in the child.
            self.started.store(false, Ordering::Release);
            self.stop.store(false, Ordering::Release);
        }
        self.bell.after_fork(bell, child);
    }
}

/// The thread's locks, held across fork (see `Engine::before_fork`).
pub struct ForkHeld {
    bell: BellHeld,
    _starting: MutexGuard<'static, ()>,
}

/// The request core `c` waits for on the device, if any.
fn head_on_device<D: Device>(engine: &'static Engine<D>, c: u32) -> Option<u64> {
    match head(engine, c) {
        Head::OnDevice { device_seq, .. } => Some(device_seq),
        _ => None,
    }
}

fn head<D: Device>(engine: &'static Engine<D>, c: u32) -> Head {
    head_of(&engine.core(c).q.lock())
}

/// What the oldest request of a queue waits for.
fn head_of<P>(q: &queue::CoreQueue<P>) -> Head {
    if q.head_is_resolved() {
        return Head::Resolved;
    }
    match (q.head_seq(), q.head_on_device()) {
        (Some(seq), Some(device_seq)) => Head::OnDevice { seq, device_seq },
        _ => Head::Empty,
    }
}

/// Retires what completed on core `c`, transfers first (requests may wait
/// for them), then requests oldest first; returns whether anything did, and
/// what it is still waiting for on the device.
/// `by_waiter`: an application thread is doing it (direct waiting), which
/// stops before a request whose callback must run on the completion thread.
fn poll_core<D: Device>(engine: &'static Engine<D>, c: u32, by_waiter: bool) -> (bool, Option<u64>) {
    let moved = engine.poll_transfers(c);
    let (progressed, head) = poll_requests(engine, c, by_waiter);
    (progressed || moved, engine.transfer_to_watch(c, head))
}

fn poll_requests<D: Device>(engine: &'static Engine<D>, c: u32, by_waiter: bool) -> (bool, Option<u64>) {
    let mut progressed = false;
    // Retiring a request also reads the next one's state, under the same lock.
    let mut next = head(engine, c);
    loop {
        if by_waiter && engine.has_callback.load(Ordering::Acquire) {
            // A callback was registered meanwhile: this pass may have been the
            // one the completion thread asked for, so make it look itself.
            engine.device.wake();
            return (progressed, None);
        }
        next = match next {
            Head::Empty => break,
            Head::Resolved => engine.retire_head(c, 0),
            Head::OnDevice { seq, device_seq } => match engine.device.is_completed(device_seq) {
                Ok(true) => {
                    if crate::config::TEST_PANIC.as_deref() == Some("completion")
                        && !TEST_PANICKED.swap(true, Ordering::SeqCst)
                    {
                        panic!("NRT_SHIM_TEST_PANIC=completion");
                    }
                    let st = engine.device.status_of(c, device_seq, engine.core(c).slot(seq));
                    engine.retire_head(c, st)
                }
                Ok(false) => return (progressed, Some(device_seq)),
                Err(st) => {
                    log::error!("core {c}: nrta_is_completed failed with status {st}; failing the request");
                    engine.retire_head(c, if st == 0 { NRT_FAILURE } else { st })
                }
            },
        };
        progressed = true;
    }
    (progressed, None)
}

/// Retires what completed on core `c` (see [`poll_core`]) and refills its
/// device queue; None if another thread is retiring it (that thread looks
/// again for this caller: nothing is missed). Requests retire in order, one
/// thread at a time (`gate`).
pub(super) fn retire_completed<D: Device>(
    engine: &'static Engine<D>,
    c: u32,
    by_waiter: bool,
) -> Option<(bool, Option<u64>)> {
    let mut progressed = false;
    let mut waiting = None;
    let ran = engine.core(c).gate.run(|| {
        // A panic here must fail the request, not leave its waiters hanging.
        let (p, w) = match catch_unwind(AssertUnwindSafe(|| poll_core(engine, c, by_waiter))) {
            Ok(r) => r,
            Err(_) => {
                log::error!("core {c}: internal error while completing a request; failing it");
                let _ = catch_unwind(AssertUnwindSafe(|| engine.retire_head(c, NRT_FAILURE)));
                (true, None)
            }
        };
        progressed |= p;
        waiting = w;
    });
    if progressed {
        let _ = catch_unwind(AssertUnwindSafe(|| engine.pump(c)));
    }
    ran.then_some((progressed, waiting))
}

fn run<D: Device>(engine: &'static Engine<D>) {
    let ctl = &engine.thread;
    // Per core: its head and each tensor-op queue's next transfer.
    let mut waiting: Vec<u64> = Vec::with_capacity(engine.ncores() as usize * (1 + MAX_QUEUES as usize));
    let mut attempt = 0u32;
    // The last wait ran out without a signal.
    let mut late = false;
    while !ctl.stop.load(Ordering::SeqCst) {
        waiting.clear();
        let mut progressed = false;
        let mut contended = false;
        for c in 0..engine.ncores() {
            if engine.core(c).is_idle() {
                // Nothing accepted there is left to retire (one load, no lock).
                continue;
            }
            match retire_completed(engine, c, false) {
                Some((p, w)) => {
                    progressed |= p;
                    waiting.extend(w);
                    // A transfer completing lets a held request go to the
                    // device: watch each queue's next one too, even while
                    // the head runs.
                    for t in engine.transfers_on_device(c).into_iter().flatten().filter(|&t| Some(t) != w) {
                        waiting.push(t);
                    }
                }
                // An application thread is retiring this core; it looks again
                // for us. Keep watching its head (if that one completed and
                // its signal was taken, the wait returns at once: `arm`).
                None => {
                    contended = true;
                    waiting.extend(head_on_device(engine, c));
                }
            }
        }
        // A request refused for a full queue holding none of ours: retry it
        // after a short pause, since no completion of ours will (a hang found
        // by the soak).
        let mut stalled = false;
        for c in 0..engine.ncores() {
            // A refused request is still accepted: its core is not idle.
            let core = engine.core(c);
            let retry = !core.is_idle() && core.q.lock().take_queue_full_stall();
            if retry {
                stalled = true;
                let _ = catch_unwind(AssertUnwindSafe(|| engine.pump(c)));
            }
        }
        if progressed {
            if late {
                COUNTERS.add(Counter::LateCompletions, 1);
            }
            late = false;
            attempt = 0;
            continue;
        }
        late = false;
        if contended && waiting.is_empty() {
            // The other thread retires and may submit: look again soon.
            std::thread::sleep(Duration::from_micros(50));
            continue;
        }
        if stalled {
            // The other work takes at least one execution: 50 us, doubling to
            // 1.6 ms (the other cores' completions are seen on the next pass).
            std::thread::sleep(Duration::from_micros(50 << attempt.min(5)));
            attempt = attempt.saturating_add(1);
            continue;
        }
        if waiting.is_empty() {
            // Nothing on any device queue: sleep until kicked (a submission
            // racing with this either is seen by the last look or rings).
            let has_work = || (0..engine.ncores()).any(|c| engine.core(c).q.lock().has_device_work());
            ctl.bell.sleep(has_work, IDLE_SLEEP);
        } else {
            late = !engine.device.wait_any(&waiting, attempt);
            attempt = attempt.saturating_add(1);
        }
    }
    ctl.bell.stopped();
}

impl<D: Device> Engine<D> {
    /// Retires the oldest request of core `c`: tracker, window, waiters,
    /// callback, deferred work; returns what the next request waits for.
    /// Called only by the holder of the core's retiring gate
    /// (completion::retire_completed).
    fn retire_head(&'static self, c: u32, device_status: Status) -> Head {
        let core = self.core(c);
        let callback = if self.has_callback.load(Ordering::Acquire) { *self.callback.lock() } else { None };
        let observer = observe::get();
        let done = {
            let mut q = core.q.lock();
            let Some(queue::Completed { seq, status, accesses, payload, .. }) =
                q.complete_head(device_status, callback.is_some())
            else {
                return head_of(&q);
            };
            core.poisoned.store(q.tracker().has_any_poison(), Ordering::Release);
            q.recycle(accesses);
            if callback.is_none() && observer.is_none() {
                // Nothing to run between retiring and publishing: one lock
                // does both (the sets released first, as below).
                drop(payload);
                core.completed.store(seq, Ordering::Release);
                let next = head_of(&q);
                drop(q);
                if status != NRT_SUCCESS {
                    COUNTERS.add(Counter::FailedRequests, 1);
                }
                core.cv.notify_all();
                self.run_deferred(false);
                self.sweep_orphans();
                return next;
            }
            (seq, status, payload)
        };
        let (seq, status, payload) = done;
        if let Some(o) = observer {
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
        let next = {
            let q = core.q.lock();
            core.completed.store(seq, Ordering::Release);
            head_of(&q)
        };
        core.cv.notify_all();
        self.run_deferred(false);
        self.sweep_orphans();
        next
    }
}

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

use parking_lot::{Condvar, Mutex};

use super::{Device, Engine, NRT_FAILURE};

/// The completion-thread test hook fires once.
static TEST_PANICKED: AtomicBool = AtomicBool::new(false);

#[derive(Default)]
struct State {
    running: bool,
    wake: bool,
}

#[derive(Default)]
pub struct ThreadControl {
    started: AtomicBool,
    stop: AtomicBool,
    idle: AtomicBool,
    state: Mutex<State>,
    cv: Condvar,
}

enum Head {
    Empty,
    Resolved,
    OnDevice { seq: u64, device_seq: u64 },
}

impl ThreadControl {
    /// Starts the thread if it is not running.
    pub fn ensure<D: Device>(&self, engine: &'static Engine<D>) {
        if self.started.load(Ordering::Acquire) {
            return;
        }
        let mut st = self.state.lock();
        if self.started.load(Ordering::Acquire) {
            return;
        }
        self.stop.store(false, Ordering::SeqCst);
        if engine.device.spawn("nrt-shim-compl", Box::new(move || run(engine))) {
            st.running = true;
            self.started.store(true, Ordering::Release);
        } else {
            log::error!("cannot start the completion thread; requests will not complete");
        }
    }

    /// New work was handed to the device. `core_was_idle`: its core had
    /// nothing on the device before, so a thread waiting on other cores'
    /// requests must look again.
    pub fn kick<D: Device>(&self, device: &D, core_was_idle: bool) {
        if self.idle.load(Ordering::SeqCst) {
            let mut st = self.state.lock();
            st.wake = true;
            self.cv.notify_one();
        } else if core_was_idle {
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
        let deadline = Instant::now() + timeout;
        let mut st = self.state.lock();
        st.wake = true;
        self.cv.notify_all();
        while st.running {
            if self.cv.wait_until(&mut st, deadline).timed_out() {
                log::warn!("the completion thread did not stop within {timeout:?}; leaving it");
                break;
            }
        }
        self.started.store(false, Ordering::Release);
    }

    pub fn before_fork(&self) {
        std::mem::forget(self.state.lock());
    }

    /// # Safety
    /// Only after [`before_fork`](Self::before_fork), as an atfork handler.
    pub unsafe fn after_fork(&self, child: bool) {
        self.state.force_unlock();
        if child {
            // The thread does not exist in the child.
            let mut st = self.state.lock();
            st.running = false;
            st.wake = false;
            self.started.store(false, Ordering::Release);
            self.idle.store(false, Ordering::Release);
        }
    }
}

fn head<D: Device>(engine: &'static Engine<D>, c: u32) -> Head {
    let q = engine.core(c).q.lock();
    if q.head_is_resolved() {
        return Head::Resolved;
    }
    match (q.head_seq(), q.head_on_device()) {
        (Some(seq), Some(device_seq)) => Head::OnDevice { seq, device_seq },
        _ => Head::Empty,
    }
}

/// Retires what completed on core `c`; returns whether anything did, and
/// pushes the request it is still waiting for onto `waiting`.
fn poll_core<D: Device>(engine: &'static Engine<D>, c: u32, waiting: &mut Vec<u64>) -> bool {
    let mut progressed = false;
    loop {
        match head(engine, c) {
            Head::Empty => break,
            Head::Resolved => engine.retire_head(c, 0),
            Head::OnDevice { seq, device_seq } => match engine.device.is_completed(device_seq) {
                Ok(true) => {
                    if crate::ffi::TEST_PANIC.as_deref() == Some("completion")
                        && !TEST_PANICKED.swap(true, Ordering::SeqCst)
                    {
                        panic!("NRT_SHIM_TEST_PANIC=completion");
                    }
                    let st = engine.device.status_of(c, device_seq, engine.core(c).slot(seq));
                    engine.retire_head(c, st);
                }
                Ok(false) => {
                    waiting.push(device_seq);
                    break;
                }
                Err(st) => {
                    log::error!("core {c}: nrta_is_completed failed with status {st}; failing the request");
                    engine.retire_head(c, if st == 0 { NRT_FAILURE } else { st });
                }
            },
        }
        progressed = true;
    }
    progressed
}

fn run<D: Device>(engine: &'static Engine<D>) {
    let ctl = &engine.thread;
    let mut waiting: Vec<u64> = Vec::with_capacity(super::MAX_CORES);
    let mut attempt = 0u32;
    while !ctl.stop.load(Ordering::SeqCst) {
        waiting.clear();
        let mut progressed = false;
        for c in 0..engine.ncores() {
            // A panic here must fail the request, not leave its waiters hanging.
            match catch_unwind(AssertUnwindSafe(|| poll_core(engine, c, &mut waiting))) {
                Ok(p) => progressed |= p,
                Err(_) => {
                    log::error!("core {c}: internal error while completing a request; failing it");
                    let _ = catch_unwind(AssertUnwindSafe(|| engine.retire_head(c, NRT_FAILURE)));
                    progressed = true;
                }
            }
            if progressed {
                let _ = catch_unwind(AssertUnwindSafe(|| engine.pump(c)));
            }
        }
        // A request refused for a full queue holding none of ours: retry it
        // after a short pause, since no completion of ours will (a hang found
        // by the soak).
        let mut stalled = false;
        for c in 0..engine.ncores() {
            let retry = engine.core(c).q.lock().take_queue_full_stall();
            if retry {
                stalled = true;
                let _ = catch_unwind(AssertUnwindSafe(|| engine.pump(c)));
            }
        }
        if progressed {
            attempt = 0;
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
            // Nothing on any device queue: sleep until kicked. Announce the
            // idle state first, then look once more, so a submission racing
            // with this either sees `idle` or is seen here.
            ctl.idle.store(true, Ordering::SeqCst);
            if !(0..engine.ncores()).any(|c| engine.core(c).q.lock().has_device_work()) {
                let mut st = ctl.state.lock();
                if !st.wake && !ctl.stop.load(Ordering::SeqCst) {
                    ctl.cv.wait_for(&mut st, Duration::from_millis(200));
                }
                st.wake = false;
            }
            ctl.idle.store(false, Ordering::SeqCst);
        } else {
            engine.device.wait_any(&waiting, attempt);
            attempt = attempt.saturating_add(1);
        }
    }
    let mut st = ctl.state.lock();
    st.running = false;
    ctl.cv.notify_all();
}

//! How the completion thread sleeps while none of the shim's requests is on any
//! device queue, how a submission wakes it, and how `stop` waits for it to end.
//!
//! The protocol, checked by loom (`RUSTFLAGS="--cfg loom"`, the tests below):
//! the sleeper announces `idle` and only then looks for work once more, under
//! the queue's lock; a submitter makes its work visible under that lock and
//! only then reads `idle`. Whichever of the two takes the lock second sees the
//! other's step, so a submission either is found by the sleeper's last look or
//! rings it. The sleep's timeout (200 ms in production) bounds a wake-up lost
//! elsewhere (in the runtime's paths); it is not what makes this one work, and
//! under loom it never fires, so a lost wake-up here is a deadlock there.

use std::time::{Duration, Instant};

use crate::sync::{AtomicBool, Condvar, Mutex, MutexGuard, Ordering};

struct State {
    /// A ring not yet consumed by the sleeper.
    wake: bool,
    /// The thread runs (set at its start, cleared as its last act).
    running: bool,
}

pub struct Doorbell {
    idle: AtomicBool,
    state: Mutex<State>,
    cv: Condvar,
}

impl Default for Doorbell {
    fn default() -> Self {
        Doorbell {
            idle: AtomicBool::new(false),
            state: Mutex::new(State { wake: false, running: false }),
            cv: Condvar::new(),
        }
    }
}

impl Doorbell {
    /// The sleeper (the completion thread, with nothing to wait for on any
    /// device): announces idle, looks once more (`has_work`), and sleeps
    /// until rung or `timeout` unless it found work. A ring that came before
    /// is consumed at once. The caller looks for work again afterwards.
    pub fn sleep(&self, has_work: impl FnOnce() -> bool, timeout: Duration) {
        self.idle.store(true, Ordering::SeqCst);
        if !has_work() {
            let mut st = self.state.lock();
            if !st.wake {
                st = self.cv.wait_for(st, timeout).0;
            }
            st.wake = false;
        }
        self.idle.store(false, Ordering::SeqCst);
    }

    /// A submitter, after making its work visible to the sleeper's
    /// `has_work`: rings if the thread sleeps or is about to. Returns whether
    /// it did (if not, the thread is awake and will look again, unless it is
    /// blocked in the device's wait, which the caller then wakes).
    pub fn ring_if_idle(&self) -> bool {
        if !self.idle.load(Ordering::SeqCst) {
            return false;
        }
        self.ring();
        true
    }

    /// Wakes the sleeper whatever it is doing (for `stop`).
    pub fn ring(&self) {
        self.state.lock().wake = true;
        // After the lock is released: a sleeper woken while the ringer still
        // holds it would only block on it again (the sleeper looks at `wake`
        // under the lock before waiting, so the ring is not lost).
        // All: `wait_stopped` may be waiting on the same condition variable.
        self.cv.notify_all();
    }

    /// The thread was started.
    pub fn started(&self) {
        self.state.lock().running = true;
    }

    /// The thread's last act.
    pub fn stopped(&self) {
        self.state.lock().running = false;
        self.cv.notify_all();
    }

    /// Waits until `stopped` (true) or the deadline (false).
    pub fn wait_stopped(&self, deadline: Instant) -> bool {
        let mut st = self.state.lock();
        while st.running {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let (next, r) = self.cv.wait_for(st, left);
            st = next;
            if r.timed_out() && st.running {
                return false;
            }
        }
        true
    }

    /// pthread_atfork prepare: hold the lock so the child gets it unheld.
    pub fn before_fork(&'static self) -> BellHeld {
        BellHeld(self.state.lock())
    }

    /// pthread_atfork parent / child, with what `before_fork` took.
    pub fn after_fork(&'static self, held: BellHeld, child: bool) {
        let mut st = held.0;
        if child {
            // The thread does not exist in the child, nor any waiter.
            st.running = false;
            st.wake = false;
            self.idle.store(false, Ordering::Release);
            self.cv.forget_waiters();
        }
    }
}

/// The bell's lock, held across fork (fork is not modelled under loom).
pub struct BellHeld(MutexGuard<'static, State>);

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    const WATCHDOG: Duration = Duration::from_secs(30);

    #[test]
    fn a_ring_before_the_sleep_is_not_lost() {
        let bell = Doorbell::default();
        bell.ring();
        let t = Instant::now();
        bell.sleep(|| false, WATCHDOG);
        assert!(t.elapsed() < WATCHDOG / 2, "slept {:?} although rung before", t.elapsed());
    }

    #[test]
    fn ring_if_idle_rings_only_an_idle_thread() {
        let bell = Doorbell::default();
        assert!(!bell.ring_if_idle(), "rang a thread that is not idle");
        bell.sleep(|| true, WATCHDOG); // found work: does not sleep, not idle after
        assert!(!bell.ring_if_idle());
    }

    #[test]
    fn stop_waits_for_the_thread() {
        let bell = Arc::new(Doorbell::default());
        bell.started();
        let b = bell.clone();
        let t = std::thread::spawn(move || {
            b.sleep(|| false, WATCHDOG);
            b.stopped();
        });
        bell.ring();
        assert!(bell.wait_stopped(Instant::now() + WATCHDOG), "the thread did not stop within {WATCHDOG:?}");
        t.join().unwrap();
        assert!(bell.wait_stopped(Instant::now()), "a stopped thread is not seen as stopped");
    }

    #[test]
    fn wait_stopped_gives_up_at_the_deadline() {
        let bell = Doorbell::default();
        bell.started();
        assert!(!bell.wait_stopped(Instant::now() + Duration::from_millis(20)));
    }
}

/// The model checker over every interleaving (and loom's memory model) of the
/// protocol above: `RUSTFLAGS="--cfg loom" cargo test --release --lib doorbell`
/// (run by `tests/loom.rs`).
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    const FOREVER: Duration = Duration::from_secs(3600);

    /// Every interleaving with up to 5 preemptions (LOOM_MAX_PREEMPTIONS sets
    /// another; unbounded, the two-submitter model alone takes minutes, 6 takes
    /// ~45 s, 5 ~10 s). The control below is found with 3.
    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut b = loom::model::Builder::new();
        if b.preemption_bound.is_none() {
            b.preemption_bound = Some(5);
        }
        b.check(f);
    }

    /// The completion thread's loop, reduced: take work, or sleep.
    fn consume(bell: &Doorbell, work: &Mutex<u32>, want: u32) {
        let mut got = 0;
        while got < want {
            let n = std::mem::take(&mut *work.lock());
            if n > 0 {
                got += n;
                continue;
            }
            bell.sleep(|| *work.lock() > 0, FOREVER);
        }
    }

    #[test]
    fn a_submission_racing_with_the_sleep_always_wakes_it() {
        model(|| {
            let bell = Arc::new(Doorbell::default());
            let work = Arc::new(Mutex::new(0u32));
            let (b, w) = (bell.clone(), work.clone());
            let sleeper = loom::thread::spawn(move || consume(&b, &w, 2));
            for _ in 0..2 {
                *work.lock() += 1;
                bell.ring_if_idle();
            }
            sleeper.join().unwrap();
        });
    }

    #[test]
    fn two_submitters_never_lose_a_wake_up() {
        model(|| {
            let bell = Arc::new(Doorbell::default());
            let work = Arc::new(Mutex::new(0u32));
            let mut subs = Vec::new();
            for _ in 0..2 {
                let (b, w) = (bell.clone(), work.clone());
                subs.push(loom::thread::spawn(move || {
                    *w.lock() += 1;
                    b.ring_if_idle();
                }));
            }
            consume(&bell, &work, 2);
            for s in subs {
                s.join().unwrap();
            }
        });
    }

    #[test]
    fn stop_wakes_the_sleeper_and_waits_for_its_end() {
        model(|| {
            let bell = Arc::new(Doorbell::default());
            let stop = Arc::new(AtomicBool::new(false));
            bell.started();
            let (b, s) = (bell.clone(), stop.clone());
            let thread = loom::thread::spawn(move || {
                while !s.load(Ordering::SeqCst) {
                    b.sleep(|| false, FOREVER);
                }
                b.stopped();
            });
            stop.store(true, Ordering::SeqCst);
            bell.ring();
            assert!(bell.wait_stopped(Instant::now() + FOREVER));
            thread.join().unwrap();
        });
    }

    /// The control: the same loop with the last look taken *before* announcing
    /// idle (the classic lost wake-up). loom must find the interleaving where a
    /// submission falls between the two and the sleeper never wakes.
    ///
    /// loom reports a deadlock by aborting the process, so `tests/loom.rs`
    /// runs this one alone and expects the abort and loom's "deadlock".
    #[test]
    #[ignore]
    fn control_looking_before_announcing_idle_loses_a_wake_up() {
        model(|| {
            let bell = Arc::new(Doorbell::default());
            let work = Arc::new(Mutex::new(0u32));
            let (b, w) = (bell.clone(), work.clone());
            let sleeper = loom::thread::spawn(move || {
                // broken: the look (the loop's condition) comes before idle is announced
                while *w.lock() == 0 {
                    b.idle.store(true, Ordering::SeqCst);
                    let mut st = b.state.lock();
                    if !st.wake {
                        st = b.cv.wait_for(st, FOREVER).0;
                    }
                    st.wake = false;
                    drop(st);
                    b.idle.store(false, Ordering::SeqCst);
                }
            });
            *work.lock() += 1;
            bell.ring_if_idle();
            sleeper.join().unwrap();
        });
    }
}

//! Waiting: for one request, for a core, for every core, for the requests
//! that conflict with an access; directly on the runtime's signal when it can
//! wake this thread, otherwise on the core's condition variable.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

impl<D: Device> Engine<D> {
    /// Waits until every request accepted so far on every core completed.
    /// Returns false if the deadline passed first.
    pub fn wait_all(&'static self, deadline: Option<Instant>, why: &'static str) -> bool {
        let n = self.ncores() as usize;
        for (c, core) in self.cores().iter().enumerate().take(n) {
            let last = core.q.lock().last_accepted();
            if !self.wait_done(c as u32, last, deadline, why, None) || !self.wait_no_transfers(c as u32, deadline, None)
            {
                return false;
            }
        }
        true
    }

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
    pub(super) fn block_on_core(
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
                if self.spin_for(device_seq) || self.device.wait_for(device_seq, limit) {
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

    /// Polls the runtime for request `device_seq` for up to NRT_SHIM_SPIN_US
    /// before the caller sleeps: a request about to complete is then seen
    /// without the eventfd's wake-up. Yields between polls, so that on a
    /// machine with few cores the runtime's threads still run. Returns
    /// whether the request (may have) completed.
    fn spin_for(&'static self, device_seq: u64) -> bool {
        if self.config.spin_us == 0 {
            return false;
        }
        let end = Instant::now() + Duration::from_micros(u64::from(self.config.spin_us));
        loop {
            if self.device.is_completed(device_seq) != Ok(false) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::yield_now();
        }
    }

    /// Waits for the pending requests that conflict with `accesses` (all on
    /// core `c`). Returns false on timeout.
    pub(super) fn wait_conflicts(
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
        self.wait_no_transfers(c, None, None);
        match self.core(c).q.lock().take_all_failures() {
            Some(st) => {
                COUNTERS.add(Counter::FailuresReported, 1);
                st
            }
            None => NRT_SUCCESS,
        }
    }
}

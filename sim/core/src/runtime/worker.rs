//! The worker thread of each queue, and the running of one op: the deadline
//! model, the op's effect on the bytes, its completion.

use super::events::{dup_xu_fd, DueFds};
use super::queue::{Op, Work};
use super::watch::Watch;
use super::*;
use crate::pace::{self, Kind};

impl Runtime {
    /// Starts the queue's worker thread on the queue's first use.
    pub(super) fn ensure_worker(self: &Arc<Self>, q: &Arc<Queue>) {
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
    pub(super) fn process(&self, q: &Queue, op: Op, prev: Option<Instant>) {
        // Deadline model: an op starts when it was queued or when the previous
        // op's deadline passed, whichever is later; it ends dur later.
        let start = match prev {
            Some(p) if p > op.enq => p,
            _ => op.enq,
        };
        let end = start + op.dur;
        let Op { counter, work, dur, done, hazard_key, watch, .. } = op;
        let mut watch = watch.unwrap_or_else(|| Watch::of(&work));
        let run = || self.run(q, work, start, end, &mut watch, hazard_key);
        let status = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
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
        if !watch.is_empty() {
            watch.look(self, hazard_key, "while");
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
        // The completion is published under the queue's lock; the eventfds are
        // signalled after it is released. A thread woken by the signal calls
        // straight back in (nrta_is_completed takes this lock): signalled under
        // the lock, the woken thread blocked on it, often preempting this one on
        // its CPU first, two extra context switches per completion that no
        // runtime would charge (found with `perf` on the eager workload).
        let mut due = DueFds::default();
        {
            let mut st = q.st.lock();
            st.completed = counter;
            let mut i = 0;
            while i < st.notify.len() {
                if st.notify[i].0 <= counter {
                    let (_, fd) = st.notify.swap_remove(i);
                    due.push(fd);
                } else {
                    i += 1;
                }
            }
            if let Some(fd) = st.xu_notify {
                // Dup'd while the registration is certainly ours; the dup is
                // signalled and closed below like a per-sequence fd.
                if let Some(d) = dup_xu_fd(fd) {
                    due.push(d);
                }
            }
        }
        q.done_cv.notify_all();
        due.signal();
        if let Some(slot) = sync_waiter {
            slot.complete(status);
        }
    }

    /// The op's effect on the bytes, timed so that it is done when the op ends
    /// (`pace::run_data_phase`); returns at `end`.
    /// `watch`: the op's exposed ranges, looked at around the data phase.
    fn run(&self, q: &Queue, work: Work, start: Instant, end: Instant, watch: &mut Watch, key: u64) -> Status {
        let mut phase = |f: &mut dyn FnMut()| {
            if watch.is_empty() {
                return f();
            }
            watch.look(self, key, "before the data phase of");
            f();
            watch.rebase();
        };
        match work {
            Work::Exec { model, inputs, outputs, fail } => {
                if fail.is_none() {
                    let units = crate::exec::units(&model.def, &outputs);
                    pace::run_data_phase(start, end, Kind::Compute, units, || {
                        phase(&mut || crate::exec::execute(&model.def, &inputs, &outputs))
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
            Work::Data(t, None) => {
                pace::run_data_phase(start, end, Kind::Copy, t.len() as u64, || phase(&mut || t.apply()));
                NRT_SUCCESS
            }
            Work::Data(_, Some(s)) => {
                pace::sleep_until(end);
                log::debug!("a transfer on {} fails with status {s} (fault injection)", q.name);
                s
            }
        }
    }
}

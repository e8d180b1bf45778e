//! Execution-unit queues, the ops they hold, and how an op's outcome is
//! delivered; `submit` queues one op (or runs it inline, see there).

use super::watch::Watch;
use super::*;
use crate::pace;
use crate::raw::{StatusPtr, UserBuf};
use crate::sync::Condvar;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::thread::JoinHandle;

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
    pub(super) fn new() -> Arc<SyncSlot> {
        Self::with_inline(false)
    }
    /// For a caller that waits for this one op right after submitting it.
    pub(super) fn new_inline() -> Arc<SyncSlot> {
        Self::with_inline(true)
    }
    pub(super) fn complete(&self, status: Status) {
        // SeqCst pairs with `wait`: either the waiter sees the status or we see it sleeping.
        self.status.store(status as u64, Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            let _g = self.lock.lock();
            self.cv.notify_all();
        }
    }
    pub(super) fn wait(&self) -> Status {
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
    /// `wait`, as a result.
    pub(super) fn wait_ok(&self) -> Res<()> {
        match self.wait() {
            NRT_SUCCESS => Ok(()),
            st => Err(st),
        }
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

/// What an op does: an execution, or a data op of a tensor unit.
pub(super) enum Work {
    Exec {
        model: Arc<Model>,
        inputs: Vec<Region>,
        outputs: Vec<(Region, usize)>,
        fail: Option<Status>,
    },
    /// A data op; `Some(status)`: it fails so, moving nothing (fault injection).
    Data(Transfer, Option<Status>),
}

/// The bytes a data op moves: the same on a unit (`worker`) as on the caller's
/// thread (a host tensor, `transfer`).
pub(super) enum Transfer {
    Write { dst: Region, src: UserBuf },
    Read { src: Region, dst: UserBuf },
    Copy { src: Region, dst: Region },
    Memset { dst: Region, value: u8 },
}

impl Transfer {
    /// Bytes moved (what the DMA time is computed from).
    pub(super) fn len(&self) -> usize {
        match self {
            Transfer::Write { dst, .. } | Transfer::Memset { dst, .. } => dst.len,
            Transfer::Read { src, .. } | Transfer::Copy { src, .. } => src.len,
        }
    }
    /// The storage ranges read and written, for the hazard oracle.
    pub(super) fn ranges(&self) -> Vec<Range> {
        match self {
            Transfer::Write { dst, .. } | Transfer::Memset { dst, .. } => vec![dst.range(true)],
            Transfer::Read { src, .. } => vec![src.range(false)],
            Transfer::Copy { src, dst } => vec![src.range(false), dst.range(true)],
        }
    }
    /// Moves the bytes.
    pub(super) fn apply(&self) {
        match self {
            Transfer::Write { dst, src } => dst.view().copy_from_user(src),
            Transfer::Read { src, dst } => src.view().copy_to_user(dst),
            Transfer::Copy { src, dst } => dst.view().copy_from(&src.view()),
            Transfer::Memset { dst, value } => dst.view().fill(*value),
        }
    }
}

pub(super) struct Op {
    pub(super) counter: u64,
    pub(super) work: Work,
    pub(super) dur: Duration,
    pub(super) enq: Instant,
    pub(super) done: Completion,
    pub(super) hazard_key: u64,
    /// The outside-write watch, when it took its first look at submission.
    pub(super) watch: Option<Watch>,
}

#[derive(Default)]
pub(super) struct QState {
    pub(super) pending: VecDeque<Op>,
    pub(super) issued: u64,
    pub(super) completed: u64,
    pub(super) accepted: u64,
    pub(super) closing: bool,
    pub(super) stop: bool,
    pub(super) clock: Option<Instant>,
    pub(super) busy: Duration,
    pub(super) notify: Vec<(u64, i32)>,
    /// v3 `nrta_event_register_xu_completion`: our dup of the fd signalled at
    /// every completion of this queue.
    pub(super) xu_notify: Option<i32>,
    /// A synchronous caller is running the queue's op itself (see `submit`).
    pub(super) inline_active: bool,
}

pub struct Queue {
    pub uid: u16,
    pub core: u32,
    pub utype: u32,
    pub qidx: u32,
    pub name: String,
    pub(super) st: Mutex<QState>,
    pub(super) work_cv: Condvar,
    pub(super) done_cv: Condvar,
    pub(super) worker: Mutex<Option<JoinHandle<()>>>,
    /// Counts ops queued for the worker, so that an idle worker can poll for new
    /// work without taking `st`.
    pub(super) doorbell: AtomicU64,
}

impl Queue {
    pub(super) fn new(uid: u16, core: u32, utype: u32, qidx: u32, name: String) -> Queue {
        Queue {
            uid,
            core,
            utype,
            qidx,
            name,
            st: Mutex::new(QState::default()),
            work_cv: Condvar::new(),
            done_cv: Condvar::new(),
            worker: Mutex::new(None),
            doorbell: AtomicU64::new(0),
        }
    }
    pub(super) fn wait_completed(&self, counter: u64) {
        let mut st = self.st.lock();
        while st.completed < counter {
            self.done_cv.wait(&mut st);
        }
    }
    pub(super) fn drain(&self) {
        let target = self.st.lock().issued;
        self.wait_completed(target);
    }
}

impl Runtime {
    /// Queues one op. `blocking`: wait for room instead of NRT_QUEUE_FULL.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn submit(
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
        let site = self.call_site();
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
        // No earlier op of this queue can still change the bytes: the outside-write
        // watch may take its first look now rather than at the op's start.
        let idle = st.completed == st.issued;
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
            Work::Data(t, _) => ranges = t.ranges(),
        }
        let desc = format!("{what} (seq {seqno:#018x} on {})", q.name);
        let (hazard_key, found) = {
            let mut o = self.oracle.lock();
            let before = o.count;
            (o.register(q.uid, desc, ranges, site), o.count > before)
        };
        if found {
            self.hazards_found();
        }
        let watch = if idle { Some(Watch::of(&work)) } else { None };
        let op = Op { counter, work, dur, enq: Instant::now(), done, hazard_key, watch };
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
}

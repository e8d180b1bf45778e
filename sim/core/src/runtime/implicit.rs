//! The implicit-async mode (SDK < 2.31): what a tensor call waits for (the
//! fence), and how the failures of executions surface at blocking calls.
//!
//! Fence (`NRT_SIM_IMPLICIT_FENCE`): under `storage` (the 2.31.24 binary) each
//! storage counts its in-flight device reads and writes; an execution counts
//! its sets' storages from the moment it is queued until it is done. A read
//! waits for the in-flight writes of its storage, a write (memset, a copy's
//! destination) for all its in-flight access, a copy's source for writes.
//! Under `all` (the documentation) every call waits for every pending
//! execution of the tensor's core (a host tensor: of every core).
//!
//! Errors ("surfaced at the next blocking call", migration guide step 4; the
//! details are the simulator's assumptions, sim/FIDELITY.md): a call that
//! waited for an execution also waited for every earlier one on that core
//! (the compute queue is in order). It returns the status of the earliest
//! failure among them not yet reported, and that counts as the report of all
//! of them. The outputs of a failed execution are marked with its status
//! until something rewrites them: a read of marked bytes returns the status
//! of the lowest-addressed one (and counts as the report of its failure). A
//! call that returns a failure this way does nothing else.

use super::{Runtime, Status, Tensor, NRT_SUCCESS};
use crate::config::ImplicitFence;
use crate::sync::{Condvar, Mutex};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// One storage access of a fenced call.
#[derive(Debug, Clone, Copy)]
pub struct Use {
    /// The tensor's core (None: host memory).
    pub core: Option<u32>,
    pub storage: u64,
    pub start: usize,
    pub end: usize,
    pub access: Access,
}

impl Use {
    pub(super) fn new(t: &Tensor, off: usize, size: usize, access: Access) -> Use {
        let start = t.offset + off;
        Use { core: t.device_core(), storage: t.storage.as_ref().map_or(0, |s| s.id), start, end: start + size, access }
    }
}

/// What the completion of an implicit execution needs (carried by the op).
pub struct Ticket {
    pub model_id: u32,
    pub job_id: u64,
    /// (storage, start, end) of every output.
    outputs: Vec<(u64, usize, usize)>,
}

/// Storages of an in-flight execution.
struct Job {
    reads: Vec<u64>,
    writes: Vec<u64>,
}

/// Bytes left stale by a failed execution.
#[derive(Debug, Clone, Copy)]
struct Mark {
    start: usize,
    end: usize,
    status: Status,
    /// The failed request: (core, job id).
    job: (u32, u64),
}

/// Counters for the report.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Calls whose reads (writes) found in-flight work to wait for.
    pub read_waits: u64,
    pub write_waits: u64,
    /// Failures returned by a blocking call, each once: by a call that
    /// waited for them or that read their marked bytes first.
    pub reported: u64,
    /// Calls refused because they read bytes marked by a failure.
    pub marked_reads: u64,
}

#[derive(Default)]
struct State {
    /// (core, job id) -> storages, from queueing to completion.
    inflight: BTreeMap<(u32, u64), Job>,
    /// Failures no blocking call has reported yet.
    unreported: BTreeMap<(u32, u64), Status>,
    /// storage -> marked ranges (disjoint).
    marks: HashMap<u64, Vec<Mark>>,
    counters: Counters,
}

pub struct Fence {
    rule: ImplicitFence,
    st: Mutex<State>,
    cv: Condvar,
}

impl Fence {
    pub fn new(rule: ImplicitFence) -> Fence {
        Fence { rule, st: Mutex::new(State::default()), cv: Condvar::new() }
    }

    pub fn rule(&self) -> ImplicitFence {
        self.rule
    }

    pub fn counters(&self) -> Counters {
        self.st.lock().counters
    }

    /// An execution was queued: its storages count as in flight.
    pub fn begin(&self, core: u32, job: u64, reads: Vec<u64>, writes: Vec<u64>) {
        self.st.lock().inflight.insert((core, job), Job { reads, writes });
    }

    /// An execution that `begin` counted was not queued after all.
    pub fn cancel(&self, core: u32, job: u64) {
        self.st.lock().inflight.remove(&(core, job));
        self.cv.notify_all();
    }

    /// An execution is done: a failure marks its outputs, a success rewrote them.
    fn complete(&self, core: u32, t: &Ticket, status: Status) {
        let mut st = self.st.lock();
        st.inflight.remove(&(core, t.job_id));
        if status != NRT_SUCCESS {
            st.unreported.insert((core, t.job_id), status);
        }
        for &(storage, start, end) in &t.outputs {
            clear_marks(&mut st.marks, storage, start, end);
            if status != NRT_SUCCESS {
                st.marks.entry(storage).or_default().push(Mark { start, end, status, job: (core, t.job_id) });
            }
        }
        drop(st);
        self.cv.notify_all();
    }

    fn blocks(&self, core: u32, job: &Job, u: &Use) -> bool {
        match self.rule {
            ImplicitFence::All => u.core.is_none_or(|c| c == core),
            ImplicitFence::Storage => {
                job.writes.contains(&u.storage) || (u.access == Access::Write && job.reads.contains(&u.storage))
            }
        }
    }

    /// Waits as the rule says for `uses` (unless `wait` is false: unsafe batch
    /// mode), then reports a failure the wait covered, or a mark on the bytes read.
    pub fn enter(&self, uses: &[Use], wait: bool) -> Result<(), Status> {
        let mut st = self.st.lock();
        // Per core, the latest job waited for.
        let mut waited: Vec<(u32, u64)> = Vec::new();
        let (mut read_waited, mut write_waited) = (false, false);
        if wait {
            loop {
                let mut any = false;
                for (&(core, job), j) in &st.inflight {
                    for u in uses.iter().filter(|u| u.end > u.start) {
                        if self.blocks(core, j, u) {
                            any = true;
                            match u.access {
                                Access::Read => read_waited = true,
                                Access::Write => write_waited = true,
                            }
                            match waited.iter_mut().find(|w| w.0 == core) {
                                Some(w) => w.1 = w.1.max(job),
                                None => waited.push((core, job)),
                            }
                        }
                    }
                }
                if !any {
                    break;
                }
                self.cv.wait(&mut st);
            }
        }
        st.counters.read_waits += read_waited as u64;
        st.counters.write_waits += write_waited as u64;
        if let Some(s) = report(&mut st, &waited) {
            return Err(s);
        }
        // The first use (in the call's order) that reads marked bytes.
        let marked =
            uses.iter().filter(|u| u.access == Access::Read && u.end > u.start).find_map(|u| lowest_mark(&st.marks, u));
        if let Some(m) = marked {
            if st.unreported.remove(&m.job).is_some() {
                st.counters.reported += 1;
            }
            st.counters.marked_reads += 1;
            return Err(m.status);
        }
        Ok(())
    }

    /// The bytes `uses` writes were rewritten: they lose their marks.
    pub fn rewritten(&self, uses: &[Use]) {
        let mut st = self.st.lock();
        for u in uses.iter().filter(|u| u.access == Access::Write && u.end > u.start) {
            clear_marks(&mut st.marks, u.storage, u.start, u.end);
        }
    }

    /// A drain of `core` waited for its jobs up to `upto`.
    pub fn drained(&self, core: u32, upto: u64) -> Result<(), Status> {
        let mut st = self.st.lock();
        match report(&mut st, &[(core, upto)]) {
            Some(s) => Err(s),
            None => Ok(()),
        }
    }
}

/// Reports the unreported failures a wait covered: per core, every job up to
/// the latest waited for. Returns the earliest one's status.
fn report(st: &mut State, waited: &[(u32, u64)]) -> Option<Status> {
    let mut first = None;
    for &(core, upto) in waited {
        let keys: Vec<(u32, u64)> = st.unreported.range((core, 0)..=(core, upto)).map(|(k, _)| *k).collect();
        for k in keys {
            let s = st.unreported.remove(&k).unwrap();
            st.counters.reported += 1;
            if first.is_none_or(|(fk, _)| k < fk) {
                first = Some((k, s));
            }
        }
    }
    first.map(|(_, s)| s)
}

/// The mark of the lowest-addressed marked byte that `u` reads.
fn lowest_mark(marks: &HashMap<u64, Vec<Mark>>, u: &Use) -> Option<Mark> {
    marks
        .get(&u.storage)?
        .iter()
        .filter(|m| m.start < u.end && u.start < m.end)
        .min_by_key(|m| m.start.max(u.start))
        .copied()
}

/// Removes the marks of bytes [start, end) of a storage, splitting marks that
/// reach beyond it.
fn clear_marks(marks: &mut HashMap<u64, Vec<Mark>>, storage: u64, start: usize, end: usize) {
    let Some(v) = marks.get_mut(&storage) else { return };
    let mut kept = Vec::with_capacity(v.len());
    for m in v.drain(..) {
        if m.end <= start || end <= m.start {
            kept.push(m);
            continue;
        }
        if m.start < start {
            kept.push(Mark { end: start, ..m });
        }
        if end < m.end {
            kept.push(Mark { start: end, ..m });
        }
    }
    if kept.is_empty() {
        marks.remove(&storage);
    } else {
        *v = kept;
    }
}

impl Runtime {
    /// The fence of a tensor call (a no-op outside the implicit mode).
    pub(super) fn implicit_fence(&self, uses: &[Use], wait: bool) -> Result<(), Status> {
        if self.implicit == 0 {
            return Ok(());
        }
        self.fence.enter(uses, wait)
    }

    /// After a successful tensor call: the bytes it wrote lose their marks.
    pub(super) fn implicit_rewritten(&self, uses: &[Use]) {
        if self.implicit > 0 {
            self.fence.rewritten(uses);
        }
    }

    /// Counts a queued implicit execution's storages; returns its ticket.
    pub(super) fn implicit_begin(
        &self,
        core: u32,
        model_id: u32,
        job_id: u64,
        inputs: &[super::Region],
        outputs: &[(super::Region, usize)],
    ) -> Ticket {
        let reads = inputs.iter().map(|r| r.storage.id).collect();
        let outs: Vec<(u64, usize, usize)> =
            outputs.iter().map(|(r, _)| (r.storage.id, r.off, r.off + r.len)).collect();
        self.fence.begin(core, job_id, reads, outs.iter().map(|o| o.0).collect());
        Ticket { model_id, job_id, outputs: outs }
    }

    /// The completion of an implicit execution, on the worker: the callback,
    /// then the fence (marks, failures), then the in-flight window.
    pub(super) fn implicit_done(&self, core: u32, t: Ticket, status: Status) {
        let cb = *self.callback.lock();
        match cb {
            Some(cb) => cb.call(t.model_id, core, t.job_id, status),
            None => {
                if status != NRT_SUCCESS {
                    log::warn!(
                        "implicit async execution failed: model {} vnc {core} job {} status {status}",
                        t.model_id,
                        t.job_id
                    );
                }
            }
        }
        self.fence.complete(core, &t, status);
        let mut im = self.imp.lock();
        im.inflight[core as usize] -= 1;
        self.imp_cv.notify_all();
    }

    /// After `nrt_async_drain_queued_execs(core)` waited for the jobs issued
    /// before it: reports a failure among them.
    pub(super) fn implicit_drained(&self, core: u32, upto: u64) -> Result<(), Status> {
        if self.implicit == 0 {
            return Ok(());
        }
        self.fence.drained(core, upto)
    }

    /// The last job id issued on `core` (0: none).
    pub(super) fn implicit_last_job(&self, core: u32) -> u64 {
        self.imp.lock().jobs[core as usize]
    }

    /// The report's fields of the implicit mode.
    pub(super) fn implicit_report(&self) -> String {
        let c = self.fence.counters();
        format!(
            "  \"implicit_fence\": \"{}\",\n  \"implicit_waits\": {{\"read\": {}, \"write\": {}}},\n  \
             \"implicit_errors_reported\": {},\n  \"implicit_marked_reads\": {},\n",
            self.fence.rule().name(),
            c.read_waits,
            c.write_waits,
            c.reported,
            c.marked_reads
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(storage: u64, start: usize, end: usize, access: Access) -> Use {
        Use { core: Some(0), storage, start, end, access }
    }
    fn ticket(job: u64, outputs: Vec<(u64, usize, usize)>) -> Ticket {
        Ticket { model_id: 1, job_id: job, outputs }
    }

    #[test]
    fn storage_rule_blocks() {
        let f = Fence::new(ImplicitFence::Storage);
        let j = Job { reads: vec![1], writes: vec![2] };
        assert!(!f.blocks(0, &j, &u(1, 0, 8, Access::Read)), "read of an input: no wait");
        assert!(f.blocks(0, &j, &u(1, 0, 8, Access::Write)), "write of an input waits");
        assert!(f.blocks(0, &j, &u(2, 0, 8, Access::Read)), "read of an output waits");
        assert!(f.blocks(0, &j, &u(2, 0, 8, Access::Write)));
        assert!(!f.blocks(0, &j, &u(3, 0, 8, Access::Write)), "other storage never waits");
        let a = Fence::new(ImplicitFence::All);
        assert!(a.blocks(0, &j, &u(3, 0, 8, Access::Read)), "all: any pending execution of the core");
        assert!(!a.blocks(1, &j, &u(3, 0, 8, Access::Read)), "all: not of another core");
        assert!(a.blocks(1, &j, &Use { core: None, ..u(3, 0, 8, Access::Read) }), "host tensor: every core");
    }

    #[test]
    fn failures_reported_once_and_marks() {
        let f = Fence::new(ImplicitFence::Storage);
        f.begin(0, 1, vec![1], vec![2]);
        f.begin(0, 2, vec![1], vec![3]);
        f.complete(0, &ticket(1, vec![(2, 0, 16)]), 1004);
        f.complete(0, &ticket(2, vec![(3, 0, 16)]), NRT_SUCCESS);
        // nothing in flight: a read of storage 3 waits for nothing and is clean
        assert_eq!(f.enter(&[u(3, 0, 16, Access::Read)], true), Ok(()));
        // a read of the failed output: the mark
        assert_eq!(f.enter(&[u(2, 4, 8, Access::Read)], true), Err(1004));
        assert_eq!(f.counters().marked_reads, 1);
        // the mark counted as the report: the drain has nothing left
        assert_eq!(f.drained(0, 2), Ok(()));
        // marked until rewritten, in part
        assert_eq!(f.enter(&[u(2, 0, 16, Access::Read)], true), Err(1004));
        f.rewritten(&[u(2, 0, 8, Access::Write)]);
        assert_eq!(f.enter(&[u(2, 0, 8, Access::Read)], true), Ok(()));
        assert_eq!(f.enter(&[u(2, 7, 9, Access::Read)], true), Err(1004));
        f.rewritten(&[u(2, 8, 16, Access::Write)]);
        assert_eq!(f.enter(&[u(2, 0, 16, Access::Read)], true), Ok(()));
        // zero-byte reads touch nothing
        f.begin(0, 3, vec![], vec![4]);
        f.complete(0, &ticket(3, vec![(4, 0, 4)]), 1005);
        assert_eq!(f.enter(&[u(4, 2, 2, Access::Read)], true), Ok(()));
        // the drain reports a failure nobody read
        assert_eq!(f.drained(0, 3), Err(1005));
        assert_eq!(f.drained(0, 3), Ok(()), "once");
        assert_eq!(f.counters().reported, 2, "job 1 by the marked read, job 3 by the drain");
    }

    #[test]
    fn a_wait_covers_earlier_jobs_of_the_core() {
        let f = std::sync::Arc::new(Fence::new(ImplicitFence::Storage));
        f.begin(0, 1, vec![], vec![10]);
        f.begin(0, 2, vec![], vec![11]);
        f.complete(0, &ticket(1, vec![(10, 0, 4)]), 1004);
        let g = f.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            g.complete(0, &ticket(2, vec![(11, 0, 4)]), NRT_SUCCESS);
        });
        // waits for job 2 (writer of 11), which covers job 1's failure
        assert_eq!(f.enter(&[u(11, 0, 4, Access::Read)], true), Err(1004));
        t.join().unwrap();
        assert_eq!(f.counters().read_waits, 1);
        assert_eq!(f.counters().reported, 1);
        assert_eq!(f.enter(&[u(11, 0, 4, Access::Read)], true), Ok(()), "reported once");
        assert_eq!(f.enter(&[u(10, 0, 4, Access::Read)], true), Err(1004), "its bytes stay marked");
    }

    #[test]
    fn clear_splits() {
        let mut m = HashMap::new();
        m.insert(1, vec![Mark { start: 0, end: 10, status: 1, job: (0, 1) }]);
        clear_marks(&mut m, 1, 3, 5);
        let v: Vec<(usize, usize)> = m[&1].iter().map(|k| (k.start, k.end)).collect();
        assert_eq!(v, [(0, 3), (5, 10)]);
        clear_marks(&mut m, 1, 0, 10);
        assert!(m.is_empty());
    }
}

//! One core's request queue as a state machine: acceptance order, the
//! in-flight window, submission, completion in order, and failure routing.
//!
//! It holds no lock and calls nothing: the engine wraps it in the core's mutex
//! and performs the runtime calls it asks for outside that mutex. Generic over
//! the payload the engine attaches to each request, so it is tested here with
//! plain values.

use std::collections::VecDeque;

use crate::tracker::{
    AccessKind, ByteRange, Conflict, FailureId, OpSeq, PoisonMark, Status, StorageId, StorageRange, Tracker,
};

use super::transfer::Transfers;
use crate::status::{NRT_EXEC_UNIT_UNRECOVERABLE, NRT_SUCCESS};

/// Where a request is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpState {
    /// Accepted, not yet handed to the runtime.
    Waiting,
    /// Being handed to the runtime by the one submitting thread.
    Submitting,
    /// Queued on the device with this runtime sequence number.
    Submitted { device_seq: u64 },
    /// Will complete with this status without running (the runtime refused it).
    Resolved(Status),
    /// An execution of host tensors: its own thread hands it to the runtime's
    /// synchronous nrt_execute when every earlier request of the core has
    /// reached the runtime, and no later one goes before it.
    Host,
    /// The synchronous call returned this status (which that call reported).
    HostDone(Status),
}

#[derive(Debug)]
pub struct PendingOp<P> {
    pub seq: OpSeq,
    pub state: OpState,
    pub accesses: Vec<StorageRange>,
    pub payload: P,
}

/// What the runtime said to a schedule call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubmitOutcome {
    Queued { device_seq: u64 },
    QueueFull,
    Refused(Status),
}

/// A request that left the queue.
#[derive(Debug)]
pub struct Completed<P> {
    pub seq: OpSeq,
    pub status: Status,
    /// The status still has to reach the application (no callback took it).
    pub unreported: bool,
    /// It ran on bytes of a failed request: its outputs carry that failure's
    /// mark (and share its report); this is that failure's status.
    pub derived: Option<Status>,
    pub accesses: Vec<StorageRange>,
    pub payload: P,
}

#[derive(Clone, Copy, Debug)]
struct Failure {
    id: FailureId,
    status: Status,
    /// Its place in the core's order (twice the acceptance number; +1 for a
    /// transfer issued after that request), for a drain's "oldest".
    order: u64,
}

#[derive(Debug)]
pub struct CoreQueue<P> {
    depth: usize,
    next_seq: OpSeq,
    completed_upto: OpSeq,
    ops: VecDeque<PendingOp<P>>,
    tracker: Tracker,
    unreported: Vec<Failure>,
    dead: bool,
    queue_full: bool,
    submitting: bool,
    /// Host executions not yet handed to the runtime.
    hosts: usize,
    /// No request before this one waits to be handed to the runtime (a lower
    /// bound of the first waiting one: the submission scan starts there, so
    /// a deep window is not scanned from its oldest request on every call).
    submitted_upto: OpSeq,
    spare: Vec<Vec<StorageRange>>,
    /// Transfers on the tensor-op unit (see `transfer`).
    pub transfers: Transfers,
}

impl<P> CoreQueue<P> {
    /// `depth`: the most requests this core may have accepted and not completed.
    pub fn new(depth: usize) -> Self {
        let depth = depth.max(1);
        CoreQueue {
            depth,
            next_seq: 1,
            completed_upto: 0,
            ops: VecDeque::with_capacity(depth),
            tracker: Tracker::new(),
            unreported: Vec::new(),
            dead: false,
            queue_full: false,
            submitting: false,
            submitted_upto: 1,
            hosts: 0,
            spare: Vec::new(),
            transfers: Transfers::default(),
        }
    }

    pub fn depth(&self) -> usize {
        self.depth
    }

    /// All requests up to this acceptance number have completed.
    pub fn completed_upto(&self) -> OpSeq {
        self.completed_upto
    }

    /// The acceptance number of the newest request (0 if none yet).
    pub fn last_accepted(&self) -> OpSeq {
        self.next_seq - 1
    }

    pub fn outstanding(&self) -> usize {
        self.ops.len()
    }

    pub fn has_room(&self) -> bool {
        self.ops.len() < self.depth
    }

    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// The compute unit is gone for good (NRT_EXEC_UNIT_UNRECOVERABLE).
    pub fn mark_dead(&mut self) {
        self.dead = true;
    }

    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    pub fn tracker_mut(&mut self) -> &mut Tracker {
        &mut self.tracker
    }

    /// An empty access list to fill for [`admit`](Self::admit), recycled so the
    /// steady state does not allocate.
    pub fn access_buffer(&mut self) -> Vec<StorageRange> {
        self.spare.pop().unwrap_or_default()
    }

    /// Gives back an access list once its request is done with it.
    pub fn recycle(&mut self, mut accesses: Vec<StorageRange>) {
        accesses.clear();
        if self.spare.len() < self.depth * 2 {
            self.spare.push(accesses);
        }
    }

    /// The newest pending request that any of these accesses must wait for.
    pub fn latest_conflict(&self, accesses: &[StorageRange]) -> Option<Conflict> {
        self.tracker.latest_conflict_of(accesses)
    }

    /// Accepts a request. Call only when [`has_room`](Self::has_room) and not
    /// dead. Every request reaches the runtime, even one that reads bytes of a
    /// failed request: the synchronous runtime would run it too, and its
    /// completion counts and per-model order must be the same.
    pub fn admit(&mut self, accesses: Vec<StorageRange>, payload: P) -> OpSeq {
        self.admit_as(OpState::Waiting, accesses, payload)
    }

    /// Accepts an execution of host tensors (see [`OpState::Host`]).
    pub fn admit_host(&mut self, accesses: Vec<StorageRange>, payload: P) -> OpSeq {
        self.hosts += 1;
        self.admit_as(OpState::Host, accesses, payload)
    }

    fn admit_as(&mut self, state: OpState, accesses: Vec<StorageRange>, payload: P) -> OpSeq {
        debug_assert!(self.has_room() && !self.dead);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.tracker.record(seq, &accesses);
        self.ops.push_back(PendingOp { seq, state, accesses, payload });
        seq
    }

    /// Whether host execution `seq` may go to the runtime now: every earlier
    /// request of the core reached it, and nobody is submitting.
    pub fn host_turn(&self, seq: OpSeq) -> bool {
        !self.submitting
            && self
                .ops
                .iter()
                .find(|op| matches!(op.state, OpState::Waiting | OpState::Submitting | OpState::Host))
                .is_some_and(|op| op.seq == seq)
    }

    /// Host execution `seq` goes to the runtime: no later request is submitted
    /// until [`end_host`](Self::end_host).
    pub fn begin_host(&mut self, seq: OpSeq) {
        debug_assert!(self.host_turn(seq));
        self.submitting = true;
    }

    /// The synchronous call of host execution `seq` returned `status`.
    pub fn end_host(&mut self, seq: OpSeq, status: Status) {
        self.submitting = false;
        if let Some(op) = op_in(&mut self.ops, seq).filter(|op| op.state == OpState::Host) {
            op.state = OpState::HostDone(status);
            self.hosts -= 1;
            // It was the first request not handed over (its turn).
            self.submitted_upto = self.submitted_upto.max(seq + 1);
        }
        if status == NRT_EXEC_UNIT_UNRECOVERABLE {
            self.end_submit_dead();
        }
    }

    /// No request before this one waits to be handed to the runtime.
    pub fn submitted_upto(&self) -> OpSeq {
        self.submitted_upto
    }

    /// Whether a host execution waits for its turn (submissions must wake it).
    pub fn has_host_waiting(&self) -> bool {
        self.hosts > 0
    }

    /// The next request to hand to the runtime, if this thread should submit
    /// it: requests go to the in-order device queue in acceptance order, by
    /// one thread at a time, and none while the runtime says its queue is full.
    pub fn begin_submit(&mut self) -> Option<&PendingOp<P>> {
        if self.submitting || self.queue_full || self.dead || self.submitted_upto >= self.next_seq {
            // (The last: every request was handed over.)
            return None;
        }
        // Not past a host execution: its thread submits it, then the rest go.
        let skip = self.ops.front().map_or(0, |f| self.submitted_upto.saturating_sub(f.seq) as usize);
        let skip = skip.min(self.ops.len());
        let waits = |op: &PendingOp<P>| matches!(op.state, OpState::Waiting | OpState::Host);
        // Usually the request at the bound itself waits: no scan.
        let at =
            if self.ops.get(skip).is_some_and(waits) { skip } else { skip + self.ops.range(skip..).position(waits)? };
        let op = &mut self.ops[at];
        if op.state == OpState::Host {
            return None;
        }
        // Nothing orders the tensor-op unit's transfers before the compute
        // unit's requests: this one waits until the transfers of its bytes
        // completed (and, to keep acceptance order, so do the ones after it).
        if self.transfers.blocks(&op.accesses) {
            return None;
        }
        op.state = OpState::Submitting;
        self.submitting = true;
        Some(op)
    }

    /// Records what the runtime said to the schedule call of `seq`.
    pub fn end_submit(&mut self, seq: OpSeq, outcome: SubmitOutcome) {
        self.submitting = false;
        let Some(op) = op_in(&mut self.ops, seq) else { return };
        if !matches!(outcome, SubmitOutcome::QueueFull) {
            // Handed over (or refused for good); it was the first waiting one.
            self.submitted_upto = self.submitted_upto.max(seq + 1);
        }
        op.state = match outcome {
            SubmitOutcome::Queued { device_seq } => OpState::Submitted { device_seq },
            SubmitOutcome::QueueFull => {
                self.queue_full = true;
                OpState::Waiting
            }
            SubmitOutcome::Refused(status) => {
                if status == NRT_EXEC_UNIT_UNRECOVERABLE {
                    self.dead = true;
                }
                OpState::Resolved(status)
            }
        };
        if self.dead {
            self.end_submit_dead();
        }
    }

    /// Nothing after a dead unit's refusal can run either.
    fn end_submit_dead(&mut self) {
        self.dead = true;
        for op in self.ops.iter_mut() {
            if op.state == OpState::Waiting {
                op.state = OpState::Resolved(NRT_EXEC_UNIT_UNRECOVERABLE);
            }
        }
    }

    /// The oldest request, if it is waiting for the device (its runtime
    /// sequence number), so the caller can ask whether it completed.
    pub fn head_on_device(&self) -> Option<u64> {
        match self.ops.front()?.state {
            OpState::Submitted { device_seq } => Some(device_seq),
            _ => None,
        }
    }

    /// Whether the oldest request can complete without asking the device.
    pub fn head_is_resolved(&self) -> bool {
        matches!(self.ops.front().map(|op| op.state), Some(OpState::Resolved(_) | OpState::HostDone(_)))
    }

    /// The runtime refused a request for a full queue while nothing of ours is
    /// on the device: the queue is full of work that is not the shim's (other
    /// threads' synchronous executions share it), so no completion of ours will
    /// come to clear the condition. Returns whether that was so, and lets the
    /// request be submitted again (the completion thread retries it itself).
    pub fn take_queue_full_stall(&mut self) -> bool {
        let stalled = self.queue_full && self.head_on_device().is_none() && !self.head_is_resolved();
        if stalled {
            self.queue_full = false;
        }
        stalled
    }

    /// Whether any request is queued on the device or ready to retire.
    pub fn has_device_work(&self) -> bool {
        self.head_on_device().is_some() || self.head_is_resolved() || !self.transfers.is_empty()
    }

    /// Whether the next request to hand to the runtime waits for a transfer.
    pub fn next_blocked_by_transfer(&self) -> bool {
        self.ops
            .iter()
            .find(|op| matches!(op.state, OpState::Waiting | OpState::Host))
            .is_some_and(|op| op.state == OpState::Waiting && self.transfers.blocks(&op.accesses))
    }

    /// A transfer failed on the device: its destination bytes are marked with
    /// it, as a failed request's outputs are, and it is reported once (by the
    /// first read of them, or a drain; no callback: it is no request).
    pub fn transfer_failed(&mut self, id: FailureId, after: OpSeq, dst: (StorageId, ByteRange), status: Status) {
        self.tracker.poison(dst.0, dst.1, status, id);
        self.unreported.push(Failure { id, status, order: after * 2 + 1 });
    }

    /// Retires the oldest request. `device_status` is what the runtime reported
    /// for it (ignored for a resolved request). `callback_takes_failures`: a
    /// registered legacy callback reports every status, so failures need no
    /// other report.
    ///
    /// A request that failed is a failure of its own: its outputs are marked
    /// with it, and it is reported once (here by the callback, else later by a
    /// read or a drain; a host execution's synchronous call already reported
    /// it). A request that succeeded on bytes of a failed request is a derived
    /// failure: its outputs get that failure's mark (no better data), and it
    /// shares that failure's one report.
    pub fn complete_head(&mut self, device_status: Status, callback_takes_failures: bool) -> Option<Completed<P>> {
        let op = self.ops.pop_front()?;
        let (status, reported) = match op.state {
            OpState::Resolved(s) => (s, false),
            OpState::HostDone(s) => (s, true),
            _ => (device_status, false),
        };
        let derived = if status == NRT_SUCCESS { self.poison_read_by(&op.accesses) } else { None };
        for a in op.accesses.iter().filter(|a| a.kind == AccessKind::Write) {
            match derived {
                Some(m) => self.tracker.poison(a.storage, a.range, m.status, m.failure),
                None if status == NRT_SUCCESS => self.tracker.clear_poison(a.storage, a.range),
                None => self.tracker.poison(a.storage, a.range, status, op.seq),
            }
        }
        self.tracker.retire(op.seq, &op.accesses);
        self.completed_upto = op.seq;
        self.queue_full = false;
        let unreported = status != NRT_SUCCESS && !callback_takes_failures && !reported;
        if unreported {
            self.unreported.push(Failure { id: op.seq, status, order: op.seq * 2 });
        }
        Some(Completed {
            seq: op.seq,
            status,
            unreported,
            derived: derived.map(|m| m.status),
            accesses: op.accesses,
            payload: op.payload,
        })
    }

    /// The mark of the first failed byte these accesses read, if any.
    fn poison_read_by(&self, accesses: &[StorageRange]) -> Option<PoisonMark> {
        if !self.tracker.has_any_poison() {
            return None;
        }
        accesses
            .iter()
            .filter(|a| a.kind == AccessKind::Read)
            // Of the first marked input, the lowest-addressed mark (as a read
            // reports): the tracker's list of marks is in no useful order.
            .find_map(|a| self.tracker.poison_in(a.storage, a.range).min_by_key(|m| m.range.start).copied())
    }

    /// A host read of these bytes: if they hold outputs of a failed request,
    /// the read fails with its status (every time, until the bytes are
    /// rewritten: no output of a failed request is returned as good data).
    /// The first such read is also where the failure is reported, if neither
    /// a callback nor a drain reported it before.
    pub fn failure_in(&mut self, storage: StorageId, range: ByteRange) -> Option<Status> {
        // The read reports every failure whose marks it touches, and returns
        // the status of the lowest-addressed mark.
        let mut first: Option<PoisonMark> = None;
        for mark in self.tracker.poison_in(storage, range) {
            if let Some(i) = self.unreported.iter().position(|f| f.id == mark.failure) {
                self.unreported.swap_remove(i);
            }
            if first.is_none_or(|f| mark.range.start < f.range.start) {
                first = Some(*mark);
            }
        }
        first.map(|m| m.status)
    }

    /// The failure of one request, if it has not reached the application yet.
    pub fn take_failure_by_id(&mut self, seq: OpSeq) -> Option<Status> {
        let idx = self.unreported.iter().position(|f| f.id == seq)?;
        Some(self.unreported.swap_remove(idx).status)
    }

    /// The acceptance number of the oldest request, if any.
    pub fn head_seq(&self) -> Option<OpSeq> {
        self.ops.front().map(|op| op.seq)
    }

    /// Every failure not reported yet, as one status (the oldest), for
    /// nrt_async_drain_queued_execs.
    pub fn take_all_failures(&mut self) -> Option<Status> {
        let first = self.unreported.iter().min_by_key(|f| f.order).map(|f| f.status);
        self.unreported.clear();
        first
    }

    /// The host wrote these bytes: they are good again.
    pub fn host_wrote(&mut self, storage: StorageId, range: ByteRange) {
        self.tracker.clear_poison(storage, range);
    }

    /// Drops every request without running it (after fork, in the child).
    pub fn abandon_all(&mut self) -> Vec<PendingOp<P>> {
        let ops: Vec<_> = self.ops.drain(..).collect();
        for op in &ops {
            self.tracker.retire(op.seq, &op.accesses);
        }
        self.completed_upto = self.last_accepted();
        self.submitting = false;
        self.hosts = 0;
        self.queue_full = false;
        self.transfers.abandon_all();
        ops
    }
}

/// Pending request `seq` of `ops` (their sequence numbers are consecutive).
fn op_in<P>(ops: &mut VecDeque<PendingOp<P>>, seq: OpSeq) -> Option<&mut PendingOp<P>> {
    let first = ops.front()?.seq;
    let op = ops.get_mut(usize::try_from(seq.checked_sub(first)?).ok()?)?;
    debug_assert_eq!(op.seq, seq);
    Some(op)
}

#[cfg(test)]
mod tests;

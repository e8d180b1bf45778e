//! The explicit async calls (`nrta_*`): queue selection, the schedule calls,
//! sequence numbers, error trackers (v2).

use super::queue::{Completion, Queue, Transfer, Work};
use super::*;
use crate::raw::UserBuf;

pub struct Tracker {
    pub lnc: u32,
    state: Mutex<(Vec<sys::nrta_error_t>, Vec<sys::nrta_error_t>)>,
}

impl Tracker {
    pub(super) fn push(&self, seq: u64, status: Status) {
        self.state.lock().0.push(sys::nrta_error_t { seq_id: seq, error_code: status as u64 });
    }
}

impl Runtime {
    /// Validates (lnc, unit type, queue) and returns the queue.
    pub(super) fn async_queue(&self, call: &str, lnc: u32, utype: u32, queue: i64) -> Res<Arc<Queue>> {
        if lnc >= self.cfg.cores {
            return Err(reject!(NRT_INVALID, "{call}: lnc {lnc} does not exist ({} cores)", self.cfg.cores));
        }
        self.check_queue(call, utype, queue)?;
        Ok(self.queue(lnc, utype, queue as u32).clone())
    }

    /// Validates a queue index of the role's unit type.
    fn check_queue_index(&self, call: &str, role: UnitRole, queue: i64) -> Res<()> {
        self.check_queue(call, unit_type(self.gen, role), queue)
    }

    /// Validates a unit type and a queue index of it.
    fn check_queue(&self, call: &str, utype: u32, queue: i64) -> Res<()> {
        let Some((uname, nq)) = unit_table(self.gen).get(utype as usize) else {
            return Err(reject!(NRT_INVALID, "{call}: execution unit type {utype} does not exist"));
        };
        if queue < 0 || queue >= *nq as i64 {
            return Err(reject!(
                NRT_INVALID,
                "{call}: queue {queue} is out of range for the {uname} unit ({nq} queue(s))"
            ));
        }
        Ok(())
    }

    pub fn schedule_exec(
        self: &Arc<Self>,
        mh: usize,
        inh: usize,
        outh: usize,
        queue: i64,
        done: Completion,
    ) -> Res<u64> {
        let call = "nrta_execute_schedule";
        self.check_queue_index(call, UnitRole::Compute, queue)?;
        let plan = self.prepare_exec(call, mh, inh, outh, true)?;
        let what = format!("{call}('{}')", plan.model.def.name);
        self.submit_exec(call, what, plan, done, false)
    }

    /// The queue for an async tensor op: v3 (lnc given) the tensor-op unit of lnc;
    /// v2 the role's unit of the tensor's core. The tensor must be a device tensor there.
    fn async_tensor_queue(
        &self,
        call: &str,
        t: &Tensor,
        lnc: Option<u32>,
        role: UnitRole,
        queue: i64,
    ) -> Res<Arc<Queue>> {
        let core = match (t.device_core(), lnc) {
            (None, _) => return Err(reject!(NRT_INVALID, "{call}: tensor '{}' is not a device tensor", t.name)),
            (Some(c), Some(l)) if c != l => {
                return Err(reject!(NRT_INVALID, "{call}: tensor '{}' is on core {c}, not on lnc {l}", t.name))
            }
            (Some(c), _) => c,
        };
        Ok(self.queue(core, unit_type(self.gen, role), queue as u32).clone())
    }

    fn check_lnc_queue(&self, call: &str, lnc: Option<u32>, role: UnitRole, queue: i64) -> Res<()> {
        if let Some(l) = lnc {
            if l >= self.cfg.cores {
                return Err(reject!(NRT_INVALID, "{call}: lnc {l} does not exist ({} cores)", self.cfg.cores));
            }
        }
        self.check_queue_index(call, role, queue)
    }

    /// nrta_tensor_write: `buf` into the tensor at `off`.
    pub fn schedule_write(
        self: &Arc<Self>,
        h: usize,
        buf: UserBuf,
        off: u64,
        lnc: Option<u32>,
        queue: i64,
        done: Completion,
    ) -> Res<u64> {
        self.schedule_io(true, h, buf, off, lnc, queue, done)
    }

    /// nrta_tensor_read: the tensor's bytes at `off` into `buf`.
    pub fn schedule_read(
        self: &Arc<Self>,
        h: usize,
        buf: UserBuf,
        off: u64,
        lnc: Option<u32>,
        queue: i64,
        done: Completion,
    ) -> Res<u64> {
        self.schedule_io(false, h, buf, off, lnc, queue, done)
    }

    /// nrta_tensor_read / nrta_tensor_write: v3 on the tensor-op unit of
    /// `lnc`, v2 (no lnc) on the core's read or write unit.
    #[allow(clippy::too_many_arguments)]
    fn schedule_io(
        self: &Arc<Self>,
        write: bool,
        h: usize,
        buf: UserBuf,
        off: u64,
        lnc: Option<u32>,
        queue: i64,
        done: Completion,
    ) -> Res<u64> {
        let call = if write { "nrta_tensor_write" } else { "nrta_tensor_read" };
        let role = match (lnc, write) {
            (Some(_), _) => UnitRole::Op,
            (None, true) => UnitRole::Write,
            (None, false) => UnitRole::Read,
        };
        self.check_lnc_queue(call, lnc, role, queue)?;
        let (t, off, size) = self.io_target(call, h, off, buf.len() as u64)?;
        let q = self.async_tensor_queue(call, &t, lnc, role, queue)?;
        let r = t.region(off, size);
        let op = if write { Transfer::Write { dst: r, src: buf } } else { Transfer::Read { src: r, dst: buf } };
        self.schedule_transfer(&q, call, format!("{call} of '{}'", t.name), op, done)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn schedule_copy(
        self: &Arc<Self>,
        src: usize,
        soff: u64,
        dst: usize,
        doff: u64,
        size: u64,
        lnc: Option<u32>,
        queue: i64,
        done: Completion,
    ) -> Res<u64> {
        let call = "nrta_tensor_copy";
        self.check_lnc_queue(call, lnc, UnitRole::Op, queue)?;
        let (s, so, d, dof, n) = self.copy_operands(call, src, soff, dst, doff, size)?;
        let q = self.async_tensor_queue(call, &s, lnc, UnitRole::Op, queue)?;
        if d.device_core() != Some(q.core) {
            return Err(reject!(
                NRT_INVALID,
                "{call}: destination '{}' is not a device tensor of core {}",
                d.name,
                q.core
            ));
        }
        let op = Transfer::Copy { src: s.region(so, n), dst: d.region(dof, n) };
        self.schedule_transfer(&q, call, format!("{call} '{}' -> '{}'", s.name, d.name), op, done)
    }

    /// Queues a validated data op (never waits for room: NRT_QUEUE_FULL).
    fn schedule_transfer(
        self: &Arc<Self>,
        q: &Arc<Queue>,
        call: &str,
        desc: String,
        op: Transfer,
        done: Completion,
    ) -> Res<u64> {
        let dur = self.cfg.dma_time(op.len() as u64);
        let every = self.cfg.fail_transfer_every;
        let n = if every > 0 { self.stats.transfer_counter.fetch_add(1, Ordering::Relaxed) + 1 } else { 0 };
        let fail = (every > 0 && n.is_multiple_of(every)).then_some(self.cfg.fail_status);
        self.submit(q, call, desc, Work::Data(op, fail), dur, done, false)
    }

    pub(super) fn decode_seq(&self, call: &str, seqno: u64) -> Res<(Arc<Queue>, u64)> {
        let (uid, counter) = seq::split(seqno);
        let q = self
            .queues
            .get(&uid)
            .ok_or_else(|| reject!(NRT_INVALID, "{call}: sequence {seqno:#x} names no execution unit"))?;
        let issued = q.st.lock().issued;
        if counter == 0 || counter > issued {
            return Err(reject!(NRT_INVALID, "{call}: sequence {seqno:#x} was never issued"));
        }
        Ok((q.clone(), counter))
    }

    pub fn is_completed(&self, seqno: u64) -> Res<bool> {
        let (q, c) = self.decode_seq("nrta_is_completed", seqno)?;
        let done = q.st.lock().completed >= c;
        Ok(done)
    }

    pub fn get_sequence(&self, lnc: u32, xu: u32, queue: i64) -> Res<u64> {
        let q = self.async_queue("nrta_get_sequence", lnc, xu, queue)?;
        let c = q.st.lock().completed;
        Ok(seq::make(q.uid, c))
    }

    pub fn tracker_create(&self, lnc: u32) -> Res<usize> {
        if lnc >= self.cfg.cores {
            return Err(reject!(NRT_INVALID, "nrta_error_tracker_create: lnc {lnc} does not exist"));
        }
        let h = new_handle();
        self.reg.lock().trackers.insert(h, Arc::new(Tracker { lnc, state: Mutex::new((Vec::new(), Vec::new())) }));
        Ok(h)
    }
    pub fn tracker(&self, call: &str, h: usize) -> Res<Arc<Tracker>> {
        self.reg
            .lock()
            .trackers
            .get(&h)
            .cloned()
            .ok_or_else(|| reject!(NRT_INVALID_HANDLE, "{call}: error tracker {h:#x} is unknown"))
    }
    pub fn tracker_destroy(&self, h: usize) -> Res<()> {
        self.reg.lock().trackers.remove(&h).map(|_| ()).ok_or_else(|| {
            reject!(NRT_INVALID_HANDLE, "nrta_error_tracker_destroy: error tracker {h:#x} is unknown or destroyed")
        })
    }
    /// Moves the errors recorded since the last call into the tracker's list; returns (ptr, count).
    pub fn tracker_list(&self, h: usize) -> Res<(*const sys::nrta_error_t, usize)> {
        let t = self.tracker("nrta_error_tracker_get_list", h)?;
        let mut st = t.state.lock();
        let (pending, last) = &mut *st;
        *last = std::mem::take(pending);
        let r = (last.as_ptr(), last.len());
        // The Vec lives in the tracker (kept alive by the registry) until the next call/destroy.
        Ok(r)
    }
}

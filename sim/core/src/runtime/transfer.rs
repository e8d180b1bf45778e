//! The synchronous data calls: tensor read, write, batches, copy, memset. A
//! device tensor's bytes move as one op on its core's unit ("schedule, then
//! wait"); a host tensor's move on the caller's thread.

use super::implicit::{Access, Use};
use super::queue::{Completion, SyncSlot, Transfer, Work};
use super::*;
use crate::raw::UserBuf;

impl Runtime {
    /// A host-side access outside the units: check it against in-flight ops.
    pub(super) fn host_access(&self, what: &str, ranges: &[Range]) {
        let site = self.call_site();
        let n = self.oracle.lock().check(None, what, ranges, site);
        if n > 0 {
            log::debug!("hazard oracle: {n} hazard(s) at {what}");
            self.hazards_found();
        }
    }

    /// nrt_tensor_read (sync). `honour_implicit`: false for unsafe batch mode.
    pub fn tensor_read(self: &Arc<Self>, h: usize, off: u64, buf: UserBuf, honour_implicit: bool) -> Res<()> {
        self.tensor_io(Access::Read, h, off, buf, honour_implicit)
    }

    /// nrt_tensor_write (sync). `honour_implicit`: false for unsafe batch mode.
    pub fn tensor_write(self: &Arc<Self>, h: usize, off: u64, buf: UserBuf, honour_implicit: bool) -> Res<()> {
        self.tensor_io(Access::Write, h, off, buf, honour_implicit)
    }

    /// nrt_tensor_read / nrt_tensor_write: checks, the implicit mode's fence,
    /// the transfer; a write then clears what the fence marked stale.
    fn tensor_io(self: &Arc<Self>, access: Access, h: usize, off: u64, buf: UserBuf, honour_implicit: bool) -> Res<()> {
        let write = access == Access::Write;
        let call = if write { "nrt_tensor_write" } else { "nrt_tensor_read" };
        let (t, off, size) = self.io_target(call, h, off, buf.len() as u64)?;
        let uses = [Use::new(&t, off, size, access)];
        self.implicit_fence(&uses, honour_implicit)?;
        self.transfer_validated(call, &t, off, size, buf, write)?;
        if write {
            self.implicit_rewritten(&uses);
        }
        Ok(())
    }

    /// A validated synchronous transfer between `buf` and the tensor's bytes
    /// (`write`: into the tensor).
    fn transfer_validated(
        self: &Arc<Self>,
        call: &str,
        t: &Tensor,
        off: usize,
        size: usize,
        buf: UserBuf,
        write: bool,
    ) -> Res<()> {
        if size == 0 {
            return Ok(());
        }
        let r = t.region(off, size);
        let desc = format!("{call} of '{}'", t.name);
        let (role, op) = if write {
            (UnitRole::Write, Transfer::Write { dst: r, src: buf })
        } else {
            (UnitRole::Read, Transfer::Read { src: r, dst: buf })
        };
        self.transfer(t.device_core(), role, call, desc, op)
    }

    /// Performs a synchronous transfer: for a device tensor, one op on the
    /// core's unit for `role` and the wait for it (the synchronous API is
    /// "schedule, then wait"); for host memory (`core` None), on this thread.
    fn transfer(
        self: &Arc<Self>,
        core: Option<u32>,
        role: UnitRole,
        call: &str,
        desc: String,
        op: Transfer,
    ) -> Res<()> {
        let Some(core) = core else {
            self.host_access(&desc, &op.ranges());
            op.apply();
            return Ok(());
        };
        let q = self.role_queue(core, role).clone();
        let slot = SyncSlot::new_inline();
        let dur = self.cfg.dma_time(op.len() as u64);
        self.submit(&q, call, desc, Work::Data(op, None), dur, Completion::Sync(slot.clone()), true)?;
        slot.wait_ok()
    }

    /// Batch read/write: validates every op first, then performs them in order.
    pub fn tensor_batch(
        self: &Arc<Self>,
        write: bool,
        batches: Vec<(usize, Vec<(u64, UserBuf)>)>,
        unsafe_mode: bool,
    ) -> Res<()> {
        let call = if write { "nrt_tensor_write_batch" } else { "nrt_tensor_read_batch" };
        let mut plan = Vec::new();
        for (h, ops) in &batches {
            let t = self.tensor(call, *h)?;
            plan.push((t, ops));
        }
        let mut checked = Vec::new();
        for (t, ops) in &plan {
            Self::with_storage(call, t)?;
            for (off, buf) in ops.iter() {
                let (o, s) = Self::range_check(call, t, *off, buf.len() as u64)?;
                checked.push((t.clone(), o, s, *buf));
            }
        }
        // The implicit mode's fence, for every op at once: a failure it reports
        // leaves the batch undone.
        let access = if write { Access::Write } else { Access::Read };
        let uses: Vec<Use> = if self.implicit > 0 {
            checked.iter().map(|(t, o, s, _)| Use::new(t, *o, *s, access)).collect()
        } else {
            Vec::new()
        };
        self.implicit_fence(&uses, !unsafe_mode)?;
        for (t, o, s, buf) in checked {
            self.transfer_validated(call, &t, o, s, buf, write)?;
        }
        self.implicit_rewritten(&uses);
        Ok(())
    }

    pub fn tensor_copy(self: &Arc<Self>, src: usize, soff: u64, dst: usize, doff: u64, size: u64) -> Res<()> {
        let call = "nrt_tensor_copy";
        let (s, so, d, dof, n) = self.copy_operands(call, src, soff, dst, doff, size)?;
        let core = match (s.device_core(), d.device_core()) {
            (Some(a), Some(b)) if a != b => {
                return Err(reject!(
                    NRT_INVALID,
                    "{call}: '{}' is on core {a} and '{}' on core {b}: copies stay on one core",
                    s.name,
                    d.name
                ))
            }
            (a, b) => a.or(b),
        };
        if n == 0 {
            return Ok(());
        }
        let uses = [Use::new(&s, so, n, Access::Read), Use::new(&d, dof, n, Access::Write)];
        self.implicit_fence(&uses, true)?;
        let desc = format!("{call} '{}' -> '{}'", s.name, d.name);
        self.transfer(core, UnitRole::Op, call, desc, Transfer::Copy { src: s.region(so, n), dst: d.region(dof, n) })?;
        self.implicit_rewritten(&uses);
        Ok(())
    }

    pub fn tensor_memset(self: &Arc<Self>, h: usize, off: u64, value: i32, size: u64) -> Res<()> {
        let call = "nrt_tensor_memset";
        let (t, off, size) = self.io_target(call, h, off, size)?;
        if size == 0 {
            return Ok(());
        }
        let uses = [Use::new(&t, off, size, Access::Write)];
        self.implicit_fence(&uses, true)?;
        let desc = format!("{call} of '{}'", t.name);
        let op = Transfer::Memset { dst: t.region(off, size), value: value as u8 };
        self.transfer(t.device_core(), UnitRole::Op, call, desc, op)?;
        self.implicit_rewritten(&uses);
        Ok(())
    }
}

//! The synchronous data calls: tensor read, write, batches, copy, memset. A
//! device tensor's bytes move as one op on its core's unit ("schedule, then
//! wait"); a host tensor's move on the caller's thread.

use super::implicit::{Access, Use};
use super::queue::{Completion, SyncSlot, Work};
use super::*;
use crate::raw::UserBuf;

impl Runtime {
    /// A host-side access outside the units: check it against in-flight ops.
    fn host_access(&self, what: &str, ranges: &[Range]) {
        let n = self.oracle.lock().check(None, what, ranges);
        if n > 0 {
            log::debug!("hazard oracle: {n} hazard(s) at {what}");
        }
    }

    /// Implicit mode: wait until no execution is pending on `core` (None: any core).
    fn implicit_wait(&self, core: Option<u32>) {
        if self.implicit == 0 {
            return;
        }
        let mut im = self.imp.lock();
        loop {
            let busy = match core {
                Some(c) => im.inflight[c as usize] > 0,
                None => im.inflight.iter().any(|&n| n > 0),
            };
            if !busy {
                return;
            }
            self.imp_cv.wait(&mut im);
        }
    }

    /// nrt_tensor_read (sync). `honour_implicit`: false for unsafe batch mode.
    pub fn tensor_read(self: &Arc<Self>, h: usize, off: u64, buf: UserBuf, honour_implicit: bool) -> Res<()> {
        let call = "nrt_tensor_read";
        let (t, off, size) = self.io_target(call, h, off, buf.len() as u64)?;
        // The implicit mode's fence runs here, not in transfer_validated.
        self.implicit_fence(&[Use::new(&t, off, size, Access::Read)], honour_implicit)?;
        self.transfer_validated(call, &t, off, size, buf, false, false)
    }

    /// A validated synchronous transfer between `buf` and the tensor's bytes
    /// (`write`: into the tensor).
    #[allow(clippy::too_many_arguments)]
    fn transfer_validated(
        self: &Arc<Self>,
        call: &str,
        t: &Tensor,
        off: usize,
        size: usize,
        buf: UserBuf,
        honour_implicit: bool,
        write: bool,
    ) -> Res<()> {
        if size == 0 {
            return Ok(());
        }
        if honour_implicit {
            self.implicit_wait(t.device_core());
        }
        let r = t.region(off, size);
        let desc = format!("{call} of '{}'", t.name);
        match (t.device_core(), write) {
            (None, false) => {
                self.host_access(&desc, &[r.range(false)]);
                r.view().copy_to_user(&buf);
                Ok(())
            }
            (None, true) => {
                self.host_access(&desc, &[r.range(true)]);
                r.view().copy_from_user(&buf);
                Ok(())
            }
            (Some(core), false) => {
                self.transfer_and_wait(core, UnitRole::Read, call, desc, Work::Read { src: r, dst: buf }, size as u64)
            }
            (Some(core), true) => {
                self.transfer_and_wait(core, UnitRole::Write, call, desc, Work::Write { dst: r, src: buf }, size as u64)
            }
        }
    }

    pub fn tensor_write(self: &Arc<Self>, h: usize, off: u64, buf: UserBuf, honour_implicit: bool) -> Res<()> {
        let call = "nrt_tensor_write";
        let (t, off, size) = self.io_target(call, h, off, buf.len() as u64)?;
        let uses = [Use::new(&t, off, size, Access::Write)];
        self.implicit_fence(&uses, honour_implicit)?;
        self.transfer_validated(call, &t, off, size, buf, false, true)?;
        self.implicit_rewritten(&uses);
        Ok(())
    }

    /// A synchronous transfer: one op on the core's unit for `role`, and the
    /// wait for it (the synchronous API is "schedule, then wait").
    fn transfer_and_wait(
        self: &Arc<Self>,
        core: u32,
        role: UnitRole,
        call: &str,
        desc: String,
        work: Work,
        bytes: u64,
    ) -> Res<()> {
        let q = self.role_queue(core, role).clone();
        let slot = SyncSlot::new_inline();
        let dur = self.cfg.dma_time(bytes);
        self.submit(&q, call, desc, work, dur, Completion::Sync(slot.clone()), true)?;
        match slot.wait() {
            NRT_SUCCESS => Ok(()),
            st => Err(st),
        }
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
            self.transfer_validated(call, &t, o, s, buf, false, write)?;
        }
        self.implicit_rewritten(&uses);
        Ok(())
    }

    pub fn tensor_copy(self: &Arc<Self>, src: usize, soff: u64, dst: usize, doff: u64, size: u64) -> Res<()> {
        let call = "nrt_tensor_copy";
        let s = self.tensor(call, src)?;
        let d = self.tensor(call, dst)?;
        Self::with_storage(call, &s)?;
        Self::with_storage(call, &d)?;
        let (so, n) = Self::range_check(call, &s, soff, size)?;
        let (dof, _) = Self::range_check(call, &d, doff, size)?;
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
        let (sr, dr) = (s.region(so, n), d.region(dof, n));
        match core {
            None => {
                self.host_access(&format!("{call} '{}' -> '{}'", s.name, d.name), &[sr.range(false), dr.range(true)]);
                dr.view().copy_from(&sr.view());
            }
            Some(c) => self.transfer_and_wait(
                c,
                UnitRole::Op,
                call,
                format!("{call} '{}' -> '{}'", s.name, d.name),
                Work::Copy { src: sr, dst: dr },
                n as u64,
            )?,
        }
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
        let r = t.region(off, size);
        match t.device_core() {
            None => {
                self.host_access(&format!("{call} of '{}'", t.name), &[r.range(true)]);
                r.view().fill(value as u8);
            }
            Some(c) => self.transfer_and_wait(
                c,
                UnitRole::Op,
                call,
                format!("{call} of '{}'", t.name),
                Work::Memset { dst: r, value: value as u8 },
                size as u64,
            )?,
        }
        self.implicit_rewritten(&uses);
        Ok(())
    }
}

//! The calls that reach device memory without the tensor calls, or order work
//! behind the synchronous API (issue 15): a device tensor's address kept and
//! used between executions (perftest style: `memcpy` into it, reads through
//! it), `nrt_memcpy_to_device` to it (whole and partial),
//! `nrt_barrier(core, 0, 1)`, `nrt_tensor_get_device_allocation_info`, and in a
//! few programs, in their last third, `nrt_get_hbm_mmap_va` (the shim is
//! synchronous from then on) with writes and reads at tensors' bytes inside
//! the mapped bank; perftest's loop (memcpy into the inputs, execute, read the
//! outputs through their addresses); read-backs through a kept address right
//! after a write, memset or copy. The runs set `NEURON_RT_MAP_HBM=1`, the
//! reference too.
//!
//! Each program is correct under the synchronous runtime as written: an address
//! is used only while its tensor (and everything sharing its storage) lives, so
//! the shim must give the same bytes. The interpreter's side is
//! `proof/c/interp_escape.h`.

use super::{Gen, Place};

/// What the generator knows of the escapes of one program.
#[derive(Clone, Debug, Default)]
pub(super) struct Escapes {
    /// The cores whose bank was mapped (`hbm`).
    pub banks: Vec<u32>,
    /// The step before which `hbm` runs, if it does in this program.
    pub hbm_at: Option<usize>,
}

impl Gen<'_> {
    /// The step weights of the escape ops (none when the profile has none).
    pub(super) fn escape_weights(&self) -> [(&'static str, u64); 8] {
        let e = if self.cfg.fault { 0 } else { self.cfg.escape };
        // after the mapping, few steps remain: make them count
        let hbm = if self.esc.banks.is_empty() { 0 } else { 12 * e };
        [
            ("vaget", 3 * e),
            ("varead", 3 * e),
            ("vastore", 3 * e),
            ("mcpy", 3 * e),
            ("barrier", e),
            ("ainfo", e),
            ("hbmrw", hbm),
            ("perf", e),
        ]
    }

    /// Decides whether (and where among `n` steps) this program maps a bank.
    pub(super) fn escape_plan(&mut self, n: usize) {
        if self.cfg.escape > 0 && self.cfg.hbm_pct > 0 && n > 0 && self.rng.pct(self.cfg.hbm_pct) {
            self.esc.hbm_at = Some(self.rng.range((n * 2 / 3) as i64, n as i64 - 1) as usize);
        }
    }

    /// Before step `i`: the bank mapping, if it is planned here.
    pub(super) fn escape_before_step(&mut self, i: usize, thr: i32) {
        if self.esc.hbm_at != Some(i) {
            return;
        }
        let core = self.rng.below(self.cfg.cores as u64) as u32;
        self.emit(thr, true, "hbm", &[core as i64]);
        self.esc.banks.push(core);
        if self.rng.pct(30) {
            // an invalid bank: NRT_INVALID under both
            self.emit(thr, true, "hbm", &[self.cfg.cores as i64]);
        }
    }

    fn root(&self, mut t: usize) -> usize {
        while let Some(p) = self.t[t].parent {
            t = p;
        }
        t
    }

    /// `t` is freed: the addresses kept of every tensor sharing its storage are
    /// forgotten (using one later would be the program's use-after-free).
    pub(super) fn forget_va(&mut self, t: usize) {
        let r = self.root(t);
        for u in 0..self.t.len() {
            if self.root(u) == r {
                self.t[u].va = false;
            }
        }
    }

    pub(super) fn escape_op(&mut self, thr: i32, kind: &str) -> bool {
        match kind {
            "vaget" => self.vaget(thr),
            "varead" | "vastore" | "mcpy" => self.va_use(thr, kind),
            "barrier" => {
                let core = if self.invalid() { self.cfg.cores } else { self.rng.below(self.cfg.cores as u64) as u32 };
                self.emit(thr, false, "barrier", &[core as i64]);
                true
            }
            "ainfo" => {
                let storage = !self.invalid();
                let c = self.vis_tensors(thr, storage);
                let Some(t) = self.rng.pick(&c).copied() else { return false };
                let sh = self.t_shared(t);
                self.emit(thr, sh, "ainfo", &[t as i64]);
                true
            }
            "hbmrw" => self.hbm_use(thr),
            "perf" => self.perf_loop(thr),
            _ => false,
        }
    }

    /// Keeps the address of a device tensor (mostly one a live set names), or
    /// of a host tensor.
    fn vaget(&mut self, thr: i32) -> bool {
        let in_set = self.rng.pct(70);
        let host = self.rng.pct(10);
        let c: Vec<usize> = self
            .vis_tensors(thr, true)
            .into_iter()
            .filter(|&t| match self.t[t].place {
                Place::Dev(_) => !host,
                Place::Host => host,
                _ => false,
            })
            .filter(|&t| !in_set || self.s.iter().any(|s| s.alive && s.contents.iter().any(|(_, x)| *x == t)))
            .collect();
        let Some(t) = self.rng.pick(&c).copied() else { return false };
        let sh = self.t_shared(t);
        self.emit(thr, sh, "vaget", &[t as i64]);
        self.t[t].va = true;
        true
    }

    /// A read, a store or an `nrt_memcpy_to_device` through a kept address.
    fn va_use(&mut self, thr: i32, kind: &str) -> bool {
        let c: Vec<usize> = self.vis_tensors(thr, true).into_iter().filter(|&t| self.t[t].va).collect();
        let Some(t) = self.rng.pick(&c).copied() else { return self.vaget(thr) };
        let sz = self.t[t].size.max(1) as i64;
        let sh = self.t_shared(t);
        let seed = self.rng.below(1 << 30) as i64;
        match kind {
            "varead" => {
                let (off, len) = self.range_in(sz as usize);
                self.emit(thr, sh, "varead", &[t as i64, off, len]);
            }
            "vastore" => {
                let (off, len) = self.range_in(sz as usize);
                self.emit(thr, sh, "vastore", &[t as i64, off, len, seed]);
            }
            _ => {
                let (off, len) = if self.invalid() {
                    // starts inside, ends past the tensor (a start outside it
                    // would depend on the device memory's layout)
                    let off = self.rng.range(0, sz - 1);
                    (off, sz - off + self.rng.range(1, 64))
                } else if self.rng.pct(50) {
                    (0, sz)
                } else {
                    // never range_in's invalid ranges: one starting past the
                    // end may land in the next tensor of the reference's layout
                    let off = self.rng.range(0, sz - 1);
                    (off, self.rng.range(0, sz - off))
                };
                self.emit(thr, sh, "mcpy", &[t as i64, off, len, seed]);
            }
        }
        true
    }

    /// perftest's loop: the addresses of a set pair's device tensors kept, then
    /// a few rounds of `memcpy` into the inputs, `nrt_execute`, reads of the
    /// outputs through their addresses (no runtime call between).
    fn perf_loop(&mut self, thr: i32) -> bool {
        let Some(m) = self.pick_model(thr) else { return false };
        let pairs: Vec<(usize, usize)> = self.live_pairs(m, thr);
        let Some(&(sin, sout)) = self.rng.pick(&pairs) else { return false };
        let dev = |g: &Self, s: usize| -> Vec<usize> {
            let mut v: Vec<usize> = g.s[s]
                .contents
                .iter()
                .map(|(_, t)| *t)
                .filter(|&t| g.t[t].alive && matches!(g.t[t].place, Place::Dev(_)) && g.visible(g.t[t].owner, thr))
                .collect();
            v.dedup();
            v
        };
        let (ins, outs) = (dev(self, sin), dev(self, sout));
        if ins.is_empty() && outs.is_empty() {
            return false;
        }
        for &t in ins.iter().chain(&outs) {
            if !self.t[t].va {
                let sh = self.t_shared(t);
                self.emit(thr, sh, "vaget", &[t as i64]);
                self.t[t].va = true;
            }
        }
        let ordered = self.s_shared(sin) || self.s_shared(sout) || self.m[m].def.fail.is_some() && self.multi();
        for _ in 0..self.rng.range(1, 4) {
            for &t in &ins {
                let (sz, sh) = (self.t[t].size as i64, self.t_shared(t));
                let seed = self.rng.below(1 << 30) as i64;
                let kind = if self.rng.pct(70) { "vastore" } else { "mcpy" };
                self.emit(thr, sh, kind, &[t as i64, 0, sz, seed]);
            }
            self.emit(thr, ordered, "exec", &[m as i64, sin as i64, sout as i64]);
            for &t in &outs {
                let (sz, sh) = (self.t[t].size as i64, self.t_shared(t));
                self.emit(thr, sh, "varead", &[t as i64, 0, sz]);
            }
        }
        // completion counts: not tracked through this loop
        let named: Vec<usize> = self.s[sout].contents.iter().map(|(_, t)| *t).collect();
        for t in named {
            self.t[t].count_known = false;
        }
        true
    }

    /// After a write, memset or copy into `t` (staged, renamed or device-side
    /// under the shim): often its bytes read at once through its kept address.
    pub(super) fn read_back(&mut self, thr: i32, t: usize) {
        if self.cfg.escape == 0 || !self.t[t].alive || !self.t[t].va || !self.rng.pct(60) {
            return;
        }
        let (sz, sh) = (self.t[t].size as i64, self.t_shared(t));
        self.emit(thr, sh, "varead", &[t as i64, 0, sz]);
    }

    /// A write or a read at a device tensor's bytes inside a mapped bank.
    fn hbm_use(&mut self, thr: i32) -> bool {
        let c: Vec<usize> = self
            .vis_tensors(thr, true)
            .into_iter()
            .filter(|&t| matches!(self.t[t].place, Place::Dev(c) if self.esc.banks.contains(&c)))
            .collect();
        let Some(t) = self.rng.pick(&c).copied() else { return false };
        let sz = self.t[t].size.max(1);
        // ordered: it must run after the mapping, which another thread may have made
        let sh = true;
        let (off, len) = self.range_in(sz);
        if self.rng.pct(50) {
            let seed = self.rng.below(1 << 30) as i64;
            self.emit(thr, sh, "hbmwrite", &[t as i64, off, len, seed]);
        } else {
            self.emit(thr, sh, "hbmread", &[t as i64, off, len]);
        }
        true
    }

    /// The epilogue first reads every live tensor's bytes through its kept
    /// address (and inside a mapped bank), with no call of the runtime before
    /// (as the program may once the executions that wrote them returned).
    pub(super) fn escape_epilogue(&mut self) {
        for t in 0..self.t.len() {
            if self.t[t].alive && self.t[t].va && self.has_storage(t) {
                self.emit(-2, false, "varead", &[t as i64, 0, self.t[t].size as i64]);
            }
            let mapped = matches!(self.t[t].place, Place::Dev(c) if self.esc.banks.contains(&c));
            if self.t[t].alive && mapped {
                self.emit(-2, false, "hbmread", &[t as i64, 0, self.t[t].size as i64]);
            }
        }
    }
}

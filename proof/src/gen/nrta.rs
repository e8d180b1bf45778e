//! The program's own `nrta_*` requests (a half-migrated program), in the
//! idiom of the migration guide: schedule, then wait for it (`nrta_is_completed`)
//! before the next call, so the program is correct under the synchronous
//! runtime and has one outcome. Under the shim each must first wait for the
//! shim's pending work on its bytes, and is then recorded until it completed.
//!
//! `aread t off len core`, `awrite t off len seed core` (the tensor-op unit of
//! `core` in v3: the tensor's own), `aexec m sin sout`. Invalid ones (host
//! tensors, out-of-range bytes, sets of another model) are rejected by the
//! runtime alike under both.

use super::{Gen, Place};

impl Gen<'_> {
    /// An `aread` or `awrite` of a tensor with storage.
    pub(super) fn nrta_data_op(&mut self, thr: i32, write: bool) -> bool {
        let storage = !self.invalid();
        let c: Vec<usize> = self
            .vis_tensors(thr, storage)
            .into_iter()
            .filter(|&t| !storage || matches!(self.t[t].place, Place::Dev(_)) || self.invalid())
            .collect();
        let Some(t) = self.rng.pick(&c).copied() else { return false };
        let core = match self.t[t].place {
            Place::Dev(c) => c as i64,
            _ => 0,
        };
        let sz = self.t[t].size.max(1);
        let sh = self.t_shared(t);
        let (off, len) = self.range_in(sz);
        if write {
            let seed = self.rng.below(1 << 30) as i64;
            self.emit(thr, sh, "awrite", &[t as i64, off, len, seed, core]);
        } else {
            self.emit(thr, sh, "aread", &[t as i64, off, len, core]);
        }
        true
    }

    /// An `aexec` on a pair of the model's sets (as `exec` picks them).
    pub(super) fn nrta_exec(&mut self, thr: i32) -> bool {
        let Some(m) = self.pick_model(thr) else { return false };
        let pairs: Vec<(usize, usize)> = self.live_pairs(m, thr);
        let Some(&(sin, sout)) = self.rng.pick(&pairs) else { return false };
        let ordered = self.s_shared(sin) || self.s_shared(sout) || self.m[m].def.fail.is_some() && self.multi();
        self.emit(thr, ordered, "aexec", &[m as i64, sin as i64, sout as i64]);
        // Its outputs' completion counts: host tensors are refused by the
        // async path, so only an all-device request surely counts.
        let all_device = self.s[sin]
            .contents
            .iter()
            .chain(self.s[sout].contents.iter())
            .all(|(_, t)| matches!(self.t[*t].place, Place::Dev(c) if c == self.m[m].def.core));
        let valid = all_device && self.exec_valid(m, sin, sout);
        let outs: Vec<usize> = self.s[sout].contents.iter().map(|(_, t)| *t).collect();
        for t in outs {
            if valid {
                self.t[t].completions += 1;
            } else {
                self.t[t].count_known = false;
            }
        }
        true
    }
}

//! Writes behind the simulator's back: bytes of an exposed device storage (its
//! address was handed out by nrt_tensor_get_va, nrt_get_hbm_mmap_va or
//! nrt_get_dmabuf_fd) that change while an op using them is in flight. The
//! simulator cannot see a CPU store, but it can see its effect: it
//! fingerprints the op's exposed ranges when the op is scheduled on an idle
//! queue (else when it starts: an earlier op of the queue may still write
//! them), just before and just after its data phase, and when it ends; a
//! change no device op explains is a hazard. A CPU read, or a write that the
//! op's own write then covers, is invisible (sim/FIDELITY.md, 10.6).

use super::queue::{Transfer, Work};
use super::*;

struct Watched {
    region: Region,
    print: u64,
}

/// The exposed ranges of one op (empty, and free, for every other op).
pub(super) struct Watch(Vec<Watched>);

impl Watch {
    pub(super) fn of(work: &Work) -> Watch {
        let mut v = Vec::new();
        let mut add = |r: &Region, _write: bool| {
            if r.len > 0 && r.storage.exposed.load(Ordering::Relaxed) {
                v.push(Watched { region: r.clone(), print: r.view().fingerprint() });
            }
        };
        match work {
            Work::Exec { inputs, outputs, .. } => {
                inputs.iter().for_each(|r| add(r, false));
                outputs.iter().for_each(|(r, _)| add(r, true));
            }
            Work::Data(t, _) => match t {
                Transfer::Write { dst, .. } | Transfer::Memset { dst, .. } => add(dst, true),
                Transfer::Read { src, .. } => add(src, false),
                Transfer::Copy { src, dst } => {
                    add(src, false);
                    add(dst, true);
                }
            },
        }
        Watch(v)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first watched range whose bytes changed since the last look, then
    /// takes a new look at every range.
    fn changed(&mut self) -> Option<(String, usize, usize)> {
        let mut first = None;
        for w in &mut self.0 {
            let now = w.region.view().fingerprint();
            if now != w.print && first.is_none() {
                first = Some((w.region.tensor.clone(), w.region.off, w.region.off + w.region.len));
            }
            w.print = now;
        }
        first
    }

    /// A change since the last look (the op's start, or just after its data
    /// phase) is an outside write racing the op: one hazard.
    pub(super) fn look(&mut self, rt: &Runtime, key: u64, phase: &'static str) {
        if let Some((t, a, b)) = self.changed() {
            rt.oracle.lock().external(key, |op| {
                format!(
                    "a write outside the runtime (through a device address) changed tensor '{t}' bytes [{a}..{b}) {phase} in-flight {op}"
                )
            });
            rt.hazards_found();
        }
    }

    /// Right after the op's own write: its new bytes are the reference (of
    /// every range: an output may overlap an input).
    pub(super) fn rebase(&mut self) {
        for w in &mut self.0 {
            w.print = w.region.view().fingerprint();
        }
    }
}

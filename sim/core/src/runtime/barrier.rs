//! Synchronisation points: `nrt_barrier` and the drain of one core's units
//! (also used by the profiling brackets).

use super::*;
use std::collections::BTreeSet;

/// The ranks of this process waiting in nrt_barrier (count > 1): threads of one
/// process standing in for the ranks of a job.
#[derive(Default)]
pub(super) struct Rendezvous {
    st: Mutex<Round>,
    cv: Condvar,
}

#[derive(Default)]
struct Round {
    count: u32,
    arrived: BTreeSet<u32>,
    /// Rounds completed: a waiter leaves when it changes.
    done: u64,
}

impl Runtime {
    /// Waits until every op queued so far on `core`'s units has completed.
    pub(super) fn drain_core(&self, core: u32) {
        let mut qs: Vec<&Arc<Queue>> = self.queues.values().filter(|q| q.core == core).collect();
        qs.sort_by_key(|q| q.uid);
        for q in qs {
            q.drain();
        }
    }

    /// nrt_barrier: drains the core, then waits for the `count` ranks (distinct
    /// `gid`s of this process), at most NRT_SIM_BARRIER_TIMEOUT_MS.
    pub fn barrier(&self, vnc: i32, gid: u32, count: u32) -> Res<()> {
        let call = "nrt_barrier";
        if vnc < 0 || vnc as u32 >= self.cfg.cores {
            return Err(reject!(NRT_INVALID, "{call}: vnc {vnc} does not exist ({} cores)", self.cfg.cores));
        }
        if count == 0 || gid >= count {
            return Err(reject!(NRT_INVALID, "{call}: g_device_id {gid} is not in 0..g_device_count ({count})"));
        }
        self.drain_core(vnc as u32);
        if count == 1 {
            return Ok(());
        }
        let b = &self.barrier;
        let mut st = b.st.lock();
        if !st.arrived.is_empty() && st.count != count {
            return Err(reject!(
                NRT_INVALID,
                "{call}: g_device_count {count} differs from the {} of the ranks already waiting",
                st.count
            ));
        }
        if !st.arrived.insert(gid) {
            return Err(reject!(NRT_INVALID, "{call}: rank {gid} is already waiting in this barrier"));
        }
        st.count = count;
        if st.arrived.len() == count as usize {
            st.arrived.clear();
            st.done += 1;
            b.cv.notify_all();
            return Ok(());
        }
        let round = st.done;
        let deadline = Instant::now() + Duration::from_millis(self.cfg.barrier_timeout_ms);
        while st.done == round {
            if b.cv.wait_until(&mut st, deadline).timed_out() && st.done == round {
                st.arrived.remove(&gid);
                return Err(reject!(
                    NRT_TIMEOUT,
                    "{call}: rank {gid} of {count} waited {} ms for the others (NRT_SIM_BARRIER_TIMEOUT_MS; \
                     only ranks of this process can arrive)",
                    self.cfg.barrier_timeout_ms
                ));
            }
        }
        Ok(())
    }
}

//! Which requests the completion thread has registered its eventfd for
//! (`RealDevice::arm`): only the ones it waits for, when it goes to sleep.

use std::cell::RefCell;
use std::ffi::c_int;

use nrt_sys::NRT_SUCCESS;

use super::device::RealDevice;
use crate::scheduler::Device;

thread_local! {
    /// The requests the completion thread registered its eventfd for; only
    /// that thread waits with it, and a forked child or a restarted thread
    /// starts with none.
    static ARMED: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

impl RealDevice {
    /// Registers the completion thread's eventfd for each of `device_seqs`
    /// (the requests it waits for: one per unit) not registered yet. Only
    /// these are registered, not every request at its submission: requests
    /// of one unit complete in order, so the oldest one's signal is the one
    /// that matters, and a submission stays one runtime call. A registration
    /// lasts until its request completes; the list forgets the requests no
    /// longer waited for (completed: the thread retires in order). A request
    /// that completed before its registration is signalled at once (ABI).
    /// Returns how long to wait for the signal: 50 ms if all are registered;
    /// 1 ms if the runtime refused one; 50 us (and a timeout is not late) if
    /// one registered earlier completed since (its signal was taken by that
    /// wait's drain: another thread is retiring it, and the next look sees).
    pub(super) fn arm(&self, device_seqs: &[u64], completion_fd: c_int) -> Arming {
        let Some(reg) = self.rt.nrta_event_register_seq_id_completion else { return Arming::Refused };
        if *crate::config::TEST_SKIP_ARM {
            return Arming::All;
        }
        ARMED.with(|a| {
            let mut armed = a.borrow_mut();
            armed.retain(|s| device_seqs.contains(s));
            let mut arming = Arming::All;
            for &seq in device_seqs {
                if armed.contains(&seq) {
                    if self.is_completed(seq) != Ok(false) {
                        return Arming::Stale;
                    }
                    continue;
                }
                // SAFETY: our eventfd, open for the process lifetime.
                if unsafe { reg(seq, completion_fd) } == NRT_SUCCESS {
                    armed.push(seq);
                } else {
                    arming = Arming::Refused;
                }
            }
            arming
        })
    }
}

/// What `RealDevice::arm` did (how long the completion thread then waits).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Arming {
    All,
    Refused,
    Stale,
}

//! Completion eventfds: per sequence number (v3
//! `nrta_event_register_seq_id_completion`, v2 `nrta_get_completion_handle`)
//! and per queue (v3 `nrta_event_register_xu_completion`).

use super::*;
use crate::raw;

/// The private eventfd dups (v3 `nrta_event_register_seq_id_completion`, v2
/// `nrta_get_completion_handle`) waiting for a completion: removed under this
/// lock just before they are signalled and closed, so that a forked child,
/// which closes its copies of them, never closes anything else.
pub(super) static NOTIFY_FDS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Signals and closes a registered private eventfd (see NOTIFY_FDS). The
/// signal is sent outside the lock: the thread it wakes often preempts this
/// one, and its next call (another registration) needs the lock. The fd stays
/// listed until it is closed, so a fork meanwhile still closes the child's copy.
pub(super) fn signal_notify_fd(fd: i32) {
    raw::signal(fd);
    let mut fds = NOTIFY_FDS.lock();
    if let Some(i) = fds.iter().position(|&f| f == fd) {
        fds.swap_remove(i);
    }
    raw::close_fd(fd);
}

/// A transient dup of a registered XU eventfd (ours, in NOTIFY_FDS), itself
/// listed in NOTIFY_FDS so that a fork before it is signalled closes the
/// child's copy; signal it with [`signal_notify_fd`].
pub(super) fn dup_xu_fd(fd: i32) -> Option<i32> {
    let mut fds = NOTIFY_FDS.lock();
    let d = raw::dup_cloexec(fd)?;
    fds.push(d);
    Some(d)
}

/// The eventfds one completion signals, gathered under the queue's lock and
/// signalled after it (usually one or two: no allocation for up to 8).
#[derive(Default)]
pub(super) struct DueFds {
    few: [i32; 8],
    n: usize,
    more: Vec<i32>,
}

impl DueFds {
    pub(super) fn push(&mut self, fd: i32) {
        if self.n < self.few.len() {
            self.few[self.n] = fd;
            self.n += 1;
        } else {
            self.more.push(fd);
        }
    }

    /// Signals and closes every fd (see [`signal_notify_fd`]).
    pub(super) fn signal(self) {
        for &fd in self.few[..self.n].iter().chain(&self.more) {
            signal_notify_fd(fd);
        }
    }
}

/// Closes one of our registered eventfd dups and forgets it.
pub(super) fn forget_notify_fd(fd: i32) {
    let mut fds = NOTIFY_FDS.lock();
    if let Some(i) = fds.iter().position(|&f| f == fd) {
        fds.swap_remove(i);
    }
    raw::close_fd(fd);
}

impl Runtime {
    /// Signals `fd` (which we own) when seq completes; at once if it has.
    pub fn notify_on_completion(&self, call: &str, seqno: u64, fd: i32) -> Res<()> {
        let (q, c) = match self.decode_seq(call, seqno) {
            Ok(x) => x,
            Err(e) => {
                raw::close_fd(fd);
                return Err(e);
            }
        };
        let mut st = q.st.lock();
        if st.completed >= c {
            drop(st);
            raw::signal_and_close(fd);
        } else {
            NOTIFY_FDS.lock().push(fd);
            st.notify.push((c, fd));
        }
        Ok(())
    }

    /// v3 `nrta_event_register_seq_id_completion(seq, -1)`: drops every
    /// registration of `seqno` (our dups are closed, never signalled).
    pub fn deregister_seq(&self, call: &str, seqno: u64) -> Res<()> {
        let (q, c) = self.decode_seq(call, seqno)?;
        let mut st = q.st.lock();
        let mut i = 0;
        while i < st.notify.len() {
            if st.notify[i].0 == c {
                let (_, fd) = st.notify.swap_remove(i);
                forget_notify_fd(fd);
            } else {
                i += 1;
            }
        }
        Ok(())
    }

    /// v3 `nrta_event_register_xu_completion(lnc, xu, queue, efd)`: a dup of
    /// `efd` gets 1 added at every completion on that queue from now on; it
    /// replaces an earlier registration of the queue; `efd` -1 deregisters.
    pub fn register_xu(&self, call: &str, lnc: u32, xu: u32, queue: i64, efd: i32) -> Res<()> {
        let q = self.async_queue(call, lnc, xu, queue)?;
        let fd = match efd {
            -1 => None,
            e if e < 0 => return Err(reject!(NRT_INVALID, "{call}: efd {e} is not a file descriptor")),
            e => match raw::dup_cloexec(e) {
                Some(d) => Some(d),
                None => return Err(reject!(NRT_INVALID, "{call}: efd {e} is not an open file descriptor")),
            },
        };
        let mut st = q.st.lock();
        if let Some(d) = fd {
            NOTIFY_FDS.lock().push(d);
        }
        if let Some(old) = std::mem::replace(&mut st.xu_notify, fd) {
            forget_notify_fd(old);
        }
        Ok(())
    }
}

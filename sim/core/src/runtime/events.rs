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

/// Signals and closes a registered private eventfd (see NOTIFY_FDS).
pub(super) fn signal_notify_fd(fd: i32) {
    let mut fds = NOTIFY_FDS.lock();
    if let Some(i) = fds.iter().position(|&f| f == fd) {
        fds.swap_remove(i);
    }
    raw::signal_and_close(fd);
}

/// Signals a registered XU eventfd (our dup, in NOTIFY_FDS) and keeps it: adds 1
/// through a transient dup, under NOTIFY_FDS so that no fork copies the dup.
pub(super) fn signal_xu_fd(fd: i32) {
    let _fds = NOTIFY_FDS.lock();
    if let Some(d) = raw::dup_cloexec(fd) {
        raw::signal_and_close(d);
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

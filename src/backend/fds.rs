//! File descriptors of the backend: eventfds, draining and polling them, and
//! each application thread's own eventfd for direct waiting.

use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::sync::plain::Mutex;

pub(super) fn eventfd() -> c_int {
    // SAFETY: plain system call.
    unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) }
}

pub(super) fn drain_fd(fd: c_int) {
    let mut v = 0u64;
    // SAFETY: reading 8 bytes into a u64 from our own non-blocking eventfd.
    unsafe { libc::read(fd, &mut v as *mut u64 as *mut c_void, 8) };
}

/// Waits on fds for up to `ns` nanoseconds.
/// Returns whether an fd became ready (false: the timeout, or an error).
pub(super) fn poll_fds(fds: &mut [libc::pollfd], ns: u64) -> bool {
    let ts = libc::timespec { tv_sec: (ns / 1_000_000_000) as _, tv_nsec: (ns % 1_000_000_000) as _ };
    // SAFETY: valid pollfd array and timespec; no signal mask change.
    unsafe { libc::ppoll(fds.as_mut_ptr(), fds.len() as _, &ts, std::ptr::null()) > 0 }
}

/// An application thread's own eventfd, for direct waiting (v3): taken on
/// the thread's first wait, given back when the thread exits. Never closed
/// in the process that made it: a registration may still be pending in the
/// runtime, and a closed number could be reused by the program for a file the
/// runtime would then write 8 bytes into. A later thread reuses it (a stale
/// signal only makes its first wait return early), so there are about as many
/// as threads that waited at once. A forked child shares the file
/// descriptions with its parent, so each fd is tagged with the fork
/// generation it was made in ([`FORK_EPOCH`]); the child closes the older
/// ones (its runtime has no registration on them) and makes its own.
pub(super) struct ThreadEventFd(pub(super) Cell<(c_int, u32)>);

pub(super) static SPARE_FDS: Mutex<Vec<c_int>> = Mutex::new(Vec::new());

/// Incremented in each forked child.
pub(super) static FORK_EPOCH: AtomicU32 = AtomicU32::new(0);

pub(super) fn close_fd(fd: c_int) {
    if fd >= 0 {
        // SAFETY: an fd of ours that nothing uses any more.
        unsafe { libc::close(fd) };
    }
}

impl ThreadEventFd {
    /// This thread's fd, made (or taken from the spares) on first use and
    /// again after a fork.
    pub(super) fn get(&self) -> c_int {
        let epoch = FORK_EPOCH.load(Ordering::Acquire);
        let (fd, made) = self.0.get();
        if fd >= 0 && made == epoch {
            return fd;
        }
        if made != epoch {
            close_fd(fd);
        }
        // try_lock: the list is only ever held for a push or a pop.
        let fd = SPARE_FDS.try_lock().and_then(|mut v| v.pop()).unwrap_or_else(eventfd);
        self.0.set((fd, epoch));
        fd
    }
}

impl Drop for ThreadEventFd {
    fn drop(&mut self) {
        let (fd, made) = self.0.get();
        if let (true, true, Some(mut spare)) =
            (fd >= 0, made == FORK_EPOCH.load(Ordering::Acquire), SPARE_FDS.try_lock())
        {
            spare.push(fd);
        }
    }
}

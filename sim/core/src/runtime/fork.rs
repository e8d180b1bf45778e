//! The pthread_atfork handlers: a forked child starts with no session.

use super::events::NOTIFY_FDS;
use super::session::{Phase, FORKED_CHILD, PHASE};
use crate::raw;
use crate::sync::MutexGuard;
use std::cell::RefCell;
use std::sync::atomic::Ordering;

/// The simulator's global locks, held by the forking thread from `fork_prepare`
/// to `fork_parent` / `fork_child` (the three run on that thread).
struct ForkHeld {
    phase: MutexGuard<'static, Phase>,
    fds: MutexGuard<'static, Vec<i32>>,
}

thread_local! {
    static FORK_HELD: RefCell<Option<ForkHeld>> = const { RefCell::new(None) };
}

/// pthread_atfork prepare: takes the global locks in their fixed order (PHASE,
/// NOTIFY_FDS), so the child never inherits one held by a thread it lacks.
/// Waits at most for a short critical section: no thread waits for anything
/// while holding either lock.
pub fn fork_prepare() {
    let _ = FORK_HELD.try_with(|h| {
        let phase = PHASE.lock();
        let fds = NOTIFY_FDS.lock();
        *h.borrow_mut() = Some(ForkHeld { phase, fds });
    });
}

/// pthread_atfork parent: releases the locks; the parent's session goes on.
pub fn fork_parent() {
    let _ = FORK_HELD.try_with(|h| drop(h.borrow_mut().take()));
}

/// pthread_atfork child: releases the locks and resets the simulator to a fresh,
/// uninitialised state. The parent's session, if any, is forgotten without being
/// touched: its workers do not exist here, and its own locks may be held by
/// threads that do not either (its memory is leaked: copy-on-write pages of the
/// parent). So nothing waits for its queued work, its report is not written at
/// exit, and its private eventfd copies are closed. A new nrt_init starts afresh.
pub fn fork_child() {
    let Ok(Some(held)) = FORK_HELD.try_with(|h| h.borrow_mut().take()) else { return };
    let ForkHeld { mut phase, mut fds } = held;
    FORKED_CHILD.store(true, Ordering::Relaxed);
    let old = std::mem::replace(&mut *phase, Phase::Uninit);
    let had_session = matches!(old, Phase::Running(_) | Phase::Closing);
    std::mem::forget(old);
    for fd in fds.drain(..) {
        raw::close_fd(fd);
    }
    drop(fds);
    drop(phase);
    if had_session {
        log::debug!("forked child: the parent's session is not inherited; call nrt_init to use the runtime");
    }
}

//! nrt_init, nrt_close, and the process hooks: the constructor that hides the
//! legacy variable, atexit, and fork.

use std::cell::RefCell;
use std::ffi::{c_char, CStr};
use std::sync::Once;

use crate::sync::plain::{Mutex, MutexGuard};
use nrt_sys::*;

use super::{EXIT_TIMEOUT, SHIM};
use crate::config::{Mode, LEGACY_INFLIGHT_VAR};
use crate::ffi::export;
use crate::observe::ObserveHeld;
use crate::scheduler::ForkHeld;

/// The legacy variable's value, taken out of the environment.
static LEGACY: Mutex<Option<String>> = Mutex::new(None);

/// Reads and removes the legacy variable. The environment is touched only
/// here: from the constructor, and again at the top of nrt_init (the runtime's
/// own constructor may have run first when the program links it directly).
fn hide_legacy_variable() {
    // SAFETY: getenv/unsetenv with a static name; done in the constructor
    // (single-threaded) and at nrt_init, never from the shim's threads.
    unsafe {
        let name = c"NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS";
        let v = libc::getenv(name.as_ptr());
        if !v.is_null() {
            let value = CStr::from_ptr(v).to_string_lossy().into_owned();
            libc::unsetenv(name.as_ptr());
            *LEGACY.lock() = Some(value);
        }
    }
}

/// The constructor: it reads and removes one environment variable, and warns
/// (one write(2)) if the program's calls bypass the shim. Nothing else: no
/// threads, no std I/O, no logger, no runtime calls.
#[cfg(not(test))]
#[ctor::ctor]
fn constructor() {
    hide_legacy_variable();
    crate::backend::resolve::warn_if_bypassed();
}

/// The legacy value the constructor (or nrt_init) took, if any; read again
/// first, as nrt_init does (the shim is set up by the first export called,
/// usually nrt_init, before its body runs).
pub fn take_legacy_variable() -> Option<String> {
    hide_legacy_variable();
    LEGACY.lock().clone()
}

extern "C" fn at_exit() {
    if let Some(Some(s)) = SHIM.get() {
        s.engine.shutdown_at_exit(EXIT_TIMEOUT);
        super::write_reports(true);
    }
}

thread_local! {
    /// What the prepare handler locked, until the parent's or the child's
    /// handler (the three run on the forking thread).
    static FORK_HELD: RefCell<Option<ProcessHeld>> = const { RefCell::new(None) };
}

/// The legacy value's lock (nrt_init takes it), the engine's, the observer's.
type ProcessHeld = (MutexGuard<'static, Option<String>>, ForkHeld, Option<ObserveHeld>);

extern "C" fn before_fork() {
    if let Some(Some(s)) = SHIM.get() {
        let held = (LEGACY.lock(), s.engine.before_fork(), crate::observe::before_fork());
        let _ = FORK_HELD.try_with(|h| *h.borrow_mut() = Some(held));
    }
}

fn after_fork(child: bool) {
    if let (Some(Some(s)), Ok(Some((legacy, engine, observe)))) =
        (SHIM.get(), FORK_HELD.try_with(|h| h.borrow_mut().take()))
    {
        drop((legacy, observe));
        s.engine.after_fork(engine, child);
    }
}

extern "C" fn after_fork_parent() {
    after_fork(false);
}

extern "C" fn after_fork_child() {
    after_fork(true);
}

/// fork handlers, registered once when the shim is set up.
pub fn register_process_hooks() {
    static FORK: Once = Once::new();
    FORK.call_once(|| {
        // SAFETY: registering plain extern "C" handlers.
        unsafe { libc::pthread_atfork(Some(before_fork), Some(after_fork_parent), Some(after_fork_child)) };
    });
}

export! {
    /// Hides the legacy variable again, then initialises the runtime.
    fn nrt_init(framework: nrt_framework_type_t, fw_version: *const c_char, fal_version: *const c_char) -> NRT_STATUS
    |s, real| {
        hide_legacy_variable();
        let st = real();
        if st != NRT_SUCCESS || s.mode == Mode::Passthrough {
            return Ok(st);
        }
        let n = match s.rt.total_vnc_count() {
            Ok(n) if n > 0 => n,
            _ => {
                log::warn!("nrt_get_total_vnc_count failed; assuming 1 core");
                1
            }
        };
        s.engine.opened(n);
        // Registered after the runtime's init, so it runs before the
        // runtime's own exit handlers, while the runtime still works.
        static AT_EXIT: Once = Once::new();
        // SAFETY: registering a plain extern "C" handler.
        AT_EXIT.call_once(|| unsafe {
            libc::atexit(at_exit);
        });
        if LEGACY.lock().is_some() {
            log::info!("{LEGACY_INFLIGHT_VAR} is handled by the shim; the runtime runs in explicit-async mode");
        }
        Ok(NRT_SUCCESS)
    }
}

export! {
    /// Drains all work, stops the shim's thread, then closes the runtime.
    fn nrt_close() |s, real| {
        if s.mode != Mode::Passthrough {
            s.engine.close();
        }
        real();
        super::write_reports(false)
    }
}

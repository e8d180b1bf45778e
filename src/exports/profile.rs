//! Profiling brackets: the runtime profiles only synchronous executions
//! (nrta_execute_schedule has no profiling hook), so while a model is
//! profiled its executions take the synchronous path, in their turn; the
//! profile is written only once every pending request completed.

use std::ffi::{c_char, CStr};

use nrt_sys::*;

use crate::ffi::export;

/// A C string argument, if given.
fn c_str<'a>(p: *const c_char) -> Option<&'a CStr> {
    // SAFETY: a NUL-terminated string from the caller, as the call requires.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) })
}

export! {
    /// The model's executions run synchronously from now on.
    fn nrt_profile_start(model: *mut nrt_model_t, filename: *const c_char) -> NRT_STATUS
    [passthrough] |s, real| {
        // Bad input is the runtime's to judge: nothing changes then.
        if model.is_null() || filename.is_null() {
            return Ok(real());
        }
        s.engine.profile_starting(model as usize, c_str(filename));
        let st = real();
        if st != NRT_SUCCESS {
            s.engine.profile_start_failed(model as usize);
        } else if s.engine.is_open() {
            log::info!(
                "nrt_profile_start: model {:#x} is profiled; its executions run synchronously until nrt_profile_stop",
                model as usize
            );
        }
        Ok(st)
    }
}

export! {
    /// Every pending request completes before the profile is written.
    fn nrt_profile_stop(filename: *const c_char) -> NRT_STATUS [passthrough] |s, real| {
        s.engine.drain_everything("profile-stop");
        let st = real();
        s.engine.profile_stopped(c_str(filename));
        Ok(st)
    }
}

//! Tensor sets: the runtime cannot list a set's members, so the shim records
//! every add; requests run on the shim's own copies (see scheduler/mirrors.rs).

use std::ffi::{c_char, CStr};

use nrt_sys::*;

use crate::config::Mode;
use crate::ffi::export;

export! {
    fn nrt_allocate_tensor_set(result: *mut *mut nrt_tensor_set_t) -> NRT_STATUS |s, real| {
        let st = real();
        // SAFETY: the runtime succeeded, so result is a valid out-pointer it filled.
        if st == NRT_SUCCESS && s.mode != Mode::Passthrough && !unsafe { *result }.is_null() {
            // SAFETY: as above.
            s.engine.set_allocated(unsafe { *result } as usize);
        }
        Ok(st)
    }
}

export! {
    /// The application's set may go at once: pending requests use the shim's copies.
    fn nrt_destroy_tensor_set(tensor_set: *mut *mut nrt_tensor_set_t) |s, real| {
        // SAFETY: checked for NULL before reading.
        if s.mode != Mode::Passthrough && !tensor_set.is_null() && !unsafe { *tensor_set }.is_null() {
            // SAFETY: as above.
            s.engine.set_destroyed(unsafe { *tensor_set } as usize);
        }
        real()
    }
}

export! {
    fn nrt_add_tensor_to_tensor_set(tensor_set: *mut nrt_tensor_set_t, tensor_name: *const c_char, tensor: *mut nrt_tensor_t) -> NRT_STATUS
    |s, real| {
        // The runtime's order: state, NULL arguments, then the handles, which
        // must be the shim's: a tensor the program freed may still be the
        // runtime's while its free is deferred.
        if s.mode != Mode::Passthrough && s.engine.is_open() && !tensor_set.is_null() && !tensor_name.is_null() && !tensor.is_null() {
            s.engine.set_record(tensor_set as usize)?;
            s.engine.tensor(tensor as usize)?;
        }
        let st = real();
        if st == NRT_SUCCESS && s.mode != Mode::Passthrough && !tensor_name.is_null() {
            // SAFETY: the runtime accepted it as a NUL-terminated name.
            let name = unsafe { CStr::from_ptr(tensor_name) }.to_bytes();
            s.engine.set_member_added(tensor_set as usize, name, tensor as usize);
        }
        Ok(st)
    }
}

//! The shim's own C interface (include/nrt_async_shim.h). Weak-symbol
//! friendly: a program declares them weak and calls them only when present.

use std::ffi::{c_char, CStr};

use super::shim;
use crate::ffi::boundary;
use crate::scheduler::{NRT_FAILURE, NRT_INVALID, NRT_SUCCESS};

static VERSION: &CStr = match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
    Ok(v) => v,
    Err(_) => panic!("version string"),
};

/// The shim's version, "MAJOR.MINOR.PATCH" (a static string).
#[cfg_attr(not(test), no_mangle)]
pub extern "C" fn nrt_async_shim_version() -> *const c_char {
    VERSION.as_ptr()
}

/// Waits until every request accepted so far has completed. NRT_STATUS.
#[cfg_attr(not(test), no_mangle)]
pub extern "C" fn nrt_async_shim_wait_all() -> u32 {
    boundary("nrt_async_shim_wait_all", || match shim() {
        Some(s) if s.engine.is_open() => {
            s.engine.wait_all(None);
            NRT_SUCCESS
        }
        Some(_) => NRT_SUCCESS,
        None => NRT_FAILURE,
    })
}

/// Writes the shim's counters as JSON (NUL-terminated) into `buf` of `len`
/// bytes; `*needed` (if not NULL) gets the size required, NUL included.
/// NRT_INVALID when the buffer is too small or NULL.
///
/// # Safety
/// `buf` must point to `len` writable bytes (or be NULL), `needed` to a
/// writable size_t (or be NULL).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn nrt_async_shim_stats_json(buf: *mut c_char, len: usize, needed: *mut usize) -> u32 {
    boundary("nrt_async_shim_stats_json", || {
        let json = crate::observe::COUNTERS.to_json();
        let n = json.len() + 1;
        if !needed.is_null() {
            // SAFETY: caller's out-pointer.
            unsafe { *needed = n };
        }
        if buf.is_null() || len < n {
            return NRT_INVALID;
        }
        // SAFETY: len >= n bytes at buf.
        unsafe {
            std::ptr::copy_nonoverlapping(json.as_ptr(), buf as *mut u8, json.len());
            *buf.add(json.len()) = 0;
        }
        NRT_SUCCESS
    })
}

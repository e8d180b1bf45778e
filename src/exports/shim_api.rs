//! The shim's own C interface (include/nrt_async_shim.h). Weak-symbol
//! friendly: a program declares them weak and calls them only when present.

use std::ffi::{c_char, CStr};

use super::shim;
use crate::ffi::boundary;
use crate::observe::CallStat;
use crate::status::{NRT_FAILURE, NRT_INVALID, NRT_SUCCESS};

static VERSION: &CStr = match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
    Ok(v) => v,
    Err(_) => panic!("version string"),
};

/// The shim's version, "MAJOR.MINOR.PATCH" (a static string).
#[no_mangle]
pub extern "C" fn nrt_async_shim_version() -> *const c_char {
    VERSION.as_ptr()
}

/// Waits until every request accepted so far has completed; returns an
/// NRT_STATUS (NRT_FAILURE when no runtime was found).
#[no_mangle]
pub extern "C" fn nrt_async_shim_wait_all() -> u32 {
    static STAT: CallStat = CallStat::new("nrt_async_shim_wait_all");
    boundary(&STAT, crate::ffi::call_site!(), || match shim() {
        Some(s) if s.engine.is_open() => {
            s.engine.wait_all(None, "nrt_async_shim_wait_all");
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
#[no_mangle]
pub unsafe extern "C" fn nrt_async_shim_stats_json(buf: *mut c_char, len: usize, needed: *mut usize) -> u32 {
    static STAT: CallStat = CallStat::new("nrt_async_shim_stats_json");
    boundary(&STAT, crate::ffi::call_site!(), || {
        let json = crate::observe::COUNTERS.to_json();
        let n = json.len() + 1;
        if !needed.is_null() {
            // SAFETY: caller's out-pointer.
            unsafe { *needed = n };
        }
        if buf.is_null() || len < n {
            // A size query (no buffer, `needed` given) is not a mistake.
            if buf.is_null() && !needed.is_null() {
                return NRT_INVALID;
            }
            return crate::observe::reject(
                NRT_INVALID,
                format_args!("a buffer of {len} bytes is too small: {n} needed"),
            );
        }
        // SAFETY: len >= n bytes at buf.
        unsafe {
            std::ptr::copy_nonoverlapping(json.as_ptr(), buf as *mut u8, json.len());
            *buf.add(json.len()) = 0;
        }
        NRT_SUCCESS
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_header_is_current() {
        let generated = std::fs::read_to_string(env!("NRT_SHIM_GENERATED_HEADER")).unwrap();
        let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/nrt_async_shim.h"))
            .unwrap_or_default();
        assert!(
            generated == committed,
            "include/nrt_async_shim.h is stale: cp {} include/nrt_async_shim.h",
            env!("NRT_SHIM_GENERATED_HEADER")
        );
    }

    #[test]
    fn version_and_stats() {
        // SAFETY: a static NUL-terminated string.
        let v = unsafe { std::ffi::CStr::from_ptr(super::nrt_async_shim_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
        let mut needed = 0usize;
        // SAFETY: a size query: no buffer, a valid out-pointer.
        let st = unsafe { super::nrt_async_shim_stats_json(std::ptr::null_mut(), 0, &mut needed) };
        assert_eq!(st, crate::status::NRT_INVALID);
        let mut buf = vec![0 as std::ffi::c_char; needed];
        // SAFETY: buf has buf.len() writable bytes.
        let st = unsafe { super::nrt_async_shim_stats_json(buf.as_mut_ptr(), buf.len(), &mut needed) };
        assert_eq!(st, 0);
        // SAFETY: the call succeeded, so buf holds a NUL-terminated string.
        let s = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap();
        assert!(s.starts_with('{') && s.contains("executions"));
    }
}

//! The C edge: the panic boundary (`guard`), the export macro and the argument
//! helpers. The exports common to both async generations (the synchronous API,
//! the implicit-async leftovers, nrta_is_completed and nrta_cc_prepare) are in
//! the submodules, one per area of the API.

use crate::runtime::{Res, NRT_INVALID, NRT_SUCCESS};
use nrt_common::FfiDefault;
use nrt_sys::*;
use std::ffi::{c_char, c_void, CStr};

/// Runs an export's body; a panic becomes the type's failure value and one log line.
pub fn guard<R: FfiDefault>(name: &str, f: impl FnOnce() -> R) -> R {
    match nrt_common::catch_panic(f) {
        Ok(r) => r,
        Err(msg) => {
            crate::logging::init();
            log::error!("{name}: internal error (panic: {msg}); returning failure");
            R::failure()
        }
    }
}

/// `guard` for a body written as `Res<()>`: its status, NRT_FAILURE on a panic.
pub fn guard_status(name: &str, f: impl FnOnce() -> Res<()>) -> NRT_STATUS {
    guard(name, || status(f()))
}

/// Defines a `#[no_mangle] extern "C"` export whose body runs under `guard`, and
/// checks its signature at compile time against the nrt-sys declaration of the
/// same name in the given module (`nrt_sys` or `nrt_sys::v2`).
///
/// While hazard call sites are on (`site::enabled`), the export first records
/// the return address of its call (a few loads, see `nrt_common::site`).
///
/// Declared `-> Res<()>`, the C function returns `NRT_STATUS` and the body is
/// the logic only: it returns `Ok(())` for NRT_SUCCESS or `Err(status)`, so it
/// can use `?` (a panic returns NRT_FAILURE, as for any status export).
#[macro_export]
macro_rules! export {
    ($($sys:ident)::+ ; fn $name:ident ( $($arg:ident : $ty:ty),* $(,)? ) -> Res<()> $body:block) => {
        const _: unsafe extern "C" fn($($ty),*) -> $crate::nrt_sys::NRT_STATUS = $($sys)::+ :: $name;
        #[no_mangle]
        #[allow(clippy::missing_safety_doc)]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> $crate::nrt_sys::NRT_STATUS {
            if $crate::site::enabled() {
                $crate::site::enter($crate::site::capture_here!());
            }
            $crate::ffi::guard_status(stringify!($name), move || -> $crate::runtime::Res<()> { $body })
        }
    };
    ($($sys:ident)::+ ; fn $name:ident ( $($arg:ident : $ty:ty),* $(,)? ) $(-> $ret:ty)? $body:block) => {
        const _: unsafe extern "C" fn($($ty),*) $(-> $ret)? = $($sys)::+ :: $name;
        #[no_mangle]
        #[allow(clippy::missing_safety_doc)]
        pub unsafe extern "C" fn $name($($arg: $ty),*) $(-> $ret)? {
            if $crate::site::enabled() {
                $crate::site::enter($crate::site::capture_here!());
            }
            $crate::ffi::guard(stringify!($name), move || $body)
        }
    };
}

/// Maps a result to the status returned to C.
pub fn status(r: Res<()>) -> NRT_STATUS {
    match r {
        Ok(()) => NRT_SUCCESS,
        Err(s) => s,
    }
}

/// NRT_INVALID (logged) if any named pointer is NULL.
pub fn nonnull(call: &str, args: &[(&str, bool)]) -> Res<()> {
    for (name, is_null) in args {
        if *is_null {
            return Err(crate::reject!(NRT_INVALID, "{call}: argument '{name}' is NULL"));
        }
    }
    Ok(())
}

/// A C string argument (lossy UTF-8).
///
/// # Safety
/// `p` must be NULL or a valid NUL-terminated string.
pub unsafe fn cstr(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: p is non-NULL and, by this function's contract, NUL-terminated.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

/// Stores `v` through an out-pointer that was checked non-NULL.
///
/// # Safety
/// `p` must be valid for writes.
pub unsafe fn put<T>(p: *mut T, v: T) {
    // SAFETY: the caller guarantees p is valid for writes.
    unsafe { p.write(v) }
}

pub fn free_tensor_info_block(p: usize) {
    // SAFETY: p came from libc::malloc in nrt_get_model_tensor_info.
    unsafe { libc::free(p as *mut c_void) }
}

// After the macro: the exports use it.
pub mod escapes;
pub mod exec;
pub mod lifecycle;
pub mod models;
pub mod profile;
pub mod sendrecv;
pub mod tensors;

//! The C edge: the panic boundary (`guard`), the export macro and the argument
//! helpers. The exports common to both async generations (the synchronous API,
//! the implicit-async leftovers, nrta_is_completed and nrta_cc_prepare) are in
//! the submodules, one per area of the API.

use crate::runtime::{Res, NRT_FAILURE, NRT_INVALID, NRT_SUCCESS};
use nrt_sys::*;
use std::ffi::{c_char, c_void, CStr};

/// The value a C caller gets when an export panics.
pub trait PanicValue {
    fn panic_value() -> Self;
}
impl PanicValue for u32 {
    fn panic_value() -> Self {
        NRT_FAILURE
    }
}
impl PanicValue for Res<()> {
    fn panic_value() -> Self {
        Err(NRT_FAILURE)
    }
}
impl PanicValue for usize {
    fn panic_value() -> Self {
        0
    }
}
impl PanicValue for () {
    fn panic_value() -> Self {}
}
impl<T> PanicValue for *mut T {
    fn panic_value() -> Self {
        std::ptr::null_mut()
    }
}
impl<T> PanicValue for *const T {
    fn panic_value() -> Self {
        std::ptr::null()
    }
}

/// Runs an export's body; a panic becomes the type's failure value and one log line.
pub fn guard<R: PanicValue>(name: &str, f: impl FnOnce() -> R) -> R {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(e) => {
            crate::logging::init();
            let msg = e
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| e.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            log::error!("{name}: internal error (panic: {msg}); returning failure");
            R::panic_value()
        }
    }
}

/// Defines a `#[no_mangle] extern "C"` export whose body runs under `guard`, and
/// checks its signature at compile time against the nrt-sys declaration of the
/// same name in the given module (`nrt_sys` or `nrt_sys::v2`).
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
            $crate::ffi::status($crate::ffi::guard(stringify!($name), move || -> $crate::runtime::Res<()> { $body }))
        }
    };
    ($($sys:ident)::+ ; fn $name:ident ( $($arg:ident : $ty:ty),* $(,)? ) $(-> $ret:ty)? $body:block) => {
        const _: unsafe extern "C" fn($($ty),*) $(-> $ret)? = $($sys)::+ :: $name;
        #[no_mangle]
        #[allow(clippy::missing_safety_doc)]
        pub unsafe extern "C" fn $name($($arg: $ty),*) $(-> $ret)? {
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
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// Stores `v` through an out-pointer that was checked non-NULL.
///
/// # Safety
/// `p` must be valid for writes.
pub unsafe fn put<T>(p: *mut T, v: T) {
    p.write(v)
}

pub fn free_tensor_info_block(p: usize) {
    // SAFETY: p came from libc::malloc in nrt_get_model_tensor_info.
    unsafe { libc::free(p as *mut c_void) }
}

// After the macro: the exports use it.
pub mod exec;
pub mod lifecycle;
pub mod models;
pub mod tensors;

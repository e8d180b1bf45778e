//! The FFI plumbing every export goes through: one panic boundary, the value
//! an export returns when it cannot do its work, and the export macro that
//! checks each signature against the bindgen declaration of the same name.

use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::observe::CallStat;

use crate::status::NRT_FAILURE;

/// What an export returns after a panic or without a runtime to call.
pub trait FfiDefault {
    fn failure() -> Self;
}

impl FfiDefault for u32 {
    fn failure() -> u32 {
        NRT_FAILURE
    }
}

/// A size (nrt_tensor_get_size): 0, as the runtime answers a bad handle.
impl FfiDefault for usize {
    fn failure() -> usize {
        0
    }
}

impl FfiDefault for () {
    fn failure() {}
}

impl FfiDefault for *mut c_void {
    fn failure() -> Self {
        std::ptr::null_mut()
    }
}

impl FfiDefault for *const c_char {
    fn failure() -> Self {
        std::ptr::null()
    }
}

/// Runs an export's body; a panic becomes the failure value and one log
/// line, never an unwind into C (which would abort the process).
pub fn boundary<R: FfiDefault>(stat: &'static CallStat, body: impl FnOnce() -> R) -> R {
    let name = stat.name;
    let outer = crate::observe::enter_call(name);
    let observer = crate::observe::get();
    let t0 = observer.map(|o| o.begin());
    let body = || {
        if crate::config::TEST_PANIC.as_deref() == Some(name) {
            panic!("NRT_SHIM_TEST_PANIC={name}");
        }
        body()
    };
    let result = catch_unwind(AssertUnwindSafe(body));
    crate::observe::leave_call(outer);
    if let (Some(o), Some(t0)) = (observer, t0) {
        o.end(stat, t0);
    }
    match result {
        Ok(r) => r,
        Err(e) => {
            let what = e
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| e.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            log::error!("{name}: internal error ({what}); returning NRT_FAILURE");
            R::failure()
        }
    }
}

/// Declares an exported runtime function. The first line of the expansion
/// fails to compile if the signature differs from the header's (through the
/// bindgen declaration in nrt-sys); the body runs inside [`boundary`].
macro_rules! export {
    ($(#[doc = $d:expr])* fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        const _: unsafe extern "C" fn($($ty),*) $(-> $ret)? = nrt_sys::$name;
        $(#[doc = $d])*
        #[cfg_attr(not(test), no_mangle)]
        pub unsafe extern "C" fn $name($($arg: $ty),*) $(-> $ret)? {
            static STAT: $crate::observe::CallStat = $crate::observe::CallStat::new(stringify!($name));
            $crate::ffi::boundary(&STAT, move || $body)
        }
    };
}
pub(crate) use export;

/// Calls the runtime's own function, or fails with a log line if it has none.
macro_rules! real {
    ($shim:expr, $name:ident($($a:expr),* $(,)?)) => {
        match $shim.rt.$name {
            // SAFETY: the runtime's function, with the arguments the caller gave.
            Some(f) => unsafe { f($($a),*) },
            None => {
                log::error!(concat!("the runtime has no ", stringify!($name)));
                $crate::ffi::FfiDefault::failure()
            }
        }
    };
}
pub(crate) use real;

#[cfg(test)]
mod tests {
    use super::*;

    static T: CallStat = CallStat::new("t");

    #[test]
    fn a_panic_becomes_the_failure_value() {
        let st: u32 = boundary(&T, || panic!("boom"));
        assert_eq!(st, NRT_FAILURE);
        let p: *mut c_void = boundary(&T, || -> *mut c_void { panic!("boom") });
        assert!(p.is_null());
        assert_eq!(boundary(&T, || 7u32), 7);
    }
}

//! The panic boundary of an export: a panic must never unwind into C (that
//! aborts the process); it becomes the export's failure value and one log
//! line, written by the caller in its own words.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// What an export returns after a panic (or when it cannot do its work).
pub trait FfiDefault {
    fn failure() -> Self;
}

/// An `NRT_STATUS`: NRT_FAILURE.
impl FfiDefault for u32 {
    fn failure() -> u32 {
        nrt_sys::NRT_FAILURE
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

impl<T> FfiDefault for *mut T {
    fn failure() -> Self {
        std::ptr::null_mut()
    }
}

impl<T> FfiDefault for *const T {
    fn failure() -> Self {
        std::ptr::null()
    }
}

/// Runs `body`; a panic becomes `Err` with its message (empty when the
/// payload is not a string). The caller logs it and returns
/// [`FfiDefault::failure`].
#[inline]
pub fn catch_panic<R>(body: impl FnOnce() -> R) -> Result<R, String> {
    catch_unwind(AssertUnwindSafe(body)).map_err(|e| {
        e.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| e.downcast_ref::<String>().cloned())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message() {
        assert_eq!(catch_panic(|| 7), Ok(7));
        assert_eq!(catch_panic(|| -> u32 { panic!("boom") }), Err("boom".to_string()));
        let n = 3;
        assert_eq!(catch_panic(|| -> u32 { panic!("boom {n}") }), Err("boom 3".to_string()));
        assert_eq!(catch_panic(|| -> u32 { std::panic::panic_any(5u8) }), Err(String::new()));
    }

    #[test]
    fn failure_values_are_what_c_callers_expect() {
        assert_eq!(<u32 as FfiDefault>::failure(), nrt_sys::NRT_FAILURE);
        assert_eq!(<usize as FfiDefault>::failure(), 0);
        assert!(<*mut u8 as FfiDefault>::failure().is_null());
        assert!(<*const i8 as FfiDefault>::failure().is_null());
    }
}

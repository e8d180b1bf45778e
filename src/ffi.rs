//! The FFI plumbing every export goes through: one panic boundary, the value
//! an export returns when it cannot do its work, and the export macro that
//! checks each signature against the bindgen declaration of the same name.

use crate::observe::CallStat;

/// What an export returns after a panic or without a runtime to call.
pub use nrt_common::FfiDefault;

/// Runs an export's body; a panic becomes the failure value and one log
/// line, never an unwind into C (which would abort the process). `site`: the
/// program's call site of the export (for the stats; 0 when they are off).
pub fn boundary<R: FfiDefault>(stat: &'static CallStat, site: usize, body: impl FnOnce() -> R) -> R {
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
    let result = nrt_common::catch_panic(body);
    crate::observe::leave_call(outer);
    if let (Some(o), Some(t0)) = (observer, t0) {
        o.end(stat, t0, site);
    }
    match result {
        Ok(r) => r,
        Err(what) => {
            log::error!("{name}: internal error ({what}); returning NRT_FAILURE");
            R::failure()
        }
    }
}

/// In an export: the return address into the program, for the stats only
/// (a few loads once calibrated, see `nrt_common::site`; 0 with stats off).
macro_rules! call_site {
    () => {
        if $crate::observe::get().is_some() {
            ::nrt_common::site::capture_here!()
        } else {
            0
        }
    };
}
pub(crate) use call_site;

/// A status body's result as the status it returns (both sides as they are).
#[inline(always)]
pub fn flatten(body: impl FnOnce() -> Result<u32, u32>) -> u32 {
    match body() {
        Ok(st) | Err(st) => st,
    }
}

/// Declares one exported runtime function, in one place:
///
/// ```ignore
/// export! {
///     /// What the shim does differently.
///     fn nrt_tensor_read(tensor: *const nrt_tensor_t, buf: *mut c_void, offset: usize, size: usize) -> NRT_STATUS
///     [passthrough] |s, real| {
///         // s: the shim; real(): the runtime's own nrt_tensor_read with these arguments
///         Ok(real())
///     }
/// }
/// ```
///
/// The expansion checks the signature against the bindgen declaration of the
/// same name (a mismatch does not compile), checks that the name is in the
/// generated list of exports (build.rs), and runs the body inside
/// [`boundary`] after the prologue: the shim, or the not-initialised value
/// ([`FfiDefault`]) without one. `real` calls the runtime's function of the
/// same name, resolved on first use next to the declaration (`name::original`).
/// `[passthrough]`: in passthrough mode the call goes straight to `real`.
///
/// `slots(v3 = fn(..); v2 = fn(..);)` after the return type: for the `nrta_*`
/// calls whose arguments differ between the two generations (one symbol,
/// two ABIs; the runtime's generation is known only at run time). Each
/// generation's signature is checked against its bindgen declaration, and the
/// export takes one 8-byte integer or pointer slot per argument of the longer
/// one: on x86_64 and aarch64 every such argument travels in one register or
/// stack slot whatever its C width, so the slots receive either generation's
/// arguments exactly (the body reads them as the runtime's generation says,
/// truncating a 32-bit one), and `real` hands the same slots on unchanged. A
/// slot past the caller's last argument holds whatever the caller's frame
/// holds there; nothing reads it as that generation's argument.
/// A body of an export returning `NRT_STATUS` returns
/// `Result<NRT_STATUS, NRT_STATUS>` (both sides are returned as they are), so
/// it can use `?`; other bodies return the export's own type.
macro_rules! export {
    ($(#[doc = $d:expr])* fn $name:ident($($arg:ident : $ty:ty),* $(,)?) -> NRT_STATUS
     slots(v3 = $v3:ty; v2 = $v2:ty;)
     $([$($flag:ident),*])? |$s:ident, $real:ident| $body:block) => {
        // Both generations' signatures, as bindgen declares them; the export
        // itself takes one 8-byte integer slot per argument (see `slots` above).
        const _: $v3 = nrt_sys::$name;
        const _: $v2 = nrt_sys::v2::$name;
        $(const _: () = assert!(std::mem::size_of::<$ty>() == 8, concat!(stringify!($arg), " is not a full slot"));)*
        $crate::ffi::export!(@decl slots $(#[doc = $d])* $name ($($arg: $ty),*) (NRT_STATUS) [$($($flag),*)?] $s $real {
            $crate::ffi::flatten(|| $body)
        });
    };
    ($(#[doc = $d:expr])* fn $name:ident($($arg:ident : $ty:ty),* $(,)?) -> NRT_STATUS
     $([$($flag:ident),*])? |$s:ident, $real:ident| $body:block) => {
        $crate::ffi::export!(@decl checked $(#[doc = $d])* $name ($($arg: $ty),*) (NRT_STATUS) [$($($flag),*)?] $s $real {
            $crate::ffi::flatten(|| $body)
        });
    };
    ($(#[doc = $d:expr])* fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)?
     $([$($flag:ident),*])? |$s:ident, $real:ident| $body:block) => {
        $crate::ffi::export!(@decl checked $(#[doc = $d])* $name ($($arg: $ty),*) ($($ret)?) [$($($flag),*)?] $s $real $body);
    };
    (@check checked $name:ident ($($ty:ty),*) ($($ret:ty)?)) => {
        const _: unsafe extern "C" fn($($ty),*) $(-> $ret)? = nrt_sys::$name;
    };
    (@check slots $name:ident ($($ty:ty),*) ($($ret:ty)?)) => {};
    (@decl $check:ident $(#[doc = $d:expr])* $name:ident ($($arg:ident : $ty:ty),*) ($($ret:ty)?) [$($flag:ident),*] $s:ident $real:ident $body:block) => {
        $crate::ffi::export!(@check $check $name ($($ty),*) ($($ret)?));
        const _: () = assert!(
            $crate::exports::listed(stringify!($name)),
            concat!(stringify!($name), " is missing from the generated list of exports (build.rs)")
        );

        /// The runtime's own function of the export's name.
        pub mod $name {
            #[allow(unused_imports)]
            use super::*;

            pub type Original = unsafe extern "C" fn($($ty),*) $(-> $ret)?;

            static ORIGINAL: std::sync::OnceLock<Option<Original>> = std::sync::OnceLock::new();

            /// Resolved once, from where the runtime was found.
            #[inline]
            pub fn original(rt: &$crate::backend::Runtime) -> Option<Original> {
                *ORIGINAL.get_or_init(|| {
                    let p = rt.resolve(concat!(stringify!($name), "\0"))?;
                    // SAFETY: dlsym's pointer for the symbol of this name, whose
                    // type the header gives (checked above against nrt-sys).
                    Some(unsafe { std::mem::transmute::<*mut std::ffi::c_void, Original>(p) })
                })
            }
        }

        $(#[doc = $d])*
        #[cfg_attr(not(test), no_mangle)]
        pub unsafe extern "C" fn $name($($arg: $ty),*) $(-> $ret)? {
            static STAT: $crate::observe::CallStat = $crate::observe::CallStat::new(stringify!($name));
            static PLAN: $crate::observe::record::Plan = $crate::observe::record::plan(stringify!($name));
            #[allow(unused_imports)]
            use $crate::observe::record::Word as _;
            // NRT_SHIM_RECORD (off: one load); after the call, in every mode.
            let recording = $crate::observe::record::begin(&PLAN, &[$($arg.word()),*]);
            let result = $crate::ffi::boundary(&STAT, $crate::ffi::call_site!(), move || {
                let $s = match $crate::exports::get() {
                    Ok(s) => s,
                    Err(_) => return $crate::ffi::FfiDefault::failure(),
                };
                #[allow(unused_variables)]
                let $real = move || $(-> $ret)? {
                    match $name::original($s.rt) {
                        // SAFETY: the runtime's function, with the arguments the caller gave.
                        Some(f) => unsafe { f($($arg),*) },
                        None => {
                            log::error!(concat!("the runtime has no ", stringify!($name)));
                            $crate::ffi::FfiDefault::failure()
                        }
                    }
                };
                $($crate::ffi::export!(@flag $flag $s $real);)*
                $body
            });
            if let Some(r) = recording {
                r.end(&result);
            }
            result
        }
    };
    (@flag passthrough $s:ident $real:ident) => {
        if $s.mode == $crate::config::Mode::Passthrough {
            return $real();
        }
    };
}
pub(crate) use export;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::NRT_FAILURE;
    use std::ffi::c_void;

    static T: CallStat = CallStat::new("t");

    #[test]
    fn a_panic_becomes_the_failure_value() {
        let st: u32 = boundary(&T, 0, || panic!("boom"));
        assert_eq!(st, NRT_FAILURE);
        let p: *mut c_void = boundary(&T, 0, || -> *mut c_void { panic!("boom") });
        assert!(p.is_null());
        assert_eq!(boundary(&T, 0, || 7u32), 7);
    }
}

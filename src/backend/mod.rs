//! The backend: the real runtime's functions, and the [`Device`] the
//! scheduler drives, with the difference between the two `nrta_*`
//! generations hidden here (v2: error tracker and completion fd; v3: status
//! pointer and eventfd registration).

mod armed;
mod device;
mod fds;
pub mod resolve;
pub(crate) mod transfer;
mod versions;

pub use device::RealDevice;

use std::ffi::{c_int, c_void, CStr};

use nrt_sys::*;

use crate::config::AsyncAbi;
use crate::status::NRT_FAILURE;
use crate::tracker::Status;
use resolve::Resolver;

/// The runtime's functions the backend itself calls, resolved once. (An
/// export forwards to its own name, resolved next to its declaration: see
/// `export!`.) `checked`: types compared with the header's declaration at
/// compile time; `unchecked`: the `nrta_*` calls whose types differ between
/// the generations, typed here for both.
macro_rules! runtime_table {
    (
        checked { $( $name:ident : fn($($t:ty),*) $(-> $r:ty)? ; )* }
        unchecked { $( $(#[doc = $d:expr])* $uname:ident : $ut:ty ; )* }
    ) => {
        #[allow(non_snake_case)]
        pub struct Runtime {
            $( pub $name: Option<unsafe extern "C" fn($($t),*) $(-> $r)?>, )*
            $( $(#[doc = $d])* pub $uname: Option<$ut>, )*
            /// Where the functions come from (for logs and `nrt-shim doctor`).
            pub source: String,
            resolver: Resolver,
        }

        // The table's types are the headers' (checked at compile time).
        $( const _: unsafe extern "C" fn($($t),*) $(-> $r)? = nrt_sys::$name; )*

        impl Runtime {
            fn load(res: Resolver) -> Runtime {
                // SAFETY: each pointer comes from dlsym for the symbol of that
                // name, whose type the headers (checked above) give.
                unsafe {
                    Runtime {
                        $( $name: res.get(&cstr(concat!(stringify!($name), "\0"))).map(|p| std::mem::transmute::<*mut c_void, unsafe extern "C" fn($($t),*) $(-> $r)?>(p)), )*
                        $( $uname: res.get(&cstr(concat!(stringify!($uname), "\0"))).map(|p| std::mem::transmute::<*mut c_void, $ut>(p)), )*
                        source: res.source.clone(),
                        resolver: res,
                    }
                }
            }
        }
    };
}

fn cstr(s: &'static str) -> &'static CStr {
    CStr::from_bytes_with_nul(s.as_bytes()).expect("symbol names are NUL-terminated")
}

pub type ScheduleFn = unsafe extern "C" fn(
    *mut nrt_model_t,
    *mut nrt_tensor_set_t,
    *mut nrt_tensor_set_t,
    u32,
    *mut c_void,
    *mut nrta_seq_t,
) -> NRT_STATUS;

runtime_table! {
    checked {
        nrt_get_total_vnc_count: fn(*mut u32) -> NRT_STATUS;
        nrt_get_model_info: fn(*const nrt_model_t, *mut nrt_model_info_t, usize, *mut usize) -> NRT_STATUS;
        nrt_get_model_tensor_info: fn(*mut nrt_model_t, *mut *mut nrt_tensor_info_array_t) -> NRT_STATUS;
        nrt_free_model_tensor_info: fn(*mut nrt_tensor_info_array_t) -> NRT_STATUS;
        nrt_allocate_tensor_set: fn(*mut *mut nrt_tensor_set_t) -> NRT_STATUS;
        nrt_destroy_tensor_set: fn(*mut *mut nrt_tensor_set_t);
        nrt_add_tensor_to_tensor_set: fn(*mut nrt_tensor_set_t, *const std::ffi::c_char, *mut nrt_tensor_t) -> NRT_STATUS;
        nrt_tensor_free: fn(*mut *mut nrt_tensor_t);
        nrt_tensor_allocate: fn(nrt_tensor_placement_t, std::ffi::c_int, usize, *const std::ffi::c_char, *mut *mut nrt_tensor_t) -> NRT_STATUS;
        nrt_tensor_copy: fn(*const nrt_tensor_t, usize, *mut nrt_tensor_t, usize, usize) -> NRT_STATUS;
    }
    unchecked {
        /// Typed for both generations (the 5th pointer is an NRT_STATUS* in
        /// v3, an error tracker in v2).
        nrta_execute_schedule: ScheduleFn;
        nrta_is_completed: unsafe extern "C" fn(nrta_seq_t, *mut bool) -> NRT_STATUS;
        nrta_event_register_seq_id_completion: unsafe extern "C" fn(nrta_seq_t, c_int) -> NRT_STATUS;
        nrta_get_completion_handle: unsafe extern "C" fn(nrta_seq_t, *mut c_int) -> NRT_STATUS;
        nrta_error_tracker_create: unsafe extern "C" fn(u32, *mut *mut c_void) -> NRT_STATUS;
        nrta_error_tracker_get_list: unsafe extern "C" fn(*mut c_void, *mut *const nrta_error_t, *mut usize) -> NRT_STATUS;
        nrta_error_tracker_destroy: unsafe extern "C" fn(*mut c_void);
    }
}

/// Which `nrta_*` generation the runtime speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generation {
    V2,
    V3,
}

impl Runtime {
    pub fn find(configured: Option<&str>) -> Result<Runtime, String> {
        Resolver::find(configured).map(Runtime::load)
    }

    /// The runtime's function `name` (NUL-terminated), found where the
    /// others were (for an export's `original`).
    pub fn resolve(&self, name: &'static str) -> Option<*mut c_void> {
        self.resolver.get(cstr(name))
    }

    /// The number of cores the runtime reports (after nrt_init).
    pub fn total_vnc_count(&self) -> Result<u32, Status> {
        let Some(f) = self.nrt_get_total_vnc_count else {
            log::error!("the runtime has no nrt_get_total_vnc_count");
            return Err(NRT_FAILURE);
        };
        let mut n = 0u32;
        // SAFETY: the runtime's function, with a valid out-pointer.
        match unsafe { f(&mut n) } {
            NRT_SUCCESS => Ok(n),
            st => Err(st),
        }
    }

    /// The generation shows in the exports: only v2 has the error tracker.
    pub fn generation(&self, forced: AsyncAbi) -> Generation {
        match forced {
            AsyncAbi::V2 => Generation::V2,
            AsyncAbi::V3 => Generation::V3,
            AsyncAbi::Detect if self.nrta_error_tracker_create.is_some() => Generation::V2,
            AsyncAbi::Detect => Generation::V3,
        }
    }

    /// Whether the async path can run at all on this runtime.
    pub fn has_async_core(&self) -> bool {
        self.nrta_execute_schedule.is_some() && self.nrta_is_completed.is_some()
    }
}

/// How the completion thread learns that requests finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionSignal {
    /// v3: one eventfd of ours registered for every request.
    EventFd,
    /// v2: a pollable fd per awaited request.
    CompletionHandle,
    /// Neither: poll nrta_is_completed, spinning briefly, then backing off.
    Polling,
}

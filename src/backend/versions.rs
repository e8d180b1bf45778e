//! The runtime calls renaming needs (scheduler/rename.rs): a device tensor
//! the shim owns, for a spare version, and the synchronous copy that brings a
//! version home.

use std::ffi::c_char;

use nrt_sys::*;

use super::Runtime;
use crate::registry::Handle;
use crate::status::NRT_FAILURE;
use crate::tracker::Status;

/// The name the shim's spare versions carry in the runtime's logs.
const SPARE_NAME: &[u8] = b"nrt-shim-spare-version\0";

impl Runtime {
    /// nrt_tensor_allocate, DEVICE placement, on `core`.
    pub fn allocate_spare(&self, core: u32, size: u64) -> Result<Handle, Status> {
        let f = self.nrt_tensor_allocate.ok_or(NRT_FAILURE)?;
        let size = usize::try_from(size).map_err(|_| NRT_FAILURE)?;
        let mut t: *mut nrt_tensor_t = std::ptr::null_mut();
        // SAFETY: the runtime's function, a NUL-terminated name, a valid out-pointer.
        let st =
            unsafe { f(NRT_TENSOR_PLACEMENT_DEVICE, core as i32, size, SPARE_NAME.as_ptr() as *const c_char, &mut t) };
        match st {
            NRT_SUCCESS if !t.is_null() => Ok(t as Handle),
            NRT_SUCCESS => Err(NRT_FAILURE),
            st => Err(st),
        }
    }

    /// nrt_tensor_copy of `size` bytes, offset 0 on both sides.
    pub fn copy_whole(&self, src: Handle, dst: Handle, size: u64) -> Status {
        let Some(f) = self.nrt_tensor_copy else { return NRT_FAILURE };
        let Ok(size) = usize::try_from(size) else { return NRT_FAILURE };
        // SAFETY: two tensors the runtime issued, each at least `size` bytes;
        // nothing pending uses either (the caller waited).
        unsafe { f(src as *const _, 0, dst as *mut _, 0, size) }
    }
}

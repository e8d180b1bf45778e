//! The C edge: the export macro, argument helpers, and the exports common to
//! both async generations (the synchronous API, the implicit-async leftovers,
//! nrta_is_completed and nrta_cc_prepare).

use crate::raw::{Callback, Mem, UserBuf};
use crate::runtime::{self, rt, rt_async, Res, NRT_FAILURE, NRT_INVALID, NRT_SUCCESS};
use nrt_sys::*;
use std::ffi::{c_char, c_int, c_void, CStr};

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

fn set_version(ver: &mut nrt_version_t) {
    let cfg = crate::config::get();
    let (a, b, c, d) = cfg.runtime_version;
    ver.rt_major = a;
    ver.rt_minor = b;
    ver.rt_patch = c;
    ver.rt_maintenance = d;
    let detail = format!(
        "nrt-sim {} (behavioural simulator) behaving as Neuron SDK {}, async API v{}",
        env!("CARGO_PKG_VERSION"),
        cfg.runtime,
        runtime::generation()
    );
    for (i, b) in detail.bytes().take(ver.rt_detail.len() - 1).enumerate() {
        ver.rt_detail[i] = b as c_char;
    }
    for (i, b) in b"nrt-sim".iter().enumerate() {
        ver.git_hash[i] = *b as c_char;
    }
}

macro_rules! cs {
    ($s:literal) => {
        concat!($s, "\0").as_ptr() as *const c_char
    };
}

fn status_str(s: NRT_STATUS) -> *const c_char {
    match s {
        NRT_SUCCESS => cs!("NRT_SUCCESS"),
        NRT_FAILURE => cs!("NRT_FAILURE"),
        NRT_INVALID => cs!("NRT_INVALID"),
        NRT_INVALID_HANDLE => cs!("NRT_INVALID_HANDLE"),
        NRT_RESOURCE => cs!("NRT_RESOURCE"),
        NRT_TIMEOUT => cs!("NRT_TIMEOUT"),
        NRT_HW_ERROR => cs!("NRT_HW_ERROR"),
        NRT_QUEUE_FULL => cs!("NRT_QUEUE_FULL"),
        NRT_LOAD_NOT_ENOUGH_NC => cs!("NRT_LOAD_NOT_ENOUGH_NC"),
        NRT_UNSUPPORTED_NEFF_VERSION => cs!("NRT_UNSUPPORTED_NEFF_VERSION"),
        NRT_FAIL_HOST_MEM_ALLOC => cs!("NRT_FAIL_HOST_MEM_ALLOC"),
        NRT_UNINITIALIZED => cs!("NRT_UNINITIALIZED"),
        NRT_CLOSED => cs!("NRT_CLOSED"),
        NRT_QUEUE_EMPTY => cs!("NRT_QUEUE_EMPTY"),
        NRT_EXEC_UNIT_UNRECOVERABLE => cs!("NRT_EXEC_UNIT_UNRECOVERABLE"),
        NRT_EXEC_BAD_INPUT => cs!("NRT_EXEC_BAD_INPUT"),
        NRT_EXEC_COMPLETED_WITH_NUM_ERR => cs!("NRT_EXEC_COMPLETED_WITH_NUM_ERR"),
        NRT_EXEC_COMPLETED_WITH_ERR => cs!("NRT_EXEC_COMPLETED_WITH_ERR"),
        NRT_EXEC_NC_BUSY => cs!("NRT_EXEC_NC_BUSY"),
        NRT_EXEC_OOB => cs!("NRT_EXEC_OOB"),
        NRT_COLL_PENDING => cs!("NRT_COLL_PENDING"),
        NRT_EXEC_HW_ERR_COLLECTIVES => cs!("NRT_EXEC_HW_ERR_COLLECTIVES"),
        NRT_EXEC_HW_ERR_HBM_UE => cs!("NRT_EXEC_HW_ERR_HBM_UE"),
        NRT_EXEC_HW_ERR_NC_UE => cs!("NRT_EXEC_HW_ERR_NC_UE"),
        NRT_EXEC_HW_ERR_DMA_ABORT => cs!("NRT_EXEC_HW_ERR_DMA_ABORT"),
        NRT_EXEC_SW_NQ_OVERFLOW => cs!("NRT_EXEC_SW_NQ_OVERFLOW"),
        NRT_EXEC_HW_ERR_REPAIRABLE_HBM_UE => cs!("NRT_EXEC_HW_ERR_REPAIRABLE_HBM_UE"),
        NRT_NETWORK_PROXY_FAILURE => cs!("NRT_NETWORK_PROXY_FAILURE"),
        _ => cs!("NRT_UNKNOWN_STATUS"),
    }
}

// ======================================================================= lifecycle

export!(nrt_sys; fn nrt_get_status_as_str(status: NRT_STATUS) -> *const c_char {
    status_str(status)
});

export!(nrt_sys; fn nrt_get_version(ver: *mut nrt_version_t, size: usize) -> Res<()> {
    crate::logging::init();
    nonnull("nrt_get_version", &[("ver", ver.is_null())])?;
    let mut v = nrt_version_t::default();
    set_version(&mut v);
    let n = size.min(std::mem::size_of::<nrt_version_t>());
    std::ptr::copy_nonoverlapping(&v as *const nrt_version_t as *const u8, ver as *mut u8, n);
    Ok(())
});

export!(nrt_sys; fn nrt_init(framework: nrt_framework_type_t, fw_version: *const c_char, fal_version: *const c_char) -> NRT_STATUS {
    let _ = (framework, fw_version, fal_version);
    runtime::init()
});

export!(nrt_sys; fn nrt_close() {
    runtime::close()
});

unsafe fn vnc_count(call: &str, out: *mut u32) -> Res<()> {
    let r = rt(call)?;
    nonnull(call, &[("vnc_count", out.is_null())])?;
    put(out, r.cores());
    Ok(())
}

export!(nrt_sys; fn nrt_get_total_vnc_count(vnc_count: *mut u32) -> Res<()> {
    self::vnc_count("nrt_get_total_vnc_count", vnc_count)
});
export!(nrt_sys; fn nrt_get_visible_vnc_count(vnc_count: *mut u32) -> Res<()> {
    self::vnc_count("nrt_get_visible_vnc_count", vnc_count)
});
export!(nrt_sys; fn nrt_get_total_nc_count(nc_count: *mut u32) -> Res<()> {
    self::vnc_count("nrt_get_total_nc_count", nc_count)
});
export!(nrt_sys; fn nrt_get_visible_nc_count(nc_count: *mut u32) -> Res<()> {
    self::vnc_count("nrt_get_visible_nc_count", nc_count)
});

// ======================================================================= models

unsafe fn load(call: &str, neff: *const c_void, size: usize, vnc: i32, model: *mut *mut nrt_model_t) -> Res<()> {
    let r = rt(call)?;
    nonnull(call, &[("neff_bytes", neff.is_null() && size > 0), ("model", model.is_null())])?;
    let data: &[u8] = if size == 0 { &[] } else { std::slice::from_raw_parts(neff as *const u8, size) };
    let h = r.load(data, vnc)?;
    put(model, h as *mut nrt_model_t);
    Ok(())
}

export!(nrt_sys; fn nrt_load(neff_bytes: *const c_void, size: usize, vnc: i32, vnc_count: i32, model: *mut *mut nrt_model_t) -> Res<()> {
    let _ = vnc_count;
    load("nrt_load", neff_bytes, size, vnc, model)
});

export!(nrt_sys; fn nrt_load_collectives(neff_bytes: *const c_void, size: usize, vnc: i32, vnc_count: i32, ctx_device_id: u32, ctx_device_count: u32, model: *mut *mut nrt_model_t) -> Res<()> {
    let _ = (vnc_count, ctx_device_id, ctx_device_count);
    load("nrt_load_collectives", neff_bytes, size, vnc, model)
});

export!(nrt_sys; fn nrt_unload(model: *mut nrt_model_t) -> Res<()> {
    let r = rt("nrt_unload")?;
    nonnull("nrt_unload", &[("model", model.is_null())])?;
    r.unload(model as usize)
});

export!(nrt_sys; fn nrt_get_model_vnc_count(model: *const nrt_model_t, vnc_count: *mut u32) -> Res<()> {
    let call = "nrt_get_model_vnc_count";
    let r = rt(call)?;
    nonnull(call, &[("model", model.is_null()), ("vnc_count", vnc_count.is_null())])?;
    r.model_info(call, model as usize)?;
    put(vnc_count, 1);
    Ok(())
});

export!(nrt_sys; fn nrt_get_model_info(model: *const nrt_model_t, info: *mut nrt_model_info_t, size_in: usize, size_out: *mut usize) -> Res<()> {
    let call = "nrt_get_model_info";
    let r = rt(call)?;
    nonnull(call, &[("model", model.is_null()), ("info", info.is_null()), ("size_out", size_out.is_null())])?;
    let m = r.model_info(call, model as usize)?;
    let v = nrt_model_info_t { vnc: m.core };
    let n = size_in.min(std::mem::size_of::<nrt_model_info_t>());
    std::ptr::copy_nonoverlapping(&v as *const nrt_model_info_t as *const u8, info as *mut u8, n);
    put(size_out, std::mem::size_of::<nrt_model_info_t>());
    Ok(())
});

export!(nrt_sys; fn nrt_get_model_tensor_info(model: *mut nrt_model_t, tensor_info: *mut *mut nrt_tensor_info_array_t) -> Res<()> {
    let call = "nrt_get_model_tensor_info";
    let r = rt(call)?;
    nonnull(call, &[("model", model.is_null()), ("tensor_info", tensor_info.is_null())])?;
    let m = r.model_info(call, model as usize)?;
    let decls: Vec<_> = m.def.inputs.iter().map(|d| (d, NRT_TENSOR_USAGE_INPUT))
        .chain(m.def.outputs.iter().map(|d| (d, NRT_TENSOR_USAGE_OUTPUT))).collect();
    let n = decls.len();
    let isz = std::mem::size_of::<nrt_tensor_info_t>();
    let head = std::mem::size_of::<nrt_tensor_info_array_t>();
    let shapes_off = head + n * isz;
    let total = shapes_off + n * 4;
    let p = libc::calloc(1, total) as *mut u8;
    if p.is_null() {
        return Err(crate::reject!(NRT_FAIL_HOST_MEM_ALLOC, "{call}: out of memory"));
    }
    let arr = p as *mut nrt_tensor_info_array_t;
    (*arr).tensor_count = n as u64;
    let infos = p.add(head) as *mut nrt_tensor_info_t;
    let shapes = p.add(shapes_off) as *mut u32;
    for (i, (d, usage)) in decls.iter().enumerate() {
        let ti = &mut *infos.add(i);
        for (k, b) in d.name.bytes().take(ti.name.len() - 1).enumerate() {
            ti.name[k] = b as c_char;
        }
        ti.usage = *usage;
        ti.size = d.size;
        ti.dtype = NRT_DTYPE_UINT8;
        *shapes.add(i) = d.size.min(u32::MAX as usize) as u32;
        ti.shape = shapes.add(i);
        ti.ndim = 1;
    }
    r.remember_tensor_info(p as usize);
    put(tensor_info, arr);
    Ok(())
});

export!(nrt_sys; fn nrt_free_model_tensor_info(tensor_info: *mut nrt_tensor_info_array_t) -> Res<()> {
    let call = "nrt_free_model_tensor_info";
    let r = rt(call)?;
    nonnull(call, &[("tensor_info", tensor_info.is_null())])?;
    if !r.forget_tensor_info(tensor_info as usize) {
        return Err(crate::reject!(NRT_INVALID_HANDLE, "{call}: {tensor_info:p} was not returned by nrt_get_model_tensor_info or was already freed"));
    }
    free_tensor_info_block(tensor_info as usize);
    Ok(())
});

// ======================================================================= tensor sets

export!(nrt_sys; fn nrt_allocate_tensor_set(result: *mut *mut nrt_tensor_set_t) -> Res<()> {
    let r = rt("nrt_allocate_tensor_set")?;
    nonnull("nrt_allocate_tensor_set", &[("result", result.is_null())])?;
    put(result, r.set_alloc() as *mut nrt_tensor_set_t);
    Ok(())
});

export!(nrt_sys; fn nrt_destroy_tensor_set(tensor_set: *mut *mut nrt_tensor_set_t) {
    let call = "nrt_destroy_tensor_set";
    let Ok(r) = rt(call) else { return };
    if tensor_set.is_null() || (*tensor_set).is_null() {
        log::warn!("{call}: NULL tensor set");
        return;
    }
    let h = *tensor_set as usize;
    *tensor_set = std::ptr::null_mut();
    let _ = r.set_destroy(h);
});

export!(nrt_sys; fn nrt_add_tensor_to_tensor_set(tensor_set: *mut nrt_tensor_set_t, tensor_name: *const c_char, tensor: *mut nrt_tensor_t) -> Res<()> {
    let call = "nrt_add_tensor_to_tensor_set";
    let r = rt(call)?;
    nonnull(call, &[("tensor_set", tensor_set.is_null()), ("tensor_name", tensor_name.is_null()), ("tensor", tensor.is_null())])?;
    r.set_add(tensor_set as usize, &cstr(tensor_name), tensor as usize)
});

export!(nrt_sys; fn nrt_get_tensor_from_tensor_set(tensor_set: *mut nrt_tensor_set_t, tensor_name: *const c_char, tensor: *mut *mut nrt_tensor_t) -> Res<()> {
    let call = "nrt_get_tensor_from_tensor_set";
    let r = rt(call)?;
    nonnull(call, &[("tensor_set", tensor_set.is_null()), ("tensor_name", tensor_name.is_null()), ("tensor", tensor.is_null())])?;
    let h = r.set_get(tensor_set as usize, &cstr(tensor_name))?;
    put(tensor, h as *mut nrt_tensor_t);
    Ok(())
});

// ======================================================================= execution

export!(nrt_sys; fn nrt_execute(model: *mut nrt_model_t, input_set: *const nrt_tensor_set_t, output_set: *mut nrt_tensor_set_t) -> Res<()> {
    let call = "nrt_execute";
    let r = rt(call)?;
    nonnull(call, &[("model", model.is_null()), ("input_set", input_set.is_null()), ("output_set", output_set.is_null())])?;
    r.execute(model as usize, input_set as usize, output_set as usize)
});

export!(nrt_sys; fn nrt_execute_repeat(model: *mut nrt_model_t, input_set: *const nrt_tensor_set_t, output_set: *mut nrt_tensor_set_t, repeat_count: c_int) -> Res<()> {
    let call = "nrt_execute_repeat";
    let r = rt(call)?;
    nonnull(call, &[("model", model.is_null()), ("input_set", input_set.is_null()), ("output_set", output_set.is_null())])?;
    r.execute_repeat(model as usize, input_set as usize, output_set as usize, repeat_count)
});

// ======================================================================= tensors

export!(nrt_sys; fn nrt_tensor_allocate(tensor_placement: nrt_tensor_placement_t, vnc: c_int, size: usize, name: *const c_char, tensor: *mut *mut nrt_tensor_t) -> Res<()> {
    let call = "nrt_tensor_allocate";
    let r = rt(call)?;
    nonnull(call, &[("name", name.is_null()), ("tensor", tensor.is_null())])?;
    let h = r.tensor_allocate(tensor_placement, vnc, size, &cstr(name))?;
    put(tensor, h as *mut nrt_tensor_t);
    Ok(())
});

export!(nrt_sys; fn nrt_tensor_free(tensor: *mut *mut nrt_tensor_t) {
    let Ok(r) = rt("nrt_tensor_free") else { return };
    if tensor.is_null() || (*tensor).is_null() {
        return;
    }
    let h = *tensor as usize;
    *tensor = std::ptr::null_mut();
    let _ = r.tensor_free(h);
});

export!(nrt_sys; fn nrt_tensor_read(tensor: *const nrt_tensor_t, buf: *mut c_void, offset: usize, size: usize) -> Res<()> {
    let call = "nrt_tensor_read";
    let r = rt(call)?;
    nonnull(call, &[("tensor", tensor.is_null()), ("buf", buf.is_null() && size > 0)])?;
    r.tensor_read(tensor as usize, offset as u64, UserBuf::new(buf, size), true)
});

export!(nrt_sys; fn nrt_tensor_write(tensor: *mut nrt_tensor_t, buf: *const c_void, offset: usize, size: usize) -> Res<()> {
    let call = "nrt_tensor_write";
    let r = rt(call)?;
    nonnull(call, &[("tensor", tensor.is_null()), ("buf", buf.is_null() && size > 0)])?;
    r.tensor_write(tensor as usize, offset as u64, UserBuf::new(buf, size), true)
});

unsafe fn batch(call: &str, write: bool, batches: *const nrt_tensor_batch_t, n: u64, unsafe_mode: bool) -> Res<()> {
    let r = rt(call)?;
    nonnull(call, &[("batches", batches.is_null() && n > 0)])?;
    let mut v = Vec::new();
    for i in 0..n as usize {
        let b = &*batches.add(i);
        nonnull(
            call,
            &[("batches[i].tensor", b.tensor.is_null()), ("batches[i].ops", b.ops.is_null() && b.num_ops > 0)],
        )?;
        let mut ops = Vec::new();
        for k in 0..b.num_ops as usize {
            let op = &*b.ops.add(k);
            nonnull(call, &[("ops[k].buffer", op.buffer.is_null() && op.size > 0)])?;
            if op.size > usize::MAX as u64 {
                return Err(crate::reject!(NRT_INVALID, "{call}: size {} too large", op.size));
            }
            ops.push((op.offset, UserBuf::new(op.buffer, op.size as usize)));
        }
        v.push((b.tensor as usize, ops));
    }
    r.tensor_batch(write, v, unsafe_mode)
}

export!(nrt_sys; fn nrt_tensor_read_batch(batches: *const nrt_tensor_batch_t, num_batches: u64, unsafe_mode: bool) -> Res<()> {
    batch("nrt_tensor_read_batch", false, batches, num_batches, unsafe_mode)
});

export!(nrt_sys; fn nrt_tensor_write_batch(batches: *const nrt_tensor_batch_t, num_batches: u64, unsafe_mode: bool) -> Res<()> {
    batch("nrt_tensor_write_batch", true, batches, num_batches, unsafe_mode)
});

export!(nrt_sys; fn nrt_tensor_copy(src: *const nrt_tensor_t, src_offset: usize, dst: *mut nrt_tensor_t, dst_offset: usize, size: usize) -> Res<()> {
    let call = "nrt_tensor_copy";
    let r = rt(call)?;
    nonnull(call, &[("src", src.is_null()), ("dst", dst.is_null())])?;
    r.tensor_copy(src as usize, src_offset as u64, dst as usize, dst_offset as u64, size as u64)
});

export!(nrt_sys; fn nrt_tensor_get_size(tensor: *const nrt_tensor_t) -> usize {
    let call = "nrt_tensor_get_size";
    let Ok(r) = rt(call) else { return 0 };
    if nonnull(call, &[("tensor", tensor.is_null())]).is_err() {
        return 0;
    }
    r.tensor_size(tensor as usize).unwrap_or(0)
});

export!(nrt_sys; fn nrt_tensor_memset(tensor: *mut nrt_tensor_t, offset: u64, value: c_int, size: usize) -> Res<()> {
    let call = "nrt_tensor_memset";
    let r = rt(call)?;
    nonnull(call, &[("tensor", tensor.is_null())])?;
    r.tensor_memset(tensor as usize, offset, value, size as u64)
});

export!(nrt_sys; fn nrt_tensor_allocate_empty(name: *const c_char, tensor: *mut *mut nrt_tensor_t) -> Res<()> {
    let call = "nrt_tensor_allocate_empty";
    let r = rt(call)?;
    nonnull(call, &[("name", name.is_null()), ("tensor", tensor.is_null())])?;
    put(tensor, r.tensor_allocate_empty(&cstr(name)) as *mut nrt_tensor_t);
    Ok(())
});

export!(nrt_sys; fn nrt_tensor_attach_buffer(tensor: *mut nrt_tensor_t, buffer: *mut c_void, size: usize) -> Res<()> {
    let call = "nrt_tensor_attach_buffer";
    let r = rt(call)?;
    nonnull(call, &[("tensor", tensor.is_null()), ("buffer", buffer.is_null())])?;
    r.tensor_attach(tensor as usize, Mem::attach(buffer, size))
});

export!(nrt_sys; fn nrt_tensor_allocate_slice(tensor_source: *const nrt_tensor_t, offset: usize, size: usize, name: *const c_char, tensor_slice: *mut *mut nrt_tensor_t) -> Res<()> {
    let call = "nrt_tensor_allocate_slice";
    let r = rt(call)?;
    nonnull(call, &[("tensor_source", tensor_source.is_null()), ("name", name.is_null()), ("tensor_slice", tensor_slice.is_null())])?;
    let h = r.tensor_slice(tensor_source as usize, offset as u64, size as u64, &cstr(name))?;
    put(tensor_slice, h as *mut nrt_tensor_t);
    Ok(())
});

export!(nrt_sys; fn nrt_tensor_get_va(tensor: *const nrt_tensor_t) -> *mut c_void {
    let call = "nrt_tensor_get_va";
    let Ok(r) = rt(call) else { return std::ptr::null_mut() };
    if nonnull(call, &[("tensor", tensor.is_null())]).is_err() {
        return std::ptr::null_mut();
    }
    match r.tensor_va(tensor as usize) {
        Ok(Some(a)) => a as *mut c_void,
        _ => std::ptr::null_mut(),
    }
});

export!(nrt_sys; fn nrt_tensor_get_device_allocation_info(tensor: *const nrt_tensor_t, alloc_info: *mut nrt_tensor_device_allocation_info_t) -> Res<()> {
    let call = "nrt_tensor_get_device_allocation_info";
    let r = rt(call)?;
    nonnull(call, &[("tensor", tensor.is_null()), ("alloc_info", alloc_info.is_null())])?;
    let (pa, size, hbm) = r.device_alloc_info(tensor as usize)?;
    put(alloc_info, nrt_tensor_device_allocation_info_t { physical_address: pa, size, hbm_index: hbm });
    Ok(())
});

export!(nrt_sys; fn nrt_tensor_check_output_completion(output_tensor: *const nrt_tensor_t, timeout_us: i64, expected_completion_count: u64) -> Res<()> {
    let call = "nrt_tensor_check_output_completion";
    let r = rt(call)?;
    nonnull(call, &[("output_tensor", output_tensor.is_null())])?;
    r.check_output_completion(output_tensor as usize, timeout_us, expected_completion_count)
});

export!(nrt_sys; fn nrt_tensor_reset_output_completion(output_tensor: *mut nrt_tensor_t) -> Res<()> {
    let call = "nrt_tensor_reset_output_completion";
    let r = rt(call)?;
    nonnull(call, &[("output_tensor", output_tensor.is_null())])?;
    r.reset_output_completion(output_tensor as usize)
});

// ======================================================================= implicit-async leftovers

export!(nrt_sys; fn nrt_register_async_exec_callback(callback: NRT_ASYNC_EXEC_STATUS_CALLBACK, params: *mut c_void) -> Res<()> {
    let call = "nrt_register_async_exec_callback";
    let r = rt(call)?;
    nonnull(call, &[("callback", callback.is_none())])?;
    r.register_callback(callback.map(|f| Callback::new(f, params)));
    Ok(())
});

export!(nrt_sys; fn nrt_async_drain_queued_execs(vnc: i32) -> Res<()> {
    let r = rt("nrt_async_drain_queued_execs")?;
    r.drain(vnc)
});

// ======================================================================= nrta_* common to both generations

export!(nrt_sys; fn nrta_is_completed(seq: nrta_seq_t, is_completed: *mut bool) -> Res<()> {
    let call = "nrta_is_completed";
    let r = rt_async(call)?;
    nonnull(call, &[("is_completed", is_completed.is_null())])?;
    let d = r.is_completed(seq)?;
    put(is_completed, d);
    Ok(())
});

export!(nrt_sys; fn nrta_cc_prepare(comm: *mut nrt_cc_comm_t, input: *mut nrt_tensor_list_t, output: *mut nrt_tensor_list_t, dtype: nrt_dtype_t, op: nrt_op_type_t, cc_op: nrt_cc_op_type_t, ctx: *mut *mut nrt_cc_context_t) -> Res<()> {
    let _ = (comm, input, output, dtype, op, cc_op, ctx);
    let call = "nrta_cc_prepare";
    rt_async(call)?;
    Err(crate::reject!(NRT_INVALID, "{call}: collectives are not simulated by nrt-sim"))
});

//! Lifecycle exports: status strings, the version, nrt_init / nrt_close, core counts.

use super::{nonnull, put};
use crate::runtime::{self, rt, Res, NRT_FAILURE, NRT_INVALID, NRT_SUCCESS};
use nrt_sys::*;
use std::ffi::c_char;

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
    // SAFETY: ver is non-NULL and the caller gives `size` writable bytes; n <= size and
    // n <= size_of(v), so both ranges are valid and they cannot overlap (v is a local).
    unsafe { std::ptr::copy_nonoverlapping(&v as *const nrt_version_t as *const u8, ver as *mut u8, n) };
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
    // SAFETY: out was checked non-NULL and is valid for writes by this function's contract.
    unsafe { put(out, r.cores()) };
    Ok(())
}

export!(nrt_sys; fn nrt_get_total_vnc_count(vnc_count: *mut u32) -> Res<()> {
    // SAFETY: vnc_count is NULL (rejected) or the caller's writable u32, as vnc_count requires.
    unsafe { self::vnc_count("nrt_get_total_vnc_count", vnc_count) }
});
export!(nrt_sys; fn nrt_get_visible_vnc_count(vnc_count: *mut u32) -> Res<()> {
    // SAFETY: vnc_count is NULL (rejected) or the caller's writable u32, as vnc_count requires.
    unsafe { self::vnc_count("nrt_get_visible_vnc_count", vnc_count) }
});
export!(nrt_sys; fn nrt_get_total_nc_count(nc_count: *mut u32) -> Res<()> {
    // SAFETY: nc_count is NULL (rejected) or the caller's writable u32, as vnc_count requires.
    unsafe { self::vnc_count("nrt_get_total_nc_count", nc_count) }
});
export!(nrt_sys; fn nrt_get_visible_nc_count(nc_count: *mut u32) -> Res<()> {
    // SAFETY: nc_count is NULL (rejected) or the caller's writable u32, as vnc_count requires.
    unsafe { self::vnc_count("nrt_get_visible_nc_count", nc_count) }
});

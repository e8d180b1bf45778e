//! The calls outside the shim's intercepted set (issue 15), both generations:
//! device memory reached by address (`memory.rs`: get_va of a device tensor,
//! nrt_memcpy_to_device, nrt_get_hbm_mmap_va, nrt_get_dmabuf_fd, the allocation
//! info), and the synchronisation points (`sync.rs`: nrt_barrier, the profiling
//! and inspect brackets, send/recv, the session checks); each with its bad
//! input. Each scenario runs in a child process under a watchdog.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;
mod memory;
mod sync;

use common::*;
use nrt_sys::*;
use std::ffi::{c_char, c_int, c_void};

use nrt_sys as sys3;

api!(Escapes, sys3;
    nrt_memcpy_to_device: fn(*mut c_void, *const c_void, usize) -> NRT_STATUS;
    nrt_get_hbm_mmap_va: fn(c_int, c_int, *mut *mut c_void, *mut usize) -> NRT_STATUS;
    nrt_get_dmabuf_fd: fn(u64, u64, *mut c_int) -> NRT_STATUS;
    nrt_barrier: fn(i32, u32, u32) -> NRT_STATUS;
    nrt_profile_start: fn(*mut nrt_model_t, *const c_char) -> NRT_STATUS;
    nrt_profile_stop: fn(*const c_char) -> NRT_STATUS;
    nrt_inspect_config_allocate: fn(*mut *mut nrt_inspect_config_t) -> NRT_STATUS;
    nrt_inspect_config_free: fn(*mut nrt_inspect_config_t) -> NRT_STATUS;
    nrt_inspect_config_set_defaults: fn(*mut nrt_inspect_config_t) -> NRT_STATUS;
    nrt_inspect_config_set_output_dir: fn(*mut nrt_inspect_config_t, *const c_char) -> NRT_STATUS;
    nrt_inspect_config_set_enable_inspect: fn(*mut nrt_inspect_config_t, bool) -> NRT_STATUS;
    nrt_inspect_begin: fn() -> NRT_STATUS;
    nrt_inspect_begin_with_options: fn(*mut nrt_inspect_config_t) -> NRT_STATUS;
    nrt_inspect_stop: fn() -> NRT_STATUS;
    nrt_async_sendrecv_init: fn(c_int) -> NRT_STATUS;
    nrt_async_sendrecv_get_max_num_pending_request: fn(*mut c_int) -> NRT_STATUS;
    nrt_async_sendrecv_connect: fn(*const c_char, c_int, c_int, *mut *mut nrt_async_sendrecv_comm_t) -> NRT_STATUS;
    nrt_async_sendrecv_accept: fn(*const c_char, c_int, c_int, *mut *mut nrt_async_sendrecv_comm_t) -> NRT_STATUS;
    nrt_async_sendrecv_test_comm: fn(*mut nrt_async_sendrecv_comm_t, *mut bool) -> NRT_STATUS;
    nrt_async_sendrecv_send_tensor: fn(*mut nrt_tensor_t, usize, usize, *mut nrt_async_sendrecv_comm_t, *mut *mut nrt_async_sendrecv_request_t) -> NRT_STATUS;
    nrt_async_sendrecv_recv_tensor: fn(*mut nrt_tensor_t, usize, usize, *mut nrt_async_sendrecv_comm_t, *mut *mut nrt_async_sendrecv_request_t) -> NRT_STATUS;
    nrt_async_sendrecv_test_request: fn(*mut nrt_async_sendrecv_request_t, *mut bool, *mut usize) -> NRT_STATUS;
);

pub(crate) const COPY: &str = "nrt-sim-model 1\nname cp\nlatency_us 100\ninput x 16\noutput y 16\ncompute copy\n";

#[test]
fn child_entry() {
    let Ok(name) = std::env::var(SCENARIO_VAR) else { return };
    let lib = Lib::open();
    // SAFETY: the library is the simulator, whose exports have these signatures (checked above).
    let e = unsafe { Escapes::load(lib.handle) };
    match name.as_str() {
        "device_va" => memory::device_va(&lib, &e),
        "memcpy" => memory::memcpy(&lib, &e),
        "memcpy_race" => memory::memcpy_race(&lib, &e),
        "dmabuf" => memory::dmabuf(&lib, &e),
        "limit" => memory::limit(&lib),
        "unmapped" => memory::unmapped(&lib, &e),
        "va_race" => memory::va_race(&lib),
        "va_clean" => memory::va_clean(&lib),
        "barrier" => sync::barrier(&lib, &e),
        "profile" => sync::profile(&lib, &e),
        "inspect" => sync::inspect(&lib, &e),
        "sendrecv" => sync::sendrecv(&lib, &e),
        "states" => sync::states(&lib, &e),
        other => panic!("unknown scenario {other}"),
    }
    println!("scenario {name} passed");
}

/// The scenario in both generations, with device memory mapped to the CPU
/// (NEURON_RT_MAP_HBM=1) unless the environment given says otherwise.
macro_rules! both {
    ($v3:ident, $v2:ident, $scenario:literal, $env:expr) => {
        #[test]
        fn $v3() {
            run($scenario, Gen::V3, &with_map_hbm($env), 30);
        }
        #[test]
        fn $v2() {
            run($scenario, Gen::V2, &with_map_hbm($env), 30);
        }
    };
}

fn with_map_hbm<'a>(env: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![("NEURON_RT_MAP_HBM", "1")];
    v.extend_from_slice(env);
    v
}

both!(device_va_v3, device_va_v2, "device_va", &[]);
both!(memcpy_to_device_v3, memcpy_to_device_v2, "memcpy", &[]);
both!(memcpy_race_counted_v3, memcpy_race_counted_v2, "memcpy_race", &[]);
both!(dmabuf_and_hbm_v3, dmabuf_and_hbm_v2, "dmabuf", &[]);
both!(barrier_v3, barrier_v2, "barrier", &[("NRT_SIM_BARRIER_TIMEOUT_MS", "200")]);
both!(profile_v3, profile_v2, "profile", &[]);
both!(inspect_v3, inspect_v2, "inspect", &[]);
both!(sendrecv_loopback_v3, sendrecv_loopback_v2, "sendrecv", &[]);
both!(
    device_memory_unmapped_by_default_v3,
    device_memory_unmapped_by_default_v2,
    "unmapped",
    &[("NEURON_RT_MAP_HBM", "0")]
);
both!(uninitialized_and_closed_v3, uninitialized_and_closed_v2, "states", &[]);
both!(device_memory_limit_v3, device_memory_limit_v2, "limit", &[("NRT_SIM_DEVICE_MEMORY", "64K")]);
both!(cpu_write_through_va_racing_v3, cpu_write_through_va_racing_v2, "va_race", &[]);
both!(perftest_style_va_writes_clean_v3, perftest_style_va_writes_clean_v2, "va_clean", &[]);

/// Schedules an execution asynchronously in either generation; returns its sequence.
pub(crate) fn schedule(
    l: &Lib,
    m: *mut nrt_model_t,
    i: *mut nrt_tensor_set_t,
    o: *mut nrt_tensor_set_t,
    st: &mut u32,
) -> u64 {
    let mut seq = 0u64;
    unsafe {
        match (&l.v3, &l.v2) {
            (Some(v3), _) => assert_eq!((v3.nrta_execute_schedule)(m, i, o, 0, st, &mut seq), NRT_SUCCESS),
            (_, Some(v2)) => {
                assert_eq!((v2.nrta_execute_schedule)(m, i, o, 0, std::ptr::null_mut(), &mut seq), NRT_SUCCESS)
            }
            _ => unreachable!(),
        }
    }
    seq
}

pub(crate) fn bytes<'a>(p: *mut c_void, n: usize) -> &'a mut [u8] {
    assert!(!p.is_null());
    // SAFETY: p is a device tensor's (or bank's) address from the simulator, valid for n bytes
    // while the session runs; the tests touch it only while no device op uses it.
    unsafe { std::slice::from_raw_parts_mut(p as *mut u8, n) }
}

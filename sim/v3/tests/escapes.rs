//! The calls outside the shim's intercepted set (issue 15), both generations:
//! device memory reached by address (get_va of a device tensor,
//! nrt_memcpy_to_device, nrt_get_hbm_mmap_va, nrt_get_dmabuf_fd, the allocation
//! info), nrt_barrier, the profiling and inspect brackets, send/recv; each with
//! its bad input. Each scenario runs in a child process under a watchdog.

#[macro_use]
mod common;

use common::*;
use nrt_sys::*;
use std::ffi::{c_char, c_int, c_void, CString};

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

const COPY: &str = "nrt-sim-model 1\nname cp\nlatency_us 100\ninput x 16\noutput y 16\ncompute copy\n";

#[test]
fn child_entry() {
    let Ok(name) = std::env::var(SCENARIO_VAR) else { return };
    let lib = Lib::open();
    // SAFETY: the library is the simulator, whose exports have these signatures (checked above).
    let e = unsafe { Escapes::load(lib.handle) };
    match name.as_str() {
        "device_va" => device_va(&lib, &e),
        "memcpy" => memcpy(&lib, &e),
        "memcpy_race" => memcpy_race(&lib, &e),
        "dmabuf" => dmabuf(&lib, &e),
        "barrier" => barrier(&lib, &e),
        "profile" => profile(&lib, &e),
        "inspect" => inspect(&lib, &e),
        "sendrecv" => sendrecv(&lib, &e),
        "states" => states(&lib, &e),
        "limit" => limit(&lib),
        "va_race" => va_race(&lib),
        "va_clean" => va_clean(&lib),
        other => panic!("unknown scenario {other}"),
    }
    println!("scenario {name} passed");
}

macro_rules! both {
    ($v3:ident, $v2:ident, $scenario:literal, $env:expr) => {
        #[test]
        fn $v3() {
            run($scenario, Gen::V3, $env, 30);
        }
        #[test]
        fn $v2() {
            run($scenario, Gen::V2, $env, 30);
        }
    };
}

both!(device_va_v3, device_va_v2, "device_va", &[]);
both!(memcpy_to_device_v3, memcpy_to_device_v2, "memcpy", &[]);
both!(memcpy_race_counted_v3, memcpy_race_counted_v2, "memcpy_race", &[]);
both!(dmabuf_and_hbm_v3, dmabuf_and_hbm_v2, "dmabuf", &[]);
both!(barrier_v3, barrier_v2, "barrier", &[("NRT_SIM_BARRIER_TIMEOUT_MS", "200")]);
both!(profile_v3, profile_v2, "profile", &[]);
both!(inspect_v3, inspect_v2, "inspect", &[]);
both!(sendrecv_loopback_v3, sendrecv_loopback_v2, "sendrecv", &[]);
both!(uninitialized_and_closed_v3, uninitialized_and_closed_v2, "states", &[]);
both!(device_memory_limit_v3, device_memory_limit_v2, "limit", &[("NRT_SIM_DEVICE_MEMORY", "64K")]);

/// Schedules an execution asynchronously in either generation; returns its sequence.
fn schedule(l: &Lib, m: *mut nrt_model_t, i: *mut nrt_tensor_set_t, o: *mut nrt_tensor_set_t, st: &mut u32) -> u64 {
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

fn bytes<'a>(p: *mut c_void, n: usize) -> &'a mut [u8] {
    assert!(!p.is_null());
    // SAFETY: p is a device tensor's (or bank's) address from the simulator, valid for n bytes
    // while the session runs; the tests touch it only while no device op uses it.
    unsafe { std::slice::from_raw_parts_mut(p as *mut u8, n) }
}

fn device_va(l: &Lib, e: &Escapes) {
    l.init();
    let m = l.load(COPY, 1);
    let (x, y) = (l.dev(1, 16, "x"), l.dev(1, 16, "y"));
    let (i, o) = (l.set(&[("x", x)]), l.set(&[("y", y)]));
    let xv = bytes(unsafe { (l.c.nrt_tensor_get_va)(x) }, 16);
    let yv = bytes(unsafe { (l.c.nrt_tensor_get_va)(y) }, 16);
    assert_eq!(xv, &[0u8; 16], "device memory starts zeroed");
    // a CPU write through the address is what the next execution reads ...
    xv.copy_from_slice(&[7u8; 16]);
    assert_eq!(l.exec(m, i, o), NRT_SUCCESS);
    // ... and a CPU read through the address sees the last execution's outputs
    assert_eq!(yv, &[7u8; 16]);
    // nrt_tensor_write / read go through the same bytes
    assert_eq!(l.write(x, 4, &[9, 9]), NRT_SUCCESS);
    assert_eq!(&xv[4..6], &[9, 9]);
    xv[0] = 42;
    assert_eq!(l.read(x, 0, 1), vec![42]);
    // a slice's address is its source's plus the offset
    let mut s = std::ptr::null_mut();
    assert_eq!(unsafe { (l.c.nrt_tensor_allocate_slice)(x, 4, 8, c"s".as_ptr(), &mut s) }, NRT_SUCCESS);
    assert_eq!(unsafe { (l.c.nrt_tensor_get_va)(s) } as usize, xv.as_ptr() as usize + 4);

    // the allocation info is consistent with the mapping of the core's bank
    let (mut bank, mut bank_len) = (std::ptr::null_mut(), 0usize);
    assert_eq!(unsafe { (e.nrt_get_hbm_mmap_va)(0, 1, &mut bank, &mut bank_len) }, NRT_SUCCESS);
    let mut ix = nrt_tensor_device_allocation_info_t::default();
    let mut iy = nrt_tensor_device_allocation_info_t::default();
    let mut is = nrt_tensor_device_allocation_info_t::default();
    unsafe {
        assert_eq!((l.c.nrt_tensor_get_device_allocation_info)(x, &mut ix), NRT_SUCCESS);
        assert_eq!((l.c.nrt_tensor_get_device_allocation_info)(y, &mut iy), NRT_SUCCESS);
        assert_eq!((l.c.nrt_tensor_get_device_allocation_info)(s, &mut is), NRT_SUCCESS);
    }
    assert_eq!((ix.size, ix.hbm_index, is.size, is.hbm_index), (16, 1, 8, 1));
    assert_eq!(is.physical_address, ix.physical_address + 4);
    let (xa, ya, b) = (xv.as_ptr() as u64, yv.as_ptr() as u64, bank as u64);
    assert!(xa >= b && xa + 16 <= b + bank_len as u64 && ya >= b && ya + 16 <= b + bank_len as u64, "inside the bank");
    assert_eq!(iy.physical_address.wrapping_sub(ix.physical_address), ya.wrapping_sub(xa), "pa and va differ alike");
    // the bank's bytes at the tensor's offset are the tensor's
    assert_eq!(bytes(bank, bank_len)[(xa - b) as usize], 42);
    // a core-0 tensor lies in bank 0, not bank 1
    let z = l.dev(0, 8, "z");
    let mut iz = nrt_tensor_device_allocation_info_t::default();
    assert_eq!(unsafe { (l.c.nrt_tensor_get_device_allocation_info)(z, &mut iz) }, NRT_SUCCESS);
    assert_eq!(iz.hbm_index, 0);
    let za = unsafe { (l.c.nrt_tensor_get_va)(z) } as u64;
    assert!(!(b..b + bank_len as u64).contains(&za));

    // freed device memory reads as zeroes when allocated again
    l.free(s);
    l.free(x);
    let x2 = l.dev(1, 16, "x2");
    assert_eq!(l.read(x2, 0, 16), vec![0u8; 16]);
    // bad input
    unsafe {
        let mut va = std::ptr::null_mut();
        let mut n = 0usize;
        assert_eq!((e.nrt_get_hbm_mmap_va)(1, 0, &mut va, &mut n), NRT_INVALID, "device 1");
        assert_eq!((e.nrt_get_hbm_mmap_va)(0, 2, &mut va, &mut n), NRT_INVALID, "hbm 2 of 2 cores");
        assert_eq!((e.nrt_get_hbm_mmap_va)(0, -1, &mut va, &mut n), NRT_INVALID);
        assert_eq!((e.nrt_get_hbm_mmap_va)(0, 0, std::ptr::null_mut(), &mut n), NRT_INVALID);
        assert_eq!((e.nrt_get_hbm_mmap_va)(0, 0, &mut va, std::ptr::null_mut()), NRT_INVALID);
        assert!(va.is_null() && n == 0, "nothing written on failure");
    }
    l.close();
}

fn memcpy(l: &Lib, e: &Escapes) {
    l.init();
    let x = l.dev(0, 64, "x");
    let h = l.host(64, "h");
    let xa = unsafe { (l.c.nrt_tensor_get_va)(x) };
    let ha = unsafe { (l.c.nrt_tensor_get_va)(h) };
    let src: Vec<u8> = (0..64).collect();
    unsafe {
        assert_eq!(
            (e.nrt_memcpy_to_device)((xa as *mut u8).add(8) as *mut c_void, src.as_ptr() as *const c_void, 16),
            NRT_SUCCESS
        );
        assert_eq!(l.read(x, 0, 24), [&[0u8; 8][..], &src[..16]].concat());
        assert_eq!((e.nrt_memcpy_to_device)(xa, src.as_ptr() as *const c_void, 64), NRT_SUCCESS);
        assert_eq!(l.read(x, 0, 64), src);
        assert_eq!((e.nrt_memcpy_to_device)(xa, std::ptr::null(), 0), NRT_SUCCESS, "nothing to copy");
        // bad input: NULLs, host memory, past the allocation, not allocated
        assert_eq!((e.nrt_memcpy_to_device)(std::ptr::null_mut(), src.as_ptr() as *const c_void, 4), NRT_INVALID);
        assert_eq!((e.nrt_memcpy_to_device)(xa, std::ptr::null(), 4), NRT_INVALID);
        assert_eq!((e.nrt_memcpy_to_device)(ha, src.as_ptr() as *const c_void, 4), NRT_INVALID, "host memory");
        let past = (xa as *mut u8).add(60) as *mut c_void;
        assert_eq!((e.nrt_memcpy_to_device)(past, src.as_ptr() as *const c_void, 8), NRT_INVALID, "past the end");
        let gap = (xa as *mut u8).add(4096 * 16) as *mut c_void;
        assert_eq!((e.nrt_memcpy_to_device)(gap, src.as_ptr() as *const c_void, 1), NRT_INVALID, "free memory");
    }
    assert_eq!(l.read(x, 0, 64), src, "a rejected copy writes nothing");
    l.close();
}

/// nrt_memcpy_to_device into an input an in-flight execution reads: a hazard.
fn memcpy_race(l: &Lib, e: &Escapes) {
    unsafe { std::env::set_var("NRT_SIM_REPORT", report_path()) };
    l.init();
    let m = l.load(&slow(200_000), 0);
    let (x, y) = (l.dev(0, 64, "in_x"), l.dev(0, 64, "out_y"));
    let (i, o) = (l.set(&[("x", x)]), l.set(&[("y", y)]));
    let xa = unsafe { (l.c.nrt_tensor_get_va)(x) };
    let src = [5u8; 64];
    let mut st = 99u32;
    let seq = schedule(l, m, i, o, &mut st);
    assert_eq!(unsafe { (e.nrt_memcpy_to_device)(xa, src.as_ptr() as *const c_void, 64) }, NRT_SUCCESS);
    l.wait_seq(seq);
    // the same copy after the execution completed: no hazard
    assert_eq!(unsafe { (e.nrt_memcpy_to_device)(xa, src.as_ptr() as *const c_void, 64) }, NRT_SUCCESS);
    l.close();
    let r = read_report();
    assert_eq!(r["hazards"], 1, "{r}");
    let ex = r["hazard_examples"][0].as_str().unwrap();
    assert!(ex.contains("nrt_memcpy_to_device") && ex.contains("in_x") && ex.contains("nrta_execute_schedule"), "{ex}");
}

fn dmabuf(l: &Lib, e: &Escapes) {
    l.init();
    let x = l.dev(0, 8192, "x");
    let xa = unsafe { (l.c.nrt_tensor_get_va)(x) } as u64;
    assert_eq!(l.write(x, 4096, &[3u8; 16]), NRT_SUCCESS);
    let mut fd: c_int = -1;
    assert_eq!(unsafe { (e.nrt_get_dmabuf_fd)(xa, 8192, &mut fd) }, NRT_SUCCESS);
    assert!(fd >= 0 && fd_is_open(fd));
    // the fd holds the very bytes: the bank's, at the tensor's offset in it
    let (mut bank, mut n) = (std::ptr::null_mut(), 0usize);
    assert_eq!(unsafe { (e.nrt_get_hbm_mmap_va)(0, 0, &mut bank, &mut n) }, NRT_SUCCESS);
    let off = xa - bank as u64 + 4096;
    unsafe {
        let p = libc::mmap(std::ptr::null_mut(), 4096, libc::PROT_READ, libc::MAP_SHARED, fd, off as libc::off_t);
        assert_ne!(p, libc::MAP_FAILED);
        assert_eq!(std::slice::from_raw_parts(p as *const u8, 16), &[3u8; 16]);
        libc::munmap(p, 4096);
        libc::close(fd);
    }
    // a sub-range of the allocation works too
    assert_eq!(unsafe { (e.nrt_get_dmabuf_fd)(xa + 16, 64, &mut fd) }, NRT_SUCCESS);
    unsafe { libc::close(fd) };
    // bad input
    let h = l.host(64, "h");
    let ha = unsafe { (l.c.nrt_tensor_get_va)(h) } as u64;
    fd = -7;
    unsafe {
        assert_eq!((e.nrt_get_dmabuf_fd)(ha, 64, &mut fd), NRT_INVALID, "host memory");
        assert_eq!((e.nrt_get_dmabuf_fd)(xa, 8193, &mut fd), NRT_INVALID, "past the allocation");
        assert_eq!((e.nrt_get_dmabuf_fd)(xa, 0, &mut fd), NRT_INVALID, "empty");
        assert_eq!((e.nrt_get_dmabuf_fd)(0, 64, &mut fd), NRT_INVALID, "address 0");
        assert_eq!((e.nrt_get_dmabuf_fd)(xa, 64, std::ptr::null_mut()), NRT_INVALID);
    }
    assert_eq!(fd, -7, "nothing written on failure");
    l.close();
}

fn barrier(l: &Lib, e: &Escapes) {
    l.init();
    let m = l.load(&slow(200_000), 0);
    let (x, y) = (l.dev(0, 64, "x"), l.dev(0, 64, "y"));
    let (i, o) = (l.set(&[("x", x)]), l.set(&[("y", y)]));
    let mut st = 99u32;
    let seq = schedule(l, m, i, o, &mut st);
    assert_eq!(l.is_completed(seq), Ok(false));
    // one rank: returns once the core's work is done
    assert_eq!(unsafe { (e.nrt_barrier)(0, 0, 1) }, NRT_SUCCESS);
    assert_eq!(l.is_completed(seq), Ok(true), "the barrier drained core 0");
    // two ranks of this process (threads) meet
    let t = std::thread::spawn(|| unsafe { (Escapes::load(Lib::open().handle).nrt_barrier)(1, 1, 2) });
    assert_eq!(unsafe { (e.nrt_barrier)(0, 0, 2) }, NRT_SUCCESS);
    assert_eq!(t.join().unwrap(), NRT_SUCCESS);
    // a rank alone times out (NRT_SIM_BARRIER_TIMEOUT_MS=200), and may try again
    assert_eq!(unsafe { (e.nrt_barrier)(0, 0, 2) }, NRT_TIMEOUT);
    assert_eq!(unsafe { (e.nrt_barrier)(0, 0, 2) }, NRT_TIMEOUT);
    // bad input
    unsafe {
        assert_eq!((e.nrt_barrier)(2, 0, 1), NRT_INVALID, "vnc 2 of 2 cores");
        assert_eq!((e.nrt_barrier)(-1, 0, 1), NRT_INVALID);
        assert_eq!((e.nrt_barrier)(0, 0, 0), NRT_INVALID, "count 0");
        assert_eq!((e.nrt_barrier)(0, 2, 2), NRT_INVALID, "gid >= count");
    }
    l.close();
}

fn profile(l: &Lib, e: &Escapes) {
    l.init();
    let m = l.load(COPY, 0);
    let other = l.load(COPY, 1);
    let (x, y) = (l.dev(0, 16, "x"), l.dev(0, 16, "y"));
    let (i, o) = (l.set(&[("x", x)]), l.set(&[("y", y)]));
    let dir = std::path::PathBuf::from(std::env::var("NRT_SIM_TEST_DIR").unwrap());
    let file = CString::new(dir.join("p.json").to_string_lossy().as_bytes()).unwrap();
    assert_eq!(l.exec(m, i, o), NRT_SUCCESS, "before the bracket: not recorded");
    unsafe {
        assert_eq!((e.nrt_profile_start)(m, file.as_ptr()), NRT_SUCCESS);
        assert_eq!((e.nrt_profile_start)(m, file.as_ptr()), NRT_INVALID, "that file is being profiled into");
    }
    assert_eq!(l.exec(m, i, o), NRT_SUCCESS);
    assert_eq!(unsafe { (l.c.nrt_execute_repeat)(m, i, o, 3) }, NRT_SUCCESS);
    let mut st = 99u32;
    let seq = schedule(l, m, i, o, &mut st);
    l.wait_seq(seq);
    let (x1, y1) = (l.dev(1, 16, "x1"), l.dev(1, 16, "y1"));
    assert_eq!(l.exec(other, l.set(&[("x", x1)]), l.set(&[("y", y1)])), NRT_SUCCESS, "another model");
    assert_eq!(unsafe { (e.nrt_profile_stop)(file.as_ptr()) }, NRT_SUCCESS);
    assert_eq!(l.exec(m, i, o), NRT_SUCCESS, "after the bracket: not recorded");
    let p = parse_report(&std::fs::read_to_string(dir.join("p.json")).unwrap());
    assert_eq!(p["model"], "cp", "{p}");
    assert_eq!(p["vnc"], 0, "{p}");
    let ex = p["executions"].as_array().unwrap();
    assert_eq!(ex.len(), 2, "the synchronous executions only: {p}");
    assert_eq!((ex[0]["call"].as_str(), ex[0]["repeat"].as_i64()), (Some("nrt_execute"), Some(1)));
    assert_eq!((ex[1]["call"].as_str(), ex[1]["repeat"].as_i64()), (Some("nrt_execute_repeat"), Some(3)));
    for x in ex {
        assert_eq!(x["status"], 0);
        assert!(x["start_us"].as_f64().unwrap() <= x["end_us"].as_f64().unwrap(), "{x}");
    }
    assert!(ex[0]["end_us"].as_f64().unwrap() <= ex[1]["start_us"].as_f64().unwrap());
    // bad input
    unsafe {
        assert_eq!((e.nrt_profile_stop)(file.as_ptr()), NRT_INVALID, "already stopped");
        assert_eq!((e.nrt_profile_stop)(std::ptr::null()), NRT_INVALID);
        assert_eq!((e.nrt_profile_start)(std::ptr::null_mut(), file.as_ptr()), NRT_INVALID);
        assert_eq!((e.nrt_profile_start)(m, std::ptr::null()), NRT_INVALID);
        assert_eq!((e.nrt_profile_start)(m, c"".as_ptr()), NRT_INVALID, "empty file name");
        assert_eq!((e.nrt_profile_start)(0x1234 as *mut nrt_model_t, file.as_ptr()), NRT_INVALID_HANDLE);
        // a file that cannot be written: the failure shows at stop
        let bad = c"/nonexistent-dir/p.json";
        assert_eq!((e.nrt_profile_start)(m, bad.as_ptr()), NRT_SUCCESS);
        assert_eq!((e.nrt_profile_stop)(bad.as_ptr()), NRT_FAILURE);
    }
    l.close();
}

fn inspect(l: &Lib, e: &Escapes) {
    unsafe {
        // option objects need no session
        let mut c = std::ptr::null_mut();
        assert_eq!((e.nrt_inspect_config_allocate)(&mut c), NRT_SUCCESS);
        assert!(!c.is_null());
        assert_eq!((e.nrt_inspect_config_set_defaults)(c), NRT_SUCCESS);
        assert_eq!((e.nrt_inspect_config_set_output_dir)(c, c"./out".as_ptr()), NRT_SUCCESS);
        assert_eq!((e.nrt_inspect_config_set_output_dir)(c, c"".as_ptr()), NRT_INVALID, "empty");
        assert_eq!((e.nrt_inspect_config_set_output_dir)(c, std::ptr::null()), NRT_INVALID);
        assert_eq!((e.nrt_inspect_config_set_enable_inspect)(c, true), NRT_SUCCESS);
        assert_eq!((e.nrt_inspect_config_allocate)(std::ptr::null_mut()), NRT_INVALID);
        assert_eq!((e.nrt_inspect_begin_with_options)(c), NRT_UNINITIALIZED);
        l.init();
        let m = l.load(&slow(200_000), 0);
        let (x, y) = (l.dev(0, 64, "x"), l.dev(0, 64, "y"));
        let (i, o) = (l.set(&[("x", x)]), l.set(&[("y", y)]));
        assert_eq!((e.nrt_inspect_begin_with_options)(c), NRT_SUCCESS);
        assert_eq!((e.nrt_inspect_begin)(), NRT_INVALID, "one session at a time");
        let mut st = 99u32;
        let seq = schedule(l, m, i, o, &mut st);
        assert_eq!((e.nrt_inspect_stop)(), NRT_SUCCESS);
        assert_eq!(l.is_completed(seq), Ok(true), "stop drained the device");
        assert_eq!((e.nrt_inspect_stop)(), NRT_SUCCESS, "no session: nothing to do");
        assert_eq!((e.nrt_inspect_begin)(), NRT_SUCCESS);
        assert_eq!((e.nrt_inspect_stop)(), NRT_SUCCESS);
        assert_eq!((e.nrt_inspect_begin_with_options)(std::ptr::null_mut()), NRT_SUCCESS, "NULL: defaults");
        assert_eq!((e.nrt_inspect_stop)(), NRT_SUCCESS);
        assert_eq!((e.nrt_inspect_config_free)(c), NRT_SUCCESS);
        assert_eq!((e.nrt_inspect_config_free)(c), NRT_INVALID, "freed twice");
        assert_eq!((e.nrt_inspect_config_set_defaults)(c), NRT_INVALID, "freed");
        assert_eq!((e.nrt_inspect_begin_with_options)(c), NRT_INVALID, "freed");
        assert_eq!((e.nrt_inspect_config_free)(std::ptr::null_mut()), NRT_INVALID);
    }
    l.close();
}

fn sendrecv(l: &Lib, e: &Escapes) {
    unsafe { std::env::set_var("NRT_SIM_REPORT", report_path()) };
    l.init();
    let (a, b) = (l.dev(0, 64, "a"), l.dev(1, 64, "b"));
    let data: Vec<u8> = (100..164).collect();
    assert_eq!(l.write(a, 0, &data), NRT_SUCCESS);
    let (mut sc, mut rc) = (std::ptr::null_mut(), std::ptr::null_mut());
    let (mut sr, mut rr) = (std::ptr::null_mut(), std::ptr::null_mut());
    let mut done = false;
    let mut n = 0usize;
    let mut max: c_int = 0;
    unsafe {
        assert_eq!((e.nrt_async_sendrecv_init)(0), NRT_SUCCESS);
        assert_eq!((e.nrt_async_sendrecv_init)(1), NRT_SUCCESS);
        assert_eq!((e.nrt_async_sendrecv_get_max_num_pending_request)(&mut max), NRT_SUCCESS);
        assert!(max > 0);
        // core 0 sends to core 1
        assert_eq!((e.nrt_async_sendrecv_connect)(c"127.0.0.1".as_ptr(), 1, 0, &mut sc), NRT_SUCCESS);
        assert_eq!((e.nrt_async_sendrecv_test_comm)(sc, &mut done), NRT_SUCCESS);
        assert!(!done, "no receiving end yet");
        assert_eq!((e.nrt_async_sendrecv_accept)(c"localhost".as_ptr(), 0, 1, &mut rc), NRT_SUCCESS);
        assert_eq!((e.nrt_async_sendrecv_test_comm)(sc, &mut done), NRT_SUCCESS);
        assert!(done);
        assert_eq!((e.nrt_async_sendrecv_test_comm)(rc, &mut done), NRT_SUCCESS);
        assert!(done);
        // the send waits for its receive; both complete when both are posted
        assert_eq!((e.nrt_async_sendrecv_send_tensor)(a, 8, 32, sc, &mut sr), NRT_SUCCESS);
        assert_eq!((e.nrt_async_sendrecv_test_request)(sr, &mut done, &mut n), NRT_SUCCESS);
        assert!(!done);
        assert_eq!((e.nrt_async_sendrecv_recv_tensor)(b, 16, 32, rc, &mut rr), NRT_SUCCESS);
        for r in [sr, rr] {
            assert_eq!((e.nrt_async_sendrecv_test_request)(r, &mut done, &mut n), NRT_SUCCESS);
            assert!(done && n == 32);
            assert_eq!((e.nrt_async_sendrecv_test_request)(r, &mut done, &mut n), NRT_INVALID_HANDLE, "reported once");
        }
        assert_eq!(l.read(b, 0, 64), [&[0u8; 16][..], &data[8..40], &[0u8; 16][..]].concat());
        // bad input
        let mut c = std::ptr::null_mut();
        assert_eq!((e.nrt_async_sendrecv_connect)(c"10.1.2.3".as_ptr(), 1, 0, &mut c), NRT_FAILURE, "a remote peer");
        assert_eq!((e.nrt_async_sendrecv_connect)(c"127.0.0.1".as_ptr(), 2, 0, &mut c), NRT_INVALID, "peer lnc 2");
        assert_eq!((e.nrt_async_sendrecv_connect)(std::ptr::null(), 1, 0, &mut c), NRT_INVALID);
        assert_eq!((e.nrt_async_sendrecv_connect)(c"127.0.0.1".as_ptr(), 1, 0, std::ptr::null_mut()), NRT_INVALID);
        assert!(c.is_null());
        let mut r = std::ptr::null_mut();
        assert_eq!((e.nrt_async_sendrecv_send_tensor)(b, 0, 8, sc, &mut r), NRT_INVALID, "b is on core 1");
        assert_eq!((e.nrt_async_sendrecv_send_tensor)(a, 60, 8, sc, &mut r), NRT_INVALID, "past the end");
        assert_eq!((e.nrt_async_sendrecv_send_tensor)(a, 0, 8, rc, &mut r), NRT_INVALID, "a receive communicator");
        assert_eq!((e.nrt_async_sendrecv_send_tensor)(a, 0, 8, 0x99 as *mut _, &mut r), NRT_INVALID_HANDLE);
        assert_eq!((e.nrt_async_sendrecv_send_tensor)(a, 0, 8, sc, std::ptr::null_mut()), NRT_INVALID);
        assert_eq!((e.nrt_async_sendrecv_test_request)(0x99 as *mut _, &mut done, &mut n), NRT_INVALID_HANDLE);
        assert!(r.is_null());
        // a send racing an execution that writes the tensor is a hazard
        let m = l.load(&slow(200_000), 0);
        let x = l.dev(0, 64, "x");
        let mut st = 99u32;
        let seq = schedule(l, m, l.set(&[("x", x)]), l.set(&[("y", a)]), &mut st);
        assert_eq!((e.nrt_async_sendrecv_send_tensor)(a, 0, 64, sc, &mut sr), NRT_SUCCESS);
        assert_eq!((e.nrt_async_sendrecv_recv_tensor)(b, 0, 64, rc, &mut rr), NRT_SUCCESS);
        l.wait_seq(seq);
    }
    l.close();
    let r = read_report();
    assert_eq!(r["hazards"], 1, "{r}");
    assert!(r["hazard_examples"][0].as_str().unwrap().contains("nrt_async_sendrecv 'a'"), "{r}");
}

/// Every new call checks the session first: NRT_UNINITIALIZED, then NRT_CLOSED.
fn states(l: &Lib, e: &Escapes) {
    for want in [NRT_UNINITIALIZED, NRT_CLOSED] {
        let mut b = [0u8; 4];
        let mut va = std::ptr::null_mut();
        let (mut n, mut fd) = (0usize, 0);
        unsafe {
            assert_eq!((e.nrt_memcpy_to_device)(b.as_mut_ptr() as *mut c_void, b.as_ptr() as *const c_void, 4), want);
            assert_eq!((e.nrt_get_hbm_mmap_va)(0, 0, &mut va, &mut n), want);
            assert_eq!((e.nrt_get_dmabuf_fd)(1, 1, &mut fd), want);
            assert_eq!((e.nrt_barrier)(0, 0, 1), want);
            assert_eq!((e.nrt_profile_start)(std::ptr::null_mut(), std::ptr::null()), want);
            assert_eq!((e.nrt_profile_stop)(c"f".as_ptr()), want);
            assert_eq!((e.nrt_inspect_begin)(), want);
            assert_eq!((e.nrt_inspect_stop)(), want);
            let mut req = std::ptr::null_mut();
            assert_eq!(
                (e.nrt_async_sendrecv_send_tensor)(std::ptr::null_mut(), 0, 0, std::ptr::null_mut(), &mut req),
                want
            );
        }
        if want == NRT_UNINITIALIZED {
            l.init();
            l.close();
        }
    }
}

/// NRT_SIM_DEVICE_MEMORY still bounds device allocations (64 KiB here), and
/// freed memory can be allocated again.
fn limit(l: &Lib) {
    l.init();
    let a = l.dev(0, 40 << 10, "a");
    assert_eq!(l.alloc_st(NRT_TENSOR_PLACEMENT_DEVICE, 1, 30 << 10, "b").unwrap_err(), NRT_RESOURCE);
    let c = l.dev(1, 24 << 10, "c");
    l.free(a);
    let b = l.dev(0, 40 << 10, "b");
    assert_eq!(l.read(b, (40 << 10) - 4, 4), vec![0u8; 4]);
    l.free(b);
    l.free(c);
    // many small tensors: page rounding does not count against the limit
    let small: Vec<_> = (0..200).map(|k| l.dev(k % 2, 8, "s")).collect();
    for t in small {
        l.free(t);
    }
    l.close();
}

both!(cpu_write_through_va_racing_v3, cpu_write_through_va_racing_v2, "va_race", &[]);
both!(perftest_style_va_writes_clean_v3, perftest_style_va_writes_clean_v2, "va_clean", &[]);

/// A CPU write through a device tensor's address while an execution that
/// reads it is in flight: the oracle sees the bytes change under the op.
fn va_race(l: &Lib) {
    unsafe { std::env::set_var("NRT_SIM_REPORT", report_path()) };
    l.init();
    let m = l.load(&slow(200_000), 0);
    let (x, y) = (l.dev(0, 64, "in_x"), l.dev(0, 64, "out_y"));
    let (i, o) = (l.set(&[("x", x)]), l.set(&[("y", y)]));
    let xv = bytes(unsafe { (l.c.nrt_tensor_get_va)(x) }, 64);
    let yv = bytes(unsafe { (l.c.nrt_tensor_get_va)(y) }, 64);
    let mut st = 99u32;
    let seq = schedule(l, m, i, o, &mut st);
    // Racing the execution's read of in_x: stores from its scheduling (on an
    // idle queue the oracle looks from then on) until it completes, 200 ms of
    // modelled time later.
    let t = std::time::Instant::now();
    let mut k = 0u8;
    while !l.is_completed(seq).unwrap() {
        assert!(t.elapsed() < std::time::Duration::from_secs(10), "never completed");
        k = k.wrapping_add(1);
        // SAFETY: a plain store into the tensor's mapped bytes (volatile: each one happens).
        unsafe { std::ptr::write_volatile(&mut xv[3], k) };
        std::thread::sleep(std::time::Duration::from_micros(500));
    }
    yv[0] = 1; // after completion: no race
    l.close();
    let r = read_report();
    assert_eq!(r["hazards"], 1, "{r}");
    let ex = r["hazard_examples"][0].as_str().unwrap();
    assert!(ex.contains("through a device address") && ex.contains("in_x"), "{ex}");
}

/// perftest's pattern done right: write the input through its address, run,
/// read the output through its address, between executions only.
fn va_clean(l: &Lib) {
    unsafe { std::env::set_var("NRT_SIM_REPORT", report_path()) };
    l.init();
    let m = l.load(&slow(2_000), 1);
    let (x, y) = (l.dev(1, 64, "x"), l.dev(1, 64, "y"));
    let (i, o) = (l.set(&[("x", x)]), l.set(&[("y", y)]));
    let xv = bytes(unsafe { (l.c.nrt_tensor_get_va)(x) }, 64);
    let yv = bytes(unsafe { (l.c.nrt_tensor_get_va)(y) }, 64);
    for k in 0..5u8 {
        xv.fill(k);
        assert_eq!(l.exec(m, i, o), NRT_SUCCESS);
        assert_eq!(yv, &[k.wrapping_add(1); 64], "affine 1 1 of {k}");
        let mut st = 99u32;
        xv.fill(k + 10);
        let seq = schedule(l, m, i, o, &mut st);
        l.wait_seq(seq);
        assert_eq!(yv, &[k + 11; 64]);
    }
    l.close();
    let r = read_report();
    assert_eq!(r["hazards"], 0, "{r}");
}

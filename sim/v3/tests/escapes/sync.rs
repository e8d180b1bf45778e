//! Synchronisation points: nrt_barrier, the profiling and inspect brackets,
//! send/recv, and the session checks of every new call.

use super::common::*;
use super::{schedule, Escapes, COPY};
use nrt_sys::*;
use std::ffi::{c_int, c_void, CString};

pub(crate) fn barrier(l: &Lib, e: &Escapes) {
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

pub(crate) fn profile(l: &Lib, e: &Escapes) {
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

pub(crate) fn inspect(l: &Lib, e: &Escapes) {
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

pub(crate) fn sendrecv(l: &Lib, e: &Escapes) {
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
pub(crate) fn states(l: &Lib, e: &Escapes) {
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

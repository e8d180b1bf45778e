//! Integration tests of the nrt-sim C ABI (both generations). Each scenario runs
//! in a child process (the configuration is read once per process) under a
//! watchdog; see common/mod.rs.

mod common;

use common::*;
use nrt_sys::*;
use std::ffi::{c_int, c_void, CStr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const AFFINE: &str =
    "nrt-sim-model 1\nname aff\nlatency_us 200\ninput a 8\ninput b 4\noutput y 8\ncompute affine 3 5\n";
const COPY: &str = "nrt-sim-model 1\nname cp\nlatency_us 100\ninput x 16\noutput y 16\ncompute copy\n";

/// Entry point of the child processes: runs the scenario named in the environment.
#[test]
fn child_entry() {
    let Ok(name) = std::env::var(SCENARIO_VAR) else { return };
    let lib = Lib::open();
    match name.as_str() {
        "sync_basic" => sync_basic(&lib),
        "bad_inputs" => bad_inputs(&lib),
        "memory_limit" => memory_limit(&lib),
        "timing" => timing(&lib),
        "overlap" => overlap(&lib),
        "queue_full" => queue_full(&lib),
        "sync_frees_slot" => sync_frees_slot(&lib),
        "implicit" => implicit(&lib),
        "implicit_ignored" => implicit_ignored(&lib),
        "implicit_cap" => implicit_cap(&lib),
        "v3_async" => v3_async(&lib),
        "v3_fail" => v3_fail(&lib),
        "v2_async" => v2_async(&lib),
        "unrecoverable" => unrecoverable(&lib),
        "hazard" => hazard(&lib, true),
        "hazard_clean" => hazard(&lib, false),
        "report_at_exit" => report_at_exit(&lib),
        "fork_exit" => fork_in_flight(&lib, ForkChild::Exit),
        "fork_use" => fork_in_flight(&lib, ForkChild::Use),
        "generation_warning" => {
            lib.init();
            lib.close();
        }
        other => panic!("unknown scenario {other}"),
    }
    println!("scenario {name} passed");
}

// ====================================================================== parent-side tests

static TIMING: Mutex<()> = Mutex::new(());

#[test]
fn sync_api_v3() {
    run("sync_basic", Gen::V3, &[], 30);
}
#[test]
fn sync_api_v2() {
    run("sync_basic", Gen::V2, &[], 30);
}
#[test]
fn bad_inputs_v3() {
    run("bad_inputs", Gen::V3, &[], 30);
}
#[test]
fn bad_inputs_v2() {
    run("bad_inputs", Gen::V2, &[], 30);
}
#[test]
fn device_memory_limit() {
    run("memory_limit", Gen::V3, &[("NRT_SIM_DEVICE_MEMORY", "1M")], 30);
}
#[test]
fn timing_2000us_x20() {
    let _g = TIMING.lock().unwrap_or_else(|e| e.into_inner());
    run("timing", Gen::V3, &[], 60);
}
#[test]
fn two_units_overlap() {
    let _g = TIMING.lock().unwrap_or_else(|e| e.into_inner());
    run("overlap", Gen::V3, &[], 30);
}
#[test]
fn queue_full_status() {
    run("queue_full", Gen::V3, &[("NRT_SIM_QUEUE_DEPTH", "2")], 30);
}
#[test]
fn a_returned_sync_call_has_left_its_queue() {
    run("sync_frees_slot", Gen::V3, &[("NRT_SIM_QUEUE_DEPTH", "1")], 30);
}
#[test]
fn implicit_mode_230() {
    let _g = TIMING.lock().unwrap_or_else(|e| e.into_inner());
    run("implicit", Gen::V3, &[("NRT_SIM_RUNTIME", "2.30"), ("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS", "2")], 30);
}
#[test]
fn implicit_mode_230_v2() {
    let _g = TIMING.lock().unwrap_or_else(|e| e.into_inner());
    run("implicit", Gen::V2, &[("NRT_SIM_RUNTIME", "2.30"), ("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS", "2")], 30);
}
#[test]
fn implicit_variable_ignored_from_231() {
    let o = run(
        "implicit_ignored",
        Gen::V3,
        &[("NRT_SIM_RUNTIME", "2.31"), ("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS", "3")],
        30,
    );
    assert_eq!(o.stderr.matches("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS=3 is ignored").count(), 1, "{}", o.stderr);
}
#[test]
fn implicit_variable_ignored_by_default() {
    run("implicit_ignored", Gen::V3, &[("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS", "3")], 30);
}
#[test]
fn implicit_depth_capped_at_63() {
    let o = run(
        "implicit_cap",
        Gen::V3,
        &[("NRT_SIM_RUNTIME", "2.30"), ("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS", "100")],
        30,
    );
    assert!(o.stderr.contains("using 63"), "{}", o.stderr);
}
#[test]
fn v3_explicit_async() {
    run("v3_async", Gen::V3, &[], 30);
}
#[test]
fn v3_failed_requests() {
    run("v3_fail", Gen::V3, &[("NRT_SIM_FAIL_EVERY", "2"), ("NRT_SIM_FAIL_STATUS", "1005")], 30);
}
#[test]
fn v2_explicit_async_and_failures() {
    run("v2_async", Gen::V2, &[("NRT_SIM_FAIL_EVERY", "2")], 30);
}
#[test]
fn unrecoverable_unit_v3() {
    run("unrecoverable", Gen::V3, &[("NRT_SIM_UNRECOVERABLE_AFTER", "2")], 30);
}
#[test]
fn unrecoverable_unit_v2() {
    run("unrecoverable", Gen::V2, &[("NRT_SIM_UNRECOVERABLE_AFTER", "2")], 30);
}
#[test]
fn hazard_oracle_counts_racy_read() {
    run("hazard", Gen::V3, &[], 30);
}
#[test]
fn hazard_oracle_correct_program_counts_zero() {
    run("hazard_clean", Gen::V3, &[], 30);
}
#[test]
fn hazard_oracle_v2() {
    run("hazard", Gen::V2, &[], 30);
}
#[test]
fn report_written_at_exit() {
    let o = run("report_at_exit", Gen::V3, &[], 30);
    check_report_at_exit(o.report.as_deref());
}
const FORK_ENV: &[(&str, &str)] = &[("NRT_SIM_QUEUE_DEPTH", "32")];
#[test]
fn fork_in_flight_child_exits_v3() {
    run("fork_exit", Gen::V3, FORK_ENV, 60);
}
#[test]
fn fork_in_flight_child_exits_v2() {
    run("fork_exit", Gen::V2, FORK_ENV, 60);
}
#[test]
fn fork_in_flight_child_uses_runtime_v3() {
    run("fork_use", Gen::V3, FORK_ENV, 60);
}
#[test]
fn fork_in_flight_child_uses_runtime_v2() {
    run("fork_use", Gen::V2, FORK_ENV, 60);
}
#[test]
fn generation_mismatch_warns() {
    let o = run("generation_warning", Gen::V3, &[("NRT_SIM_ASYNC_ABI", "2")], 30);
    assert!(o.stderr.contains("lib-v2/"), "{}", o.stderr);
    assert!(o.stderr.lines().all(|l| l.starts_with("nrt-sim:")), "{}", o.stderr);
    let o = run("generation_warning", Gen::V2, &[("NRT_SIM_ASYNC_ABI", "2")], 30);
    assert!(!o.stderr.contains("lib-v2/"), "{}", o.stderr);
}

// ====================================================================== scenarios

fn sync_basic(l: &Lib) {
    unsafe {
        // version works before init and reports the emulated SDK
        let mut v = nrt_version_t::default();
        assert_eq!((l.c.nrt_get_version)(&mut v, std::mem::size_of::<nrt_version_t>()), NRT_SUCCESS);
        assert_eq!((v.rt_major, v.rt_minor), (2, 32));
        let detail = CStr::from_ptr(v.rt_detail.as_ptr()).to_string_lossy().into_owned();
        assert!(detail.contains("nrt-sim") && detail.contains("2.32"), "{detail}");
        assert_eq!(l.status_str(NRT_EXEC_UNIT_UNRECOVERABLE), "NRT_EXEC_UNIT_UNRECOVERABLE");
        assert_eq!(l.status_str(NRT_SUCCESS), "NRT_SUCCESS");
        assert_eq!(l.status_str(99999), "NRT_UNKNOWN_STATUS");

        l.init();
        assert_eq!(
            (l.c.nrt_init)(NRT_FRAMEWORK_TYPE_NO_FW, std::ptr::null(), std::ptr::null()),
            NRT_FAILURE,
            "double init"
        );
        let mut n = 0u32;
        assert_eq!((l.c.nrt_get_total_vnc_count)(&mut n), NRT_SUCCESS);
        assert_eq!(n, 2);
        n = 0;
        assert_eq!((l.c.nrt_get_visible_nc_count)(&mut n), NRT_SUCCESS);
        assert_eq!(n, 2);

        // models: tensor info, model info, vnc -1 balancing
        let m = l.load(AFFINE, -1);
        let mut info: *mut nrt_tensor_info_array_t = std::ptr::null_mut();
        assert_eq!((l.c.nrt_get_model_tensor_info)(m, &mut info), NRT_SUCCESS);
        assert_eq!((*info).tensor_count, 3);
        let arr = std::slice::from_raw_parts((*info).tensor_array.as_ptr(), 3);
        let names: Vec<String> =
            arr.iter().map(|t| CStr::from_ptr(t.name.as_ptr()).to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["a", "b", "y"]);
        assert_eq!(
            arr.iter().map(|t| t.usage).collect::<Vec<_>>(),
            [NRT_TENSOR_USAGE_INPUT, NRT_TENSOR_USAGE_INPUT, NRT_TENSOR_USAGE_OUTPUT]
        );
        assert_eq!(arr.iter().map(|t| t.size).collect::<Vec<_>>(), [8, 4, 8]);
        assert!(arr.iter().all(|t| t.dtype == NRT_DTYPE_UINT8 && t.ndim == 1));
        assert_eq!(*arr[1].shape, 4);
        assert_eq!((l.c.nrt_free_model_tensor_info)(info), NRT_SUCCESS);
        assert_eq!((l.c.nrt_free_model_tensor_info)(info), NRT_INVALID_HANDLE, "double free of tensor info");
        let mut mi = nrt_model_info_t { vnc: 99 };
        let mut so = 0usize;
        assert_eq!((l.c.nrt_get_model_info)(m, &mut mi, std::mem::size_of::<nrt_model_info_t>(), &mut so), NRT_SUCCESS);
        assert_eq!((mi.vnc, so), (0, 4));
        let mut vc = 0;
        assert_eq!((l.c.nrt_get_model_vnc_count)(m, &mut vc), NRT_SUCCESS);
        assert_eq!(vc, 1);
        let m2 = l.load(COPY, -1);
        assert_eq!((l.c.nrt_get_model_info)(m2, &mut mi, 4, &mut so), NRT_SUCCESS);
        assert_eq!(mi.vnc, 1, "vnc -1 picks the core with the fewest models");
        assert_eq!(l.load_text(AFFINE, 2).unwrap_err(), NRT_LOAD_NOT_ENOUGH_NC);
        let neff = vec![0x4eu8; 2048];
        let mut mm = std::ptr::null_mut();
        assert_eq!(
            (l.c.nrt_load)(neff.as_ptr() as *const c_void, neff.len(), 0, -1, &mut mm),
            NRT_UNSUPPORTED_NEFF_VERSION
        );
        assert_eq!(l.load_text("nrt-sim-model 1\nname x\nbogus\n", 0).unwrap_err(), NRT_INVALID);
        let mc = {
            let mut mc = std::ptr::null_mut();
            let t = COPY.replace("cp", "cp2");
            assert_eq!(
                (l.c.nrt_load_collectives)(t.as_ptr() as *const c_void, t.len(), 0, -1, 0, 1, &mut mc),
                NRT_SUCCESS
            );
            mc
        };
        assert_eq!((l.c.nrt_unload)(mc), NRT_SUCCESS);
        assert_eq!((l.c.nrt_unload)(mc), NRT_INVALID_HANDLE);

        // sync execution with device tensors, affine compute
        let a = l.dev(0, 8, "a");
        let b = l.dev(0, 4, "b");
        let y = l.dev(0, 8, "y");
        let av = [1u8, 2, 3, 4, 250, 251, 252, 253];
        let bv = [10u8, 20, 30, 40];
        assert_eq!(l.write(a, 0, &av), NRT_SUCCESS);
        assert_eq!(l.write(b, 0, &bv), NRT_SUCCESS);
        let ins = l.set(&[("a", a), ("b", b), ("extra", b)]);
        let outs = l.set(&[("y", y)]);
        let mut got = std::ptr::null_mut();
        assert_eq!((l.c.nrt_get_tensor_from_tensor_set)(ins, c"b".as_ptr(), &mut got), NRT_SUCCESS);
        assert_eq!(got, b);
        assert_eq!((l.c.nrt_get_tensor_from_tensor_set)(ins, c"zz".as_ptr(), &mut got), NRT_INVALID);
        assert_eq!(l.exec(m, ins, outs), NRT_SUCCESS);
        assert_eq!(l.read(y, 0, 8), affine_expect(3, 5, &[&av, &bv], 8));
        assert_eq!((l.c.nrt_tensor_check_output_completion)(y, 0, 1), NRT_SUCCESS);
        assert_eq!((l.c.nrt_tensor_check_output_completion)(y, 1000, 2), NRT_TIMEOUT);
        assert_eq!((l.c.nrt_execute_repeat)(m, ins, outs, 3), NRT_SUCCESS);
        assert_eq!((l.c.nrt_tensor_check_output_completion)(y, -1, 4), NRT_SUCCESS);
        assert_eq!((l.c.nrt_tensor_reset_output_completion)(y), NRT_SUCCESS);
        assert_eq!((l.c.nrt_tensor_check_output_completion)(y, 0, 1), NRT_TIMEOUT);

        // sync execution with host tensors (accepted by the sync path), copy model on core 1
        let hx = l.host(16, "hx");
        let hy = l.host(16, "hy");
        let data: Vec<u8> = (0..16).collect();
        let va = (l.c.nrt_tensor_get_va)(hx) as *mut u8;
        assert!(!va.is_null());
        std::ptr::copy_nonoverlapping(data.as_ptr(), va, 16);
        let (ci, co) = (l.set(&[("x", hx)]), l.set(&[("y", hy)]));
        assert_eq!(l.exec(m2, ci, co), NRT_SUCCESS);
        assert_eq!(l.read(hy, 0, 16), data);
        // attached buffers and empty tensors
        let mut buf = vec![7u8; 16];
        let mut e = std::ptr::null_mut();
        assert_eq!((l.c.nrt_tensor_allocate_empty)(c"e".as_ptr(), &mut e), NRT_SUCCESS);
        assert_eq!((l.c.nrt_tensor_get_size)(e), 0);
        assert_eq!((l.c.nrt_tensor_attach_buffer)(e, buf.as_mut_ptr() as *mut c_void, 16), NRT_SUCCESS);
        assert_eq!((l.c.nrt_tensor_get_size)(e), 16);
        assert_eq!((l.c.nrt_tensor_get_va)(e) as *mut u8, buf.as_mut_ptr());
        let ei = l.set(&[("x", e)]);
        assert_eq!(l.exec(m2, ei, co), NRT_SUCCESS);
        assert_eq!(l.read(hy, 0, 16), vec![7u8; 16]);
        assert_eq!(l.write(e, 2, &[1, 2]), NRT_SUCCESS);
        assert_eq!(&buf[..4], &[7, 7, 1, 2]);

        // slices alias their source
        let d = l.dev(1, 32, "d");
        let mut s = std::ptr::null_mut();
        assert_eq!((l.c.nrt_tensor_allocate_slice)(d, 8, 16, c"s".as_ptr(), &mut s), NRT_SUCCESS);
        assert_eq!((l.c.nrt_tensor_get_size)(s), 16);
        assert_eq!(l.write(s, 0, &[9u8; 16]), NRT_SUCCESS);
        let full = l.read(d, 0, 32);
        assert_eq!(&full[..8], &[0u8; 8]);
        assert_eq!(&full[8..24], &[9u8; 16]);
        assert_eq!(&full[24..], &[0u8; 8]);
        let mut s2 = std::ptr::null_mut();
        assert_eq!((l.c.nrt_tensor_allocate_slice)(d, 20, 16, c"s2".as_ptr(), &mut s2), NRT_INVALID);
        // the storage lives until its last tensor is freed
        l.free(d);
        assert_eq!(l.read(s, 0, 16), vec![9u8; 16]);
        // execution through a slice on core 1
        let sy = l.dev(1, 16, "sy");
        let (si, sout) = (l.set(&[("x", s)]), l.set(&[("y", sy)]));
        assert_eq!(l.exec(m2, si, sout), NRT_SUCCESS);
        assert_eq!(l.read(sy, 0, 16), vec![9u8; 16]);

        // get_va / device allocation info
        assert!((l.c.nrt_tensor_get_va)(a).is_null(), "device memory is not mapped without NEURON_RT_MAP_HBM");
        let mut ai = nrt_tensor_device_allocation_info_t::default();
        assert_eq!((l.c.nrt_tensor_get_device_allocation_info)(a, &mut ai), NRT_SUCCESS);
        assert!(ai.physical_address != 0 && ai.size == 8 && ai.hbm_index == 0);
        assert_eq!((l.c.nrt_tensor_get_device_allocation_info)(hx, &mut ai), NRT_INVALID);
        // 2.30 removed the VIRTUAL placement (the default runtime is 2.32; tests/fidelity.rs: before 2.30)
        assert_eq!(l.alloc_st(NRT_TENSOR_PLACEMENT_VIRTUAL, -1, 8, "v").unwrap_err(), NRT_INVALID);

        // memset, copy, batch
        assert_eq!((l.c.nrt_tensor_memset)(y, 2, 0xab, 4), NRT_SUCCESS);
        assert_eq!(&l.read(y, 2, 4), &[0xab; 4]);
        assert_eq!((l.c.nrt_tensor_copy)(a, 0, y, 0, 8), NRT_SUCCESS);
        assert_eq!(l.read(y, 0, 8), av);
        assert_eq!((l.c.nrt_tensor_copy)(hx, 0, y, 0, 8), NRT_SUCCESS, "host -> device copy");
        assert_eq!(l.read(y, 0, 8), &data[..8]);
        assert_eq!((l.c.nrt_tensor_copy)(hx, 4, hy, 0, 4), NRT_SUCCESS, "host -> host copy");
        assert_eq!(l.read(hy, 0, 4), &data[4..8]);
        let mut r1 = [0u8; 4];
        let mut r2 = [0u8; 2];
        let ops = [
            nrt_tensor_batch_op_t { offset: 0, size: 4, buffer: r1.as_mut_ptr() as *mut c_void },
            nrt_tensor_batch_op_t { offset: 6, size: 2, buffer: r2.as_mut_ptr() as *mut c_void },
        ];
        let batch = [nrt_tensor_batch_t { tensor: a, ops: ops.as_ptr(), num_ops: 2 }];
        assert_eq!((l.c.nrt_tensor_read_batch)(batch.as_ptr(), 1, false), NRT_SUCCESS);
        assert_eq!((r1, r2), ([1, 2, 3, 4], [252, 253]));
        let mut w = [5u8; 4];
        let wops = [nrt_tensor_batch_op_t { offset: 4, size: 4, buffer: w.as_mut_ptr() as *mut c_void }];
        let wb = [nrt_tensor_batch_t { tensor: a, ops: wops.as_ptr(), num_ops: 1 }];
        assert_eq!((l.c.nrt_tensor_write_batch)(wb.as_ptr(), 1, true), NRT_SUCCESS);
        assert_eq!(l.read(a, 0, 8), [1, 2, 3, 4, 5, 5, 5, 5]);

        // leftovers outside implicit mode: harmless
        assert_eq!((l.c.nrt_async_drain_queued_execs)(0), NRT_SUCCESS);
        assert_eq!((l.c.nrt_async_drain_queued_execs)(5), NRT_INVALID);

        // cleanup, close, use after close, re-init
        let mut ins2 = ins;
        (l.c.nrt_destroy_tensor_set)(&mut ins2);
        assert!(ins2.is_null());
        assert_eq!(l.exec(m, ins, outs), NRT_INVALID_HANDLE, "destroyed set");
        assert_eq!((l.c.nrt_unload)(m), NRT_SUCCESS);
        l.close();
        assert_eq!(l.exec(m, ins, outs), NRT_CLOSED);
        assert_eq!((l.c.nrt_get_total_vnc_count)(&mut n), NRT_CLOSED);
        (l.c.nrt_close)(); // twice: a log line only
        l.init();
        assert_eq!(l.exec(m2, ci, co), NRT_INVALID_HANDLE, "handles do not survive close");
        let m3 = l.load(COPY, 0);
        let x = l.dev(0, 16, "x");
        let (i3, o3) = (l.set(&[("x", x)]), l.set(&[("y", x)]));
        assert_eq!(l.exec(m3, i3, o3), NRT_SUCCESS);
        l.close();
    }
}

fn bad_inputs(l: &Lib) {
    unsafe {
        let mut n = 0u32;
        let mut t = std::ptr::null_mut();
        // 1) state
        assert_eq!((l.c.nrt_get_total_vnc_count)(&mut n), NRT_UNINITIALIZED);
        assert_eq!(l.alloc_st(NRT_TENSOR_PLACEMENT_DEVICE, 0, 8, "t").unwrap_err(), NRT_UNINITIALIZED);
        assert_eq!(l.is_completed(1 << 48 | 1).unwrap_err(), NRT_UNINITIALIZED);
        assert_eq!((l.c.nrt_tensor_get_size)(0x1000 as *const nrt_tensor_t), 0);
        (l.c.nrt_tensor_free)(&mut t);
        if let Some(v3) = &l.v3 {
            let mut s = 0u64;
            assert_eq!((v3.nrta_get_sequence)(0, 1, 0, &mut s), NRT_UNINITIALIZED);
        }
        if let Some(v2) = &l.v2 {
            let mut tr = std::ptr::null_mut();
            assert_eq!((v2.nrta_error_tracker_create)(0, &mut tr), NRT_UNINITIALIZED);
        }
        l.init();
        // 2) NULL pointers
        assert_eq!((l.c.nrt_get_total_vnc_count)(std::ptr::null_mut()), NRT_INVALID);
        assert_eq!(
            (l.c.nrt_tensor_allocate)(NRT_TENSOR_PLACEMENT_DEVICE, 0, 8, c"t".as_ptr(), std::ptr::null_mut()),
            NRT_INVALID
        );
        assert_eq!((l.c.nrt_load)(std::ptr::null(), 10, 0, -1, &mut std::ptr::null_mut()), NRT_INVALID);
        assert_eq!((l.c.nrt_execute)(std::ptr::null_mut(), std::ptr::null(), std::ptr::null_mut()), NRT_INVALID);
        assert_eq!((l.c.nrt_get_version)(std::ptr::null_mut(), 10), NRT_INVALID);
        let a = l.dev(0, 8, "a");
        assert_eq!((l.c.nrt_tensor_read)(a, std::ptr::null_mut(), 0, 4), NRT_INVALID);
        assert_eq!((l.c.nrt_tensor_read)(a, std::ptr::null_mut(), 0, 0), NRT_SUCCESS, "NULL buffer of size 0");
        assert_eq!((l.c.nrt_tensor_write)(std::ptr::null_mut(), [0u8].as_ptr() as *const c_void, 0, 1), NRT_INVALID);
        assert_eq!((l.c.nrt_allocate_tensor_set)(std::ptr::null_mut()), NRT_INVALID);
        assert_eq!((l.c.nrt_tensor_read_batch)(std::ptr::null(), 1, false), NRT_INVALID);
        assert_eq!((l.c.nrt_register_async_exec_callback)(None, std::ptr::null_mut()), NRT_INVALID);
        assert_eq!((l.c.nrta_is_completed)(1, std::ptr::null_mut()), NRT_INVALID);
        assert!((l.c.nrt_tensor_get_va)(std::ptr::null()).is_null());
        (l.c.nrt_tensor_free)(std::ptr::null_mut());
        (l.c.nrt_destroy_tensor_set)(std::ptr::null_mut());
        // 3) unknown / freed handles
        let bogus = 0xdead_0000usize as *mut nrt_tensor_t;
        let mut buf = [0u8; 8];
        assert_eq!((l.c.nrt_tensor_read)(bogus, buf.as_mut_ptr() as *mut c_void, 0, 4), NRT_INVALID_HANDLE);
        let f = l.dev(0, 8, "f");
        l.free(f);
        assert_eq!((l.c.nrt_tensor_read)(f, buf.as_mut_ptr() as *mut c_void, 0, 4), NRT_INVALID_HANDLE);
        let mut f2 = f;
        (l.c.nrt_tensor_free)(&mut f2); // double free: a log line
        assert!(f2.is_null());
        assert_eq!((l.c.nrt_tensor_get_size)(f), 0);
        assert_eq!((l.c.nrt_unload)(0x1234 as *mut nrt_model_t), NRT_INVALID_HANDLE);
        assert_eq!((l.c.nrt_unload)(a as *mut nrt_model_t), NRT_INVALID_HANDLE, "a tensor is not a model");
        let s = l.set(&[]);
        assert_eq!((l.c.nrt_add_tensor_to_tensor_set)(s, c"x".as_ptr(), f), NRT_INVALID_HANDLE);
        assert_eq!((l.c.nrt_add_tensor_to_tensor_set)(bogus as *mut c_void, c"x".as_ptr(), a), NRT_INVALID_HANDLE);
        assert_eq!(l.is_completed(0xffff_0000_0000_0001).unwrap_err(), NRT_INVALID);
        assert_eq!(l.is_completed(1).unwrap_err(), NRT_INVALID, "never issued");
        // 4) ranges
        assert_eq!((l.c.nrt_tensor_read)(a, buf.as_mut_ptr() as *mut c_void, 4, 5), NRT_INVALID);
        assert_eq!((l.c.nrt_tensor_read)(a, buf.as_mut_ptr() as *mut c_void, usize::MAX, 2), NRT_INVALID, "overflow");
        assert_eq!((l.c.nrt_tensor_read)(a, buf.as_mut_ptr() as *mut c_void, 8, 0), NRT_SUCCESS, "size 0 at the end");
        assert_eq!((l.c.nrt_tensor_read)(a, buf.as_mut_ptr() as *mut c_void, 9, 0), NRT_INVALID);
        assert_eq!((l.c.nrt_tensor_memset)(a, 7, 0, 2), NRT_INVALID);
        assert_eq!((l.c.nrt_tensor_copy)(a, 0, a, 4, 5), NRT_INVALID);
        assert_eq!(l.alloc_st(NRT_TENSOR_PLACEMENT_DEVICE, 2, 8, "t").unwrap_err(), NRT_INVALID, "vnc >= cores");
        assert_eq!(
            l.alloc_st(NRT_TENSOR_PLACEMENT_DEVICE, -1, 8, "t").unwrap_err(),
            NRT_INVALID,
            "device tensor without core"
        );
        assert_eq!(l.alloc_st(7, 0, 8, "t").unwrap_err(), NRT_INVALID, "bad placement");
        // empty tensors in I/O
        let mut e = std::ptr::null_mut();
        assert_eq!((l.c.nrt_tensor_allocate_empty)(c"e".as_ptr(), &mut e), NRT_SUCCESS);
        assert_eq!((l.c.nrt_tensor_read)(e, buf.as_mut_ptr() as *mut c_void, 0, 1), NRT_INVALID);
        assert_eq!((l.c.nrt_tensor_attach_buffer)(a, buf.as_mut_ptr() as *mut c_void, 8), NRT_INVALID, "device tensor");
        // 5) wrong core
        let b1 = l.dev(1, 8, "b1");
        assert_eq!((l.c.nrt_tensor_copy)(a, 0, b1, 0, 4), NRT_INVALID);
        let m = l.load(COPY, 0);
        let x0 = l.dev(0, 16, "x0");
        let x1 = l.dev(1, 16, "x1");
        let y0 = l.dev(0, 16, "y0");
        let small = l.dev(0, 8, "small");
        let o = l.set(&[("y", y0)]);
        assert_eq!(l.exec(m, l.set(&[("x", x1)]), o), NRT_INVALID, "input on another core");
        assert_eq!(l.exec(m, l.set(&[("z", x0)]), o), NRT_INVALID, "missing input");
        assert_eq!(l.exec(m, l.set(&[("x", small)]), o), NRT_INVALID, "wrong size");
        assert_eq!(l.exec(m, l.set(&[("x", e)]), o), NRT_INVALID, "no storage");
        let gone = l.dev(0, 16, "gone");
        let gs = l.set(&[("x", gone)]);
        l.free(gone);
        assert_eq!(l.exec(m, gs, o), NRT_INVALID_HANDLE, "freed tensor in the set");
        assert_eq!((l.c.nrt_execute_repeat)(m, l.set(&[("x", x0)]), o, 0), NRT_INVALID);
        assert_eq!(l.exec(m, l.set(&[("x", x0)]), o), NRT_SUCCESS);
        assert_eq!((l.c.nrt_get_model_tensor_info)(m, std::ptr::null_mut()), NRT_INVALID);
        // async API bad inputs
        if let Some(v3) = &l.v3 {
            let (mut st, mut seq) = (0u32, 0u64);
            let i = l.set(&[("x", x0)]);
            assert_eq!((v3.nrta_execute_schedule)(m, i, o, 0, std::ptr::null_mut(), &mut seq), NRT_INVALID, "NULL ret");
            assert_eq!((v3.nrta_execute_schedule)(m, i, o, 0, &mut st, std::ptr::null_mut()), NRT_INVALID, "NULL seq");
            assert_eq!((v3.nrta_execute_schedule)(m, i, o, 1, &mut st, &mut seq), NRT_INVALID, "compute has one queue");
            assert_eq!(
                (v3.nrta_execute_schedule)(bogus as *mut nrt_model_t, i, o, 0, &mut st, &mut seq),
                NRT_INVALID_HANDLE
            );
            assert_eq!(
                (v3.nrta_tensor_read)(buf.as_mut_ptr() as *mut c_void, x0, 0, 4, 0, 2, &mut st, &mut seq),
                NRT_INVALID,
                "tensor_op has two queues"
            );
            assert_eq!(
                (v3.nrta_tensor_read)(buf.as_mut_ptr() as *mut c_void, x0, 0, 4, 2, 0, &mut st, &mut seq),
                NRT_INVALID,
                "lnc 2"
            );
            assert_eq!(
                (v3.nrta_tensor_read)(buf.as_mut_ptr() as *mut c_void, x0, 0, 4, 1, 0, &mut st, &mut seq),
                NRT_INVALID,
                "tensor not on lnc"
            );
            assert_eq!(
                (v3.nrta_tensor_read)(buf.as_mut_ptr() as *mut c_void, x0, 14, 4, 0, 0, &mut st, &mut seq),
                NRT_INVALID,
                "range"
            );
            assert_eq!(
                (v3.nrta_tensor_read)(buf.as_mut_ptr() as *mut c_void, bogus, 0, 4, 0, 0, &mut st, &mut seq),
                NRT_INVALID_HANDLE
            );
            assert_eq!(
                (v3.nrta_tensor_copy)(x0, 0, x1, 0, 4, 0, 0, &mut st, &mut seq),
                NRT_INVALID,
                "copy across cores"
            );
            assert_eq!((v3.nrta_get_sequence)(0, 3, 0, &mut seq), NRT_INVALID, "unit type");
            assert_eq!((v3.nrta_get_sequence)(0, 2, 3, &mut seq), NRT_INVALID, "collectives have three queues");
            assert_eq!((v3.nrta_get_sequence)(0, 2, 2, &mut seq), NRT_SUCCESS);
            assert_eq!((v3.nrta_event_register_seq_id_completion)(12345, 0), NRT_INVALID);
            assert_eq!((v3.nrta_cc_schedule)(std::ptr::null_mut(), 0, std::ptr::null_mut(), &mut seq), NRT_INVALID);
        }
        if let Some(v2) = &l.v2 {
            let mut seq = 0u64;
            let i = l.set(&[("x", x0)]);
            assert_eq!((v2.nrta_execute_schedule)(m, i, o, 1, std::ptr::null_mut(), &mut seq), NRT_INVALID);
            assert_eq!(
                (v2.nrta_execute_schedule)(m, i, o, 0, 0x77 as *mut _, &mut seq),
                NRT_INVALID_HANDLE,
                "unknown tracker"
            );
            assert_eq!(
                (v2.nrta_tensor_read)(buf.as_mut_ptr() as *mut c_void, x0, 0, 4, 1, std::ptr::null_mut(), &mut seq),
                NRT_INVALID
            );
            let h = l.host(16, "h");
            assert_eq!(
                (v2.nrta_tensor_read)(buf.as_mut_ptr() as *mut c_void, h, 0, 4, 0, std::ptr::null_mut(), &mut seq),
                NRT_INVALID,
                "host tensor"
            );
            assert_eq!((v2.nrta_get_sequence)(0, 5, 0, &mut seq), NRT_INVALID);
            assert_eq!((v2.nrta_get_sequence)(0, 4, 1, &mut seq), NRT_INVALID);
            let mut fd = -1;
            assert_eq!((v2.nrta_get_completion_handle)(99, &mut fd), NRT_INVALID);
            let mut tr = std::ptr::null_mut();
            assert_eq!((v2.nrta_error_tracker_create)(5, &mut tr), NRT_INVALID);
            assert_eq!((v2.nrta_error_tracker_create)(0, std::ptr::null_mut()), NRT_INVALID);
            let (mut lp, mut cnt) = (std::ptr::null(), 0usize);
            assert_eq!((v2.nrta_error_tracker_get_list)(0x99 as *mut _, &mut lp, &mut cnt), NRT_INVALID_HANDLE);
            (v2.nrta_error_tracker_destroy)(0x99 as *mut _);
            (v2.nrta_error_tracker_destroy)(std::ptr::null_mut());
        }
        let mut ctx = std::ptr::null_mut();
        assert_eq!(
            (l.c.nrta_cc_prepare)(std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut(), 0, 0, 0, &mut ctx),
            NRT_INVALID
        );
        l.close();
        assert_eq!(l.alloc_st(NRT_TENSOR_PLACEMENT_HOST, -1, 8, "t").unwrap_err(), NRT_CLOSED);
        assert_eq!(l.is_completed(1).unwrap_err(), NRT_CLOSED);
    }
}

fn memory_limit(l: &Lib) {
    l.init();
    let a = l.dev(0, 600 << 10, "a");
    assert_eq!(l.alloc_st(NRT_TENSOR_PLACEMENT_DEVICE, 1, 600 << 10, "b").unwrap_err(), NRT_RESOURCE);
    let h = l.host(2 << 20, "host is not counted");
    l.free(a);
    let b = l.dev(1, 600 << 10, "b");
    let mut s = std::ptr::null_mut();
    // a slice does not count again
    assert_eq!(unsafe { (l.c.nrt_tensor_allocate_slice)(b, 0, 100, c"s".as_ptr(), &mut s) }, NRT_SUCCESS);
    let c = l.dev(0, 400 << 10, "c");
    assert_eq!(l.alloc_st(NRT_TENSOR_PLACEMENT_DEVICE, 0, 100 << 10, "d").unwrap_err(), NRT_RESOURCE);
    l.free(b);
    // the slice keeps the storage (and its memory) alive
    assert_eq!(l.alloc_st(NRT_TENSOR_PLACEMENT_DEVICE, 0, 100 << 10, "d").unwrap_err(), NRT_RESOURCE);
    l.free(s);
    let d = l.dev(0, 100 << 10, "d");
    l.free(c);
    l.free(d);
    l.free(h);
    l.close();
}

fn timing(l: &Lib) {
    l.init();
    let v3 = l.v3();
    let m = l.load_file("affine2k.model", 0);
    let a = l.dev(0, 1024, "a");
    let b = l.dev(0, 256, "b");
    let y = l.dev(0, 1024, "y");
    let (i, o) = (l.set(&[("a", a), ("b", b)]), l.set(&[("y", y)]));
    assert_eq!(l.exec(m, i, o), NRT_SUCCESS); // warm up the worker
                                              // Back-to-back (queued) executions: 40 ms within 10%.
    let within = |d: f64| (36.0..=44.0).contains(&d);
    // 20 synchronous calls add the host's per-call overhead (two thread wake-ups per
    // call: ~0.1 ms in release, more in debug builds and on a loaded machine). That
    // is host time, not device time: checked loosely, and printed.
    let sync_max = 80.0;
    let mut last = (0.0, 0.0, 0.0);
    for attempt in 1..=3 {
        let t = Instant::now();
        assert_eq!(unsafe { (l.c.nrt_execute_repeat)(m, i, o, 20) }, NRT_SUCCESS);
        let rep = ms(t.elapsed());
        // 20 explicit-async requests kept queued (retry on NRT_QUEUE_FULL)
        let t = Instant::now();
        let mut rets = [0u32; 20];
        let mut seq = 0u64;
        for r in rets.iter_mut() {
            loop {
                match unsafe { (v3.nrta_execute_schedule)(m, i, o, 0, r, &mut seq) } {
                    NRT_SUCCESS => break,
                    NRT_QUEUE_FULL => std::thread::sleep(Duration::from_micros(200)),
                    s => panic!("nrta_execute_schedule: {s}"),
                }
            }
        }
        l.wait_seq(seq);
        let asy = ms(t.elapsed());
        let t = Instant::now();
        for _ in 0..20 {
            assert_eq!(l.exec(m, i, o), NRT_SUCCESS);
        }
        let sync = ms(t.elapsed());
        println!("attempt {attempt}: nrt_execute_repeat(20) {rep:.2} ms, 20 queued nrta_execute_schedule {asy:.2} ms, 20 x nrt_execute {sync:.2} ms");
        last = (rep, asy, sync);
        if within(rep) && within(asy) && (36.0..=sync_max).contains(&sync) {
            l.close();
            return;
        }
    }
    panic!(
        "20 x 2000 us took {:.2} ms (repeat) / {:.2} ms (async) / {:.2} ms (sync): expected 40 ms +- 10%",
        last.0, last.1, last.2
    );
}

/// Independent units run in parallel. Checked by order, with margins a loaded
/// machine cannot eat (a wall-clock limit near the modelled time failed about 1
/// run in 5 under two CPU hogs): two 200 ms executions on two cores take well
/// under the 400 ms they would take one after the other, and a 125 us transfer
/// queued behind nothing completes while the 200 ms execution on another unit
/// of its core is still running.
fn overlap(l: &Lib) {
    l.init();
    let text = slow(200_000);
    let m0 = l.load(&text, 0);
    let m1 = l.load(&text, 1);
    let mk = |c: i32| {
        let x = l.dev(c, 64, "x");
        let y = l.dev(c, 64, "y");
        (l.set(&[("x", x)]), l.set(&[("y", y)]))
    };
    let (i0, o0) = mk(0);
    let (i1, o1) = mk(1);
    // sync, from two threads: the two cores' compute units run in parallel
    let t = Instant::now();
    std::thread::scope(|s| {
        let (i0, o0, i1, o1, m0, m1) = (i0 as usize, o0 as usize, i1 as usize, o1 as usize, m0 as usize, m1 as usize);
        s.spawn(move || assert_eq!(l.exec(m0 as _, i0 as _, o0 as _), NRT_SUCCESS));
        s.spawn(move || assert_eq!(l.exec(m1 as _, i1 as _, o1 as _), NRT_SUCCESS));
    });
    let both = ms(t.elapsed());
    println!("two 200 ms executions on two cores: {both:.2} ms");
    assert!((190.0..340.0).contains(&both), "two units did not overlap: {both:.2} ms (serial: 400 ms)");
    // async: compute and a tensor transfer on the same core overlap too
    let v3 = l.v3();
    let (mut r0, mut r1, mut s0, mut s1) = (0u32, 0u32, 0u64, 0u64);
    let big = l.dev(0, 1 << 20, "big");
    let src = vec![1u8; 1 << 20];
    unsafe {
        assert_eq!((v3.nrta_execute_schedule)(m0, i0, o0, 0, &mut r0, &mut s0), NRT_SUCCESS);
        // 20 us + 1 MiB / 10 GB/s ~= 125 us: negligible against 200 ms
        assert_eq!(
            (v3.nrta_tensor_write)(big, src.as_ptr() as *mut c_void, 0, 1 << 20, 0, 0, &mut r1, &mut s1),
            NRT_SUCCESS
        );
    }
    l.wait_seq(s1);
    assert_eq!(l.is_completed(s0), Ok(false), "the transfer waited for the 200 ms execution on the compute unit");
    l.wait_seq(s0);
    l.close();
}

fn queue_full(l: &Lib) {
    unsafe {
        std::env::set_var("NRT_SIM_REPORT", report_path());
    }
    l.init();
    let v3 = l.v3();
    let m = l.load(&slow(20_000), 0);
    let x = l.dev(0, 64, "x");
    let y = l.dev(0, 64, "y");
    let (i, o) = (l.set(&[("x", x)]), l.set(&[("y", y)]));
    let mut rets = [0u32; 3];
    let mut seqs = [0u64; 3];
    unsafe {
        assert_eq!((v3.nrta_execute_schedule)(m, i, o, 0, &mut rets[0], &mut seqs[0]), NRT_SUCCESS);
        assert_eq!((v3.nrta_execute_schedule)(m, i, o, 0, &mut rets[1], &mut seqs[1]), NRT_SUCCESS);
        assert_eq!((v3.nrta_execute_schedule)(m, i, o, 0, &mut rets[2], &mut seqs[2]), NRT_QUEUE_FULL);
        // the synchronous API waits for room instead
        let t = Instant::now();
        assert_eq!(l.exec(m, i, o), NRT_SUCCESS);
        assert!(ms(t.elapsed()) > 50.0, "sync execute waited behind two queued requests");
        assert!(l.is_completed(seqs[1]).unwrap());
        assert_eq!((v3.nrta_execute_schedule)(m, i, o, 0, &mut rets[2], &mut seqs[2]), NRT_SUCCESS);
        assert_eq!(seqs[2] & 0xffff_ffff_ffff, 4, "counter counts the sync request too");
    }
    l.close();
    let r = read_report();
    assert_eq!(r["queue_full"], 1);
    assert_eq!(r["executions"], 4);
}

/// A synchronous call returns only once its request has left the queue: on a
/// queue of capacity 1, a schedule right after it never meets NRT_QUEUE_FULL.
fn sync_frees_slot(l: &Lib) {
    l.init();
    let v3 = l.v3();
    let m = l.load(&slow(20), 0);
    let x = l.dev(0, 64, "x");
    let y = l.dev(0, 64, "y");
    let (i, o) = (l.set(&[("x", x)]), l.set(&[("y", y)]));
    for round in 0..300 {
        assert_eq!(l.exec(m, i, o), NRT_SUCCESS);
        let (mut ret, mut seq) = (0u32, 0u64);
        let st = unsafe { (v3.nrta_execute_schedule)(m, i, o, 0, &mut ret, &mut seq) };
        assert_eq!(st, NRT_SUCCESS, "round {round}: the queue still held the synchronous request");
        l.wait_seq(seq);
    }
    l.close();
}

static CALLBACKS: Mutex<Vec<(u32, u32, u64, u32)>> = Mutex::new(Vec::new());
static CB_PARAMS: AtomicU64 = AtomicU64::new(0);

unsafe extern "C" fn record_cb(params: *mut c_void, model_id: u32, vnc: u32, job_id: u64, status: NRT_STATUS) {
    CB_PARAMS.store(params as u64, Ordering::SeqCst);
    CALLBACKS.lock().unwrap().push((model_id, vnc, job_id, status));
}

fn implicit(l: &Lib) {
    unsafe {
        std::env::set_var("NRT_SIM_REPORT", report_path());
    }
    l.init();
    unsafe {
        let mut v = nrt_version_t::default();
        assert_eq!((l.c.nrt_get_version)(&mut v, std::mem::size_of::<nrt_version_t>()), NRT_SUCCESS);
        assert_eq!(v.rt_minor, 30);
        assert_eq!((l.c.nrt_register_async_exec_callback)(Some(record_cb), 0x42 as *mut c_void), NRT_SUCCESS);
    }
    let m = l.load(&slow(20_000), 0);
    let x = l.dev(0, 64, "x");
    let y = l.dev(0, 64, "y");
    assert_eq!(l.write(x, 0, &[1u8; 64]), NRT_SUCCESS);
    let (i, o) = (l.set(&[("x", x)]), l.set(&[("y", y)]));
    // N = 2: two return at once, the third blocks until one completes
    let t = Instant::now();
    assert_eq!(l.exec(m, i, o), NRT_SUCCESS);
    assert_eq!(l.exec(m, i, o), NRT_SUCCESS);
    let two = ms(t.elapsed());
    assert!(two < 10.0, "nrt_execute blocked under N: {two:.2} ms");
    assert_eq!(l.exec(m, i, o), NRT_SUCCESS);
    let three = ms(t.elapsed());
    assert!(three >= 18.0, "the third nrt_execute did not wait: {three:.2} ms");
    // reads wait for every pending execution of the core
    let out = l.read(y, 0, 64);
    let all = ms(t.elapsed());
    assert!(all >= 57.0, "the read did not wait for the pending executions: {all:.2} ms");
    assert_eq!(out, vec![2u8; 64]);
    {
        let cbs = CALLBACKS.lock().unwrap();
        assert_eq!(cbs.len(), 3);
        assert_eq!(cbs.iter().map(|c| c.2).collect::<Vec<_>>(), [1, 2, 3], "job ids");
        assert!(cbs.iter().all(|c| c.0 == cbs[0].0 && c.1 == 0 && c.3 == NRT_SUCCESS));
    }
    assert_eq!(CB_PARAMS.load(Ordering::SeqCst), 0x42);
    // drain waits
    let t = Instant::now();
    assert_eq!(l.exec(m, i, o), NRT_SUCCESS);
    assert!(ms(t.elapsed()) < 10.0);
    assert_eq!(unsafe { (l.c.nrt_async_drain_queued_execs)(0) }, NRT_SUCCESS);
    assert!(ms(t.elapsed()) >= 18.0, "drain did not wait");
    assert_eq!(CALLBACKS.lock().unwrap().len(), 4);
    assert_eq!(unsafe { (l.c.nrt_async_drain_queued_execs)(9) }, NRT_INVALID);
    // host tensors are rejected on this path
    let hx = l.host(64, "hx");
    assert_eq!(l.exec(m, l.set(&[("x", hx)]), o), NRT_INVALID);
    // every nrta_* call fails in implicit mode
    assert_eq!(l.is_completed(1).unwrap_err(), NRT_FAILURE);
    unsafe {
        let (mut seq, mut st) = (0u64, 0u32);
        if let Some(v3) = &l.v3 {
            assert_eq!((v3.nrta_execute_schedule)(m, i, o, 0, &mut st, &mut seq), NRT_FAILURE);
            assert_eq!((v3.nrta_get_sequence)(0, 1, 0, &mut seq), NRT_FAILURE);
        }
        if let Some(v2) = &l.v2 {
            assert_eq!((v2.nrta_execute_schedule)(m, i, o, 0, std::ptr::null_mut(), &mut seq), NRT_FAILURE);
            let mut tr = std::ptr::null_mut();
            assert_eq!((v2.nrta_error_tracker_create)(0, &mut tr), NRT_FAILURE);
        }
    }
    l.close();
    let r = read_report();
    assert_eq!(r["implicit_inflight"], 2);
    assert_eq!(r["runtime"], "2.30");
    assert_eq!(r["hazards"], 0, "implicit mode orders reads after executions");
}

fn implicit_ignored(l: &Lib) {
    l.init();
    let m = l.load(&slow(10_000), 0);
    let x = l.dev(0, 64, "x");
    let y = l.dev(0, 64, "y");
    let (i, o) = (l.set(&[("x", x)]), l.set(&[("y", y)]));
    let t = Instant::now();
    assert_eq!(l.exec(m, i, o), NRT_SUCCESS);
    assert!(ms(t.elapsed()) >= 9.5, "nrt_execute must be synchronous from 2.31 on");
    assert_eq!(l.read(y, 0, 1), [1], "x is zero: y = 0 + 1");
    // explicit async works
    let v3 = l.v3();
    let (mut st, mut seq) = (99u32, 0u64);
    assert_eq!(unsafe { (v3.nrta_execute_schedule)(m, i, o, 0, &mut st, &mut seq) }, NRT_SUCCESS);
    l.wait_seq(seq);
    assert_eq!(st, NRT_SUCCESS);
    l.close();
}

fn implicit_cap(l: &Lib) {
    unsafe {
        std::env::set_var("NRT_SIM_REPORT", report_path());
    }
    l.init();
    l.close();
    assert_eq!(read_report()["implicit_inflight"], 63);
}

fn v3_async(l: &Lib) {
    assert!(!l.has("nrta_error_tracker_create"), "v3 must not export the v2 error tracker");
    assert!(!l.has("nrta_get_completion_handle"));
    assert!(l.has("nrta_event_register_seq_id_completion"));
    l.init();
    let v3 = l.v3();
    let m = l.load(&slow(5_000), 1);
    let x = l.dev(1, 64, "x");
    let y = l.dev(1, 64, "y");
    let z = l.dev(1, 64, "z");
    let (i, o) = (l.set(&[("x", x)]), l.set(&[("y", y)]));
    unsafe {
        let src = [3u8; 64];
        let (mut wst, mut wseq) = (99u32, 0u64);
        assert_eq!(
            (v3.nrta_tensor_write)(x, src.as_ptr() as *mut c_void, 0, 64, 1, 1, &mut wst, &mut wseq),
            NRT_SUCCESS
        );
        // unit id: core 1, tensor_op (0), queue 1; counter 1
        assert_eq!(wseq, (0x101u64 << 48) | 1);
        l.wait_seq(wseq);
        assert_eq!(wst, NRT_SUCCESS);
        let mut last = 0u64;
        assert_eq!((v3.nrta_get_sequence)(1, NRTA_XU_TENSOR_OP, 1, &mut last), NRT_SUCCESS);
        assert_eq!(last, wseq);
        assert_eq!((v3.nrta_get_sequence)(1, NRTA_XU_TENSOR_OP, 0, &mut last), NRT_SUCCESS);
        assert_eq!(last, 0x100u64 << 48, "nothing completed on queue 0");

        let (mut est, mut eseq) = (99u32, 0u64);
        let efd = libc::eventfd(0, libc::EFD_CLOEXEC);
        assert_eq!((v3.nrta_execute_schedule)(m, i, o, 0, &mut est, &mut eseq), NRT_SUCCESS);
        assert_eq!(eseq, (0x110u64 << 48) | 1, "core 1, compute (1), queue 0");
        assert_eq!((v3.nrta_event_register_seq_id_completion)(eseq, efd), NRT_SUCCESS);
        assert!(!l.is_completed(eseq).unwrap());
        assert_eq!(l.is_completed(eseq + 1).unwrap_err(), NRT_INVALID, "not issued yet");
        assert!(!readable(efd, 0));
        assert!(readable(efd, 5000), "eventfd not signalled");
        assert!(l.is_completed(eseq).unwrap());
        assert_eq!(est, NRT_SUCCESS);
        let mut cnt = 0u64;
        assert_eq!(libc::read(efd, &mut cnt as *mut u64 as *mut c_void, 8), 8);
        assert_eq!(cnt, 1);
        // already complete: signalled at once
        assert_eq!((v3.nrta_event_register_seq_id_completion)(eseq, efd), NRT_SUCCESS);
        assert!(readable(efd, 0));
        libc::close(efd);
        assert_eq!((v3.nrta_event_register_seq_id_completion)(eseq, -2), NRT_INVALID);
        assert_eq!((v3.nrta_event_register_seq_id_completion)(eseq, -1), NRT_SUCCESS, "-1 deregisters");

        // read and copy
        let mut dst = [0u8; 64];
        let (mut rst, mut rseq) = (99u32, 0u64);
        assert_eq!((v3.nrta_tensor_copy)(y, 0, z, 0, 64, 1, 0, &mut rst, &mut rseq), NRT_SUCCESS);
        l.wait_seq(rseq);
        assert_eq!(
            (v3.nrta_tensor_read)(dst.as_mut_ptr() as *mut c_void, z, 0, 64, 1, 0, &mut rst, &mut rseq),
            NRT_SUCCESS
        );
        assert_eq!(rseq & 0xffff_ffff_ffff, 2);
        l.wait_seq(rseq);
        assert_eq!(rst, NRT_SUCCESS);
        assert_eq!(dst, [4u8; 64]);
        // host tensors are rejected by the async paths
        let h = l.host(64, "h");
        assert_eq!((v3.nrta_execute_schedule)(m, l.set(&[("x", h)]), o, 0, &mut est, &mut eseq), NRT_INVALID);
        assert_eq!(
            (v3.nrta_tensor_read)(dst.as_mut_ptr() as *mut c_void, h, 0, 4, 0, 0, &mut rst, &mut rseq),
            NRT_INVALID
        );
        // unload waits for queued work
        let mut s2 = 0u64;
        assert_eq!((v3.nrta_execute_schedule)(m, i, o, 0, &mut est, &mut s2), NRT_SUCCESS);
        assert_eq!((l.c.nrt_unload)(m), NRT_SUCCESS);
        assert!(l.is_completed(s2).unwrap());
    }
    l.close();
}

fn v3_fail(l: &Lib) {
    unsafe {
        std::env::set_var("NRT_SIM_REPORT", report_path());
    }
    l.init();
    let v3 = l.v3();
    let m = l.load(COPY, 0);
    let x = l.dev(0, 16, "x");
    let y = l.dev(0, 16, "y");
    assert_eq!(l.write(x, 0, &[5u8; 16]), NRT_SUCCESS);
    let (i, o) = (l.set(&[("x", x)]), l.set(&[("y", y)]));
    unsafe {
        let mut st = [99u32; 2];
        let mut sq = [0u64; 2];
        assert_eq!((v3.nrta_execute_schedule)(m, i, o, 0, &mut st[0], &mut sq[0]), NRT_SUCCESS);
        l.wait_seq(sq[0]);
        assert_eq!(st[0], NRT_SUCCESS);
        assert_eq!(l.read(y, 0, 16), [5u8; 16]);
        assert_eq!(l.write(x, 0, &[6u8; 16]), NRT_SUCCESS);
        assert_eq!((v3.nrta_execute_schedule)(m, i, o, 0, &mut st[1], &mut sq[1]), NRT_SUCCESS);
        l.wait_seq(sq[1]);
        assert_eq!(st[1], NRT_EXEC_NC_BUSY, "the 2nd execution fails with NRT_SIM_FAIL_STATUS");
        assert_eq!(l.read(y, 0, 16), [5u8; 16], "a failed execution leaves its outputs unwritten");
    }
    // the sync path returns the status
    assert_eq!(l.exec(m, i, o), NRT_SUCCESS);
    assert_eq!(l.exec(m, i, o), NRT_EXEC_NC_BUSY);
    // a model's own fail_every (counted per model) on top
    let f = l.load_file("failing.model", 1);
    let fx = l.dev(1, 64, "fx");
    let fy = l.dev(1, 64, "fy");
    let (fi, fo) = (l.set(&[("x", fx)]), l.set(&[("y", fy)]));
    // global executions 5 (ok), 6 (global fail), 7 (model's 3rd: fail 1004)
    assert_eq!(l.exec(f, fi, fo), NRT_SUCCESS);
    assert_eq!(l.exec(f, fi, fo), NRT_EXEC_NC_BUSY);
    assert_eq!(l.exec(f, fi, fo), NRT_EXEC_COMPLETED_WITH_ERR);
    l.close();
    let r = read_report();
    assert_eq!(r["executions"], 7);
    assert_eq!(r["failed_executions"], 4);
}

fn v2_async(l: &Lib) {
    assert!(l.has("nrta_error_tracker_create"));
    assert!(!l.has("nrta_event_register_seq_id_completion"), "v2 has no eventfd registration");
    l.init();
    let v2 = l.v2();
    let m = l.load(COPY, 0);
    let x = l.dev(0, 16, "x");
    let y = l.dev(0, 16, "y");
    let (i, o) = (l.set(&[("x", x)]), l.set(&[("y", y)]));
    unsafe {
        let mut tr = std::ptr::null_mut();
        assert_eq!((v2.nrta_error_tracker_create)(0, &mut tr), NRT_SUCCESS);
        let src = [8u8; 16];
        let mut seq = 0u64;
        assert_eq!((v2.nrta_tensor_write)(x, src.as_ptr() as *const c_void, 0, 16, 0, tr, &mut seq), NRT_SUCCESS);
        assert_eq!(seq >> 48, 0x010, "core 0, tensor_write (1)");
        l.wait_seq(seq);
        let mut seqs = [0u64; 4];
        for s in seqs.iter_mut() {
            assert_eq!((v2.nrta_execute_schedule)(m, i, o, 0, tr, s), NRT_SUCCESS);
        }
        assert_eq!(seqs[0] >> 48, 0x030, "core 0, compute (3)");
        let mut fd = -1;
        assert_eq!((v2.nrta_get_completion_handle)(seqs[3], &mut fd), NRT_SUCCESS);
        assert!(fd >= 0);
        assert!(readable(fd, 5000), "completion fd not signalled");
        libc::close(fd);
        assert!(l.is_completed(seqs[3]).unwrap());
        // immediately readable when already complete
        assert_eq!((v2.nrta_get_completion_handle)(seqs[0], &mut fd), NRT_SUCCESS);
        assert!(readable(fd, 0));
        libc::close(fd);
        let (mut lp, mut n): (*const nrta_error_t, usize) = (std::ptr::null(), 0);
        assert_eq!((v2.nrta_error_tracker_get_list)(tr, &mut lp, &mut n), NRT_SUCCESS);
        assert_eq!(n, 2, "every 2nd execution fails");
        let errs = std::slice::from_raw_parts(lp, n);
        assert_eq!((errs[0].seq_id, errs[0].error_code), (seqs[1], NRT_EXEC_COMPLETED_WITH_ERR as u64));
        assert_eq!(errs[1].seq_id, seqs[3]);
        assert_eq!((v2.nrta_error_tracker_get_list)(tr, &mut lp, &mut n), NRT_SUCCESS);
        assert_eq!(n, 0, "errors are returned once");
        // err may be NULL: errors not collected
        let mut s5 = 0u64;
        assert_eq!((v2.nrta_execute_schedule)(m, i, o, 0, std::ptr::null_mut(), &mut s5), NRT_SUCCESS);
        assert_eq!((v2.nrta_execute_schedule)(m, i, o, 0, std::ptr::null_mut(), &mut s5), NRT_SUCCESS);
        l.wait_seq(s5);
        // read and copy units
        let z = l.dev(0, 16, "z");
        assert_eq!((v2.nrta_tensor_copy)(x, 0, z, 0, 16, 0, tr, &mut seq), NRT_SUCCESS);
        assert_eq!(seq >> 48, 0x020, "core 0, tensor_op (2)");
        l.wait_seq(seq);
        let mut dst = [0u8; 16];
        assert_eq!((v2.nrta_tensor_read)(dst.as_mut_ptr() as *mut c_void, z, 0, 16, 0, tr, &mut seq), NRT_SUCCESS);
        assert_eq!(seq >> 48, 0x000, "core 0, tensor_read (0)");
        l.wait_seq(seq);
        assert_eq!(dst, [8u8; 16]);
        let mut last = 0u64;
        assert_eq!((v2.nrta_get_sequence)(0, nrt_sys::v2::NRTA_XU_COMPUTE, 0, &mut last), NRT_SUCCESS);
        assert_eq!(last, s5);
        (v2.nrta_error_tracker_destroy)(tr);
        assert_eq!((v2.nrta_error_tracker_get_list)(tr, &mut lp, &mut n), NRT_INVALID_HANDLE);
        assert_eq!((v2.nrta_execute_schedule)(m, i, o, 0, tr, &mut s5), NRT_INVALID_HANDLE);
    }
    l.close();
}

fn unrecoverable(l: &Lib) {
    l.init();
    let m = l.load(&slow(5_000), 0);
    let x = l.dev(0, 64, "x");
    let y = l.dev(0, 64, "y");
    let (i, o) = (l.set(&[("x", x)]), l.set(&[("y", y)]));
    let m1 = l.load(&slow(1_000), 1);
    let (i1, o1) = (l.set(&[("x", l.dev(1, 64, "x1"))]), l.set(&[("y", l.dev(1, 64, "y1"))]));
    let mut seqs = [0u64; 3];
    unsafe {
        if let Some(v3) = &l.v3 {
            let mut st = [99u32; 3];
            assert_eq!((v3.nrta_execute_schedule)(m, i, o, 0, &mut st[0], &mut seqs[0]), NRT_SUCCESS);
            assert_eq!((v3.nrta_execute_schedule)(m, i, o, 0, &mut st[1], &mut seqs[1]), NRT_SUCCESS);
            assert_eq!((v3.nrta_execute_schedule)(m, i, o, 0, &mut st[2], &mut seqs[2]), NRT_EXEC_UNIT_UNRECOVERABLE);
            l.wait_seq(seqs[1]);
            assert_eq!(st[..2], [NRT_SUCCESS, NRT_SUCCESS], "requests already queued finish normally");
            assert_eq!((v3.nrta_execute_schedule)(m, i, o, 0, &mut st[2], &mut seqs[2]), NRT_EXEC_UNIT_UNRECOVERABLE);
        }
        if let Some(v2) = &l.v2 {
            assert_eq!((v2.nrta_execute_schedule)(m, i, o, 0, std::ptr::null_mut(), &mut seqs[0]), NRT_SUCCESS);
            assert_eq!((v2.nrta_execute_schedule)(m, i, o, 0, std::ptr::null_mut(), &mut seqs[1]), NRT_SUCCESS);
            assert_eq!(
                (v2.nrta_execute_schedule)(m, i, o, 0, std::ptr::null_mut(), &mut seqs[2]),
                NRT_EXEC_UNIT_UNRECOVERABLE
            );
            l.wait_seq(seqs[1]);
        }
    }
    assert_eq!(l.exec(m, i, o), NRT_EXEC_UNIT_UNRECOVERABLE, "sync execute on the dead unit");
    // transfers and the other core are unaffected
    assert_eq!(l.write(x, 0, &[1u8; 64]), NRT_SUCCESS);
    assert_eq!(l.exec(m1, i1, o1), NRT_SUCCESS);
    assert_eq!(l.exec(m1, i1, o1), NRT_SUCCESS);
    assert_eq!(l.exec(m1, i1, o1), NRT_EXEC_UNIT_UNRECOVERABLE, "each core's unit has its own count");
    l.close();
}

fn hazard(l: &Lib, racy: bool) {
    unsafe {
        std::env::set_var("NRT_SIM_REPORT", report_path());
    }
    l.init();
    let m = l.load(&slow(20_000), 0);
    let x = l.dev(0, 64, "in_x");
    let y = l.dev(0, 64, "out_y");
    let (i, o) = (l.set(&[("x", x)]), l.set(&[("y", y)]));
    let mut st = 99u32;
    let mut seq = 0u64;
    unsafe {
        match (&l.v3, &l.v2) {
            (Some(v3), _) => assert_eq!((v3.nrta_execute_schedule)(m, i, o, 0, &mut st, &mut seq), NRT_SUCCESS),
            (_, Some(v2)) => {
                assert_eq!((v2.nrta_execute_schedule)(m, i, o, 0, std::ptr::null_mut(), &mut seq), NRT_SUCCESS)
            }
            _ => unreachable!(),
        }
    }
    if !racy {
        l.wait_seq(seq);
    }
    let out = l.read(y, 0, 64);
    if racy {
        assert_eq!(out, vec![0u8; 64], "the racing read sees stale data");
        l.wait_seq(seq);
    } else {
        assert_eq!(out, vec![1u8; 64]);
    }
    l.close();
    let r = read_report();
    if racy {
        assert_eq!(r["hazards"], 1, "{r}");
        let ex = r["hazard_examples"][0].as_str().unwrap();
        assert!(ex.contains("nrt_tensor_read") && ex.contains("out_y") && ex.contains("nrta_execute_schedule"), "{ex}");
    } else {
        assert_eq!(r["hazards"], 0, "{r}");
        assert_eq!(r["hazard_examples"].as_array().unwrap().len(), 0);
    }
}

fn report_at_exit(l: &Lib) {
    unsafe {
        std::env::set_var("NRT_SIM_REPORT", report_path());
    }
    l.init();
    let m = l.load(&slow(3_000), 1);
    let x = l.dev(1, 64, "x");
    let y = l.dev(1, 64, "y");
    let (i, o) = (l.set(&[("x", x)]), l.set(&[("y", y)]));
    assert_eq!(l.exec(m, i, o), NRT_SUCCESS);
    assert_eq!(l.exec(m, i, o), NRT_SUCCESS);
    assert_eq!(l.write(x, 0, &[0u8; 64]), NRT_SUCCESS);
    // No nrt_close: the report is written by the exit handler when this process
    // exits; the parent test reads it (report_written_at_exit).
    assert!(!report_path().exists(), "the report is written at exit, not before");
}

fn check_report_at_exit(report: Option<&str>) {
    let r = parse_report(report.expect("no report written at exit"));
    for k in [
        "hazards",
        "hazard_examples",
        "executions",
        "failed_executions",
        "wall_us",
        "busy_us",
        "queue_full",
        "runtime",
        "async_abi",
        "implicit_inflight",
    ] {
        assert!(r.get(k).is_some(), "report lacks {k}: {r}");
    }
    assert_eq!(r["executions"], 2);
    assert_eq!(r["async_abi"], 3);
    assert_eq!(r["runtime"], "2.32");
    let busy = &r["busy_us"];
    let c1 = busy["core1"]["compute"].as_u64().unwrap();
    assert!((6000..6100).contains(&c1), "busy compute {c1}");
    assert!(busy["core1"]["tensor_op"].as_u64().unwrap() >= 20, "{r}");
    assert_eq!(busy["core0"]["compute"], 0);
    assert!(busy["core0"].get("collectives").is_some());
    assert!(r["wall_us"].as_u64().unwrap() >= 6000);
}

// ---------------------------------------------------------------------- fork

/// Every wait on a forked child, a helper thread or a completion in the fork
/// scenarios ends after this (a hang is a failure, never a stuck test).
const FORK_WATCHDOG: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq, Eq)]
enum ForkChild {
    /// The child calls exit(0) at once.
    Exit,
    /// The child uses the runtime afresh (init, load, execute, read, close), then exit(0).
    Use,
}

/// Runs `f` on a new thread with its own handle on the library; fails if it has
/// not finished within FORK_WATCHDOG.
fn with_watchdog<T: Send + 'static>(what: &str, f: impl FnOnce(&Lib) -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let l = Lib::open();
        let _ = tx.send(f(&l));
    });
    rx.recv_timeout(FORK_WATCHDOG).unwrap_or_else(|e| panic!("{what} did not finish within {FORK_WATCHDOG:?}: {e}"))
}

/// Fork with simulated work in flight: a thread blocked in nrt_execute_repeat
/// (20 x 20 ms on core 0) and 24 x 20 ms explicit-async executions on core 1 with
/// a completion eventfd (run with NRT_SIM_QUEUE_DEPTH >= 24). The child exits at
/// once or uses the runtime afresh; the parent then checks its own results and
/// its report.
fn fork_in_flight(l: &Lib, child: ForkChild) {
    const LAT_US: u64 = 20_000;
    const REPEAT: i32 = 20;
    const ASYNC: usize = 24;
    unsafe {
        std::env::set_var("NRT_SIM_REPORT", report_path());
    }
    l.init();
    let model = slow(LAT_US); // affine 1 1, x 64 -> y 64
    let m0 = l.load(&model, 0);
    let (x0, y0) = (l.dev(0, 64, "x0"), l.dev(0, 64, "y0"));
    let (i0, o0) = (l.set(&[("x", x0)]), l.set(&[("y", y0)]));
    let m1 = l.load(&model, 1);
    let (x1, y1) = (l.dev(1, 64, "x1"), l.dev(1, 64, "y1"));
    let (i1, o1) = (l.set(&[("x", x1)]), l.set(&[("y", y1)]));
    let in0: Vec<u8> = (0..64u8).collect();
    let in1: Vec<u8> = (0..64u8).map(|k| k.wrapping_mul(7)).collect();
    assert_eq!(l.write(x0, 0, &in0), NRT_SUCCESS);
    assert_eq!(l.write(x1, 0, &in1), NRT_SUCCESS);

    // In flight 1: a thread blocked in a synchronous nrt_execute_repeat on core 0.
    let (tx, rx) = std::sync::mpsc::channel();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (mp, ip, op) = (m0 as usize, i0 as usize, o0 as usize);
    std::thread::spawn(move || {
        let l = Lib::open();
        let _ = ready_tx.send(());
        let st = unsafe { (l.c.nrt_execute_repeat)(mp as *mut _, ip as *const _, op as *mut _, REPEAT) };
        let _ = tx.send(st);
    });
    // (its dlopen is done before the fd snapshots below)
    ready_rx.recv_timeout(FORK_WATCHDOG).expect("the nrt_execute_repeat thread did not start");
    // In flight 2: explicit-async executions on core 1, the last one with a
    // completion eventfd (the simulator keeps a private dup of it until then).
    let mut rets = vec![99u32; ASYNC];
    let mut seqs = vec![0u64; ASYNC];
    let before = open_fds();
    let user_fd = unsafe {
        if let Some(v3) = l.v3.as_ref() {
            for k in 0..ASYNC {
                assert_eq!((v3.nrta_execute_schedule)(m1, i1, o1, 0, &mut rets[k], &mut seqs[k]), NRT_SUCCESS);
            }
            let efd = libc::eventfd(0, libc::EFD_CLOEXEC);
            assert!(efd >= 0);
            assert_eq!((v3.nrta_event_register_seq_id_completion)(seqs[ASYNC - 1], efd), NRT_SUCCESS);
            efd
        } else {
            let v2 = l.v2();
            for s in seqs.iter_mut() {
                assert_eq!((v2.nrta_execute_schedule)(m1, i1, o1, 0, std::ptr::null_mut(), s), NRT_SUCCESS);
            }
            let mut fd = -1;
            assert_eq!((v2.nrta_get_completion_handle)(seqs[ASYNC - 1], &mut fd), NRT_SUCCESS);
            fd
        }
    };
    let sim_fds: Vec<c_int> = open_fds().difference(&before).copied().filter(|&f| f != user_fd).collect();
    assert_eq!(sim_fds.len(), 1, "the simulator holds one private dup of the completion fd: {sim_fds:?}");
    // Fork once core 0's first execution has completed: the rest are queued or running.
    let st = unsafe { (l.c.nrt_tensor_check_output_completion)(y0, 5_000_000, 1) };
    assert_eq!(st, NRT_SUCCESS, "first execution on core 0");
    assert!(!l.is_completed(seqs[ASYNC - 1]).unwrap(), "core 1's work should still be in flight");

    let report = report_path();
    let _ = std::fs::remove_file(&report);
    let t_fork = Instant::now();
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // The child: never returns into the test harness.
        if child == ForkChild::Exit {
            unsafe { libc::exit(0) }; // runs the atexit handlers, nrt-sim's report writer included
        }
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            fork_child_uses_runtime(l, &sim_fds, user_fd, (m0, i0, o0, x0), &report)
        }));
        if r.is_err() {
            unsafe { libc::_exit(3) }; // the panic message is already on stderr
        }
        unsafe { libc::exit(0) };
    }

    // The parent.
    let status = wait_child(pid, FORK_WATCHDOG, "the forked child");
    let child_ms = ms(t_fork.elapsed());
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the forked child failed: wait status {status:#x} (exit code {})",
        libc::WEXITSTATUS(status)
    );
    println!("forked child ({}) done after {child_ms:.1} ms", if child == ForkChild::Exit { "exit" } else { "use" });
    assert!(!report.exists(), "the child's exit must not write the parent's report");
    let child_report = PathBuf::from(format!("{}.{pid}", report.display()));
    match child {
        ForkChild::Exit => assert!(!child_report.exists(), "a child without a session writes no report"),
        ForkChild::Use => {
            let r = read_report_at(&child_report);
            assert_eq!(r["executions"], 4, "the child's own session: {r}");
            let _ = std::fs::remove_file(&child_report);
        }
    }

    // The parent's work completes normally.
    let st = rx.recv_timeout(FORK_WATCHDOG).expect("nrt_execute_repeat in the parent never returned");
    assert_eq!(st, NRT_SUCCESS);
    assert!(readable(user_fd, FORK_WATCHDOG.as_millis() as c_int), "the parent's completion fd was never signalled");
    unsafe { libc::close(user_fd) };
    for &s in &seqs {
        assert!(l.is_completed(s).unwrap());
    }
    if l.v3.is_some() {
        assert!(rets.iter().all(|&r| r == NRT_SUCCESS), "{rets:?}");
    }
    assert_eq!(l.read(y0, 0, 64), affine_expect(1, 1, &[&in0], 64));
    assert_eq!(l.read(y1, 0, 64), affine_expect(1, 1, &[&in1], 64));
    with_watchdog("nrt_close in the parent", |l| l.close());
    let r = read_report();
    assert_eq!(r["executions"], REPEAT as u64 + ASYNC as u64, "{r}");
    assert_eq!(r["failed_executions"], 0);
    assert_eq!(r["hazards"], 0, "{r}");
    let busy = &r["busy_us"];
    let c0 = busy["core0"]["compute"].as_u64().unwrap();
    let c1 = busy["core1"]["compute"].as_u64().unwrap();
    assert_eq!(c0, REPEAT as u64 * LAT_US, "{r}");
    assert_eq!(c1, ASYNC as u64 * LAT_US, "{r}");
}

/// Variant B, in the forked child: the inherited runtime is gone (uninitialised,
/// no private fds, the parent's handles unknown); a new session works.
fn fork_child_uses_runtime(
    l: &Lib,
    sim_fds: &[c_int],
    user_fd: c_int,
    parent: (*mut nrt_model_t, *mut nrt_tensor_set_t, *mut nrt_tensor_set_t, *mut nrt_tensor_t),
    parent_report: &std::path::Path,
) {
    let (pm, pi, po, px) = parent;
    for &fd in sim_fds {
        assert!(!fd_is_open(fd), "the simulator's private fd {fd} is still open in the child");
    }
    assert!(fd_is_open(user_fd), "the caller's own fd must stay open");
    let mut n = 0u32;
    assert_eq!(unsafe { (l.c.nrt_get_total_vnc_count)(&mut n) }, NRT_UNINITIALIZED);
    assert_eq!(l.exec(pm, pi, po), NRT_UNINITIALIZED);
    assert_eq!(l.is_completed(1).unwrap_err(), NRT_UNINITIALIZED);
    l.close(); // not initialised: logged, returns at once
    l.init();
    assert_eq!(l.exec(pm, pi, po), NRT_INVALID_HANDLE, "the parent's handles do not exist in the child");
    assert_eq!(unsafe { (l.c.nrt_tensor_get_size)(px) }, 0);
    let m = l.load(&slow(20_000), 0);
    let (x, y) = (l.dev(0, 64, "cx"), l.dev(0, 64, "cy"));
    let (i, o) = (l.set(&[("x", x)]), l.set(&[("y", y)]));
    let input: Vec<u8> = (0..64u8).map(|k| k ^ 0x5a).collect();
    assert_eq!(l.write(x, 0, &input), NRT_SUCCESS);
    assert_eq!(l.exec(m, i, o), NRT_SUCCESS);
    assert_eq!(l.read(y, 0, 64), affine_expect(1, 1, &[&input], 64));
    assert_eq!(unsafe { (l.c.nrt_execute_repeat)(m, i, o, 3) }, NRT_SUCCESS);
    assert_eq!(l.read(y, 0, 64), affine_expect(1, 1, &[&input], 64));
    l.close();
    let own = PathBuf::from(format!("{}.{}", parent_report.display(), std::process::id()));
    let r = read_report_at(&own);
    assert_eq!(r["executions"], 4, "{r}");
    assert_eq!(r["busy_us"]["core0"]["compute"], 80_000, "{r}");
    assert!(!parent_report.exists(), "the child's session must not write the parent's report");
}

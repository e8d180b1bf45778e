//! The implicit-async mode (SDK < 2.31) as the 2.31.24 binary had it: the
//! per-storage fence (`NRT_SIM_IMPLICIT_FENCE=storage`, the default), the
//! documentation's rule (`all`), the in-flight window, and how failures
//! surface at blocking calls. Each scenario runs in a child process under a
//! watchdog (common/mod.rs).
//!
//! No assertion depends on a timing race: models take 150 ms, and "did the
//! call wait" is read from the status callback, which runs when an execution
//! completes (a call that returns with no callback yet did not wait for it; a
//! call that waited returns after it). The report's counters of fence waits
//! per kind are checked exactly.

mod common;

use common::*;
use nrt_sys::*;
use std::ffi::c_void;
use std::sync::Mutex;

/// 150 ms, one input x, one output y; y = x + 1.
const SLOW: &str = "nrt-sim-model 1\nname slow\nlatency_us 150000\ninput x 64\noutput y 64\ncompute affine 1 1\n";

const IMPLICIT_4: &[(&str, &str)] = &[("NRT_SIM_RUNTIME", "2.30"), ("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS", "4")];

#[test]
fn child_entry() {
    let Ok(name) = std::env::var(SCENARIO_VAR) else { return };
    let lib = Lib::open();
    match name.as_str() {
        "storage_fence" => storage_fence(&lib),
        "all_fence" => all_fence(&lib),
        "window" => window(&lib),
        "errors_self_checking" => errors_self_checking(&lib),
        "errors_marks" => errors_marks(&lib),
        "bad_fence_value" => {
            lib.init();
            lib.close();
        }
        other => panic!("unknown scenario {other}"),
    }
    println!("scenario {name} passed");
}

fn env(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    IMPLICIT_4.iter().chain(extra).copied().collect()
}

#[test]
fn storage_fence_waits_per_storage() {
    run("storage_fence", Gen::V3, &env(&[]), 60);
}
#[test]
fn storage_fence_v2() {
    run("storage_fence", Gen::V2, &env(&[("NRT_SIM_IMPLICIT_FENCE", "storage")]), 60);
}
#[test]
fn all_fence_waits_for_the_core() {
    run("all_fence", Gen::V3, &env(&[("NRT_SIM_IMPLICIT_FENCE", "all")]), 60);
}
#[test]
fn window_limit_applies_under_both_rules() {
    let e = [("NRT_SIM_RUNTIME", "2.30"), ("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS", "2")];
    run("window", Gen::V3, &e, 60);
    let e = [e[0], e[1], ("NRT_SIM_IMPLICIT_FENCE", "all")];
    run("window", Gen::V3, &e, 60);
}
#[test]
fn bad_fence_value_warns_once_and_uses_storage() {
    let o = run("bad_fence_value", Gen::V3, &env(&[("NRT_SIM_IMPLICIT_FENCE", "per-byte")]), 30);
    assert_eq!(o.stderr.matches("NRT_SIM_IMPLICIT_FENCE").count(), 1, "{}", o.stderr);
    assert!(o.stderr.contains("using storage"), "{}", o.stderr);
    assert_eq!(o.stderr.matches("is deprecated (SDK 2.30)").count(), 1, "2.30 warns once: {}", o.stderr);
    let o = run("bad_fence_value", Gen::V3, &[("NRT_SIM_RUNTIME", "2.29"), IMPLICIT_4[1]], 30);
    assert!(!o.stderr.contains("deprecated"), "2.29 does not warn: {}", o.stderr);
}
#[test]
fn errors_self_checking_program_storage() {
    run("errors_self_checking", Gen::V3, &env(&[]), 60);
}
#[test]
fn errors_self_checking_program_all() {
    run("errors_self_checking", Gen::V3, &env(&[("NRT_SIM_IMPLICIT_FENCE", "all")]), 60);
}
#[test]
fn errors_self_checking_program_v2() {
    run("errors_self_checking", Gen::V2, &env(&[]), 60);
}
#[test]
fn errors_marks_until_rewritten() {
    run("errors_marks", Gen::V3, &env(&[]), 60);
}

// ====================================================================== helpers

static CALLS: Mutex<Vec<(u64, NRT_STATUS)>> = Mutex::new(Vec::new());

unsafe extern "C" fn on_status(_: *mut c_void, _model: u32, _vnc: u32, job_id: u64, status: NRT_STATUS) {
    CALLS.lock().unwrap().push((job_id, status));
}

fn calls() -> usize {
    CALLS.lock().unwrap().len()
}

fn start(l: &Lib) {
    unsafe {
        std::env::set_var("NRT_SIM_REPORT", report_path());
    }
    l.init();
    assert_eq!(unsafe { (l.c.nrt_register_async_exec_callback)(Some(on_status), std::ptr::null_mut()) }, NRT_SUCCESS);
}

fn read_st(l: &Lib, t: *mut nrt_tensor_t, off: usize, n: usize) -> (NRT_STATUS, Vec<u8>) {
    let mut v = vec![0u8; n];
    let st = unsafe { (l.c.nrt_tensor_read)(t, v.as_mut_ptr() as *mut c_void, off, n) };
    (st, v)
}

fn slice(l: &Lib, t: *mut nrt_tensor_t, off: usize, n: usize, name: &str) -> *mut nrt_tensor_t {
    let mut s = std::ptr::null_mut();
    let c = std::ffi::CString::new(name).unwrap();
    assert_eq!(unsafe { (l.c.nrt_tensor_allocate_slice)(t, off, n, c.as_ptr(), &mut s) }, NRT_SUCCESS);
    s
}

fn batch(l: &Lib, write: bool, items: &[(*mut nrt_tensor_t, usize, &mut [u8])], unsafe_mode: bool) -> NRT_STATUS {
    let ops: Vec<nrt_tensor_batch_op_t> = items
        .iter()
        .map(|(_, off, b)| nrt_tensor_batch_op_t {
            offset: *off as u64,
            size: b.len() as u64,
            buffer: b.as_ptr() as *mut c_void,
        })
        .collect();
    let bs: Vec<nrt_tensor_batch_t> =
        items.iter().zip(&ops).map(|((t, _, _), op)| nrt_tensor_batch_t { tensor: *t, ops: op, num_ops: 1 }).collect();
    unsafe {
        if write {
            (l.c.nrt_tensor_write_batch)(bs.as_ptr(), bs.len() as u64, unsafe_mode)
        } else {
            (l.c.nrt_tensor_read_batch)(bs.as_ptr(), bs.len() as u64, unsafe_mode)
        }
    }
}

/// Runs `f` while one execution of `m` (queued just before) is in flight, and
/// says whether `f` waited for it: whether its callback had run when `f` returned.
fn waited(l: &Lib, m: *mut nrt_model_t, i: *mut nrt_tensor_set_t, o: *mut nrt_tensor_set_t, f: impl FnOnce()) -> bool {
    assert_eq!(unsafe { (l.c.nrt_async_drain_queued_execs)(0) }, NRT_SUCCESS);
    let before = calls();
    assert_eq!(l.exec(m, i, o), NRT_SUCCESS);
    assert_eq!(calls(), before, "the execution completed before nrt_execute returned");
    f();
    let w = calls() > before;
    assert_eq!(unsafe { (l.c.nrt_async_drain_queued_execs)(0) }, NRT_SUCCESS);
    w
}

// ====================================================================== scenarios

/// The binary's rule: a read waits only for in-flight writes of its storage, a
/// write for all its in-flight access; slices share the storage's fence;
/// another storage never waits.
fn storage_fence(l: &Lib) {
    start(l);
    let m = l.load(SLOW, 0);
    let x = l.dev(0, 64, "x");
    let y = l.dev(0, 64, "y");
    let u = l.dev(0, 64, "u"); // unrelated storage on the same core
    let xs = slice(l, x, 32, 32, "x_hi");
    let ys = slice(l, y, 0, 16, "y_lo");
    let (i, o) = (l.set(&[("x", x)]), l.set(&[("y", y)]));
    assert_eq!(l.write(x, 0, &[1u8; 64]), NRT_SUCCESS);
    let mut b16 = [0u8; 16];
    let mut b8 = [0u8; 8];

    // reads
    assert!(!waited(l, m, i, o, || assert_eq!(read_st(l, u, 0, 64).0, NRT_SUCCESS)), "unrelated storage never waits");
    assert!(
        !waited(l, m, i, o, || assert_eq!(read_st(l, x, 0, 64).0, NRT_SUCCESS)),
        "a read of an input waits for no reader"
    );
    assert!(
        waited(l, m, i, o, || assert_eq!(read_st(l, y, 0, 64), (NRT_SUCCESS, vec![2u8; 64]))),
        "a read of an output waits for its writer"
    );
    assert!(
        waited(l, m, i, o, || assert_eq!(read_st(l, ys, 0, 16), (NRT_SUCCESS, vec![2u8; 16]))),
        "a slice shares its source's fence"
    );
    // read batches: only storages being written make them wait
    assert!(!waited(l, m, i, o, || assert_eq!(
        batch(l, false, &[(x, 0, &mut b16), (u, 8, &mut b8)], false),
        NRT_SUCCESS
    )));
    assert!(waited(l, m, i, o, || assert_eq!(
        batch(l, false, &[(u, 0, &mut b16), (y, 8, &mut b8)], false),
        NRT_SUCCESS
    )));
    assert!(
        !waited(l, m, i, o, || assert_eq!(batch(l, false, &[(y, 8, &mut b8)], true), NRT_SUCCESS)),
        "unsafe mode skips the fence"
    );
    // writes: readers and writers
    assert!(
        !waited(l, m, i, o, || assert_eq!(l.write(u, 0, &[7u8; 64]), NRT_SUCCESS)),
        "unrelated storage never waits"
    );
    assert!(
        waited(l, m, i, o, || assert_eq!(l.write(x, 0, &[1u8; 64]), NRT_SUCCESS)),
        "a write of an input waits for its reader"
    );
    assert!(waited(l, m, i, o, || assert_eq!(l.write(xs, 0, &[1u8; 32]), NRT_SUCCESS)), "a slice of the input too");
    assert!(
        waited(l, m, i, o, || assert_eq!(l.write(y, 0, &[0u8; 8]), NRT_SUCCESS)),
        "a write of an output waits for its writer"
    );
    assert!(waited(l, m, i, o, || assert_eq!(unsafe { (l.c.nrt_tensor_memset)(ys, 0, 0, 16) }, NRT_SUCCESS)), "memset");
    let mut w16 = [1u8; 16];
    assert!(
        waited(l, m, i, o, || assert_eq!(
            batch(l, true, &[(u, 0, &mut w16), (x, 0, &mut [1u8; 8])], false),
            NRT_SUCCESS
        )),
        "write batch"
    );
    assert!(!waited(l, m, i, o, || assert_eq!(batch(l, true, &[(u, 0, &mut w16)], false), NRT_SUCCESS)));
    // copies: the source waits for writes, the destination for all access
    let cp = |s, d| unsafe { (l.c.nrt_tensor_copy)(s, 0, d, 0, 16) };
    assert!(!waited(l, m, i, o, || assert_eq!(cp(x, u), NRT_SUCCESS)), "copy from an input to another storage");
    assert!(waited(l, m, i, o, || assert_eq!(cp(y, u), NRT_SUCCESS)), "copy from an output");
    assert!(waited(l, m, i, o, || assert_eq!(cp(u, x), NRT_SUCCESS)), "copy into an input");
    // host tensors are never in flight
    let h = l.host(64, "h");
    assert!(!waited(l, m, i, o, || assert_eq!(read_st(l, h, 0, 64).0, NRT_SUCCESS)));
    l.close();
    let r = read_report();
    assert_eq!(r["implicit_fence"], "storage", "{r}");
    // waited: reads y, ys, the batch with y, copy from y; writes x, xs, y, memset, write batch, copy into x
    assert_eq!(r["implicit_waits"]["read"], 4, "{r}");
    assert_eq!(r["implicit_waits"]["write"], 6, "{r}");
    assert_eq!(r["hazards"], 1, "only the unsafe-mode batch raced with the execution: {r}");
    assert!(r["hazard_examples"][0].as_str().unwrap().contains("nrt_tensor_read_batch of 'y'"), "{r}");
}

/// The documentation's rule: every call waits for all pending executions of
/// the tensor's core (host tensors: of every core).
fn all_fence(l: &Lib) {
    start(l);
    let m = l.load(SLOW, 0);
    let x = l.dev(0, 64, "x");
    let y = l.dev(0, 64, "y");
    let u = l.dev(0, 64, "u");
    let v = l.dev(1, 64, "v"); // another core
    let h = l.host(64, "h");
    let (i, o) = (l.set(&[("x", x)]), l.set(&[("y", y)]));
    assert!(
        waited(l, m, i, o, || assert_eq!(read_st(l, u, 0, 64).0, NRT_SUCCESS)),
        "unrelated storage of the core waits"
    );
    assert!(waited(l, m, i, o, || assert_eq!(read_st(l, x, 0, 64).0, NRT_SUCCESS)), "a read of an input waits");
    assert!(waited(l, m, i, o, || assert_eq!(l.write(u, 0, &[3u8; 64]), NRT_SUCCESS)));
    assert!(
        waited(l, m, i, o, || assert_eq!(read_st(l, h, 0, 64).0, NRT_SUCCESS)),
        "a host tensor waits for every core"
    );
    assert!(!waited(l, m, i, o, || assert_eq!(read_st(l, v, 0, 64).0, NRT_SUCCESS)), "another core's tensor does not");
    l.close();
    let r = read_report();
    assert_eq!(r["implicit_fence"], "all", "{r}");
    assert_eq!(r["implicit_waits"]["read"], 3, "{r}");
    assert_eq!(r["implicit_waits"]["write"], 1, "{r}");
}

/// N = 2: two nrt_execute calls return at once, the third blocks until one of
/// them is done, whatever the fence rule; an unrelated read waits under
/// neither rule for a core that has nothing in flight.
fn window(l: &Lib) {
    start(l);
    let m = l.load(SLOW, 0);
    let x = l.dev(0, 64, "x");
    let y = l.dev(0, 64, "y");
    let (i, o) = (l.set(&[("x", x)]), l.set(&[("y", y)]));
    assert_eq!(l.exec(m, i, o), NRT_SUCCESS);
    assert_eq!(l.exec(m, i, o), NRT_SUCCESS);
    assert_eq!(calls(), 0, "with fewer than N in flight nrt_execute does not wait");
    assert_eq!(l.exec(m, i, o), NRT_SUCCESS);
    assert!(calls() >= 1, "with N in flight nrt_execute blocks until one is done");
    assert_eq!(unsafe { (l.c.nrt_async_drain_queued_execs)(0) }, NRT_SUCCESS);
    assert_eq!(calls(), 3);
    l.close();
    assert_eq!(read_report()["implicit_inflight"], 2);
}

/// A self-checking double-buffered program with a failing model, written the
/// way a careful legacy program is: a failure status at a write or a read is
/// an earlier request's error surfacing, so it retries the call once; a read
/// that fails again is reading a failed request's output. Every read returns
/// either the right bytes with NRT_SUCCESS or a failure status, never stale
/// bytes as NRT_SUCCESS; each failure is returned once by a blocking call that
/// waited for it or read its marked output first (the report's counter; which
/// of the two depends on timing), besides the callback. Under the
/// binary's rule (storage) no call but the read of a failed output ever sees
/// a failure.
fn errors_self_checking(l: &Lib) {
    let storage_rule = std::env::var("NRT_SIM_IMPLICIT_FENCE").as_deref() != Ok("all");
    start(l);
    // every 3rd execution fails (1004) and leaves its output unwritten
    let m = l.load(
        "nrt-sim-model 1\nname f\nlatency_us 2000\ninput x 64\noutput y 64\ncompute affine 2 1\nfail_every 3 1004\n",
        0,
    );
    let bufs: Vec<_> = (0..2)
        .map(|k| {
            let x = l.dev(0, 64, &format!("x{k}"));
            let y = l.dev(0, 64, &format!("y{k}"));
            (x, y, l.set(&[("x", x)]), l.set(&[("y", y)]))
        })
        .collect();
    let input = |k: usize| vec![(k as u8).wrapping_mul(7); 64];
    let expect = |k: usize| vec![(k as u8).wrapping_mul(7).wrapping_mul(2).wrapping_add(1); 64];
    let (mut good, mut failed, mut surfaced) = (0, Vec::new(), 0);
    let mut check = |k: usize, surfaced: &mut usize| {
        let y = bufs[k % 2].1;
        let (mut st, mut data) = read_st(l, y, 0, 64);
        if st != NRT_SUCCESS {
            assert_eq!(st, NRT_EXEC_COMPLETED_WITH_ERR, "request {k}");
            *surfaced += 1;
            (st, data) = read_st(l, y, 0, 64);
        }
        if st == NRT_SUCCESS {
            assert_eq!(data, expect(k), "request {k}: NRT_SUCCESS with stale bytes");
            good += 1;
        } else {
            assert_eq!(st, NRT_EXEC_COMPLETED_WITH_ERR, "request {k}");
            failed.push(k);
        }
    };
    let n = 30;
    let mut write_failures = 0;
    for k in 0..n {
        let (x, _, i, o) = bufs[k % 2];
        let mut st = l.write(x, 0, &input(k));
        if st != NRT_SUCCESS {
            assert_eq!(st, NRT_EXEC_COMPLETED_WITH_ERR, "request {k}: write");
            write_failures += 1;
            st = l.write(x, 0, &input(k));
        }
        assert_eq!(st, NRT_SUCCESS, "request {k}: the retried write");
        assert_eq!(l.exec(m, i, o), NRT_SUCCESS, "implicit nrt_execute returns at once");
        if k > 0 {
            check(k - 1, &mut surfaced);
        }
    }
    check(n - 1, &mut surfaced);
    // the last read waited for everything: the drain has nothing left to report
    assert_eq!(unsafe { (l.c.nrt_async_drain_queued_execs)(0) }, NRT_SUCCESS);
    let fails: Vec<usize> = (0..n).filter(|k| (k + 1) % 3 == 0).collect();
    assert_eq!(failed, fails, "the failed requests' outputs");
    assert_eq!(good, n - fails.len());
    if storage_rule {
        assert_eq!(write_failures, 0, "a write waits for no failed request under the storage rule");
        assert_eq!(surfaced, fails.len(), "only the reads of failed outputs saw a failure");
    }
    let cbs = CALLS.lock().unwrap().clone();
    assert_eq!(cbs.iter().filter(|c| c.1 != NRT_SUCCESS).count(), fails.len(), "and each one to the callback too");
    l.close();
    let r = read_report();
    assert_eq!(r["failed_executions"], fails.len(), "{r}");
    assert_eq!(r["implicit_errors_reported"], fails.len(), "each failure reported once: {r}");
}

/// The rules one by one: a failed request's outputs stay marked until
/// rewritten; a wait covers the earlier requests of the core; a call that
/// reports a failure does nothing else; the drain reports what nobody read.
fn errors_marks(l: &Lib) {
    start(l);
    let f = l.load(
        "nrt-sim-model 1\nname f\nlatency_us 150000\ninput x 64\noutput y 64\ncompute copy\nfail_every 2 1005\n",
        0,
    );
    let x = l.dev(0, 64, "x");
    let y = l.dev(0, 64, "y");
    let z = l.dev(0, 64, "z");
    let (i, oy, oz) = (l.set(&[("x", x)]), l.set(&[("y", y)]), l.set(&[("y", z)]));
    assert_eq!(l.write(x, 0, &[4u8; 64]), NRT_SUCCESS);
    // #1 ok (y = 4), #2 fails (z stays 0)
    assert_eq!(l.exec(f, i, oy), NRT_SUCCESS);
    assert_eq!(l.exec(f, i, oz), NRT_SUCCESS);
    // A write of x waits for its readers, #1 and #2, and reports #2's failure:
    // the write is not done.
    assert_eq!(l.write(x, 0, &[9u8; 64]), NRT_EXEC_NC_BUSY, "the write waited for a failed request");
    assert_eq!(read_st(l, x, 0, 64), (NRT_SUCCESS, vec![4u8; 64]), "the refused write changed nothing");
    assert_eq!(read_st(l, y, 0, 64), (NRT_SUCCESS, vec![4u8; 64]));
    // z is marked: every read of it returns the failure, never the stale zeros
    assert_eq!(read_st(l, z, 0, 64).0, NRT_EXEC_NC_BUSY);
    assert_eq!(read_st(l, z, 60, 4).0, NRT_EXEC_NC_BUSY, "again");
    assert_eq!(read_st(l, z, 0, 0).0, NRT_SUCCESS, "a zero-byte read touches no byte");
    let zs = slice(l, z, 8, 8, "z_mid");
    assert_eq!(read_st(l, zs, 0, 8).0, NRT_EXEC_NC_BUSY, "through a slice");
    let mut b = [0u8; 8];
    assert_eq!(batch(l, false, &[(y, 0, &mut b), (z, 0, &mut [0u8; 8])], true), NRT_EXEC_NC_BUSY, "unsafe batch too");
    assert_eq!(unsafe { (l.c.nrt_tensor_copy)(z, 0, y, 0, 8) }, NRT_EXEC_NC_BUSY, "a copy does not launder it");
    // rewriting clears the marks of the bytes rewritten, only those
    assert_eq!(l.write(zs, 0, &[5u8; 8]), NRT_SUCCESS);
    assert_eq!(read_st(l, z, 8, 8), (NRT_SUCCESS, vec![5u8; 8]));
    assert_eq!(read_st(l, z, 0, 9).0, NRT_EXEC_NC_BUSY);
    assert_eq!(unsafe { (l.c.nrt_tensor_memset)(z, 0, 6, 8) }, NRT_SUCCESS);
    assert_eq!(unsafe { (l.c.nrt_tensor_copy)(y, 16, z, 16, 48) }, NRT_SUCCESS);
    assert_eq!(read_st(l, z, 0, 64).0, NRT_SUCCESS, "all rewritten");
    // #3 ok into z, #4 fails into y: nobody reads y; the drain reports it, once
    assert_eq!(l.exec(f, i, oz), NRT_SUCCESS);
    assert_eq!(l.exec(f, i, oy), NRT_SUCCESS);
    assert_eq!(read_st(l, z, 0, 64), (NRT_SUCCESS, vec![4u8; 64]), "#3's output, not covering #4");
    assert_eq!(unsafe { (l.c.nrt_async_drain_queued_execs)(0) }, NRT_EXEC_NC_BUSY);
    assert_eq!(unsafe { (l.c.nrt_async_drain_queued_execs)(0) }, NRT_SUCCESS, "reported once");
    assert_eq!(read_st(l, y, 0, 64).0, NRT_EXEC_NC_BUSY, "but its bytes stay marked");
    // #5 ok rewrites y: the mark is gone
    assert_eq!(l.exec(f, i, oy), NRT_SUCCESS);
    assert_eq!(read_st(l, y, 0, 64), (NRT_SUCCESS, vec![4u8; 64]));
    // #6 fails into z, #7 ok into y: a read of y waits for #7, and so for #6
    assert_eq!(l.exec(f, i, oz), NRT_SUCCESS);
    assert_eq!(l.exec(f, i, oy), NRT_SUCCESS);
    assert_eq!(read_st(l, y, 0, 64).0, NRT_EXEC_NC_BUSY, "the wait for #7 covered #6");
    assert_eq!(read_st(l, y, 0, 64), (NRT_SUCCESS, vec![4u8; 64]), "y itself is good");
    assert_eq!(unsafe { (l.c.nrt_async_drain_queued_execs)(0) }, NRT_SUCCESS);
    let cbs = CALLS.lock().unwrap().clone();
    let statuses: Vec<NRT_STATUS> = cbs.iter().map(|c| c.1).collect();
    assert_eq!(statuses, [0, 1005, 0, 1005, 0, 1005, 0], "the callback saw every request");
    l.close();
    let r = read_report();
    assert_eq!(r["failed_executions"], 3, "{r}");
    // #2 by the write, #4 by the drain, #6 by the read of y
    assert_eq!(r["implicit_errors_reported"], 3, "{r}");
}

//! Behaviours the second reading of the sources adds (neuron-abi.md, "Second
//! reading"; sim/FIDELITY.md cites each test here): event registration and
//! deregistration, XU completion eventfds, a full queue changing nothing, a
//! status written before completion, out-pointers untouched on failure, the
//! queue indices of each unit, the VIRTUAL placement's removal in 2.30.
//! Each scenario runs in a child process under a watchdog (common/mod.rs).

mod common;

use common::*;
use nrt_sys::*;
use std::ffi::{c_int, c_void};
use std::time::{Duration, Instant};

#[test]
fn child_entry() {
    let Ok(name) = std::env::var(SCENARIO_VAR) else { return };
    let lib = Lib::open();
    match name.as_str() {
        "seq_events" => seq_events(&lib),
        "xu_events" => xu_events(&lib),
        "events_implicit" => events_implicit(&lib),
        "xu_events_v2" => {
            assert!(!lib.has("nrta_event_register_xu_completion"), "v2 has no eventfd registration");
            assert!(!lib.has("nrta_event_register_seq_id_completion"));
        }
        "full_queue_changes_nothing" => full_queue_changes_nothing(&lib),
        "failed_schedule_writes_nothing" => failed_schedule_writes_nothing(&lib),
        "status_before_completion" => status_before_completion(&lib),
        "queue_indices" => queue_indices(&lib),
        "placement_virtual" => placement_virtual(&lib),
        "status_as_str" => status_as_str(&lib),
        other => panic!("unknown scenario {other}"),
    }
    println!("scenario {name} passed");
}

#[test]
fn seq_event_deregistration_and_completed_seq() {
    run("seq_events", Gen::V3, &[], 30);
}
#[test]
fn xu_completion_eventfd() {
    run("xu_events", Gen::V3, &[], 30);
}
#[test]
fn event_calls_fail_in_implicit_mode() {
    run(
        "events_implicit",
        Gen::V3,
        &[("NRT_SIM_RUNTIME", "2.30"), ("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS", "2")],
        30,
    );
}
#[test]
fn xu_completion_absent_from_v2() {
    run("xu_events_v2", Gen::V2, &[], 30);
}
#[test]
fn full_queue_returns_queue_full_and_changes_nothing_v3() {
    // 50 ms transfers: the tensor-op queue is still full when the third write comes
    run(
        "full_queue_changes_nothing",
        Gen::V3,
        &[("NRT_SIM_QUEUE_DEPTH", "2"), ("NRT_SIM_DMA_LATENCY_US", "50000")],
        30,
    );
}
#[test]
fn full_queue_returns_queue_full_and_changes_nothing_v2() {
    run("full_queue_changes_nothing", Gen::V2, &[("NRT_SIM_QUEUE_DEPTH", "2")], 30);
}
#[test]
fn failed_schedule_writes_neither_ret_nor_seq() {
    run("failed_schedule_writes_nothing", Gen::V3, &[("NRT_SIM_UNRECOVERABLE_AFTER", "1")], 30);
}
#[test]
fn status_written_before_completion() {
    run(
        "status_before_completion",
        Gen::V3,
        &[("NRT_SIM_LATENCY_SCALE", "0"), ("NRT_SIM_FAIL_EVERY", "3"), ("NRT_SIM_QUEUE_DEPTH", "64")],
        60,
    );
}
#[test]
fn queue_indices_v3() {
    run("queue_indices", Gen::V3, &[], 30);
}
#[test]
fn queue_indices_v2() {
    run("queue_indices", Gen::V2, &[], 30);
}
#[test]
fn virtual_placement_until_2_29() {
    run("placement_virtual", Gen::V3, &[("NRT_SIM_RUNTIME", "2.29")], 30);
    run("placement_virtual", Gen::V3, &[("NRT_SIM_RUNTIME", "2.30")], 30);
    run("placement_virtual", Gen::V2, &[("NRT_SIM_RUNTIME", "2.28")], 30);
    run("placement_virtual", Gen::V3, &[], 30);
}
#[test]
fn status_as_str_is_a_simulator_convenience() {
    run("status_as_str", Gen::V3, &[], 30);
    run("status_as_str", Gen::V2, &[], 30);
}

// ====================================================================== helpers

fn eventfd() -> c_int {
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    assert!(fd >= 0);
    fd
}

/// Reads (and resets) an eventfd's counter; 0 when nothing was added.
fn take(fd: c_int) -> u64 {
    let mut v = 0u64;
    let n = unsafe { libc::read(fd, &mut v as *mut u64 as *mut c_void, 8) };
    if n == 8 {
        v
    } else {
        0
    }
}

fn close(fd: c_int) {
    unsafe { libc::close(fd) };
}

struct Io {
    m: *mut nrt_model_t,
    x: *mut nrt_tensor_t,
    y: *mut nrt_tensor_t,
    i: *mut nrt_tensor_set_t,
    o: *mut nrt_tensor_set_t,
}

fn io(l: &Lib, latency_us: u64) -> Io {
    let m = l.load(&slow(latency_us), 0);
    let x = l.dev(0, 64, "x");
    let y = l.dev(0, 64, "y");
    Io { m, x, y, i: l.set(&[("x", x)]), o: l.set(&[("y", y)]) }
}

fn sched3(l: &Lib, k: &Io, ret: &mut NRT_STATUS, seq: &mut u64) -> NRT_STATUS {
    unsafe { (l.v3().nrta_execute_schedule)(k.m, k.i, k.o, 0, ret, seq) }
}

/// Schedules one execution on either generation; (status, seq).
fn sched(l: &Lib, k: &Io, ret: &mut NRT_STATUS, seq: &mut u64) -> NRT_STATUS {
    match (&l.v3, &l.v2) {
        (Some(_), _) => sched3(l, k, ret, seq),
        (_, Some(v2)) => unsafe { (v2.nrta_execute_schedule)(k.m, k.i, k.o, 0, std::ptr::null_mut(), seq) },
        _ => unreachable!(),
    }
}

// ====================================================================== scenarios

/// `nrta_event_register_seq_id_completion`: an already-completed sequence
/// signals at once; `-1` drops the registrations of a sequence, which is then
/// never signalled, and closes the simulator's references (no fd leaks).
fn seq_events(l: &Lib) {
    l.init();
    let v3 = l.v3();
    let k = io(l, 100_000);
    let fds_before = open_fds();
    let (efd, other) = (eventfd(), eventfd());
    let (mut ret, mut seq) = (99u32, 0u64);
    assert_eq!(sched3(l, &k, &mut ret, &mut seq), NRT_SUCCESS);
    unsafe {
        assert_eq!((v3.nrta_event_register_seq_id_completion)(seq, efd), NRT_SUCCESS);
        assert_eq!((v3.nrta_event_register_seq_id_completion)(seq, efd), NRT_SUCCESS, "twice: two dups");
        assert_eq!((v3.nrta_event_register_seq_id_completion)(seq, other), NRT_SUCCESS);
        assert_eq!(open_fds().len(), fds_before.len() + 5, "the simulator holds a dup of each registration");
        assert_eq!((v3.nrta_event_register_seq_id_completion)(seq, -1), NRT_SUCCESS, "-1 deregisters");
        assert_eq!(open_fds().len(), fds_before.len() + 2, "and drops its dups");
        assert_eq!((v3.nrta_event_register_seq_id_completion)(seq, -1), NRT_SUCCESS, "nothing registered: no-op");
        assert_eq!((v3.nrta_event_register_seq_id_completion)(seq + 1, -1), NRT_INVALID, "never issued");
        assert_eq!((v3.nrta_event_register_seq_id_completion)(seq, -2), NRT_INVALID);
    }
    l.wait_seq(seq);
    assert_eq!(ret, NRT_SUCCESS);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(take(efd), 0, "a deregistered fd is not signalled");
    assert_eq!(take(other), 0);
    // a completed sequence signals at once
    unsafe {
        assert_eq!((v3.nrta_event_register_seq_id_completion)(seq, efd), NRT_SUCCESS);
    }
    assert_eq!(take(efd), 1, "signalled inside the call");
    assert_eq!(open_fds().len(), fds_before.len() + 2, "no dup kept for a completed sequence");
    // a registration that is signalled drops its dup
    let (mut r2, mut s2) = (99u32, 0u64);
    assert_eq!(sched3(l, &k, &mut r2, &mut s2), NRT_SUCCESS);
    unsafe {
        assert_eq!((v3.nrta_event_register_seq_id_completion)(s2, efd), NRT_SUCCESS);
    }
    assert!(readable(efd, 5000), "signalled at completion");
    assert_eq!(take(efd), 1);
    assert!(l.is_completed(s2).unwrap());
    assert_eq!(open_fd_count_settled(fds_before.len() + 2), fds_before.len() + 2, "the dup closed after the signal");
    close(efd);
    close(other);
    l.close();
}

/// `nrta_event_register_xu_completion(lnc, xu, queue, efd)`: 1 is added to
/// efd at every completion on that unit queue (sync requests on it too);
/// a new registration replaces the old; -1 deregisters; nrt_close drops it.
fn xu_events(l: &Lib) {
    let v3 = l.v3();
    let reg = |lnc: u32, xu: nrta_xu_t, q: c_int, fd: c_int| unsafe {
        (v3.nrta_event_register_xu_completion)(lnc, xu, q, fd)
    };
    let efd = eventfd();
    assert_eq!(reg(0, NRTA_XU_COMPUTE, 0, efd), NRT_UNINITIALIZED);
    let fds_before = open_fds();
    l.init();
    let k = io(l, 2_000);
    // bad arguments: NRT_INVALID
    assert_eq!(reg(9, NRTA_XU_COMPUTE, 0, efd), NRT_INVALID, "lnc");
    assert_eq!(reg(0, NRTA_XU_TYPE_NUM, 0, efd), NRT_INVALID, "unit type");
    assert_eq!(reg(0, NRTA_XU_COMPUTE, 1, efd), NRT_INVALID, "compute has queue 0 only");
    assert_eq!(reg(0, NRTA_XU_TENSOR_OP, 2, efd), NRT_INVALID, "tensor-op has queues 0 and 1");
    assert_eq!(reg(0, NRTA_XU_COLLECTIVES, 3, efd), NRT_INVALID, "collectives have queues 0..2");
    assert_eq!(reg(0, NRTA_XU_COMPUTE, -1, efd), NRT_INVALID);
    assert_eq!(reg(0, NRTA_XU_COMPUTE, 0, -2), NRT_INVALID, "efd");
    let closed = eventfd();
    close(closed);
    assert_eq!(reg(0, NRTA_XU_COMPUTE, 0, closed), NRT_INVALID, "not an open fd");
    assert_eq!(reg(0, NRTA_XU_COLLECTIVES, 2, efd), NRT_SUCCESS, "collectives queue 2 exists");
    assert_eq!(reg(0, NRTA_XU_COLLECTIVES, 2, -1), NRT_SUCCESS);

    // every completion of compute queue 0 of core 0
    assert_eq!(reg(0, NRTA_XU_COMPUTE, 0, efd), NRT_SUCCESS);
    assert_eq!(take(efd), 0, "registration alone signals nothing");
    let mut seqs = [0u64; 3];
    let mut rets = [99u32; 3];
    for (s, r) in seqs.iter_mut().zip(rets.iter_mut()) {
        assert_eq!(sched3(l, &k, r, s), NRT_SUCCESS);
    }
    l.wait_seq(seqs[2]);
    assert_eq!(l.exec(k.m, k.i, k.o), NRT_SUCCESS, "a synchronous request on that queue counts too");
    assert_eq!(take(efd), 4, "one per completion (one read covers several)");
    // other units and queues do not signal it
    let src = [1u8; 64];
    let (mut wr, mut ws) = (99u32, 0u64);
    unsafe {
        assert_eq!(
            (v3.nrta_tensor_write)(k.x, src.as_ptr() as *mut c_void, 0, 64, 0, 1, &mut wr, &mut ws),
            NRT_SUCCESS
        );
    }
    l.wait_seq(ws);
    let m1 = l.load(&slow(10), 1);
    let (x1, y1) = (l.dev(1, 64, "x1"), l.dev(1, 64, "y1"));
    assert_eq!(l.exec(m1, l.set(&[("x", x1)]), l.set(&[("y", y1)])), NRT_SUCCESS, "core 1");
    assert_eq!(take(efd), 0, "another unit, queue or core");
    // tensor-op queue 1
    let efd2 = eventfd();
    assert_eq!(reg(0, NRTA_XU_TENSOR_OP, 1, efd2), NRT_SUCCESS);
    unsafe {
        assert_eq!(
            (v3.nrta_tensor_write)(k.x, src.as_ptr() as *mut c_void, 0, 64, 0, 1, &mut wr, &mut ws),
            NRT_SUCCESS
        );
    }
    l.wait_seq(ws);
    assert!(readable(efd2, 5000));
    assert_eq!(take(efd2), 1);
    // a new registration replaces the old one
    assert_eq!(reg(0, NRTA_XU_COMPUTE, 0, efd2), NRT_SUCCESS);
    assert_eq!(l.exec(k.m, k.i, k.o), NRT_SUCCESS);
    assert_eq!((take(efd), take(efd2)), (0, 1), "only the latest registration is signalled");
    // -1 deregisters
    assert_eq!(reg(0, NRTA_XU_COMPUTE, 0, -1), NRT_SUCCESS);
    assert_eq!(reg(0, NRTA_XU_COMPUTE, 0, -1), NRT_SUCCESS, "nothing registered: no-op");
    assert_eq!(l.exec(k.m, k.i, k.o), NRT_SUCCESS);
    assert_eq!(take(efd2), 0, "deregistered");
    // the registration of tensor-op queue 1 is still there; nrt_close drops its dup
    // (the compute unit's transient dup closes just after its signal)
    let want = fds_before.len() + 2;
    assert_eq!(open_fd_count_settled(want), want, "one dup held (tensor-op 1), plus efd2");
    l.close();
    assert_eq!(open_fds().len(), fds_before.len() + 1, "nrt_close dropped it");
    assert!(fd_is_open(efd) && fd_is_open(efd2), "the caller's fds are the caller's");
    close(efd);
    close(efd2);
}

/// The implicit mode refuses the event calls like every nrta_* call.
fn events_implicit(l: &Lib) {
    l.init();
    let v3 = l.v3();
    let efd = eventfd();
    unsafe {
        assert_eq!((v3.nrta_event_register_xu_completion)(0, NRTA_XU_COMPUTE, 0, efd), NRT_FAILURE);
        assert_eq!((v3.nrta_event_register_seq_id_completion)(1 << 48 | 1, efd), NRT_FAILURE);
    }
    close(efd);
    l.close();
}

/// A full queue: NRT_QUEUE_FULL, and nothing changes: no sequence number is
/// consumed, `*seq` and `*ret` are not written, the request never runs.
fn full_queue_changes_nothing(l: &Lib) {
    unsafe {
        std::env::set_var("NRT_SIM_REPORT", report_path());
    }
    l.init();
    let k = io(l, 50_000);
    let mut rets = [99u32; 3];
    let mut seqs = [0u64; 3];
    assert_eq!(sched(l, &k, &mut rets[0], &mut seqs[0]), NRT_SUCCESS);
    assert_eq!(sched(l, &k, &mut rets[1], &mut seqs[1]), NRT_SUCCESS);
    let (mut r, mut s) = (0xdead_u32, 0xfeed_u64);
    assert_eq!(sched(l, &k, &mut r, &mut s), NRT_QUEUE_FULL);
    assert_eq!((r, s), (0xdead, 0xfeed), "*ret and *seq untouched");
    assert_eq!(l.is_completed(seqs[1] + 1).unwrap_err(), NRT_INVALID, "no sequence number was consumed");
    // a transfer on a full tensor queue: the caller's buffer is never read
    let src = [7u8; 64];
    if let Some(v3) = &l.v3 {
        let mut ws = [0u64; 2];
        let mut wr = [99u32; 2];
        unsafe {
            for q in 0..2 {
                assert_eq!(
                    (v3.nrta_tensor_write)(k.y, src.as_ptr() as *mut c_void, 0, 64, 0, 0, &mut wr[q], &mut ws[q]),
                    NRT_SUCCESS
                );
            }
            let (mut r2, mut s2) = (0xdead_u32, 0xfeed_u64);
            let other = [9u8; 64];
            assert_eq!(
                (v3.nrta_tensor_write)(k.x, other.as_ptr() as *mut c_void, 0, 64, 0, 0, &mut r2, &mut s2),
                NRT_QUEUE_FULL
            );
            assert_eq!((r2, s2), (0xdead, 0xfeed));
        }
        l.wait_seq(ws[1]);
    }
    l.wait_seq(seqs[1]);
    assert_eq!(sched(l, &k, &mut rets[2], &mut seqs[2]), NRT_SUCCESS);
    assert_eq!(seqs[2], seqs[1] + 1, "the retry gets the next number");
    l.wait_seq(seqs[2]);
    assert_eq!(l.read(k.x, 0, 64), vec![0u8; 64], "the refused write never happened");
    l.close();
    let r = read_report();
    assert_eq!(r["executions"], 3, "the refused request never ran: {r}");
    assert_eq!(r["queue_full"], if l.v3.is_some() { 2 } else { 1 }, "{r}");
}

/// Any non-success return of a v3 schedule call leaves `*ret` and `*seq`
/// unwritten, now and later (bad input, a dead unit).
fn failed_schedule_writes_nothing(l: &Lib) {
    l.init();
    let v3 = l.v3();
    let k = io(l, 100);
    let h = l.host(64, "h");
    let bad_in = l.set(&[("x", h)]);
    let (mut r, mut s) = (0xdead_u32, 0xfeed_u64);
    unsafe {
        assert_eq!((v3.nrta_execute_schedule)(k.m, k.i, k.o, 1, &mut r, &mut s), NRT_INVALID, "queue");
        assert_eq!((v3.nrta_execute_schedule)(k.m, bad_in, k.o, 0, &mut r, &mut s), NRT_INVALID, "host tensor");
        let buf = [0u8; 64];
        assert_eq!((v3.nrta_tensor_write)(k.x, buf.as_ptr() as *mut c_void, 60, 8, 0, 0, &mut r, &mut s), NRT_INVALID);
        assert_eq!(
            (v3.nrta_tensor_read)(buf.as_ptr() as *mut c_void, k.x, 0, 8, 1, 0, &mut r, &mut s),
            NRT_INVALID,
            "lnc"
        );
        assert_eq!((v3.nrta_tensor_copy)(k.x, 0, k.y, 0, 8, 0, 2, &mut r, &mut s), NRT_INVALID, "queue");
        let (mut r1, mut s1) = (99u32, 0u64);
        assert_eq!((v3.nrta_execute_schedule)(k.m, k.i, k.o, 0, &mut r1, &mut s1), NRT_SUCCESS);
        l.wait_seq(s1);
        assert_eq!((v3.nrta_execute_schedule)(k.m, k.i, k.o, 0, &mut r, &mut s), NRT_EXEC_UNIT_UNRECOVERABLE);
    }
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!((r, s), (0xdead, 0xfeed), "never written");
    l.close();
}

/// A request's status is in `*ret` before anything says it completed: poll
/// 600 requests (every 3rd fails) on an instant device; whenever
/// `nrta_is_completed` or `nrta_get_sequence` says one is done, its `*ret`
/// holds its final status.
fn status_before_completion(l: &Lib) {
    l.init();
    let v3 = l.v3();
    let k = io(l, 0);
    const SENTINEL: u32 = 0x5e71_0e11;
    let n = 600;
    let rets: Vec<std::sync::atomic::AtomicU32> = (0..n).map(|_| std::sync::atomic::AtomicU32::new(SENTINEL)).collect();
    let mut seqs = vec![0u64; n];
    let t = Instant::now();
    let (mut next, mut low) = (0, 0);
    while low < n {
        assert!(t.elapsed() < Duration::from_secs(30), "stuck at {low} of {n}");
        if next < n {
            let st = unsafe { (v3.nrta_execute_schedule)(k.m, k.i, k.o, 0, rets[next].as_ptr(), &mut seqs[next]) };
            match st {
                NRT_SUCCESS => next += 1,
                NRT_QUEUE_FULL => {}
                other => panic!("schedule returned {other}"),
            }
        }
        // everything up to the last completed (nrta_get_sequence), and whatever
        // nrta_is_completed says is done, has its status already
        let mut last = 0u64;
        assert_eq!(unsafe { (v3.nrta_get_sequence)(0, NRTA_XU_COMPUTE, 0, &mut last) }, NRT_SUCCESS);
        while low < next && (seqs[low] <= last || l.is_completed(seqs[low]).unwrap()) {
            let st = rets[low].load(std::sync::atomic::Ordering::SeqCst);
            assert_ne!(st, SENTINEL, "request {low} reported complete before its status was written");
            let want = if (low + 1) % 3 == 0 { NRT_EXEC_COMPLETED_WITH_ERR } else { NRT_SUCCESS };
            assert_eq!(st, want, "request {low}");
            low += 1;
        }
    }
    l.close();
}

/// Queue indices as in the binary: v3 tensor-op 0..1, compute 0, collectives
/// 0..2 (anything else NRT_INVALID); v2 one queue per unit.
fn queue_indices(l: &Lib) {
    l.init();
    let k = io(l, 10);
    let mut last = 0u64;
    let src = [0u8; 8];
    let (mut r, mut s) = (0u32, 0u64);
    if let Some(v3) = &l.v3 {
        let mut gs = |xu, q| unsafe { (v3.nrta_get_sequence)(0, xu, q, &mut last) };
        for (xu, n) in [(NRTA_XU_TENSOR_OP, 2), (NRTA_XU_COMPUTE, 1), (NRTA_XU_COLLECTIVES, 3)] {
            for q in 0..n {
                assert_eq!(gs(xu, q), NRT_SUCCESS, "unit {xu} queue {q}");
            }
            assert_eq!(gs(xu, n), NRT_INVALID, "unit {xu} queue {n}");
            assert_eq!(gs(xu, -1), NRT_INVALID);
        }
        assert_eq!(gs(NRTA_XU_TYPE_NUM, 0), NRT_INVALID);
        unsafe {
            for q in 0..2 {
                assert_eq!(
                    (v3.nrta_tensor_write)(k.x, src.as_ptr() as *mut c_void, 0, 8, 0, q, &mut r, &mut s),
                    NRT_SUCCESS
                );
                l.wait_seq(s);
                assert_eq!(
                    (v3.nrta_tensor_read)(src.as_ptr() as *mut c_void, k.x, 0, 8, 0, q, &mut r, &mut s),
                    NRT_SUCCESS
                );
                l.wait_seq(s);
                assert_eq!((v3.nrta_tensor_copy)(k.x, 0, k.y, 0, 8, 0, q, &mut r, &mut s), NRT_SUCCESS);
                l.wait_seq(s);
            }
            assert_eq!(
                (v3.nrta_tensor_write)(k.x, src.as_ptr() as *mut c_void, 0, 8, 0, 2, &mut r, &mut s),
                NRT_INVALID
            );
            assert_eq!(
                (v3.nrta_tensor_read)(src.as_ptr() as *mut c_void, k.x, 0, 8, 0, 2, &mut r, &mut s),
                NRT_INVALID
            );
            assert_eq!((v3.nrta_tensor_copy)(k.x, 0, k.y, 0, 8, 0, 2, &mut r, &mut s), NRT_INVALID);
            assert_eq!((v3.nrta_execute_schedule)(k.m, k.i, k.o, 1, &mut r, &mut s), NRT_INVALID);
            assert_eq!((v3.nrta_execute_schedule)(k.m, k.i, k.o, 0, &mut r, &mut s), NRT_SUCCESS);
            l.wait_seq(s);
        }
    }
    if let Some(v2) = &l.v2 {
        use nrt_sys::v2::*;
        let mut gs = |xu, q| unsafe { (v2.nrta_get_sequence)(0, xu, q, &mut last) };
        for xu in [NRTA_XU_TENSOR_READ, NRTA_XU_TENSOR_WRITE, NRTA_XU_TENSOR_OP, NRTA_XU_COMPUTE, NRTA_XU_COLLECTIVES] {
            assert_eq!(gs(xu, 0), NRT_SUCCESS);
            assert_eq!(gs(xu, 1), NRT_INVALID, "unit {xu}: one queue");
        }
        assert_eq!(gs(NRTA_XU_TYPE_NUM, 0), NRT_INVALID);
        unsafe {
            assert_eq!(
                (v2.nrta_tensor_write)(k.x, src.as_ptr() as *const c_void, 0, 8, 1, std::ptr::null_mut(), &mut s),
                NRT_INVALID
            );
            assert_eq!((v2.nrta_execute_schedule)(k.m, k.i, k.o, 1, std::ptr::null_mut(), &mut s), NRT_INVALID);
        }
    }
    let _ = r;
    l.close();
}

/// VIRTUAL placement: accepted below 2.30 (a host-memory tensor with a CPU
/// address), NRT_INVALID from 2.30 on.
fn placement_virtual(l: &Lib) {
    l.init();
    let mut v = nrt_version_t::default();
    assert_eq!(unsafe { (l.c.nrt_get_version)(&mut v, std::mem::size_of::<nrt_version_t>()) }, NRT_SUCCESS);
    let r = l.alloc_st(NRT_TENSOR_PLACEMENT_VIRTUAL, -1, 64, "v");
    if (v.rt_major, v.rt_minor) < (2, 30) {
        let t = r.expect("VIRTUAL before 2.30");
        assert!(!unsafe { (l.c.nrt_tensor_get_va)(t) }.is_null());
        assert_eq!(l.write(t, 0, &[3u8; 64]), NRT_SUCCESS);
        assert_eq!(l.read(t, 0, 64), vec![3u8; 64]);
    } else {
        assert_eq!(r.unwrap_err(), NRT_INVALID, "VIRTUAL from 2.30 on (runtime {}.{})", v.rt_major, v.rt_minor);
        // DEVICE and HOST are unaffected
        assert!(l.alloc_st(NRT_TENSOR_PLACEMENT_HOST, -1, 64, "h").is_ok());
    }
    l.close();
}

/// nrt_get_status_as_str: the 2.31.24 binary does not export it; the
/// simulator does, as a convenience (more permissive than the runtime:
/// sim/FIDELITY.md). It names every status, before init too.
fn status_as_str(l: &Lib) {
    assert!(l.has("nrt_get_status_as_str"));
    assert_eq!(l.status_str(NRT_QUEUE_FULL), "NRT_QUEUE_FULL");
    assert_eq!(l.status_str(NRT_EXEC_COMPLETED_WITH_ERR), "NRT_EXEC_COMPLETED_WITH_ERR");
    assert_eq!(l.status_str(4242), "NRT_UNKNOWN_STATUS");
}

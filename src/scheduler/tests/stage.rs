//! Asynchronous transfers against the fake: staged writes return before the
//! transfer, requests that use its bytes wait for it (and the requests after
//! them keep their order), host accesses wait for it, a failed transfer
//! marks its bytes, and without the tensor-op calls nothing changes.

use super::*;

fn staging_engine(depth: usize) -> &'static Engine<Fake> {
    let e = engine_with(depth, |c| c.stage_max_bytes = 1 << 20);
    e.device.transfers.store(true, Ordering::SeqCst);
    e
}

fn stage(e: &'static Engine<Fake>, t: Handle, byte: u8) -> Option<Status> {
    let view = e.tensor(t).unwrap().view();
    let r = ByteRange::new(view.offset, view.size);
    e.write_staged(t, 0, &view, r, |dst| dst.fill(byte))
}

fn wait_until(what: &str, f: impl Fn() -> bool) {
    let t0 = std::time::Instant::now();
    while !f() {
        assert!(t0.elapsed() < WATCHDOG, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_staged_write_returns_at_once_with_the_bytes_copied() {
    let e = staging_engine(4);
    assert_eq!(stage(e, X, 7), Some(NRT_SUCCESS));
    let st = e.device.st.lock();
    assert_eq!(st.xfers.len(), 1, "queued on the tensor-op unit, not waited for");
    assert_eq!(st.written, vec![(X, 0, vec![7u8; 64])]);
}

#[test]
fn requests_wait_for_the_transfer_and_keep_their_order() {
    let e = staging_engine(4);
    // A request on the device: the ones behind the transfer need not hurry.
    assert_eq!(exec(e, IN2, OUT2), NRT_SUCCESS);
    stage(e, X, 1);
    // Reads x (the transfer's bytes): held back.
    assert_eq!(exec(e, IN, OUT), NRT_SUCCESS);
    // Touches nothing of the transfer, but was accepted after: held back too
    // (the runtime must see one core's requests in acceptance order).
    assert_eq!(exec(e, IN2, OUT2), NRT_SUCCESS);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(e.device.queued(0), 1, "nothing more submitted before the transfer completed");
    assert!(e.device.complete_transfer(NRT_SUCCESS));
    wait_until("both requests submitted", || e.device.queued(0) == 3);
    let order = e.device.st.lock().scheduled_inputs.clone();
    assert_eq!(order.len(), 3);
    assert!(order[1] != order[0] && order[2] == order[0], "in acceptance order: {order:x?}");
    for _ in 0..3 {
        e.device.complete(0, NRT_SUCCESS);
    }
    assert!(e.wait_all(Some(std::time::Instant::now() + WATCHDOG), "test"));
}

#[test]
fn a_request_on_other_bytes_is_not_held_back() {
    let e = staging_engine(4);
    stage(e, X2, 1);
    exec(e, IN, OUT);
    assert_eq!(e.device.queued(0), 1, "x and y are not the transfer's");
    e.device.complete_transfer(NRT_SUCCESS);
    e.device.complete(0, NRT_SUCCESS);
    assert!(e.wait_all(Some(std::time::Instant::now() + WATCHDOG), "test"));
}

#[test]
fn host_accesses_of_the_bytes_wait_for_the_transfer() {
    let e = staging_engine(4);
    stage(e, X, 1);
    assert_eq!(read(e, X2), NRT_SUCCESS, "other bytes: no wait");
    let r = spawn(move || read(e, X));
    assert!(r.recv_timeout(BLOCKED).is_err(), "the read waits for the transfer");
    e.device.complete_transfer(NRT_SUCCESS);
    assert_eq!(r.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
    // A drain waits for transfers too.
    stage(e, X, 2);
    let d = spawn(move || e.drain(0));
    assert!(d.recv_timeout(BLOCKED).is_err(), "the drain waits for the transfer");
    e.device.complete_transfer(NRT_SUCCESS);
    assert_eq!(d.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
}

#[test]
fn a_failed_transfer_marks_its_bytes_and_is_reported_once() {
    let e = staging_engine(4);
    stage(e, X, 1);
    e.device.complete_transfer(1004);
    exec(e, IN, OUT);
    wait_until("the request submitted", || e.device.queued(0) == 1);
    e.device.complete(0, NRT_SUCCESS);
    assert!(e.wait_all(Some(std::time::Instant::now() + WATCHDOG), "test"));
    let reported = COUNTERS.get(Counter::FailuresReported);
    assert_eq!(read(e, X), 1004, "the transfer's bytes carry its failure");
    assert_eq!(read(e, Y), 1004, "so do the outputs of a request that read them (a derived failure)");
    assert!(COUNTERS.get(Counter::FailuresReported) > reported);
    assert_eq!(e.drain(0), NRT_SUCCESS, "reported by the read: not again");
    // Rewriting the bytes clears the mark.
    assert_eq!(stage(e, X, 3), Some(NRT_SUCCESS));
    e.device.complete_transfer(NRT_SUCCESS);
    assert_eq!(read(e, X), NRT_SUCCESS);
}

#[test]
fn an_unreported_transfer_failure_is_the_drains() {
    let e = staging_engine(4);
    stage(e, X, 1);
    e.device.complete_transfer(1004);
    assert_eq!(e.drain(0), 1004);
    assert_eq!(e.drain(0), NRT_SUCCESS, "once");
}

#[test]
fn a_device_side_copy_is_ordered_by_the_tracker() {
    let e = staging_engine(4);
    exec(e, IN, OUT);
    let (sv, dv) = (e.tensor(Y).unwrap().view(), e.tensor(X2).unwrap().view());
    let (sr, dr) = (ByteRange::new(0, 64), ByteRange::new(0, 64));
    // The source is the pending request's output: the copy waits for it.
    let c = spawn(move || e.copy_on_device(Y, 0, &sv, sr, X2, 0, &dv, dr));
    assert!(c.recv_timeout(BLOCKED).is_err(), "the copy waits for the writer of its source");
    e.device.complete(0, NRT_SUCCESS);
    assert_eq!(c.recv_timeout(WATCHDOG).unwrap(), Some(NRT_SUCCESS));
    assert_eq!(e.device.st.lock().copied, vec![(Y, X2, 64)]);
    // Reading its source does not wait for it, writing it does.
    assert_eq!(read(e, Y), NRT_SUCCESS);
    let w = spawn(move || write(e, Y));
    assert!(w.recv_timeout(BLOCKED).is_err(), "overwriting the copy's source waits");
    e.device.complete_transfer(NRT_SUCCESS);
    assert_eq!(w.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
}

#[test]
fn without_tensor_ops_or_switched_off_writes_stay_synchronous() {
    let e = engine_with(4, |c| c.stage_max_bytes = 1 << 20);
    assert_eq!(stage(e, X, 1), None, "the runtime lacks nrta_tensor_write");
    let e = engine(4);
    e.device.transfers.store(true, Ordering::SeqCst);
    assert_eq!(stage(e, X, 1), None, "NRT_SHIM_STAGE_MAX_BYTES's default: no write is staged");
    let e = engine_with(4, |c| {
        c.stage = false;
        c.stage_max_bytes = 1 << 20;
    });
    e.device.transfers.store(true, Ordering::SeqCst);
    assert_eq!(stage(e, X, 1), None, "NRT_SHIM_STAGE=0");
    let e = engine_with(4, |c| c.stage_max_bytes = 63);
    e.device.transfers.store(true, Ordering::SeqCst);
    assert_eq!(stage(e, X, 1), None, "above NRT_SHIM_STAGE_MAX_BYTES");
    let e = engine_with(4, |c| {
        c.stage_pool_bytes = 0;
        c.stage_max_bytes = 1 << 20;
    });
    e.device.transfers.store(true, Ordering::SeqCst);
    assert_eq!(stage(e, X, 1), None, "no staging memory: synchronous, never a failure");
}

#[test]
fn a_free_waits_for_the_transfer_naming_the_tensor() {
    let e = staging_engine(4);
    stage(e, X, 1);
    let f = spawn(move || e.free_tensor(X));
    assert!(f.recv_timeout(BLOCKED).is_err(), "the runtime must not free it under the transfer");
    e.device.complete_transfer(NRT_SUCCESS);
    f.recv_timeout(WATCHDOG).unwrap();
    wait_until("the free", || e.device.st.lock().freed == vec![X]);
}

#[test]
fn transfers_of_one_step_run_on_both_queues_and_complete_in_any_order() {
    let e = staging_engine(4);
    e.device.queues.store(2, Ordering::SeqCst);
    // The completion thread sleeps until what it watches completes, as on
    // the real backends: the newer transfer must be watched too.
    e.device.signalled.store(true, Ordering::SeqCst);
    stage(e, X, 1);
    stage(e, X2, 2);
    assert_eq!(e.device.st.lock().xfer_queues, vec![1, 0], "side by side");
    // Reads x2, whose transfer (the newer) completes first: it goes then,
    // while x's is still running.
    assert_eq!(exec(e, IN2, OUT2), NRT_SUCCESS);
    assert_eq!(e.device.queued(0), 0, "held for x2's transfer");
    assert!(e.device.complete_newest_transfer(NRT_SUCCESS));
    wait_until("the request reading x2", || e.device.queued(0) == 1);
    // x's transfer still blocks a host read of x, not of x2.
    assert_eq!(read(e, X2), NRT_SUCCESS);
    let r = spawn(move || read(e, X));
    assert!(r.recv_timeout(BLOCKED).is_err(), "the read of x waits for its transfer");
    assert!(e.device.complete_transfer(NRT_SUCCESS));
    assert_eq!(r.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
    e.device.complete(0, NRT_SUCCESS);
    assert!(e.wait_all(Some(std::time::Instant::now() + WATCHDOG), "test"));
}

#[test]
fn a_transfer_on_one_queue_runs_on_one_queue_on_v2() {
    let e = staging_engine(4);
    stage(e, X, 1);
    stage(e, X2, 2);
    assert_eq!(e.device.st.lock().xfer_queues, vec![0, 0], "one queue: both on it");
    while e.device.complete_transfer(NRT_SUCCESS) {}
}

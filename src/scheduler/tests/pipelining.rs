//! Pipelining: requests return before the device finishes, host calls wait
//! only for the requests that touch their bytes, windows, queue-full, deferred
//! frees, mirror sets, host executions in acceptance order.

use super::*;

#[test]
fn execute_returns_before_the_device_finishes() {
    let e = engine(4);
    assert_eq!(exec(e, IN, OUT), NRT_SUCCESS);
    assert_eq!(e.device.queued(0), 1, "scheduled on the device");
    assert_eq!(e.outstanding(), 1);
}

#[test]
fn read_waits_for_its_producer_only() {
    let e = engine(4);
    assert_eq!(exec(e, IN, OUT), NRT_SUCCESS);
    // x2 is untouched by the pending request: no wait.
    assert_eq!(read(e, X2), NRT_SUCCESS);
    // x is only read by it: reading x needs no wait either.
    assert_eq!(read(e, X), NRT_SUCCESS);
    // y is its output: the read blocks until it completes.
    let r = spawn(move || read(e, Y));
    assert!(r.recv_timeout(BLOCKED).is_err(), "the read of y must wait");
    assert!(e.device.complete(0, NRT_SUCCESS));
    assert_eq!(r.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
}

#[test]
fn write_waits_for_readers_of_its_bytes() {
    let e = engine(4);
    exec(e, IN, OUT);
    let w = spawn(move || write(e, X));
    assert!(w.recv_timeout(BLOCKED).is_err(), "overwriting an input in use must wait");
    e.device.complete(0, NRT_SUCCESS);
    assert_eq!(w.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
}

#[test]
fn the_window_blocks_the_next_request() {
    let e = engine(2);
    exec(e, IN, OUT);
    exec(e, IN2, OUT2);
    let third = spawn(move || exec(e, IN, OUT));
    assert!(third.recv_timeout(BLOCKED).is_err(), "a third request waits for room");
    e.device.complete(0, NRT_SUCCESS);
    assert_eq!(third.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
}

#[test]
fn queue_full_is_absorbed() {
    let e = engine(4);
    e.device.st.lock().capacity = 1;
    exec(e, IN, OUT);
    exec(e, IN2, OUT2);
    assert_eq!(e.device.queued(0), 1, "the runtime took one");
    e.device.complete(0, NRT_SUCCESS);
    // The completion thread retries the refused request.
    let t0 = std::time::Instant::now();
    while e.device.queued(0) == 0 && t0.elapsed() < WATCHDOG {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(e.device.queued(0), 1);
    e.device.complete(0, NRT_SUCCESS);
    assert!(e.wait_all(Some(std::time::Instant::now() + WATCHDOG), "test"));
}

#[test]
fn free_is_deferred_until_the_last_user_completes() {
    let e = engine(4);
    exec(e, IN, OUT);
    e.free_tensor(Y);
    assert!(e.device.st.lock().freed.is_empty(), "in use: deferred");
    assert_eq!(e.tensor(Y).unwrap_err(), NRT_INVALID_HANDLE, "the handle is gone at once");
    e.device.complete(0, NRT_SUCCESS);
    assert!(e.wait_all(Some(std::time::Instant::now() + WATCHDOG), "test"));
    let t0 = std::time::Instant::now();
    while e.device.st.lock().freed.is_empty() && t0.elapsed() < WATCHDOG {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(e.device.st.lock().freed, vec![Y]);
    e.free_tensor(X2);
    assert_eq!(e.device.st.lock().freed, vec![Y, X2], "unused: freed at once");
}

#[test]
fn steady_state_reuses_the_shims_tensor_sets() {
    let e = engine(8);
    for _ in 0..3 {
        exec(e, IN, OUT);
        exec(e, IN2, OUT2);
    }
    let st = e.device.st.lock();
    assert_eq!(st.sets_allocated, 4, "one mirror per set");
    assert_eq!(st.schedules, 6);
}

#[test]
fn changing_a_set_in_flight_does_not_touch_the_pending_request() {
    let e = engine(8);
    exec(e, IN, OUT);
    // The application points its input set at another tensor right away.
    e.set_member_added(IN, b"x", X2);
    exec(e, IN, OUT2);
    assert_eq!(e.device.st.lock().sets_allocated, 4, "a second mirror, the first one unchanged");
    e.device.complete(0, NRT_SUCCESS);
    e.device.complete(0, NRT_SUCCESS);
    assert!(e.wait_all(Some(std::time::Instant::now() + WATCHDOG), "test"));
    // Back to x: the idle first mirror matches again.
    e.set_member_added(IN, b"x", X);
    exec(e, IN, OUT);
    assert_eq!(e.device.st.lock().sets_allocated, 4);
    e.set_destroyed(IN);
    assert!(e.device.st.lock().sets_destroyed >= 1);
}

#[test]
fn host_tensors_run_synchronously_after_their_hazards() {
    let e = engine(4);
    e.set_allocated(0x240);
    e.set_member_added(0x240, b"x", HOST);
    exec(e, IN2, OUT); // writes y
                       // An execution that reads host x and writes y must wait for the pending writer of y.
    let ran = std::sync::Arc::new(AtomicU32::new(0));
    let ran2 = ran.clone();
    let r = spawn(move || {
        e.execute(MODEL, 0x240, OUT, 1, move || {
            ran2.store(1, Ordering::SeqCst);
            NRT_SUCCESS
        })
    });
    assert!(r.recv_timeout(BLOCKED).is_err());
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    e.device.complete(0, NRT_SUCCESS);
    assert_eq!(r.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

/// The runtime's queue can be full of work that is not the shim's (another
/// thread's synchronous execution of host tensors shares the in-order queue).
/// Then no completion of the shim's will come to retry the refused request:
/// it must be retried anyway, not left waiting forever (a hang found by the
/// 100,000-program soak).
#[test]
fn queue_full_with_nothing_of_ours_on_the_device_is_retried() {
    let e = engine(4);
    {
        let mut st = e.device.st.lock();
        st.capacity = 1;
        st.queued.entry(0).or_default().push_back(u64::MAX); // the runtime's own work
    }
    assert_eq!(exec(e, IN, OUT), NRT_SUCCESS);
    assert_eq!(e.device.queued(0), 1, "refused: the queue holds the other work");
    assert!(e.device.complete(0, NRT_SUCCESS), "the other work finishes; no completion of ours");
    let t0 = std::time::Instant::now();
    while e.device.queued(0) == 0 && t0.elapsed() < WATCHDOG {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(e.device.queued(0), 1, "retried without waiting for a completion of its own");
    e.device.complete(0, NRT_SUCCESS);
    assert!(e.wait_all(Some(std::time::Instant::now() + WATCHDOG), "test"));
}

#[test]
fn a_host_execution_waits_for_earlier_requests_to_reach_the_device() {
    let e = engine(4);
    e.device.st.lock().capacity = 1;
    e.set_allocated(0x240);
    e.set_member_added(0x240, b"x", HOST);
    assert_eq!(exec(e, IN, OUT), NRT_SUCCESS); // on the device
    assert_eq!(exec(e, IN2, OUT2), NRT_SUCCESS); // refused for a full queue: waits in the shim
    let schedules = e.device.st.lock().schedules;
    let seen = std::sync::Arc::new(Mutex::new(None));
    let seen2 = seen.clone();
    let r = spawn(move || {
        e.execute(MODEL, 0x240, 0x210, 1, move || {
            *seen2.lock() = Some(e.device.st.lock().queued.get(&0).map_or(0, |q| q.len()));
            1004
        })
    });
    assert!(r.recv_timeout(BLOCKED).is_err(), "the second request has not reached the device");
    assert!(seen.lock().is_none());
    e.device.complete(0, NRT_SUCCESS);
    // The second request goes to the device next, then completes; only then the host execution.
    let deadline = std::time::Instant::now() + WATCHDOG;
    while e.device.queued(0) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(e.device.st.lock().schedules > schedules, "the refused request was retried");
    assert!(seen.lock().is_none(), "the host execution overtook it");
    e.device.complete(0, NRT_SUCCESS);
    assert_eq!(r.recv_timeout(WATCHDOG).unwrap(), 1004, "without a callback its own status is its report");
    assert_eq!(*seen.lock(), Some(0), "nothing of ours was queued when it ran");
    assert_eq!(read(e, Y), 1004, "its device output is marked (sticky)");
    assert_eq!(e.drain(0), NRT_SUCCESS, "reported once, by nrt_execute");
}

//! Direct waiting: a thread that waits retires completions itself.

use super::*;

/// The tests of waiting, again with the application thread retiring
/// completions itself (direct waiting) instead of the completion thread.
fn direct(depth: usize) -> &'static Engine<Fake> {
    let e = engine(depth);
    e.device.direct.store(true, Ordering::SeqCst);
    e
}

#[test]
fn direct_waiting_read_waits_for_its_producer_only() {
    let e = direct(4);
    exec(e, IN, OUT);
    assert_eq!(read(e, X2), NRT_SUCCESS);
    let r = spawn(move || read(e, Y));
    assert!(r.recv_timeout(BLOCKED).is_err(), "the read of y must wait");
    assert!(e.device.complete(0, NRT_SUCCESS));
    assert_eq!(r.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
    assert!(e.device.direct_waits.load(Ordering::SeqCst) > 0, "the reader waited on the device itself");
}

/// NRT_SHIM_DIRECT_WAIT=0: the same wait, through the completion thread only.
#[test]
fn direct_waiting_switched_off_waits_for_the_completion_thread() {
    let e = engine_with(4, |c| c.direct_wait = false);
    e.device.direct.store(true, Ordering::SeqCst);
    exec(e, IN, OUT);
    let r = spawn(move || read(e, Y));
    assert!(r.recv_timeout(BLOCKED).is_err(), "the read of y must wait");
    assert!(e.device.complete(0, NRT_SUCCESS));
    assert_eq!(r.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
    assert_eq!(e.device.direct_waits.load(Ordering::SeqCst), 0, "switched off, yet the reader waited on the device");
}

#[test]
fn direct_waiting_window_and_failures() {
    let e = direct(2);
    exec(e, IN, OUT);
    exec(e, IN2, OUT2);
    let third = spawn(move || exec(e, IN, OUT));
    assert!(third.recv_timeout(BLOCKED).is_err(), "a third request waits for room");
    e.device.complete(0, 1004);
    assert_eq!(third.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
    e.device.complete(0, NRT_SUCCESS);
    e.device.complete(0, NRT_SUCCESS);
    assert!(e.wait_all(Some(std::time::Instant::now() + WATCHDOG), "test"));
    // The first failed; the third rewrote y: the drain reports the failure once.
    assert_eq!(read(e, Y), NRT_SUCCESS);
    assert_eq!(e.drain(0), 1004);
    assert_eq!(e.drain(0), NRT_SUCCESS);
}

#[test]
fn direct_waiting_with_a_callback_leaves_retiring_to_the_completion_thread() {
    let e = direct(4);
    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    fn cb(_raw: usize, _params: usize, _model: u32, _vnc: u32, _job: u64, _status: Status) {
        SEEN.lock().push(std::thread::current().name().unwrap_or("").to_string());
    }
    e.set_callback(Some(Callback { call: cb, raw: 0, params: 0 }));
    exec(e, IN, OUT);
    let r = spawn(move || read(e, Y));
    e.device.complete(0, NRT_SUCCESS);
    assert_eq!(r.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
    assert_eq!(*SEEN.lock(), vec!["nrt-shim-compl".to_string()], "callbacks run on the completion thread");
}

#[test]
fn direct_waiting_many_threads_lose_no_wake_up() {
    let e = direct(3);
    // A device that completes everything as it comes, on its own thread.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = stop.clone();
    let dev = std::thread::spawn(move || {
        while !s2.load(Ordering::SeqCst) {
            if !e.device.complete(0, NRT_SUCCESS) {
                std::thread::yield_now();
            }
        }
    });
    let workers: Vec<_> = (0..4)
        .map(|i| {
            spawn(move || {
                let (input, output) = if i % 2 == 0 { (IN, OUT) } else { (IN2, OUT2) };
                for _ in 0..200 {
                    assert_eq!(exec(e, input, output), NRT_SUCCESS);
                    assert_eq!(read(e, if i % 2 == 0 { Y } else { Y2 }), NRT_SUCCESS);
                }
            })
        })
        .collect();
    for w in workers {
        w.recv_timeout(WATCHDOG * 3).expect("a worker hung: lost wake-up");
    }
    stop.store(true, Ordering::SeqCst);
    dev.join().unwrap();
    assert!(e.wait_all(Some(std::time::Instant::now() + WATCHDOG), "test"));
    assert_eq!(e.device.st.lock().schedules, 800);
}

/// NRT_SHIM_SPIN_US: a waiter polls for a bounded time, then sleeps as
/// before; it still waits for its producer, and is still woken.
#[test]
fn a_spinning_waiter_waits_then_sleeps() {
    let e = engine_with(4, |c| c.spin_us = crate::config::MAX_SPIN_US);
    e.device.direct.store(true, Ordering::SeqCst);
    exec(e, IN, OUT);
    let r = spawn(move || read(e, Y));
    assert!(r.recv_timeout(BLOCKED).is_err(), "the read of y must wait");
    assert!(e.device.direct_waits.load(Ordering::SeqCst) > 0, "the spin is bounded: the reader went to sleep");
    assert!(e.device.complete(0, NRT_SUCCESS));
    assert_eq!(r.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
}

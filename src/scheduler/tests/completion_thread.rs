//! The completion thread's pass skips a core with nothing accepted (one load,
//! no lock). A request accepted on such a core while the thread waits for
//! another core's must still be watched: the `pump` that hands it to an idle
//! core wakes the thread's wait (`Device::wake`), and the next pass finds it.

use std::time::Instant;

use super::*;

const X1: Handle = 0x1100;
const Y1: Handle = 0x1110;
const IN1: Handle = 0x240;
const OUT1: Handle = 0x250;

/// The engine with waits that end only on a completion or a wake (as the
/// real backends' do), and x1, y1 on core 1 in sets IN1, OUT1.
fn two_cores(drop_wakes: bool) -> &'static Engine<Fake> {
    let e = engine(4);
    e.device.signalled.store(true, Ordering::SeqCst);
    e.device.drop_wakes.store(drop_wakes, Ordering::SeqCst);
    for t in [X1, Y1] {
        e.tensor_allocated(t, None, Some(1), 64);
    }
    for (set, t, name) in [(IN1, X1, b"x"), (OUT1, Y1, b"y")] {
        e.set_allocated(set);
        e.set_member_added(set, name, t);
    }
    e
}

fn until(what: impl Fn() -> bool, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while !what() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// Core 0's request stays on the device while core 1 (idle until then) gets
/// one that completes at once: whether the thread retires it within `within`.
fn retires_on_the_idle_core(drop_wakes: bool, within: Duration) -> bool {
    let e = two_cores(drop_wakes);
    assert_eq!(exec(e, IN, OUT), NRT_SUCCESS);
    assert!(until(|| e.device.waits.load(Ordering::SeqCst) > 0, WATCHDOG), "the thread never waited for core 0");
    assert_eq!(e.execute(MODEL1, IN1, OUT1, 1, || panic!("device tensors")), NRT_SUCCESS);
    assert_eq!(e.device.queued(1), 1, "core 1's request did not reach the device");
    assert!(e.device.complete(1, NRT_SUCCESS));
    let retired = until(|| e.core(1).completed.load(Ordering::Acquire) >= 1, within);
    // Let everything finish (core 0's completion wakes the thread in any case).
    assert!(e.device.complete(0, NRT_SUCCESS));
    assert!(e.wait_all(Some(Instant::now() + WATCHDOG), "test"), "the requests did not retire");
    retired
}

#[test]
fn a_request_on_an_idle_core_is_watched_while_the_thread_waits_for_another() {
    assert!(retires_on_the_idle_core(false, WATCHDOG), "core 1's request was left for the thread's next wake-up");
}

/// The control: without the wake, the thread keeps waiting for core 0 alone.
#[test]
fn control_without_the_wake_the_request_on_the_idle_core_waits() {
    assert!(!retires_on_the_idle_core(true, BLOCKED), "the test cannot see a missed wake-up");
}

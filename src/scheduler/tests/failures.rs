//! Failures: reported once, by the read of their outputs, the drain or the
//! callback; the marks a failure leaves on the bytes it produced.

use super::*;

#[test]
fn a_failure_reaches_the_next_read_of_an_output_once() {
    let e = engine(4);
    exec(e, IN, OUT);
    e.device.complete(0, 1004);
    assert_eq!(read(e, X), NRT_SUCCESS, "inputs are not affected");
    assert_eq!(read(e, Y), 1004);
    assert_eq!(e.drain(0), NRT_SUCCESS, "the read reported it");
    assert_eq!(read(e, Y), 1004, "never returned as good data");
    assert_eq!(write(e, Y), NRT_SUCCESS);
    assert_eq!(read(e, Y), NRT_SUCCESS, "rewritten: good again");
}

#[test]
fn drain_reports_a_failure_no_read_saw() {
    let e = engine(4);
    exec(e, IN, OUT);
    e.device.complete(0, 1004);
    assert_eq!(e.drain(0), 1004);
    assert_eq!(e.drain(0), NRT_SUCCESS, "reported once");
    assert_eq!(read(e, Y), 1004, "the bytes are still bad");
    assert_eq!(e.drain(1), NRT_SUCCESS);
    assert_eq!(e.drain(5), NRT_INVALID);
}

static CALLS: Mutex<Vec<(u32, u64, Status)>> = Mutex::new(Vec::new());

fn record(_raw: usize, _params: usize, _model: u32, vnc: u32, job: u64, status: Status) {
    CALLS.lock().push((vnc, job, status));
}

#[test]
fn the_callback_gets_every_status_once() {
    let e = engine(4);
    e.set_callback(Some(Callback { call: record, raw: 0, params: 0 }));
    exec(e, IN, OUT);
    exec(e, IN2, OUT2);
    e.device.complete(0, 1004);
    e.device.complete(0, NRT_SUCCESS);
    assert!(e.wait_all(Some(std::time::Instant::now() + WATCHDOG), "test"));
    let calls: Vec<_> = CALLS.lock().clone();
    assert_eq!(calls, vec![(0, 1, 1004), (0, 2, NRT_SUCCESS)]);
    assert_eq!(e.drain(0), NRT_SUCCESS, "the callback reported it");
    assert_eq!(read(e, Y), 1004, "the bytes are still bad");
}

#[test]
fn waiting_without_touching_bytes_keeps_failure_marks() {
    let e = engine(4);
    exec(e, IN, OUT);
    e.device.complete(0, 1006);
    // What nrt_tensor_get_va and reset_output_completion do: wait, touch nothing.
    let view = e.tensor(Y).unwrap().view();
    e.wait_pending(&view, ByteRange::new(view.offset, view.size), AccessKind::Write, None);
    assert_eq!(read(e, Y), 1006, "still the failed request's output");
}

#[test]
fn a_zero_byte_read_inside_marked_bytes_succeeds() {
    let e = engine(4);
    exec(e, IN, OUT);
    e.device.complete(0, 1004);
    let view = e.tensor(Y).unwrap().view();
    assert_eq!(e.host_access(&view, ByteRange::new(8, 0), AccessKind::Read, None, || NRT_SUCCESS), NRT_SUCCESS);
    assert_eq!(e.drain(0), 1004, "and reports nothing");
}

#[test]
fn a_read_reports_every_failure_whose_marks_it_touches() {
    let e = engine(4);
    // One 128-byte tensor; two requests write its halves (through slices) and fail.
    const BIG: Handle = 0x1100;
    e.tensor_allocated(BIG, None, Some(0), 128);
    let big = e.tensor(BIG).unwrap().view();
    for (slice, off, set) in [(0x1110, 0, 0x270), (0x1120, 64, 0x280)] {
        e.slice_allocated(slice, None, &big, off, 64);
        e.set_allocated(set);
        e.set_member_added(set, b"y", slice);
    }
    exec(e, IN, 0x270);
    exec(e, IN2, 0x280);
    e.device.complete(0, 1004);
    e.device.complete(0, 1006);
    let whole = ByteRange::new(0, 128);
    assert_eq!(e.host_access(&big, whole, AccessKind::Read, None, || NRT_SUCCESS), 1004, "the lowest mark's status");
    assert_eq!(e.drain(0), NRT_SUCCESS, "the read reported both");
}

#[test]
fn a_failure_whose_marks_were_replaced_is_reported_by_the_drain() {
    let e = engine(4);
    exec(e, IN, OUT);
    exec(e, IN2, OUT); // writes y again
    e.device.complete(0, 1004);
    e.device.complete(0, 1006);
    assert_eq!(read(e, Y), 1006, "y holds the second request's (failed) output");
    assert_eq!(e.drain(0), 1004, "the first failure reaches the program once, at the drain");
    assert_eq!(e.drain(0), NRT_SUCCESS);
}

#[test]
fn a_derived_failure_shares_the_original_report() {
    let e = engine(4);
    e.set_allocated(0x250);
    e.set_member_added(0x250, b"x", Y);
    exec(e, IN, OUT); // fails: y marked
    exec(e, 0x250, OUT2); // reads y, writes y2
    e.device.complete(0, 1004);
    e.device.complete(0, NRT_SUCCESS);
    assert!(e.wait_all(Some(std::time::Instant::now() + WATCHDOG), "test"));
    assert_eq!(e.drain(0), 1004);
    assert_eq!(e.drain(0), NRT_SUCCESS, "one device failure, one report");
    assert_eq!(read(e, Y2), 1004, "the consumer's output holds no good data");
    // A consumer accepted after the failure is known still reaches the device.
    let before = e.device.st.lock().schedules;
    exec(e, 0x250, OUT2);
    assert_eq!(e.device.st.lock().schedules, before + 1);
    e.device.complete(0, NRT_SUCCESS);
    assert!(e.wait_all(Some(std::time::Instant::now() + WATCHDOG), "test"));
    assert_eq!(read(e, Y2), 1004);
    assert_eq!(e.drain(0), NRT_SUCCESS);
}

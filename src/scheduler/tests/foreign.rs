//! The application's own nrta_* requests (scheduler/foreign.rs): legacy calls
//! on their bytes wait until the runtime says they completed.

use super::*;

/// Sequence numbers of the application's requests (never the fake's own).
const APP1: u64 = 0x5000_0001;
const APP2: u64 = 0x5000_0002;

fn whole(e: &'static Engine<Fake>, t: Handle, kind: AccessKind) -> StorageRange {
    let view = e.tensor(t).unwrap().view();
    StorageRange { storage: view.storage.as_ref().unwrap().id, range: view.whole(), kind }
}

fn app_done(e: &'static Engine<Fake>, seq: u64) {
    e.device.st.lock().done.insert(seq);
}

#[test]
fn a_legacy_read_waits_for_the_applications_write() {
    let e = engine(4);
    e.foreign_scheduled(APP1, &[whole(e, X, AccessKind::Write)]);
    assert!(e.has_foreign());
    // Other bytes do not wait.
    assert_eq!(read(e, Y), NRT_SUCCESS);
    let r = spawn(move || read(e, X));
    assert!(r.recv_timeout(BLOCKED).is_err(), "the read of x must wait for the application's write");
    app_done(e, APP1);
    assert_eq!(r.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
    assert!(!e.has_foreign(), "a completed request is forgotten");
}

#[test]
fn reads_do_not_wait_for_the_applications_reads() {
    let e = engine(4);
    e.foreign_scheduled(APP1, &[whole(e, X, AccessKind::Read)]);
    assert_eq!(read(e, X), NRT_SUCCESS);
    let w = spawn(move || write(e, X));
    assert!(w.recv_timeout(BLOCKED).is_err(), "a write of x must wait for the application's read");
    app_done(e, APP1);
    assert_eq!(w.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
}

#[test]
fn a_legacy_execution_waits_before_it_is_accepted() {
    let e = engine(4);
    // The application's execution writes y, which the legacy one writes too.
    e.foreign_scheduled(APP1, &[whole(e, X2, AccessKind::Read), whole(e, Y, AccessKind::Write)]);
    let x = spawn(move || exec(e, IN, OUT));
    assert!(x.recv_timeout(BLOCKED).is_err(), "the execution must wait for the application's request");
    assert_eq!(e.device.st.lock().schedules, 0, "submitted before the application's request completed");
    app_done(e, APP1);
    assert_eq!(x.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
    assert!(e.device.complete(0, NRT_SUCCESS));
    assert!(e.wait_all(Some(std::time::Instant::now() + WATCHDOG), "test"));
}

#[test]
fn the_application_seeing_completion_forgets_the_request_at_once() {
    let e = engine(4);
    e.foreign_scheduled(APP1, &[whole(e, X, AccessKind::Write)]);
    e.foreign_scheduled(APP2, &[whole(e, Y, AccessKind::Write)]);
    e.foreign_completed(APP1);
    assert!(e.has_foreign());
    e.foreign_completed(APP2);
    assert!(!e.has_foreign());
    // Nothing recorded: a read does not even ask the device.
    assert_eq!(read(e, X), NRT_SUCCESS);
}

#[test]
fn a_full_table_forgets_completed_requests_first() {
    let e = engine(4);
    let a = whole(e, X, AccessKind::Write);
    for i in 0..crate::scheduler::foreign::FOREIGN_CAP as u64 {
        e.foreign_scheduled(0x6000_0000 + i, &[a]);
        app_done(e, 0x6000_0000 + i);
    }
    // The table is full of completed requests: recording one more returns at once.
    let r = spawn(move || e.foreign_scheduled(APP1, &[a]));
    assert!(r.recv_timeout(WATCHDOG).is_ok(), "recording into a full table of completed requests blocked");
    let reader = spawn(move || read(e, X));
    assert!(reader.recv_timeout(BLOCKED).is_err(), "the newest request is still recorded");
    app_done(e, APP1);
    assert_eq!(reader.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
}

#[test]
fn close_forgets_the_applications_requests() {
    let e = engine(4);
    e.foreign_scheduled(APP1, &[whole(e, X, AccessKind::Write)]);
    e.close();
    assert!(!e.has_foreign());
}

#[test]
fn the_applications_write_ends_a_failure_mark_like_a_legacy_write() {
    let e = engine(4);
    assert_eq!(exec(e, IN, OUT), NRT_SUCCESS);
    assert!(e.device.complete(0, 1004));
    assert!(e.wait_all(Some(std::time::Instant::now() + WATCHDOG), "test"));
    assert_eq!(read(e, Y), 1004, "the failed request's output is marked");
    // The application's nrta_tensor_write of y, accepted by the runtime.
    let view = e.tensor(Y).unwrap().view();
    e.foreign_scheduled(APP1, &[whole(e, Y, AccessKind::Write)]);
    e.app_writes(&view, view.whole());
    let r = spawn(move || read(e, Y));
    assert!(r.recv_timeout(BLOCKED).is_err(), "the read of y waits for the application's write");
    app_done(e, APP1);
    assert_eq!(r.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS, "the mark outlived the rewrite");
}

//! Escaped memory and the calls outside the intercepted set (issue 15):
//! direct writes to an address, dma-bufs and mapped banks, barriers, the
//! profiling brackets, received tensors.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use super::*;

const XA: usize = 0x10_0000;
const YA: usize = 0x20_0000;
const X2A: usize = 0x30_0000;

/// The engine with the CPU addresses of x, y and x2 known (as get_va gives them).
fn mapped(tweak: impl FnOnce(&mut Config)) -> &'static Engine<Fake> {
    let e = engine_with(4, tweak);
    for (t, a) in [(X, XA), (Y, YA), (X2, X2A)] {
        e.address_known(&e.tensor(t).unwrap(), a);
    }
    e
}

fn no_resolver() -> impl FnMut(Handle) -> usize {
    |_| 0
}

fn direct_write(e: &'static Engine<Fake>, dest: usize, size: u64) -> Status {
    e.direct_write(dest, size, &mut no_resolver(), || NRT_SUCCESS)
}

fn done(e: &'static Engine<Fake>) -> bool {
    e.wait_all(Some(Instant::now() + WATCHDOG), "test")
}

#[test]
fn a_direct_write_waits_for_the_users_of_the_bytes_at_its_address() {
    let e = mapped(|_| {});
    assert_eq!(exec(e, IN, OUT), NRT_SUCCESS);
    // x2 is untouched by the pending request: no wait.
    assert_eq!(direct_write(e, X2A + 8, 16), NRT_SUCCESS);
    // Into y (the pending request's output): waits for it.
    let w = spawn(move || direct_write(e, YA + 60, 4));
    assert!(w.recv_timeout(BLOCKED).is_err(), "overwriting an output in flight must wait");
    assert!(e.device.complete(0, NRT_SUCCESS));
    assert_eq!(w.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
}

#[test]
fn a_direct_write_to_an_input_waits_for_its_reader() {
    let e = mapped(|_| {});
    exec(e, IN, OUT);
    let w = spawn(move || direct_write(e, XA, 64));
    assert!(w.recv_timeout(BLOCKED).is_err(), "overwriting an input in use must wait");
    e.device.complete(0, NRT_SUCCESS);
    assert_eq!(w.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
}

#[test]
fn a_direct_write_to_an_unknown_address_drains_everything() {
    let e = mapped(|_| {});
    exec(e, IN2, OUT2);
    let w = spawn(move || direct_write(e, 0x7777_0000, 4));
    assert!(w.recv_timeout(BLOCKED).is_err(), "an address the shim does not know: everything first");
    e.device.complete(0, NRT_SUCCESS);
    assert_eq!(w.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
}

#[test]
fn an_address_never_handed_out_is_resolved_through_the_runtime_once() {
    let e = engine(4);
    exec(e, IN, OUT);
    static ASKED: AtomicUsize = AtomicUsize::new(0);
    let resolve = |t: Handle| {
        ASKED.fetch_add(1, Ordering::SeqCst);
        match t {
            Y => YA,
            X => XA,
            _ => 0,
        }
    };
    // x2's bytes at an address of no tensor: resolved, then still unknown (a drain).
    let w = spawn(move || e.direct_write(0x7777_0000, 4, &mut { resolve }, || NRT_SUCCESS));
    assert!(w.recv_timeout(BLOCKED).is_err());
    e.device.complete(0, NRT_SUCCESS);
    assert_eq!(w.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
    let asked = ASKED.load(Ordering::SeqCst);
    assert_eq!(asked, 4, "every device tensor (x, y, x2, y2) asked once");
    // Nothing pending (this drain returns at once) and no storage is new:
    // nobody is asked again.
    let w = spawn(move || e.direct_write(0x7777_0000, 4, &mut { resolve }, || NRT_SUCCESS));
    assert_eq!(w.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
    assert_eq!(ASKED.load(Ordering::SeqCst), asked, "no storage is new: nobody is asked again");
    // y's address is known now: a write there waits for y's users.
    exec(e, IN, OUT);
    let w = spawn(move || e.direct_write(YA, 4, &mut { resolve }, || NRT_SUCCESS));
    assert!(w.recv_timeout(BLOCKED).is_err(), "found through the resolved address");
    e.device.complete(0, NRT_SUCCESS);
    assert_eq!(w.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
}

#[test]
fn a_directly_written_tensor_is_exposed_afterwards() {
    let e = mapped(|_| {});
    assert_eq!(direct_write(e, X2A, 64), NRT_SUCCESS);
    // x2 is the input of this request: it completes before nrt_execute returns.
    let x = spawn(move || exec(e, IN2, OUT2));
    assert!(x.recv_timeout(BLOCKED).is_err(), "an exposed tensor's execution is synchronous");
    e.device.complete(0, NRT_SUCCESS);
    assert_eq!(x.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
    // The others are not exposed.
    assert_eq!(exec(e, IN, OUT), NRT_SUCCESS);
    assert_eq!(e.outstanding(), 1);
    e.device.complete(0, NRT_SUCCESS);
    assert!(done(e));
}

#[test]
fn a_direct_write_clears_a_failure_mark_only_when_it_succeeds() {
    let e = mapped(|_| {});
    exec(e, IN, OUT);
    e.device.complete(0, 1004);
    assert!(done(e));
    assert_eq!(e.direct_write(YA, 64, &mut no_resolver(), || NRT_INVALID), NRT_INVALID);
    assert_eq!(read(e, Y), 1004, "a failed copy wrote nothing");
    assert_eq!(direct_write(e, YA, 64), NRT_SUCCESS);
    assert_eq!(read(e, Y), NRT_SUCCESS, "rewritten by the program: good again");
}

#[test]
fn a_dmabuf_waits_for_its_tensors_and_exposes_them() {
    let e = mapped(|_| {});
    exec(e, IN, OUT);
    let d = spawn(move || e.dmabuf_export(YA as u64, 64, &mut no_resolver(), || NRT_SUCCESS));
    assert!(d.recv_timeout(BLOCKED).is_err(), "the NIC may read y at once");
    e.device.complete(0, NRT_SUCCESS);
    assert_eq!(d.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
    let x = spawn(move || exec(e, IN, OUT));
    assert!(x.recv_timeout(BLOCKED).is_err(), "y is exposed: synchronous");
    e.device.complete(0, NRT_SUCCESS);
    assert_eq!(x.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
}

#[test]
fn a_mapped_bank_makes_every_device_execution_synchronous() {
    let e = engine(4);
    exec(e, IN, OUT);
    let m = spawn(move || e.expose_everything());
    assert!(m.recv_timeout(BLOCKED).is_err(), "pending work completes before the mapping is returned");
    e.device.complete(0, NRT_SUCCESS);
    m.recv_timeout(WATCHDOG).unwrap();
    // Tensors allocated later too.
    e.tensor_allocated(0x1050, None, Some(0), 64);
    e.sets.get(IN2).unwrap().contents.lock().put(b"x", 0x1050);
    let x = spawn(move || exec(e, IN2, OUT2));
    assert!(x.recv_timeout(BLOCKED).is_err(), "completes before nrt_execute returns");
    e.device.complete(0, NRT_SUCCESS);
    assert_eq!(x.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
}

#[test]
fn trusting_host_memory_lifts_the_mapped_bank_rule() {
    let e = engine_with(4, |c| c.trust_host_memory = true);
    e.expose_everything();
    assert_eq!(exec(e, IN, OUT), NRT_SUCCESS);
    assert_eq!(e.outstanding(), 1, "asynchronous as before");
    e.device.complete(0, NRT_SUCCESS);
    assert!(done(e));
}

#[test]
fn an_escape_waits_for_every_user_then_exposes() {
    let e = engine(4);
    exec(e, IN, OUT);
    let rec = e.tensor(X).unwrap();
    let w = spawn(move || e.escape(&rec));
    assert!(w.recv_timeout(BLOCKED).is_err(), "x is read by the pending request");
    e.device.complete(0, NRT_SUCCESS);
    w.recv_timeout(WATCHDOG).unwrap();
    assert!(e.tensor(X).unwrap().view().storage.unwrap().host_visible.load(Ordering::Acquire));
}

#[test]
fn a_barrier_drains_its_core_only() {
    let e = engine(4);
    exec(e, IN, OUT);
    // Core 1 has nothing pending; a core that does not exist is the runtime's.
    e.drain_core(1, "barrier");
    e.drain_core(-1, "barrier");
    e.drain_core(9, "barrier");
    assert_eq!(e.outstanding(), 1);
    let b = spawn(move || e.drain_core(0, "barrier"));
    assert!(b.recv_timeout(BLOCKED).is_err(), "core 0's request completes first");
    e.device.complete(0, NRT_SUCCESS);
    b.recv_timeout(WATCHDOG).unwrap();
}

#[test]
fn a_profiled_model_runs_synchronously_until_the_profile_stops() {
    let e = engine(4);
    exec(e, IN, OUT);
    let file = CString::new("p.ntff").unwrap();
    let f = file.clone();
    let p = spawn(move || e.profile_starting(MODEL, Some(&f)));
    assert!(p.recv_timeout(BLOCKED).is_err(), "the model's pending request completes first");
    e.device.complete(0, NRT_SUCCESS);
    p.recv_timeout(WATCHDOG).unwrap();
    static SYNC: AtomicBool = AtomicBool::new(false);
    let st = e.execute(MODEL, IN, OUT, 1, || {
        SYNC.store(true, Ordering::SeqCst);
        NRT_SUCCESS
    });
    assert_eq!(st, NRT_SUCCESS);
    assert!(SYNC.load(Ordering::SeqCst), "the runtime's synchronous nrt_execute ran it");
    assert_eq!(e.outstanding(), 0);
    // Another file's stop changes nothing; this one's ends it.
    e.profile_stopped(Some(&CString::new("other").unwrap()));
    assert!(e.profiled(MODEL));
    e.profile_stopped(Some(&file));
    assert!(!e.profiled(MODEL));
    assert_eq!(exec(e, IN, OUT), NRT_SUCCESS, "asynchronous again");
    e.device.complete(0, NRT_SUCCESS);
    assert!(done(e));
}

#[test]
fn a_refused_or_unloaded_profile_is_forgotten() {
    let e = engine(4);
    e.profile_starting(MODEL, None);
    assert!(e.profiled(MODEL) && !e.profiled(MODEL1));
    e.profile_start_failed(MODEL);
    assert!(!e.profiled(MODEL));
    e.profile_starting(MODEL, None);
    e.unload(MODEL);
    assert!(!e.profiled(MODEL), "a later model at the same handle is not profiled");
}

#[test]
fn a_received_tensor_is_exposed_and_rewritten() {
    let e = engine(4);
    exec(e, IN, OUT);
    e.device.complete(0, 1004);
    assert!(done(e));
    let view = e.tensor(Y).unwrap().view();
    e.received(&view, view.whole());
    assert_eq!(read(e, Y), NRT_SUCCESS, "the peer's bytes replace the failed output");
    let x = spawn(move || exec(e, IN, OUT));
    assert!(x.recv_timeout(BLOCKED).is_err(), "exposed: synchronous");
    e.device.complete(0, NRT_SUCCESS);
    assert_eq!(x.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
}

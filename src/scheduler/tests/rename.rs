//! Renaming against the fake device: which writes go to a fresh version,
//! which wait and why, that requests read the version they were given, and
//! that every version is released.

use std::time::Instant;

use super::*;

/// Writes value `v` into every byte of tensor `t` (the fake keeps one value per runtime tensor).
fn put(e: &'static Engine<Fake>, t: Handle, v: u64) -> Status {
    let rec = e.tensor(t).unwrap();
    let view = rec.view();
    let r = view.whole();
    e.host_write(&rec, view, r, |phys| {
        e.device.st.lock().bytes.insert(phys, v);
        NRT_SUCCESS
    })
}

fn phys(e: &'static Engine<Fake>, t: Handle) -> Handle {
    let rec = e.tensor(t).unwrap();
    let view = rec.view();
    view.phys(t)
}

fn renaming(depth: usize, spares: usize) -> &'static Engine<Fake> {
    let e = engine(depth);
    e.device.st.lock().spare_budget = spares;
    e
}

fn settle(e: &'static Engine<Fake>) {
    while e.device.complete(0, NRT_SUCCESS) {}
    assert!(e.wait_all(Some(Instant::now() + WATCHDOG), "test"));
}

/// Completes every request the fake holds until the engine has none outstanding.
fn settle_soon(e: &'static Engine<Fake>) {
    let t0 = Instant::now();
    while e.outstanding() > 0 && t0.elapsed() < WATCHDOG {
        e.device.complete(0, NRT_SUCCESS);
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_write_after_read_goes_to_a_fresh_version_and_each_request_reads_its_own() {
    let e = renaming(4, 4);
    assert_eq!(put(e, X, 1), NRT_SUCCESS);
    exec(e, IN, OUT);
    // x is read by the pending request: the write does not wait.
    let w = spawn(move || put(e, X, 2));
    assert_eq!(w.recv_timeout(BLOCKED).expect("renamed, not waiting"), NRT_SUCCESS);
    let spare = phys(e, X);
    assert_ne!(spare, X, "x now lives in a spare version");
    assert_eq!(e.device.st.lock().spares, vec![spare]);
    exec(e, IN, OUT);
    settle(e);
    assert_eq!(e.device.st.lock().read_values, vec![1, 2], "each request read the bytes written before it");
}

#[test]
fn versions_alternate_without_new_allocations_in_steady_state() {
    let e = renaming(4, 8);
    put(e, X, 0);
    for step in 1..=20u64 {
        exec(e, IN, OUT);
        assert_eq!(put(e, X, step), NRT_SUCCESS);
        // The device keeps one request behind the host.
        if step > 1 {
            assert!(e.device.complete(0, NRT_SUCCESS));
            let t0 = Instant::now();
            while e.outstanding() > 1 && t0.elapsed() < WATCHDOG {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
    }
    settle(e);
    let st = e.device.st.lock();
    // Two requests pending and the write's version: home and two spares
    // take turns, allocated in the first two steps only.
    assert_eq!(st.spares.len(), 2, "spares were recycled");
    assert_eq!(st.read_values, (0..20).collect::<Vec<_>>());
}

#[test]
fn the_cap_stops_renaming_and_the_write_waits() {
    let e = engine_with(4, |c| c.rename_max_bytes = 32);
    e.device.st.lock().spare_budget = 4;
    put(e, X, 1);
    exec(e, IN, OUT);
    let w = spawn(move || put(e, X, 2));
    assert!(w.recv_timeout(BLOCKED).is_err(), "64 bytes are over a 32-byte cap: the write waits");
    e.device.complete(0, NRT_SUCCESS);
    assert_eq!(w.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
    assert!(e.device.st.lock().spares.is_empty());
    assert_eq!(phys(e, X), X, "written in place");
}

#[test]
fn a_refused_allocation_makes_the_write_wait_never_fail() {
    let e = renaming(4, 0);
    put(e, X, 1);
    exec(e, IN, OUT);
    let w = spawn(move || put(e, X, 2));
    assert!(w.recv_timeout(BLOCKED).is_err(), "no memory for a spare: the write waits");
    e.device.complete(0, NRT_SUCCESS);
    assert_eq!(w.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
    assert_eq!(e.spare_bytes(), 0, "the reservation was given back");
}

#[test]
fn switched_off_it_waits() {
    let e = engine_with(4, |c| c.rename = false);
    e.device.st.lock().spare_budget = 4;
    exec(e, IN, OUT);
    let w = spawn(move || put(e, X, 2));
    assert!(w.recv_timeout(BLOCKED).is_err());
    e.device.complete(0, NRT_SUCCESS);
    assert_eq!(w.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
}

fn put_part(e: &'static Engine<Fake>, t: Handle) -> Status {
    let rec = e.tensor(t).unwrap();
    let view = rec.view();
    e.host_write(&rec, view, ByteRange::new(0, 16), |_| NRT_SUCCESS)
}

#[test]
fn a_partial_write_carries_the_other_bytes_over_first() {
    let e = renaming(4, 4);
    put(e, X, 1);
    exec(e, IN, OUT);
    let w = spawn(move || put_part(e, X));
    assert_eq!(w.recv_timeout(BLOCKED).expect("renamed, not waiting"), NRT_SUCCESS);
    let spare = phys(e, X);
    assert_ne!(spare, X);
    let st = e.device.st.lock();
    assert_eq!(st.copies, vec![(X, spare)], "the old version copied into the new one before the write");
    assert_eq!(st.bytes.get(&spare), Some(&1));
}

#[test]
fn partial_writes_wait_when_carrying_over_is_off_and_slices_always_do() {
    let e = engine_with(4, |c| c.rename_partial = false);
    e.device.st.lock().spare_budget = 4;
    exec(e, IN, OUT);
    let w = spawn(move || put_part(e, X));
    assert!(w.recv_timeout(BLOCKED).is_err(), "a partial write waits");
    e.device.complete(0, NRT_SUCCESS);
    assert_eq!(w.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
    settle(e);

    // A slice covering all of x still shares its bytes: no renaming through either.
    const S: Handle = 0x1050;
    assert!(e.slice_of_allocated(S, None, X, 0, 64));
    exec(e, IN, OUT);
    let w = spawn(move || put(e, S, 3));
    assert!(w.recv_timeout(BLOCKED).is_err(), "a write through a slice waits");
    e.device.complete(0, NRT_SUCCESS);
    assert_eq!(w.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
    assert!(e.device.st.lock().spares.is_empty());
}

#[test]
fn an_execution_output_is_never_renamed() {
    let e = renaming(4, 4);
    exec(e, IN, OUT);
    // y is the pending request's output (write-after-write): the runtime
    // counts its completions on y's own handle, so y stays where it is.
    let w = spawn(move || put(e, Y, 5));
    assert!(w.recv_timeout(BLOCKED).is_err());
    e.device.complete(0, NRT_SUCCESS);
    assert_eq!(w.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
    assert_eq!(phys(e, Y), Y);
}

#[test]
fn bringing_home_copies_the_newest_bytes_and_pins_the_tensor() {
    let e = renaming(4, 4);
    put(e, X, 1);
    exec(e, IN, OUT);
    put(e, X, 2);
    let spare = phys(e, X);
    assert_ne!(spare, X);
    let rec = e.tensor(X).unwrap();
    // Home is still read by the pending request: the copy waits for it.
    let h = spawn(move || e.bring_home(&rec, true));
    assert!(h.recv_timeout(BLOCKED).is_err(), "home is overwritten only after its readers");
    assert!(e.device.complete(0, NRT_SUCCESS));
    assert_eq!(h.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
    assert_eq!(phys(e, X), X);
    {
        let st = e.device.st.lock();
        assert_eq!(st.copies, vec![(spare, X)]);
        assert_eq!(st.bytes.get(&X), Some(&2), "home holds the newest bytes");
    }
    // Pinned: the next write of an input in use waits.
    exec(e, IN, OUT);
    let w = spawn(move || put(e, X, 3));
    assert!(w.recv_timeout(BLOCKED).is_err(), "an exposed tensor is not renamed");
    settle(e);
    assert_eq!(w.recv_timeout(WATCHDOG).unwrap(), NRT_SUCCESS);
    assert_eq!(e.device.st.lock().read_values, vec![1, 2], "the request after the copy read the newest bytes");
}

#[test]
fn a_free_returns_versions_to_the_pool_and_they_are_freed_once_idle() {
    let e = renaming(4, 4);
    put(e, X, 1);
    exec(e, IN, OUT);
    put(e, X, 2);
    let spare = phys(e, X);
    e.free_tensor(X);
    assert_eq!(e.free_spares(false), 0, "a pending request still reads a version");
    assert!(!e.device.st.lock().freed.contains(&spare));
    settle(e);
    assert_eq!(e.free_spares(false), 1);
    assert!(e.device.st.lock().freed.contains(&spare));
    assert_eq!(e.spare_bytes(), 0);
}

#[test]
fn close_frees_every_version() {
    let e = renaming(4, 4);
    put(e, X, 1);
    exec(e, IN, OUT);
    put(e, X, 2);
    let spare = phys(e, X);
    // (close waits for every request; the fake completes them only when told.)
    let c = spawn(move || e.close());
    settle_soon(e);
    c.recv_timeout(WATCHDOG).unwrap();
    assert!(e.device.st.lock().freed.contains(&spare));
    assert_eq!(e.spare_bytes(), 0);
}

#[test]
fn a_spare_left_by_one_tensor_is_reused_by_another() {
    let e = renaming(4, 1);
    put(e, X, 1);
    exec(e, IN, OUT);
    put(e, X, 2);
    e.free_tensor(X);
    settle(e);
    // x2 takes the recycled spare: the budget of one allocation is spent.
    exec(e, IN2, OUT2);
    let w = spawn(move || put(e, X2, 7));
    assert_eq!(w.recv_timeout(BLOCKED).expect("renamed into the recycled spare"), NRT_SUCCESS);
    assert_eq!(e.device.st.lock().spares.len(), 1);
    assert_ne!(phys(e, X2), X2);
}

#[test]
fn an_unload_frees_the_spares_its_requests_left_idle() {
    let e = renaming(4, 4);
    put(e, X, 1);
    exec(e, IN, OUT);
    put(e, X, 2);
    let spare = phys(e, X);
    e.free_tensor(X);
    let u = spawn(move || e.unload(MODEL));
    settle_soon(e);
    u.recv_timeout(WATCHDOG).unwrap();
    assert!(e.device.st.lock().freed.contains(&spare), "freed once the model's requests completed");
    assert_eq!(e.spare_bytes(), 0);
}

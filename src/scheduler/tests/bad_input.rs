//! Bad input: the runtime's statuses, in the runtime's order.

use super::*;

#[test]
fn bad_requests_get_the_runtimes_statuses() {
    let e = engine(4);
    assert_eq!(e.execute(MODEL, 0x9999, OUT, 1, || 0), NRT_INVALID_HANDLE, "unknown set");
    assert_eq!(e.execute(0x7777, IN, OUT, 1, || 0), NRT_INVALID_HANDLE, "unknown model");
    assert_eq!(e.execute(MODEL, OUT, OUT, 1, || 0), NRT_INVALID, "no tensor named x");
    assert_eq!(e.execute(MODEL1, IN, OUT, 1, || 0), NRT_INVALID, "tensors of another core");
    e.tensor_allocated(0x5000, None, Some(0), 32);
    e.set_member_added(IN2, b"x", 0x5000);
    assert_eq!(exec(e, IN2, OUT2), NRT_INVALID, "size differs from the model's");
    assert_eq!(e.device.st.lock().schedules, 0);
}

#[test]
fn before_init_and_after_close() {
    let fake = Fake::default();
    let e: &'static Engine<Fake> = Box::leak(Box::new(Engine::new(fake, Config::from_lookup(|_| None, None).0)));
    assert_eq!(e.execute(MODEL, IN, OUT, 1, || 0), NRT_UNINITIALIZED);
    e.opened(1);
    e.close();
    assert_eq!(e.execute(MODEL, IN, OUT, 1, || 0), NRT_CLOSED);
    assert_eq!(e.device.st.lock().closed, 1, "the device forgets its runtime objects (v2 error trackers)");
}

#[test]
fn handles_are_checked_before_names_as_the_runtime_does() {
    let e = engine(4);
    // The input set lacks x, the output set names a freed tensor: the
    // runtime reports the handle (NRT_INVALID_HANDLE) before the name.
    e.set_allocated(0x260);
    e.free_tensor(Y2);
    assert_eq!(e.execute(MODEL, 0x260, OUT2, 1, || 0), NRT_INVALID_HANDLE);
    assert_eq!(e.execute(MODEL, 0x260, OUT, 1, || 0), NRT_INVALID, "no freed handle: the missing name");
}

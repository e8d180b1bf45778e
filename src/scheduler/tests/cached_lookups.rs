//! The thread's cached lookups of an execution's handles (execute.rs): every
//! change a lookup depends on ends it, so a cached request gets exactly what
//! a fresh lookup would.

use super::*;

#[test]
fn a_tensor_freed_after_cached_executions_is_a_bad_handle() {
    let e = engine(8);
    // Twice: the second one is served from the cache.
    assert_eq!(exec(e, IN2, OUT2), NRT_SUCCESS);
    assert_eq!(exec(e, IN2, OUT2), NRT_SUCCESS);
    e.free_tensor(Y2);
    assert_eq!(exec(e, IN2, OUT2), NRT_INVALID_HANDLE, "the cache kept a freed tensor");
}

#[test]
fn a_set_member_replaced_after_cached_executions_is_used() {
    let e = engine(8);
    e.tensor_allocated(0x5000, None, Some(0), 32);
    assert_eq!(exec(e, IN, OUT), NRT_SUCCESS);
    assert_eq!(exec(e, IN, OUT), NRT_SUCCESS);
    // The output set now names a tensor of the wrong size: a fresh lookup sees it.
    e.set_member_added(OUT, b"y", 0x5000);
    assert_eq!(exec(e, IN, OUT), NRT_INVALID, "the cache kept the old member");
}

#[test]
fn a_destroyed_set_after_cached_executions_is_a_bad_handle() {
    let e = engine(8);
    assert_eq!(exec(e, IN, OUT), NRT_SUCCESS);
    assert_eq!(exec(e, IN, OUT), NRT_SUCCESS);
    e.set_destroyed(IN);
    assert_eq!(exec(e, IN, OUT), NRT_INVALID_HANDLE, "the cache kept a destroyed set");
}

#[test]
fn alternating_sets_are_each_served() {
    let e = engine(16);
    for _ in 0..3 {
        assert_eq!(exec(e, IN, OUT), NRT_SUCCESS);
        assert_eq!(exec(e, IN2, OUT2), NRT_SUCCESS);
    }
    // Both pairs still resolve to their own tensors: freeing one pair's output
    // fails that pair only.
    e.free_tensor(Y);
    assert_eq!(exec(e, IN, OUT), NRT_INVALID_HANDLE);
    assert_eq!(exec(e, IN2, OUT2), NRT_SUCCESS);
}

//! No heap allocation per call in steady state: 10,000 x (nrt_tensor_write_batch,
//! nrt_execute, nrt_tensor_read, nrt_tensor_read_batch) through the shim after a warm-up, counted by an LD_PRELOAD
//! malloc/calloc/realloc/memalign counter that attributes each call to the object
//! of its caller (bench/micro/alloc_count.c). A correctness test: the shim's count
//! must be exactly zero.

use std::sync::mpsc;
use std::time::Duration;

#[test]
fn shim_does_not_allocate_per_call_in_steady_state() {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = nrt_bench::prepare().and_then(|p| nrt_bench::alloc_check(&p, 10_000));
        let _ = tx.send(r);
    });
    // Watchdog (alloc_check itself kills the program after 300 s).
    let counts = rx
        .recv_timeout(Duration::from_secs(900))
        .expect("the allocation check did not finish within 900 s")
        .unwrap_or_else(|e| panic!("{e}"));
    let ([shim, runtime, other], control) = counts;
    eprintln!("allocations in steady state: shim {shim}, runtime {runtime}, other {other}; control {control:?}");
    assert!(control[0] > 0, "the counter saw no shim allocation in the positive control: it attributes nothing");
    assert_eq!(shim, 0, "libnrt_async_shim.so allocated {shim} times during 10,000 steady-state iterations");
}

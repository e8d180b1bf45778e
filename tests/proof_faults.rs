//! Issue 4, part 2: fault storms (see proof/README.md and proof/src/faults.rs).
//! 600 programs in batches of 50, each batch under one storm: model fail_every
//! 2..10, NRT_SIM_FAIL_EVERY 2..1000, or a unit dying mid-run
//! (NRT_SIM_UNRECOVERABLE_AFTER), callback registered or not, v3 or v2, depth 1,
//! 4 or 16. Each program's shim transcript must be the one the error contract
//! predicts from the reference's; every run has a watchdog. Violations matching a
//! known open bug are printed, not failed.

#[allow(dead_code)]
#[path = "../proof/src/lib.rs"]
mod nrt_proof;

#[test]
fn fault_storms_600_programs() {
    let r = nrt_proof::faults::run_storms(600, 1, 2, &|l| eprintln!("{l}"));
    for k in &r.known {
        eprintln!("known open bug (not a failure here): {k}");
    }
    println!("{}", r.summary());
    assert!(r.injected > 200, "too few failures injected: {}", r.summary());
    assert!(r.violations.is_empty(), "{}\n{}", r.summary(), r.violations.join("\n"));
}

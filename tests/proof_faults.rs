//! Issue 4, part 2, and issue 16 §5: fault storms (see proof/README.md and
//! proof/src/faults.rs). 600 programs in batches of 50, each batch under one
//! storm: model fail_every 2..10, NRT_SIM_FAIL_EVERY 2..1000, a unit dying
//! mid-run (NRT_SIM_UNRECOVERABLE_AFTER), or failing staged transfers
//! (NRT_SIM_FAIL_TRANSFER_EVERY), callback registered or not, v3 or v2, depth
//! 1, 4 or 16; then storms of failing transfers alone, one batch for each of
//! the 12 combinations of generation, depth and callback. Each program's shim
//! transcript must be the one the error contract predicts from the
//! reference's; every run has a watchdog. Violations matching a known open bug
//! are printed, not failed.

#[allow(dead_code)]
#[path = "../proof/src/lib.rs"]
mod nrt_proof;

use nrt_proof::faults::{self, StormResult, Storms};

fn verdict(r: &StormResult) {
    for k in &r.known {
        eprintln!("known open bug (not a failure here): {k}");
    }
    println!("{}", r.summary());
    assert!(r.violations.is_empty(), "{}\n{}", r.summary(), r.violations.join("\n"));
    // A storm of failing transfers in which none failed checks nothing more
    // than the others: it must never silently go back to that.
    assert!(r.transfer_programs > 0 && r.transfer_failures > 0, "no staged transfer failed: {}", r.summary());
    assert!(
        r.quiet_transfer_storms.is_empty(),
        "storms where no staged transfer failed: {:?}",
        r.quiet_transfer_storms
    );
    assert!(r.transfer_reports > 0, "no read or drain returned a failed transfer's status: {}", r.summary());
}

#[test]
fn fault_storms_600_programs() {
    let r = faults::run_storms(600, 1, 2, &|l| eprintln!("{l}"));
    assert!(r.injected > 200, "too few failures injected: {}", r.summary());
    verdict(&r);
}

#[test]
fn failing_transfer_storms_every_generation_depth_and_callback() {
    let r = faults::run_campaign(Storms::Transfers, 12 * 10, 10, 1, 2, &|l| eprintln!("{l}"));
    assert_eq!(r.programs, 120);
    verdict(&r);
}

//! Issue 15, half-migrated programs: `tests/legacy/p10_half_migrated.c` mixes the
//! legacy calls with its own `nrta_*` requests on the same tensors (legacy producer,
//! the program's asynchronous read; the program's write and execution, legacy
//! consumers; the program's execution between two legacy ones).
//!
//! - `wait` (a program correct under the synchronous runtime: it waits for each of
//!   its requests before a legacy call on the same bytes): the reference, the shim
//!   preloaded and the shim linked, both generations, same digests, 0 hazards.
//! - `nowait` (it waits only at the end of each iteration): racy without the shim
//!   (the reference run shows the oracle's hazards, so the test shows it can fail);
//!   with the shim, the legacy calls wait for the program's requests, so the digests
//!   are the `wait` reference's and the oracle counts 0.
//!
//! Needs the simulator and the shim built (`cargo test --workspace` builds both).

mod support;

use support::{Gen, Mode, Run};

const PROGRAM: &str = "tests/legacy/p10_half_migrated.c";
const ITERATIONS: &str = "4";

fn run(mode: Mode, gen: Gen, how: &str) -> Run {
    Run::new(PROGRAM, mode, gen).args(&[ITERATIONS, how])
}

fn waiting_program_matches_the_reference(mode: Mode, gen: Gen) {
    let _machine = support::shared_machine();
    let reference = run(Mode::Reference, gen, "wait").run_cached();
    reference.assert_ok().assert_no_hazards();
    let out = run(mode, gen, "wait").run();
    out.assert_ok().assert_no_hazards().assert_same_digests(&reference);
    assert_eq!(
        out.report_u64("executions"),
        reference.report_u64("executions"),
        "{}: a different number of executions than the reference\n{out}",
        out.what
    );
}

/// Without waiting, the shim orders the legacy calls after the program's
/// requests: the results are the waiting reference's, with no hazard.
fn shim_orders_a_program_that_does_not_wait(mode: Mode, gen: Gen) {
    let _machine = support::shared_machine();
    let reference = run(Mode::Reference, gen, "wait").run_cached();
    reference.assert_ok();
    let out = run(mode, gen, "nowait").run();
    out.assert_ok().assert_no_hazards().assert_same_digests(&reference);
}

#[test]
fn reference_v3() {
    let _machine = support::shared_machine();
    run(Mode::Reference, Gen::V3, "wait").run_cached().assert_ok().assert_no_hazards();
}

#[test]
fn reference_v2() {
    let _machine = support::shared_machine();
    run(Mode::Reference, Gen::V2, "wait").run_cached().assert_ok().assert_no_hazards();
}

/// The control: the same program without waiting and without the shim races
/// (the oracle counts hazards), so the `nowait` tests below can fail.
#[test]
fn without_the_shim_a_program_that_does_not_wait_races() {
    let _machine = support::shared_machine();
    for gen in [Gen::V3, Gen::V2] {
        let out = run(Mode::Reference, gen, "nowait").run();
        assert!(out.hazards() > 0, "{}: no hazard counted without the shim\n{out}", out.what);
    }
}

#[test]
fn preload_v3() {
    waiting_program_matches_the_reference(Mode::Preload, Gen::V3);
}

#[test]
fn preload_v2() {
    waiting_program_matches_the_reference(Mode::Preload, Gen::V2);
}

#[test]
fn linked_v3() {
    waiting_program_matches_the_reference(Mode::Linked, Gen::V3);
}

#[test]
fn linked_v2() {
    waiting_program_matches_the_reference(Mode::Linked, Gen::V2);
}

#[test]
fn nowait_preload_v3() {
    shim_orders_a_program_that_does_not_wait(Mode::Preload, Gen::V3);
}

#[test]
fn nowait_preload_v2() {
    shim_orders_a_program_that_does_not_wait(Mode::Preload, Gen::V2);
}

#[test]
fn nowait_linked_v3() {
    shim_orders_a_program_that_does_not_wait(Mode::Linked, Gen::V3);
}

#[test]
fn nowait_linked_v2() {
    shim_orders_a_program_that_does_not_wait(Mode::Linked, Gen::V2);
}

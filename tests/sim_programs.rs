//! Issue 2, section 3: C programs compiled with the system C compiler against
//! `include/` and linked with `-lnrt` against the simulator (no shim).
//!
//! - `run_model.c`: the developer guide's run-a-model flow;
//! - `implicit_mode.c`: the legacy implicit async mode's blocking rules (2.30), and
//!   its absence in the default runtime (2.32);
//! - `explicit_async.c`: the seeds' best practices on both `nrta_*` generations,
//!   including NRT_QUEUE_FULL;
//! - `racy.c`: the hazard oracle counts a deliberate race and not its fix.
//!
//! Needs the simulator built (`cargo test --workspace` builds it).

mod support;

use support::{Gen, Mode, Run};

const RUN_MODEL: &str = "tests/c/run_model.c";
const IMPLICIT: &str = "tests/c/implicit_mode.c";
const EXPLICIT: &str = "tests/c/explicit_async.c";
const RACY: &str = "tests/c/racy.c";

fn sim(program: &str, gen: Gen) -> Run {
    Run::new(program, Mode::Reference, gen)
}

// ---- (a) the developer guide's flow ----------------------------------------

fn run_model(gen: Gen) {
    let out = sim(RUN_MODEL, gen).args(&["3"]).run_cached();
    out.assert_ok().assert_no_hazards();
    assert_eq!(out.report_u64("executions"), 3, "{out}");
    assert_eq!(out.report_u64("failed_executions"), 0, "{out}");
    let busy = out.report().get("busy_us");
    assert!(busy.is_some_and(|b| b.is_object()), "the report has no busy_us object\n{out}");
}

#[test]
fn run_model_v3() {
    run_model(Gen::V3);
}

#[test]
fn run_model_v2() {
    run_model(Gen::V2);
    // The synchronous API is the same in both generations: so are the bytes.
    let v2 = sim(RUN_MODEL, Gen::V2).args(&["3"]).run_cached();
    let v3 = sim(RUN_MODEL, Gen::V3).args(&["3"]).run_cached();
    v3.assert_ok();
    v2.assert_same_digests(&v3);
}

// ---- (b) the implicit async mode --------------------------------------------

const IMPLICIT_ENV: [(&str, &str); 2] =
    [("NRT_SIM_RUNTIME", "2.30"), ("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS", "3")];

#[test]
fn implicit_mode_blocking_rules_2_30() {
    let out = sim(IMPLICIT, Gen::V3).args(&["implicit"]).envs(&IMPLICIT_ENV).run();
    out.assert_ok().assert_no_hazards();
    assert_eq!(out.report_u64("executions"), 6, "{out}");
    assert_eq!(out.report_u64("failed_executions"), 1, "{out}");
}

#[test]
fn implicit_mode_gone_in_2_32() {
    // The default runtime (2.32) ignores the variable: everything is synchronous.
    let out = sim(IMPLICIT, Gen::V3).args(&["sync"]).env("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS", "3").run();
    out.assert_ok().assert_no_hazards();
    assert_eq!(out.report_u64("executions"), 6, "{out}");
}

#[test]
fn implicit_mode_v2_simulator() {
    // The implicit mode does not depend on the async generation.
    let out = sim(IMPLICIT, Gen::V2).args(&["implicit"]).envs(&IMPLICIT_ENV).run();
    out.assert_ok().assert_no_hazards();
}

// ---- (c) explicit async, the seeds' way ---------------------------------------

fn explicit(gen: Gen, args: &[&str], queue_depth: Option<&str>) -> std::sync::Arc<support::Outcome> {
    let mut run = sim(EXPLICIT, gen).args(args);
    if let Some(d) = queue_depth {
        run = run.env("NRT_SIM_QUEUE_DEPTH", d);
    }
    let out = run.run_cached();
    out.assert_ok().assert_no_hazards();
    let requests: u64 = args.first().map_or(24, |a| a.parse().unwrap());
    assert_eq!(out.report_u64("executions"), requests, "{out}");
    // fail_every 5 in the model.
    assert_eq!(out.report_u64("failed_executions"), requests / 5, "{out}");
    out
}

#[test]
fn explicit_async_v3() {
    explicit(Gen::V3, &["24", "3", "1"], None);
}

#[test]
fn explicit_async_v2() {
    explicit(Gen::V2, &["24", "3", "1"], None);
}

#[test]
fn explicit_async_sync_tensor_calls_v3() {
    explicit(Gen::V3, &["24", "3", "0"], None);
}

#[test]
fn explicit_async_sync_tensor_calls_v2() {
    explicit(Gen::V2, &["24", "3", "0"], None);
}

fn explicit_queue_full(gen: Gen) {
    // A queue of one and a model long enough (3 ms) that the next request's inputs
    // are ready while it runs: keeping three requests queued must meet NRT_QUEUE_FULL.
    let out = explicit(gen, &["24", "3", "1", "3000"], Some("1"));
    assert!(
        out.value_u64("queue_full") > 0,
        "NRT_SIM_QUEUE_DEPTH=1 and 3 requests kept queued, but no schedule call returned NRT_QUEUE_FULL\n{out}"
    );
    if let Some(n) = out.report().get("queue_full") {
        assert!(n.as_u64().is_some_and(|n| n > 0), "the report's queue_full is {n}\n{out}");
    }
}

#[test]
fn explicit_async_queue_full_v3() {
    explicit_queue_full(Gen::V3);
}

#[test]
fn explicit_async_queue_full_v2() {
    explicit_queue_full(Gen::V2);
}

#[test]
fn explicit_async_same_results_everywhere() {
    // Per-request statuses and output bytes do not depend on the generation, the path
    // of the tensor transfers, or the queue depth.
    let runs = [
        explicit(Gen::V3, &["24", "3", "1"], None),
        explicit(Gen::V2, &["24", "3", "1"], None),
        explicit(Gen::V3, &["24", "3", "0"], None),
        explicit(Gen::V2, &["24", "3", "0"], None),
        explicit(Gen::V3, &["24", "3", "1", "3000"], Some("1")),
        explicit(Gen::V2, &["24", "3", "1", "3000"], Some("1")),
    ];
    let first = runs[0].expect_value("outputs");
    for r in &runs[1..] {
        assert_eq!(r.expect_value("outputs"), first, "{} and {} differ", r.what, runs[0].what);
    }
    // The full digest (setup statuses, then each request's read) too.
    for r in &runs[1..] {
        r.assert_same_digests(&runs[0]);
    }
}

// ---- (d) the hazard oracle ----------------------------------------------------

fn racy(gen: Gen) {
    let out = sim(RACY, gen).args(&["racy"]).run();
    out.assert_ok();
    assert_eq!(
        out.expect_value("in_flight_at_read"),
        "yes",
        "the execution was already done when the racy read ran (latency too short?)\n{out}"
    );
    assert!(out.hazards() >= 1, "a read of an output while its execution is in flight must count as a hazard\n{out}");
    let examples = out.report().get("hazard_examples");
    assert!(
        examples.is_some_and(|e| e.as_array().is_some_and(|a| !a.is_empty())),
        "hazards counted but no hazard_examples\n{out}"
    );
}

fn correct(gen: Gen) {
    let out = sim(RACY, gen).args(&["correct"]).run();
    out.assert_ok().assert_no_hazards();
}

#[test]
fn racy_read_counts_a_hazard_v3() {
    racy(Gen::V3);
}

#[test]
fn racy_read_counts_a_hazard_v2() {
    racy(Gen::V2);
}

#[test]
fn correct_read_counts_no_hazard_v3() {
    correct(Gen::V3);
}

#[test]
fn correct_read_counts_no_hazard_v2() {
    correct(Gen::V2);
}

//! Issue 12, items 2, 5, 6 and 7: `tests/c/contract.c`, each scenario under the
//! simulator alone (the synchronous reference) and with the shim preloaded, on
//! both `nrta_*` generations, at in-flight depths 1, 4 and 16 where the depth
//! matters. Each fails on the code before the fix (see the scenario's comment).

mod support;

use support::{Gen, Mode, Outcome, Run};

const PROGRAM: &str = "tests/c/contract.c";

fn run(mode: Mode, gen: Gen, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let out = Run::new(PROGRAM, mode, gen).args(args).envs(env).run();
    out.assert_ok().assert_no_hazards();
    out
}

fn shim(gen: Gen, depth: u32, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let depth = depth.to_string();
    let mut env = env.to_vec();
    env.push(("NRT_SHIM_MAX_INFLIGHT", &depth));
    let out = run(Mode::Preload, gen, args, &env);
    assert_eq!(out.expect_value("shim"), "yes", "{}", out.dump());
    out
}

fn same(out: &Outcome, reference: &Outcome, keys: &[&str]) {
    for k in keys {
        assert_eq!(
            out.expect_value(k),
            reference.expect_value(k),
            "{}: \"{k}\" differs from the reference\n{}\n{}",
            out.what,
            out.dump(),
            reference.dump()
        );
    }
}

fn same_executions(out: &Outcome, reference: &Outcome) {
    for k in ["executions", "failed_executions"] {
        assert_eq!(
            out.report_u64(k),
            reference.report_u64(k),
            "{}: the simulator counted other {k} than the reference\n{}",
            out.what,
            out.dump()
        );
    }
}

/// Item 2: the allocating thread retried before the completion thread's
/// deferred frees had run (or saw none and did not retry): NRT_RESOURCE.
#[test]
fn free_then_allocate_with_tight_memory() {
    let _m = support::shared_machine();
    let env = [("NRT_SIM_DEVICE_MEMORY", "24K")];
    let args = ["free-alloc", "400"];
    for gen in [Gen::V3, Gen::V2] {
        let reference = run(Mode::Reference, gen, &args, &env);
        assert_eq!(reference.value_u64("alloc_failures"), 0, "{}", reference.dump());
        for depth in [1, 4, 16] {
            let out = shim(gen, depth, &args, &env);
            same(&out, &reference, &["alloc_failures"]);
            // With direct waiting off, the completion thread retires every request.
            let mut off = env.to_vec();
            off.push(("NRT_SHIM_DIRECT_WAIT", "0"));
            let out = shim(gen, depth, &args, &off);
            same(&out, &reference, &["alloc_failures"]);
        }
    }
}

/// Item 5: calls the shim forwarded unchecked accepted a handle the program had
/// freed (the runtime still knew it: the free was deferred); a second free
/// freed it under the running request.
#[test]
fn freed_handles_are_bad_input_while_their_free_is_deferred() {
    let _m = support::shared_machine();
    let args = ["freed-handles"];
    for gen in [Gen::V3, Gen::V2] {
        let reference = run(Mode::Reference, gen, &args, &[]);
        assert_eq!(reference.expect_value("add_to_set"), "3", "NRT_INVALID_HANDLE\n{}", reference.dump());
        let out = shim(gen, 4, &args, &[]);
        same(&out, &reference, &["add_to_set", "allocate_slice", "get_size", "allocation_info", "free_again"]);
        same_executions(&out, &reference);
    }
}

/// Item 6: with the runtime's queue full, an execution of host tensors (the
/// synchronous nrt_execute) ran before the core's earlier accepted requests,
/// so a different request met the model's fail_every.
#[test]
fn host_executions_keep_acceptance_order() {
    let _m = support::shared_machine();
    let env = [("NRT_SIM_QUEUE_DEPTH", "1")];
    let args = ["host-order"];
    for gen in [Gen::V3, Gen::V2] {
        let reference = run(Mode::Reference, gen, &args, &env);
        assert_eq!(reference.expect_value("failed"), "2 5 8 11", "fail_every 3\n{}", reference.dump());
        for depth in [1, 4, 16] {
            let out = shim(gen, depth, &args, &env);
            same(&out, &reference, &["failed"]);
            same_executions(&out, &reference);
        }
    }
}

/// Item 7, first bullet: a consumer of a failed request's output failed too,
/// and a drain then reported the one device failure a second time.
#[test]
fn one_device_failure_is_reported_once() {
    let _m = support::shared_machine();
    let args = ["derived"];
    for gen in [Gen::V3, Gen::V2] {
        let reference = run(Mode::Reference, gen, &args, &[]);
        same_executions(&run(Mode::Reference, gen, &args, &[]), &reference);
        for depth in [1, 4, 16] {
            let out = shim(gen, depth, &args, &[]);
            let v = |k| out.expect_value(k).to_string();
            let what = format!("{}\n{}", out.what, out.dump());
            // The read of the producer's output is the report; the consumer's
            // output holds no good data either (sticky); the drain reports nothing more.
            assert_eq!((v("exec_p"), v("exec_c")), ("0".into(), "0".into()), "accepted: {what}");
            assert_eq!((v("read_y1"), v("read_y2")), ("1004".into(), "1004".into()), "{what}");
            assert_eq!(v("drain"), "0", "a second report of one device failure: {what}");
            // Nobody read the chain: the first drain reports it, once.
            assert_eq!((v("drain2"), v("drain3")), ("1004".into(), "0".into()), "{what}");
            assert_eq!(v("read_y3"), "1004", "sticky: {what}");
            same_executions(&out, &reference);
        }
    }
}

/// Item 7, second and third bullets: with a callback, every request gets one
/// callback in order (executions of host tensors too: they got none), with the
/// runtime's own status (a consumer of bad bytes shares its producer's report:
/// it got a second failure); reads of the failed outputs still return the
/// status (sticky); drains and nrt_execute report nothing.
#[test]
fn callbacks_for_every_request_once_in_order() {
    let _m = support::shared_machine();
    let args = ["callback"];
    for gen in [Gen::V3, Gen::V2] {
        let reference = run(Mode::Reference, gen, &args, &[]);
        for depth in [1, 4, 16] {
            let out = shim(gen, depth, &args, &[]);
            let what = format!("{}\n{}", out.what, out.dump());
            assert_eq!(out.expect_value("exec"), "0 0 0 0 0 0", "{what}");
            assert_eq!(out.expect_value("drain"), "0", "{what}");
            assert_eq!(out.expect_value("callbacks"), "6", "{what}");
            assert_eq!(out.expect_value("callback_jobs"), "1 2 3 4 5 6", "{what}");
            assert_eq!(out.expect_value("callback_statuses"), "1004 0 0 0 1004 0", "{what}");
            assert_eq!(out.expect_value("reads"), "1004 1004 0 0 1004 0", "{what}");
            same_executions(&out, &reference);
        }
    }
}

/// Item 7, fourth bullet: a request whose inputs were known to be bad never
/// reached the runtime, so its output's completion count stayed short of what
/// the synchronous runtime reaches (and nrt_tensor_check_output_completion
/// returned the failure).
#[test]
fn a_consumer_of_bad_bytes_still_counts() {
    let _m = support::shared_machine();
    let args = ["poisoned-count"];
    for gen in [Gen::V3, Gen::V2] {
        let reference = run(Mode::Reference, gen, &args, &[]);
        assert_eq!(reference.expect_value("check"), "0", "{}", reference.dump());
        for depth in [1, 4, 16] {
            let out = shim(gen, depth, &args, &[]);
            let what = format!("{}\n{}", out.what, out.dump());
            same(&out, &reference, &["check", "exec_c"]);
            assert_eq!(out.expect_value("read_y1"), "1004", "the report: {what}");
            assert_eq!(out.expect_value("read_y2"), "1004", "sticky, derived: {what}");
            assert_eq!(out.expect_value("drain"), "0", "reported already: {what}");
            same_executions(&out, &reference);
        }
    }
}

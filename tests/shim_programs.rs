//! Issue 3, "Tests that prove it": unmodified legacy C programs (`tests/legacy/`),
//! each run three ways (the simulator alone: the reference; the shim preloaded; the
//! shim linked before the runtime) against both `nrta_*` generations of the
//! simulator. Every digest (each byte read through the API, each status returned)
//! must equal the reference's, and the simulator's hazard oracle must count zero.
//!
//! Program 7 (injected failures) surfaces errors at different points by design, so
//! it compares the set of failed requests instead; program 8 (unrecoverable unit)
//! compares what was read before the unit died; program 9 (teardown with work in
//! flight) also runs under valgrind. `p2_shim_beats_implicit_mode_wait_for_all_rule` is the only
//! timing assertion.
//!
//! Needs the simulator and the shim built (`cargo test --workspace` builds both).

mod support;

use std::time::Duration;
use support::{Gen, Mode, Outcome, Run};

/// What must agree between a program's reference run and its other runs.
#[derive(Clone, Copy, PartialEq)]
enum Compare {
    /// Every `digest...:` line.
    Digests,
    /// The `failed:` line (the indices of the failed requests).
    FailedSet,
}

struct Spec {
    file: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    compare: Compare,
    /// The simulator must count as many executions as in the reference.
    same_executions: bool,
}

impl Spec {
    fn run(&self, mode: Mode, gen: Gen) -> Run {
        Run::new(self.file, mode, gen).args(self.args).envs(self.env)
    }
}

fn compare(spec: &Spec, out: &Outcome, reference: &Outcome) {
    match spec.compare {
        Compare::Digests => {
            out.assert_same_digests(reference);
        }
        Compare::FailedSet => {
            let got = out.expect_value("failed");
            let want = reference.expect_value("failed");
            assert_eq!(got, want, "{}: failed requests differ from {}\n{out}", out.what, reference.what);
            assert_eq!(
                out.report_u64("failed_executions"),
                reference.report_u64("failed_executions"),
                "{}: the simulator saw a different number of failed executions\n{out}\n{reference}",
                out.what
            );
        }
    }
    if spec.same_executions {
        assert_eq!(
            out.report_u64("executions"),
            reference.report_u64("executions"),
            "{}: the simulator ran a different number of executions than {}\n{out}",
            out.what,
            reference.what
        );
    }
}

/// One program, one mode, one generation: the test body of every combination.
fn check(spec: &Spec, mode: Mode, gen: Gen) {
    let _machine = support::shared_machine();
    let reference = spec.run(Mode::Reference, gen).run_cached();
    reference.assert_ok().assert_no_hazards();
    if mode == Mode::Reference {
        if gen == Gen::V2 {
            // The synchronous API does not depend on the async generation.
            let v3 = spec.run(Mode::Reference, Gen::V3).run_cached();
            v3.assert_ok();
            compare(spec, &reference, &v3);
        }
        return;
    }
    let out = spec.run(mode, gen).run();
    out.assert_ok().assert_no_hazards();
    compare(spec, &out, &reference);
}

macro_rules! six_ways {
    ($name:ident, $spec:expr) => {
        mod $name {
            use super::*;

            fn spec() -> Spec {
                $spec
            }

            #[test]
            fn reference_v3() {
                check(&spec(), Mode::Reference, Gen::V3);
            }

            #[test]
            fn reference_v2() {
                check(&spec(), Mode::Reference, Gen::V2);
            }

            #[test]
            fn preload_v3() {
                check(&spec(), Mode::Preload, Gen::V3);
            }

            #[test]
            fn preload_v2() {
                check(&spec(), Mode::Preload, Gen::V2);
            }

            #[test]
            fn linked_v3() {
                check(&spec(), Mode::Linked, Gen::V3);
            }

            #[test]
            fn linked_v2() {
                check(&spec(), Mode::Linked, Gen::V2);
            }
        }
    };
}

six_ways!(
    p1_dev_guide,
    Spec {
        file: "tests/legacy/p1_dev_guide.c",
        args: &["6"],
        env: &[],
        compare: Compare::Digests,
        same_executions: true,
    }
);

six_ways!(
    p2_double_buffer,
    Spec {
        file: "tests/legacy/p2_double_buffer.c",
        args: &["40", "300", "0"],
        env: &[],
        compare: Compare::Digests,
        same_executions: true,
    }
);

six_ways!(
    p3_training,
    Spec {
        file: "tests/legacy/p3_training.c",
        args: &["30", "4"],
        env: &[],
        compare: Compare::Digests,
        same_executions: true,
    }
);

six_ways!(
    p4_slices,
    Spec {
        file: "tests/legacy/p4_slices.c",
        args: &["16"],
        env: &[],
        compare: Compare::Digests,
        same_executions: true,
    }
);

six_ways!(
    p5_host_memory,
    Spec {
        file: "tests/legacy/p5_host_memory.c",
        args: &["8"],
        env: &[],
        compare: Compare::Digests,
        same_executions: true,
    }
);

six_ways!(
    p6_two_cores,
    Spec {
        file: "tests/legacy/p6_two_cores.c",
        args: &["12"],
        env: &[],
        compare: Compare::Digests,
        same_executions: true,
    }
);

six_ways!(
    p7_failures_callback,
    Spec {
        file: "tests/legacy/p7_failures.c",
        args: &["callback", "9"],
        env: &[],
        compare: Compare::FailedSet,
        same_executions: true,
    }
);

six_ways!(
    p7_failures_read,
    Spec {
        file: "tests/legacy/p7_failures.c",
        args: &["read", "9"],
        env: &[],
        compare: Compare::FailedSet,
        same_executions: true,
    }
);

six_ways!(
    p7_failures_drain,
    Spec {
        file: "tests/legacy/p7_failures.c",
        args: &["drain", "9"],
        env: &[],
        compare: Compare::FailedSet,
        same_executions: true,
    }
);

six_ways!(
    p8_unrecoverable,
    Spec {
        file: "tests/legacy/p8_unrecoverable.c",
        args: &["4", "10"],
        env: &[("NRT_SIM_UNRECOVERABLE_AFTER", "4")],
        compare: Compare::Digests,
        // After the unit dies, how many requests reach the runtime is not fixed.
        same_executions: false,
    }
);

six_ways!(
    p9_teardown,
    Spec {
        file: "tests/legacy/p9_teardown.c",
        args: &["4"],
        env: &[],
        compare: Compare::Digests,
        same_executions: true,
    }
);

// ---- program 10: device memory by address, sync points, profiling (issue 15) -------
// Device memory has CPU addresses only under the runtime's NEURON_RT_MAP_HBM.

six_ways!(
    p10_escapes_va,
    Spec {
        file: "tests/legacy/p10_escapes.c",
        args: &["va", "6"],
        env: &[("NEURON_RT_MAP_HBM", "1")],
        compare: Compare::Digests,
        same_executions: true,
    }
);

six_ways!(
    p10_escapes_memcpy,
    Spec {
        file: "tests/legacy/p10_escapes.c",
        args: &["memcpy", "6"],
        env: &[("NEURON_RT_MAP_HBM", "1")],
        compare: Compare::Digests,
        same_executions: true,
    }
);

six_ways!(
    p10_escapes_hbm,
    Spec {
        file: "tests/legacy/p10_escapes.c",
        args: &["hbm", "6"],
        env: &[("NEURON_RT_MAP_HBM", "1")],
        compare: Compare::Digests,
        same_executions: true,
    }
);

six_ways!(
    p10_escapes_dmabuf,
    Spec {
        file: "tests/legacy/p10_escapes.c",
        args: &["dmabuf", "6"],
        env: &[("NEURON_RT_MAP_HBM", "1")],
        compare: Compare::Digests,
        same_executions: true,
    }
);

six_ways!(
    p10_escapes_allocinfo,
    Spec {
        file: "tests/legacy/p10_escapes.c",
        args: &["allocinfo", "6"],
        env: &[("NEURON_RT_MAP_HBM", "1")],
        compare: Compare::Digests,
        same_executions: true,
    }
);

six_ways!(
    p10_escapes_barrier,
    Spec {
        file: "tests/legacy/p10_escapes.c",
        args: &["barrier", "6"],
        env: &[("NEURON_RT_MAP_HBM", "1")],
        compare: Compare::Digests,
        same_executions: true,
    }
);

six_ways!(
    p10_escapes_profile,
    Spec {
        file: "tests/legacy/p10_escapes.c",
        args: &["profile", "6"],
        env: &[("NEURON_RT_MAP_HBM", "1")],
        compare: Compare::Digests,
        same_executions: true,
    }
);

six_ways!(
    p10_escapes_sendrecv,
    Spec {
        file: "tests/legacy/p10_escapes.c",
        args: &["sendrecv", "6"],
        env: &[("NEURON_RT_MAP_HBM", "1")],
        compare: Compare::Digests,
        same_executions: true,
    }
);

// ---- the debugging switches -------------------------------------------------------

/// `NRT_SHIM_MODE=sync` (everything completes before returning, on the nrta_* path)
/// and `passthrough` (calls forwarded untouched) change timing only: the bytes and
/// statuses stay the reference's, with no hazards. One table, reporting each
/// combination that fails.
#[test]
fn shim_switches_keep_results() {
    let _machine = support::shared_machine();
    let programs: [(&str, &[&str]); 4] = [
        ("tests/legacy/p1_dev_guide.c", &["6"]),
        ("tests/legacy/p2_double_buffer.c", &["40", "300", "0"]),
        ("tests/legacy/p4_slices.c", &["16"]),
        ("tests/legacy/p6_two_cores.c", &["12"]),
    ];
    let mut failures = Vec::new();
    for (file, args) in programs {
        let reference = Run::new(file, Mode::Reference, Gen::V3).args(args).run_cached();
        reference.assert_ok();
        for switch in ["sync", "passthrough"] {
            let out = Run::new(file, Mode::Preload, Gen::V3).args(args).env("NRT_SHIM_MODE", switch).run();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                out.assert_ok().assert_no_hazards().assert_same_digests(&reference);
            }));
            if result.is_err() {
                failures.push(format!("{} with NRT_SHIM_MODE={switch}", out.what));
            }
        }
    }
    assert!(failures.is_empty(), "failed (details above): {failures:#?}");
}

// ---- program 9 under valgrind ---------------------------------------------------

const VALGRIND: [&str; 3] = ["valgrind", "--error-exitcode=99", "--leak-check=no"];

fn valgrind_p9(mode: Mode, gen: Gen) {
    if !support::require_tool("valgrind", "valgrind", "p9 under valgrind (p9 ran without it)") {
        return;
    }
    let _machine = support::shared_machine();
    let out = Run::new("tests/legacy/p9_teardown.c", mode, gen)
        .args(&["4"])
        .wrapper(&VALGRIND)
        .timeout(Duration::from_secs(240))
        .run();
    assert!(out.stderr.contains("ERROR SUMMARY:"), "{}: valgrind did not run (no ERROR SUMMARY)\n{out}", out.what);
    for bad in ["Invalid read", "Invalid write", "Invalid free", "Mismatched free"] {
        assert!(!out.stderr.contains(bad), "{}: valgrind reports \"{bad}\" (a use after free?)\n{out}", out.what);
    }
    assert_ne!(out.code, Some(99), "{}: valgrind found errors\n{out}", out.what);
    out.assert_ok();
}

#[test]
fn p9_teardown_valgrind_preload_v3() {
    valgrind_p9(Mode::Preload, Gen::V3);
}

#[test]
fn p9_teardown_valgrind_preload_v2() {
    valgrind_p9(Mode::Preload, Gen::V2);
}

/// The simulator alone under valgrind: tells a simulator bug from a shim bug.
#[test]
fn p9_teardown_valgrind_reference_v3() {
    valgrind_p9(Mode::Reference, Gen::V3);
}

// ---- the one timing assertion -----------------------------------------------------

/// Program 2 under the 2.30 runtime with the legacy variable (implicit mode: every
/// read waits for all pending work) against the same binary with the shim preloaded
/// (the read waits for request i-1 only, so request i runs during the host's work on
/// i+1). 60 iterations of 5 ms host work and a 5 ms model: about 0.6 s implicit,
/// about 0.55x of that with the shim.
///
/// The check is the coarse one, with a wide margin: the shim must take less
/// wall time than the implicit mode (expected near 0.55x, required below 1.0x).
/// Each side is the best of alternating rounds, so scheduling noise on a shared
/// 2-core machine does not decide it: 3 rounds, and 3 more if those do not show it
/// (both sides get the extra rounds). Steps of 5 ms, not 2 ms, because on a busy
/// machine each wake-up can take a millisecond or more: a CI run with 2 ms steps
/// measured the shim at 1.19x of the implicit mode (the shim then had one more
/// wake-up per request, through its completion thread, which direct waiting has
/// since removed), while this machine idle measures 0.61x. The real figures belong
/// to the benchmark (`nrt-bench`).
///
/// The implicit mode here follows the documentation's rule (every read waits for
/// all pending executions, `NRT_SIM_IMPLICIT_FENCE=all`). The 2.31.24 binary fenced
/// per storage (the simulator's default), under which this loop already overlapped
/// and the shim is about even with it: that comparison is a figure `nrt-bench`
/// reports, not something a timed test can decide.
#[test]
fn p2_shim_beats_implicit_mode_wait_for_all_rule() {
    let _machine = support::exclusive_machine();
    let env = [
        ("NRT_SIM_RUNTIME", "2.30"),
        ("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS", "3"),
        ("NRT_SIM_IMPLICIT_FENCE", "all"),
    ];
    let args = ["60", "5000", "5000"]; // iterations, latency_us, host_us
    let run = |mode| Run::new("tests/legacy/p2_double_buffer.c", mode, Gen::V3).args(&args).envs(&env).run();
    let mut rounds: Vec<[u64; 2]> = Vec::new();
    let mut last: Vec<Outcome> = Vec::new();
    let best = |rounds: &[[u64; 2]], k: usize| rounds.iter().map(|r| r[k]).min().unwrap_or(u64::MAX);
    for round in 0..6 {
        if round == 3 && best(&rounds, 1) < best(&rounds, 0) {
            break;
        }
        let mut times = [0u64; 2];
        for (k, mode) in [Mode::Reference, Mode::Preload].into_iter().enumerate() {
            let out = run(mode);
            out.assert_ok().assert_no_hazards();
            if let Some(first) = last.first() {
                out.assert_same_digests(first);
            }
            times[k] = out.value_u64("elapsed_us");
            if last.len() == 2 {
                last.remove(0);
            }
            last.push(out);
        }
        rounds.push(times);
    }
    let (t_implicit, t_shim) = (best(&rounds, 0), best(&rounds, 1));
    eprintln!(
        "p2, 60 iterations of 5 ms, {} rounds [implicit us, shim us]: {rounds:?}; best: implicit {t_implicit} us, shim {t_shim} us ({:.2}x)",
        rounds.len(),
        t_shim as f64 / t_implicit as f64
    );
    assert!(
        t_shim < t_implicit,
        "the shim took {t_shim} us, the implicit mode {t_implicit} us (best of {} rounds each: {rounds:?}): not faster\n{}\n{}",
        rounds.len(),
        last[0],
        last[1]
    );
}

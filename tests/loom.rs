//! Issue 4, part 3: the scheduler's two lock-free protocols under the loom model
//! checker: the completion thread's sleep/wake (`src/scheduler/doorbell.rs`) and
//! who retires a core's completions (`src/scheduler/gate.rs`), both on
//! `src/sync.rs`. The shim is built again with `--cfg loom` (in `target/loom`),
//! its loom tests must pass, and each control (the same code with the classic
//! mistake) must fail the way loom reports it: proof that the model finds what it
//! is there for.

#[allow(dead_code)]
#[path = "support/watch.rs"]
mod watch;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn loom_cargo(filter: &str, ignored: bool) -> watch::Finished {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.args(["test", "--release", "-p", "nrt-async-shim", "--lib", filter, "--", "--exact"])
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", target.join("loom"))
        .env("RUSTFLAGS", format!("{} --cfg loom", std::env::var("RUSTFLAGS").unwrap_or_default()))
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    if ignored {
        cmd.arg("--ignored");
    }
    // Watchdog: the build (about 2 minutes on 2 cores) and the models (about 10 s).
    let f = watch::run_watched(cmd, Duration::from_secs(1200), "loom", cargo.as_ref());
    assert!(!f.timed_out, "cargo test under loom did not finish within 20 minutes:\n{}", f.stderr);
    f
}

/// Each of `module`'s loom models must pass (and run: one test each).
fn models_pass(module: &str, tests: &[&str]) {
    for t in tests {
        let f = loom_cargo(&format!("{module}::{t}"), false);
        let out = format!("{}{}", f.stdout, f.stderr);
        assert!(f.status.success(), "{t} failed under loom:\n{out}");
        assert!(out.contains("test result: ok. 1 passed"), "{t} did not run under loom:\n{out}");
    }
}

/// The ignored control `module::test` must fail under loom, with `sign` in its
/// output (`what` names the bug it contains).
fn control_fails(module: &str, test: &str, sign: &str, what: &str) {
    let f = loom_cargo(&format!("{module}::{test}"), true);
    let out = format!("{}{}", f.stdout, f.stderr);
    assert!(!f.status.success(), "the control passed: loom did not find {what}:\n{out}");
    assert!(out.contains(sign), "the control failed, but not with \"{sign}\":\n{out}");
}

#[test]
fn the_doorbell_protocol_holds_under_loom_and_the_control_fails() {
    let module = "scheduler::doorbell::loom_tests";
    models_pass(
        module,
        &[
            "a_submission_racing_with_the_sleep_always_wakes_it",
            "two_submitters_never_lose_a_wake_up",
            "stop_wakes_the_sleeper_and_waits_for_its_end",
        ],
    );
    control_fails(module, "control_looking_before_announcing_idle_loses_a_wake_up", "deadlock", "the lost wake-up");
}

#[test]
fn the_retire_gate_protocol_holds_under_loom_and_the_control_fails() {
    let module = "scheduler::gate::loom_tests";
    models_pass(module, &["no_completion_is_left_for_nobody", "no_completion_is_left_for_nobody_with_three_threads"]);
    control_fails(
        module,
        "control_without_looking_again_loses_a_completion",
        "a completion was left for nobody",
        "the lost completion",
    );
}

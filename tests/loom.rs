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

#[test]
fn the_doorbell_protocol_holds_under_loom_and_the_control_fails() {
    for t in [
        "a_submission_racing_with_the_sleep_always_wakes_it",
        "two_submitters_never_lose_a_wake_up",
        "stop_wakes_the_sleeper_and_waits_for_its_end",
    ] {
        let f = loom_cargo(&format!("scheduler::doorbell::loom_tests::{t}"), false);
        let out = format!("{}{}", f.stdout, f.stderr);
        assert!(f.status.success(), "{t} failed under loom:\n{out}");
        assert!(out.contains("test result: ok. 1 passed"), "{t} did not run under loom:\n{out}");
    }
    let t = "scheduler::doorbell::loom_tests::control_looking_before_announcing_idle_loses_a_wake_up";
    let f = loom_cargo(t, true);
    let out = format!("{}{}", f.stdout, f.stderr);
    assert!(!f.status.success(), "the control passed: loom did not find the lost wake-up:\n{out}");
    assert!(out.contains("deadlock"), "the control failed, but not with loom's deadlock:\n{out}");
}

#[test]
fn the_retire_gate_protocol_holds_under_loom_and_the_control_fails() {
    for t in ["no_completion_is_left_for_nobody", "no_completion_is_left_for_nobody_with_three_threads"] {
        let f = loom_cargo(&format!("scheduler::gate::loom_tests::{t}"), false);
        let out = format!("{}{}", f.stdout, f.stderr);
        assert!(f.status.success(), "{t} failed under loom:\n{out}");
        assert!(out.contains("test result: ok. 1 passed"), "{t} did not run under loom:\n{out}");
    }
    let t = "scheduler::gate::loom_tests::control_without_looking_again_loses_a_completion";
    let f = loom_cargo(t, true);
    let out = format!("{}{}", f.stdout, f.stderr);
    assert!(!f.status.success(), "the control passed: loom did not find the lost completion:\n{out}");
    assert!(
        out.contains("a completion was left for nobody"),
        "the control failed, but not on the lost completion:\n{out}"
    );
}

//! `nrt-shim verify` end to end on the simulator: identical on bundled legacy
//! programs; a shim that skips one wait (NRT_SHIM_TEST_SKIP_WAIT) is caught with
//! the read named; each bad input is one clear line and exit status 2, never
//! "identical". Each verify runs under a watchdog (support::run_watched).

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use support::{nrt_shim_binary, Finished, Gen};

/// A directory holding `lib/libnrt.so.1` (the simulator), for NRT_SHIM_SIM_DIR.
fn sim_root() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nrt-cli-verify-{}", std::process::id()));
    let root = dir.join("nrt-sim");
    if !root.join("lib").exists() {
        std::fs::create_dir_all(&root).unwrap();
        std::os::unix::fs::symlink(support::sim_dir(Gen::V3), root.join("lib")).unwrap();
    }
    root
}

fn verify(args: &[&str], program: &[&str], env: &[(&str, &str)]) -> Finished {
    let exe = nrt_shim_binary();
    let mut cmd = Command::new(&exe);
    cmd.arg("verify").arg("--sim").args(args).arg("--").args(program);
    cmd.env("NRT_SHIM_LIB", support::shim_lib()).env("NRT_SHIM_SIM_DIR", sim_root());
    cmd.env_remove("NRT_SHIM_TEST_SKIP_WAIT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let f = support::run_watched(cmd, Duration::from_secs(120), "nrt-shim verify", &exe);
    // Records kept after a difference or an undecided run: not needed here.
    for line in f.stderr.lines() {
        if let Some((_, dir)) = line.split_once("are kept in ") {
            let _ = std::fs::remove_dir_all(dir.trim());
        }
    }
    f
}

fn code(f: &Finished) -> Option<i32> {
    assert!(!f.timed_out, "watchdog: verify still running after 120 s\n{}\n{}", f.stdout, f.stderr);
    f.status.code()
}

fn program(name: &str) -> String {
    support::compile(&format!("tests/legacy/{name}.c"), Gen::V3, false).display().to_string()
}

#[test]
fn bundled_programs_are_identical_at_depths_1_and_4() {
    let _machine = support::shared_machine();
    for (name, args) in [("p1_dev_guide", vec![]), ("p2_double_buffer", vec!["12"]), ("p6_two_cores", vec!["6"])] {
        let p = program(name);
        let mut prog = vec![p.as_str()];
        prog.extend(args);
        let f = verify(&["--runs", "1"], &prog, &[]);
        assert_eq!(code(&f), Some(0), "{name}:\n{}\n{}", f.stdout, f.stderr);
        let line = f.stdout.trim();
        assert!(line.contains(": identical in 2 runs at depths 1 and 4; "), "{name}: {line}");
        let reads: usize = line.split(' ').next().unwrap().replace(',', "").parse().unwrap();
        assert!(reads > 0, "{name} reads its outputs: {line}");
        if name == "p6_two_cores" {
            assert!(line.contains("3 threads"), "{line}");
        }
    }
}

#[test]
fn a_skipped_wait_is_caught_and_the_read_named() {
    let _machine = support::shared_machine();
    let p = program("p2_double_buffer");
    let json = std::env::temp_dir().join(format!("nrt-cli-verify-{}.json", std::process::id()));
    // The same program and depth without the fault: identical.
    let clean = verify(&["--depth", "4", "--runs", "1"], &[&p, "6", "50000"], &[]);
    assert_eq!(code(&clean), Some(0), "{}\n{}", clean.stdout, clean.stderr);
    // Read 3 is request 1's output z, read while request 1 (50 ms) is still running
    // (the host reaches it a millisecond or so after request 1 starts).
    let f = verify(
        &["--depth", "4", "--runs", "1", "--json", json.to_str().unwrap()],
        &[&p, "6", "50000"],
        &[("NRT_SHIM_TEST_SKIP_WAIT", "3")],
    );
    assert_eq!(code(&f), Some(1), "{}\n{}", f.stdout, f.stderr);
    assert!(f.stdout.starts_with("DIFFERENT at depth 4"), "{}", f.stdout);
    assert!(f.stdout.contains("the bytes read differ"), "{}", f.stdout);
    assert!(f.stdout.contains("nrt_tensor_read 'z' #"), "the read is named:\n{}", f.stdout);
    assert!(f.stdout.contains("the bytes first differ at byte"), "{}", f.stdout);
    assert!(
        f.stdout.contains("reproduce: NRT_SHIM_TEST_SKIP_WAIT=3 nrt-shim run --sim --max-inflight 4 --"),
        "{}",
        f.stdout
    );
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["verdict"], "different");
    assert_eq!(v["first_difference"]["what"], "the bytes read differ (digests)");
    assert!(v["first_difference"]["shim"].as_str().unwrap().starts_with("nrt_tensor_read 'z'"));
    assert_eq!(v["runs"].as_array().unwrap().len(), 3, "two references and the failing run");
    assert_eq!(v["runtime"]["simulator"], true);
    let _ = std::fs::remove_file(&json);
}

#[test]
fn bad_inputs_are_one_line_and_exit_status_2() {
    let _machine = support::shared_machine();
    let dir = std::env::temp_dir().join(format!("nrt-cli-verify-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let segv = dir.join("segv.sh");
    std::fs::write(&segv, "#!/bin/sh\nkill -SEGV $$\n").unwrap();
    assert!(Command::new("chmod").arg("755").arg(&segv).status().unwrap().success());
    let missing = dir.join("no-such-program");
    let cases: [(&[&str], Vec<&str>, &str); 4] = [
        (&["--runs", "1"], vec![missing.to_str().unwrap()], "cannot run"),
        (&["--runs", "1"], vec!["/bin/true"], "never called the Neuron runtime"),
        (&["--runs", "1"], vec![segv.to_str().unwrap()], "was killed by signal 11 (SIGSEGV) in reference run 1"),
        (&["--runs", "1", "--timeout", "1"], vec!["/bin/sleep", "30"], "did not finish within 1 s"),
    ];
    for (args, prog, expect) in cases {
        let f = verify(args, &prog, &[]);
        assert_eq!(code(&f), Some(2), "{prog:?}:\n{}\n{}", f.stdout, f.stderr);
        assert!(!f.stdout.contains("identical"), "{prog:?}: {}", f.stdout);
        let errors: Vec<&str> = f.stderr.lines().filter(|l| l.starts_with("nrt-shim: error:")).collect();
        assert_eq!(errors.len(), 1, "{prog:?}: one error line:\n{}", f.stderr);
        assert!(errors[0].contains(expect), "{prog:?}: {}", errors[0]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_thread_started_before_init_and_a_forked_child_are_recorded_apart() {
    let _machine = support::shared_machine();
    let p = support::compile("tests/c/record_fork.c", Gen::V3, false).display().to_string();
    let json = std::env::temp_dir().join(format!("nrt-cli-verify-fork-{}.json", std::process::id()));
    let f = verify(&["--runs", "1", "--json", json.to_str().unwrap()], &[&p], &[]);
    assert_eq!(code(&f), Some(0), "{}\n{}", f.stdout, f.stderr);
    assert!(f.stdout.contains("3 reads, 11 statuses, 2 threads: identical"), "{}", f.stdout);
    assert!(f.stdout.contains("1 other process not compared"), "{}", f.stdout);
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for run in v["runs"].as_array().unwrap() {
        assert_eq!(run["calls"], 11, "the parent's calls, once: {run}");
        assert_eq!(run["threads"], 2, "{run}");
        // The child's one call, under its own pid; none of the parent's copied records.
        assert_eq!(run["other_process_calls"], 1, "{run}");
    }
    let _ = std::fs::remove_file(&json);
}

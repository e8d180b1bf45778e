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
/// Made once per test process (the tests run in parallel).
fn sim_root() -> PathBuf {
    static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("nrt-cli-verify-{}", std::process::id()));
        let root = dir.join("nrt-sim");
        if !root.join("lib").exists() {
            std::fs::create_dir_all(&root).unwrap();
            std::os::unix::fs::symlink(support::sim_dir(Gen::V3), root.join("lib")).unwrap();
        }
        root
    })
    .clone()
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

/// p7_failures without a callback: each failed request's nrt_execute returns
/// NRT_SUCCESS under the shim and the read of its output returns the failure
/// (README "Errors"): accepted, and said so, never a silent "identical".
#[test]
fn failures_reported_at_the_documented_later_point_are_identical_with_the_note() {
    let _machine = support::shared_machine();
    let p = program("p7_failures");
    let json = std::env::temp_dir().join(format!("nrt-cli-verify-p7-{}.json", std::process::id()));
    let f = verify(&["--runs", "1", "--json", json.to_str().unwrap()], &[&p, "read", "9"], &[]);
    assert_eq!(code(&f), Some(0), "{}\n{}", f.stdout, f.stderr);
    let note = "identical in 2 runs at depths 1 and 4 (3 failures reported at the documented later point: \
                nrt_execute #14 -> nrt_tensor_read #15, nrt_execute #23 -> nrt_tensor_read #24, \
                nrt_execute #32 -> nrt_tensor_read #33; 3 reads returned the failure's status instead of a failed \
                request's bytes; see README.md \"Errors\")";
    assert!(f.stdout.contains(note), "{}", f.stdout);
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["verdict"], "identical");
    assert!(v["failure_timing"].as_str().unwrap().starts_with("3 failures reported"), "{}", v["failure_timing"]);
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs[0]["failures_reported_later"], serde_json::json!([]), "a reference moves nothing");
    for run in &runs[2..] {
        let moved = run["failures_reported_later"].as_array().unwrap();
        assert_eq!(moved.len(), 3, "{run}");
        assert_eq!(moved[0]["status"], "1004 NRT_EXEC_COMPLETED_WITH_ERR");
        assert_eq!(moved[0]["returned_in_reference_by"]["call_index"], 14);
        assert_eq!(moved[0]["reported_under_shim_by"]["function"], "nrt_tensor_read");
        assert_eq!(run["reads_of_failed_bytes"], 3);
    }
    let _ = std::fs::remove_file(&json);

    // Drain mode: the drain is the report (accepted call by call), but the program
    // prints the drain's status, so its stdout differs: still DIFFERENT, with why.
    let f = verify(&["--runs", "1", "--depth", "4"], &[&p, "drain", "9"], &[]);
    assert_eq!(code(&f), Some(1), "{}\n{}", f.stdout, f.stderr);
    assert!(!f.stdout.contains("thread 0, call"), "no call differs: {}", f.stdout);
    assert!(f.stdout.contains("stdout differs"), "{}", f.stdout);
    assert!(
        f.stdout.contains("the calls differ only by the documented failure timing (nrt_execute #60 -> nrt_async_drain_queued_execs #73"),
        "{}",
        f.stdout
    );
}

/// One call of a record file: where it starts in the file, and its fields.
struct Rec {
    at: usize,
    func: String,
    flags: u16,
    status: u64,
}

const F_DIGEST: u16 = 1;

/// The calls of a single-threaded record (src/observe/record.rs's format), in order.
fn calls(file: &[u8]) -> Vec<Rec> {
    let u32_at = |i: usize| u32::from_le_bytes(file[i..i + 4].try_into().unwrap());
    let (mut names, mut out, mut i) = (Vec::new(), Vec::new(), 0);
    while i < file.len() {
        let (kind, len) = (u16::from_le_bytes([file[i + 6], file[i + 7]]), u32_at(i + 20) as usize);
        let body = i + 24;
        if kind == 0 {
            names = String::from_utf8_lossy(&file[body..body + len]).lines().skip(1).map(String::from).collect();
        } else {
            let mut j = body;
            while j + 56 <= body + len {
                out.push(Rec {
                    at: j,
                    func: names[u16::from_le_bytes([file[j], file[j + 1]]) as usize].clone(),
                    flags: u16::from_le_bytes([file[j + 2], file[j + 3]]),
                    status: u64::from_le_bytes(file[j + 8..j + 16].try_into().unwrap()),
                });
                j += 56 + (u32_at(j + 4) as usize).div_ceil(8) * 8;
            }
        }
        i = body + len;
    }
    out
}

/// The contract is not a licence: verify on p7_failures' own records, each
/// edited to break one rule, is DIFFERENT with the broken rule named. The
/// records replace the program's (tests/c/record_replay.c writes them as its
/// own); the unedited pair is identical with the note, so the edit is the cause.
#[test]
fn a_failure_reported_nowhere_or_with_another_status_or_other_bytes_is_still_different() {
    let _machine = support::shared_machine();
    let dir = std::env::temp_dir().join(format!("nrt-cli-verify-edit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p7 = program("p7_failures");
    let exe = nrt_shim_binary();
    let record = |mode: &str, path: &PathBuf| {
        let mut cmd = Command::new(&exe);
        cmd.args(["run", "--sim", "--mode", mode, "--max-inflight", "4", "--", &p7, "read", "9"]);
        cmd.env("NRT_SHIM_LIB", support::shim_lib()).env("NRT_SHIM_SIM_DIR", sim_root()).env("NRT_SHIM_RECORD", path);
        cmd.env_remove("NRT_SHIM_TEST_SKIP_WAIT");
        let f = support::run_watched(cmd, Duration::from_secs(60), "p7_failures", &exe);
        assert!(f.status.success() && !f.timed_out, "{mode}: {}\n{}", f.stdout, f.stderr);
        std::fs::read(path).unwrap()
    };
    let reference = record("passthrough", &dir.join("ref.rec"));
    let run = record("async", &dir.join("run.rec"));
    let (rc, gc) = (calls(&reference), calls(&run));
    assert_eq!(rc.len(), gc.len());
    // The first failed request's read, and a read of bytes no failure marked.
    let k =
        gc.iter().position(|c| c.func == "nrt_tensor_read" && c.status == 1004).expect("a read reports the failure");
    assert!(rc[k - 1].func == "nrt_execute" && rc[k - 1].status == 1004, "the reference's nrt_execute returned it");
    let clean = gc.iter().position(|c| c.func == "nrt_tensor_read" && c.flags & F_DIGEST != 0).expect("a good read");
    let replayer = support::compile("tests/c/record_replay.c", Gen::V3, false).display().to_string();
    let check = |name: &str, edit: &dyn Fn(&mut Vec<u8>)| -> Finished {
        let mut edited = run.clone();
        edit(&mut edited);
        let path = dir.join(format!("{name}.rec"));
        std::fs::write(&path, &edited).unwrap();
        let env = [("REPLAY_REFERENCE", dir.join("ref.rec")), ("REPLAY_RUN", path)];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.to_str().unwrap())).collect();
        verify(&["--runs", "1", "--depth", "4"], &[&replayer], &env)
    };
    let f = check("unedited", &|_| {});
    assert_eq!(code(&f), Some(0), "{}\n{}", f.stdout, f.stderr);
    assert!(f.stdout.contains("(3 failures reported at the documented later point"), "{}", f.stdout);

    // The read returns the reference's bytes with NRT_SUCCESS: the failure is reported nowhere.
    let digest_of = |i: usize| reference[rc[i].at + 48..rc[i].at + 56].to_vec();
    let f = check("unreported", &|b| {
        let at = gc[k].at;
        b[at + 8..at + 16].copy_from_slice(&0u64.to_le_bytes());
        b[at + 2..at + 4].copy_from_slice(&(gc[k].flags | F_DIGEST).to_le_bytes());
        b[at + 48..at + 56].copy_from_slice(&digest_of(k));
    });
    assert_eq!(code(&f), Some(1), "{}\n{}", f.stdout, f.stderr);
    assert!(f.stdout.contains(&format!("thread 0, call {}: nrt_execute returned 1004", k - 1)), "{}", f.stdout);
    assert!(f.stdout.contains("the failure was reported nowhere"), "{}", f.stdout);

    // The read reports another status than the failure's.
    let f = check("other-status", &|b| b[gc[k].at + 8..gc[k].at + 16].copy_from_slice(&1003u64.to_le_bytes()));
    assert_eq!(code(&f), Some(1), "{}\n{}", f.stdout, f.stderr);
    assert!(f.stdout.contains(&format!("thread 0, call {k}: the read returned 1003")), "{}", f.stdout);
    assert!(f.stdout.contains("no earlier nrt_execute failed with that status"), "{}", f.stdout);

    // A read of bytes no failure marked returns other bytes.
    let f = check("other-bytes", &|b| b[gc[clean].at + 48] ^= 1);
    assert_eq!(code(&f), Some(1), "{}\n{}", f.stdout, f.stderr);
    assert!(f.stdout.contains(&format!("thread 0, call {clean}: the bytes read differ")), "{}", f.stdout);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A chain (model a fails every third execution; model b reads a's output, so
/// its outputs carry a's mark: a derived failure), sticky rereads and drains,
/// through the proof suite's interpreter (proof/c/interp.c), with and without
/// a callback. The interpreter prints every status it gets, so stdout differs;
/// no call does.
#[test]
fn derived_failures_sticky_reads_and_drains_differ_only_by_the_documented_timing() {
    let _machine = support::shared_machine();
    let dir = std::env::temp_dir().join(format!("nrt-cli-verify-chain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut prog = String::from(
        "P 0 1\n\
         M 0 0 nrt-sim-model~1|name~a|latency_us~300|input~i0~64|output~o0~64|compute~affine~3~1|fail_every~3~1004|\n\
         M 1 0 nrt-sim-model~1|name~b|latency_us~300|input~i0~64|output~o0~64|compute~affine~5~2|\n",
    );
    for op in [
        "load 0",
        "load 1",
        "salloc 10",
        "alloc 1 0 0 64",
        "sadd 10 i0 1",
        "salloc 11",
        "alloc 2 0 0 64",
        "sadd 11 o0 2",
        "salloc 12",
        "sadd 12 i0 2",
        "salloc 13",
        "alloc 3 0 0 64",
        "sadd 13 o0 3",
    ] {
        prog.push_str(&format!("O -1 0 {op}\n"));
    }
    for op in [
        "exec 0 10 11",
        "exec 1 12 13",
        "read 3 0 64",
        "exec 0 10 11",
        "exec 1 12 13",
        "read 3 0 64",
        "exec 0 10 11",
        "exec 1 12 13",
        "read 3 0 64",
        "read 3 8 16",
        "read 2 0 64",
        "drain 0",
        "exec 0 10 11",
        "exec 0 10 11",
        "exec 0 10 11",
        "exec 1 12 13",
        "drain 0",
        "read 2 0 32",
        "read 3 0 64",
        "read 1 0 64",
    ] {
        prog.push_str(&format!("O 0 0 {op}\n"));
    }
    prog.push_str("E\n");
    let file = dir.join("chain.prog");
    std::fs::write(&file, prog).unwrap();
    let interp = support::compile("proof/c/interp.c", Gen::V3, false).display().to_string();
    let file = file.to_str().unwrap();
    for (args, moves) in [
        (vec![&interp, file], "thread 1 nrt_execute #6 -> thread 1 nrt_tensor_read #8, thread 1 nrt_execute #14 -> thread 1 nrt_async_drain_queued_execs #16"),
        (vec![&interp, file, "cb"], "thread 1 nrt_execute #6 -> the callback, thread 1 nrt_execute #14 -> the callback"),
    ] {
        let f = verify(&["--runs", "1", "--depth", "4"], &args, &[]);
        assert_eq!(code(&f), Some(1), "{args:?}: {}\n{}", f.stdout, f.stderr);
        assert!(!f.stdout.contains(", call "), "{args:?}: no call differs:\n{}", f.stdout);
        assert!(f.stdout.contains("stdout differs"), "{}", f.stdout);
        let line = format!("the calls differ only by the documented failure timing ({moves};");
        assert!(f.stdout.contains(&line), "{args:?}:\n{}", f.stdout);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

//! `nrt-bench --quick` runs and produces the table and the JSON with every workload
//! and configuration; `nrt-bench sim --quick` and `cost --quick` their tables.
//! Checks structure only, never a timing. One test, so they never build into
//! target/nrt-bench at once.

use nrt_bench::{CONFIGS, WORKLOADS};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs nrt-bench with `args` + `--json FILE` under a watchdog: (stdout, the JSON).
fn run_bench(args: &[&str]) -> (String, String) {
    let json = std::env::temp_dir().join(format!("nrt-bench-quick-{}-{}.json", std::process::id(), args[0]));
    let mut child = Command::new(env!("CARGO_BIN_EXE_nrt-bench"))
        .args(args)
        .arg("--json")
        .arg(&json)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cannot run nrt-bench");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).unwrap();
        s
    });
    // Watchdog: the quick mode takes seconds once built; allow for a cold release build.
    let deadline = Instant::now() + Duration::from_secs(900);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("nrt-bench {args:?} did not finish within 900 s (killed)");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let table = reader.join().unwrap();
    assert!(status.success(), "nrt-bench {args:?} failed:\n{table}");
    let text = std::fs::read_to_string(&json).expect("the JSON file was not written");
    let _ = std::fs::remove_file(&json);
    (table, text)
}

#[test]
fn quick_mode_produces_the_tables_and_json() {
    workload_table();
    sim_table();
    cost_table();
}

fn cost_table() {
    let (table, text) = run_bench(&["cost", "--quick"]);
    for row in [
        "nrt_execute through the shim (no wait)",
        "nrta_execute_schedule direct (no wait)",
        "nrt_execute through the shim, NRT_SHIM_SPIN_US=0",
        "nrta_execute_schedule direct, eventfd wait",
    ] {
        let line = table.lines().find(|l| l.starts_with(row)).unwrap_or_else(|| panic!("no row {row:?} in:\n{table}"));
        let v: f64 = line[row.len()..].split_whitespace().next().and_then(|x| x.parse().ok()).unwrap();
        assert!(v.is_finite() && v > 0.0, "{line}");
    }
    for k in ["nonwaiting", "waiting", "nonwaiting_added_ns", "waiting_added_ns_vs_efd_spin0"] {
        assert!(text.contains(&format!("\"{k}\"")), "no {k} in the JSON:\n{text}");
    }
}

fn workload_table() {
    let (table, text) = run_bench(&["--quick"]);
    for h in ["iter/s", "util", "shim/implicit", "(weaker)", "shim/sync", "shim/expert", "shim/bound"] {
        assert!(table.contains(h), "no column {h} in:\n{table}");
    }
    for w in WORKLOADS.iter().map(|w| w.name) {
        for c in CONFIGS.iter().chain(["bound"].iter()) {
            assert!(
                table.lines().any(|l| {
                    let mut f = l.split_whitespace();
                    f.next() == Some(w) && f.next() == Some(*c)
                }),
                "no row {w} {c} in:\n{table}"
            );
        }
    }
    assert!(text.contains("\"quick\": true"));
    for w in WORKLOADS.iter().map(|w| w.name) {
        let at = text.find(&format!("\"{w}\"")).unwrap_or_else(|| panic!("no {w} in the JSON:\n{text}"));
        let rest = &text[at..];
        let end =
            WORKLOADS.iter().filter_map(|o| rest[1..].find(&format!("\"{}\"", o.name))).min().unwrap_or(rest.len());
        let body = &rest[..end.max(1)];
        for c in CONFIGS.iter().chain(["bound"].iter()) {
            assert!(body.contains(&format!("\"{c}\"")), "no {c} under {w} in the JSON:\n{text}");
        }
        for r in [
            "shim/implicit",
            "shim/implicit-weaker",
            "implicit_stronger",
            "shim/sync",
            "shim/expert",
            "shim/bound",
            "iters_per_s",
            "utilisation",
        ] {
            assert!(body.contains(&format!("\"{r}\"")), "no {r} under {w} in the JSON");
        }
    }
}

fn sim_table() {
    let (table, text) = run_bench(&["sim", "--quick"]);
    for row in [
        "nrt_tensor_write, device tensor (ns/byte)",
        "nrt_tensor_read, device tensor (ns/byte)",
        "nrt_tensor_copy, device to device (ns/byte)",
        "nrt_execute, affine, 2 inputs (ns/output byte)",
        "sync nrt_tensor_read, 64 B (us/call)",
        "sync nrt_execute, 64 B model (us/call)",
        "nrta_execute_schedule + completion, 64 B (us)",
    ] {
        let line = table.lines().find(|l| l.starts_with(row)).unwrap_or_else(|| panic!("no row {row:?} in:\n{table}"));
        let v: f64 = line[row.len()..].split_whitespace().next().and_then(|x| x.parse().ok()).unwrap();
        assert!(v.is_finite(), "{line}");
    }
    for mode in ["sync", "shim"] {
        assert!(
            table.lines().any(|l| l.starts_with("64 KiB") && l.split_whitespace().nth(2) == Some(mode)),
            "no 64 KiB {mode} timing row in:\n{table}"
        );
    }
    for k in ["host_cost", "schedule_small", "timing", "modelled_ms_per_step", "current_ms_per_step"] {
        assert!(text.contains(&format!("\"{k}\"")), "no {k} in the JSON:\n{text}");
    }
}

//! `nrt-bench --quick` runs and produces the table and the JSON with every workload
//! and configuration. Checks structure only, never a timing.

use nrt_bench::{CONFIGS, WORKLOADS};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn quick_mode_produces_the_table_and_json() {
    let json = std::env::temp_dir().join(format!("nrt-bench-quick-{}.json", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_nrt-bench"))
        .args(["--quick", "--json"])
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
            panic!("nrt-bench --quick did not finish within 900 s (killed)");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let table = reader.join().unwrap();
    assert!(status.success(), "nrt-bench --quick failed:\n{table}");
    for h in ["iter/s", "util", "shim/implicit", "shim/sync", "shim/expert", "shim/bound"] {
        assert!(table.contains(h), "no column {h} in:\n{table}");
    }
    for (w, _, _) in WORKLOADS {
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
    let text = std::fs::read_to_string(&json).expect("the JSON file was not written");
    let _ = std::fs::remove_file(&json);
    assert!(text.contains("\"quick\": true"));
    for (w, _, _) in WORKLOADS {
        let at = text.find(&format!("\"{w}\"")).unwrap_or_else(|| panic!("no {w} in the JSON:\n{text}"));
        let rest = &text[at..];
        let end =
            WORKLOADS.iter().filter_map(|(o, _, _)| rest[1..].find(&format!("\"{o}\""))).min().unwrap_or(rest.len());
        let body = &rest[..end.max(1)];
        for c in CONFIGS.iter().chain(["bound"].iter()) {
            assert!(body.contains(&format!("\"{c}\"")), "no {c} under {w} in the JSON:\n{text}");
        }
        for r in ["shim/implicit", "shim/sync", "shim/expert", "shim/bound", "iters_per_s", "utilisation"] {
            assert!(body.contains(&format!("\"{r}\"")), "no {r} under {w} in the JSON");
        }
    }
}

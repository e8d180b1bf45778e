//! `nrt-shim demo` end to end, small: the legacy program three ways on the simulator,
//! the table, and a trace and timeline of each (the two runs without the shim traced
//! by cli/demo/timeline.c). Watchdog: 120 s.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Gen, Value};

/// `target/<profile>/nrt-shim` (see tests/cli_install.rs), built here if missing or stale.
fn nrt_shim_binary() -> std::path::PathBuf {
    let p = support::profile_dir().join("nrt-shim");
    let newest_source = std::fs::read_dir(support::repo_root().join("cli/src"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.metadata().ok()?.modified().ok())
        .max()
        .unwrap();
    if !std::fs::metadata(&p).and_then(|m| m.modified()).is_ok_and(|t| t >= newest_source) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(support::repo_root()).args(["build", "-p", "nrt-shim"]);
        if support::profile_dir().file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        assert!(cmd.status().unwrap().success(), "building nrt-shim failed");
    }
    p
}

#[test]
fn demo_runs_three_ways_and_draws_three_timelines() {
    let _machine = support::shared_machine();
    let nrt_shim = nrt_shim_binary();
    let dir = std::env::temp_dir().join(format!("nrt-cli-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The program and the timing interposer side by side, as `cargo xtask demo` leaves them.
    let program = dir.join("double_buffer");
    std::fs::copy(support::compile("tests/legacy/p2_double_buffer.c", Gen::V3, false), &program).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let st = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-pthread"])
        .arg(format!("-I{}", support::repo_root().join("include").display()))
        .arg(support::repo_root().join("cli/demo/timeline.c"))
        .arg("-o")
        .arg(dir.join("libnrt_demo_timeline.so"))
        .arg("-ldl")
        .status()
        .unwrap();
    assert!(st.success());
    let sim_root = dir.join("nrt-sim");
    std::fs::create_dir_all(&sim_root).unwrap();
    std::os::unix::fs::symlink(support::sim_dir(Gen::V3), sim_root.join("lib")).unwrap();

    let out_dir = dir.join("out");
    let mut child = Command::new(&nrt_shim)
        .args(["demo", "--iterations", "20", "--program"])
        .arg(&program)
        .arg("--out")
        .arg(&out_dir)
        .env("NRT_SHIM_LIB", support::shim_lib())
        .env("NRT_SHIM_SIM_DIR", &sim_root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("watchdog: nrt-shim demo still running after 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    for name in ["sync", "implicit", "shim"] {
        assert!(text.lines().any(|l| l.starts_with(name) && l.contains('%')), "a row for {name}:\n{text}");
        assert!(!text.contains("HAZARDS"), "{text}");
        let trace: Value =
            serde_json::from_str(&std::fs::read_to_string(out_dir.join(format!("{name}.trace.json"))).unwrap())
                .unwrap_or_else(|e| panic!("{name}.trace.json: {e}"));
        let device = trace["traceEvents"].as_array().unwrap().iter().filter(|e| e["cat"] == "device").count();
        assert_eq!(device, 20, "{name}: one device slice per request");
        let svg = std::fs::read_to_string(out_dir.join(format!("{name}.svg"))).unwrap();
        assert_eq!(svg.matches("<g class=\"lane\"").count(), 2, "{name}: app thread + core 0");
        assert!(text.contains(&out_dir.join(format!("{name}.svg")).display().to_string()), "names the file:\n{text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

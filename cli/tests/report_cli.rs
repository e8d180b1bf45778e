//! `nrt-shim report` as a user runs it: a hand-written trace in, a summary and an SVG out.
//! (Being an integration test, it also makes `cargo test --workspace` build the
//! `nrt-shim` binary that tests/cli_install.rs installs.)

use std::process::Command;

const TRACE: &str = r#"{"otherData": {"tool": "nrt-async-shim", "version": "0.1.0", "mode": "async", "in_flight_depth": 2, "events": 4, "dropped_events": 0},
 "traceEvents": [
  {"ph": "M", "name": "thread_name", "pid": 1, "tid": 1, "args": {"name": "app thread 1"}},
  {"ph": "M", "name": "thread_name", "pid": 1, "tid": 2, "args": {"name": "app thread 2"}},
  {"ph": "M", "name": "thread_name", "pid": 1, "tid": 1000, "args": {"name": "core 0 compute"}},
  {"ph": "M", "name": "thread_name", "pid": 1, "tid": 1016, "args": {"name": "core 1 compute"}},
  {"ph": "X", "cat": "host", "name": "nrt_execute", "pid": 1, "tid": 1, "ts": 0, "dur": 5, "args": {"blocked_us": 0}},
  {"ph": "X", "cat": "host", "name": "nrt_tensor_read", "pid": 1, "tid": 2, "ts": 10, "dur": 500, "args": {"blocked_us": 490, "waited_for": "core0 #1", "hazard": "read-after-write", "tensor": "out"}},
  {"ph": "X", "cat": "device", "name": "m #1", "pid": 1, "tid": 1000, "ts": 5, "dur": 500, "args": {"core": 0, "job": 1, "status": 0}},
  {"ph": "X", "cat": "device", "name": "m #1", "pid": 1, "tid": 1016, "ts": 100, "dur": 100, "args": {"core": 1, "job": 1, "status": 0}}
 ]}"#;

#[test]
fn report_prints_a_summary_and_draws_one_lane_per_track() {
    let dir = std::env::temp_dir().join(format!("nrt-shim-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("t.json");
    let svg = dir.join("t.svg");
    std::fs::write(&trace, TRACE).unwrap();
    let out =
        Command::new(env!("CARGO_BIN_EXE_nrt-shim")).arg("report").arg(&trace).arg("--svg").arg(&svg).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("1. nrt_tensor_read of 'out', read-after-write: 1 wait(s), 0.49 ms"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("core 1 compute") && l.contains("20%")), "{text}");
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(picture.starts_with("<svg") && picture.trim_end().ends_with("</svg>"));
    assert_eq!(picture.matches("<g class=\"lane\"").count(), 4);

    // A missing file is an error that says what to do.
    let bad = Command::new(env!("CARGO_BIN_EXE_nrt-shim")).arg("report").arg(dir.join("none.json")).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("NRT_SHIM_TRACE"));
    let _ = std::fs::remove_dir_all(&dir);
}

//! `nrt-shim report` as a user runs it: a hand-written trace in, a summary and an SVG out.
//! (Being an integration test, it also makes `cargo test --workspace` build the
//! `nrt-shim` binary that tests/cli_install.rs installs.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "svg_check/mod.rs"]
mod svg_check;

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
    let root = svg_check::parse(&std::fs::read_to_string(&svg).unwrap()).unwrap();
    let runs = root.with_class("g", "run");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].attr("data-label"), Some("t"));
    assert_eq!(runs[0].with_class("g", "lane").len(), 4);
    // Two cores, 500 and 100 us busy of 510: a mean of 59%.
    assert_eq!(
        runs[0].with_class("text", "run-figures")[0].text().trim(),
        "wall 0.510 ms · device busy 59% (mean of 2 cores)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nrt-shim-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn report(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nrt-shim")).arg("report").args(args).output().unwrap()
}

/// TRACE with every time multiplied by `k` (a run `1/k` times as fast).
fn scaled(k: f64) -> String {
    let mut v: serde_json::Value = serde_json::from_str(TRACE).unwrap();
    for e in v["traceEvents"].as_array_mut().unwrap() {
        for key in ["ts", "dur"] {
            if let Some(x) = e[key].as_f64() {
                e[key] = (x * k).into();
            }
        }
        if let Some(b) = e.pointer("/args/blocked_us").and_then(|b| b.as_f64()) {
            e["args"]["blocked_us"] = (b * k).into();
        }
    }
    v.to_string()
}

#[test]
fn report_of_two_traces_compares_them_on_one_axis() {
    let dir = temp_dir("compare");
    let (before, after, svg) = (dir.join("before.json"), dir.join("after.trace.json"), dir.join("cmp.svg"));
    std::fs::write(&before, scaled(4.0)).unwrap();
    std::fs::write(&after, TRACE).unwrap();
    let out = report(&[&before, &after, Path::new("--svg"), &svg]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    // Both summaries, then the comparison: the second run 4x as fast.
    assert_eq!(text.matches("trace: ").count(), 2, "{text}");
    let row = |name: &str| text.lines().find(|l| l.starts_with(name)).unwrap().split_whitespace().collect::<Vec<_>>();
    assert_eq!(row("before "), ["before", "2.04", "59%", "1.00x"], "{text}");
    assert_eq!(row("after "), ["after", "0.51", "59%", "4.00x"], "{text}");
    assert!(text.contains(&format!("timeline: {}", svg.display())), "{text}");

    let picture = std::fs::read_to_string(&svg).unwrap();
    let root = svg_check::parse(&picture).unwrap_or_else(|e| panic!("{e}\n{picture}"));
    assert_eq!(root.name, "svg");
    assert_eq!(root.with_class("g", "axis").len(), 1, "one shared axis");
    let runs = root.with_class("g", "run");
    assert_eq!(runs.iter().map(|r| r.attr("data-label").unwrap()).collect::<Vec<_>>(), ["before", "after"]);
    for (r, wall) in runs.iter().zip(["2.04", "0.510"]) {
        assert_eq!(r.with_class("g", "lane").len(), 4);
        let figures = r.with_class("text", "run-figures")[0].text();
        assert_eq!(figures.trim(), format!("wall {wall} ms · device busy 59% (mean of 2 cores)"));
        assert!(r.with_class("text", "run-label")[0].text().contains(r.attr("data-label").unwrap()));
    }
    // The axis runs to the longer trace: its last tick label is 2 ms.
    let ticks: Vec<f64> = root.with_class("g", "axis")[0]
        .find_all(&|e| e.name == "text")
        .iter()
        .filter_map(|t| t.text().trim().parse().ok())
        .collect();
    assert_eq!(ticks.last(), Some(&2.0), "{ticks:?}");
    // The legend names every colour the lanes use.
    let legend = root.with_class("g", "legend")[0];
    let swatches: Vec<&str> = legend.find_all(&|e| e.name == "rect").iter().filter_map(|r| r.attr("fill")).collect();
    for rect in root.find_all(&|e| e.name == "rect" && e.attr("width") != Some("1400")) {
        let fill = rect.attr("fill").unwrap();
        assert!(swatches.contains(&fill), "{fill} is not in the legend");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_or_missing_trace_is_one_error_line_and_nothing_else() {
    let dir = temp_dir("bad");
    let good = dir.join("good.json");
    let broken = dir.join("broken.json");
    let svg = dir.join("out.svg");
    std::fs::write(&good, TRACE).unwrap();
    std::fs::write(&broken, "{\"traceEvents\": [").unwrap();
    let cases: [(&Path, &str); 2] = [(&dir.join("none.json"), "cannot read"), (&broken, "is not a trace")];
    for (bad, what) in cases {
        let out = report(&[&good, bad, Path::new("--svg"), &svg]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.starts_with("nrt-shim: error: ") && err.contains(what), "{err}");
        assert!(err.contains(&bad.display().to_string()), "names the file: {err}");
        // Nothing half done: no summary of the good file, no picture.
        assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
        assert!(!svg.exists());
    }
    // No trace at all: the usage error, non-zero.
    let out = report(&[]);
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("<TRACE>"), "{}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

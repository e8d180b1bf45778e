//! The hazard oracle names the program's call sites (issue 17 §2): on
//! `tests/c/racy.c` (built with -g), the report's `hazard_sites`, the
//! NRT_SIM_HAZARDS=stderr line and NRT_SIM_HAZARD_ABORT=1.
//!
//! file:line needs binutils' `addr2line` (the simulator's symbolizer); without
//! it the tests check the object+offset form only.
//!
//! Needs the simulator built (`cargo test --workspace` builds it).

mod support;

use serde_json::Value;
use support::{have_tool, repo_root, Gen, Mode, Run};

const RACY: &str = "tests/c/racy.c";

/// The 1-based line of racy.c holding `needle`, the `nth` such line (0-based).
fn line_of(needle: &str, nth: usize) -> usize {
    let text = std::fs::read_to_string(repo_root().join(RACY)).expect("reading racy.c");
    let lines: Vec<usize> = text.lines().enumerate().filter(|(_, l)| l.contains(needle)).map(|(i, _)| i + 1).collect();
    *lines.get(nth).unwrap_or_else(|| panic!("racy.c has no {nth}th line with {needle:?}"))
}

/// The racy read's line, and the schedule call's line for `gen` (v2's comes first).
fn expected_lines(gen: Gen) -> (usize, usize) {
    let read = line_of("CK(nrt_tensor_read(y, hy, 0, N));", 0);
    let schedule = line_of("CK(nrta_execute_schedule(", if gen == Gen::V2 { 0 } else { 1 });
    (read, schedule)
}

fn racy(gen: Gen) -> Run {
    Run::new(RACY, Mode::Reference, gen).args(&["racy"])
}

fn site<'a>(pair: &'a Value, which: &str) -> &'a Value {
    pair.get(which).unwrap_or_else(|| panic!("no {which} in {pair}"))
}

fn names_both_sites(gen: Gen) {
    let out = racy(gen).env("NRT_SIM_HAZARDS", "stderr").run();
    out.assert_ok();
    assert!(out.hazards() >= 1, "{out}");
    let pairs = out.report()["hazard_sites"].as_array().cloned().unwrap_or_default();
    assert_eq!(pairs.len(), 1, "one pair of call sites raced\n{out}");
    let (racing, inflight) = (site(&pairs[0], "racing_call"), site(&pairs[0], "in_flight_op"));
    for s in [racing, inflight] {
        let object = s["object"].as_str().unwrap_or_default();
        assert!(object.contains("/nrt-test-bin/racy-"), "the site is in the program, not {object}\n{out}");
        assert!(s["offset"].as_str().is_some_and(|o| o.starts_with("0x")), "{s}");
    }
    assert_ne!(racing["offset"], inflight["offset"], "two different calls\n{out}");
    let line = out.stderr.lines().find(|l| l.starts_with("nrt-sim: hazard: ")).unwrap_or_else(|| {
        panic!("NRT_SIM_HAZARDS=stderr printed no hazard line\n{out}");
    });
    assert!(
        line.contains("nrt_tensor_read of 'y'") && line.contains("in-flight nrta_execute_schedule('racy')"),
        "{line}"
    );
    if !have_tool("addr2line") {
        eprintln!("no addr2line (binutils): file:line not checked");
        return;
    }
    let (read, schedule) = expected_lines(gen);
    for (s, want) in [(racing, read), (inflight, schedule)] {
        assert_eq!(s["symbol"], "main", "{s}");
        let l = s["line"].as_str().unwrap_or_default();
        assert!(l.ends_with(&format!("tests/c/racy.c:{want}")), "expected racy.c:{want}, got {s}\n{out}");
    }
    let want = format!("the racing call at main (racy.c:{read}) [racy-");
    assert!(line.contains(&want), "{want:?} not in {line}");
    let want = format!("the in-flight op scheduled at main (racy.c:{schedule}) [racy-");
    assert!(line.contains(&want), "{want:?} not in {line}");
    let example = out.report()["hazard_examples"][0].as_str().unwrap_or_default().to_string();
    assert!(example.contains(&format!("main (racy.c:{read})")), "{example}");
}

#[test]
fn racy_read_names_both_call_sites_v3() {
    names_both_sites(Gen::V3);
}

#[test]
fn racy_read_names_both_call_sites_v2() {
    names_both_sites(Gen::V2);
}

#[test]
fn without_a_symbolizer_sites_are_object_and_offset() {
    let out = racy(Gen::V3).env("NRT_SIM_ADDR2LINE", "none").run();
    out.assert_ok();
    let pair = &out.report()["hazard_sites"][0];
    let s = site(pair, "racing_call");
    assert_eq!(s["line"], Value::Null, "{s}");
    let text = s["site"].as_str().unwrap_or_default();
    assert!(text.starts_with("racy-") && text.contains("+0x"), "object+offset, got {text:?}");
}

#[test]
fn hazard_abort_dies_with_sigabrt_after_printing() {
    let out = racy(Gen::V3).env("NRT_SIM_HAZARD_ABORT", "1").run();
    assert_eq!(out.signal, Some(libc::SIGABRT), "NRT_SIM_HAZARD_ABORT=1 must abort at the hazard\n{out}");
    assert!(out.stderr.contains("nrt-sim: hazard: nrt_tensor_read of 'y'"), "the hazard is printed first\n{out}");
}

#[test]
fn a_correct_program_prints_nothing_and_does_not_abort() {
    let out = Run::new(RACY, Mode::Reference, Gen::V3)
        .args(&["correct"])
        .envs(&[("NRT_SIM_HAZARDS", "stderr"), ("NRT_SIM_HAZARD_ABORT", "1")])
        .run();
    out.assert_ok().assert_no_hazards();
    assert!(!out.stderr.contains("hazard"), "{out}");
    assert_eq!(out.report()["hazard_sites"].as_array().map(Vec::len), Some(0), "{out}");
}

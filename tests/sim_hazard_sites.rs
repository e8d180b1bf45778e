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

// ---- the migration guide's half-migrated program ------------------------------

const HALF: &str = "tests/c/p2_half.c";

/// The 1-based line of `file` holding `needle`.
fn line_in(file: &str, needle: &str) -> usize {
    let text = std::fs::read_to_string(repo_root().join(file)).expect("reading the source");
    text.lines().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("{file} has no {needle:?}")) + 1
}

fn half(mode: &str) -> support::Outcome {
    // 12 requests of 2 ms, 100 us of host work per step: every step overlaps.
    let out = Run::new(HALF, Mode::Reference, Gen::V3)
        .args(&["12", "2000", "100", mode])
        .env("NRT_SIM_HAZARDS", "stderr")
        .run();
    out.assert_ok();
    out
}

/// (racing line, in-flight line) of every pair of sites, when addr2line can tell.
fn pair_lines(out: &support::Outcome) -> Vec<(String, String, u64)> {
    let pairs = out.report()["hazard_sites"].as_array().cloned().unwrap_or_default();
    pairs
        .iter()
        .map(|p| {
            let l = |w: &str| p[w]["site"].as_str().unwrap_or_default().to_string();
            (l("racing_call"), l("in_flight_op"), p["count"].as_u64().unwrap_or(0))
        })
        .collect()
}

#[test]
fn half_migrated_correct_loop_has_no_hazard() {
    let out = half("correct");
    out.assert_no_hazards();
    assert_eq!(out.expect_value("wrong_outputs"), "0", "{out}");
}

#[test]
fn half_migrated_stale_read_names_the_read_and_the_schedule() {
    let out = half("stale-read");
    let pairs = pair_lines(&out);
    // Two racing lines (the reads of z and w), one schedule line: every
    // iteration's hazard lands on the same pairs (a site is captured the same
    // way at every call, calibrated or not).
    assert_eq!(pairs.len(), 2, "{pairs:?}\n{out}");
    assert!(pairs.iter().all(|p| p.2 >= 2), "{pairs:?}");
    if !have_tool("addr2line") {
        return;
    }
    let z = line_in(HALF, "read_tensor(b->z,");
    let w = line_in(HALF, "read_tensor(b->w,");
    let exec = line_in(HALF, "OK(nrta_execute_schedule(");
    assert!(pairs[0].0.contains(&format!("p2_half.c:{z})")), "{pairs:?}");
    assert!(pairs[1].0.contains(&format!("p2_half.c:{w})")), "{pairs:?}");
    assert!(pairs.iter().all(|p| p.1.starts_with(&format!("main (p2_half.c:{exec})"))), "{pairs:?}");
}

#[test]
fn half_migrated_early_exec_names_the_schedule_and_the_writes() {
    let out = half("early-exec");
    let pairs = pair_lines(&out);
    assert!(!pairs.is_empty(), "{out}");
    if !have_tool("addr2line") {
        return;
    }
    let exec = line_in(HALF, "OK(nrta_execute_schedule(");
    let wx = line_in(HALF, "OK(nrta_tensor_write(b->x,");
    let wy = line_in(HALF, "OK(nrta_tensor_write(b->y,");
    for (racing, inflight, _) in &pairs {
        assert!(racing.starts_with(&format!("main (p2_half.c:{exec})")), "{pairs:?}");
        let ok = [wx, wy].iter().any(|l| inflight.starts_with(&format!("main (p2_half.c:{l})")));
        assert!(ok, "{pairs:?}");
    }
}

#[test]
fn under_the_shim_the_half_migrated_race_is_ordered() {
    // The shim intercepts the program's own nrta_execute_schedule too (a
    // half-migrated program): its legacy nrt_tensor_read waits for that
    // request, so the race is gone and the bytes are the correct program's.
    let racy = Run::new(RACY, Mode::Preload, Gen::V3).args(&["racy"]).run();
    racy.assert_ok();
    assert_eq!(racy.report()["hazards"].as_u64(), Some(0), "{racy}");
    assert!(racy.report()["hazard_sites"].as_array().is_none_or(|a| a.is_empty()), "{racy}");
    let correct = Run::new(RACY, Mode::Preload, Gen::V3).args(&["correct"]).run();
    correct.assert_ok();
    let digest = |o: &str| o.lines().find(|l| l.starts_with("digest:")).map(str::to_string);
    assert_eq!(digest(&racy.stdout), digest(&correct.stdout), "{racy}\n{correct}");
}

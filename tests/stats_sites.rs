//! NRT_SHIM_STATS names the program's call sites of the waits (issue 17 §2):
//! a legacy program (built with -g) under the shim, its waits aggregated per
//! (call site, tensor), resolved to symbol and file:line when the stats are
//! written (file:line needs binutils' `addr2line`).

mod support;

use serde_json::Value;
use support::{have_tool, repo_root, Gen, Mode, Run};

const P2: &str = "tests/legacy/p2_double_buffer.c";

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("nrt-stats-sites-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The 1-based line of `file` (in the repository) holding `needle`.
fn line_of(file: &str, needle: &str) -> usize {
    let text = std::fs::read_to_string(repo_root().join(file)).unwrap();
    text.lines().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("{file} has no {needle:?}")) + 1
}

fn stats_of(tag: &str, env: &[(&str, &str)]) -> Value {
    let _machine = support::shared_machine();
    let path = temp(&format!("{tag}.json"));
    // 20 ms requests against 100 us of host work: every read of request i-1 waits.
    let run = Run::new(P2, Mode::Preload, Gen::V3)
        .args(&["20", "20000", "100"])
        .env("NRT_SHIM_STATS", path.to_str().unwrap())
        .envs(env)
        .run();
    run.assert_ok().assert_no_hazards();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("no stats at {}: {e}\n{run}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("unparsable stats ({e}): {text}"))
}

/// The wait entry of reads of 'z' (the first output read each step).
fn z_read(stats: &Value) -> Value {
    let waits = stats["waits"].as_array().cloned().unwrap_or_default();
    waits
        .into_iter()
        .find(|w| w["tensor"] == "z" && w["call"] == "nrt_tensor_read")
        .unwrap_or_else(|| panic!("no wait of reads of 'z': {stats}"))
}

#[test]
fn the_largest_wait_names_its_call_site() {
    let stats = stats_of("sites", &[]);
    let w = z_read(&stats);
    let z_sites = stats["waits"].as_array().unwrap().iter().filter(|w| w["tensor"] == "z").count();
    assert_eq!(z_sites, 1, "every read of 'z' is made at one line: one entry\n{stats}");
    let site = w["site"].as_str().unwrap_or_else(|| panic!("the wait has no site: {w}"));
    assert!(site.contains("[p2_double_buffer-"), "the site is in the program: {site}");
    let advice = stats["advice"][0].as_str().unwrap_or_default();
    assert!(advice.starts_with(&format!("reads of 'z' at {site} waited")), "{advice}");
    if !have_tool("addr2line") {
        eprintln!("no addr2line (binutils): file:line not checked");
        return;
    }
    // read_d (common.h) is inlined into check_outputs (p2_double_buffer.c): both lines.
    let helper = line_of("tests/legacy/common.h", "CHK(d, nrt_tensor_read(");
    let caller = line_of(P2, "read_tensor(b->z,");
    assert!(site.contains(&format!("common.h:{helper}")), "{site}");
    assert!(site.contains(&format!("p2_double_buffer.c:{caller}")), "{site}");
}

#[test]
fn without_a_symbolizer_the_site_is_object_and_offset() {
    let stats = stats_of("nosym", &[("NRT_SHIM_ADDR2LINE", "none")]);
    let site = z_read(&stats)["site"].as_str().map(String::from).unwrap_or_default();
    assert!(site.starts_with("p2_double_buffer-") && site.contains("+0x") && !site.contains(".c:"), "{site}");
}

//! Issue 4, part 5, in CI: valgrind memcheck on 10,000+ operations of random
//! programs through the shim (v3, depth 4): no invalid access, no use of
//! uninitialised memory, nothing definitely lost. Skipped (with a line saying
//! so) only where valgrind is not installed, and never under CI (.ci/run
//! installs it).

#[allow(dead_code)]
#[path = "../proof/src/lib.rs"]
mod nrt_proof;

#[test]
fn memcheck_10k_operations_through_the_shim() {
    let m = nrt_proof::faults::memcheck(10_000);
    println!("{}", m.summary);
    if m.summary.contains("skipped") {
        // Past the harness's capture: one line, seen whatever the runner's options.
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "SKIPPED {} (apt-get install valgrind)", m.summary);
    }
    // .ci/run installs valgrind: under CI a skip is a failure, not a pass.
    assert!(
        std::env::var_os("CI").is_none() || !m.summary.contains("skipped"),
        "valgrind is missing under CI: {}",
        m.summary
    );
    assert!(m.ok, "{}", m.summary);
}

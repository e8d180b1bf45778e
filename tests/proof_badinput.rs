//! Issue 4, part 3: bad input (see proof/BAD_INPUT.md and proof/src/badinput.rs).
//! Every exported `nrt_*` function times every kind of bad argument that applies
//! to it (NULL, a handle never issued, a freed handle, out-of-range offsets and
//! sizes, size 0, a tensor of another core, before `nrt_init`, after `nrt_close`,
//! a destroyed set, a double free), one process per case, under the simulator
//! alone and with the shim (v3 and v2): no crash, no hang, the runtime's status,
//! exactly one log line. The table in proof/BAD_INPUT.md must be the measured one.

#[allow(dead_code)]
#[path = "../proof/src/lib.rs"]
mod nrt_proof;

use std::sync::OnceLock;

use nrt_proof::badinput::{self, BadResult};

/// The table is measured once and shared by both tests.
fn table() -> &'static BadResult {
    static TABLE: OnceLock<BadResult> = OnceLock::new();
    TABLE.get_or_init(|| {
        let r = badinput::run_all();
        println!("{}", r.summary());
        for a in &r.anomalies {
            println!("reference anomaly (recorded in the table, not a failure): {a}");
        }
        r
    })
}

#[test]
fn bad_input_table() {
    let r = table();
    assert!(r.rows.len() >= 200, "only {} rows: the table cannot be this small\n{}", r.rows.len(), r.summary());
    let funcs: std::collections::BTreeSet<&str> = r.rows.iter().map(|row| row.case.func.as_str()).collect();
    assert!(funcs.len() >= 24, "only {} functions have rows: {funcs:?}", funcs.len());
    assert!(r.failures.is_empty(), "{}\n\n{}", r.summary(), r.failures.join("\n\n"));
}

#[test]
fn bad_input_doc_is_the_measured_table() {
    let r = table();
    let want = badinput::markdown(r);
    let path = badinput::doc_path();
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    if have != want {
        let first = have
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(have.lines().count().min(want.lines().count()));
        panic!(
            "{} is not the measured table (first difference at line {}):\n  file:     {:?}\n  measured: {:?}\nregenerate it: {}",
            path.display(),
            first + 1,
            have.lines().nth(first).unwrap_or("(end of file)"),
            want.lines().nth(first).unwrap_or("(end of table)"),
            badinput::REGENERATE
        );
    }
}

//! Issue 4: the minimal programs kept by the shrinker (proof/regressions/), run
//! every time, and the shim bugs they reproduced (proof/README.md, "Bugs found",
//! all fixed).

#[allow(dead_code)]
#[path = "../proof/src/lib.rs"]
mod nrt_proof;

use nrt_proof::diff::{self, run_batch};
use nrt_proof::harness::{Gen, Setup};
use nrt_proof::program::Program;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// Every kept regression that is not an open bug must now agree with the reference.
#[test]
fn kept_regressions_agree_with_the_reference() {
    for r in diff::all_regressions().into_iter().filter(|r| !r.open_bug) {
        if let Some(why) = diff::check_one(&r.program, &r.setup, T) {
            panic!("{}: {why}", r.path.display());
        }
    }
}

fn open_bug(file: &str) {
    let r = diff::load_regression(&diff::regressions_dir().join(file)).expect("regression");
    if let Some(why) = diff::check_one(&r.program, &r.setup, T) {
        panic!("{}: {why}", r.path.display());
    }
}

#[test]
fn bug_exec_check_order() {
    open_bug("exec-freed-tensor-status-order.prog");
}

#[test]
fn bug_check_output_completion_timeout() {
    open_bug("checkc-timeout-zero.prog");
}

/// Two programs in one process (nrt_close then nrt_init) on the v2 generation.
#[test]
fn bug_v2_reinit_stale_error_trackers() {
    let text = "P 0 1\nM 0 0 nrt-sim-model~1|name~m|latency_us~10|input~i0~16|output~o0~16|compute~affine~3~1|\n\
                O -1 0 load 0\nO -1 0 alloc 0 0 0 16\nO -1 0 alloc 1 0 0 16\nO -1 0 salloc 0\nO -1 0 salloc 1\n\
                O -1 0 sadd 0 i0 0\nO -1 0 sadd 1 o0 1\nO -1 0 write 0 0 16 7\nO -1 0 exec 0 0 1\nO -1 0 read 1 0 16\nE\n";
    let p = Program::parse(text).expect("program");
    let progs = vec![p.clone(), p.clone()];
    let setup = Setup::shim(Gen::V2, 4);
    let reference = Setup::reference();
    let (r, _) = run_batch(&progs, &reference, &[], T);
    let (g, out) = run_batch(&progs, &setup, &[], T);
    for i in 0..2 {
        let (r, g) = (r[i].as_ref().expect("reference"), g[i].as_ref().unwrap_or_else(|| panic!("{}", out.summary())));
        assert_eq!(diff::compare(&p, r, g), None, "program {i} of the process (after {i} nrt_close/nrt_init)");
    }
}

#[test]
fn bug_get_va_clears_failure_mark() {
    let path = diff::regressions_dir().join("storm-get-va-clears-mark.storm");
    let p = Program::parse(&std::fs::read_to_string(path).expect("file")).expect("program");
    let setup = Setup::shim(Gen::V3, 16).with_env(&diff::base_env(4));
    let (r, _) = run_batch(std::slice::from_ref(&p), &Setup::reference().with_env(&setup.env), &["cb"], T);
    let (g, _) = run_batch(std::slice::from_ref(&p), &setup, &["cb"], T);
    let (r, g) = (r[0].as_ref().expect("reference"), g[0].as_ref().expect("shim run"));
    let last = p.ops.len() - 1;
    assert_eq!(r.ops[last - 2].0, 1006, "the reference's 4th execution fails (fail_every 4)");
    assert_eq!(
        g.ops[last].0, 1006,
        "the read of the failed request's output must return its status, got {:?}",
        g.ops[last]
    );
}

/// A second attach gives the tensor new storage; a slice made before keeps the
/// old bytes, under the reference and through the shim. (The interpreter freed the
/// old buffer there, and such reads returned freed memory: threads seed 30000492.)
#[test]
fn reattach_keeps_the_old_storage_for_slices() {
    let r = diff::load_regression(&diff::regressions_dir().join("reattach-keeps-old-slice.prog")).expect("regression");
    let reads: Vec<usize> =
        r.program.ops.iter().enumerate().filter(|(_, o)| o.kind == "read" && o.args[0] != 0).map(|(k, _)| k).collect();
    // the slice twice, and the copy of it an execution made after the second attach
    assert_eq!(reads.len(), 3, "the program reads the slice and the copy three times");
    for setup in [Setup::reference().with_env(&r.setup.env), r.setup.clone()] {
        let (res, out) = run_batch(std::slice::from_ref(&r.program), &setup, &[], T);
        let res = res[0].as_ref().unwrap_or_else(|| panic!("{}: {}", setup.describe(), out.summary()));
        let first = res.ops[reads[0]];
        assert_eq!((first.0, first.2), (0, 16), "{}: the first read of the slice", setup.describe());
        for &k in &reads[1..] {
            assert_eq!(res.ops[k], first, "{}: op #{k} read other bytes after a second attach", setup.describe());
        }
    }
}

/// A staged write and a write batch chose a renamed tensor's version, then
/// another thread's nrt_get_hbm_mmap_va brought the tensor home: the bytes
/// went to the old version. A race (about 1 run in 3 failed before the fix),
/// so the program runs 30 times (2 in 12 replays failed on the old code).
#[test]
fn staged_and_batch_writes_keep_their_version_against_hbm_bring_home() {
    let r = diff::load_regression(&diff::regressions_dir().join("staged-write-races-hbm-bring-home.prog"))
        .expect("regression");
    for run in 0..30 {
        if let Some(why) = diff::check_one(&r.program, &r.setup, T) {
            panic!("run {run}: {}: {why}", r.path.display());
        }
    }
}

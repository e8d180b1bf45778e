//! The failure-timing rule on hand-made records.

use crate::verify::compare::Reference;
use crate::verify::recfile::{Call, Process, F_DIGEST};

fn call(func: &str, status: u64, digest: Option<u64>) -> Call {
    Call {
        func: func.into(),
        flags: if digest.is_some() { F_DIGEST } else { 0 },
        status,
        handle: 1,
        offset: 0,
        size: if func == "nrt_tensor_read" || func == "nrt_tensor_write" { 8 } else { 0 },
        handle2: 0,
        last: digest.unwrap_or(0),
        extra: Vec::new(),
        tensor: String::new(),
        tensor2: String::new(),
    }
}

fn process(threads: Vec<Vec<Call>>) -> Process {
    Process { shim_version: "t".into(), threads: threads.into_iter().enumerate().map(|(i, c)| (i as u32, c)).collect() }
}

/// (func, reference status, shim status); reads return bytes (digest 7) when their status is 0.
fn calls(spec: &[(&str, u64, u64)], shim: bool) -> Vec<Call> {
    spec.iter()
        .map(|&(f, r, g)| {
            let s = if shim { g } else { r };
            call(f, s, (f == "nrt_tensor_read" && s == 0).then_some(7))
        })
        .collect()
}

/// The verdict on one thread: Ok(the notes' moves) or Err(what differs).
fn verdict(spec: &[(&str, u64, u64)]) -> Result<String, String> {
    let (a, b) = (process(vec![calls(spec, false)]), process(vec![calls(spec, false)]));
    let c = Reference::new(&a, &b).compare(&process(vec![calls(spec, true)]));
    match c.diff {
        Some(d) => Err(format!("call {}: {}", d.index, d.what)),
        None => Ok(c.timing.moves(9)),
    }
}

const EX: &str = "nrt_execute";
const RD: &str = "nrt_tensor_read";
const DR: &str = "nrt_async_drain_queued_execs";
const CB: &str = "nrt_register_async_exec_callback";
const WR: &str = "nrt_tensor_write";

#[test]
fn a_read_or_a_drain_reports_a_deferred_failure() {
    let moved = verdict(&[(EX, 1004, 0), (RD, 0, 1004), (RD, 0, 1004), (EX, 0, 0), (RD, 0, 0)]).unwrap();
    assert_eq!(moved, "nrt_execute #0 -> nrt_tensor_read #1");
    let moved = verdict(&[(EX, 1004, 0), (EX, 1003, 0), (DR, 0, 1004), (RD, 0, 1003), (DR, 0, 0)]).unwrap();
    assert_eq!(
        moved,
        "nrt_execute #0 -> nrt_async_drain_queued_execs #2, nrt_execute #1 -> nrt_async_drain_queued_execs #2"
    );
    let moved = verdict(&[(CB, 0, 0), (EX, 1004, 0), (RD, 0, 1004), (DR, 0, 0)]).unwrap();
    assert_eq!(moved, "nrt_execute #1 -> the callback");
}

#[test]
fn what_the_contract_does_not_allow_is_a_difference() {
    let nowhere = verdict(&[(EX, 1004, 0), (RD, 0, 0), (DR, 0, 0)]).unwrap_err();
    assert!(nowhere.starts_with("call 0: ") && nowhere.contains("reported nowhere"), "{nowhere}");
    let other = verdict(&[(EX, 1004, 0), (RD, 0, 1003)]).unwrap_err();
    assert!(other.starts_with("call 1: ") && other.contains("no earlier nrt_execute failed"), "{other}");
    let early = verdict(&[(RD, 0, 1004), (EX, 1004, 0), (RD, 0, 1004)]).unwrap_err();
    assert!(early.starts_with("call 0: "), "a read cannot report a later failure: {early}");
    let rewritten = verdict(&[(EX, 1004, 0), (RD, 0, 1004), (WR, 0, 0), (RD, 0, 1004)]).unwrap_err();
    assert!(rewritten.starts_with("call 3: ") && rewritten.contains("call 2 of its thread rewrote"), "{rewritten}");
    // An execution after the write may mark the bytes again (a derived failure).
    verdict(&[(EX, 1004, 0), (RD, 0, 1004), (WR, 0, 0), (EX, 0, 0), (RD, 0, 1004)]).unwrap();
    let twice = verdict(&[(EX, 1004, 0), (RD, 0, 1004), (DR, 0, 1004)]).unwrap_err();
    assert!(twice.starts_with("call 2: ") && twice.contains("left to report"), "{twice}");
    let with_cb = verdict(&[(CB, 0, 0), (EX, 1004, 0), (DR, 0, 1004)]).unwrap_err();
    assert!(with_cb.starts_with("call 2: ") && with_cb.contains("callback is registered"), "{with_cb}");
    // Bad input is the call's own status, never deferred; a failure the reference did not have stays one.
    assert!(verdict(&[(EX, 3, 0), (RD, 0, 3)]).unwrap_err().contains("the status differs"));
    assert!(verdict(&[(EX, 0, 1004)]).unwrap_err().contains("the status differs"));
    // A read that returns bytes under the shim must return the reference's.
    let spec = [(EX, 1004, 0), (RD, 0, 1004), (RD, 0, 0)];
    let a = process(vec![calls(&spec, false)]);
    let mut run = calls(&spec, true);
    run[2].last = 8;
    let d = Reference::new(&a, &a).compare(&process(vec![run])).diff.expect("bytes differ");
    assert_eq!((d.index, d.what.as_str()), (2, "the bytes read differ (digests)"));
}

#[test]
fn another_threads_failure_may_be_reported_by_this_threads_read() {
    let t0 = [(EX, 1004, 0)];
    let t1 = [(RD, 0, 1004)];
    let (a, b) =
        (process(vec![calls(&t0, false), calls(&t1, false)]), process(vec![calls(&t0, false), calls(&t1, false)]));
    let c = Reference::new(&a, &b).compare(&process(vec![calls(&t0, true), calls(&t1, true)]));
    assert!(c.diff.is_none(), "{:?}", c.diff);
    assert_eq!(c.timing.moves(9), "thread 0 nrt_execute #0 -> thread 1 nrt_tensor_read #0");
}

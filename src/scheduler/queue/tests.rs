//! The queue state machine alone, with plain payloads.

use super::*;
use AccessKind::{Read, Write};

fn acc(storage: StorageId, start: u64, len: u64, kind: AccessKind) -> StorageRange {
    StorageRange { storage, range: ByteRange::new(start, len), kind }
}

/// An execution reading storage `i`, writing storage `o` (100 bytes each).
fn exec(q: &mut CoreQueue<&'static str>, name: &'static str, i: StorageId, o: StorageId) -> OpSeq {
    let mut a = q.access_buffer();
    a.push(acc(i, 0, 100, Read));
    a.push(acc(o, 0, 100, Write));
    q.admit(a, name)
}

fn submit_all(q: &mut CoreQueue<&'static str>) -> Vec<OpSeq> {
    let mut done = vec![];
    while let Some(op) = q.begin_submit() {
        let seq = op.seq;
        q.end_submit(seq, SubmitOutcome::Queued { device_seq: 1000 + seq });
        done.push(seq);
    }
    done
}

#[test]
fn window_limits_outstanding_requests() {
    let mut q = CoreQueue::new(2);
    exec(&mut q, "a", 1, 2);
    assert!(q.has_room());
    exec(&mut q, "b", 3, 4);
    assert!(!q.has_room());
    assert_eq!(submit_all(&mut q), vec![1, 2]);
    assert_eq!(q.head_on_device(), Some(1001));
    let c = q.complete_head(NRT_SUCCESS, false).unwrap();
    assert_eq!((c.seq, c.status, c.payload, c.unreported), (1, NRT_SUCCESS, "a", false));
    assert!(q.has_room());
    assert_eq!(q.completed_upto(), 1);
}

#[test]
fn one_submitter_at_a_time_in_acceptance_order() {
    let mut q = CoreQueue::new(4);
    exec(&mut q, "a", 1, 2);
    exec(&mut q, "b", 3, 4);
    let first = q.begin_submit().map(|op| op.seq);
    assert_eq!(first, Some(1));
    assert!(q.begin_submit().is_none(), "a second thread must not submit meanwhile");
    q.end_submit(1, SubmitOutcome::Queued { device_seq: 7 });
    assert_eq!(q.begin_submit().map(|op| op.seq), Some(2));
}

#[test]
fn queue_full_is_absorbed_and_retried_after_a_completion() {
    let mut q = CoreQueue::new(4);
    exec(&mut q, "a", 1, 2);
    exec(&mut q, "b", 3, 4);
    let s = q.begin_submit().unwrap().seq;
    q.end_submit(s, SubmitOutcome::Queued { device_seq: 1 });
    let s = q.begin_submit().unwrap().seq;
    q.end_submit(s, SubmitOutcome::QueueFull);
    assert!(q.begin_submit().is_none(), "no retry until something completes");
    q.complete_head(NRT_SUCCESS, false);
    assert_eq!(q.begin_submit().map(|op| op.seq), Some(2));
}

#[test]
fn conflicts_are_found_by_bytes() {
    let mut q = CoreQueue::new(4);
    exec(&mut q, "a", 1, 2);
    exec(&mut q, "b", 2, 3); // reads a's output
    let c = q.latest_conflict(&[acc(3, 50, 1, Read)]).unwrap();
    assert_eq!(c.op, 2);
    assert_eq!(q.latest_conflict(&[acc(9, 0, 1, Write)]), None);
    // A write to a's input must wait for a (write after read).
    assert_eq!(q.latest_conflict(&[acc(1, 0, 1, Write)]).map(|c| c.op), Some(1));
}

#[test]
fn failure_poisons_outputs_and_is_reported_once_by_a_read() {
    let mut q = CoreQueue::new(4);
    exec(&mut q, "a", 1, 2);
    submit_all(&mut q);
    let c = q.complete_head(1004, false).unwrap();
    assert!(c.unreported);
    assert_eq!(q.failure_in(1, ByteRange::new(0, 100)), None, "inputs are not poisoned");
    assert_eq!(q.failure_in(2, ByteRange::new(10, 1)), Some(1004));
    assert_eq!(q.take_all_failures(), None, "the read reported it");
    assert_eq!(q.failure_in(2, ByteRange::new(10, 1)), Some(1004), "still bad data");
}

#[test]
fn drain_reports_what_reads_did_not() {
    let mut q = CoreQueue::new(4);
    exec(&mut q, "a", 1, 2);
    exec(&mut q, "b", 3, 4);
    submit_all(&mut q);
    q.complete_head(1004, false);
    q.complete_head(1003, false);
    assert_eq!(q.take_all_failures(), Some(1004));
    assert_eq!(q.take_all_failures(), None);
}

#[test]
fn with_a_callback_failures_need_no_other_report() {
    let mut q = CoreQueue::new(4);
    exec(&mut q, "a", 1, 2);
    submit_all(&mut q);
    let c = q.complete_head(1004, true).unwrap();
    assert!(!c.unreported);
    assert_eq!(q.take_all_failures(), None, "the callback reported it");
    assert_eq!(q.failure_in(2, ByteRange::new(0, 100)), Some(1004), "the bytes are still bad");
}

#[test]
fn consumer_of_failed_output_shares_its_report() {
    let mut q = CoreQueue::new(4);
    exec(&mut q, "producer", 1, 2);
    exec(&mut q, "consumer", 2, 3); // queued behind, runs on the device
    submit_all(&mut q);
    assert_eq!(q.complete_head(1004, false).unwrap().status, 1004);
    let c = q.complete_head(NRT_SUCCESS, false).unwrap();
    assert_eq!((c.status, c.derived, c.unreported), (NRT_SUCCESS, Some(1004), false), "derived failure");
    assert_eq!(q.failure_in(3, ByteRange::new(0, 1)), Some(1004), "its outputs are marked");
    assert_eq!(q.take_all_failures(), None, "reading the consumer's output reported the producer's failure");
}

#[test]
fn one_device_failure_one_report_through_a_chain() {
    let mut q = CoreQueue::new(4);
    exec(&mut q, "producer", 1, 2);
    exec(&mut q, "consumer", 2, 3);
    exec(&mut q, "second consumer", 3, 4);
    submit_all(&mut q);
    q.complete_head(1004, false);
    q.complete_head(NRT_SUCCESS, false);
    q.complete_head(NRT_SUCCESS, false);
    assert_eq!(q.take_all_failures(), Some(1004));
    assert_eq!(q.take_all_failures(), None, "the derived failures are not reported again");
    assert_eq!(q.failure_in(4, ByteRange::new(0, 100)), Some(1004), "still no good data");
}

#[test]
fn consumer_admitted_after_a_known_failure_still_runs() {
    let mut q = CoreQueue::new(4);
    exec(&mut q, "producer", 1, 2);
    submit_all(&mut q);
    q.complete_head(1004, false);
    exec(&mut q, "consumer", 2, 3);
    assert_eq!(submit_all(&mut q), vec![2], "the runtime gets it, as under the synchronous runtime");
    let c = q.complete_head(NRT_SUCCESS, false).unwrap();
    assert_eq!((c.status, c.derived), (NRT_SUCCESS, Some(1004)));
    assert_eq!(q.failure_in(3, ByteRange::new(0, 1)), Some(1004));
}

#[test]
fn a_host_execution_keeps_its_place() {
    let mut q = CoreQueue::new(4);
    exec(&mut q, "a", 1, 2);
    let s = q.begin_submit().unwrap().seq;
    q.end_submit(s, SubmitOutcome::Queued { device_seq: 1 });
    exec(&mut q, "b", 3, 4);
    let s = q.begin_submit().unwrap().seq;
    q.end_submit(s, SubmitOutcome::QueueFull);
    let host = q.admit_host(Vec::new(), "host");
    exec(&mut q, "c", 5, 6);
    assert!(q.has_host_waiting());
    assert!(!q.host_turn(host), "b was accepted first and has not reached the runtime");
    q.complete_head(NRT_SUCCESS, false);
    assert_eq!(q.begin_submit().map(|op| op.seq), Some(2));
    q.end_submit(2, SubmitOutcome::Queued { device_seq: 2 });
    assert!(q.begin_submit().is_none(), "c must not overtake the host execution");
    assert!(q.host_turn(host));
    q.begin_host(host);
    assert!(q.begin_submit().is_none(), "nor while it runs");
    q.end_host(host, 1004);
    assert_eq!(q.begin_submit().map(|op| op.seq), Some(4));
    q.end_submit(4, SubmitOutcome::Queued { device_seq: 3 });
    assert_eq!(q.complete_head(NRT_SUCCESS, false).unwrap().seq, 2);
    let h = q.complete_head(0, false).unwrap();
    assert_eq!((h.seq, h.status, h.unreported), (host, 1004, false), "its own call reported it");
    assert_eq!(q.complete_head(NRT_SUCCESS, false).unwrap().seq, 4);
}

#[test]
fn rewriting_poisoned_bytes_clears_them() {
    let mut q = CoreQueue::new(4);
    exec(&mut q, "producer", 1, 2);
    submit_all(&mut q);
    q.complete_head(1004, false);
    q.host_wrote(2, ByteRange::new(0, 100));
    exec(&mut q, "consumer", 2, 3);
    assert_eq!(submit_all(&mut q), vec![2]);
    assert_eq!(q.complete_head(NRT_SUCCESS, false).unwrap().status, NRT_SUCCESS);
    // The failure of the producer was never read: drain still reports it.
    assert_eq!(q.take_all_failures(), Some(1004));
}

#[test]
fn a_successful_rewrite_on_the_device_clears_poison() {
    let mut q = CoreQueue::new(4);
    exec(&mut q, "fails", 1, 2);
    exec(&mut q, "rewrites", 5, 2);
    exec(&mut q, "consumer", 2, 3);
    submit_all(&mut q);
    assert_eq!(q.complete_head(1004, false).unwrap().status, 1004);
    assert_eq!(q.complete_head(NRT_SUCCESS, false).unwrap().status, NRT_SUCCESS);
    assert_eq!(q.complete_head(NRT_SUCCESS, false).unwrap().status, NRT_SUCCESS);
}

#[test]
fn unrecoverable_refusal_kills_the_queue() {
    let mut q = CoreQueue::new(4);
    exec(&mut q, "a", 1, 2);
    exec(&mut q, "b", 3, 4);
    let s = q.begin_submit().unwrap().seq;
    q.end_submit(s, SubmitOutcome::Refused(NRT_EXEC_UNIT_UNRECOVERABLE));
    assert!(q.is_dead());
    assert!(q.begin_submit().is_none());
    assert_eq!(q.complete_head(0, false).unwrap().status, NRT_EXEC_UNIT_UNRECOVERABLE);
    assert_eq!(q.complete_head(0, false).unwrap().status, NRT_EXEC_UNIT_UNRECOVERABLE);
}

#[test]
fn access_buffers_are_recycled() {
    let mut q: CoreQueue<&str> = CoreQueue::new(2);
    let mut a = q.access_buffer();
    a.reserve(8);
    let ptr = a.as_ptr();
    let seq = q.admit(a, "x");
    assert_eq!(seq, 1);
    let c = q.complete_head(NRT_SUCCESS, false).unwrap();
    q.recycle(c.accesses);
    let b = q.access_buffer();
    assert_eq!(b.as_ptr(), ptr);
    assert!(b.is_empty());
}

#[test]
fn abandon_forgets_everything() {
    let mut q = CoreQueue::new(4);
    exec(&mut q, "a", 1, 2);
    submit_all(&mut q);
    let gone = q.abandon_all();
    assert_eq!(gone.len(), 1);
    assert_eq!(q.outstanding(), 0);
    assert_eq!(q.completed_upto(), 1);
    assert_eq!(q.latest_conflict(&[acc(2, 0, 1, Read)]), None);
}

#[test]
fn a_consumer_of_several_failures_hands_on_the_lowest_addressed_mark() {
    // Two failed requests mark parts of storage 2, the higher part first;
    // a request reading all of it hands on the mark a read would report
    // (the lowest-addressed), whatever order the marks were made in.
    let mut q = CoreQueue::new(4);
    for range in [(50, 50), (0, 30)] {
        let mut a = q.access_buffer();
        a.push(acc(1, 0, 100, Read));
        a.push(acc(2, range.0, range.1, Write));
        q.admit(a, "partial producer");
    }
    exec(&mut q, "consumer", 2, 3);
    submit_all(&mut q);
    assert_eq!(q.complete_head(1004, false).unwrap().status, 1004);
    assert_eq!(q.complete_head(1006, false).unwrap().status, 1006);
    assert_eq!(q.failure_in(2, ByteRange::new(0, 100)), Some(1006), "a read reports the lowest-addressed mark");
    let c = q.complete_head(NRT_SUCCESS, false).unwrap();
    assert_eq!(c.derived, Some(1006), "the consumer hands on the same mark");
    assert_eq!(q.failure_in(3, ByteRange::new(0, 1)), Some(1006));
}

//! Comparing a run's calls with the reference's, thread by thread.
//!
//! Threads are numbered by the recorder in the order of their first runtime
//! call. Where that order can race, a run's thread is paired with the
//! reference thread whose calls have the same shape (functions, tensors,
//! ranges of its first calls), the same number first.
//!
//! The two reference runs (both the runtime's own synchronous behaviour)
//! tell the program's own nondeterminism apart: a read or status that differs
//! between them is left out of the comparison and counted; a thread whose
//! calls themselves diverge between them is compared up to that call.

use super::recfile::{Call, Process};
use super::timing::{self, Event, Timing};

/// A run compared with the reference.
#[derive(Debug)]
pub struct Compared {
    pub diff: Option<Difference>,
    /// The status differences the failure-timing contract explains (none when `diff`).
    pub timing: Timing,
}

/// One side of a difference.
#[derive(Clone, Debug)]
pub struct Side {
    pub thread: u32,
    pub call: Option<Call>,
}

#[derive(Clone, Debug)]
pub struct Difference {
    /// The call's index in its thread (0-based).
    pub index: usize,
    pub reference: Side,
    pub run: Side,
    pub what: String,
}

/// What the reference runs say about the program.
#[derive(Default, Clone, Debug, PartialEq, Eq)]
pub struct Baseline {
    pub reads: usize,
    pub statuses: usize,
    pub threads: usize,
    /// Reads (and statuses) that differ between the two reference runs.
    pub nondeterministic_reads: usize,
    pub nondeterministic_statuses: usize,
    /// Calls after a thread's calls diverged between the reference runs.
    pub uncompared_calls: usize,
}

fn shape(c: &Call) -> (&str, &str, u64, u64, &str, u64) {
    let last = if c.is_read() { 0 } else { c.last };
    (&c.func, &c.tensor, c.offset, c.size, &c.tensor2, last)
}

fn signature(calls: &[Call]) -> Vec<(&str, &str, u64, u64, &str, u64)> {
    calls.iter().take(32).map(shape).collect()
}

/// For each of `a`'s threads, the thread of `b` it is compared with.
fn pair(a: &Process, b: &Process) -> Vec<(u32, Option<u32>)> {
    let mut free: Vec<u32> = b.threads.keys().copied().collect();
    let mut out = Vec::new();
    for (t, calls) in &a.threads {
        let sig = signature(calls);
        let same = |u: &u32| signature(&b.threads[u]) == sig;
        let pick = if free.contains(t) && same(t) { Some(*t) } else { free.iter().copied().find(same) };
        let pick = pick.or_else(|| free.contains(t).then_some(*t));
        if let Some(p) = pick {
            free.retain(|u| *u != p);
        }
        out.push((*t, pick));
    }
    out
}

/// Which calls of the first reference are compared, and how (from both references).
pub struct Reference<'a> {
    first: &'a Process,
    /// Per thread of `first`: per call, (status compared, digest compared); the
    /// vector ends where the references diverge.
    checked: Vec<(u32, Vec<(bool, bool)>)>,
    pub baseline: Baseline,
}

impl<'a> Reference<'a> {
    pub fn new(first: &'a Process, second: &Process) -> Reference<'a> {
        let mut base = Baseline { threads: first.threads.len(), ..Baseline::default() };
        let mut checked = Vec::new();
        for (t, other) in pair(first, second) {
            let calls = &first.threads[&t];
            let others: &[Call] = other.map(|o| second.threads[&o].as_slice()).unwrap_or(&[]);
            let mut marks = Vec::new();
            for (j, c) in calls.iter().enumerate() {
                let Some(o) = others.get(j).filter(|o| shape(o) == shape(c)) else {
                    base.uncompared_calls += calls.len() - j;
                    break;
                };
                let status_same = o.status == c.status;
                let digest_same = !c.is_read() || (o.is_read() && o.last == c.last);
                base.statuses += usize::from(status_same);
                base.nondeterministic_statuses += usize::from(!status_same);
                if c.is_read() {
                    base.reads += usize::from(digest_same);
                    base.nondeterministic_reads += usize::from(!digest_same);
                }
                marks.push((status_same, digest_same));
            }
            checked.push((t, marks));
        }
        Reference { first, checked, baseline: base }
    }

    /// The first difference of `run` from the reference, if any, and what the
    /// failure-timing contract explained (timing.rs).
    pub fn compare(&self, run: &Process) -> Compared {
        let mut events = Vec::new();
        let diff = self.first_difference(run, &mut events);
        if diff.is_some() {
            return Compared { diff, timing: Timing::default() };
        }
        match timing::check(&events, &timing::registrations(&run.threads), &run.threads) {
            Ok(timing) => Compared { diff: None, timing },
            Err(d) => Compared { diff: Some(*d), timing: Timing::default() },
        }
    }

    fn first_difference(&self, run: &Process, events: &mut Vec<Vec<Event>>) -> Option<Difference> {
        let pairs = pair(self.first, run);
        let mut first: Option<Difference> = None;
        for ((t, marks), (_, other)) in self.checked.iter().zip(pairs) {
            let calls = &self.first.threads[t];
            let Some(o) = other else {
                let d = Difference {
                    index: 0,
                    reference: Side { thread: *t, call: calls.first().cloned() },
                    run: Side { thread: u32::MAX, call: None },
                    what: format!("thread {t} of the reference has no counterpart in this run"),
                };
                return Some(d);
            };
            let got = &run.threads[&o];
            let mut moved = Vec::new();
            for (j, (status_checked, digest_checked)) in marks.iter().enumerate() {
                let r = &calls[j];
                let what = match got.get(j) {
                    None => Some("the run has no such call (its thread made fewer calls)".to_string()),
                    Some(g) if shape(g) != shape(r) => Some("a different call".to_string()),
                    Some(g) if *status_checked && g.status != r.status => match timing::classify(r, g) {
                        // Perhaps the documented failure timing: checked over the whole run.
                        Some((kind, status)) => {
                            let (reference, run) =
                                (Side { thread: *t, call: Some(r.clone()) }, Side { thread: o, call: Some(g.clone()) });
                            moved.push(Event { kind, index: j, reference, run, status });
                            None
                        }
                        None => Some("the status differs".to_string()),
                    },
                    Some(g) if *digest_checked && r.is_read() && (!g.is_read() || g.last != r.last) => {
                        Some("the bytes read differ (digests)".to_string())
                    }
                    _ => None,
                };
                if let Some(what) = what {
                    let d = Difference {
                        index: j,
                        reference: Side { thread: *t, call: Some(r.clone()) },
                        run: Side { thread: o, call: got.get(j).cloned() },
                        what,
                    };
                    // The earliest call index over threads is the likeliest cause.
                    if first.as_ref().is_none_or(|f| j < f.index) {
                        first = Some(d);
                    }
                    break;
                }
            }
            events.push(moved);
            if first.is_none() && got.len() > calls.len() && marks.len() == calls.len() {
                first = Some(Difference {
                    index: calls.len(),
                    reference: Side { thread: *t, call: None },
                    run: Side { thread: o, call: got.get(calls.len()).cloned() },
                    what: "the run makes more calls than the reference".into(),
                });
            }
        }
        if first.is_none() && run.threads.len() > self.first.threads.len() {
            return Some(Difference {
                index: 0,
                reference: Side { thread: u32::MAX, call: None },
                run: Side { thread: u32::MAX, call: None },
                what: format!(
                    "the run has {} threads calling the runtime, the reference {}",
                    run.threads.len(),
                    self.first.threads.len()
                ),
            });
        }
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(func: &str, tensor: &str, status: u64, digest: Option<u64>) -> Call {
        Call {
            func: func.into(),
            flags: if digest.is_some() { super::super::recfile::F_DIGEST } else { 0 },
            status,
            handle: 1,
            offset: 0,
            size: 8,
            handle2: 0,
            last: digest.unwrap_or(0),
            extra: Vec::new(),
            tensor: tensor.into(),
            tensor2: String::new(),
        }
    }

    fn process(threads: Vec<Vec<Call>>) -> Process {
        Process {
            shim_version: "t".into(),
            threads: threads.into_iter().enumerate().map(|(i, c)| (i as u32, c)).collect(),
        }
    }

    fn program(d: u64) -> Vec<Call> {
        vec![call("nrt_execute", "model", 0, None), call("nrt_tensor_read", "'z' #1", 0, Some(d))]
    }

    #[test]
    fn identical_runs_have_no_difference_and_count_the_reads() {
        let (a, b) = (process(vec![program(5)]), process(vec![program(5)]));
        let r = Reference::new(&a, &b);
        assert_eq!(r.baseline, Baseline { reads: 1, statuses: 2, threads: 1, ..Baseline::default() });
        assert!(r.compare(&process(vec![program(5)])).diff.is_none());
    }

    #[test]
    fn a_different_read_is_named() {
        let (a, b) = (process(vec![program(5)]), process(vec![program(5)]));
        let r = Reference::new(&a, &b);
        let d = r.compare(&process(vec![program(6)])).diff.expect("a difference");
        assert_eq!(d.index, 1);
        assert_eq!(d.run.call.unwrap().tensor, "'z' #1");
        assert!(d.what.contains("bytes"));
        let mut short = program(5);
        short.pop();
        assert!(r.compare(&process(vec![short])).diff.unwrap().what.contains("fewer"));
    }

    #[test]
    fn reads_that_differ_between_references_are_left_out_and_counted() {
        let (a, b) = (process(vec![program(5)]), process(vec![program(7)]));
        let r = Reference::new(&a, &b);
        assert_eq!(r.baseline.nondeterministic_reads, 1);
        assert_eq!(r.baseline.reads, 0);
        assert!(r.compare(&process(vec![program(9)])).diff.is_none());
    }

    #[test]
    fn missing_threads_extra_calls_and_extra_threads_are_differences() {
        let (a, b) = (process(vec![program(5), program(6)]), process(vec![program(5), program(6)]));
        let r = Reference::new(&a, &b);
        assert!(r.compare(&process(vec![program(5)])).diff.unwrap().what.contains("no counterpart"));
        let mut longer = program(6);
        longer.push(call("nrt_tensor_read", "'z' #1", 0, Some(6)));
        let d = r.compare(&process(vec![program(5), longer])).diff.unwrap();
        assert!(d.what.contains("more calls"), "{}", d.what);
        assert_eq!(d.index, 2);
        let d = r.compare(&process(vec![program(5), program(6), program(7)])).diff.unwrap();
        assert!(d.what.contains("3 threads"), "{}", d.what);
    }

    #[test]
    fn a_status_that_differs_between_references_is_not_compared() {
        let mut other = program(5);
        other[0].status = 1004;
        let (a, b) = (process(vec![program(5)]), process(vec![other.clone()]));
        let r = Reference::new(&a, &b);
        assert_eq!(r.baseline.nondeterministic_statuses, 1);
        assert!(r.compare(&process(vec![other])).diff.is_none());
        let (a, b) = (process(vec![program(5)]), process(vec![program(5)]));
        let mut failed = program(5);
        failed[0].status = 1004;
        assert!(Reference::new(&a, &b).compare(&process(vec![failed])).diff.unwrap().what.contains("status"));
    }

    #[test]
    fn threads_are_paired_by_their_calls_when_their_order_races() {
        let t_a = vec![call("nrt_tensor_read", "'a' #1", 0, Some(1))];
        let t_b = vec![call("nrt_tensor_read", "'b' #2", 0, Some(2))];
        let r1 = process(vec![t_a.clone(), t_b.clone()]);
        let r2 = process(vec![t_b.clone(), t_a.clone()]);
        let r = Reference::new(&r1, &r2);
        assert_eq!(r.baseline.nondeterministic_reads, 0);
        assert!(r.compare(&process(vec![t_b, t_a])).diff.is_none());
    }
}

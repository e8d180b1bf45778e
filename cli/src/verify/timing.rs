//! The shim's failure-timing contract (README.md, "Errors" and "The legacy
//! callback"), as verify checks it on two records. Under the shim a failed
//! request's `nrt_execute` returns NRT_SUCCESS (the request is asynchronous)
//! and the failure is reported once, later: by the legacy callback when one is
//! registered, else by the first read of bytes it marked (which returns the
//! status instead of the bytes) or by the next `nrt_async_drain_queued_execs`.
//! Every later read of marked bytes returns the same status (sticky).
//!
//! A status difference is accepted only as one of those moves, and only when
//! the whole run adds up: every failure the shim deferred is reported at an
//! allowed point, every read that returned a failure instead of bytes returns
//! the status of an earlier failure, and a drain that returns a failure is the
//! report of failures no read had reported. Everything else (every other
//! status, every digest of a read that returned bytes) is compared as before.
//!
//! What the record cannot show, and so is not checked: which tensors are a
//! request's outputs (nrt_execute's output set is not recorded), which core a
//! drain drains (its argument is not recorded), and the callbacks themselves
//! (they are the program's code, not exported calls). proof/src/faults.rs
//! (`predict`) knows the whole program and predicts the marks byte by byte;
//! this checks the same rules from what is observable.

use std::collections::BTreeMap;

use super::compare::{Difference, Side};
use super::recfile::Call;

/// Statuses of the shim's own checks of the arguments (bad input, README
/// "Errors"): returned by the call itself, never deferred.
const BAD_INPUT: &[u64] = &[2, 3, 13, 14];

const DRAIN: &str = "nrt_async_drain_queued_execs";
const REGISTER: &str = "nrt_register_async_exec_callback";

fn failure(status: u64) -> bool {
    status != 0 && !BAD_INPUT.contains(&status)
}

fn is_execute(func: &str) -> bool {
    func == "nrt_execute" || func == "nrt_execute_repeat"
}

/// The calls that read bytes and so return a sticky status on marked ones.
fn reads_bytes(func: &str) -> bool {
    matches!(func, "nrt_tensor_read" | "nrt_tensor_read_batch" | "nrt_tensor_copy")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// nrt_execute: the failure in the reference, NRT_SUCCESS under the shim.
    Deferred,
    /// A read that returned a failure instead of the bytes.
    Marked,
    /// A drain that returned a failure.
    Drain,
}

/// A call whose status differs from the reference's in a way the contract may explain.
#[derive(Clone, Debug)]
pub struct Event {
    pub kind: Kind,
    pub index: usize,
    pub reference: Side,
    pub run: Side,
    /// The failure's status (the reference's for Deferred, the shim's otherwise).
    pub status: u64,
}

/// The contract's move that may explain a status difference of two calls of one shape.
pub fn classify(r: &Call, g: &Call) -> Option<(Kind, u64)> {
    if is_execute(&r.func) && failure(r.status) && g.status == 0 {
        Some((Kind::Deferred, r.status))
    } else if reads_bytes(&r.func) && r.status == 0 && failure(g.status) && !g.is_read() {
        Some((Kind::Marked, g.status))
    } else if r.func == DRAIN && r.status == 0 && failure(g.status) {
        Some((Kind::Drain, g.status))
    } else {
        None
    }
}

/// Where a deferred failure was reported (thread and call index in the reference's numbering).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reported {
    Call { thread: u32, index: usize, func: String },
    Callback,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deferral {
    pub thread: u32,
    pub index: usize,
    pub func: String,
    pub status: u64,
    pub reported: Reported,
}

/// What the contract explained in one run.
#[derive(Default, Clone, Debug, PartialEq, Eq)]
pub struct Timing {
    pub deferrals: Vec<Deferral>,
    /// Reads that returned a failure's status instead of bytes (the reports among them too).
    pub marked_reads: usize,
    /// How many threads the run's record has (notes name the thread when more than one).
    pub threads: usize,
}

/// The successful callback registrations of a run: (run thread, call index).
pub fn registrations(threads: &BTreeMap<u32, Vec<Call>>) -> Vec<(u32, usize)> {
    let mut v = Vec::new();
    for (t, calls) in threads {
        v.extend(calls.iter().enumerate().filter(|(_, c)| c.func == REGISTER && c.status == 0).map(|(i, _)| (*t, i)));
    }
    v
}

/// The call that rewrote every byte a marked read read since the last execution,
/// in a process with one thread (another thread's execution could have marked
/// them again in between: records of threads are not ordered).
fn rewritten(run: &BTreeMap<u32, Vec<Call>>, e: &Event) -> Option<usize> {
    let (Some(read), true) = (e.run.call.as_ref(), run.len() == 1) else { return None };
    let calls = run.get(&e.run.thread)?;
    let (lo, hi) = (read.offset, read.offset + read.size);
    for (k, c) in calls[..e.index.min(calls.len())].iter().enumerate().rev() {
        if c.func.contains("execute") {
            return None;
        }
        let (h, at) = match c.func.as_str() {
            "nrt_tensor_write" | "nrt_tensor_memset" => (c.handle, c.offset),
            "nrt_tensor_copy" => (c.handle2, c.last),
            _ => continue,
        };
        if c.status == 0 && h == read.handle && at <= lo && at + c.size >= hi {
            return Some(k);
        }
    }
    None
}

fn broken(e: &Event, what: String) -> Box<Difference> {
    Box::new(Difference { index: e.index, reference: e.reference.clone(), run: e.run.clone(), what })
}

const SEE: &str = "README.md \"Errors\"";

/// Checks one run's events (per reference thread, in call order) against the
/// contract: the accepted moves, or the first that the contract does not allow.
/// `run`: the shim run's calls (for the bytes a read's thread rewrote before it).
pub fn check(
    events: &[Vec<Event>],
    callbacks: &[(u32, usize)],
    run: &BTreeMap<u32, Vec<Call>>,
) -> Result<Timing, Box<Difference>> {
    let threads = run.len();
    // Records of different threads are not ordered against each other: another
    // thread's call may have come before or after.
    let before = |a: &Event, b: &Event| a.run.thread != b.run.thread || a.index < b.index;
    let callback_for = |e: &Event| callbacks.iter().any(|&(t, i)| t != e.run.thread || i < e.index);
    struct Failure<'e> {
        event: &'e Event,
        reported: Option<Reported>,
    }
    let mut failures: Vec<Failure> = events
        .iter()
        .flatten()
        .filter(|e| e.kind == Kind::Deferred)
        .map(|e| Failure { event: e, reported: callback_for(e).then_some(Reported::Callback) })
        .collect();
    let mut timing = Timing { threads, ..Timing::default() };
    let (ok, no) = (super::report::status_name(0), |s: u64| super::report::status_name(s));
    for e in events.iter().flatten() {
        let here = Reported::Call {
            thread: e.reference.thread,
            index: e.index,
            func: e.run.call.as_ref().map(|c| c.func.clone()).unwrap_or_default(),
        };
        match e.kind {
            Kind::Deferred => {}
            Kind::Marked => {
                timing.marked_reads += 1;
                if let Some(k) = rewritten(run, e) {
                    return Err(broken(
                        e,
                        format!(
                            "the read returned {} instead of the bytes ({ok} in the reference), but call {k} of its thread rewrote all of them after the last execution: a write ends the marks ({SEE})",
                            no(e.status)
                        ),
                    ));
                }
                let earlier: Vec<usize> = (0..failures.len())
                    .filter(|&k| before(failures[k].event, e) && failures[k].event.status == e.status)
                    .collect();
                if earlier.is_empty() {
                    return Err(broken(
                        e,
                        format!(
                            "the read returned {} instead of the bytes ({ok} in the reference), but no earlier nrt_execute failed with that status in the reference: only bytes a failed request left are marked ({SEE})",
                            no(e.status)
                        ),
                    ));
                }
                // Without a callback, the first read of a failure's marks is its report:
                // taken as the latest such failure of its own thread not reported yet
                // (the record does not say which request's outputs a tensor is), else
                // another thread's.
                let own = |k: &usize| failures[*k].event.run.thread == e.run.thread;
                let open = |k: &usize| failures[*k].reported.is_none();
                let pick =
                    earlier.iter().rev().find(|k| own(k) && open(k)).or_else(|| earlier.iter().find(|k| open(k)));
                if let Some(&k) = pick {
                    failures[k].reported = Some(here);
                }
            }
            Kind::Drain => {
                if callback_for(e) {
                    return Err(broken(
                        e,
                        format!(
                            "the drain returned {} ({ok} in the reference), but a callback is registered: it is the one report of every failure, and drains return {ok} (README.md \"The legacy callback\")",
                            no(e.status)
                        ),
                    ));
                }
                let open: Vec<usize> = (0..failures.len())
                    .filter(|&k| failures[k].reported.is_none() && before(failures[k].event, e))
                    .collect();
                if !open.iter().any(|&k| failures[k].event.status == e.status) {
                    return Err(broken(
                        e,
                        format!(
                            "the drain returned {} ({ok} in the reference), but no earlier failure with that status was left to report (a failure is reported once: {SEE})",
                            no(e.status)
                        ),
                    ));
                }
                // The record does not say which core a drain drains: it is taken as the
                // report of every failure not reported before it.
                for k in open {
                    failures[k].reported = Some(here.clone());
                }
            }
        }
    }
    for f in &failures {
        let e = f.event;
        let Some(reported) = f.reported.clone() else {
            return Err(broken(
                e,
                format!(
                    "nrt_execute returned {} in the reference and {ok} under the shim (the request is asynchronous), but the failure was reported nowhere: no later read of its outputs or drain returned it, and no callback is registered ({SEE})",
                    no(e.status)
                ),
            ));
        };
        timing.deferrals.push(Deferral {
            thread: e.reference.thread,
            index: e.index,
            func: e.run.call.as_ref().map(|c| c.func.clone()).unwrap_or_default(),
            status: e.status,
            reported,
        });
    }
    Ok(timing)
}

impl Timing {
    /// "nrt_execute #14 -> nrt_tensor_read #15" per deferral (at most `max`, then "and N more").
    pub fn moves(&self, max: usize) -> String {
        let at = |thread: u32, func: &str, index: usize| {
            if self.threads > 1 {
                format!("thread {thread} {func} #{index}")
            } else {
                format!("{func} #{index}")
            }
        };
        let mut parts: Vec<String> = self
            .deferrals
            .iter()
            .take(max)
            .map(|d| {
                let to = match &d.reported {
                    Reported::Call { thread, index, func } => at(*thread, func, *index),
                    Reported::Callback => "the callback".into(),
                };
                format!("{} -> {to}", at(d.thread, &d.func, d.index))
            })
            .collect();
        if self.deferrals.len() > max {
            parts.push(format!("and {} more", self.deferrals.len() - max));
        }
        parts.join(", ")
    }

    /// The note on an identical verdict, or None when nothing was moved.
    pub fn note(&self) -> Option<String> {
        if self.deferrals.is_empty() {
            return None;
        }
        let n = self.deferrals.len();
        let mut s = format!(
            "{n} {} reported at the documented later point: {}",
            if n == 1 { "failure" } else { "failures" },
            self.moves(4)
        );
        if self.marked_reads > 0 {
            s.push_str(&format!(
                "; {} returned the failure's status instead of a failed request's bytes",
                if self.marked_reads == 1 { "1 read".to_string() } else { format!("{} reads", self.marked_reads) }
            ));
        }
        if self.deferrals.iter().any(|d| d.reported == Reported::Callback) {
            s.push_str("; callbacks are not recorded: that they ran is the program's to check");
        }
        s.push_str("; see README.md \"Errors\"");
        Some(s)
    }
}

#[cfg(test)]
mod tests;

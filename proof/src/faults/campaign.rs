//! Running fault storms: batches of programs, each under one storm, run
//! with and without the shim and checked against the prediction, and the
//! figures of a campaign.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::super::diff::run_batch;
use super::super::gen::generate;
use super::super::harness::Setup;
use super::super::program::Program;
use super::{check_storm_with, known_storm_bug, predict, storm, xfer, Storm, INJECTED, UNRECOVERABLE};

#[derive(Debug, Default)]
pub struct StormResult {
    pub programs: u64,
    /// Every injected failure: failed executions, units that died, failed transfers.
    pub injected: u64,
    /// Programs run under failing transfers.
    pub transfer_programs: u64,
    /// Writes the shim staged in them (the model's count).
    pub staged: u64,
    /// Of `injected`: staged transfers that were made to fail (the model's
    /// count, equal to the shim's own: see faults/xfer.rs).
    pub transfer_failures: u64,
    /// Reads and drains whose status was a failed transfer's (the reference returned NRT_SUCCESS).
    pub transfer_reports: u64,
    /// Storms of failing transfers in which no staged transfer failed (they
    /// would check no more than the others).
    pub quiet_transfer_storms: Vec<String>,
    pub executions: u64,
    pub violations: Vec<String>,
    pub known: Vec<String>,
}

impl StormResult {
    pub fn summary(&self) -> String {
        format!(
            "fault storms: {} programs, {} executions, {} injected failures (model fail_every, NRT_SIM_FAIL_EVERY, \
             unrecoverable units, and {} failed staged transfers: {} programs staged {} writes, reads and drains \
             returned a failed transfer's status {} times), {} contract violations, {} known-bug/ambiguous",
            self.programs,
            self.executions,
            self.injected,
            self.transfer_failures,
            self.transfer_programs,
            self.staged,
            self.transfer_reports,
            self.violations.len(),
            self.known.len()
        )
    }
}

/// Which storms a campaign runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storms {
    /// Every kind, batch `i` under storm(seed * 1,000,003 + i).
    All,
    /// Failing transfers only, batch `i` under the `i`-th of them (the 12
    /// combinations of generation, depth and callback in turn).
    Transfers,
}

/// The storm index of batch `i` of a campaign.
pub fn storm_index(which: Storms, seed: u64, i: u64) -> u64 {
    let b = seed.wrapping_mul(1_000_003).wrapping_add(i);
    match which {
        Storms::All => b,
        Storms::Transfers => b.wrapping_mul(4).wrapping_add(3),
    }
}

/// Runs `n` fault programs in batches of 50, each batch under storm(batch).
pub fn run_storms(n: u64, seed: u64, jobs: usize, progress: &(dyn Fn(&str) + Sync)) -> StormResult {
    run_campaign(Storms::All, n, 50, seed, jobs, progress)
}

/// Runs `n` fault programs of `which` storms in batches of `batch`.
pub fn run_campaign(
    which: Storms,
    n: u64,
    batch: u64,
    seed: u64,
    jobs: usize,
    progress: &(dyn Fn(&str) + Sync),
) -> StormResult {
    let nb = n.div_ceil(batch) as usize;
    let next = AtomicUsize::new(0);
    let res = Mutex::new(StormResult::default());
    std::thread::scope(|sc| {
        for _ in 0..jobs.max(1) {
            sc.spawn(|| loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= nb {
                    break;
                }
                let idx = storm_index(which, seed, b as u64);
                let s = storm(idx);
                let lo = seed * 100_000_000 + b as u64 * batch;
                let hi = lo + batch.min(n - b as u64 * batch);
                let progs: Vec<Program> = (lo..hi).map(|sd| generate(sd, &s.gen)).collect();
                let one = run_batch_of(&s, idx, &progs);
                let mut r = res.lock().unwrap();
                r.programs += one.programs;
                r.injected += one.injected;
                r.transfer_programs += one.transfer_programs;
                r.staged += one.staged;
                r.transfer_failures += one.transfer_failures;
                r.transfer_reports += one.transfer_reports;
                r.quiet_transfer_storms.extend(one.quiet_transfer_storms);
                r.executions += one.executions;
                let mut line = format!(
                    "[storm {idx}: {}] {} programs so far, {} violations",
                    s.what,
                    r.programs,
                    r.violations.len() + one.violations.len()
                );
                if s.xfer.is_some() {
                    let _ = write!(line, " ({} of {} staged writes failed here)", one.transfer_failures, one.staged);
                }
                for x in &one.violations {
                    let _ = write!(line, "\n  VIOLATION {x}");
                }
                r.violations.extend(one.violations);
                r.known.extend(one.known);
                drop(r);
                progress(&line);
            });
        }
    });
    res.into_inner().unwrap()
}

/// Runs one batch of programs under storm `s` (index `idx`) and checks it.
fn run_batch_of(s: &Storm, idx: u64, progs: &[Program]) -> StormResult {
    let cb: &[&str] = if s.callback { &["cb"] } else { &[] };
    let reference = Setup::reference().with_env(&s.setup.env);
    let mut setup = s.setup.clone();
    // The shim's own count of failed transfers, to check the model's against.
    let stats = std::env::temp_dir().join(format!("nrt-proof-storm-stats-{}-{idx}.json", std::process::id()));
    if s.xfer.is_some() {
        setup.env.push(("NRT_SHIM_STATS".into(), stats.display().to_string()));
        // Call sites by object and offset: no addr2line run per batch.
        setup.env.push(("NRT_SHIM_ADDR2LINE".into(), "none".into()));
    }
    let (refs, rout) = run_batch(progs, &reference, cb, Duration::from_secs(120));
    let (got, gout) = run_batch(progs, &setup, cb, Duration::from_secs(120));
    let mut out = StormResult::default();
    let r = &mut out;
    r.programs = progs.len() as u64;
    let mut complete = true;
    for (i, p) in progs.iter().enumerate() {
        let Some(rf) = &refs[i] else {
            r.violations.push(format!("seed {} ({}): the reference failed: {}", p.seed, s.what, rout.summary()));
            complete = false;
            break;
        };
        r.injected += rf.failed.max(0) as u64 + u64::from(rf.ops.iter().any(|o| o.0 == UNRECOVERABLE));
        r.executions += rf.executions.max(0) as u64;
        let want = (!s.unrecoverable).then(|| predict(p, rf, s.callback, s.xfer));
        if let Some(want) = want.as_ref().filter(|_| s.xfer.is_some()) {
            r.transfer_programs += 1;
            r.staged += want.staged;
            r.transfer_failures += want.failed_transfers;
            r.injected += want.failed_transfers;
            if let Some(g) = &got[i] {
                // Failed transfers as the program saw them: statuses the reference has not.
                let seen = g.ops.iter().zip(&rf.ops).filter(|(g, r)| INJECTED.contains(&g.0) && r.0 == 0).count();
                r.transfer_reports += seen as u64;
            }
        }
        let why = match &got[i] {
            None => {
                complete = false;
                Some(format!("the shim run crashed or hung: {}", gout.summary()))
            }
            Some(g) => check_storm_with(p, s, rf, g, want.as_ref()),
        };
        if let Some(why) = why {
            if let Some(name) = want.as_ref().and_then(|w| known_storm_bug(w, &why)) {
                r.known.push(format!("seed {} ({}): known {name}: {why}", p.seed, s.what));
                continue;
            }
            r.violations.push(format!(
                "seed {} ({}): {why}\n  replay: cargo run --release -p nrt-proof -- storm --storm {idx} --program {}",
                p.seed, s.what, p.seed
            ));
            if got[i].is_none() {
                break;
            }
        }
    }
    if s.xfer.is_some() && r.transfer_failures == 0 {
        r.quiet_transfer_storms.push(format!("storm {idx} ({})", s.what));
    }
    if s.xfer.is_some() {
        let text = std::fs::read_to_string(&stats).unwrap_or_default();
        let _ = std::fs::remove_file(&stats);
        let exec_failures: u64 = refs.iter().flatten().map(|x| x.failed.max(0) as u64).sum();
        match xfer::failed_requests(&text) {
            _ if !complete => {}
            Some(n) if n == r.transfer_failures + exec_failures => {}
            n => r.violations.push(format!(
                "storm {idx} ({}): the shim counted {n:?} failed requests (NRT_SHIM_STATS), the staging model \
                 {} failed transfers and the reference {exec_failures} failed executions: the model no longer \
                 says which writes fail (faults/xfer.rs)",
                s.what, r.transfer_failures
            )),
        }
    }
    out
}

//! Fault storms (injected execution failures, a unit that dies), valgrind
//! memcheck, and resident memory over a long run.
//!
//! Every request reaches the runtime in acceptance order (the shim's contract),
//! so the failing executions are the same with and without the shim, and the
//! reference run tells exactly which ones failed. Half of the storms let
//! failures propagate (chains: one request's output is another's input) and use
//! host tensors (executions through the synchronous nrt_execute); none use copies
//! or repeats. From the reference's transcript, `predict` derives what the shim
//! must return under its documented error contract (README.md, "Errors" and
//! "The legacy callback"):
//!
//! - `nrt_execute` accepts (NRT_SUCCESS), except an execution of host tensors
//!   without a callback, which returns its own status (its report);
//! - the device outputs of a failed request are marked with it until rewritten;
//!   a request that succeeds on marked inputs marks its outputs with the mark of
//!   its first marked input's lowest marked byte (a derived failure: the same
//!   failure, no report of its own);
//! - every read touching marked bytes returns the status of the lowest marked
//!   byte of its first marked range (sticky: never the stale bytes), with or
//!   without a callback, and reports every failure whose marks it touches;
//! - without a callback, a failure reported by nothing yet is reported by the
//!   next `nrt_async_drain_queued_execs` of its core (the oldest's status), once;
//! - with a callback, each request gets exactly one callback, in order on its
//!   core (job ids 1, 2, ...), with the runtime's status, which is the
//!   reference's `nrt_execute` status; drains return NRT_SUCCESS.
//!
//! Everything else must equal the reference.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::diff::{base_env, cb_seq_hash, run_batch, OpResult, ProgResult};
use super::gen::{generate, GenConfig};
use super::harness::{self, Gen, Setup};
use super::program::{Program, Rng};

const INJECTED: &[u32] = &[1003, 1004, 1006, 1201];
const UNRECOVERABLE: u32 = 101;

/// What the contract makes of a fault program: the shim's transcript, and the
/// statuses its callbacks get per core, in order (if one is registered).
pub struct Prediction {
    pub ops: Vec<OpResult>,
    pub callbacks: BTreeMap<u32, Vec<u32>>,
}

/// The shim's expected transcript of a fault program, from the reference's.
pub fn predict(p: &Program, reference: &ProgResult, callback: bool) -> Prediction {
    // slot -> (root, base, size) of tensors with storage
    let mut tens: HashMap<i64, (i64, i64, i64)> = HashMap::new();
    // roots in host memory: the shim marks no host bytes
    let mut host: HashSet<i64> = HashSet::new();
    // device roots whose CPU address was handed out (`va` of a device tensor):
    // their executions complete before nrt_execute returns (README.md)
    let mut exposed: HashSet<i64> = HashSet::new();
    let mut sets: HashMap<i64, HashMap<String, i64>> = HashMap::new();
    // root -> byte -> (status, index in `failures`): which failure's mark the byte holds
    let mut taint: HashMap<i64, HashMap<i64, (u32, usize)>> = HashMap::new();
    struct Failure {
        core: u32,
        status: u32,
        reported: bool,
    }
    let mut failures: Vec<Failure> = Vec::new();
    let mut out = Vec::new();
    let mut callbacks: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    let range_of = |tens: &HashMap<i64, (i64, i64, i64)>, t: i64, off: i64, len: i64| {
        tens.get(&t).map(|&(root, base, _)| (root, base + off, base + off + len))
    };
    for (k, op) in p.ops.iter().enumerate() {
        let r = reference.ops[k];
        let a = &op.args;
        let mut pred = r;
        let ok = r.0 == 0;
        let clear = |taint: &mut HashMap<i64, HashMap<i64, (u32, usize)>>, rg: Option<(i64, i64, i64)>| {
            if let Some((root, lo, hi)) = rg {
                if let Some(m) = taint.get_mut(&root) {
                    for b in lo..hi {
                        m.remove(&b);
                    }
                }
            }
        };
        match op.kind {
            "alloc" if ok => {
                tens.insert(a[0], (a[0], 0, a[3]));
                exposed.remove(&a[0]);
                if a[1] != 0 {
                    host.insert(a[0]);
                }
            }
            "slice" if ok => {
                if let Some(&(root, base, _)) = tens.get(&a[1]) {
                    tens.insert(a[0], (root, base + a[2], a[3]));
                }
            }
            "va" if ok => {
                if let Some(&(root, ..)) = tens.get(&a[0]) {
                    exposed.insert(root);
                }
            }
            "free" => {
                tens.remove(&a[0]);
            }
            "sadd" if ok => {
                sets.entry(a[0]).or_default().insert(op.name.clone().unwrap_or_default(), a[1]);
            }
            "sdestroy" => {
                sets.remove(&a[0]);
            }
            "write" | "memset" if ok => {
                let len = if op.kind == "write" { a[2] } else { a[3] };
                clear(&mut taint, range_of(&tens, a[0], a[1], len));
            }
            "writeb" if ok => {
                for i in 0..a[1] as usize {
                    clear(&mut taint, range_of(&tens, a[0], a[2 + 3 * i], a[3 + 3 * i]));
                }
            }
            "exec" => {
                let m = &p.models[a[0] as usize];
                let whole = |set: i64, name: String| {
                    sets.get(&set)
                        .and_then(|s| s.get(&name))
                        .and_then(|t| tens.get(t).map(|&(root, base, size)| (root, base, base + size)))
                };
                let ins: Vec<Option<(i64, i64, i64)>> =
                    (0..m.inputs.len()).map(|i| whole(a[1], format!("i{i}"))).collect();
                let outs: Vec<Option<(i64, i64, i64)>> =
                    (0..m.outputs.len()).map(|i| whole(a[2], format!("o{i}"))).collect();
                let on_host = ins.iter().chain(&outs).flatten().any(|(root, ..)| host.contains(root));
                let dev_outs: Vec<(i64, i64, i64)> =
                    outs.iter().flatten().copied().filter(|(root, ..)| !host.contains(root)).collect();
                if ok || INJECTED.contains(&r.0) {
                    // accepted: one callback with the runtime's status
                    callbacks.entry(m.core).or_default().push(r.0);
                }
                if INJECTED.contains(&r.0) {
                    // an execution of host tensors (or of exposed device memory, which
                    // completes before nrt_execute returns) reports its own failure,
                    // unless a callback does
                    let touches_exposed = ins.iter().chain(&outs).flatten().any(|(root, ..)| exposed.contains(root));
                    let returned = (on_host || touches_exposed) && !callback;
                    pred = if returned { r } else { (0, 0, 0) };
                    // A later failure's marks replace an earlier one's.
                    for &(root, lo, hi) in &dev_outs {
                        let marks = taint.entry(root).or_default();
                        for b in lo..hi {
                            marks.insert(b, (r.0, failures.len()));
                        }
                    }
                    failures.push(Failure { core: m.core, status: r.0, reported: callback || returned });
                } else if ok {
                    // a derived failure: the first marked input's lowest marked byte
                    let derived = ins.iter().flatten().find_map(|&(root, lo, hi)| {
                        let m = taint.get(&root)?;
                        (lo..hi).find_map(|b| m.get(&b).copied())
                    });
                    for &(root, lo, hi) in &dev_outs {
                        match derived {
                            Some(mark) => {
                                let marks = taint.entry(root).or_default();
                                for b in lo..hi {
                                    marks.insert(b, mark);
                                }
                            }
                            None => clear(&mut taint, Some((root, lo, hi))),
                        }
                    }
                }
            }
            "read" | "readb" => {
                let ranges: Vec<(i64, i64, i64)> = if op.kind == "read" {
                    range_of(&tens, a[0], a[1], a[2]).into_iter().collect()
                } else {
                    (0..a[1] as usize).filter_map(|i| range_of(&tens, a[0], a[2 + 2 * i], a[3 + 2 * i])).collect()
                };
                // The read returns the status of the lowest marked byte of its
                // first marked range, and reports every failure whose marks it
                // touches (README.md, "Errors").
                if ok {
                    let mut st = None;
                    for &(root, lo, hi) in &ranges {
                        if let Some(m) = taint.get(&root) {
                            for b in lo..hi {
                                if let Some(&(s, f)) = m.get(&b) {
                                    st.get_or_insert(s);
                                    failures[f].reported = true;
                                }
                            }
                        }
                    }
                    if let Some(s) = st {
                        pred = (s, 0, 0);
                    }
                }
            }
            "drain" if ok => {
                let core = a[0] as u32;
                if let Some(f) = failures.iter().find(|f| f.core == core && !f.reported) {
                    pred = (f.status, 0, 0);
                }
                for f in failures.iter_mut().filter(|f| f.core == core) {
                    f.reported = true;
                }
            }
            _ => {}
        }
        out.push(pred);
    }
    Prediction { ops: out, callbacks }
}

/// One storm setup: how the process runs and what is injected.
#[derive(Clone, Debug)]
pub struct Storm {
    pub setup: Setup,
    pub callback: bool,
    pub gen: GenConfig,
    pub unrecoverable: bool,
    /// Transfers fail (NRT_SIM_FAIL_TRANSFER_EVERY): only the shim's staged
    /// writes do, so the reference cannot say which (see `check_transfer_storm`).
    pub transfer_fail: bool,
    pub what: String,
}

/// The storm of batch `b`: model fail_every 2..10 or NRT_SIM_FAIL_EVERY 2..1000
/// or a dying unit; callback or not; v3 or v2; depth 1, 4 or 16; chains and host
/// tensors or not, and with them a 2-deep runtime queue or not.
pub fn storm(b: u64) -> Storm {
    let mut rng = Rng::new(0x5707 ^ b);
    let gen = if rng.pct(50) { Gen::V3 } else { Gen::V2 };
    let callback = rng.pct(40);
    let mut env = base_env(4);
    let chains = rng.pct(50);
    let mut cfg = GenConfig { fault: true, chains, invalid_pct: 0, min_ops: 20, max_ops: 70, ..GenConfig::default() };
    let kind = b % 4;
    let mut depth = *rng.pick(&[1u32, 4, 16]).unwrap();
    let mut unrecoverable = false;
    let mut transfer_fail = false;
    let what;
    match kind {
        3 => {
            let n = *rng.pick(&[2u32, 3, 7, 50]).unwrap();
            env.push(("NRT_SIM_FAIL_TRANSFER_EVERY".into(), n.to_string()));
            env.push(("NRT_SHIM_STAGE_MAX_BYTES".into(), "1048576".into()));
            // No host tensors: a host execution on a failed transfer's bytes
            // writes host memory, which carries no mark (README "Errors").
            cfg.chains = false;
            transfer_fail = true;
            what = format!("NRT_SIM_FAIL_TRANSFER_EVERY={n}");
        }
        0 => {
            cfg.model_fail = Some((2, 10));
            what = "model fail_every 2..10".to_string();
        }
        1 => {
            let n = *rng.pick(&[2u32, 3, 5, 17, 100, 1000]).unwrap();
            env.push(("NRT_SIM_FAIL_EVERY".into(), n.to_string()));
            // failures counted over all cores in scheduling order: one core keeps that order
            // identical whatever the depth (see proof/README.md)
            env[0].1 = "1".into();
            cfg.cores = 1;
            what = format!("NRT_SIM_FAIL_EVERY={n}");
        }
        _ => {
            let n = *rng.pick(&[2u32, 5, 20]).unwrap();
            env.push(("NRT_SIM_UNRECOVERABLE_AFTER".into(), n.to_string()));
            unrecoverable = true;
            depth = depth.min(4);
            what = format!("NRT_SIM_UNRECOVERABLE_AFTER={n}");
        }
    }
    let chains = cfg.chains;
    if chains && rng.pct(50) {
        // A full runtime queue: host executions wait behind queued requests, and
        // fail_every shows whether they kept their place.
        env.push(("NRT_SIM_QUEUE_DEPTH".into(), "2".into()));
    }
    let setup = Setup::shim(gen, depth).with_env(&env);
    let what = format!(
        "{what}, {}{}{}",
        setup.describe(),
        if chains { ", chains and host tensors" } else { "" },
        if callback { ", callback" } else { "" }
    );
    Storm { setup, callback, gen: cfg, unrecoverable, transfer_fail, what }
}

/// Checks one program's shim run against the prediction; Some(violation).
pub fn check_storm(p: &Program, s: &Storm, reference: &ProgResult, got: &ProgResult) -> Option<String> {
    if got.hazards != 0 {
        return Some(format!("{} hazards", got.hazards));
    }
    if got.ops.len() != reference.ops.len() {
        return Some("a different number of op results".into());
    }
    if s.transfer_fail {
        return check_transfer_storm(p, s, reference, got);
    }
    if s.unrecoverable {
        // Lenient where the contract allows two points for the requests that
        // met the dying unit: requests the shim accepted before it learned of
        // the death (at most its window: they were waiting in it, or the first
        // went to the unit) return NRT_SUCCESS and fail later; once one
        // nrt_execute on the core returned 101, every later one must.
        let window = s.setup.shim.unwrap_or(1);
        let mut dead_core: HashMap<u32, (u32, bool)> = HashMap::new();
        for (k, op) in p.ops.iter().enumerate() {
            let (r, g) = (reference.ops[k], got.ops[k]);
            match op.kind {
                "exec" => {
                    let core = p.models[op.args[0] as usize].core;
                    if r.0 == UNRECOVERABLE {
                        let (accepted, known) = dead_core.entry(core).or_insert((0, false));
                        if g.0 == UNRECOVERABLE {
                            *known = true;
                        } else if g.0 == 0 && !*known && *accepted < window {
                            *accepted += 1;
                        } else {
                            return Some(format!("op #{k} `{}`: exec on a dead core returned {}", op.line(), g.0));
                        }
                    } else if r.0 != g.0 {
                        return Some(format!("op #{k} `{}`: status {} vs reference {}", op.line(), g.0, r.0));
                    }
                }
                "read" | "readb" => {
                    if g.0 == 0 && r != g {
                        return Some(format!(
                            "op #{k} `{}`: NRT_SUCCESS with bytes that differ from the reference",
                            op.line()
                        ));
                    }
                    if g.0 != 0 && g.0 != r.0 && g.0 != UNRECOVERABLE {
                        return Some(format!("op #{k} `{}`: status {} vs reference {}", op.line(), g.0, r.0));
                    }
                }
                "drain" => {
                    if g.0 != r.0 && g.0 != UNRECOVERABLE {
                        return Some(format!("op #{k} `{}`: drain {} vs reference {}", op.line(), g.0, r.0));
                    }
                }
                _ => {
                    if r != g {
                        return Some(format!("op #{k} `{}`: {:?} vs reference {:?}", op.line(), g, r));
                    }
                }
            }
        }
        return None;
    }
    if got.failed != reference.failed {
        return Some(format!(
            "the simulator failed {} executions, {} in the reference (the same requests must run)",
            got.failed, reference.failed
        ));
    }
    let want = predict(p, reference, s.callback);
    for (k, (w, g)) in want.ops.iter().zip(&got.ops).enumerate() {
        if w != g {
            let why = if w.0 == 0 && g.0 == 0 {
                "the bytes read differ from the reference (a request that did not fail gave a wrong result)".to_string()
            } else if w.0 != 0 && INJECTED.contains(&w.0) && g.0 == 0 {
                "a failed request's output (or its report) was returned as NRT_SUCCESS".to_string()
            } else if w.0 == 0 && INJECTED.contains(&g.0) {
                "a failure reported here that the contract does not put here (twice, or not its outputs)".to_string()
            } else {
                "status differs from the contract's".to_string()
            };
            return Some(format!("op #{k} `{}`: {why}: expected {:?}, got {:?}", p.ops[k].line(), w, g));
        }
    }
    if s.callback {
        let execs = reference.executions as u64;
        if got.cb_calls != execs || got.cb_fail != reference.failed as u64 {
            return Some(format!(
                "callback ran {} times ({} failures) for {} requests ({} failed): each exactly once",
                got.cb_calls, got.cb_fail, execs, reference.failed
            ));
        }
        if got.cb_bad != 0 {
            return Some(format!(
                "{} callbacks out of order (job id not the previous one + 1 on its core)",
                got.cb_bad
            ));
        }
        if got.cb_seq != cb_seq_hash(&want.callbacks) {
            return Some(format!(
                "the callbacks' statuses differ from the runtime's, in order per core (expected {:?})",
                want.callbacks
            ));
        }
    } else if got.cb_calls != 0 {
        return Some(format!("{} callbacks without a registered callback", got.cb_calls));
    }
    None
}

/// A storm of failing transfers. The reference's synchronous writes never
/// fail, so which of the shim's writes failed is not known from it; checked is
/// what must hold whatever failed: no stale byte passes as good data (a read
/// returns the reference's bytes or an injected failure's status), a drain
/// returns the reference's status or an injected one, every other call the
/// reference's result, and each request gets one callback in order.
fn check_transfer_storm(p: &Program, s: &Storm, reference: &ProgResult, got: &ProgResult) -> Option<String> {
    for (k, op) in p.ops.iter().enumerate() {
        let (r, g) = (reference.ops[k], got.ops[k]);
        let injected = INJECTED.contains(&g.0);
        let bad = match op.kind {
            "read" | "readb" if g.0 == 0 => r != g,
            "read" | "readb" | "drain" => g != r && !injected,
            _ => g != r,
        };
        if bad {
            return Some(format!("op #{k} `{}`: {:?} vs reference {:?}", op.line(), g, r));
        }
    }
    if s.callback && (got.cb_calls != reference.executions as u64 || got.cb_bad != 0) {
        return Some(format!(
            "callback ran {} times ({} out of order) for {} requests: each once, in order",
            got.cb_calls, got.cb_bad, reference.executions
        ));
    }
    None
}

/// Violations matching a known open shim bug (proof/README.md, "Bugs found"):
/// reported, not counted as failures. None is open now; a new one gets a
/// matcher here (`violation` names the op as "op #K"), with its reproduction
/// in tests/proof_regressions.rs, until it is fixed.
pub fn known_storm_bug(_p: &Program, _violation: &str) -> Option<&'static str> {
    None
}

#[derive(Debug, Default)]
pub struct StormResult {
    pub programs: u64,
    pub injected: u64,
    /// Of `injected`: failed transfers, as reads and drains saw them.
    pub transfer_failures: u64,
    pub executions: u64,
    pub violations: Vec<String>,
    pub known: Vec<String>,
}

impl StormResult {
    pub fn summary(&self) -> String {
        format!(
            "fault storms: {} programs, {} executions, {} injected failures (model fail_every, NRT_SIM_FAIL_EVERY, \
             unrecoverable units, and {} failed transfers as reads and drains saw them), {} contract violations, \
             {} known-bug/ambiguous",
            self.programs,
            self.executions,
            self.injected,
            self.transfer_failures,
            self.violations.len(),
            self.known.len()
        )
    }
}

/// Runs `n` fault programs in batches of 50, each batch under storm(batch).
pub fn run_storms(n: u64, seed: u64, jobs: usize, progress: &(dyn Fn(&str) + Sync)) -> StormResult {
    let batch = 50u64;
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
                let s = storm(seed.wrapping_mul(1_000_003).wrapping_add(b as u64));
                let lo = seed * 100_000_000 + b as u64 * batch;
                let hi = lo + batch.min(n - b as u64 * batch);
                let progs: Vec<Program> = (lo..hi).map(|sd| generate(sd, &s.gen)).collect();
                let cb: &[&str] = if s.callback { &["cb"] } else { &[] };
                let reference = Setup::reference().with_env(&s.setup.env);
                let (refs, rout) = run_batch(&progs, &reference, cb, Duration::from_secs(120));
                let (got, gout) = run_batch(&progs, &s.setup, cb, Duration::from_secs(120));
                let mut v = Vec::new();
                let mut known = Vec::new();
                let (mut inj, mut ex, mut xf) = (0u64, 0u64, 0u64);
                for (i, p) in progs.iter().enumerate() {
                    let Some(r) = &refs[i] else {
                        v.push(format!("seed {} ({}): the reference failed: {}", p.seed, s.what, rout.summary()));
                        break;
                    };
                    inj += r.failed.max(0) as u64 + u64::from(r.ops.iter().any(|o| o.0 == UNRECOVERABLE));
                    ex += r.executions.max(0) as u64;
                    if let (true, Some(g)) = (s.transfer_fail, &got[i]) {
                        // Failed transfers as the program saw them: statuses the reference has not.
                        let n = g.ops.iter().zip(&r.ops).filter(|(g, r)| INJECTED.contains(&g.0) && r.0 == 0).count();
                        inj += n as u64;
                        xf += n as u64;
                    }
                    let why = match &got[i] {
                        None => Some(format!("the shim run crashed or hung: {}", gout.summary())),
                        Some(g) => check_storm(p, &s, r, g),
                    };
                    if let Some(why) = why {
                        if let Some(name) = known_storm_bug(p, &why) {
                            known.push(format!("seed {} ({}): known {name}: {why}", p.seed, s.what));
                            continue;
                        }
                        v.push(format!(
                            "seed {} ({}): {why}\n  replay: cargo run --release -p nrt-proof -- storm --batch-index {} --seed {seed} --program {}",
                            p.seed,
                            s.what,
                            b,
                            p.seed
                        ));
                        if got[i].is_none() {
                            break;
                        }
                    }
                }
                let mut r = res.lock().unwrap();
                r.programs += progs.len() as u64;
                r.injected += inj;
                r.transfer_failures += xf;
                r.executions += ex;
                let mut line = format!("[storm {b}: {}] {} programs so far, {} violations", s.what, r.programs, r.violations.len() + v.len());
                for x in &v {
                    let _ = write!(line, "\n  VIOLATION {x}");
                }
                r.violations.extend(v);
                r.known.extend(known);
                drop(r);
                progress(&line);
            });
        }
    });
    res.into_inner().unwrap()
}

/// The result of a memory check.
pub struct Check {
    pub ok: bool,
    pub summary: String,
}

/// A single-threaded program of about `ops` operations on 2 cores (for memcheck and RSS).
fn long_program(seed: u64, ops: usize, threads: u32) -> Program {
    let cfg = GenConfig {
        exact_threads: Some(threads),
        max_threads: threads,
        cores: 2,
        min_ops: ops,
        max_ops: ops,
        ..GenConfig::default()
    };
    generate(seed, &cfg)
}

/// valgrind memcheck over `ops` operations through the shim (v3, depth 4): no
/// invalid access, nothing definitely lost.
pub fn memcheck(ops: u64) -> Check {
    if std::process::Command::new("valgrind").arg("--version").output().is_err() {
        return Check { ok: true, summary: "memcheck: valgrind not installed, skipped".into() };
    }
    let per = 500usize;
    let progs: Vec<Program> = (0..ops.div_ceil(per as u64)).map(|i| long_program(77 + i, per, 1)).collect();
    let mut setup = Setup::shim(Gen::V3, 4).with_env(&base_env(2));
    setup.env.push(("NRT_SIM_LATENCY_SCALE".into(), "0".into()));
    // Staged writes too: their buffers must not leak.
    setup.env.push(("NRT_SHIM_STAGE_MAX_BYTES".into(), "1048576".into()));
    setup.wrapper = [
        "valgrind",
        "--tool=memcheck",
        "--error-exitcode=99",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite",
        "--quiet",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let start = Instant::now();
    let (res, out) = run_batch(&progs, &setup, &[], Duration::from_secs(1800));
    let nops: usize = progs.iter().map(|p| p.ops.len()).sum();
    let done = res.iter().filter(|r| r.is_some()).count();
    let errors = out
        .stderr
        .lines()
        .filter(|l| {
            l.starts_with("==")
                && (l.contains("Invalid") || l.contains("definitely lost") || l.contains("uninitialised"))
        })
        .count();
    let ok = out.code == Some(0) && done == progs.len() && errors == 0;
    let summary = format!(
        "memcheck: {nops} operations in {} programs through the shim under valgrind ({:.0?}): exit {:?}, {} error lines{}",
        progs.len(),
        start.elapsed(),
        out.code,
        errors,
        if ok { ", no invalid access, nothing definitely lost".to_string() } else { format!("\n{}", out.summary()) }
    );
    Check { ok, summary }
}

/// Resident memory of one process running `executions` executions through the
/// shim (NRT_SIM_LATENCY_SCALE=0): RSS at 10% and at 100% of the run must be within 5%.
pub fn rss(executions: u64) -> Check {
    let bin = harness::compile("rss");
    let mut setup = Setup::shim(Gen::V3, 16).with_env(&base_env(2));
    setup.env.push(("NRT_SHIM_STAGE_MAX_BYTES".into(), "1048576".into()));
    setup.env[1].1 = "0".into();
    let start = Instant::now();
    let out = harness::run(&bin, &[executions.to_string()], &setup, Duration::from_secs(3600));
    let val = |k: &str| -> Option<u64> {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(k).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse().ok()))
    };
    let (a, b) = (val("rss_kb_at_10pct:"), val("rss_kb_at_end:"));
    match (a, b) {
        (Some(a), Some(b)) if out.ok() => {
            let growth = (b as f64 - a as f64) / a as f64 * 100.0;
            Check {
                ok: growth <= 5.0,
                summary: format!(
                    "rss: {executions} executions through the shim in {:.0?}: {a} kB after {}, {b} kB at the end ({growth:+.1}%, limit +5%)",
                    start.elapsed(),
                    executions / 10
                ),
            }
        }
        _ => Check { ok: false, summary: format!("rss: the run failed: {}\n{}", out.summary(), out.stdout) },
    }
}

/// For `nrt-proof storm`: replays one program of a storm batch.
pub fn replay_storm(seed: u64, batch_index: u64, program_seed: u64) -> Option<String> {
    let s = storm(seed.wrapping_mul(1_000_003).wrapping_add(batch_index));
    let p = generate(program_seed, &s.gen);
    let cb: &[&str] = if s.callback { &["cb"] } else { &[] };
    let (r, _) =
        run_batch(std::slice::from_ref(&p), &Setup::reference().with_env(&s.setup.env), cb, Duration::from_secs(60));
    let (g, gout) = run_batch(std::slice::from_ref(&p), &s.setup, cb, Duration::from_secs(60));
    println!("storm: {}\n{}", s.what, p.text(0));
    match (&r[0], &g[0]) {
        (Some(r), Some(g)) => check_storm(&p, &s, r, g),
        _ => Some(format!("a run failed: {}", gout.summary())),
    }
}

/// Shrinks a storm violation (delta debugging on the op list) and prints the minimal program.
pub fn shrink_storm(seed: u64, batch_index: u64, program_seed: u64) -> Program {
    let s = storm(seed.wrapping_mul(1_000_003).wrapping_add(batch_index));
    let p = generate(program_seed, &s.gen);
    let cb: &[&str] = if s.callback { &["cb"] } else { &[] };
    let mut fails = |c: &Program| {
        let (r, _) =
            run_batch(std::slice::from_ref(c), &Setup::reference().with_env(&s.setup.env), cb, Duration::from_secs(60));
        let (g, _) = run_batch(std::slice::from_ref(c), &s.setup, cb, Duration::from_secs(60));
        match (&r[0], &g[0]) {
            (Some(r), Some(g)) => check_storm(c, &s, r, g).is_some(),
            (Some(_), None) => true,
            _ => false,
        }
    };
    let min = super::diff::shrink(&p, &mut fails, &mut |_| {});
    let (r, _) =
        run_batch(std::slice::from_ref(&min), &Setup::reference().with_env(&s.setup.env), cb, Duration::from_secs(60));
    let (g, _) = run_batch(std::slice::from_ref(&min), &s.setup, cb, Duration::from_secs(60));
    if let (Some(r), Some(g)) = (&r[0], &g[0]) {
        println!("storm {}: {:?}", s.what, check_storm(&min, &s, r, g));
        for (k, op) in min.ops.iter().enumerate() {
            println!("{:<50} ref {:?} shim {:?}", op.line(), r.ops[k], g.ops[k]);
        }
    }
    min
}

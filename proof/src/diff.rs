//! Differential runs: a batch of programs through the interpreter, once against
//! the simulator alone (the reference) and once per shim setup; every status and
//! every byte read must agree, and the simulator's hazard oracle must count zero.
//! A mismatch is shrunk (delta debugging on the op list) and can be kept in
//! `proof/regressions/`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::gen::{generate, GenConfig};
use super::harness::{self, Gen, Output, Setup};
use super::program::Program;

/// What one op returned: status, FNV-1a of the bytes read (0 if none), bytes read.
pub type OpResult = (u32, u64, u64);

/// What one program did in one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProgResult {
    pub ops: Vec<OpResult>,
    pub hazards: i64,
    pub executions: i64,
    pub failed: i64,
    pub cb_calls: u64,
    pub cb_fail: u64,
    /// Callbacks whose job id was not their core's previous one + 1.
    pub cb_bad: u64,
    /// The callbacks' statuses, per core in call order ([`cb_seq_hash`]).
    pub cb_seq: u64,
}

/// The interpreter's hash of callback statuses: per core (in core order, cores
/// without a callback left out) the FNV-1a hash of the statuses in call order
/// (little-endian u32 each), folded with the core number (u32) into one FNV-1a hash.
pub fn cb_seq_hash(per_core: &std::collections::BTreeMap<u32, Vec<u32>>) -> u64 {
    const OFFSET: u64 = 14695981039346656037;
    let fnv = |mut h: u64, bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(1099511628211);
        }
        h
    };
    let mut h = OFFSET;
    for (core, statuses) in per_core {
        if statuses.is_empty() {
            continue;
        }
        let ch = statuses.iter().fold(OFFSET, |h, s| fnv(h, &s.to_le_bytes()));
        h = fnv(h, &core.to_le_bytes());
        h = fnv(h, &ch.to_le_bytes());
    }
    h
}

/// Named program families: a generator configuration and the simulator's environment.
#[derive(Clone, Debug)]
pub struct Profile {
    pub name: &'static str,
    pub gen: GenConfig,
    pub env: Vec<(String, String)>,
}

pub fn base_env(cores: u32) -> Vec<(String, String)> {
    vec![
        ("NRT_SIM_CORES".into(), cores.to_string()),
        ("NRT_SIM_LATENCY_SCALE".into(), "0.2".into()),
        ("NRT_SIM_DMA_LATENCY_US".into(), "5".into()),
    ]
}

/// The program families: `mix` (1..4 threads, the default), `half` (`mix`
/// with the program's own `nrta_*` requests: half-migrated), `escape` (`mix`
/// with device memory mapped: addresses kept and used between executions,
/// `nrt_memcpy_to_device`, barriers, allocation info, a bank mapped late in a
/// few programs; gen/escape.rs), `single` (a
/// 2-deep runtime queue: requests refused for a full queue, executions of host
/// tensors behind queued ones), `mem` (NRT_SIM_DEVICE_MEMORY=64K, deferred
/// frees, allocations right after them, the retry), `threads` (8 threads on 4
/// cores, long programs).
pub fn profile(name: &str) -> Option<Profile> {
    let mut gen = GenConfig::default();
    let mut env = base_env(4);
    match name {
        "mix" => {
            gen.max_threads = 4;
            // a small share of the escape calls (gen/escape.rs)
            gen.escape = 1;
            gen.hbm_pct = 1;
            env.push(("NEURON_RT_MAP_HBM".into(), "1".into()));
        }
        "half" => {
            gen.max_threads = 4;
            gen.nrta = true;
        }
        "escape" => {
            gen.max_threads = 4;
            gen.escape = 3;
            gen.hbm_pct = 5;
            env.push(("NEURON_RT_MAP_HBM".into(), "1".into()));
        }
        "single" => env.push(("NRT_SIM_QUEUE_DEPTH".into(), "2".into())),
        "mem" => {
            gen.memlimit = Some(65536);
            env.push(("NRT_SIM_DEVICE_MEMORY".into(), "65536".into()));
        }
        "threads" => {
            gen.exact_threads = Some(8);
            gen.max_threads = 8;
            gen.min_ops = 400;
            gen.max_ops = 600;
        }
        _ => return None,
    }
    let name: &'static str = match name {
        "mix" => "mix",
        "half" => "half",
        "escape" => "escape",
        "single" => "single",
        "mem" => "mem",
        _ => "threads",
    };
    Some(Profile { name, gen, env })
}

/// The shim setups every program runs under: both generations, depth 1, 4,
/// 16; v2 with the defaults (no staging), except a 1 KiB renaming cap at
/// depth 4 (the cap reached, the write waits). v3 stages writes (off by
/// default): at depth 1 writes up to 1 MiB, at depth 4 only writes up to 256
/// bytes (one program mixes staged and synchronous writes of the same
/// tensors), at depth 16 up to 1 MiB with 8 KiB of staging memory (the cap is
/// reached and writes fall back to the synchronous path).
pub fn shim_setups(env: &[(String, String)]) -> Vec<Setup> {
    let mut v = Vec::new();
    for gen in [Gen::V3, Gen::V2] {
        for depth in [1, 4, 16] {
            let mut s = Setup::shim(gen, depth).with_env(env);
            if gen == Gen::V2 && depth == 4 {
                s.env.push(("NRT_SHIM_RENAME_MAX_BYTES".into(), "1K".into()));
            }
            if gen == Gen::V3 {
                let staging: &[(&str, &str)] = match depth {
                    4 => &[("NRT_SHIM_STAGE_MAX_BYTES", "256")],
                    16 => &[("NRT_SHIM_STAGE_MAX_BYTES", "1048576"), ("NRT_SHIM_STAGE_POOL_BYTES", "8192")],
                    _ => &[("NRT_SHIM_STAGE_MAX_BYTES", "1048576")],
                };
                s.env.extend(staging.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            }
            v.push(s);
        }
    }
    v
}

/// Parses the interpreter's output.
pub fn parse_output(stdout: &str) -> HashMap<usize, ProgResult> {
    let mut map: HashMap<usize, ProgResult> = HashMap::new();
    for line in stdout.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.first().copied() {
            Some("R") if w.len() == 6 => {
                let id: usize = w[1].parse().unwrap_or(usize::MAX);
                let r = map.entry(id).or_default();
                let st = w[3].parse().unwrap_or(u32::MAX);
                let h = u64::from_str_radix(w[4], 16).unwrap_or(0);
                let n = w[5].parse().unwrap_or(0);
                r.ops.push((st, h, n));
            }
            Some("H") => {
                let id: usize = w[1].parse().unwrap_or(usize::MAX);
                let r = map.entry(id).or_default();
                for kv in &w[2..] {
                    let (k, v) = kv.split_once('=').unwrap_or(("", ""));
                    if k == "cbseq" {
                        r.cb_seq = u64::from_str_radix(v, 16).unwrap_or(0);
                        continue;
                    }
                    let v: i64 = v.parse().unwrap_or(-1);
                    match k {
                        "hazards" => r.hazards = v,
                        "executions" => r.executions = v,
                        "failed" => r.failed = v,
                        "cb" => r.cb_calls = v as u64,
                        "cbfail" => r.cb_fail = v as u64,
                        "cbbad" => r.cb_bad = v as u64,
                        _ => {}
                    }
                }
                // Mark complete: an H line ends a program.
                r.ops.shrink_to_fit();
                map.entry(id).or_default();
            }
            _ => {}
        }
    }
    map
}

/// Mismatches that are a known, reported, open shim bug: (name, matcher). None
/// is open now (proof/README.md, "Bugs found"); a new one gets a matcher here,
/// with its reproduction in tests/proof_regressions.rs, until it is fixed.
pub fn known_bug(_p: &Program, _k: usize, _reference: OpResult, _got: OpResult) -> Option<&'static str> {
    None
}

/// Runs `progs` in one process of the interpreter under `setup`. Programs after a
/// crash or a hang have no result; the output says why.
pub fn run_batch(
    progs: &[Program],
    setup: &Setup,
    interp_args: &[&str],
    timeout: Duration,
) -> (Vec<Option<ProgResult>>, Output) {
    let bin = harness::compile("interp");
    let dir = std::env::temp_dir().join(format!("nrt-proof-batch-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("temp dir");
    static N: AtomicUsize = AtomicUsize::new(0);
    let file = dir.join(format!("batch-{}.txt", N.fetch_add(1, Ordering::Relaxed)));
    let mut text = String::new();
    for (i, p) in progs.iter().enumerate() {
        text += &p.text(i);
    }
    fs::write(&file, text).expect("writing the batch");
    let mut args = vec![file.display().to_string()];
    args.extend(interp_args.iter().map(|s| s.to_string()));
    let out = harness::run(&bin, &args, setup, timeout);
    let _ = fs::remove_file(&file);
    let has_h: Vec<usize> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("H ").and_then(|r| r.split_whitespace().next()).and_then(|n| n.parse().ok()))
        .collect();
    let mut map = parse_output(&out.stdout);
    let res = (0..progs.len()).map(|i| if has_h.contains(&i) { map.remove(&i) } else { None }).collect();
    (res, out)
}

/// Why a run of a program differs from its reference (None: it does not).
pub fn compare(p: &Program, reference: &ProgResult, got: &ProgResult) -> Option<String> {
    if reference.hazards != 0 {
        return Some(format!("the reference itself counted {} hazards", reference.hazards));
    }
    if got.hazards != 0 {
        return Some(format!("the simulator counted {} hazards (report hazards != 0)", got.hazards));
    }
    if reference.ops.len() != got.ops.len() {
        return Some(format!("{} op results, the reference has {}", got.ops.len(), reference.ops.len()));
    }
    let mut known = None;
    for (k, (a, b)) in reference.ops.iter().zip(&got.ops).enumerate() {
        if a != b {
            if let Some(name) = known_bug(p, k, *a, *b) {
                known.get_or_insert(format!(
                    "known shim bug {name}: op #{k} `{}`: reference status {}, shim status {}",
                    p.ops[k].line(),
                    a.0,
                    b.0
                ));
                continue;
            }
            let what = if a.0 != b.0 { "status" } else { "bytes read" };
            return Some(format!(
                "op #{k} `{}` (thread {}): {what} differ: reference status {} hash {:016x} ({} bytes), shim status {} hash {:016x} ({} bytes)",
                p.ops[k].line(),
                p.ops[k].thr,
                a.0,
                a.1,
                a.2,
                b.0,
                b.1,
                b.2
            ));
        }
    }
    if reference.executions != got.executions {
        return Some(format!(
            "the simulator ran {} executions, {} in the reference",
            got.executions, reference.executions
        ));
    }
    known
}

/// Runs one program under the reference and `setup`; Some(reason) when they differ
/// (or the shim run crashed or hung).
pub fn check_one(p: &Program, setup: &Setup, timeout: Duration) -> Option<String> {
    let (r, rout) = run_batch(std::slice::from_ref(p), &Setup::reference().with_env(&setup.env), &[], timeout);
    let Some(r) = &r[0] else {
        return Some(format!("the reference run failed: {}", rout.summary()));
    };
    let (g, gout) = run_batch(std::slice::from_ref(p), setup, &[], timeout);
    match &g[0] {
        None => Some(format!("the shim run crashed or hung: {}", gout.summary())),
        Some(g) => compare(p, r, g),
    }
}

/// Runs `progs` in one process under the reference and `setup`: Some(reason) for
/// the first program that differs.
pub fn check_batch(progs: &[Program], setup: &Setup, timeout: Duration) -> Option<String> {
    let (r, rout) = run_batch(progs, &Setup::reference().with_env(&setup.env), &[], timeout);
    let (g, gout) = run_batch(progs, setup, &[], timeout);
    for (i, p) in progs.iter().enumerate() {
        let Some(r) = &r[i] else { return Some(format!("the reference run failed: {}", rout.summary())) };
        let why = match &g[i] {
            None => Some(format!("the shim run crashed or hung: {}", gout.summary())),
            Some(g) => compare(p, r, g),
        };
        if let Some(why) = why {
            return Some(format!("program #{i} (seed {}): {why}", p.seed));
        }
    }
    None
}

/// Delta debugging (ddmin) on the op list: the smallest program (1-minimal in
/// chunks) for which `fails` still holds.
pub fn shrink(p: &Program, fails: &mut dyn FnMut(&Program) -> bool, log: &mut dyn FnMut(&str)) -> Program {
    let mut cur = p.clone();
    let mut n = 2usize;
    while cur.ops.len() >= 2 {
        let len = cur.ops.len();
        let chunk = len.div_ceil(n);
        let mut reduced = false;
        let chunks = n;
        for i in 0..chunks {
            let (lo, hi) = (i * chunk, ((i + 1) * chunk).min(len));
            if lo >= hi {
                continue;
            }
            let mut cand = cur.clone();
            cand.ops.drain(lo..hi);
            if fails(&cand) {
                log(&format!("shrink: {} -> {} ops", cur.ops.len(), cand.ops.len()));
                cur = cand;
                reduced = true;
                break;
            }
        }
        if reduced {
            n = (n - 1).max(2);
        }
        if !reduced {
            if n >= len {
                break;
            }
            n = (n * 2).min(len);
        }
    }
    // Fewer threads, unused models.
    while cur.threads > 1 {
        let mut cand = cur.clone();
        let last = cand.threads as i32 - 1;
        if cand.ops.iter().any(|o| o.thr == last) {
            break;
        }
        cand.threads -= 1;
        if !fails(&cand) {
            break;
        }
        cur = cand;
    }
    cur
}

/// One mismatch found by a campaign.
#[derive(Clone, Debug)]
pub struct Mismatch {
    pub profile: &'static str,
    pub seed: u64,
    pub setup: Setup,
    pub reason: String,
}

impl Mismatch {
    pub fn replay_command(&self) -> String {
        format!(
            "cargo run --release -p nrt-proof -- replay --profile {} --seed {} {}",
            self.profile,
            self.seed,
            self.setup.replay_flags()
        )
    }
}

/// A differential campaign: programs `first_seed..first_seed + count` of a profile.
#[derive(Clone, Debug)]
pub struct Campaign {
    pub profile: Profile,
    pub first_seed: u64,
    pub count: u64,
    pub batch: usize,
    pub jobs: usize,
    pub setups: Vec<Setup>,
    pub timeout: Duration,
}

#[derive(Debug, Default)]
pub struct CampaignResult {
    pub programs: u64,
    pub runs: u64,
    pub ops: u64,
    pub mismatches: Vec<Mismatch>,
    /// Mismatches matching a known open shim bug (`known_bug`): reported, not failures.
    pub known: Vec<Mismatch>,
}

/// The programs whose results under `setup` (`got`) differ from the reference's,
/// as mismatches (`label` words the reason); a crash or hang (`crashed`) ends the
/// batch's run, so it is reported once.
#[allow(clippy::too_many_arguments)]
fn differences(
    c: &Campaign,
    progs: &[Program],
    refs: &[Option<ProgResult>],
    setup: &Setup,
    got: &[Option<ProgResult>],
    crashed: &str,
    label: &dyn Fn(String) -> String,
    found: &mut Vec<Mismatch>,
) {
    for (i, p) in progs.iter().enumerate() {
        let Some(r) = &refs[i] else { continue };
        let reason = match &got[i] {
            None => Some(crashed.to_string()),
            Some(g) => compare(p, r, g).map(label),
        };
        if let Some(reason) = reason {
            found.push(Mismatch { profile: c.profile.name, seed: p.seed, setup: setup.clone(), reason });
            if got[i].is_none() {
                break;
            }
        }
    }
}

/// Runs a campaign on `jobs` worker threads; `progress` gets a line per batch.
pub fn run_campaign(c: &Campaign, progress: &(dyn Fn(&str) + Sync)) -> CampaignResult {
    let next = AtomicUsize::new(0);
    let nbatches = (c.count as usize).div_ceil(c.batch.max(1));
    let result = Mutex::new(CampaignResult::default());
    std::thread::scope(|s| {
        for _ in 0..c.jobs.max(1) {
            s.spawn(|| loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= nbatches {
                    break;
                }
                let lo = c.first_seed + (b * c.batch) as u64;
                let hi = (lo + c.batch as u64).min(c.first_seed + c.count);
                let progs: Vec<Program> = (lo..hi).map(|seed| generate(seed, &c.profile.gen)).collect();
                let nops: u64 = progs.iter().map(|p| p.ops.len() as u64).sum();
                let reference = Setup::reference().with_env(&c.profile.env);
                let (refs, rout) = run_batch(&progs, &reference, &[], c.timeout);
                let mut found = Vec::new();
                let mut runs = 1u64;
                for (i, r) in refs.iter().enumerate() {
                    if r.is_none() {
                        found.push(Mismatch {
                            profile: c.profile.name,
                            seed: progs[i].seed,
                            setup: reference.clone(),
                            reason: format!("the reference run failed: {}", rout.summary()),
                        });
                        break;
                    }
                }
                // The reference again: a program whose own results vary from run to run (a race or a
                // use-after-free in the generated program, not in the shim) is reported as such.
                let (again, aout) = run_batch(&progs, &reference, &[], c.timeout);
                runs += 1;
                let second = format!("the second reference run failed: {}", aout.summary());
                let nondeterministic = |why| format!("the program is not deterministic (a generator bug): {why}");
                differences(c, &progs, &refs, &reference, &again, &second, &nondeterministic, &mut found);
                for setup in &c.setups {
                    let (got, out) = run_batch(&progs, setup, &[], c.timeout);
                    runs += 1;
                    let crashed = format!("the shim run crashed or hung here: {}", out.summary());
                    differences(c, &progs, &refs, setup, &got, &crashed, &|why| why, &mut found);
                }
                let mut res = result.lock().unwrap();
                res.programs += progs.len() as u64;
                res.ops += nops;
                res.runs += runs * progs.len() as u64;
                let (known, found): (Vec<Mismatch>, Vec<Mismatch>) =
                    found.into_iter().partition(|m| m.reason.starts_with("known shim bug"));
                let mut line = format!(
                    "[{}] seeds {lo}..{hi}: {} programs so far, {} mismatches, {} known-bug mismatches",
                    c.profile.name,
                    res.programs,
                    res.mismatches.len() + found.len(),
                    res.known.len() + known.len()
                );
                for m in &found {
                    let _ = write!(
                        line,
                        "\n  MISMATCH seed {} under {}: {}\n  replay: {}",
                        m.seed,
                        m.setup.describe(),
                        m.reason,
                        m.replay_command()
                    );
                }
                res.known.extend(known);
                res.mismatches.extend(found);
                drop(res);
                progress(&line);
            });
        }
    });
    result.into_inner().unwrap()
}

/// A kept regression: a program, the setup it failed under, and whether it is
/// still an open bug (`# expect: open-bug`).
#[derive(Clone, Debug)]
pub struct Regression {
    pub path: PathBuf,
    pub program: Program,
    pub setup: Setup,
    pub open_bug: bool,
    pub note: String,
}

pub fn regressions_dir() -> PathBuf {
    harness::repo_root().join("proof/regressions")
}

/// Writes a shrunk program as `proof/regressions/<name>.prog`.
pub fn save_regression(name: &str, p: &Program, setup: &Setup, note: &str) -> PathBuf {
    let dir = regressions_dir();
    fs::create_dir_all(&dir).expect("regressions dir");
    let path = dir.join(format!("{name}.prog"));
    let mut text = format!("# nrt-proof regression: {}\n", note.lines().next().unwrap_or(""));
    let _ = writeln!(text, "# setup: {}", setup.replay_flags());
    text += "# expect: open-bug\n";
    text += &p.text(0);
    fs::write(&path, text).expect("writing the regression");
    path
}

pub fn parse_setup_flags(words: &[&str]) -> Result<Setup, String> {
    let mut setup = Setup::reference();
    let mut i = 0;
    while i < words.len() {
        match words[i] {
            "--reference" => setup.shim = None,
            "--gen" => {
                i += 1;
                setup.gen = words.get(i).and_then(|g| Gen::parse(g)).ok_or("--gen v2|v3")?;
            }
            "--inflight" => {
                i += 1;
                setup.shim = Some(words.get(i).and_then(|d| d.parse().ok()).ok_or("--inflight N")?);
            }
            "--env" => {
                i += 1;
                let (k, v) = words.get(i).and_then(|kv| kv.split_once('=')).ok_or("--env K=V")?;
                setup.env.push((k.to_string(), v.to_string()));
            }
            other => return Err(format!("unknown setup flag {other}")),
        }
        i += 1;
    }
    Ok(setup)
}

pub fn load_regression(path: &Path) -> Result<Regression, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut setup = None;
    let mut open_bug = false;
    let mut note = String::new();
    for line in text.lines() {
        if let Some(s) = line.strip_prefix("# setup:") {
            setup = Some(parse_setup_flags(&s.split_whitespace().collect::<Vec<_>>())?);
        } else if let Some(s) = line.strip_prefix("# expect:") {
            open_bug = s.trim() == "open-bug";
        } else if let Some(s) = line.strip_prefix("# nrt-proof regression:") {
            note = s.trim().to_string();
        }
    }
    let program = Program::parse(&text)?;
    Ok(Regression {
        path: path.to_path_buf(),
        program,
        setup: setup.ok_or_else(|| format!("{}: no `# setup:` line", path.display()))?,
        open_bug,
        note,
    })
}

pub fn all_regressions() -> Vec<Regression> {
    let mut v: Vec<Regression> = fs::read_dir(regressions_dir())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "prog"))
        .map(|p| load_regression(&p).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    v.sort_by(|a, b| a.path.cmp(&b.path));
    v
}

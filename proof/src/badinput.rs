//! Bad input (issue 4, part 3): every exported `nrt_*` function of the shim
//! (tests/exports.txt) times every kind of bad argument that applies to it,
//! under the simulator alone and under the shim (v3 and v2).
//!
//! The cases are in `proof/c/badinput.c`; `badinput list` names them, `badinput
//! run F K` runs one (a process per case, so a crash or a hang is one row's and
//! every row starts from the same state). Each run writes `@@begin`/`@@end`
//! markers around its one bad call on stderr, with write(2) like the libraries'
//! own log lines, so the lines logged for that call are exactly those between
//! the markers. For every row:
//!
//! - no run crashed, hung (watchdog) or failed its set-up;
//! - the shim's result (status, `void`, `null`/`nonnull`) equals the reference's;
//! - the shim logged exactly one line for the call, or, for the calls the runtime
//!   documents as valid (`accepted` in the C table: size 0 in range, freeing NULL,
//!   ...), exactly what the reference logged;
//! - the shim logged nothing outside the markers that the reference did not.
//!
//! Rows where the reference itself logs other than one line for a rejected call
//! are reported as reference anomalies and shown in the table (not failures).
//! The table in `proof/BAD_INPUT.md` is [`markdown`]'s output: the cargo test
//! compares it with the measured one.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::harness::{self, Gen, Output, Setup};

/// Each run's watchdog.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The command that regenerates `proof/BAD_INPUT.md`.
pub const REGENERATE: &str = "cargo run -p nrt-proof -- badinput --markdown > proof/BAD_INPUT.md";

/// One case of `proof/c/badinput.c`.
#[derive(Clone, Debug)]
pub struct Case {
    pub func: String,
    pub kind: String,
    /// `before` (no nrt_init), `open` (the fixture), `closed` (fixture + nrt_close), `self`.
    pub phase: String,
    /// The runtime documents the call as valid: the shim must log what it logs.
    pub accepted: bool,
    /// The shim's own API: absent from the runtime.
    pub shim_only: bool,
    pub desc: String,
}

/// What one run of one case did.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// `None`: no CASE line.
    pub result: Option<String>,
    /// The C expression of the bad call.
    pub call: Option<String>,
    /// The lines logged between the markers.
    pub lines: Vec<String>,
    /// Lines on stderr outside the markers (set-up, nrt_close, exit).
    pub stray: Vec<String>,
    /// Crash, hang, failed set-up, missing markers.
    pub problem: Option<String>,
}

/// One row of the table: a case under the reference and under each shim setup.
#[derive(Clone, Debug)]
pub struct Row {
    pub case: Case,
    pub reference: Run,
    /// (label, run) per shim setup, in [`shim_setups`] order.
    pub shims: Vec<(String, Run)>,
    /// Why the row fails, in full (empty: it passes).
    pub failures: Vec<String>,
    /// The same in short, one per failing run (`shim v3: 0 log lines for the call, expected 1`).
    pub reasons: Vec<String>,
    /// How the reference departs from "one line per rejected call".
    pub anomaly: Option<String>,
}

pub struct BadResult {
    pub rows: Vec<Row>,
    /// One entry per failing row (function, kind, statuses, line counts, lines, reproduction),
    /// and any coverage gap of the table.
    pub failures: Vec<String>,
    /// Rows where the reference itself does not log exactly one line for a rejected call.
    pub anomalies: Vec<String>,
    pub runs: usize,
    pub wall: Duration,
}

impl BadResult {
    pub fn summary(&self) -> String {
        let funcs: BTreeSet<&str> = self.rows.iter().map(|r| r.case.func.as_str()).collect();
        let failing = self.rows.iter().filter(|r| !r.failures.is_empty()).count();
        let mut s = format!(
            "bad input table: {} rows over {} functions, {} runs (reference, shim v3, shim v2), {} failing rows, {} \
             reference anomalies, {:.1?}",
            self.rows.len(),
            funcs.len(),
            self.runs,
            failing,
            self.anomalies.len(),
            self.wall
        );
        if self.failures.len() != failing {
            let _ = write!(s, "; {} failures in all (coverage gaps, repetitions)", self.failures.len());
        }
        s
    }
}

/// The environment of every run: two cores (tensors on core 0 and core 1), both logs at `warn`,
/// device memory mapped to the CPU (`NEURON_RT_MAP_HBM`: device tensors' addresses for the
/// `nrt_memcpy_to_device` and `nrt_get_dmabuf_fd` rows).
pub fn env() -> Vec<(String, String)> {
    [("NRT_SIM_CORES", "2"), ("NRT_SIM_LOG", "warn"), ("NRT_SHIM_LOG", "warn"), ("NEURON_RT_MAP_HBM", "1")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn reference_setup() -> Setup {
    Setup::reference().with_env(&env())
}

/// The shim setups, with their labels.
pub fn shim_setups() -> Vec<(String, Setup)> {
    vec![
        ("shim v3".to_string(), Setup::shim(Gen::V3, 4).with_env(&env())),
        ("shim v2".to_string(), Setup::shim(Gen::V2, 4).with_env(&env())),
    ]
}

/// The `nrt_*` and `nrta_*` exports of the shim (tests/exports.txt).
pub fn exported_functions() -> Vec<String> {
    let path = harness::repo_root().join("tests/exports.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(str::trim)
        .filter(|l| {
            let runtime = l.starts_with("nrt_") || l.starts_with("nrta_");
            !l.is_empty() && !l.starts_with('#') && runtime && !l.starts_with("nrt_async_shim_")
        })
        .map(String::from)
        .collect()
}

/// Functions that take no pointer argument (no NULL row).
const NO_POINTER: &[&str] =
    &["nrt_close", "nrt_async_drain_queued_execs", "nrt_barrier", "nrt_inspect_begin", "nrt_inspect_stop"];

/// The name of an NRT_STATUS value.
pub fn status_name(code: u32) -> Option<&'static str> {
    Some(match code {
        0 => "NRT_SUCCESS",
        1 => "NRT_FAILURE",
        2 => "NRT_INVALID",
        3 => "NRT_INVALID_HANDLE",
        4 => "NRT_RESOURCE",
        5 => "NRT_TIMEOUT",
        6 => "NRT_HW_ERROR",
        7 => "NRT_QUEUE_FULL",
        9 => "NRT_LOAD_NOT_ENOUGH_NC",
        10 => "NRT_UNSUPPORTED_NEFF_VERSION",
        11 => "NRT_FAIL_HOST_MEM_ALLOC",
        13 => "NRT_UNINITIALIZED",
        14 => "NRT_CLOSED",
        15 => "NRT_QUEUE_EMPTY",
        101 => "NRT_EXEC_UNIT_UNRECOVERABLE",
        1002 => "NRT_EXEC_BAD_INPUT",
        1003 => "NRT_EXEC_COMPLETED_WITH_NUM_ERR",
        1004 => "NRT_EXEC_COMPLETED_WITH_ERR",
        1005 => "NRT_EXEC_NC_BUSY",
        1006 => "NRT_EXEC_OOB",
        1100 => "NRT_COLL_PENDING",
        1200 => "NRT_EXEC_HW_ERR_COLLECTIVES",
        1201 => "NRT_EXEC_HW_ERR_HBM_UE",
        1202 => "NRT_EXEC_HW_ERR_NC_UE",
        1203 => "NRT_EXEC_HW_ERR_DMA_ABORT",
        1204 => "NRT_EXEC_SW_NQ_OVERFLOW",
        1205 => "NRT_EXEC_HW_ERR_REPAIRABLE_HBM_UE",
        1206 => "NRT_NETWORK_PROXY_FAILURE",
        _ => return None,
    })
}

/// A result as the table shows it: `3 NRT_INVALID_HANDLE`, `void`, `NULL`, ...
pub fn describe_result(r: Option<&str>) -> String {
    match r {
        None => "(none)".into(),
        Some("null") => "NULL".into(),
        Some("nonnull") => "non-NULL".into(),
        Some(s) => match s.parse::<u32>() {
            Ok(n) => match status_name(n) {
                Some(name) => format!("{n} {name}"),
                None => format!("{n}"),
            },
            Err(_) => s.to_string(),
        },
    }
}

fn is_success(r: Option<&str>) -> bool {
    r == Some("0")
}

/// The cases the program defines (`badinput list`, run under the reference setup).
pub fn cases(bin: &Path) -> Vec<Case> {
    let out = harness::run(bin, &["list".to_string()], &reference_setup(), TIMEOUT);
    assert!(out.ok(), "badinput list failed: {}", out.summary());
    out.stdout
        .lines()
        .filter_map(|l| l.strip_prefix("LIST "))
        .map(|l| {
            let mut w = l.splitn(5, ' ');
            let mut next = || w.next().unwrap_or_default().to_string();
            let (func, kind, phase, flags, desc) = (next(), next(), next(), next(), next());
            Case { func, kind, phase, accepted: flags == "accepted", shim_only: flags == "shim-only", desc }
        })
        .collect()
}

/// Splits one run's output into the CASE result, the call, and the lines inside and outside the markers.
pub fn parse_run(case: &Case, out: &Output) -> Run {
    let mut run = Run::default();
    let want = format!("CASE {} {} ", case.func, case.kind);
    for l in out.stdout.lines() {
        if let Some(r) = l.strip_prefix(&want) {
            run.result = Some(r.trim().to_string());
        } else if let Some(c) = l.strip_prefix("CALL ") {
            run.call = Some(c.to_string());
        }
    }
    let begin = format!("@@begin {} {}", case.func, case.kind);
    let (mut begun, mut ended) = (false, false);
    for l in out.stderr.lines() {
        if l == begin && !begun {
            begun = true;
        } else if l == "@@end" && begun && !ended {
            ended = true;
        } else if l.trim().is_empty() {
        } else if begun && !ended {
            run.lines.push(l.to_string());
        } else {
            run.stray.push(l.to_string());
        }
    }
    let mut problems = Vec::new();
    if out.timed_out {
        problems.push(format!("hung (killed by the {TIMEOUT:?} watchdog)"));
    } else if let Some(sig) = out.signal {
        problems.push(format!("killed by signal {sig}"));
    } else if out.code == Some(3) {
        problems.push("a set-up step failed".to_string());
    } else if out.code != Some(0) {
        problems.push(format!("exit status {:?}", out.code));
    }
    if !begun || !ended {
        problems.push(format!("markers missing (begin {begun}, end {ended})"));
    }
    if run.result.is_none() {
        problems.push("no CASE line".to_string());
    }
    if !problems.is_empty() {
        run.problem = Some(format!("{}\n{}", problems.join("; "), out.summary()));
    }
    run
}

fn lines_text(lines: &[String]) -> String {
    if lines.is_empty() {
        "(none)".into()
    } else {
        lines.iter().map(|l| format!("      | {l}")).collect::<Vec<_>>().join("\n").trim_start().to_string()
    }
}

/// The shell command that runs one case under a setup.
pub fn repro_command(bin: &Path, case: &Case, setup: &Setup) -> String {
    let mut s = String::new();
    if setup.shim.is_some() {
        let _ = write!(s, "LD_PRELOAD={} NRT_SHIM_MAX_INFLIGHT={} ", harness::shim_lib().display(), 4);
    }
    let _ = write!(s, "LD_LIBRARY_PATH={} ", harness::sim_dir(setup.gen).display());
    for (k, v) in &setup.env {
        let _ = write!(s, "{k}={v} ");
    }
    let _ = write!(s, "{} run {} {}", bin.display(), case.func, case.kind);
    s
}

/// Checks one row; fills its `failures` and `anomaly`.
fn judge(row: &mut Row, bin: &Path) {
    let case = row.case.clone();
    let reference = row.reference.clone();
    let call = reference.call.clone().or_else(|| row.shims.iter().find_map(|(_, r)| r.call.clone()));
    let call = call.unwrap_or_else(|| "(unknown)".into());
    let setups = shim_setups();
    if let Some(p) = &reference.problem {
        row.failures.push(format!("{}/{}: the reference run failed: {p}", case.func, case.kind));
        row.reasons.push(format!("reference: the run failed ({})", p.lines().next().unwrap_or_default()));
    }
    let ref_lines = reference.lines.len();
    let ref_rejects = !case.accepted;
    if !case.shim_only && reference.problem.is_none() {
        let r = reference.result.as_deref();
        if case.accepted && (!matches!(r, Some("0") | Some("void")) || ref_lines != 0) {
            row.anomaly = Some(format!(
                "marked accepted, but the reference returned {} with {ref_lines} log lines",
                describe_result(r)
            ));
        } else if ref_rejects && ref_lines != 1 {
            row.anomaly = Some(format!(
                "the reference returned {} with {ref_lines} log lines (not 1): {}",
                describe_result(r),
                lines_text(&reference.lines)
            ));
        } else if ref_rejects && is_success(r) {
            row.anomaly = Some("the reference accepts this call (NRT_SUCCESS)".to_string());
        }
    }
    for (label, run) in &row.shims {
        let setup = &setups.iter().find(|(l, _)| l == label).expect("setup label").1;
        let mut why = Vec::new();
        if let Some(p) = &run.problem {
            why.push(format!("the run failed ({})", p.lines().next().unwrap_or_default()));
        }
        let want_result = if case.shim_only { Some("2") } else { reference.result.as_deref() };
        if run.result.as_deref() != want_result && reference.problem.is_none() {
            why.push(format!(
                "result {} where the {} is {}",
                describe_result(run.result.as_deref()),
                if case.shim_only { "documented status" } else { "reference's" },
                describe_result(want_result)
            ));
        }
        let want_lines = if case.accepted { ref_lines } else { 1 };
        if run.lines.len() != want_lines {
            why.push(format!("{} log lines for the call, expected {want_lines}", run.lines.len()));
        }
        if run.stray.len() > reference.stray.len() {
            why.push(format!(
                "{} log lines outside the call where the reference has {}: {:?}",
                run.stray.len(),
                reference.stray.len(),
                run.stray
            ));
        }
        if !why.is_empty() {
            row.reasons.push(format!("{label}: {}", why.join("; ")));
            let full = run.problem.as_deref().map(|p| format!("\n    the run: {p}")).unwrap_or_default();
            row.failures.push(format!(
                "{}/{} under {label}: {}\n    reference: {} with {ref_lines} log lines: {}\n    {label}: {} with {} log \
                 lines: {}\n    call: {call}   ({}; phase {})\n    reproduce: {}{full}",
                case.func,
                case.kind,
                why.join("; "),
                describe_result(reference.result.as_deref()),
                lines_text(&reference.lines),
                describe_result(run.result.as_deref()),
                run.lines.len(),
                lines_text(&run.lines),
                case.desc,
                case.phase,
                repro_command(bin, &case, setup),
            ));
        }
    }
}

/// Coverage gaps: every exported function has rows, NULL rows where it takes a
/// pointer, before-nrt_init and after-nrt_close rows.
fn coverage(rows: &[Row]) -> Vec<String> {
    let mut kinds: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in rows {
        kinds.entry(r.case.func.as_str()).or_default().push(r.case.kind.as_str());
    }
    let mut gaps = Vec::new();
    for f in exported_functions() {
        let k = kinds.get(f.as_str()).cloned().unwrap_or_default();
        if k.is_empty() {
            gaps.push(format!("coverage: {f} (exported, tests/exports.txt) has no row"));
            continue;
        }
        if f != "nrt_init" && !k.contains(&"before-init") {
            gaps.push(format!("coverage: {f} has no before-init row"));
        }
        if !k.contains(&"after-close") {
            gaps.push(format!("coverage: {f} has no after-close row"));
        }
        if !NO_POINTER.contains(&f.as_str()) && !k.iter().any(|k| k.starts_with("null")) {
            gaps.push(format!("coverage: {f} has no NULL row"));
        }
    }
    gaps
}

/// Runs the whole table with `jobs` processes at a time.
pub fn run_with(jobs: usize) -> BadResult {
    run_filtered(jobs, None, 1)
}

/// Runs the rows whose `function/kind` starts with `only` (all: `None`),
/// `repeat` times (to chase a row that fails once in a while); the rows are the
/// first repetition's, the failures those of every repetition.
pub fn run_filtered(jobs: usize, only: Option<&str>, repeat: usize) -> BadResult {
    let start = Instant::now();
    let bin = harness::compile("badinput");
    let mut list = cases(&bin);
    if let Some(only) = only {
        list.retain(|c| format!("{}/{}", c.func, c.kind).starts_with(only));
    }
    let mut setups = vec![("reference".to_string(), reference_setup())];
    setups.extend(shim_setups());
    let mut first: Option<Vec<Row>> = None;
    let mut failures = Vec::new();
    let mut runs = 1;
    for rep in 0..repeat.max(1) {
        let rows = measure(&bin, &list, &setups, jobs);
        runs += list.len() * setups.len();
        for r in rows.iter().filter(|r| !r.failures.is_empty()) {
            let tag = if repeat > 1 { format!("[repetition {}] ", rep + 1) } else { String::new() };
            failures.push(format!("{tag}{}", r.failures.join("\n")));
        }
        first.get_or_insert(rows);
    }
    let rows = first.unwrap_or_default();
    if only.is_none() {
        failures.extend(coverage(&rows));
    }
    let anomalies = rows
        .iter()
        .filter_map(|r| r.anomaly.as_ref().map(|a| format!("{}/{}: {a}", r.case.func, r.case.kind)))
        .collect();
    BadResult { runs, rows, failures, anomalies, wall: start.elapsed() }
}

/// Every case under every setup, `jobs` processes at a time; the judged rows.
fn measure(bin: &Path, list: &[Case], setups: &[(String, Setup)], jobs: usize) -> Vec<Row> {
    let work: Vec<(usize, usize)> = (0..list.len()).flat_map(|c| (0..setups.len()).map(move |s| (c, s))).collect();
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<Option<Run>>> = Mutex::new(vec![None; work.len()]);
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(c, k)) = work.get(i) else { break };
                let case = &list[c];
                let out =
                    harness::run(bin, &["run".into(), case.func.clone(), case.kind.clone()], &setups[k].1, TIMEOUT);
                let run = parse_run(case, &out);
                done.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(run);
            });
        }
    });
    let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner()).into_iter();
    let mut rows = Vec::new();
    for case in list {
        let mut runs: Vec<Run> = (0..setups.len()).map(|_| done.next().flatten().unwrap_or_default()).collect();
        let reference = runs.remove(0);
        let shims = setups[1..].iter().map(|(l, _)| l.clone()).zip(runs).collect();
        let mut row = Row { case: case.clone(), reference, shims, failures: vec![], reasons: vec![], anomaly: None };
        judge(&mut row, bin);
        rows.push(row);
    }
    // Grouped by function (exports.txt is sorted), in the program's order within one.
    rows.sort_by(|a, b| a.case.func.cmp(&b.case.func));
    rows
}

pub fn run_all() -> BadResult {
    let jobs = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) * 2;
    run_with(jobs)
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// `proof/BAD_INPUT.md`: the prose and the measured table.
pub fn markdown(r: &BadResult) -> String {
    let mut s = String::new();
    let funcs: BTreeSet<&str> = r.rows.iter().map(|r| r.case.func.as_str()).collect();
    let failing = r.rows.iter().filter(|r| !r.failures.is_empty()).count();
    let _ = writeln!(
        s,
        "# Bad input: every exported function times every kind of bad argument

<!-- Generated by proof/src/badinput.rs; do not edit. Regenerate with:
     {REGENERATE} -->

Each row is one bad call, made by `proof/c/badinput.c` in a process of its own,
under the simulator alone (the reference: what the synchronous runtime does) and
with the shim preloaded over the v3 and the v2 simulator (`NRT_SHIM_MAX_INFLIGHT=4`,
`NRT_SIM_CORES=2`, `NRT_SIM_LOG=warn`, `NRT_SHIM_LOG=warn`). Before the call the
process sets up what the row needs: nothing (*before nrt_init*), or `nrt_init`
and a fixture: the model `tiny` on core 0 (input `x`, output `y`, 64 bytes
each), device tensors `X`, `Y` on core 0 and `C1` on core 1, a host tensor `H`,
an empty tensor (`nrt_tensor_allocate_empty`), the sets `IN` = {{x: X}} and `OUT` =
{{y: Y}}, and handles that were used by an execution and then freed (a tensor), destroyed
(a set) or unloaded (a model); rows *freed while an execution writes it* free a
tensor that a 300 ms execution still writes (under the shim its free is deferred,
so the runtime still knows the handle: the shim must reject it itself); then, for
*after nrt_close*, `nrt_close`. Handles
*never issued* are values such as `0xdead0000` (both libraries look handles up by
value and never dereference one they do not know).

The program writes `@@begin` and `@@end` to stderr around the call, with
write(2) as the libraries write their log lines, so the log lines of the call
are exactly those between the markers. A row passes when no run crashed or hung
(every run has a watchdog), the shim's result equals the reference's, and the
shim logged exactly one line for the call (for the calls the runtime documents
as valid, marked *accepted*: exactly what the runtime logged, i.e. nothing) and
nothing else the reference did not. `void` functions have no status; for
`nrt_tensor_get_va` the result is the pointer, for `nrt_tensor_get_size` the size.

`cargo test --test proof_badinput` runs the table and fails on every failing
row (naming it), and fails if this file differs from the measured table:
regenerate it with `{REGENERATE}`.

{} rows over {} functions; {} failing; {} where the reference itself does not log
exactly one line for a rejected call.",
        r.rows.len(),
        funcs.len(),
        failing,
        r.anomalies.len()
    );
    let _ = writeln!(s);
    let labels: Vec<String> =
        r.rows.first().map(|row| row.shims.iter().map(|(l, _)| l.clone()).collect()).unwrap_or_default();
    let _ = write!(s, "| function | bad argument | reference |");
    for l in &labels {
        let _ = write!(s, " {l} |");
    }
    let _ =
        writeln!(s, " log lines (reference{}) | check |", labels.iter().map(|l| format!(" / {l}")).collect::<String>());
    let _ = write!(s, "|---|---|---|");
    for _ in &labels {
        let _ = write!(s, "---|");
    }
    let _ = writeln!(s, "---|---|");
    let mut last = "";
    for row in &r.rows {
        let c = &row.case;
        let func = if c.func == last { String::new() } else { format!("`{}`", c.func) };
        last = &c.func;
        let mut arg = format!("`{}`: {}", c.kind, c.desc);
        if c.accepted {
            arg += " (*accepted*)";
        }
        let mut reference = if c.shim_only {
            "(not in the runtime)".to_string()
        } else {
            describe_result(row.reference.result.as_deref())
        };
        if row.reference.problem.is_some() {
            reference += " (run failed)";
        }
        let _ = write!(s, "| {func} | {} | {} |", cell(&arg), cell(&reference));
        for (_, run) in &row.shims {
            let same = !c.shim_only && run.result == row.reference.result && run.result.is_some();
            let v = if same { "same".to_string() } else { describe_result(run.result.as_deref()) };
            let v = if run.problem.is_some() { format!("{v} (run failed)") } else { v };
            let _ = write!(s, " {} |", cell(&v));
        }
        let mut counts = if c.shim_only { "-".to_string() } else { row.reference.lines.len().to_string() };
        for (_, run) in &row.shims {
            let _ = write!(counts, " / {}", run.lines.len());
        }
        let check = if !row.failures.is_empty() {
            "**FAIL**"
        } else if row.anomaly.is_some() {
            "ok (reference: see below)"
        } else {
            "ok"
        };
        let _ = writeln!(s, " {counts} | {check} |");
    }
    if !r.anomalies.is_empty() {
        let _ = writeln!(s, "\n## The reference's own departures\n");
        for row in r.rows.iter().filter(|r| r.anomaly.is_some()) {
            let _ = writeln!(
                s,
                "- `{}` `{}`: the reference returns {} with {} log lines.",
                row.case.func,
                row.case.kind,
                describe_result(row.reference.result.as_deref()),
                row.reference.lines.len()
            );
        }
    }
    if failing > 0 {
        let _ = writeln!(s, "\n## Failing rows\n");
        for row in r.rows.iter().filter(|r| !r.failures.is_empty()) {
            let what: Vec<String> = row
                .shims
                .iter()
                .map(|(label, run)| {
                    format!("{label} {} with {} log lines", describe_result(run.result.as_deref()), run.lines.len())
                })
                .collect();
            let reference = if row.case.shim_only {
                "absent".to_string()
            } else {
                format!(
                    "{} with {} log lines",
                    describe_result(row.reference.result.as_deref()),
                    row.reference.lines.len()
                )
            };
            let _ = writeln!(
                s,
                "- `{}` `{}` (`{}`): reference {reference}; {}. Why: {}.",
                row.case.func,
                row.case.kind,
                row.reference.call.as_deref().unwrap_or("?"),
                what.join("; "),
                row.reasons.join("; ")
            );
        }
    }
    s
}

/// `proof/BAD_INPUT.md`.
pub fn doc_path() -> PathBuf {
    harness::repo_root().join("proof/BAD_INPUT.md")
}

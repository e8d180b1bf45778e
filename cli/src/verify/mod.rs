//! `nrt-shim verify -- PROGRAM ARGS...`: runs the program twice as the reference
//! (the shim in passthrough: the runtime's own synchronous behaviour), then under
//! the shim at each depth, K times, alternating; each run recorded
//! (NRT_SHIM_RECORD) and compared with the reference thread by thread.
//!
//! Exit status: 0 identical, 1 a difference (the first is printed with the
//! command that reproduces it), 2 verify could not decide (the program cannot be
//! started, is killed by a signal or hangs in a reference run, never calls the
//! runtime, or a run hangs).

mod compare;
mod json;
mod recfile;
mod report;
mod runner;
mod timing;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use compare::Reference;
use runner::{Config, Outcome, Runner};

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// An in-flight depth to check (repeatable; default 1 and 4)
    #[arg(long = "depth", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub depths: Vec<u32>,
    /// Runs at each depth (alternating with the other depths)
    #[arg(long, value_name = "K", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub runs: u32,
    /// Run on nrt-sim, the simulator of libnrt.so.1, instead of the installed runtime
    #[arg(long)]
    pub sim: bool,
    /// The simulator's nrta_* generation (lib/ = 3, lib-v2/ = 2)
    #[arg(long, value_name = "2|3", value_parser = clap::value_parser!(u32).range(2..=3))]
    pub sim_abi: Option<u32>,
    /// Seconds each run may take before it is killed (with its process group)
    #[arg(long, value_name = "SECS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Write a report (versions, machine, program, runs, figures, first difference) as JSON here
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// The program and its arguments
    #[arg(required = true, last = true, value_name = "PROGRAM ARGS")]
    pub program: Vec<OsString>,
}

/// A run's place in the sequence, for the report.
pub struct Done {
    pub config: Config,
    pub outcome: Outcome,
    /// What the failure-timing contract explained in this run (none in references).
    pub timing: timing::Timing,
}

/// Why verify could not decide (exit status 2).
fn undecided(msg: impl std::fmt::Display) -> ExitCode {
    crate::error(msg);
    ExitCode::from(2)
}

pub fn verify(mut args: VerifyArgs) -> ExitCode {
    if args.depths.is_empty() {
        args.depths = vec![1, 4];
    }
    args.depths.sort_unstable();
    args.depths.dedup();
    let run_args = crate::RunArgs {
        max_inflight: None,
        mode: None,
        stats: None,
        trace: None,
        sim: args.sim,
        sim_abi: args.sim_abi,
        program: args.program.clone(),
    };
    let env = match crate::run::environment(&run_args, false) {
        Ok(e) => e,
        Err(e) => return undecided(e),
    };
    let dir = std::env::temp_dir().join(format!("nrt-shim-verify-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return undecided(format_args!("cannot create {}: {e}", dir.display()));
    }
    let mut runner =
        Runner { program: &args.program, env: &env, dir: &dir, timeout: Duration::from_secs(args.timeout), count: 0 };
    let program = std::path::Path::new(&args.program[0]).display().to_string();
    let mut done: Vec<Done> = Vec::new();
    let result = drive(&args, &mut runner, &mut done, &program);
    // The runtime the runs used, as run::environment chose it.
    let on_sim = args.sim || crate::locate::system_runtime().is_none();
    let abi = args.sim_abi.unwrap_or(if std::env::var("NRT_SIM_ASYNC_ABI").as_deref() == Ok("2") { 2 } else { 3 });
    let runtime_lib = if on_sim {
        crate::locate::sim_lib_dir(abi).ok().map(|d| d.join(crate::locate::RUNTIME))
    } else {
        crate::locate::system_runtime().map(|f| f.path)
    };
    let report = report::Report { args: &args, on_sim, runtime_lib, done: &done, result: &result };
    report.print();
    if let Some(path) = &args.json {
        if let Err(e) = std::fs::write(path, report.json()) {
            crate::error(format_args!("cannot write {}: {e}", path.display()));
        }
    }
    match result {
        Verdict::Identical(_) => {
            let _ = std::fs::remove_dir_all(&dir);
            ExitCode::SUCCESS
        }
        Verdict::Different(..) => {
            eprintln!("nrt-shim verify: the runs' records and stderr are kept in {}", dir.display());
            ExitCode::from(1)
        }
        Verdict::Undecided(msg) => {
            let code = undecided(msg);
            if done.is_empty() {
                let _ = std::fs::remove_dir_all(&dir);
            } else {
                eprintln!("nrt-shim verify: the runs' records and stderr are kept in {}", dir.display());
            }
            code
        }
    }
}

pub struct Figures {
    pub baseline: compare::Baseline,
    pub stdout_nondeterministic: bool,
    pub other_processes: usize,
}

pub enum Verdict {
    Identical(Figures),
    /// The first difference, the run it is in, and what a rerun with data says.
    Different(Figures, Box<Found>),
    Undecided(String),
}

pub struct Found {
    pub config: Config,
    pub run: usize,
    pub diff: Option<compare::Difference>,
    /// Exit status or stdout, when the calls are identical (or as well).
    pub other: Vec<String>,
    pub bytes: Option<String>,
}

/// A reference run that cannot serve as one.
fn check_reference(o: &Outcome, program: &str, k: usize, timeout: u64) -> Result<(), String> {
    if o.timed_out {
        return Err(format!("{program} did not finish within {timeout} s in reference run {k} (the runtime's own behaviour, without the shim): killed with its process group; raise --timeout if it is just slow"));
    }
    if let Some(s) = o.signal {
        return Err(format!(
            "{program} was killed by signal {s} ({}) in reference run {k} (passthrough, the runtime's own behaviour): verify needs a program that exits; see {}",
            runner::signal_name(s),
            o.stderr_path.display()
        ));
    }
    if o.record.as_ref().is_none_or(|p| p.threads.is_empty()) {
        return Err(format!(
            "{program} never called the Neuron runtime (no nrt_* call reached the shim; {}): is it linked against libnrt.so.1? `nrt-shim doctor {program}` says whether the shim is bypassed",
            o.exit_text()
        ));
    }
    Ok(())
}

fn drive(args: &VerifyArgs, runner: &mut Runner, done: &mut Vec<Done>, program: &str) -> Verdict {
    let (mut refs, mut results) = (Vec::new(), Vec::new());
    let verdict = drive_runs(args, runner, &mut refs, &mut results, program);
    done.append(&mut refs);
    done.append(&mut results);
    verdict
}

fn drive_runs(
    args: &VerifyArgs,
    runner: &mut Runner,
    done: &mut Vec<Done>,
    results: &mut Vec<Done>,
    program: &str,
) -> Verdict {
    for k in 1..=2 {
        match runner.run(Config::Reference, None) {
            Ok(o) => {
                let bad = check_reference(&o, program, k, args.timeout);
                eprintln!("nrt-shim verify: reference run {k}: {}, {:.2} s", o.exit_text(), o.wall.as_secs_f64());
                done.push(Done { config: Config::Reference, outcome: o, timing: Default::default() });
                if let Err(e) = bad {
                    return Verdict::Undecided(e);
                }
            }
            Err(e) => return Verdict::Undecided(e),
        }
    }
    let (r1, r2) = (&done[0].outcome, &done[1].outcome);
    let reference = Reference::new(r1.record.as_ref().expect("checked"), r2.record.as_ref().expect("checked"));
    let stdout_nondeterministic = r1.stdout_digest != r2.stdout_digest || r1.stdout_len != r2.stdout_len;
    let figures = || Figures {
        baseline: reference.baseline.clone(),
        stdout_nondeterministic,
        other_processes: r1.other_processes,
    };
    let mut found: Option<Found> = None;
    'runs: for k in 1..=args.runs as usize {
        for &d in &args.depths {
            let config = Config::Depth(d);
            let o = match runner.run(config, None) {
                Ok(o) => o,
                Err(e) => return Verdict::Undecided(e),
            };
            eprintln!("nrt-shim verify: depth {d}, run {k}: {}, {:.2} s", o.exit_text(), o.wall.as_secs_f64());
            if o.timed_out {
                let msg = format!(
                    "{program} did not finish within {} s at depth {d} (run {k}), though the reference runs did: killed with its process group; a hang the shim causes (report it, with --json) or slowness (raise --timeout)",
                    args.timeout
                );
                results.push(Done { config, outcome: o, timing: Default::default() });
                return Verdict::Undecided(msg);
            }
            let empty = recfile::Process::default();
            let compare::Compared { diff, timing } = reference.compare(o.record.as_ref().unwrap_or(&empty));
            let mut other = Vec::new();
            if (o.exit, o.signal) != (r1.exit, r1.signal) && (r1.exit, r1.signal) == (r2.exit, r2.signal) {
                other.push(format!("the program's exit differs: reference {}, shim {}", r1.exit_text(), o.exit_text()));
            }
            if !stdout_nondeterministic && (o.stdout_digest, o.stdout_len) != (r1.stdout_digest, r1.stdout_len) {
                other.push(format!("stdout differs ({} bytes in the reference, {} here)", r1.stdout_len, o.stdout_len));
            }
            if !other.is_empty() && diff.is_none() && !timing.deferrals.is_empty() {
                other.push(format!(
                    "the calls differ only by the documented failure timing ({}; README.md \"Errors\"): a program that prints or acts on the status it got sees it at the later call",
                    timing.moves(2)
                ));
            }
            results.push(Done { config, outcome: o, timing });
            if diff.is_some() || !other.is_empty() {
                found = Some(Found { config, run: k, diff, other, bytes: None });
                break 'runs;
            }
        }
    }
    match found {
        None => Verdict::Identical(figures()),
        Some(mut f) => {
            f.bytes = where_bytes_differ(runner, &f);
            Verdict::Different(figures(), Box::new(f))
        }
    }
}

/// For a read whose digests differ: both sides again, with that call's bytes recorded.
fn where_bytes_differ(runner: &mut Runner, f: &Found) -> Option<String> {
    let d = f.diff.as_ref()?;
    let (r, g) = (d.reference.call.as_ref()?, d.run.call.as_ref()?);
    if !r.is_read() || !g.is_read() || r.last == g.last {
        return None;
    }
    let data = |runner: &mut Runner, config: Config, thread: u32| -> Option<Vec<u8>> {
        let o = runner.run(config, Some((thread, d.index))).ok()?;
        let call = o.record?.threads.get(&thread)?.get(d.index)?.clone();
        (call.flags & recfile::F_DATA != 0).then_some(call.extra)
    };
    let (Some(a), Some(b)) =
        (data(runner, Config::Reference, d.reference.thread), data(runner, f.config, d.run.thread))
    else {
        return Some("the rerun with that call's bytes recorded did not reach it".into());
    };
    Some(match a.iter().zip(&b).position(|(x, y)| x != y) {
        Some(i) => format!(
            "the bytes first differ at byte {i} of the read (offset {} of the tensor): reference 0x{:02x}, shim 0x{:02x} (from a rerun of both with NRT_SHIM_RECORD_DATA={}:{})",
            r.offset + i as u64,
            a[i],
            b[i],
            d.run.thread,
            d.index
        ),
        None if a.len() != b.len() => format!("a rerun read {} bytes in the reference, {} under the shim", a.len(), b.len()),
        None => "a rerun of both with that call's bytes recorded read the same bytes: the difference comes and goes (a race)".into(),
    })
}

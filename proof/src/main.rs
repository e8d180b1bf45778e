//! `nrt-proof`: the soak and replay commands (see proof/README.md).
//!
//! ```text
//! nrt-proof soak [--programs N] [--seed S] [--jobs J] [--batch B] [--profiles mix,single,mem,threads]
//!                [--faults N] [--no-memcheck] [--no-rss] [--rss-executions N] [--shrink]
//! nrt-proof diff --profile P [--programs N] [--seed S] [--jobs J] [--batch B] [--shrink]
//! nrt-proof replay --profile P --seed S [setup flags] [--shrink [--save NAME]]
//! nrt-proof replay --file proof/regressions/X.prog
//! nrt-proof show --profile P --seed S          (prints the program)
//! nrt-proof faults [--programs N] [--seed S] [--jobs J]
//! nrt-proof badinput [--jobs J] [--markdown] [--only FUNCTION[/KIND]] [--repeat N]
//!                    (--markdown: print proof/BAD_INPUT.md; --only/--repeat: chase one row)
//! nrt-proof memcheck [--ops N]
//! nrt-proof rss [--executions N]
//! ```
//! setup flags: `--reference` | `--gen v2|v3 --inflight N`, `--env K=V` (repeatable).
//! The command builds the shim and both simulators of its own profile first.

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use nrt_proof::diff::{self, Campaign};
use nrt_proof::gen::generate;
use nrt_proof::harness::{self, Setup};
use nrt_proof::{badinput, faults};

struct Args(Vec<String>);

impl Args {
    fn flag(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.0.iter().position(|a| a == name).and_then(|i| self.0.get(i + 1)).map(|s| s.as_str())
    }

    fn num(&self, name: &str, default: u64) -> u64 {
        self.value(name).map(|v| v.parse().unwrap_or_else(|_| panic!("{name} takes a number"))).unwrap_or(default)
    }

    fn setup_words(&self) -> Vec<&str> {
        let mut v = Vec::new();
        let mut i = 0;
        while i < self.0.len() {
            match self.0[i].as_str() {
                "--reference" => v.push("--reference"),
                "--gen" | "--inflight" | "--env" => {
                    v.push(self.0[i].as_str());
                    if let Some(x) = self.0.get(i + 1) {
                        v.push(x.as_str());
                    }
                    i += 1;
                }
                _ => {}
            }
            i += 1;
        }
        v
    }
}

fn build_artefacts() {
    if std::env::var_os("NRT_PROOF_NO_BUILD").is_some() {
        return;
    }
    let release = harness::profile_dir().file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-q", "-p", "nrt-async-shim", "-p", "nrt-sim", "-p", "nrt-sim-v2"]);
    if release {
        cmd.arg("--release");
    }
    cmd.current_dir(harness::repo_root());
    let st = cmd.status().expect("running cargo build");
    assert!(st.success(), "building the shim and the simulators failed");
}

fn jobs(args: &Args) -> usize {
    args.num("--jobs", std::thread::available_parallelism().map(|n| n.get() as u64).unwrap_or(2)) as usize
}

fn campaign(args: &Args, profile: &str, count: u64, seed: u64) -> diff::CampaignResult {
    let profile = diff::profile(profile).unwrap_or_else(|| panic!("unknown profile {profile}"));
    let default_batch = if profile.name == "threads" { 10 } else { 200 };
    let c = Campaign {
        setups: diff::shim_setups(&profile.env),
        profile,
        first_seed: seed,
        count,
        batch: args.num("--batch", default_batch) as usize,
        jobs: jobs(args),
        timeout: Duration::from_secs(args.num("--timeout", 300)),
    };
    let res = diff::run_campaign(&c, &|l| eprintln!("{l}"));
    if args.flag("--shrink") {
        for m in res.mismatches.iter().take(3) {
            shrink_and_save(&c.profile, m.seed, &m.setup, args.value("--save"));
        }
    }
    res
}

fn shrink_and_save(profile: &diff::Profile, seed: u64, setup: &Setup, save: Option<&str>) {
    let p = generate(seed, &profile.gen);
    let timeout = Duration::from_secs(60);
    let mut fails = |cand: &nrt_proof::program::Program| {
        (0..3).any(|_| {
            diff::check_one(cand, setup, timeout).is_some_and(|why| !why.starts_with("the reference run failed"))
        })
    };
    let min = diff::shrink(&p, &mut fails, &mut |l| eprintln!("{l}"));
    let reason = diff::check_one(&min, setup, timeout).unwrap_or_else(|| "(did not reproduce this time)".into());
    println!("minimal program ({} ops) under {}: {reason}\n{}", min.ops.len(), setup.describe(), min.text(0));
    let name = save.map(|s| s.to_string()).unwrap_or_else(|| format!("{}-{seed}", profile.name));
    let path = diff::save_regression(&name, &min, setup, &reason);
    println!("saved {}", path.display());
}

/// The profile's environment under the setup's own (`--env` given on the command line wins).
fn with_profile_env(setup: &mut Setup, profile: &diff::Profile) {
    let own: Vec<String> = setup.env.iter().map(|(k, _)| k.clone()).collect();
    let inherited = profile.env.iter().filter(|(k, _)| !own.contains(k)).cloned();
    setup.env.splice(0..0, inherited.collect::<Vec<_>>());
}

fn cmd_replay(args: &Args) -> ExitCode {
    if let Some(file) = args.value("--file") {
        let r = diff::load_regression(std::path::Path::new(file)).unwrap_or_else(|e| panic!("{e}"));
        return match diff::check_one(&r.program, &r.setup, Duration::from_secs(60)) {
            Some(why) => {
                println!("MISMATCH under {}: {why}", r.setup.describe());
                ExitCode::FAILURE
            }
            None => {
                println!("ok: identical to the reference under {}", r.setup.describe());
                ExitCode::SUCCESS
            }
        };
    }
    let profile = diff::profile(args.value("--profile").unwrap_or("mix")).expect("unknown profile");
    let seed = args.num("--seed", 0);
    let words = args.setup_words();
    let setups = if words.is_empty() {
        diff::shim_setups(&profile.env)
    } else {
        let mut s = diff::parse_setup_flags(&words).unwrap_or_else(|e| panic!("{e}"));
        with_profile_env(&mut s, &profile);
        vec![s]
    };
    let p = generate(seed, &profile.gen);
    let mut bad = false;
    for s in &setups {
        match diff::check_one(&p, s, Duration::from_secs(120)) {
            Some(why) => {
                bad = true;
                println!("MISMATCH seed {seed} under {}: {why}", s.describe());
                if args.flag("--shrink") {
                    shrink_and_save(&profile, seed, s, args.value("--save"));
                }
            }
            None => println!("ok: seed {seed} identical under {}", s.describe()),
        }
    }
    if bad {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Several programs in one process (state carried across nrt_close / nrt_init).
fn cmd_batch(args: &Args) -> ExitCode {
    let profile = diff::profile(args.value("--profile").unwrap_or("mix")).expect("unknown profile");
    let seeds: Vec<u64> =
        args.value("--seeds").unwrap_or("0").split(',').map(|s| s.parse().expect("--seeds a,b,c")).collect();
    let mut setup = diff::parse_setup_flags(&args.setup_words()).unwrap_or_else(|e| panic!("{e}"));
    with_profile_env(&mut setup, &profile);
    let progs: Vec<_> = seeds.iter().map(|s| generate(*s, &profile.gen)).collect();
    match diff::check_batch(&progs, &setup, Duration::from_secs(120)) {
        Some(why) => {
            println!("MISMATCH seeds {seeds:?} in one process under {}: {why}", setup.describe());
            ExitCode::FAILURE
        }
        None => {
            println!("ok: seeds {seeds:?} in one process under {}", setup.describe());
            ExitCode::SUCCESS
        }
    }
}

/// The storm of `storm`: `--storm N` (as violations print it), or batch
/// `--batch-index` of `faults --seed`.
fn storm_arg(args: &Args) -> u64 {
    match args.value("--storm") {
        Some(_) => args.num("--storm", 0),
        None => faults::storm_index(faults::Storms::All, args.num("--seed", 1), args.num("--batch-index", 0)),
    }
}

fn cmd_soak(args: &Args) -> ExitCode {
    let start = Instant::now();
    let n = args.num("--programs", 100_000);
    let seed = args.num("--seed", 1);
    let profiles: Vec<String> =
        args.value("--profiles").unwrap_or("mix,single,mem,threads").split(',').map(String::from).collect();
    let mut total = 0u64;
    let mut mismatches = 0usize;
    let mut summary = Vec::new();
    // N programs in all: threads programs (8 threads, ~8x longer) a fiftieth of
    // them, the other families a share each, and the first family the rest (for
    // N = 100,000: 48,000 mix, 25,000 single, 25,000 mem, 2,000 threads).
    let mut counts: Vec<u64> = profiles
        .iter()
        .map(|p| if p == "threads" { (n / 50).max(20).min(n) } else { n / profiles.len() as u64 })
        .collect();
    let planned: u64 = counts.iter().sum();
    counts[0] += n.saturating_sub(planned);
    eprintln!("soak: {}", profiles.iter().zip(&counts).map(|(p, c)| format!("{c} {p}")).collect::<Vec<_>>().join(", "));
    for (i, prof) in profiles.iter().enumerate() {
        let count = counts[i];
        let r = campaign(args, prof, count, seed + (i as u64) * 10_000_000);
        total += r.programs;
        mismatches += r.mismatches.len();
        summary.push(format!(
            "differential [{prof}]: {} programs, {} ops, {} runs, {} mismatches",
            r.programs,
            r.ops,
            r.runs,
            r.mismatches.len()
        ));
        for m in &r.mismatches {
            summary.push(format!(
                "  seed {} under {}: {}\n  replay: {}",
                m.seed,
                m.setup.describe(),
                m.reason,
                m.replay_command()
            ));
        }
    }
    summary.push(format!("differential total: {total} programs, {mismatches} mismatches"));
    let fault_n = args.num("--faults", (n / 20).max(200));
    let f = faults::run_storms(fault_n, seed, jobs(args), &|l| eprintln!("{l}"));
    mismatches += f.violations.len();
    summary.push(f.summary());
    let b = badinput::run_all();
    mismatches += b.failures.len();
    summary.push(b.summary());
    summary.extend(b.failures.iter().map(|f| format!("  {f}")));
    if !args.flag("--no-memcheck") {
        let m = faults::memcheck(args.num("--ops", 10_000));
        if !m.ok {
            mismatches += 1;
        }
        summary.push(m.summary);
    }
    if !args.flag("--no-rss") {
        let r = faults::rss(args.num("--rss-executions", 1_000_000));
        if !r.ok {
            mismatches += 1;
        }
        summary.push(r.summary);
    }
    println!("==== nrt-proof soak: {:.0?} ====", start.elapsed());
    for l in &summary {
        println!("{l}");
    }
    if mismatches == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = Args(argv.clone());
    let Some(cmd) = argv.first() else {
        eprintln!(
            "usage: nrt-proof soak|diff|replay|show|faults|badinput|memcheck|rss [options] (see proof/README.md)"
        );
        return ExitCode::FAILURE;
    };
    if cmd != "show" {
        build_artefacts();
    }
    match cmd.as_str() {
        "soak" => cmd_soak(&args),
        "diff" => {
            let r = campaign(
                &args,
                args.value("--profile").unwrap_or("mix"),
                args.num("--programs", 1000),
                args.num("--seed", 1),
            );
            println!(
                "{} programs, {} ops, {} runs, {} mismatches, {} known-bug mismatches",
                r.programs,
                r.ops,
                r.runs,
                r.mismatches.len(),
                r.known.len()
            );
            for m in r.known.iter().take(5) {
                println!("known: seed {} under {}: {}", m.seed, m.setup.describe(), m.reason);
            }
            for m in &r.mismatches {
                println!(
                    "seed {} under {}: {}\n  replay: {}",
                    m.seed,
                    m.setup.describe(),
                    m.reason,
                    m.replay_command()
                );
            }
            if r.mismatches.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        "replay" => cmd_replay(&args),
        "storm" if args.flag("--shrink") => {
            let p = faults::shrink_storm(storm_arg(&args), args.num("--program", 0));
            println!("{}", p.text(0));
            ExitCode::SUCCESS
        }
        "storm" => match faults::replay_storm(storm_arg(&args), args.num("--program", 0)) {
            Some(why) => {
                println!("VIOLATION: {why}");
                ExitCode::FAILURE
            }
            None => {
                println!("ok");
                ExitCode::SUCCESS
            }
        },
        "batch" => cmd_batch(&args),
        "show" => {
            let profile = diff::profile(args.value("--profile").unwrap_or("mix")).expect("unknown profile");
            print!("{}", generate(args.num("--seed", 0), &profile.gen).text(0));
            ExitCode::SUCCESS
        }
        "faults" => {
            // --transfers: storms of failing transfers only.
            let which = if args.flag("--transfers") { faults::Storms::Transfers } else { faults::Storms::All };
            let (n, seed) = (args.num("--programs", 1000), args.num("--seed", 1));
            let f = faults::run_campaign(which, n, 50, seed, jobs(&args), &|l| eprintln!("{l}"));
            println!("{}", f.summary());
            if f.violations.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        "badinput" => {
            let b = match (args.value("--jobs"), args.value("--only"), args.value("--repeat")) {
                (None, None, None) => badinput::run_all(),
                _ => badinput::run_filtered(jobs(&args), args.value("--only"), args.num("--repeat", 1) as usize),
            };
            if args.flag("--markdown") {
                // The document on stdout (proof/BAD_INPUT.md), the verdict on stderr.
                print!("{}", badinput::markdown(&b));
                eprintln!("{}", b.summary());
                for f in &b.failures {
                    eprintln!("  {f}");
                }
                return ExitCode::SUCCESS;
            }
            println!("{}", b.summary());
            for a in &b.anomalies {
                println!("  reference anomaly: {a}");
            }
            for f in &b.failures {
                println!("  {f}");
            }
            if b.failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        "memcheck" => {
            let m = faults::memcheck(args.num("--ops", 10_000));
            println!("{}", m.summary);
            if m.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        "rss" => {
            let r = faults::rss(args.num("--executions", 1_000_000));
            println!("{}", r.summary);
            if r.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        other => {
            eprintln!("unknown command {other}");
            ExitCode::FAILURE
        }
    }
}

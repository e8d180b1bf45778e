//! `cargo run --release -p nrt-bench [-- --quick] [--json PATH] [--reps N]`
//!
//! Builds the shim, the simulator and the C programs, then runs every workload of
//! bench/workloads/ under four configurations, alternating them, several
//! repetitions each, and prints the median iterations per second, the device
//! utilisation (busiest unit's busy time over wall time, from the simulator's
//! report), the device bound (the busiest unit's busy time alone) and the ratios
//! shim/implicit, shim/sync, shim/expert, shim/bound; `--json PATH` writes the same.
//!
//! Other tasks: `cost` (wall time added per nrt_execute, non-waiting and
//! waiting, src/cost.rs), `overhead` (per-call cost on an instant device, callgrind
//! instruction counts), `scale` (per-call cost against live tensors, requests in
//! flight and threads), `alloc` (heap allocations per call in steady state),
//! `record` (what NRT_SHIM_RECORD costs per read),
//! `sim` (the simulator's own cost, and its timing at large tensor sizes).

mod cost;
mod micro;
mod record;
mod simcost;

use nrt_bench::{
    busiest_unit_us, json_number, line_value, median, prepare, run_program, Json, Paths, Workload, CONFIGS,
    IMPLICIT_CONFIGS, WORKLOADS,
};
use std::collections::BTreeMap;
use std::process::exit;
use std::time::{Duration, Instant};

fn usage() -> ! {
    eprintln!(
        "usage: nrt-bench [--quick] [--json PATH] [--reps N]   workloads: sync / implicit / shim / expert / bound\n       \
         nrt-bench overhead [--quick] [--json PATH]       per-call overhead, instant device, callgrind\n       \
         nrt-bench scale [--quick] [--json PATH]          per-call overhead against tensors, in-flight, threads\n       \
         nrt-bench cost [--quick] [--json PATH] [--reps N] wall time added per nrt_execute: non-waiting, waiting\n       \
         nrt-bench alloc [--quick]                        heap allocations per call in steady state\n       \
         nrt-bench record [--quick] [--json PATH] [--reps N] NRT_SHIM_RECORD's cost per read (time, callgrind)\n       \
         nrt-bench sim [--quick] [--json PATH] [--reps N] [--baseline LIBNRT_SIM.so]\n       \
                                                          the simulator's own cost (vs. another build of it)"
    );
    exit(2)
}

pub struct Opts {
    pub quick: bool,
    pub json: Option<String>,
    pub reps: Option<usize>,
    /// `sim`: another build of the simulator to compare with, alternated.
    pub baseline: Option<String>,
}

fn parse(args: &[String]) -> Opts {
    let mut o = Opts { quick: false, json: None, reps: None, baseline: None };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => o.quick = true,
            "--json" => o.json = Some(it.next().unwrap_or_else(|| usage()).clone()),
            "--baseline" => o.baseline = Some(it.next().unwrap_or_else(|| usage()).clone()),
            "--reps" => {
                o.reps = Some(it.next().and_then(|n| n.parse().ok()).filter(|&n| n > 0).unwrap_or_else(|| usage()))
            }
            _ => usage(),
        }
    }
    o
}

/// The environment of a configuration (the simulator's report path is added per run).
fn config_env(paths: &Paths, config: &str) -> Vec<(String, String)> {
    let kv = |k: &str, v: &str| (k.to_string(), v.to_string());
    match config {
        "sync" => vec![kv("NRT_SIM_RUNTIME", "2.32")],
        "implicit-all" | "implicit-storage" => vec![
            kv("NRT_SIM_RUNTIME", "2.30"),
            kv("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS", "3"),
            kv("NRT_SIM_IMPLICIT_FENCE", config.trim_start_matches("implicit-")),
        ],
        "shim" => vec![
            kv("NRT_SIM_RUNTIME", "2.32"),
            kv("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS", "3"),
            kv("LD_PRELOAD", &paths.shim.display().to_string()),
        ],
        // The shim with writes up to 1 MiB staged (off by default): what staging gives.
        "shim-stage" => vec![
            kv("NRT_SIM_RUNTIME", "2.32"),
            kv("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS", "3"),
            kv("LD_PRELOAD", &paths.shim.display().to_string()),
            kv("NRT_SHIM_STAGE_MAX_BYTES", "1048576"),
        ],
        "expert" => vec![kv("NRT_SIM_RUNTIME", "2.32")],
        _ => unreachable!(),
    }
}

struct RunResult {
    iterations: u64,
    elapsed_us: u64,
    wall_us: u64,
    busiest_us: u64,
    hazards: u64,
}

fn run_one(paths: &Paths, w: &Workload, config: &str, quick: bool, rep: usize) -> RunResult {
    let (workload, program) = (w.name, w.program);
    let exe = paths.bin.join(if config == "expert" { format!("{program}_expert") } else { program.to_string() });
    let report = paths.out.join(format!("{workload}.{config}.{rep}.report.json"));
    let _ = std::fs::remove_file(&report);
    let mut env = config_env(paths, config);
    env.extend(w.env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env.push(("NRT_SIM_REPORT".into(), report.display().to_string()));
    let args = w.args(quick);
    let out = run_program(paths, &exe, &args, &env, Duration::from_secs(120)).unwrap_or_else(|e| {
        eprintln!("nrt-bench: {workload} ({config}): {e}");
        exit(1)
    });
    if !out.success {
        eprintln!("nrt-bench: {workload} ({config}) failed:\n{}{}", out.stdout, out.stderr);
        exit(1);
    }
    let num = |k: &str| line_value(&out.stdout, k).and_then(|v| v.parse::<u64>().ok());
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    let (Some(iterations), Some(elapsed_us), Some(wall_us)) =
        (num("iterations"), num("elapsed_us"), json_number(&text, "wall_us"))
    else {
        eprintln!("nrt-bench: {workload} ({config}): no iterations/elapsed_us line or no report:\n{}", out.stdout);
        exit(1)
    };
    let hazards = json_number(&text, "hazards").unwrap_or(0);
    if hazards > 0 {
        eprintln!("nrt-bench: warning: {workload} ({config}) rep {rep}: {hazards} hazards in {}", report.display());
    }
    RunResult { iterations, elapsed_us, wall_us, busiest_us: busiest_unit_us(&text), hazards }
}

/// The 1-minute load average, as text ("?" where /proc/loadavg is missing).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        f64::NAN
    }
}

fn workloads(opts: &Opts) {
    let started = Instant::now();
    let load_before = loadavg();
    let paths = prepare().unwrap_or_else(|e| {
        eprintln!("nrt-bench: {e}");
        exit(1)
    });
    let reps = opts.reps.unwrap_or(if opts.quick { 1 } else { 5 });
    eprintln!(
        "nrt-bench: {} workloads x {} configurations x {reps} repetitions{}",
        WORKLOADS.len(),
        CONFIGS.len(),
        if opts.quick { " (quick: tiny iteration counts, the figures mean nothing)" } else { "" }
    );
    let mut by: BTreeMap<(&str, &str), Vec<RunResult>> = BTreeMap::new();
    for w in &WORKLOADS {
        for rep in 0..reps {
            // Alternate: each repetition starts with the next configuration.
            for k in 0..CONFIGS.len() {
                let c = CONFIGS[(k + rep) % CONFIGS.len()];
                let r = run_one(&paths, w, c, opts.quick, rep);
                by.entry((w.name, c)).or_default().push(r);
            }
        }
        eprintln!("nrt-bench: {} done ({:.0} s)", w.name, started.elapsed().as_secs_f64());
    }

    let mut table = String::new();
    let mut jw = BTreeMap::new();
    table.push_str(&format!(
        "{:<17} {:<16} {:>10} {:>8} {:>8}  {:>13} {:>10} {:>9} {:>11} {:>10}\n",
        "workload",
        "config",
        "iter/s",
        "util",
        "hazards",
        "shim/implicit",
        "(weaker)",
        "shim/sync",
        "shim/expert",
        "shim/bound"
    ));
    for &Workload { name: w, what, .. } in &WORKLOADS {
        let mut cj = BTreeMap::new();
        let mut ips = BTreeMap::new();
        let mut busiest_all = Vec::new();
        let mut iterations = 0;
        for c in CONFIGS {
            let runs = &by[&(w, c)];
            iterations = runs[0].iterations;
            let v: Vec<f64> = runs.iter().map(|r| r.iterations as f64 / (r.elapsed_us.max(1) as f64 / 1e6)).collect();
            let u: Vec<f64> = runs.iter().map(|r| r.busiest_us as f64 / r.wall_us.max(1) as f64).collect();
            busiest_all.extend(runs.iter().map(|r| r.busiest_us as f64));
            let hz: u64 = runs.iter().map(|r| r.hazards).sum();
            ips.insert(c, (median(&v), median(&u), hz));
            let run_list = runs
                .iter()
                .map(|r| {
                    Json::obj([
                        ("elapsed_us", Json::Int(r.elapsed_us as i64)),
                        ("wall_us", Json::Int(r.wall_us as i64)),
                        ("busiest_busy_us", Json::Int(r.busiest_us as i64)),
                        ("hazards", Json::Int(r.hazards as i64)),
                    ])
                })
                .collect();
            cj.insert(
                c.to_string(),
                Json::obj([
                    ("iters_per_s", Json::Num(median(&v))),
                    ("utilisation", Json::Num(median(&u))),
                    ("hazards", Json::Int(hz as i64)),
                    ("runs", Json::Arr(run_list)),
                ]),
            );
        }
        let busiest = median(&busiest_all);
        let bound = iterations as f64 / (busiest.max(1.0) / 1e6);
        cj.insert(
            "bound".into(),
            Json::obj([("iters_per_s", Json::Num(bound)), ("busiest_busy_us", Json::Num(busiest))]),
        );
        let shim = ips["shim"].0;
        // The claim is made against the stronger (faster) implicit variant; the
        // weaker is shown beside it.
        let [a, b] = IMPLICIT_CONFIGS;
        let (strong, weak) = if ips[a].0 >= ips[b].0 { (a, b) } else { (b, a) };
        let ratios = [
            ("shim/implicit", ratio(shim, ips[strong].0)),
            ("shim/implicit-weaker", ratio(shim, ips[weak].0)),
            ("shim/sync", ratio(shim, ips["sync"].0)),
            ("shim/expert", ratio(shim, ips["expert"].0)),
            ("shim/bound", ratio(shim, bound)),
        ];
        for c in CONFIGS {
            let (v, u, hz) = ips[c];
            let tail = if c == "shim" {
                format!(
                    "  {:>12.2}x {:>9.2}x {:>8.2}x {:>10.2}x {:>9.2}x",
                    ratios[0].1, ratios[1].1, ratios[2].1, ratios[3].1, ratios[4].1
                )
            } else if c == strong {
                "  (stronger implicit)".to_string()
            } else {
                String::new()
            };
            table.push_str(&format!("{w:<17} {c:<16} {v:>10.1} {:>7.1}% {hz:>8}{tail}\n", u * 100.0));
        }
        table.push_str(&format!("{w:<17} {:<16} {bound:>10.1} {:>7.1}%\n", "bound", 100.0));
        jw.insert(
            w.to_string(),
            Json::obj([
                ("what", Json::Str(what.into())),
                ("iterations", Json::Int(iterations as i64)),
                ("configs", Json::Obj(cj)),
                ("ratios", Json::Obj(ratios.iter().map(|(k, v)| (k.to_string(), Json::Num(*v))).collect())),
                ("implicit_stronger", Json::Str(strong.into())),
            ]),
        );
    }
    println!("{table}");
    println!(
        "iter/s: median over {reps} runs of iterations / the program's loop time; util: busiest unit's busy_us / wall_us \
         (simulator report); bound: iterations / busiest unit's busy_us. shim/implicit: against the stronger (faster) \
         of the two implicit-mode fence rules (NRT_SIM_IMPLICIT_FENCE=all | storage), the weaker beside it. {:.0} s in all.",
        started.elapsed().as_secs_f64()
    );
    let load_after = loadavg();
    println!(
        "load average (1 min) before {load_before} after {load_after}: other work on the machine distorts every figure"
    );
    if let Some(path) = &opts.json {
        let doc = Json::obj([
            ("quick", Json::Bool(opts.quick)),
            ("repetitions", Json::Int(reps as i64)),
            ("cpus", Json::Int(std::thread::available_parallelism().map(|n| n.get() as i64).unwrap_or(0))),
            ("loadavg_before", Json::Str(load_before)),
            ("loadavg_after", Json::Str(load_after)),
            ("workloads", Json::Obj(jw)),
        ]);
        if let Err(e) = std::fs::write(path, doc.to_text()) {
            eprintln!("nrt-bench: cannot write {path}: {e}");
            exit(1);
        }
        eprintln!("nrt-bench: wrote {path}");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("overhead") => micro::overhead(&parse(&args[1..])),
        Some("cost") => cost::cost(&parse(&args[1..])),
        Some("scale") => micro::scale(&parse(&args[1..])),
        Some("alloc") => micro::alloc(&parse(&args[1..])),
        Some("record") => record::record(&parse(&args[1..])),
        Some("sim") => simcost::sim(&parse(&args[1..])),
        Some("-h" | "--help") => usage(),
        _ => workloads(&parse(&args)),
    }
}

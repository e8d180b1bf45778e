//! `nrt-shim demo`: the bundled legacy program (tests/legacy/p2_double_buffer.c,
//! compiled by `cargo xtask demo` or installed by `cargo xtask install`) run four
//! ways on the simulator: the synchronous runtime, the old implicit async mode under
//! each of its two fence rules (`NRT_SIM_IMPLICIT_FENCE=all`: every read and write
//! waits for all pending executions, the documentation's rule; `=storage`: a read
//! waits only for in-flight writes of its storage, a write for all in-flight access
//! of it, the 2.31.24 runtime binary's rule), and the shim. The shim is judged against
//! the faster implicit run, the weaker shown beside it. A trace and a timeline of each
//! run, and `compare.svg`, all of them on one time axis.
//!
//! Where each trace comes from:
//! - `shim`: the shim's own trace (NRT_SHIM_TRACE): host calls with their blocked
//!   time, device work per request as the shim saw it.
//! - the others: the shim cannot be there (these are the runs without it; it would
//!   also remove the implicit mode's variable), so `libnrt_demo_timeline.so`
//!   (cli/demo/timeline.c) is preloaded instead; see timeline.rs.
//!
//! The machine is shared and noisy: each configuration runs `--repeat` times (5),
//! the four alternating, and the table gives the median and the range; the files
//! are those of the median run.

mod run;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::locate;
use crate::svg::{self, Run};
use crate::trace::Trace;

const LATENCY_US: u32 = 1000;
const HOST_US: u32 = 600;
const TIMELINE_LIB: &str = "libnrt_demo_timeline.so";
/// Within this share, two measurements on a shared machine are "alike".
const NOISE: f64 = 0.10;

struct Config {
    name: &'static str,
    what: &'static str,
    env: Vec<(&'static str, &'static str)>,
    shim: bool,
    implicit: bool,
}

/// What the runs of one configuration measured (the median run's figures and trace).
struct Outcome {
    wall_us: f64,
    min_us: f64,
    max_us: f64,
    util: f64,
    /// Over all runs.
    hazards: u64,
    trace: Option<Trace>,
}

fn configs() -> [Config; 4] {
    let implicit = |fence| {
        vec![
            ("NRT_SIM_RUNTIME", "2.30"),
            ("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS", "3"),
            ("NRT_SIM_IMPLICIT_FENCE", fence),
        ]
    };
    [
        Config {
            name: "sync",
            what: "SDK 2.31+ runtime, no shim (what legacy binaries get today)",
            env: vec![("NRT_SIM_RUNTIME", "2.32")],
            shim: false,
            implicit: false,
        },
        Config {
            name: "implicit-all",
            what: "SDK 2.30, NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS=3; reads and writes wait for all pending executions (the documentation's rule)",
            env: implicit("all"),
            shim: false,
            implicit: true,
        },
        Config {
            name: "implicit-storage",
            what: "SDK 2.30, same variable; a read waits only for writes of its storage (the 2.31.24 binary's rule)",
            env: implicit("storage"),
            shim: false,
            implicit: true,
        },
        Config {
            name: "shim",
            what: "SDK 2.31+ runtime, nrt-async-shim preloaded, same variable",
            env: vec![("NRT_SIM_RUNTIME", "2.32"), ("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS", "3")],
            shim: true,
            implicit: false,
        },
    ]
}

pub fn demo(iterations: u32, repeat: u32, out: Option<PathBuf>, program: Option<PathBuf>) -> ExitCode {
    match demo_inner(iterations, repeat.max(1), out, program) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            crate::error(e);
            ExitCode::from(1)
        }
    }
}

struct Setup {
    program: PathBuf,
    shim: PathBuf,
    sim: PathBuf,
    timeline: Option<PathBuf>,
    out: PathBuf,
    iterations: u32,
}

fn demo_inner(iterations: u32, repeat: u32, out: Option<PathBuf>, program: Option<PathBuf>) -> Result<(), String> {
    let program = match program {
        Some(p) => locate::absolute(&p),
        None => locate::demo_program()?,
    };
    let setup = Setup {
        shim: locate::shim_lib()?,
        sim: locate::sim_lib_dir(3)?,
        timeline: program.parent().map(|d| d.join(TIMELINE_LIB)).filter(|p| p.is_file()),
        out: locate::absolute(&out.unwrap_or_else(|| PathBuf::from("nrt-shim-demo"))),
        program,
        iterations,
    };
    std::fs::create_dir_all(&setup.out)
        .map_err(|e| format!("cannot create {}: {e}: choose another --out DIR", setup.out.display()))?;
    println!(
        "Legacy program: {} (tests/legacy/p2_double_buffer.c, unmodified), {iterations} iterations, model {LATENCY_US} us, host work {HOST_US} us per step, on nrt-sim ({}); each configuration {repeat} time(s), alternating",
        setup.program.display(),
        setup.sim.display()
    );

    let configs = configs();
    let mut notes = Vec::new();
    let mut files = Vec::new();
    // Rounds of the four, so that a slow spell of the machine hits all of them.
    let mut measured: Vec<Vec<run::Measured>> = configs.iter().map(|_| Vec::new()).collect();
    for round in 0..repeat {
        for (c, m) in configs.iter().zip(&mut measured) {
            m.push(run::run_one(&setup, c, round, &mut notes)?);
        }
    }
    let mut outcomes = Vec::new();
    for (c, m) in configs.iter().zip(measured) {
        outcomes.push(run::keep_median(&setup, c, m, &mut files, &mut notes)?);
    }
    print!("{}", table::table(&configs, &outcomes, iterations, repeat));

    // The comparison picture, of every run that has a trace.
    let runs: Vec<Run> = configs
        .iter()
        .zip(&outcomes)
        .filter_map(|(c, o)| Some(Run { label: c.name.into(), detail: c.what.into(), trace: o.trace.as_ref()? }))
        .collect();
    let compare = setup.out.join("compare.svg");
    let _ = std::fs::remove_file(&compare);
    if runs.len() > 1 {
        let title = format!(
            "p2_double_buffer.c, {iterations} iterations ({LATENCY_US} us model, {HOST_US} us host work per step): every run on one time axis"
        );
        std::fs::write(&compare, svg::render_runs(&title, &runs))
            .map_err(|e| format!("writing {}: {e}", compare.display()))?;
    } else {
        notes.push("no comparison picture: fewer than two runs have a trace".into());
    }

    println!();
    println!("Every run checked every output against the model's formula (the program exits 1 on a wrong byte).");
    println!("wall ms: the median of the runs; range: the fastest and slowest. device busy: the simulator's busiest");
    println!("unit busy_us / wall_us (its report) in the median run, whose files are kept.");
    println!("Traces: shim = the shim's own NRT_SHIM_TRACE; the others = measured host calls with device slices");
    println!("inferred from them and the completion callbacks (see otherData.note in each file). In the pictures,");
    println!("wall time and device busy are measured from each trace (first call to last), so they differ a little");
    println!("from the table's (the simulator's report, nrt_init to nrt_close).");
    for n in &notes {
        println!("note: {n}");
    }
    if compare.is_file() {
        println!("Comparison picture (all runs on one time axis): {}", compare.display());
    }
    println!(
        "Per-run files (open *.trace.json in ui.perfetto.dev; `nrt-shim report A B --svg OUT` compares any traces):"
    );
    for f in files {
        println!("  {}", f.display());
    }
    Ok(())
}

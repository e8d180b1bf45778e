//! `nrt-shim`: the user's side of nrt-async-shim.
//!
//! - `nrt-shim run [OPTIONS] -- PROGRAM ARGS...`: runs a program with the shim preloaded;
//! - `nrt-shim doctor [PROGRAM]`: which runtime, which `nrta_*` generation, whether the
//!   shim would be bypassed, stray legacy variables, each with a remedy;
//! - `nrt-shim demo`: a bundled legacy program four ways on the simulator;
//! - `nrt-shim report TRACE... [--svg OUT]`: the summary of each trace, their
//!   comparison, and their timelines on one time axis;
//! - `nrt-shim verify [OPTIONS] -- PROGRAM ARGS...`: the program's every call and read
//!   compared between the runtime's own behaviour and the shim's.

mod demo;
mod doctor;
mod locate;
mod probe;
mod report;
mod run;
mod svg;
mod timeline;
mod trace;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "nrt-shim",
    version,
    about = "Run legacy AWS Neuron programs with nrt-async-shim, and see where they wait"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Async,
    Sync,
    Passthrough,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Async => "async",
            Mode::Sync => "sync",
            Mode::Passthrough => "passthrough",
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Requests per core accepted and not completed (NRT_SHIM_MAX_INFLIGHT, 1..64)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub max_inflight: Option<u32>,
    /// NRT_SHIM_MODE
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// NRT_SHIM_STATS: a summary on stderr at exit, or JSON to PATH with --stats=PATH
    #[arg(long, value_name = "PATH", num_args = 0..=1, require_equals = true, default_missing_value = "1")]
    pub stats: Option<String>,
    /// NRT_SHIM_TRACE: a Chrome trace-event JSON (ui.perfetto.dev; `nrt-shim report`)
    #[arg(long, value_name = "PATH")]
    pub trace: Option<PathBuf>,
    /// Run on nrt-sim, the simulator of libnrt.so.1, instead of the installed runtime
    #[arg(long)]
    pub sim: bool,
    /// The simulator's nrta_* generation (lib/ = 3, lib-v2/ = 2); default NRT_SIM_ASYNC_ABI or 3
    #[arg(long, value_name = "2|3", value_parser = clap::value_parser!(u32).range(2..=3))]
    pub sim_abi: Option<u32>,
    /// The program and its arguments
    #[arg(required = true, last = true, value_name = "PROGRAM ARGS")]
    pub program: Vec<std::ffi::OsString>,
}

#[derive(Subcommand)]
enum Command {
    /// Run PROGRAM with nrt-async-shim preloaded; its exit status is passed through
    Run(RunArgs),
    /// Check the set-up: runtime, version, nrta_* generation, bypass risks, stray variables
    Doctor {
        /// A program to check for link order and loading by handle
        program: Option<PathBuf>,
    },
    /// Run a bundled legacy program four ways on the simulator (needs no device)
    Demo {
        /// Iterations of the program's loop
        #[arg(long, default_value_t = 200)]
        iterations: u32,
        /// Runs of each configuration, alternating (the table gives the median and range)
        #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
        repeat: u32,
        /// Where to write the reports, traces and timelines
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// The compiled legacy program (default: the bundled one)
        #[arg(long, value_name = "PATH")]
        program: Option<PathBuf>,
    },
    /// Summarise traces (NRT_SHIM_TRACE); with --svg draw them on one time axis
    Report {
        /// The trace files (several: also compared, the first as the reference)
        #[arg(required = true, value_name = "TRACE")]
        traces: Vec<PathBuf>,
        /// Write the timeline picture (several traces: stacked on one time axis) here
        #[arg(long, value_name = "OUT")]
        svg: Option<PathBuf>,
    },
    /// Check that PROGRAM gives identical results under the shim: the runtime's own
    /// behaviour twice, then the shim at each depth, every call compared (exit 0 identical,
    /// 1 different, 2 undecided)
    Verify(verify::VerifyArgs),
    /// Internal: load a runtime library in this process and print what it reports
    #[command(hide = true)]
    Probe { library: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Doctor { program } => doctor::doctor(program.as_deref()),
        Command::Demo { iterations, repeat, out, program } => demo::demo(iterations, repeat, out, program),
        Command::Report { traces, svg } => report::command(&traces, svg.as_deref()),
        Command::Verify(args) => verify::verify(args),
        Command::Probe { library } => probe::probe_here(&library),
    }
}

/// Prints a user-facing error line (what happened and what to do).
pub fn error(msg: impl std::fmt::Display) {
    eprintln!("nrt-shim: error: {msg}");
}

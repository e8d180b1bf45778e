//! Project tasks.
//!
//! `cargo xtask demo` builds the shim and the simulator (release), and runs a
//! legacy double-buffered inference program three ways on the simulator: the
//! synchronous 2.31+ runtime, the old implicit-async mode (2.30 with
//! NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS=3), and the shim; it prints the
//! wall time, throughput and device utilisation of each.
//!
//! `cargo xtask sim [--release] [--out DIR]` builds both nrt-sim
//! libraries and lays them out like an installed runtime:
//!
//! ```text
//! DIR/lib/libnrt.so.1      (v3 async API, the default)
//! DIR/lib/libnrt.so -> libnrt.so.1
//! DIR/lib-v2/libnrt.so.1   (v2 async API)
//! DIR/lib-v2/libnrt.so -> libnrt.so.1
//! ```

use std::path::{Path, PathBuf};
use std::process::{exit, Command};

fn usage() -> ! {
    eprintln!("usage: cargo xtask sim [--release] [--out DIR]\n       cargo xtask demo [ITERATIONS]");
    exit(2)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn target_dir(root: &Path) -> PathBuf {
    if let Ok(t) = std::env::var("CARGO_TARGET_DIR") {
        let p = PathBuf::from(t);
        return if p.is_absolute() { p } else { root.join(p) };
    }
    root.join("target")
}

fn install(lib: &Path, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let so1 = dir.join("libnrt.so.1");
    let tmp = dir.join(".libnrt.so.1.tmp");
    std::fs::copy(lib, &tmp)?;
    std::fs::rename(&tmp, &so1)?;
    let link = dir.join("libnrt.so");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink("libnrt.so.1", &link)?;
    Ok(())
}

/// Builds and installs both simulator libraries; returns (v3 dir, v2 dir).
fn sim(args: &[String]) -> (PathBuf, PathBuf) {
    let mut release = false;
    let mut out: Option<PathBuf> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--release" => release = true,
            "--out" => out = Some(PathBuf::from(it.next().unwrap_or_else(|| usage()))),
            _ => usage(),
        }
    }
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root).args(["build", "-p", "nrt-sim", "-p", "nrt-sim-v2"]);
    if release {
        cmd.arg("--release");
    }
    let st = cmd.status().expect("cannot run cargo");
    if !st.success() {
        eprintln!("xtask: cargo build failed");
        exit(1);
    }
    let target = target_dir(&root);
    let profile = target.join(if release { "release" } else { "debug" });
    let out = out.map(|o| if o.is_absolute() { o } else { std::env::current_dir().unwrap().join(o) });
    let out = out.unwrap_or_else(|| target.join("nrt-sim"));
    let v3 = out.join("lib");
    let v2 = out.join("lib-v2");
    for (lib, dir) in [("libnrt_sim.so", &v3), ("libnrt_sim_v2.so", &v2)] {
        if let Err(e) = install(&profile.join(lib), dir) {
            eprintln!("xtask: cannot install {lib} into {}: {e}", dir.display());
            exit(1);
        }
    }
    println!("nrt-sim v3 (default): {}", v3.display());
    println!("nrt-sim v2:           {}", v2.display());
    println!("use: LD_LIBRARY_PATH={}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}", v3.display());
    println!("link: -L{} -lnrt   (or -L{} for v2)", v3.display(), v2.display());
    (v3, v2)
}

fn run_cargo(root: &Path, args: &[&str]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let st = Command::new(cargo).current_dir(root).args(args).status().expect("cannot run cargo");
    if !st.success() {
        eprintln!("xtask: cargo {} failed", args.join(" "));
        exit(1);
    }
}

/// A number after `"key":` in the simulator's JSON report.
fn json_number(text: &str, key: &str) -> Option<u64> {
    let at = text.find(&format!("\"{key}\""))?;
    let rest = text[at + key.len() + 2..].trim_start().strip_prefix(':')?.trim_start();
    let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The busiest unit's busy time in the report's "busy_us" object.
fn busiest_unit_us(text: &str) -> u64 {
    let Some(at) = text.find("\"busy_us\"") else { return 0 };
    let mut best = 0;
    let body = &text[at..];
    let body = &body[..body.find("\"queue_full\"").unwrap_or(body.len())];
    for part in body.split(':').skip(1) {
        let digits: String = part.trim_start().chars().take_while(|c| c.is_ascii_digit()).collect();
        if let Ok(n) = digits.parse::<u64>() {
            best = best.max(n);
        }
    }
    best
}

/// (name, description, environment) of one demo configuration.
type Run = (&'static str, &'static str, Vec<(&'static str, String)>);

fn demo(args: &[String]) {
    let iterations: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(200);
    let (latency_us, host_us) = (1000, 600);
    let root = workspace_root();
    run_cargo(&root, &["build", "--release", "-p", "nrt-async-shim"]);
    let (v3, _) = sim(&["--release".to_string()]);
    let target = target_dir(&root);
    let shim = target.join("release/libnrt_async_shim.so");
    let out = target.join("nrt-demo");
    std::fs::create_dir_all(&out).expect("cannot create target/nrt-demo");
    let exe = out.join("double_buffer");
    let src = root.join("tests/legacy/p2_double_buffer.c");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let st = Command::new(&cc)
        .args(["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-pthread"])
        .arg(format!("-I{}", root.join("include").display()))
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .arg(format!("-L{}", v3.display()))
        .arg("-lnrt")
        .status()
        .expect("cannot run the C compiler (set CC)");
    if !st.success() {
        eprintln!("xtask: compiling {} failed", src.display());
        exit(1);
    }
    println!();
    println!(
        "Legacy program: {} (unmodified), {iterations} iterations, model {latency_us} us, host work {host_us} us per step",
        src.strip_prefix(&root).unwrap_or(&src).display()
    );
    let runs: [Run; 3] = [
        (
            "sync",
            "SDK 2.31+ runtime, no shim (what legacy binaries get today)",
            vec![("NRT_SIM_RUNTIME", "2.32".into())],
        ),
        (
            "implicit",
            "SDK 2.30 runtime, NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS=3 (what they had)",
            vec![("NRT_SIM_RUNTIME", "2.30".into()), ("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS", "3".into())],
        ),
        (
            "shim",
            "SDK 2.31+ runtime, nrt-async-shim preloaded, same variable",
            vec![
                ("NRT_SIM_RUNTIME", "2.32".into()),
                ("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS", "3".into()),
                ("LD_PRELOAD", shim.display().to_string()),
            ],
        ),
    ];
    println!();
    println!("{:<9} {:>10} {:>12} {:>12} {:>9}  what", "config", "wall ms", "iter/s", "device busy", "vs sync");
    let mut sync_ms = 0.0;
    for (name, what, env) in runs {
        let report = out.join(format!("{name}.report.json"));
        let _ = std::fs::remove_file(&report);
        let output = Command::new(&exe)
            .args([iterations.to_string(), latency_us.to_string(), host_us.to_string()])
            .env("LD_LIBRARY_PATH", &v3)
            .env("NRT_SIM_REPORT", &report)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .expect("cannot run the demo program");
        if !output.status.success() {
            eprintln!("xtask: the {name} run failed:\n{}", String::from_utf8_lossy(&output.stderr));
            exit(1);
        }
        let text = std::fs::read_to_string(&report).unwrap_or_default();
        let wall = json_number(&text, "wall_us").unwrap_or(0) as f64;
        let hazards = json_number(&text, "hazards").unwrap_or(0);
        let util = if wall > 0.0 { busiest_unit_us(&text) as f64 / wall * 100.0 } else { 0.0 };
        let ms = wall / 1000.0;
        if name == "sync" {
            sync_ms = ms;
        }
        println!(
            "{:<9} {:>10.1} {:>12.0} {:>11.0}% {:>8.2}x  {what}{}",
            name,
            ms,
            iterations as f64 / (wall / 1e6),
            util,
            sync_ms / ms,
            if hazards > 0 { format!(" [{hazards} HAZARDS]") } else { String::new() }
        );
    }
    println!();
    println!("Every run checked every output against the model's formula; reports: {}/*.report.json", out.display());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("sim") => {
            sim(&args[1..]);
        }
        Some("demo") => demo(&args[1..]),
        _ => usage(),
    }
}

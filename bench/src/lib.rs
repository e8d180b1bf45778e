//! nrt-bench: the benchmarks of nrt-async-shim on nrt-sim (issue 5).
//!
//! The library holds what the `nrt-bench` binary and its tests share: building the
//! shim, the simulator and the C programs, running a program with a configuration's
//! environment under a watchdog, reading the simulator's report, and a minimal JSON
//! writer (the crate has no dependencies).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One row of the workload table.
pub struct Workload {
    /// The row's name.
    pub name: &'static str,
    /// The program: `bench/workloads/{program}.c` and its `_expert` twin.
    pub program: &'static str,
    /// The iteration count in quick mode (the first argument).
    pub quick_iters: u64,
    /// The program's arguments in a full run (none: its defaults); quick mode
    /// puts `quick_iters` first and keeps the rest.
    pub args: &'static [&'static str],
    /// Simulator settings of every configuration of the row.
    pub env: &'static [(&'static str, &'static str)],
    /// What it is.
    pub what: &'static str,
}

const fn workload(name: &'static str, quick_iters: u64, what: &'static str) -> Workload {
    Workload { name, program: name, quick_iters, args: &[], env: &[], what }
}

/// The workloads, in table order.
pub const WORKLOADS: [Workload; 7] = [
    workload("w1_training", 20, "training loop: batch written every step, loss read every 10"),
    workload("w2_double_buffer", 20, "double-buffered inference: outputs of i-1 read after i is submitted"),
    workload("w3_pipeline", 20, "two-stage pipeline: core 0 -> host -> core 1"),
    workload("w4_eager", 200, "eager stream: 50 us executions, a read every 100"),
    workload("w5_server", 10, "server: 4 threads, 2 shared cores"),
    workload("w6_large", 4, "large tensors: 2 x 4 MiB in, 4 MiB out, 1.5 ms model, double-buffered"),
    // The same device times as w6_large with an eighth of the bytes: what
    // w6_large would show if the host's memory (the simulator's copies, the
    // program's checks) kept up with the device it models.
    Workload {
        name: "w6_large_512k",
        program: "w6_large",
        quick_iters: 4,
        args: &["100", "524288"],
        env: &[("NRT_SIM_DMA_GBPS", "1.25")],
        what: "w6_large with 512 KiB tensors at NRT_SIM_DMA_GBPS=1.25: the same device times, an eighth of the host's \
               memory traffic",
    },
];

impl Workload {
    /// The program's arguments: `quick` replaces the iteration count.
    pub fn args(&self, quick: bool) -> Vec<String> {
        let rest = self.args.iter().skip(1).map(|a| a.to_string());
        if quick {
            std::iter::once(self.quick_iters.to_string()).chain(rest).collect()
        } else {
            self.args.iter().map(|a| a.to_string()).collect()
        }
    }
}

/// The program configurations, in the order of the first repetition. The
/// implicit mode runs under both fence rules of the simulator
/// (`NRT_SIM_IMPLICIT_FENCE`): `all` (a read waits for every pending execution,
/// as documented) and `storage` (per-storage fences, as the 2.31.24 binary does).
pub const CONFIGS: [&str; 6] = ["sync", "implicit-all", "implicit-storage", "shim", "shim-stage", "expert"];

/// The implicit-mode configurations among CONFIGS.
pub const IMPLICIT_CONFIGS: [&str; 2] = ["implicit-all", "implicit-storage"];

/// Where everything is.
#[derive(Clone, Debug)]
pub struct Paths {
    pub root: PathBuf,
    pub target: PathBuf,
    /// target/release/libnrt_async_shim.so
    pub shim: PathBuf,
    /// The v3 simulator laid out as libnrt.so.1 (LD_LIBRARY_PATH).
    pub sim_lib: PathBuf,
    /// Compiled C programs and helper libraries.
    pub bin: PathBuf,
    /// Scratch space for reports.
    pub out: PathBuf,
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("bench/ has a parent").to_path_buf()
}

fn target_dir(root: &Path) -> PathBuf {
    match std::env::var("CARGO_TARGET_DIR") {
        Ok(t) if Path::new(&t).is_absolute() => PathBuf::from(t),
        Ok(t) => root.join(t),
        Err(_) => root.join("target"),
    }
}

fn install_sim(lib: &Path, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = dir.join(".libnrt.so.1.tmp");
    std::fs::copy(lib, &tmp).map_err(|e| format!("cannot copy {}: {e}", lib.display()))?;
    std::fs::rename(&tmp, dir.join("libnrt.so.1")).map_err(|e| format!("cannot install the simulator: {e}"))?;
    let link = dir.join("libnrt.so");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink("libnrt.so.1", &link).map_err(|e| format!("cannot link libnrt.so: {e}"))
}

/// C programs: (source relative to the root, output name, is a shared library).
pub fn c_programs() -> Vec<(String, String, bool)> {
    let mut v = Vec::new();
    for w in WORKLOADS.iter().filter(|w| w.program == w.name) {
        v.push((format!("bench/workloads/{}.c", w.program), w.program.to_string(), false));
        v.push((format!("bench/workloads/{}_expert.c", w.program), format!("{}_expert", w.program), false));
    }
    v.push(("bench/micro/overhead.c".into(), "overhead".into(), false));
    v.push(("bench/micro/simcost.c".into(), "simcost".into(), false));
    v.push(("bench/micro/alloc_count.c".into(), "liballoc_count.so".into(), true));
    v
}

/// Builds the shim and the simulator (release, unless NRT_BENCH_NO_BUILD=1 and they
/// exist), lays the simulator out as libnrt.so.1 and compiles the C programs with
/// -Wall -Wextra -Werror.
pub fn prepare() -> Result<Paths, String> {
    let root = workspace_root();
    let target = target_dir(&root);
    let release = target.join("release");
    let shim = release.join("libnrt_async_shim.so");
    let sim = release.join("libnrt_sim.so");
    let skip = std::env::var("NRT_BENCH_NO_BUILD").is_ok_and(|v| v == "1") && shim.exists() && sim.exists();
    if !skip {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .current_dir(&root)
            .args(["build", "--release", "--quiet", "-p", "nrt-async-shim", "-p", "nrt-sim"])
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !st.success() {
            return Err("cargo build --release -p nrt-async-shim -p nrt-sim failed".into());
        }
    }
    let base = target.join("nrt-bench");
    let paths = Paths {
        root: root.clone(),
        target: target.clone(),
        shim,
        sim_lib: base.join("lib"),
        bin: base.join("bin"),
        out: base.join("out"),
    };
    install_sim(&sim, &paths.sim_lib)?;
    for d in [&paths.bin, &paths.out] {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let mut children = Vec::new();
    for (src, name, shared) in c_programs() {
        let mut cmd = Command::new(&cc);
        cmd.args(["-std=c11", "-O2", "-g", "-Wall", "-Wextra", "-Werror", "-pthread"])
            .arg(format!("-I{}", root.join("include").display()))
            .arg(format!("-I{}", root.join("bench/workloads").display()))
            .arg(root.join(&src))
            .arg("-o")
            .arg(paths.bin.join(&name));
        if shared {
            cmd.args(["-shared", "-fPIC", "-ldl"]);
        } else {
            cmd.arg(format!("-L{}", paths.sim_lib.display())).args(["-lnrt", "-ldl"]);
        }
        let child = cmd.spawn().map_err(|e| format!("cannot run the C compiler {cc} (set CC): {e}"))?;
        children.push((src, child));
    }
    let mut failed = Vec::new();
    for (src, mut child) in children {
        if !child.wait().map(|s| s.success()).unwrap_or(false) {
            failed.push(src);
        }
    }
    if !failed.is_empty() {
        return Err(format!("compiling {} failed", failed.join(", ")));
    }
    Ok(paths)
}

/// `paths` with the simulator replaced by the library at `lib` (laid out in
/// target/nrt-bench/lib-baseline/): to compare two simulator builds in one run.
pub fn with_simulator(paths: &Paths, lib: &Path) -> Result<Paths, String> {
    let dir = paths.sim_lib.with_file_name("lib-baseline");
    install_sim(lib, &dir)?;
    Ok(Paths { sim_lib: dir, ..paths.clone() })
}

/// What a program printed and how it ended.
#[derive(Debug)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub success: bool,
}

/// Runs exe with args and env (plus LD_LIBRARY_PATH = the simulator), killing it
/// after `timeout`.
pub fn run_program(
    paths: &Paths,
    exe: &Path,
    args: &[String],
    env: &[(String, String)],
    timeout: Duration,
) -> Result<Output, String> {
    let mut cmd = Command::new(exe);
    // Only the configuration's own variables reach the program.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("NRT_SIM_") || k.starts_with("NRT_SHIM_") || k.starts_with("NEURON_RT_") || k == "LD_PRELOAD" {
            cmd.env_remove(k.as_ref());
        }
    }
    let mut child = cmd
        .args(args)
        .env("LD_LIBRARY_PATH", &paths.sim_lib)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| format!("wait: {e}"))? {
            break st;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{} {:?} did not finish within {timeout:?} (killed)", exe.display(), args));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ok(Output {
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
        success: status.success(),
    })
}

/// The value of a "key: value" line.
pub fn line_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')).map(|v| v.trim().to_string()))
}

/// A number after `"key":` in a JSON text.
pub fn json_number(text: &str, key: &str) -> Option<u64> {
    let at = text.find(&format!("\"{key}\""))?;
    let rest = text[at + key.len() + 2..].trim_start().strip_prefix(':')?.trim_start();
    let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The busiest unit's busy time in the report's "busy_us" object (per core, per unit).
pub fn busiest_unit_us(text: &str) -> u64 {
    busy_values(text).max().unwrap_or(0)
}

/// The sum of all units' busy time in the report's "busy_us" object: a
/// synchronous program's modelled time (its device ops never overlap).
pub fn total_busy_us(text: &str) -> u64 {
    busy_values(text).sum()
}

fn busy_values(text: &str) -> impl Iterator<Item = u64> + '_ {
    let body = text.find("\"busy_us\"").map_or("", |at| {
        let body = &text[at + "\"busy_us\"".len()..];
        let body = body.trim_start().strip_prefix(':').unwrap_or(body).trim_start();
        // The object runs to its matching brace.
        let mut depth = 0usize;
        let mut end = body.len();
        for (i, c) in body.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        &body[..end]
    });
    body.split(':').skip(1).filter_map(|p| {
        let d: String = p.trim_start().chars().take_while(|c| c.is_ascii_digit()).collect();
        d.parse::<u64>().ok()
    })
}

pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// A minimal JSON value for the output file.
#[derive(Clone, Debug)]
pub enum Json {
    Num(f64),
    Int(i64),
    Bool(bool),
    Str(String),
    Arr(Vec<Json>),
    Obj(BTreeMap<String, Json>),
}

impl Json {
    pub fn obj<const N: usize>(items: [(&str, Json); N]) -> Json {
        Json::Obj(items.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    pub fn render(&self, out: &mut String, indent: usize) {
        let pad = "  ".repeat(indent + 1);
        match self {
            Json::Num(x) if x.is_finite() => {
                let _ = write!(out, "{}", (x * 1e4).round() / 1e4);
            }
            Json::Num(_) => out.push_str("null"),
            Json::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Json::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Json::Str(s) => {
                out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        c if (c as u32) < 0x20 => {
                            let _ = write!(out, "\\u{:04x}", c as u32);
                        }
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            Json::Arr(v) => {
                out.push('[');
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    x.render(out, indent + 1);
                }
                out.push(']');
            }
            Json::Obj(m) => {
                out.push_str("{\n");
                for (i, (k, v)) in m.iter().enumerate() {
                    out.push_str(&pad);
                    Json::Str(k.clone()).render(out, 0);
                    out.push_str(": ");
                    v.render(out, indent + 1);
                    if i + 1 < m.len() {
                        out.push(',');
                    }
                    out.push('\n');
                }
                out.push_str(&"  ".repeat(indent));
                out.push('}');
            }
        }
    }

    pub fn to_text(&self) -> String {
        let mut s = String::new();
        self.render(&mut s, 0);
        s.push('\n');
        s
    }
}

/// Heap allocations made during `calls` steady-state iterations of write_batch, nrt_execute,
/// nrt_tensor_read and read_batch (after a warm-up) by the shim, by the runtime and by anything
/// else, counted by liballoc_count.so preloaded with the shim (bench/micro/).
/// Returns the steady-state counts and the positive control's (allocating one tensor
/// and one tensor set, which the shim records in its registry).
pub fn alloc_check(paths: &Paths, calls: u64) -> Result<([u64; 3], [u64; 3]), String> {
    let preload = format!("{}:{}", paths.shim.display(), paths.bin.join("liballoc_count.so").display());
    let env = vec![
        ("LD_PRELOAD".to_string(), preload),
        ("NRT_SIM_LATENCY_SCALE".to_string(), "0".to_string()),
        ("NRT_SIM_RUNTIME".to_string(), "2.32".to_string()),
    ];
    let out = run_program(
        paths,
        &paths.bin.join("overhead"),
        &["steady".into(), calls.to_string()],
        &env,
        Duration::from_secs(300),
    )?;
    if !out.success {
        return Err(format!("overhead steady failed:\n{}{}", out.stdout, out.stderr));
    }
    if line_value(&out.stdout, "counting").as_deref() != Some("yes") {
        return Err(format!("the allocation counter was not active:\n{}", out.stdout));
    }
    let three = |key: &str| -> Result<[u64; 3], String> {
        let v: Vec<u64> = line_value(&out.stdout, key)
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        match v[..] {
            [a, b, c] => Ok([a, b, c]),
            _ => Err(format!("no {key} line:\n{}", out.stdout)),
        }
    };
    Ok((three("allocs")?, three("control")?))
}

/// Self cost (Ir) per object in a callgrind output file (all threads): the cost
/// lines under each `fn=`, excluding the inclusive cost lines that follow `calls=`.
pub fn callgrind_self_by_object(text: &str) -> BTreeMap<String, u64> {
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut resolve = |spec: &str| -> String {
        // "(id) name" defines, "(id)" refers, "name" is uncompressed.
        let spec = spec.trim();
        if let Some(rest) = spec.strip_prefix('(') {
            if let Some(close) = rest.find(')') {
                let id = rest[..close].to_string();
                let name = rest[close + 1..].trim();
                if !name.is_empty() {
                    names.insert(id.clone(), name.to_string());
                }
                return names.get(&id).cloned().unwrap_or(id);
            }
        }
        spec.to_string()
    };
    let mut out = BTreeMap::new();
    let mut obj = String::from("???");
    let mut skip_next = false;
    for line in text.lines() {
        if let Some(r) = line.strip_prefix("ob=") {
            obj = resolve(r);
        } else if let Some(r) = line.strip_prefix("cob=") {
            resolve(r); // may define an id used later by ob=
        } else if line.starts_with("calls=") {
            skip_next = true;
        } else if line.starts_with(|c: char| c.is_ascii_digit() || c == '+' || c == '-' || c == '*') {
            if skip_next {
                skip_next = false;
                continue;
            }
            if let Some(cost) = line.split_whitespace().nth(1).and_then(|c| c.parse::<u64>().ok()) {
                *out.entry(obj.clone()).or_insert(0) += cost;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_parsing() {
        let r = r#"{"hazards": 0, "wall_us": 5300, "busy_us": {"core0": {"tensor_op": 260, "compute": 2400, "collectives": 0},
              "core1": {"tensor_op": 0, "compute": 900, "collectives": 0}}, "queue_full": 7000}"#;
        assert_eq!(busiest_unit_us(r), 2400);
        assert_eq!(total_busy_us(r), 3560);
        assert_eq!(busiest_unit_us("{}"), 0);
        assert_eq!(json_number(r, "wall_us"), Some(5300));
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(line_value("a: 1\nelapsed_us: 42\n", "elapsed_us").as_deref(), Some("42"));
    }
}

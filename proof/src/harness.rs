//! Finding the built libraries, compiling the C programs of `proof/c/`, running
//! them with or without the shim under a watchdog. (The parts of
//! `tests/support/mod.rs` this crate needs, located from wherever it is
//! compiled; the watchdog runner itself is that harness's, included by path.)

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::symlink;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[path = "../../tests/support/watch.rs"]
mod watch;

/// The `nrta_*` generation of the simulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Gen {
    V3,
    V2,
}

impl Gen {
    pub fn name(self) -> &'static str {
        match self {
            Gen::V3 => "v3",
            Gen::V2 => "v2",
        }
    }

    fn sim_file(self) -> &'static str {
        match self {
            Gen::V3 => "libnrt_sim.so",
            Gen::V2 => "libnrt_sim_v2.so",
        }
    }

    pub fn parse(s: &str) -> Option<Gen> {
        match s {
            "v3" | "3" => Some(Gen::V3),
            "v2" | "2" => Some(Gen::V2),
            _ => None,
        }
    }
}

/// The repository root: the directory holding `proof/c/interp.c`, found from this
/// crate's manifest directory (the root package's or nrt-proof's).
pub fn repo_root() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        if dir.join("proof/c/interp.c").is_file() {
            return dir;
        }
        if !dir.pop() {
            panic!("cannot find the repository root (proof/c/interp.c) above {}", env!("CARGO_MANIFEST_DIR"));
        }
    }
}

/// `target/<profile>`: the directory of the running executable (`.../deps/` for tests).
pub fn profile_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Ok(d) = std::env::var("NRT_PROOF_PROFILE_DIR") {
            return PathBuf::from(d);
        }
        let exe = std::env::current_exe().expect("current_exe");
        let parent = exe.parent().expect("exe dir").to_path_buf();
        if parent.file_name().is_some_and(|n| n == "deps" || n == "examples") {
            parent.parent().unwrap().to_path_buf()
        } else {
            parent
        }
    })
    .clone()
}

/// The newer of `target/<profile>/<name>` and `target/<profile>/deps/<name>`.
pub fn artefact(name: &str) -> PathBuf {
    let p = profile_dir();
    let candidates = [p.join(name), p.join("deps").join(name)];
    candidates
        .iter()
        .filter_map(|c| fs::metadata(c).and_then(|m| m.modified()).ok().map(|t| (t, c.clone())))
        .max_by_key(|(t, _)| *t)
        .map(|(_, c)| c)
        .unwrap_or_else(|| {
            panic!(
                "{} is missing: build the shim and the simulator first (`cargo test --workspace`, or \
                 `cargo build [--release] -p nrt-async-shim -p nrt-sim -p nrt-sim-v2`)",
                candidates[0].display()
            )
        })
}

pub fn shim_lib() -> PathBuf {
    artefact("libnrt_async_shim.so")
}

fn unique() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{}-{}-{nanos}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// `target/<profile>/nrt-proof/sim-v3|sim-v2/`: `libnrt.so.1` and `libnrt.so`.
pub fn sim_dir(gen: Gen) -> PathBuf {
    let lib = artefact(gen.sim_file());
    let base = profile_dir().join("nrt-proof-work");
    let dir = base.join(format!("sim-{}", gen.name()));
    let valid =
        |d: &Path| ["libnrt.so.1", "libnrt.so"].iter().all(|l| fs::read_link(d.join(l)).is_ok_and(|t| t == lib));
    if valid(&dir) {
        return dir;
    }
    fs::create_dir_all(&base).unwrap_or_else(|e| panic!("creating {}: {e}", base.display()));
    for _ in 0..10 {
        let tmp = base.join(format!(".sim-{}.{}", gen.name(), unique()));
        fs::create_dir(&tmp).expect("creating a link directory");
        for l in ["libnrt.so.1", "libnrt.so"] {
            symlink(&lib, tmp.join(l)).expect("symlink");
        }
        if fs::rename(&tmp, &dir).is_ok() {
            return dir;
        }
        let _ = fs::remove_dir_all(&tmp);
        if valid(&dir) {
            return dir;
        }
        let aside = base.join(format!(".stale.{}", unique()));
        if fs::rename(&dir, &aside).is_ok() {
            let _ = fs::remove_dir_all(&aside);
        }
    }
    panic!("could not create {}", dir.display());
}

/// Compiles `proof/c/<name>.c` (with -Wall -Wextra -Werror) against the v3
/// simulator's `libnrt.so` (the sync API is the same in both generations), once
/// per source text; returns the binary.
pub fn compile(name: &str) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let root = repo_root();
    let src = root.join("proof/c").join(format!("{name}.c"));
    let text = fs::read(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    for hdr in [
        "include/nrt/nrt.h",
        "include/nrt/nrt_experimental.h",
        "include/nrt/nrt_status.h",
        "proof/c/badinput_nrta.h",
        "proof/c/interp_nrta.h",
        "proof/c/interp_escape.h",
    ] {
        fs::read(root.join(hdr)).unwrap_or_default().hash(&mut h);
    }
    let dir = profile_dir().join("nrt-proof-work").join("bin");
    let out = dir.join(format!("{name}-{:016x}", h.finish()));
    if out.is_file() {
        return out;
    }
    fs::create_dir_all(&dir).expect("creating the bin directory");
    let tmp = dir.join(format!(".{name}.{}", unique()));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let res = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-g", "-pthread"])
        .arg(format!("-I{}", root.join("include").display()))
        .arg(&src)
        .arg("-o")
        .arg(&tmp)
        .arg(format!("-L{}", sim_dir(Gen::V3).display()))
        .arg("-lnrt")
        .output()
        .unwrap_or_else(|e| panic!("running {cc}: {e}"));
    if !res.status.success() {
        panic!("compiling {} failed:\n{}", src.display(), String::from_utf8_lossy(&res.stderr));
    }
    fs::rename(&tmp, &out).expect("renaming the binary");
    out
}

/// How one process runs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Setup {
    /// `None`: the simulator alone (the reference); `Some(depth)`: the shim
    /// preloaded with `NRT_SHIM_MAX_INFLIGHT=depth`.
    pub shim: Option<u32>,
    pub gen: Gen,
    pub env: Vec<(String, String)>,
    /// Run under this program (`valgrind ...`).
    pub wrapper: Vec<String>,
}

impl Setup {
    pub fn reference() -> Setup {
        Setup { shim: None, gen: Gen::V3, env: vec![], wrapper: vec![] }
    }

    pub fn shim(gen: Gen, depth: u32) -> Setup {
        Setup { shim: Some(depth), gen, env: vec![], wrapper: vec![] }
    }

    pub fn with_env(mut self, env: &[(String, String)]) -> Setup {
        self.env.extend(env.iter().cloned());
        self
    }

    pub fn describe(&self) -> String {
        let mut s = match self.shim {
            None => "reference (sim alone)".to_string(),
            Some(d) => format!("shim {} inflight={d}", self.gen.name()),
        };
        for (k, v) in &self.env {
            s += &format!(" {k}={v}");
        }
        s
    }

    /// The flags of `nrt-proof replay` that select this setup.
    pub fn replay_flags(&self) -> String {
        let mut s = match self.shim {
            None => "--reference".to_string(),
            Some(d) => format!("--gen {} --inflight {d}", self.gen.name()),
        };
        for (k, v) in &self.env {
            s += &format!(" --env {k}={v}");
        }
        s
    }
}

/// What a process did.
#[derive(Debug, Clone)]
pub struct Output {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    pub wall: Duration,
}

impl Output {
    pub fn ok(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }

    pub fn summary(&self) -> String {
        let tail: Vec<&str> = self.stderr.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect();
        format!(
            "exit {:?} signal {:?} timed out {} wall {:?}\n--- stderr (last lines) ---\n{}",
            self.code,
            self.signal,
            self.timed_out,
            self.wall,
            tail.join("\n")
        )
    }
}

/// Runs `bin args` under `setup` with a watchdog (the whole process group is
/// killed when it expires). `NRT_SIM_REPORT` points into a fresh directory.
pub fn run(bin: &Path, args: &[String], setup: &Setup, timeout: Duration) -> Output {
    let tmp = std::env::temp_dir().join(format!("nrt-proof-{}", unique()));
    fs::create_dir_all(&tmp).expect("creating a temporary directory");
    let mut cmd = match setup.wrapper.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.args(args).current_dir(&tmp);
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        let ours = k.starts_with("NRT_SIM_") || k.starts_with("NRT_SHIM_") || k.starts_with("NEURON_RT_");
        if (ours && k != "NRT_SIM_LOG" && k != "NRT_SHIM_LOG") || k == "LD_PRELOAD" || k == "LD_LIBRARY_PATH" {
            cmd.env_remove(&key);
        }
    }
    cmd.env("LD_LIBRARY_PATH", sim_dir(setup.gen));
    cmd.env("NRT_SIM_REPORT", tmp.join("report.json"));
    if std::env::var_os("NRT_SIM_LOG").is_none() {
        cmd.env("NRT_SIM_LOG", "off");
    }
    if std::env::var_os("NRT_SHIM_LOG").is_none() {
        cmd.env("NRT_SHIM_LOG", "off");
    }
    if let Some(depth) = setup.shim {
        cmd.env("LD_PRELOAD", shim_lib());
        cmd.env("NRT_SHIM_MAX_INFLIGHT", depth.to_string());
    }
    for (k, v) in &setup.env {
        cmd.env(k, v);
    }
    let f = watch::run_watched(cmd, timeout, "nrt-proof", bin);
    let _ = fs::remove_dir_all(&tmp);
    let (code, signal) = (f.status.code(), f.status.signal());
    Output { code, signal, stdout: f.stdout, stderr: f.stderr, timed_out: f.timed_out, wall: f.wall }
}

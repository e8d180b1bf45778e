//! The harness behind `tests/sim_programs.rs` and `tests/shim_programs.rs`: it
//! compiles the C test programs (`tests/c/`, `tests/legacy/`) with the system C
//! compiler, runs them against the simulator (`libnrt.so.1`), with or without the
//! shim, under a watchdog, and parses the simulator's JSON report.
//!
//! Everything it makes lives under `target/<profile>/`: `nrt-test-libs/` (link
//! directories: `sim-v3/` and `sim-v2/` holding `libnrt.so.1` and `libnrt.so`,
//! `shim/` holding `libnrt_async_shim.so.1` and `libnrt_async_shim.so`) and
//! `nrt-test-bin/` (compiled programs, cached by source and flags). Both are created
//! race-free (build aside, then rename), so tests and test binaries may run at once.
#![allow(dead_code)] // each test file uses part of it

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::os::unix::fs::symlink;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use serde_json::Value;

mod watch;
pub use watch::{run_watched, Finished};

/// What to tell whoever runs a test without the artefacts it needs.
pub const BUILD_HINT: &str = "run `cargo test --workspace` (it builds the simulator and the shim)";

/// The default watchdog of one run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How a program meets the runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// The simulator alone: the synchronous reference.
    Reference,
    /// `LD_PRELOAD=libnrt_async_shim.so`, binary linked with `-lnrt` only.
    Preload,
    /// Binary linked with `-lnrt_async_shim -lnrt`.
    Linked,
}

/// The `nrta_*` generation of the simulator the program runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Gen {
    V3,
    V2,
}

impl Gen {
    fn sim_file(self) -> &'static str {
        match self {
            Gen::V3 => "libnrt_sim.so",
            Gen::V2 => "libnrt_sim_v2.so",
        }
    }

    fn dir_name(self) -> &'static str {
        match self {
            Gen::V3 => "sim-v3",
            Gen::V2 => "sim-v2",
        }
    }
}

// ---- locations ------------------------------------------------------------

/// The repository root (the root package's manifest directory).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `target/<profile>`: where cargo put this test binary (`target/<profile>/deps/<test>`),
/// so `CARGO_TARGET_DIR` and the profile are whatever the build used.
pub fn profile_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("current_exe");
        if let Some(deps) = exe.parent() {
            if deps.file_name().is_some_and(|n| n == "deps") {
                if let Some(profile) = deps.parent() {
                    return profile.to_path_buf();
                }
            }
        }
        // Not where cargo puts tests: fall back on CARGO_TARGET_DIR (or target/) and debug.
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .map(|p| if p.is_absolute() { p } else { repo_root().join(p) })
            .unwrap_or_else(|| repo_root().join("target"));
        target.join("debug")
    })
}

/// A built shared library of the workspace: the newer of `target/<profile>/<name>`
/// (left by `cargo build`) and `target/<profile>/deps/<name>` (left by `cargo test`,
/// which builds cdylibs there without copying them up), or a panic that says how to
/// build it.
pub fn artefact(name: &str) -> PathBuf {
    let candidates = [profile_dir().join(name), profile_dir().join("deps").join(name)];
    candidates
        .iter()
        .filter_map(|p| fs::metadata(p).and_then(|m| m.modified()).ok().map(|t| (t, p.clone())))
        .max_by_key(|(t, _)| *t)
        .map(|(_, p)| p)
        .unwrap_or_else(|| panic!("{} is missing: {BUILD_HINT}", candidates[0].display()))
}

/// The shim's shared library (for `LD_PRELOAD`).
pub fn shim_lib() -> PathBuf {
    artefact("libnrt_async_shim.so")
}

/// Whether the built shim exports `nrt_execute` (it does not until the shim exists).
pub fn shim_exports_execute() -> bool {
    let Ok(out) = Command::new("nm").args(["-D", "--defined-only"]).arg(shim_lib()).output() else {
        return false;
    };
    String::from_utf8_lossy(&out.stdout).lines().any(|l| l.split_whitespace().last() == Some("nrt_execute"))
}

fn unique() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{}-{}-{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A directory of symbolic links `name -> target`, made once and replaced atomically.
fn link_dir(name: &str, links: &[(&str, PathBuf)]) -> PathBuf {
    let base = profile_dir().join("nrt-test-libs");
    let dir = base.join(name);
    let valid = |d: &Path| links.iter().all(|(link, target)| fs::read_link(d.join(link)).is_ok_and(|t| &t == target));
    if valid(&dir) {
        return dir;
    }
    fs::create_dir_all(&base).unwrap_or_else(|e| panic!("creating {}: {e}", base.display()));
    for _ in 0..10 {
        let tmp = base.join(format!(".{name}.{}", unique()));
        fs::create_dir(&tmp).unwrap_or_else(|e| panic!("creating {}: {e}", tmp.display()));
        for (link, target) in links {
            symlink(target, tmp.join(link)).unwrap_or_else(|e| panic!("linking {link}: {e}"));
        }
        if fs::rename(&tmp, &dir).is_ok() {
            return dir;
        }
        let _ = fs::remove_dir_all(&tmp);
        if valid(&dir) {
            return dir; // someone else made it first
        }
        // A stale directory (links to another place): move it aside, try again.
        let aside = base.join(format!(".{name}.stale.{}", unique()));
        if fs::rename(&dir, &aside).is_ok() {
            let _ = fs::remove_dir_all(&aside);
        }
    }
    panic!("could not create {}", dir.display());
}

/// `target/<profile>/nrt-test-libs/sim-v3|sim-v2`: `libnrt.so.1` and `libnrt.so`.
pub fn sim_dir(gen: Gen) -> PathBuf {
    let lib = artefact(gen.sim_file());
    link_dir(gen.dir_name(), &[("libnrt.so.1", lib.clone()), ("libnrt.so", lib)])
}

/// `target/<profile>/nrt-test-libs/shim`: `libnrt_async_shim.so.1` and `libnrt_async_shim.so`.
pub fn shim_dir() -> PathBuf {
    let lib = shim_lib();
    link_dir("shim", &[("libnrt_async_shim.so.1", lib.clone()), ("libnrt_async_shim.so", lib)])
}

// ---- once per process ------------------------------------------------------

/// Values computed once per process by key, while other keys proceed in parallel.
type Memo<T> = OnceLock<Mutex<HashMap<String, Arc<OnceLock<T>>>>>;

/// The cell of `key`: whoever initialises it first computes the value, the others wait.
fn memo_cell<T>(memo: &'static Memo<T>, key: String) -> Arc<OnceLock<T>> {
    let mut map = memo.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    map.entry(key).or_default().clone()
}

// ---- compiling ------------------------------------------------------------

fn fnv1a(h: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *h ^= u64::from(*b);
        *h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
}

/// Every header a test program can include (the ABI headers, tests/include/*.h and tests/legacy/*.h).
fn header_texts() -> &'static [(PathBuf, Vec<u8>)] {
    static HEADERS: OnceLock<Vec<(PathBuf, Vec<u8>)>> = OnceLock::new();
    HEADERS.get_or_init(|| {
        let mut files = Vec::new();
        for dir in ["include/nrt", "tests/include", "tests/legacy"] {
            let dir = repo_root().join(dir);
            let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "h") {
                    let text = fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                    files.push((p, text));
                }
            }
        }
        files.sort();
        files
    })
}

fn file_stamp(path: &Path) -> String {
    let meta = fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mtime = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{}:{}:{mtime}", path.display(), meta.len())
}

/// Compiles `src` (relative to the repository root) for generation `gen`, linked with
/// `-lnrt` (or `-lnrt_async_shim -lnrt` when `linked`), once per run of the suite:
/// binaries are cached in `target/<profile>/nrt-test-bin/` by a hash of the source,
/// the headers, the flags and the libraries linked.
pub fn compile(src: &str, gen: Gen, linked: bool) -> PathBuf {
    static DONE: Memo<PathBuf> = OnceLock::new();
    let src_path = repo_root().join(src);
    let sim = sim_dir(gen);
    let mut flags: Vec<String> =
        ["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-g", "-pthread"].iter().map(|s| s.to_string()).collect();
    flags.push(format!("-I{}", repo_root().join("include").display()));
    if gen == Gen::V2 {
        flags.push("-DNRTA_ABI_V2".into());
    }
    let mut libs: Vec<String> = Vec::new();
    let mut stamps = vec![file_stamp(&artefact(gen.sim_file()))];
    if linked {
        libs.push(format!("-L{}", shim_dir().display()));
        libs.push("-lnrt_async_shim".into());
        stamps.push(file_stamp(&shim_lib()));
    }
    libs.push(format!("-L{}", sim.display()));
    libs.push("-lnrt".into());

    let text = fs::read(&src_path).unwrap_or_else(|e| panic!("{}: {e}", src_path.display()));
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    fnv1a(&mut h, &text);
    for (p, t) in header_texts() {
        fnv1a(&mut h, p.to_string_lossy().as_bytes());
        fnv1a(&mut h, t);
    }
    for s in flags.iter().chain(&libs).chain(&stamps) {
        fnv1a(&mut h, s.as_bytes());
        fnv1a(&mut h, b"\0");
    }
    let stem = src_path.file_stem().unwrap().to_string_lossy().to_string();
    let kind = if linked { "linked" } else { "plain" };
    let gen_name = gen.dir_name();
    let name = format!("{stem}-{gen_name}-{kind}-{h:016x}");

    memo_cell(&DONE, name.clone())
        .get_or_init(|| {
            let dir = profile_dir().join("nrt-test-bin");
            let out = dir.join(&name);
            if out.is_file() {
                return out;
            }
            fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
            let tmp = dir.join(format!(".{name}.{}", unique()));
            let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
            let mut cmd = Command::new(&cc);
            cmd.args(&flags).arg(&src_path).arg("-o").arg(&tmp).args(&libs);
            let result = cmd.output().unwrap_or_else(|e| panic!("running the C compiler `{cc}`: {e}"));
            if !result.status.success() {
                let _ = fs::remove_file(&tmp);
                panic!(
                    "compiling {src} failed: {cmd:?}\n{}{}",
                    String::from_utf8_lossy(&result.stdout),
                    String::from_utf8_lossy(&result.stderr)
                );
            }
            fs::rename(&tmp, &out).unwrap_or_else(|e| panic!("renaming to {}: {e}", out.display()));
            // Older builds of the same program (sources changed since): no longer wanted.
            let prefix = format!("{stem}-{gen_name}-{kind}-");
            for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
                let n = e.file_name().to_string_lossy().to_string();
                if n.starts_with(&prefix) && n != name {
                    let _ = fs::remove_file(e.path());
                }
            }
            out
        })
        .clone()
}

// ---- running --------------------------------------------------------------

/// One run of a C program: what, how, with which arguments and environment.
#[derive(Clone, Debug)]
pub struct Run {
    pub program: String,
    pub mode: Mode,
    pub gen: Gen,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub wrapper: Vec<String>,
}

impl Run {
    /// `program` is a path relative to the repository root (`tests/legacy/p1_dev_guide.c`).
    pub fn new(program: &str, mode: Mode, gen: Gen) -> Run {
        Run {
            program: program.to_string(),
            mode,
            gen,
            args: Vec::new(),
            env: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            wrapper: Vec::new(),
        }
    }

    pub fn args(mut self, args: &[&str]) -> Run {
        self.args.extend(args.iter().map(|s| s.to_string()));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Run {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn envs(mut self, vars: &[(&str, &str)]) -> Run {
        for (k, v) in vars {
            self = self.env(k, v);
        }
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Run {
        self.timeout = timeout;
        self
    }

    /// Runs the program under another (`valgrind ...`).
    pub fn wrapper(mut self, wrapper: &[&str]) -> Run {
        self.wrapper = wrapper.iter().map(|s| s.to_string()).collect();
        self
    }

    /// A one-line description for failure messages.
    pub fn describe(&self) -> String {
        let name = Path::new(&self.program).file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let mut s = format!("{name} [{:?}, {:?}]", self.mode, self.gen);
        if !self.args.is_empty() {
            s += &format!(" args {:?}", self.args);
        }
        if !self.env.is_empty() {
            let env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            s += &format!(" env {env:?}");
        }
        if !self.wrapper.is_empty() {
            s += &format!(" under {:?}", self.wrapper);
        }
        s
    }

    /// Compiles (once) and runs the program; panics, with everything it printed, if the
    /// watchdog expires.
    pub fn run(&self) -> Outcome {
        let what = self.describe();
        let bin = compile(&self.program, self.gen, self.mode == Mode::Linked);
        let mut ld_path = sim_dir(self.gen).display().to_string();
        if self.mode == Mode::Linked {
            ld_path = format!("{ld_path}:{}", shim_dir().display());
        }
        let tmp = std::env::temp_dir().join(format!("nrt-test-{}", unique()));
        fs::create_dir_all(&tmp).unwrap_or_else(|e| panic!("creating {}: {e}", tmp.display()));
        let report_path = tmp.join("report.json");

        let mut cmd = match self.wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        cmd.args(&self.args).current_dir(&tmp);
        // Nothing of the caller's environment may change the run, except log levels.
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            let ours = k.starts_with("NRT_SIM_") || k.starts_with("NRT_SHIM_") || k.starts_with("NEURON_RT_");
            let keep = k == "NRT_SIM_LOG" || k == "NRT_SHIM_LOG";
            if (ours && !keep) || k == "LD_PRELOAD" || k == "LD_LIBRARY_PATH" {
                cmd.env_remove(&key);
            }
        }
        cmd.env("LD_LIBRARY_PATH", &ld_path);
        cmd.env("NRT_SIM_REPORT", &report_path);
        if self.mode == Mode::Preload {
            cmd.env("LD_PRELOAD", shim_lib());
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let Finished { status, stdout, stderr, wall, timed_out } = run_watched(cmd, self.timeout, &what, &bin);

        let (report, report_error) = match fs::read_to_string(&report_path) {
            Ok(text) => match serde_json::from_str::<Value>(&text) {
                Ok(v) => (Some(v), None),
                Err(e) => (None, Some(format!("unparsable report ({e}): {text}"))),
            },
            Err(e) => (None, Some(format!("no report at {}: {e}", report_path.display()))),
        };
        let _ = fs::remove_dir_all(&tmp);

        let outcome = Outcome {
            what,
            mode: self.mode,
            code: status.code(),
            signal: status.signal(),
            stdout,
            stderr,
            report,
            report_error,
            wall,
        };
        if timed_out {
            panic!(
                "{}: watchdog: killed after {:?} (a hang is a failure)\n{}",
                outcome.what,
                self.timeout,
                outcome.dump()
            );
        }
        outcome
    }

    /// `run`, once per process for identical runs (references shared by many tests).
    pub fn run_cached(&self) -> Arc<Outcome> {
        static RUNS: Memo<Arc<Outcome>> = OnceLock::new();
        memo_cell(&RUNS, format!("{self:?}")).get_or_init(|| Arc::new(self.run())).clone()
    }
}

/// What a run did.
#[derive(Debug)]
pub struct Outcome {
    pub what: String,
    pub mode: Mode,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The simulator's `NRT_SIM_REPORT` JSON, when it was written.
    pub report: Option<Value>,
    pub report_error: Option<String>,
    pub wall: Duration,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.code == Some(0)
    }

    /// Everything, for a failure message.
    pub fn dump(&self) -> String {
        let report = match (&self.report, &self.report_error) {
            (Some(r), _) => r.to_string(),
            (None, Some(e)) => e.clone(),
            (None, None) => String::new(),
        };
        format!(
            "--- {} ---\nexit code {:?}, signal {:?}, wall {:?}\n--- stdout ---\n{}--- stderr ---\n{}--- report ---\n{}\n",
            self.what, self.code, self.signal, self.wall, self.stdout, self.stderr, report
        )
    }

    /// Panics unless the program exited 0 and the shim was (or was not) in the process
    /// as the mode says.
    pub fn assert_ok(&self) -> &Outcome {
        if !self.succeeded() {
            let hint = if self.mode != Mode::Reference && !shim_exports_execute() {
                "\n(note: the built libnrt_async_shim.so does not export nrt_execute yet: the shim is missing)"
            } else {
                ""
            };
            panic!("{}: the program failed{hint}\n{}", self.what, self.dump());
        }
        self.assert_shim_state();
        self
    }

    /// Checks the program's "shim: yes|no" line against the mode.
    pub fn assert_shim_state(&self) {
        let want = if self.mode == Mode::Reference { "no" } else { "yes" };
        match self.value("shim") {
            Some(v) if v == want => {}
            Some(v) => {
                let why = match (want, v) {
                    ("yes", "bypassed") => {
                        "the shim is loaded but another object answers nrt_execute (link order, or \
                         the shim does not export it)"
                    }
                    ("yes", _) => {
                        "the shim is not in the process: libnrt_async_shim.so must export \
                         nrt_async_shim_version and the legacy calls (is the shim built?)"
                    }
                    _ => "the shim answers in a reference run",
                };
                panic!("{}: shim: {v}, expected {want}: {why}\n{}", self.what, self.dump());
            }
            None => panic!("{}: no \"shim:\" line\n{}", self.what, self.dump()),
        }
    }

    /// The value of the first stdout line `key: value`.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.stdout.lines().find_map(|l| {
            l.strip_prefix(key)
                .and_then(|rest| rest.strip_prefix(": "))
                .or_else(|| (l == format!("{key}:")).then_some(""))
        })
    }

    pub fn expect_value(&self, key: &str) -> &str {
        self.value(key).unwrap_or_else(|| panic!("{}: no \"{key}:\" line\n{}", self.what, self.dump()))
    }

    /// A `key: N ...` value's leading integer.
    pub fn value_u64(&self, key: &str) -> u64 {
        let v = self.expect_value(key);
        v.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{}: \"{key}: {v}\" is not a number", self.what))
    }

    /// Every `digest...: ...` line: what must be equal between equivalent runs.
    pub fn digests(&self) -> Vec<&str> {
        self.stdout.lines().filter(|l| l.starts_with("digest")).collect()
    }

    pub fn report(&self) -> &Value {
        match &self.report {
            Some(r) => r,
            None => panic!(
                "{}: the simulator wrote no report: {}\n{}",
                self.what,
                self.report_error.as_deref().unwrap_or(""),
                self.dump()
            ),
        }
    }

    /// An integer field of the report.
    pub fn report_u64(&self, key: &str) -> u64 {
        self.report()
            .get(key)
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("{}: the report has no integer \"{key}\"\n{}", self.what, self.dump()))
    }

    /// The hazard oracle's count.
    pub fn hazards(&self) -> u64 {
        self.report_u64("hazards")
    }

    pub fn assert_no_hazards(&self) -> &Outcome {
        let n = self.hazards();
        if n != 0 {
            let examples = self.report().get("hazard_examples").map(|v| v.to_string()).unwrap_or_default();
            panic!("{}: the simulator counted {n} hazards: {examples}\n{}", self.what, self.dump());
        }
        self
    }

    /// Panics unless every digest line equals the reference's.
    pub fn assert_same_digests(&self, reference: &Outcome) -> &Outcome {
        let ours = self.digests();
        let theirs = reference.digests();
        if theirs.is_empty() {
            panic!("{}: no digest line\n{}", reference.what, reference.dump());
        }
        if ours != theirs {
            panic!(
                "{}: read different bytes or statuses than {}\n  got:      {ours:?}\n  expected: {theirs:?}\n{}",
                self.what,
                reference.what,
                self.dump()
            );
        }
        self
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.dump())
    }
}

/// Tests share the machine (run in parallel) under this lock; a timing measurement
/// takes it exclusively, so no other test of the same binary runs meanwhile.
static MACHINE: RwLock<()> = RwLock::new(());

/// For ordinary tests: run alongside the others.
pub fn shared_machine() -> RwLockReadGuard<'static, ()> {
    MACHINE.read().unwrap_or_else(|e| e.into_inner())
}

/// For timing measurements: wait until no other test of this binary runs, and keep it so.
pub fn exclusive_machine() -> RwLockWriteGuard<'static, ()> {
    MACHINE.write().unwrap_or_else(|e| e.into_inner())
}

/// Whether a program is on the PATH (for optional tools such as valgrind).
pub fn have_tool(name: &str) -> bool {
    Command::new(name).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Whether tool `name` (from Debian package `package`) can run. Outside CI a missing
/// tool is one "SKIPPED" line naming the package, written past the test harness's
/// capture so it is seen; under CI (`CI=true`, .ci/run installs every tool) it is a
/// failure.
pub fn require_tool(name: &str, package: &str, what: &str) -> bool {
    if have_tool(name) {
        return true;
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "{name} is missing under CI (.ci/run installs {package}): {what} cannot run"
    );
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {what}: {name} is not installed (apt-get install {package})");
    false
}

/// `target/<profile>/nrt-shim` (the command; see tests/cli_install.rs), built
/// here if missing or older than any file under `cli/src`.
#[allow(dead_code)]
pub fn nrt_shim_binary() -> PathBuf {
    fn newest(dir: &Path) -> Option<std::time::SystemTime> {
        std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                if m.is_dir() {
                    newest(&e.path())
                } else {
                    m.modified().ok()
                }
            })
            .max()
    }
    let p = profile_dir().join("nrt-shim");
    let newest_source = newest(&repo_root().join("cli/src")).expect("cli/src has sources");
    if !std::fs::metadata(&p).and_then(|m| m.modified()).is_ok_and(|t| t >= newest_source) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = std::process::Command::new(cargo);
        cmd.current_dir(repo_root()).args(["build", "-p", "nrt-shim"]);
        if profile_dir().file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        assert!(cmd.status().unwrap().success(), "building nrt-shim failed");
    }
    p
}

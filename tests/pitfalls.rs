//! Interposition pitfalls (`shared/docs/preload-pitfalls.md`, issue 3 "Living inside
//! someone else's process"): one or more tests per pitfall, each running small C
//! programs from `tests/pitfalls/` (and one Rust host, this binary itself) against
//! the simulator with the shim preloaded, linked, or dlopen()ed.
//!
//! | pitfall | tests |
//! |---|---|
//! | 1 lookup by handle | `p01_*` |
//! | 2 runtime opened RTLD_LOCAL | `p02_*` |
//! | 3 self-resolution | `p03_*` |
//! | 4 link order | `p04_*` |
//! | 5-7 constructors, environment | `p05_*` |
//! | 8 threads and signals | `p08_*` |
//! | 9 fork | `p09_*` |
//! | 10 exit | `p10_*` |
//! | 11 panics | `p11_*` |
//! | 12 -z nodelete | `p12_*` |
//! | 13 loggers | `p13_*` |
//! | 14 exports | `tests/exports.rs` |
//!
//! Every run has a watchdog (a hang is a failure). Programs are compiled with the
//! system C compiler (`-Wall -Wextra -Werror`) once per source and flags, cached in
//! `target/<profile>/nrt-test-bin/pitfalls/`. Needs the shim and the simulator built
//! (`cargo test --workspace` builds them).

mod support;

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::{
    artefact, profile_dir, repo_root, run_watched, shim_dir, shim_lib, sim_dir, Finished, Gen, Mode, Outcome,
};

/// The watchdog of an ordinary run.
const TIMEOUT: Duration = Duration::from_secs(20);

/// What the shim logs at setup, once it found the runtime (`exports/mod.rs`).
const SETUP_LINE: &str = "nrta generation";

/// The loud warning of a bypassed shim (`exports/lifecycle.rs`).
const BYPASS_WARNING: &str = "do not reach nrt-async-shim";

// ---- building ---------------------------------------------------------------

/// What a C source is linked with, in order.
#[derive(Clone, Debug)]
enum Link {
    /// `-L<sim dir> -lnrt` (the simulator of the run's generation).
    Sim,
    /// `-L<shim dir> -lnrt_async_shim`.
    Shim,
    /// A helper library built by [`build`]: `-L<dir> -l<name>`, with an rpath.
    Lib(PathBuf),
    /// `-Wl,--no-as-needed`: keep every library named even if no symbol of it is
    /// referenced (the shim linked last; programs that only use dlsym), on
    /// toolchains that default to --as-needed.
    NoAsNeeded,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Exe,
    Shared,
}

fn unique() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{}-{}-{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

fn fnv1a(h: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *h ^= u64::from(*b);
        *h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    *h ^= 0xff;
    *h = h.wrapping_mul(0x0000_0100_0000_01b3);
}

fn stamp(path: &Path) -> String {
    let meta = fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mtime = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{}:{}:{mtime}", path.display(), meta.len())
}

fn sim_file(gen: Gen) -> &'static str {
    match gen {
        Gen::V3 => "libnrt_sim.so",
        Gen::V2 => "libnrt_sim_v2.so",
    }
}

/// Every header the programs can include.
fn headers() -> &'static [(PathBuf, Vec<u8>)] {
    static H: OnceLock<Vec<(PathBuf, Vec<u8>)>> = OnceLock::new();
    H.get_or_init(|| {
        let mut files = Vec::new();
        for dir in ["include/nrt", "tests/include", "tests/pitfalls"] {
            let dir = repo_root().join(dir);
            for e in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
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

/// Compiles `tests/pitfalls/<src>` into a program or a shared library
/// (`lib<stem>.so`), linked with `links` for generation `gen`; cached by a hash of
/// everything that goes in, built aside and renamed, so parallel tests may ask at once.
fn build(src: &str, kind: Kind, gen: Gen, links: &[Link]) -> PathBuf {
    static DONE: OnceLock<Mutex<HashMap<String, Arc<OnceLock<PathBuf>>>>> = OnceLock::new();
    let src_path = repo_root().join("tests/pitfalls").join(src);
    let stem = src_path.file_stem().unwrap().to_string_lossy().to_string();
    let mut flags: Vec<String> =
        ["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-g", "-pthread"].iter().map(|s| s.to_string()).collect();
    flags.push(format!("-I{}", repo_root().join("include").display()));
    flags.push(format!("-I{}", repo_root().join("tests/pitfalls").display()));
    if gen == Gen::V2 {
        flags.push("-DNRTA_ABI_V2".into());
    }
    match kind {
        Kind::Exe => flags.extend(["-fPIE".to_string(), "-pie".to_string()]),
        Kind::Shared => flags.extend(["-fPIC".to_string(), "-shared".to_string()]),
    }
    let mut libs = Vec::new();
    let mut stamps = Vec::new();
    for l in links {
        match l {
            Link::Sim => {
                libs.push(format!("-L{}", sim_dir(gen).display()));
                libs.push("-lnrt".into());
                stamps.push(stamp(&artefact(sim_file(gen))));
            }
            Link::Shim => {
                libs.push(format!("-L{}", shim_dir().display()));
                libs.push("-lnrt_async_shim".into());
                stamps.push(stamp(&shim_lib()));
            }
            Link::Lib(path) => {
                let dir = path.parent().unwrap();
                let name = path.file_name().unwrap().to_string_lossy();
                let name = name.trim_start_matches("lib").trim_end_matches(".so");
                libs.push(format!("-L{}", dir.display()));
                libs.push(format!("-Wl,-rpath,{}", dir.display()));
                libs.push(format!("-l{name}"));
                stamps.push(stamp(path));
            }
            Link::NoAsNeeded => libs.push("-Wl,--no-as-needed".into()),
        }
    }
    libs.push("-ldl".into());

    let text = fs::read(&src_path).unwrap_or_else(|e| panic!("{}: {e}", src_path.display()));
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    fnv1a(&mut h, &text);
    for (p, t) in headers() {
        fnv1a(&mut h, p.to_string_lossy().as_bytes());
        fnv1a(&mut h, t);
    }
    for s in flags.iter().chain(&libs).chain(&stamps) {
        fnv1a(&mut h, s.as_bytes());
    }
    let key = format!("{stem}-{h:016x}");
    let file = match kind {
        Kind::Exe => stem.clone(),
        Kind::Shared => format!("lib{stem}.so"),
    };

    let cell = {
        let mut map = DONE.get_or_init(Default::default).lock().unwrap();
        map.entry(key.clone()).or_default().clone()
    };
    cell.get_or_init(|| {
        let base = profile_dir().join("nrt-test-bin").join("pitfalls");
        let dir = base.join(&key);
        let out = dir.join(&file);
        if out.is_file() {
            return out;
        }
        fs::create_dir_all(&base).unwrap_or_else(|e| panic!("creating {}: {e}", base.display()));
        let tmp = base.join(format!(".{key}.{}", unique()));
        fs::create_dir(&tmp).unwrap_or_else(|e| panic!("creating {}: {e}", tmp.display()));
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let mut cmd = Command::new(&cc);
        cmd.args(&flags).arg(&src_path).arg("-o").arg(tmp.join(&file)).args(&libs);
        let result = cmd.output().unwrap_or_else(|e| panic!("running the C compiler `{cc}`: {e}"));
        if !result.status.success() {
            let _ = fs::remove_dir_all(&tmp);
            panic!(
                "compiling {src} failed: {cmd:?}\n{}{}",
                String::from_utf8_lossy(&result.stdout),
                String::from_utf8_lossy(&result.stderr)
            );
        }
        if fs::rename(&tmp, &dir).is_err() {
            // Someone else built the same thing first.
            let _ = fs::remove_dir_all(&tmp);
        }
        assert!(out.is_file(), "{} missing after the build", out.display());
        out
    })
    .clone()
}

fn exe(src: &str, gen: Gen, links: &[Link]) -> PathBuf {
    build(src, Kind::Exe, gen, links)
}

// ---- running ----------------------------------------------------------------

/// One run of a program, under a watchdog, in a clean environment.
#[derive(Clone, Debug)]
struct Proc {
    what: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    preload: bool,
    lib_dirs: Vec<PathBuf>,
    timeout: Duration,
    wrapper: Vec<String>,
}

impl Proc {
    fn new(what: &str, program: impl Into<PathBuf>) -> Proc {
        Proc {
            what: what.to_string(),
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            preload: false,
            lib_dirs: Vec::new(),
            timeout: TIMEOUT,
            wrapper: Vec::new(),
        }
    }

    /// With the simulator of `gen` on LD_LIBRARY_PATH (as libnrt.so.1).
    fn sim(what: &str, program: impl Into<PathBuf>, gen: Gen) -> Proc {
        Proc::new(what, program).lib_dir(sim_dir(gen))
    }

    fn arg(mut self, a: impl AsRef<std::ffi::OsStr>) -> Proc {
        self.args.push(a.as_ref().to_string_lossy().to_string());
        self
    }

    fn env(mut self, k: &str, v: &str) -> Proc {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    fn preload(mut self) -> Proc {
        self.preload = true;
        self
    }

    fn lib_dir(mut self, d: PathBuf) -> Proc {
        self.lib_dirs.push(d);
        self
    }

    fn timeout(mut self, t: Duration) -> Proc {
        self.timeout = t;
        self
    }

    fn wrapper(mut self, w: &[&str]) -> Proc {
        self.wrapper = w.iter().map(|s| s.to_string()).collect();
        self
    }

    fn describe(&self) -> String {
        let mut s = self.what.clone();
        if self.preload {
            s += " [LD_PRELOAD=shim]";
        }
        if !self.env.is_empty() {
            let env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            s += &format!(" env {env:?}");
        }
        if !self.args.is_empty() {
            s += &format!(" args {:?}", self.args);
        }
        s
    }

    /// Runs it; panics with everything it printed if the watchdog expires.
    fn run(&self) -> Outcome {
        let what = self.describe();
        let mut cmd = match self.wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(&self.program);
                c
            }
            None => Command::new(&self.program),
        };
        cmd.args(&self.args);
        // Nothing of the caller's environment may change the run: our variables, the
        // runtime's, the loader's, even the log levels (some tests check stderr).
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if k.starts_with("NRT_SIM_")
                || k.starts_with("NRT_SHIM_")
                || k.starts_with("NEURON_RT_")
                || k.starts_with("NRT_PITFALLS_")
                || k == "LD_PRELOAD"
                || k == "LD_LIBRARY_PATH"
                || k == "RUST_BACKTRACE"
            {
                cmd.env_remove(&key);
            }
        }
        if !self.lib_dirs.is_empty() {
            let dirs: Vec<String> = self.lib_dirs.iter().map(|d| d.display().to_string()).collect();
            cmd.env("LD_LIBRARY_PATH", dirs.join(":"));
        }
        if self.preload {
            cmd.env("LD_PRELOAD", shim_lib());
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let Finished { status, stdout, stderr, wall, timed_out } = run_watched(cmd, self.timeout, &what, &self.program);
        let out = Outcome {
            what,
            mode: if self.preload { Mode::Preload } else { Mode::Reference },
            code: status.code(),
            signal: status.signal(),
            stdout,
            stderr,
            report: None,
            report_error: Some("(pitfall runs write no report)".into()),
            wall,
        };
        if timed_out {
            panic!("{}: watchdog: killed after {:?} (a hang is a failure)\n{}", out.what, self.timeout, out.dump());
        }
        out
    }
}

/// Panics unless the program exited 0 and printed its final "ok" line.
fn ok(out: &Outcome) {
    if !out.succeeded() || !out.stdout.lines().any(|l| l == "ok") {
        panic!("{}: the program failed\n{}", out.what, out.dump());
    }
}

/// Panics unless the process ended by itself with status 0 (no signal).
fn exited_zero(out: &Outcome) {
    if out.code != Some(0) || out.signal.is_some() {
        panic!("{}: expected exit status 0\n{}", out.what, out.dump());
    }
}

fn expect_eq(out: &Outcome, key: &str, want: &str) {
    let got = out.expect_value(key);
    if got != want {
        panic!("{}: \"{key}: {got}\", expected \"{want}\"\n{}", out.what, out.dump());
    }
}

fn expect_stderr(out: &Outcome, needle: &str, why: &str) {
    if !out.stderr.contains(needle) {
        panic!("{}: stderr lacks \"{needle}\" ({why})\n{}", out.what, out.dump());
    }
}

fn expect_no_stderr(out: &Outcome, needle: &str, why: &str) {
    if out.stderr.contains(needle) {
        panic!("{}: stderr contains \"{needle}\" ({why})\n{}", out.what, out.dump());
    }
}

fn value_i64(out: &Outcome, key: &str) -> i64 {
    let v = out.expect_value(key);
    v.trim().parse().unwrap_or_else(|_| panic!("{}: \"{key}: {v}\" is not a number\n{}", out.what, out.dump()))
}

fn canonical(p: &Path) -> String {
    fs::canonicalize(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).display().to_string()
}

/// The shim handled the program's executions: it answered, and counted them.
fn shim_did_work(out: &Outcome) {
    expect_eq(out, "shim", "yes");
    if value_i64(out, "shim_executions") <= 0 {
        panic!("{}: the shim counted no execution\n{}", out.what, out.dump());
    }
}

// ---- pitfall 2: the runtime opened RTLD_LOCAL -------------------------------

fn rtld_local(gen: Gen) {
    let worker = build("pt_worker.c", Kind::Shared, gen, &[Link::Sim]);
    let main = exe("pt_dlopen_local.c", gen, &[]);
    let reference = Proc::sim("pt_dlopen_local (no shim)", &main, gen).arg(&worker).run();
    ok(&reference);
    expect_eq(&reference, "runtime_global", "no");
    expect_eq(&reference, "shim", "no");

    let out = Proc::sim("pt_dlopen_local", &main, gen).arg(&worker).preload().env("NRT_SHIM_LOG", "info").run();
    ok(&out);
    // The setup really is the pitfall: the runtime is in no global scope...
    expect_eq(&out, "runtime_global", "no");
    // ...the plugin's calls reach the shim...
    expect_eq(&out, "worker_execute_from", &canonical(&shim_lib()));
    shim_did_work(&out);
    // ...which found the simulator through the fallback and said so.
    expect_stderr(&out, SETUP_LINE, "the shim's setup line names the runtime it found");
    let line = out.stderr.lines().find(|l| l.contains(SETUP_LINE)).unwrap();
    assert!(
        line.contains("libnrt.so.1") || line.contains(sim_file(gen)),
        "{}: the setup line does not name the simulator: {line}\n{}",
        out.what,
        out.dump()
    );
    // Same bytes as the runtime alone.
    assert_eq!(
        out.expect_value("digest"),
        reference.expect_value("digest"),
        "{}: different outputs than without the shim\n{}",
        out.what,
        out.dump()
    );
}

#[test]
fn p02_runtime_opened_rtld_local_v3() {
    rtld_local(Gen::V3);
}

#[test]
fn p02_runtime_opened_rtld_local_v2() {
    rtld_local(Gen::V2);
}

// ---- pitfall 4: link order ----------------------------------------------------

fn basic_shim_first(gen: Gen) -> PathBuf {
    exe("pt_basic.c", gen, &[Link::NoAsNeeded, Link::Shim, Link::Sim])
}

fn basic_shim_last(gen: Gen) -> PathBuf {
    exe("pt_basic.c", gen, &[Link::NoAsNeeded, Link::Sim, Link::Shim])
}

fn basic_plain(gen: Gen) -> PathBuf {
    exe("pt_basic.c", gen, &[Link::Sim])
}

fn linked(what: &str, bin: &Path, gen: Gen) -> Proc {
    Proc::sim(what, bin, gen).lib_dir(shim_dir())
}

/// The reference digest of pt_basic (the simulator alone), once per process.
fn basic_reference(gen: Gen) -> String {
    static REF: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    let key = format!("{gen:?}");
    if let Some(d) = REF.get_or_init(Default::default).lock().unwrap().get(&key) {
        return d.clone();
    }
    let out = Proc::sim("pt_basic (no shim)", basic_plain(gen), gen).run();
    ok(&out);
    expect_eq(&out, "shim", "no");
    let d = out.expect_value("digest").to_string();
    REF.get().unwrap().lock().unwrap().insert(key, d.clone());
    d
}

#[test]
fn p04_link_order_shim_first_answers_without_warning() {
    let gen = Gen::V3;
    let out = linked("pt_basic -lnrt_async_shim -lnrt", &basic_shim_first(gen), gen).run();
    ok(&out);
    expect_eq(&out, "execute_from", &canonical(&shim_lib()));
    shim_did_work(&out);
    expect_no_stderr(&out, BYPASS_WARNING, "the shim answers: nothing to warn about");
    assert_eq!(out.expect_value("digest"), basic_reference(gen), "{out}");
}

#[test]
fn p04_link_order_shim_last_is_correct_and_warns() {
    let gen = Gen::V3;
    let out = linked("pt_basic -lnrt -lnrt_async_shim", &basic_shim_last(gen), gen).run();
    ok(&out);
    // The pitfall: the program's calls bind to the runtime, the shim is bypassed...
    expect_eq(&out, "execute_from", &canonical(&artefact(sim_file(gen))));
    // ...so the program is still correct (synchronous)...
    assert_eq!(out.expect_value("digest"), basic_reference(gen), "{out}");
    // ...and the shim must say so, loudly, at the default log level.
    expect_stderr(&out, BYPASS_WARNING, "linked after -lnrt the shim is bypassed and must warn (pitfall 4)");
}

// ---- pitfall 1: lookup by handle ------------------------------------------------

#[test]
fn p01_lookup_by_handle_gets_the_runtime_rtld_default_the_shim() {
    let gen = Gen::V3;
    let bin = exe("pt_by_handle.c", gen, &[Link::Sim]);
    let out = Proc::sim("pt_by_handle", &bin, gen).preload().run();
    ok(&out);
    // The documented limit: dlsym on the runtime's handle answers with the runtime.
    expect_eq(&out, "by_handle", &canonical(&artefact(sim_file(gen))));
    expect_eq(&out, "by_default", &canonical(&shim_lib()));
    // And a call through that pointer never reaches the shim.
    let after_default = value_i64(&out, "shim_executions_after_default");
    let after_handle = value_i64(&out, "shim_executions_after_handle");
    assert!(after_default >= 1, "{out}");
    assert_eq!(after_handle, after_default, "a call through the handle's pointer reached the shim?\n{out}");
}

// ---- pitfall 3: self-resolution ---------------------------------------------------

#[test]
fn p03_no_self_resolution_preloaded_and_in_both_link_orders() {
    let gen = Gen::V3;
    let reference = basic_reference(gen);
    let runs = [
        Proc::sim("pt_basic -lnrt", basic_plain(gen), gen).preload(),
        linked("pt_basic -lnrt_async_shim -lnrt", &basic_shim_first(gen), gen),
        linked("pt_basic -lnrt -lnrt_async_shim", &basic_shim_last(gen), gen),
        linked("pt_basic -lnrt_async_shim -lnrt", &basic_shim_first(gen), gen).preload(),
        linked("pt_basic -lnrt -lnrt_async_shim", &basic_shim_last(gen), gen).preload(),
    ];
    for p in runs {
        // A shim that resolved its own export would recurse until the stack overflows
        // (SIGSEGV): the run must end by itself, correct.
        let out = p.timeout(Duration::from_secs(15)).run();
        ok(&out);
        assert_eq!(out.expect_value("digest"), reference, "{out}");
        expect_no_stderr(&out, "resolved to the shim itself", "no pointer may be the shim's own");
    }
}

#[test]
fn p03_no_runtime_anywhere_gives_an_error_not_a_recursion() {
    // NRT_SHIM_LIBNRT names the shim itself and no libnrt.so.1 is on the path: every
    // candidate is the shim's own code. It must refuse them and return NRT_FAILURE.
    let bin = exe("pt_noruntime.c", Gen::V3, &[]);
    let shim = shim_lib();
    let out = Proc::new("pt_noruntime", &bin).arg(&shim).env("NRT_SHIM_LIBNRT", &shim.display().to_string()).run();
    ok(&out);
    expect_eq(&out, "st_init", "1");
    expect_eq(&out, "st_execute", "1");
    expect_stderr(&out, "no Neuron runtime found", "one error line says why");
}

// ---- pitfalls 5-7: the constructor ---------------------------------------------------

const LEGACY: &str = "NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS";

/// A preloaded shim whose constructor runs and nothing else: exit 0, empty stderr,
/// even with the shim's most verbose log level.
fn silent_preload(what: &str, program: impl Into<PathBuf>) -> Outcome {
    let out = Proc::new(what, program).preload().env(LEGACY, "3").env("NRT_SHIM_LOG", "trace").run();
    exited_zero(&out);
    if !out.stderr.is_empty() {
        panic!(
            "{}: the shim's constructor printed something (it must only read and remove variables)\n{}",
            out.what,
            out.dump()
        );
    }
    out
}

#[test]
fn p05_constructor_preloaded_into_bin_true() {
    let t = ["/bin/true", "/usr/bin/true"].into_iter().find(|p| Path::new(p).is_file()).expect("no /bin/true");
    silent_preload("true", t);
}

#[test]
fn p05_constructor_preloaded_into_a_trivial_c_program() {
    silent_preload("pt_trivial", exe("pt_trivial.c", Gen::V3, &[]));
}

#[test]
fn p05_constructor_preloaded_into_env_hides_the_legacy_variable() {
    let env = ["/usr/bin/env", "/bin/env"].into_iter().find(|p| Path::new(p).is_file()).expect("no env program");
    // Control: without the shim, env prints the variable.
    let plain = Proc::new("env (no shim)", env).env(LEGACY, "3").run();
    exited_zero(&plain);
    assert!(plain.stdout.contains(&format!("{LEGACY}=3")), "{plain}");
    let out = silent_preload("env", env);
    assert!(!out.stdout.contains(LEGACY), "the preloaded shim left {LEGACY} in the environment\n{out}");
}

#[test]
fn p05_main_does_not_see_the_legacy_variable() {
    let bin = exe("pt_getenv.c", Gen::V3, &[]);
    let plain = Proc::new("pt_getenv (no shim)", &bin).env(LEGACY, "3").run();
    ok(&plain);
    expect_eq(&plain, "legacy_in_main", "3");
    let out = Proc::new("pt_getenv", &bin).preload().env(LEGACY, "3").run();
    ok(&out);
    expect_eq(&out, "legacy_in_main", "(null)");
    assert!(out.stderr.is_empty(), "{out}");
}

/// A library whose constructor runs nrt_init, a workload and nrt_close, in a process
/// where the runtime is 2.30 (it would turn the implicit mode on, and every nrta_*
/// call off, if it saw the legacy variable).
fn ctor_user(gen: Gen, preload: bool, link_shim: bool) {
    let lib = build("pt_ctor_user.c", Kind::Shared, gen, &[Link::Sim]);
    let mut links = vec![Link::Lib(lib)];
    if link_shim {
        links.push(Link::Shim);
    }
    links.push(Link::Sim);
    let bin = exe("pt_ctor_main.c", gen, &links);
    let mut p = Proc::sim("pt_ctor_main (-lpt_ctor_user)", &bin, gen).env(LEGACY, "3").env("NRT_SIM_RUNTIME", "2.30");
    if preload {
        p = p.preload();
    }
    if link_shim {
        p = p.lib_dir(shim_dir());
    }
    let out = p.run();
    ok(&out);
    expect_eq(&out, "ctor_result", "0");
    expect_eq(&out, "shim", "yes");
    if value_i64(&out, "ctor_shim_executions") <= 0 {
        panic!("{}: the library's executions did not go through the shim\n{}", out.what, out.dump());
    }
    // The runtime never saw the variable (else its implicit mode would have refused
    // the shim's nrta_* calls), nor does main.
    expect_eq(&out, "ctor_env_after_init", "(null)");
    expect_eq(&out, "legacy_in_main", "(null)");
    expect_no_stderr(&out, "implicit async mode", "the runtime must not see the legacy variable");
    if preload {
        // The point of the test: with the shim preloaded, the loader ran this
        // library's constructor before the shim's (the variable was still there).
        expect_eq(&out, "ctor_env_before_init", "3");
    }
}

#[test]
fn p05_another_librarys_constructor_uses_the_runtime_preloaded() {
    ctor_user(Gen::V3, true, false);
}

#[test]
fn p05_another_librarys_constructor_uses_the_runtime_linked() {
    ctor_user(Gen::V3, false, true);
}

// ---- pitfall 8: the completion thread, signals, dlopen from a thread ------------------

/// Signals no thread can block: SIGKILL, SIGSTOP, and glibc's internal 32 and 33
/// (SIGCANCEL, SIGSETXID), which pthread_sigmask always leaves unblocked.
const UNBLOCKABLE: [u32; 4] = [9, 19, 32, 33];

#[test]
fn p08_completion_thread_is_lazy_named_and_blocks_signals() {
    let gen = Gen::V3;
    let bin = exe("pt_threads.c", gen, &[Link::Sim]);
    let out = Proc::sim("pt_threads lazy", &bin, gen).arg("lazy").preload().run();
    ok(&out);
    expect_eq(&out, "threads_at_start", "1");
    expect_eq(&out, "compl_at_start", "0");
    expect_eq(&out, "compl_before_execute", "0");
    expect_eq(&out, "compl_after_execute", "1");
    let mask =
        u64::from_str_radix(out.expect_value("compl_sigblk"), 16).unwrap_or_else(|_| panic!("bad compl_sigblk\n{out}"));
    let unblocked: Vec<u32> =
        (1..=64u32).filter(|s| !UNBLOCKABLE.contains(s) && mask & (1u64 << (s - 1)) == 0).collect();
    assert!(unblocked.is_empty(), "nrt-shim-compl does not block signals {unblocked:?} (SigBlk {mask:016x})\n{out}");
    // The spawn restored the caller's mask.
    expect_eq(&out, "main_sigblk", "0000000000000000");
    shim_did_work(&out);
}

#[test]
fn p08_program_signal_handler_sees_every_signal_in_main() {
    for gen in [Gen::V3, Gen::V2] {
        let bin = exe("pt_threads.c", gen, &[Link::Sim]);
        let out = Proc::sim("pt_threads signals", &bin, gen).arg("signals").preload().run();
        ok(&out);
        let sent = value_i64(&out, "signals_sent");
        assert!(sent >= 100, "{out}");
        assert_eq!(value_i64(&out, "signals_in_main"), sent, "{out}");
        assert_eq!(value_i64(&out, "signals_elsewhere"), 0, "{out}");
        shim_did_work(&out);
    }
}

#[test]
fn p08_dlopen_the_shim_from_a_thread() {
    let gen = Gen::V3;
    let bin = exe("pt_dlopen_thread.c", gen, &[Link::NoAsNeeded, Link::Sim]);
    let out = Proc::sim("pt_dlopen_thread", &bin, gen).arg(shim_lib()).run();
    ok(&out);
    // dlopen itself started no thread (only main and the opener exist then).
    expect_eq(&out, "threads_after_dlopen", "2");
    expect_eq(&out, "execute_from", &canonical(&shim_lib()));
    if value_i64(&out, "shim_executions") <= 0 {
        panic!("the shim counted no execution\n{out}");
    }
}

// ---- pitfall 9: fork with work in flight ---------------------------------------------

fn fork(how: &str) {
    fork_on(how, Gen::V3);
}

fn fork_on(how: &str, gen: Gen) {
    let plain = exe("pt_fork.c", gen, &[Link::Sim]);
    let with_shim = exe("pt_fork.c", gen, &[Link::Shim, Link::Sim]);
    let runs = [Proc::sim("pt_fork", &plain, gen).preload(), linked("pt_fork -lnrt_async_shim -lnrt", &with_shim, gen)];
    for p in runs {
        let out = p.arg(how).arg("3000").timeout(Duration::from_secs(15)).run();
        ok(&out);
        shim_did_work(&out);
        let child_ms = value_i64(&out, "child_exit_ms");
        assert!(child_ms < 3000, "{out}");
    }
}

#[test]
fn p09_fork_with_work_in_flight_child_underscore_exits() {
    fork("_exit");
}

#[test]
fn p09_fork_with_work_in_flight_child_exits() {
    fork("exit");
}

/// The child calls nrt_init again and runs executions of its own (v2: every one
/// failed with NRT_INVALID_HANDLE while the child kept the parent's error trackers).
#[test]
fn p09_fork_child_initialises_again_and_executes_v2() {
    fork_on("init", Gen::V2);
}

#[test]
fn p09_fork_child_initialises_again_and_executes_v3() {
    fork_on("init", Gen::V3);
}

/// Forks per (generation, depth) run of `pt_fork_storm`: 6 runs, 1,200 forks in all.
const STORM_FORKS: &str = "200";

/// `pt_fork_storm`: 200 forks with executions in flight at in-flight depth 1, 4
/// and 16; every child (ends at once, or nrt_init + execute + read + nrt_close) has
/// a 10 s watchdog in the parent (a healthy one ends within milliseconds), the
/// parent this test's; zero hangs, every output checked. Before the shim's locks
/// moved off parking_lot, 9 of 1,800 children hung inside fork() (v3 and v2, all
/// three depths), and every v2 child that initialised again failed.
fn fork_storm(gen: Gen) {
    let bin = exe("pt_fork_storm.c", gen, &[Link::Sim]);
    for depth in ["1", "4", "16"] {
        let out = Proc::sim(&format!("pt_fork_storm {gen:?} depth {depth}"), &bin, gen)
            .preload()
            .env("NRT_SHIM_MAX_INFLIGHT", depth)
            .arg(STORM_FORKS)
            .arg("10000")
            .timeout(Duration::from_secs(120))
            .run();
        ok(&out);
        shim_did_work(&out);
        expect_eq(&out, "hangs", "0");
        expect_eq(&out, "forks", STORM_FORKS);
    }
}

#[test]
fn p09_fork_storm_v3() {
    fork_storm(Gen::V3);
}

#[test]
fn p09_fork_storm_v2() {
    fork_storm(Gen::V2);
}

// ---- more cores than a fixed table (issue 12) ------------------------------------------

/// The program's own lines (not the shim's).
fn program_lines(out: &Outcome) -> Vec<&str> {
    out.stdout.lines().filter(|l| !l.starts_with("shim")).collect()
}

/// 255 cores (the simulator's most): tensor calls, executions and drains on core
/// 200 and on core 254, and calls on core 255, give through the shim exactly what
/// the simulator alone gives (every status, every byte read). Before the shim sized
/// its per-core state from the runtime's count, every tensor call on core 128 or
/// above panicked (NRT_FAILURE), executions and drains returned NRT_INVALID.
fn many_cores(gen: Gen) {
    let bin = exe("pt_many_cores.c", gen, &[Link::Sim]);
    let reference = Proc::sim("pt_many_cores (no shim)", &bin, gen).env("NRT_SIM_CORES", "255").run();
    ok(&reference);
    expect_eq(&reference, "vnc_count", "0 255");
    for depth in ["1", "4"] {
        let out = Proc::sim(&format!("pt_many_cores depth {depth}"), &bin, gen)
            .preload()
            .env("NRT_SIM_CORES", "255")
            .env("NRT_SHIM_MAX_INFLIGHT", depth)
            .run();
        ok(&out);
        shim_did_work(&out);
        expect_no_stderr(&out, "panicked", "no panic on a high core");
        assert_eq!(program_lines(&out), program_lines(&reference), "{}\n{}", out.dump(), reference.dump());
    }
}

#[test]
fn cores_beyond_128_behave_as_the_runtime_v3() {
    many_cores(Gen::V3);
}

#[test]
fn cores_beyond_128_behave_as_the_runtime_v2() {
    many_cores(Gen::V2);
}

// ---- pitfall 10: exit with work in flight ------------------------------------------------

fn exit_repeatedly(mode: &str) {
    let gen = Gen::V3;
    let bin = exe("pt_exit.c", gen, &[Link::Sim]);
    for i in 0..20 {
        let out = Proc::sim(&format!("pt_exit {mode} (run {i})"), &bin, gen)
            .arg(mode)
            .preload()
            .timeout(Duration::from_secs(5))
            .run();
        exited_zero(&out);
        expect_eq(&out, "exit_from", mode);
        expect_no_stderr(&out, "panicked", "no panic at exit");
    }
}

#[test]
fn p10_exit_from_main_with_work_in_flight() {
    exit_repeatedly("main");
}

#[test]
fn p10_exit_from_a_thread_while_main_reads() {
    exit_repeatedly("thread");
}

// ---- pitfall 11: panics --------------------------------------------------------------------

const PANIC_HOOK: &str = "NRT_SHIM_TEST_PANIC";
const PANIC_STATUSES: [&str; 4] = ["nrt_tensor_write", "nrt_execute", "nrt_tensor_read", "nrt_async_shim_wait_all"];

#[test]
fn p11_panic_inside_an_export_returns_nrt_failure() {
    let gen = Gen::V3;
    let bin = exe("pt_panic.c", gen, &[Link::Sim]);
    // Control: no hook, every status NRT_SUCCESS.
    let out = Proc::sim("pt_panic exports", &bin, gen).arg("exports").preload().run();
    ok(&out);
    for name in PANIC_STATUSES {
        expect_eq(&out, &format!("st_{name}"), "0");
    }
    for target in PANIC_STATUSES.iter().copied().chain(["nrt_close"]) {
        let out = Proc::sim("pt_panic exports", &bin, gen).arg("exports").preload().env(PANIC_HOOK, target).run();
        // Not aborted (a panic unwinding into C aborts with SIGABRT).
        ok(&out);
        for name in PANIC_STATUSES {
            let want = if name == target { "1" } else { "0" };
            expect_eq(&out, &format!("st_{name}"), want);
        }
        let line = out
            .stderr
            .lines()
            .find(|l| l.contains("internal error"))
            .unwrap_or_else(|| panic!("{}: no \"internal error\" log line\n{}", out.what, out.dump()));
        assert!(line.contains(target), "the log line does not name {target}: {line}\n{out}");
    }
}

#[test]
fn p11_panic_inside_the_completion_thread_fails_the_request() {
    for gen in [Gen::V3, Gen::V2] {
        let bin = exe("pt_panic.c", gen, &[Link::Sim]);
        let out = Proc::sim("pt_panic completion", &bin, gen)
            .arg("completion")
            .preload()
            .env(PANIC_HOOK, "completion")
            .timeout(Duration::from_secs(15))
            .run();
        ok(&out);
        expect_eq(&out, "st_first", "1");
        expect_eq(&out, "st_second", "0");
        expect_eq(&out, "st_third", "0");
        expect_stderr(&out, "internal error", "the completion thread logs the panic");
    }
}

// ---- pitfall 12: -z nodelete --------------------------------------------------------------

#[test]
fn p12_shim_is_linked_nodelete() {
    let out = Command::new("readelf").arg("-d").arg(shim_lib()).output().expect("running readelf");
    assert!(out.status.success(), "readelf failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let flags = text
        .lines()
        .find(|l| l.contains("(FLAGS_1)"))
        .unwrap_or_else(|| panic!("no FLAGS_1 entry in the shim's dynamic section:\n{text}"));
    assert!(flags.contains("NODELETE"), "FLAGS_1 lacks NODELETE: {flags}");
    let soname = text.lines().find(|l| l.contains("(SONAME)")).unwrap_or_else(|| panic!("no SONAME:\n{text}"));
    assert!(soname.contains("[libnrt_async_shim.so.1]"), "{soname}");
}

fn dlclose_run(valgrind: bool) -> Outcome {
    let gen = Gen::V3;
    let bin = exe("pt_dlclose.c", gen, &[Link::NoAsNeeded, Link::Sim]);
    let mut p = Proc::sim("pt_dlclose", &bin, gen).arg(shim_lib());
    if valgrind {
        p = p.wrapper(&["valgrind", "--error-exitcode=99", "--quiet"]).timeout(Duration::from_secs(80));
    }
    let out = p.run();
    ok(&out);
    expect_eq(&out, "mapped_after_dlclose", "yes");
    if value_i64(&out, "shim_executions") <= 0 {
        panic!("the shim counted no execution\n{out}");
    }
    out
}

#[test]
fn p12_dlopen_use_dlclose_exit() {
    dlclose_run(false);
}

#[test]
fn p12_dlopen_use_dlclose_exit_under_valgrind() {
    if !support::require_tool("valgrind", "valgrind", "p12_dlopen_use_dlclose_exit_under_valgrind") {
        return;
    }
    dlclose_run(true);
}

// ---- pitfall 13: loggers ----------------------------------------------------------------------

#[test]
fn p13_two_libraries_loggers_coexist() {
    // The simulator and the shim are both Rust cdylibs, each with its own copy of
    // the `log` crate and its own logger: both must print, neither may panic.
    let gen = Gen::V3;
    let out = Proc::sim("pt_basic", basic_plain(gen), gen)
        .preload()
        .env("NRT_SHIM_LOG", "info")
        .env("NRT_SIM_LOG", "info")
        .run();
    ok(&out);
    expect_stderr(&out, "nrt-async-shim: info: runtime", "the shim's logger works");
    expect_stderr(&out, "nrt-sim: info: nrt_init", "the simulator's logger works");
    for line in out.stderr.lines().filter(|l| !l.is_empty()) {
        assert!(
            line.starts_with("nrt-async-shim: ") || line.starts_with("nrt-sim: "),
            "a stderr line from neither logger (or two interleaved): {line:?}\n{out}"
        );
    }
}

const LOGGER_CHILD: &str = "NRT_PITFALLS_LOGGER_CHILD";

struct HostLogger {
    records: AtomicUsize,
}

impl log::Log for HostLogger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, r: &log::Record) {
        self.records.fetch_add(1, Ordering::SeqCst);
        eprintln!("host-logger: {}: {}", r.level().as_str().to_ascii_lowercase(), r.args());
    }

    fn flush(&self) {}
}

static HOST_LOGGER: HostLogger = HostLogger { records: AtomicUsize::new(0) };

/// Not a test of its own (hence ignored): the Rust host program of
/// `p13_rust_host_with_its_own_logger`, which runs this binary again with the shim
/// preloaded and this test selected. Without the variable it returns at once.
#[test]
#[ignore = "the child process of p13_rust_host_with_its_own_logger"]
fn p13_logger_child() {
    if std::env::var_os(LOGGER_CHILD).is_none() {
        return;
    }
    log::set_logger(&HOST_LOGGER).expect("the host's logger is the first");
    log::set_max_level(log::LevelFilter::Info);
    log::info!("host logger installed");
    type Init = unsafe extern "C" fn(c_int, *const c_char, *const c_char) -> u32;
    type Close = unsafe extern "C" fn();
    let sym = |name: &CStr| {
        // SAFETY: dlsym with a NUL-terminated name.
        let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
        assert!(!p.is_null(), "no {name:?} in the process");
        p
    };
    // SAFETY: dlopen of the simulator (the runtime this program would link).
    let rt = unsafe { libc::dlopen(c"libnrt.so.1".as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    assert!(!rt.is_null(), "cannot dlopen libnrt.so.1");
    let _ = sym(c"nrt_async_shim_version"); // the shim is preloaded
                                            // SAFETY: the runtime's signatures (include/nrt/nrt.h).
    let (init, close) = unsafe {
        (
            std::mem::transmute::<*mut c_void, Init>(sym(c"nrt_init")),
            std::mem::transmute::<*mut c_void, Close>(sym(c"nrt_close")),
        )
    };
    // SAFETY: nrt_init(NRT_FRAMEWORK_TYPE_NO_FW, "", "") and nrt_close().
    let st = unsafe { init(1, c"".as_ptr(), c"".as_ptr()) };
    // A newline first: libtest has printed "test p13_logger_child ... " on this line.
    println!("\nst_init: {st}");
    // SAFETY: as above.
    unsafe { close() };
    log::info!("host logger still works");
    println!("host_records: {}", HOST_LOGGER.records.load(Ordering::SeqCst));
}

#[test]
fn p13_rust_host_with_its_own_logger() {
    // This test binary is a Rust program; run it again with the shim preloaded (its
    // constructor runs in a Rust process: pitfall 7), the host's own `log` logger set
    // first, then the shim set up through nrt_init with its logging on.
    let me = std::env::current_exe().expect("current_exe");
    let out = Proc::sim("this test binary, p13_logger_child", me, Gen::V3)
        .arg("--exact")
        .arg("p13_logger_child")
        .arg("--ignored")
        .arg("--nocapture")
        .arg("--test-threads=1")
        .preload()
        .env(LOGGER_CHILD, "1")
        .env("NRT_SHIM_LOG", "info")
        .run();
    exited_zero(&out);
    expect_eq(&out, "st_init", "0");
    expect_stderr(&out, "host-logger: info: host logger installed", "the host's logger");
    expect_stderr(&out, "nrt-async-shim: info: runtime", "the shim's own logger");
    expect_stderr(&out, "host-logger: info: host logger still works", "the host's logger after the shim's");
    // The shim's records went to its own logger, not to the host's.
    expect_eq(&out, "host_records", "2");
    expect_no_stderr(&out, "panicked", "no double initialisation panic");
    // Nothing else on stderr: the constructor, preloaded into a Rust program, printed nothing.
    for line in out.stderr.lines().filter(|l| !l.is_empty()) {
        assert!(
            line.starts_with("host-logger: ") || line.starts_with("nrt-async-shim: "),
            "an unexpected stderr line: {line:?}\n{out}"
        );
    }
}

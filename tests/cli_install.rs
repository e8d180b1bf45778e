//! The installed layout (`cargo xtask install`, xtask/src/install.rs) and the
//! `nrt-shim` command run from it: installs this build into a temporary prefix, builds a
//! C program with `pkg-config --cflags --libs nrt-async-shim` against the installed
//! simulator, runs it, then runs it through `PREFIX/bin/nrt-shim run --sim` and checks
//! that the exit status and a signal pass through. Every run has a watchdog.

mod support;

#[path = "../xtask/src/install.rs"]
mod install;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `cmd` with a watchdog; panics with its output if it outlives `limit`.
fn run(cmd: &mut Command, limit: Duration) -> Output {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("watchdog: {what} still running after {limit:?}\n{}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `target/<profile>/nrt-shim`, built by `cargo test --workspace` (the nrt-shim package
/// has tests of its own, so cargo builds its binary); else built here.
fn nrt_shim_binary() -> PathBuf {
    let p = support::profile_dir().join("nrt-shim");
    let sources = support::repo_root().join("cli/src");
    let newest_source = std::fs::read_dir(&sources)
        .unwrap()
        .flatten()
        .filter_map(|e| e.metadata().ok()?.modified().ok())
        .max()
        .unwrap();
    let fresh = std::fs::metadata(&p).and_then(|m| m.modified()).is_ok_and(|t| t >= newest_source);
    if !fresh {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(support::repo_root()).args(["build", "-p", "nrt-shim"]);
        if support::profile_dir().file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let out = run(&mut cmd, Duration::from_secs(300));
        assert!(out.status.success(), "building nrt-shim: {}", text(&out));
    }
    p
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nrt-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sources() -> install::Sources {
    let root = support::repo_root();
    install::Sources {
        version: install::package_version(&root.join("Cargo.toml")),
        shim: support::shim_lib(),
        nrt_shim: nrt_shim_binary(),
        sim_v3: support::artefact("libnrt_sim.so"),
        sim_v2: support::artefact("libnrt_sim_v2.so"),
        include: root.join("include"),
        pc_template: root.join("packaging/nrt-async-shim.pc.in"),
        demo: Vec::new(),
    }
}

const PROGRAM: &str = r#"
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nrt/nrt.h>
#include <nrt_async_shim.h>

#define CK(x) do { NRT_STATUS st_ = (x); if (st_ != NRT_SUCCESS) { fprintf(stderr, "FAIL %s: %d\n", #x, (int)st_); return 1; } } while (0)

int main(int argc, char **argv) {
    static const char model_text[] = "nrt-sim-model 1\nname installed\nlatency_us 200\ninput x 64\noutput y 64\ncompute affine 3 7\n";
    nrt_model_t *model = NULL;
    nrt_tensor_t *x = NULL, *y = NULL;
    nrt_tensor_set_t *in = NULL, *out = NULL;
    unsigned char hx[64], hy[64];
    CK(nrt_init(NRT_FRAMEWORK_TYPE_NO_FW, "", ""));
    CK(nrt_load(model_text, strlen(model_text), 0, -1, &model));
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, 64, "x", &x));
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, 64, "y", &y));
    CK(nrt_allocate_tensor_set(&in));
    CK(nrt_allocate_tensor_set(&out));
    CK(nrt_add_tensor_to_tensor_set(in, "x", x));
    CK(nrt_add_tensor_to_tensor_set(out, "y", y));
    for (int step = 0; step < 5; step++) {
        for (int i = 0; i < 64; i++) hx[i] = (unsigned char)(i + step);
        CK(nrt_tensor_write(x, hx, 0, 64));
        CK(nrt_execute(model, in, out));
        CK(nrt_tensor_read(y, hy, 0, 64));
        for (int i = 0; i < 64; i++)
            if (hy[i] != (unsigned char)(3 * hx[i] + 7)) { fprintf(stderr, "FAIL byte %d\n", i); return 1; }
    }
    nrt_destroy_tensor_set(&in);
    nrt_destroy_tensor_set(&out);
    nrt_tensor_free(&x);
    nrt_tensor_free(&y);
    CK(nrt_unload(model));
    nrt_close();
    printf("shim version: %s\n", nrt_async_shim_version());
    printf("outputs: ok\n");
    return argc > 1 ? atoi(argv[1]) : 0;
}
"#;

#[test]
fn install_into_a_prefix_then_build_and_run_with_pkg_config() {
    assert!(support::have_tool("pkg-config"), "pkg-config is needed (apt-get install pkg-config)");
    let _machine = support::shared_machine();
    let prefix = temp_dir("prefix");
    let src = sources();
    let made = install::install(&src, &prefix, None).unwrap();

    // The layout.
    let lib = prefix.join("lib");
    assert!(lib.join("libnrt_async_shim.so.1").is_file() && !lib.join("libnrt_async_shim.so.1").is_symlink());
    assert_eq!(std::fs::read_link(lib.join("libnrt_async_shim.so")).unwrap(), Path::new("libnrt_async_shim.so.1"));
    assert!(prefix.join("include/nrt_async_shim.h").is_file());
    assert!(prefix.join("include/nrt-async-shim/nrt/nrt.h").is_file());
    assert!(!prefix.join("include/nrt").exists(), "the runtime's headers must not land where the vendor's go");
    assert!(!lib.join("libnrt.so.1").exists(), "the simulator must never shadow a real runtime");
    for d in ["lib", "lib-v2"] {
        assert!(lib.join("nrt-sim").join(d).join("libnrt.so.1").is_file());
        assert!(lib.join("nrt-sim").join(d).join("libnrt.so").is_symlink());
    }
    assert!(prefix.join("bin/nrt-shim").is_file());
    assert!(made.len() >= 12, "{made:?}");
    let readelf =
        run(Command::new("readelf").arg("-d").arg(lib.join("libnrt_async_shim.so.1")), Duration::from_secs(30));
    assert!(
        String::from_utf8_lossy(&readelf.stdout).contains("[libnrt_async_shim.so.1]"),
        "SONAME: {}",
        text(&readelf)
    );

    // pkg-config.
    let pc_path = lib.join("pkgconfig");
    let pkg = run(
        Command::new("pkg-config").args(["--cflags", "--libs", "nrt-async-shim"]).env("PKG_CONFIG_PATH", &pc_path),
        Duration::from_secs(30),
    );
    assert!(pkg.status.success(), "{}", text(&pkg));
    let flags = String::from_utf8_lossy(&pkg.stdout).to_string();
    assert!(flags.contains(&format!("-I{}/include", prefix.display())), "{flags}");
    assert!(flags.contains(&format!("-L{}", lib.display())) && flags.contains("-lnrt_async_shim"), "{flags}");

    // Build a program the way a user would, linked with the shim and the installed simulator.
    let work = temp_dir("build");
    let c = work.join("app.c");
    std::fs::write(&c, PROGRAM).unwrap();
    let exe = work.join("app");
    let sim = lib.join("nrt-sim/lib");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let mut build = Command::new(&cc);
    build.args(["-std=c11", "-Wall", "-Wextra", "-Werror"]).arg(&c).arg("-o").arg(&exe);
    build.args(flags.split_whitespace()).arg(format!("-L{}", sim.display())).arg("-lnrt");
    let built = run(&mut build, Duration::from_secs(60));
    assert!(built.status.success(), "{}", text(&built));

    // Run against the simulator, the shim found through LD_LIBRARY_PATH too.
    let ld = format!("{}:{}", lib.display(), sim.display());
    let ran = run(Command::new(&exe).env("LD_LIBRARY_PATH", &ld), Duration::from_secs(60));
    assert!(ran.status.success(), "{}", text(&ran));
    let out = String::from_utf8_lossy(&ran.stdout);
    assert!(out.contains(&format!("shim version: {}", src.version)) && out.contains("outputs: ok"), "{}", text(&ran));

    // Through the installed nrt-shim: --sim finds PREFIX/lib/nrt-sim; statuses pass through.
    let nrt_shim = prefix.join("bin/nrt-shim");
    for code in ["0", "3"] {
        let r = run(
            Command::new(&nrt_shim)
                .args(["run", "--sim", "--max-inflight", "2", "--"])
                .arg(&exe)
                .arg(code)
                .env("LD_LIBRARY_PATH", &lib),
            Duration::from_secs(60),
        );
        assert_eq!(r.status.code(), Some(code.parse().unwrap()), "{}", text(&r));
        assert!(String::from_utf8_lossy(&r.stdout).contains("outputs: ok"), "{}", text(&r));
    }
    // The environment it sets, and a signal passed through.
    let r = run(
        Command::new(&nrt_shim)
            .args(["run", "--sim", "--sim-abi", "2", "--mode", "sync", "--stats=s.json", "--", "sh", "-c"])
            .arg("echo \"$LD_PRELOAD|$LD_LIBRARY_PATH|$NRT_SHIM_MODE|$NRT_SHIM_STATS\"; kill -TERM $$"),
        Duration::from_secs(30),
    );
    assert_eq!(r.status.signal(), Some(libc_sigterm()), "{}", text(&r));
    let line = String::from_utf8_lossy(&r.stdout).trim().to_string();
    let parts: Vec<&str> = line.split('|').collect();
    assert!(parts[0].starts_with(&lib.join("libnrt_async_shim.so").display().to_string()), "{line}");
    assert!(parts[1].starts_with(&lib.join("nrt-sim/lib-v2").display().to_string()), "{line}");
    assert_eq!(parts[2], "sync");
    assert!(parts[3].ends_with("/s.json"), "{line}");
    // doctor from the installed layout finds the shim and both simulators.
    let d = run(Command::new(&nrt_shim).arg("doctor").env_remove("LD_LIBRARY_PATH"), Duration::from_secs(60));
    let dt = String::from_utf8_lossy(&d.stdout);
    assert!(dt.contains(&format!("shim: {}", lib.join("libnrt_async_shim.so.1").display())), "{}", text(&d));
    assert!(dt.contains("simulator v3") && dt.contains("simulator v2") && dt.contains("generation v2"), "{}", text(&d));

    let _ = std::fs::remove_dir_all(&prefix);
    let _ = std::fs::remove_dir_all(&work);
}

fn libc_sigterm() -> i32 {
    15
}

#[test]
fn destdir_stages_under_the_final_prefix() {
    let dest = temp_dir("destdir");
    install::install(&sources(), Path::new("/opt/nrt-async-shim"), Some(&dest)).unwrap();
    let pc = std::fs::read_to_string(dest.join("opt/nrt-async-shim/lib/pkgconfig/nrt-async-shim.pc")).unwrap();
    assert!(pc.contains("prefix=/opt/nrt-async-shim\n"), "{pc}");
    assert!(pc.contains("Libs: -L${libdir} -lnrt_async_shim"));
    assert!(dest.join("opt/nrt-async-shim/bin/nrt-shim").is_file());
    assert!(install::install(&sources(), Path::new("relative"), None).is_err());
    let _ = std::fs::remove_dir_all(&dest);
}

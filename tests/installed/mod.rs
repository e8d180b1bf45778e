//! What tests/cli_install.rs and tests/package.rs share: a watchdog runner, this
//! build's files as install `Sources`, and a C program built with pkg-config against
//! an installed (or unpacked) tree and run on its simulator. The including test
//! declares `mod support;` and `mod install;` (xtask/src/install.rs) beside it.
#![allow(dead_code)] // each test uses part of it

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `cmd` with a watchdog; panics with its output if it outlives `limit`.
pub fn run(cmd: &mut Command, limit: Duration) -> Output {
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

pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `target/<profile>/nrt-shim`, built by `cargo test --workspace` (the nrt-shim package
/// has tests of its own, so cargo builds its binary); else built here.
pub fn nrt_shim_binary() -> PathBuf {
    let p = crate::support::profile_dir().join("nrt-shim");
    let sources = crate::support::repo_root().join("cli/src");
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
        cmd.current_dir(crate::support::repo_root()).args(["build", "-p", "nrt-shim"]);
        if crate::support::profile_dir().file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let out = run(&mut cmd, Duration::from_secs(300));
        assert!(out.status.success(), "building nrt-shim: {}", text(&out));
    }
    p
}

pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nrt-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn sources() -> crate::install::Sources {
    let root = crate::support::repo_root();
    crate::install::Sources {
        version: crate::install::package_version(&root.join("Cargo.toml")),
        shim: crate::support::shim_lib(),
        nrt_shim: nrt_shim_binary(),
        sim_v3: crate::support::artefact("libnrt_sim.so"),
        sim_v2: crate::support::artefact("libnrt_sim_v2.so"),
        include: root.join("include"),
        pc_template: root.join("packaging/nrt-async-shim.pc.in"),
        demo: Vec::new(),
    }
}

pub const PROGRAM: &str = r#"
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

/// Builds [`PROGRAM`] in `work` with `pkg-config --cflags --libs nrt-async-shim` (the
/// `.pc` files in `pc_dir`; paths under `sysroot` when given, as for an unpacked
/// package) and `-L<sim> -lnrt`, then runs it with `LD_LIBRARY_PATH=<lib>:<sim>`:
/// it must pass and print the shim's version `version`. Returns the program.
pub fn build_and_run_with_pkg_config(
    pc_dir: &Path,
    sysroot: Option<&Path>,
    lib: &Path,
    sim: &Path,
    work: &Path,
    version: &str,
) -> PathBuf {
    let mut pkg = Command::new("pkg-config");
    pkg.args(["--cflags", "--libs", "nrt-async-shim"]).env("PKG_CONFIG_LIBDIR", pc_dir).env_remove("PKG_CONFIG_PATH");
    match sysroot {
        Some(s) => pkg.env("PKG_CONFIG_SYSROOT_DIR", s),
        None => pkg.env_remove("PKG_CONFIG_SYSROOT_DIR"),
    };
    let pkg = run(&mut pkg, Duration::from_secs(30));
    assert!(pkg.status.success(), "{}", text(&pkg));
    let flags = String::from_utf8_lossy(&pkg.stdout).to_string();
    let include = lib.parent().unwrap().join("include");
    assert!(flags.contains(&format!("-I{}", include.display())), "{flags}");
    assert!(flags.contains(&format!("-L{}", lib.display())) && flags.contains("-lnrt_async_shim"), "{flags}");

    let c = work.join("app.c");
    std::fs::write(&c, PROGRAM).unwrap();
    let exe = work.join("app");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let mut build = Command::new(&cc);
    build.args(["-std=c11", "-Wall", "-Wextra", "-Werror"]).arg(&c).arg("-o").arg(&exe);
    build.args(flags.split_whitespace()).arg(format!("-L{}", sim.display())).arg("-lnrt");
    let built = run(&mut build, Duration::from_secs(60));
    assert!(built.status.success(), "{}", text(&built));

    let ld = format!("{}:{}", lib.display(), sim.display());
    let ran = run(Command::new(&exe).env("LD_LIBRARY_PATH", &ld), Duration::from_secs(60));
    assert!(ran.status.success(), "{}", text(&ran));
    let out = String::from_utf8_lossy(&ran.stdout);
    assert!(out.contains(&format!("shim version: {version}")) && out.contains("outputs: ok"), "{}", text(&ran));
    exe
}

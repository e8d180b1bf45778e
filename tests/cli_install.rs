//! The installed layout (`cargo xtask install`, xtask/src/install.rs) and the
//! `nrt-shim` command run from it: installs this build into a temporary prefix, builds a
//! C program with `pkg-config --cflags --libs nrt-async-shim` against the installed
//! simulator, runs it, then runs it through `PREFIX/bin/nrt-shim run --sim` and checks
//! that the exit status and a signal pass through. Every run has a watchdog.

mod support;

#[path = "../xtask/src/install.rs"]
mod install;

mod installed;

use installed::{build_and_run_with_pkg_config, run, sources, temp_dir, text};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

#[test]
fn install_into_a_prefix_then_build_and_run_with_pkg_config() {
    if !support::require_tool("pkg-config", "pkg-config", "building against the installed layout") {
        return;
    }
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
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&lib.join("libnrt_async_shim.so.1")), 0o644, "a shared library is not a program");
    assert_eq!(mode(&prefix.join("bin/nrt-shim")), 0o755);
    let readelf =
        run(Command::new("readelf").arg("-d").arg(lib.join("libnrt_async_shim.so.1")), Duration::from_secs(30));
    assert!(
        String::from_utf8_lossy(&readelf.stdout).contains("[libnrt_async_shim.so.1]"),
        "SONAME: {}",
        text(&readelf)
    );

    // A program built the way a user would (pkg-config), linked with the shim and the
    // installed simulator, run with the shim found through LD_LIBRARY_PATH too.
    let work = temp_dir("build");
    let sim = lib.join("nrt-sim/lib");
    let exe = build_and_run_with_pkg_config(&lib.join("pkgconfig"), None, &lib, &sim, &work, &src.version);

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

//! Project tasks. `cargo xtask sim [--release] [--out DIR]` builds both nrt-sim
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
    eprintln!("usage: cargo xtask sim [--release] [--out DIR]");
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

fn sim(args: &[String]) {
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
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("sim") => sim(&args[1..]),
        _ => usage(),
    }
}

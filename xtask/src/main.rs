//! Project tasks.
//!
//! `cargo xtask demo [ITERATIONS]` builds the shim, `nrt-shim` and the simulator
//! (release), compiles the legacy program tests/legacy/p2_double_buffer.c and the
//! demo's timing interposer (cli/demo/timeline.c) into target/nrt-demo/, then runs
//! `target/release/nrt-shim demo`: the program four ways on the simulator (the
//! synchronous 2.31+ runtime, the old implicit-async mode under each of its two
//! fence rules, the shim), a table, a comparison picture of all four on one time
//! axis, and a trace and SVG timeline of each in target/nrt-demo/.
//!
//! `cargo xtask install [--prefix /usr/local] [--destdir DIR]` builds the same and
//! installs the library, header, pkg-config file, `nrt-shim`, the simulator and the
//! demo program (layout in xtask/src/install.rs). `DESTDIR` is honoured too.
//!
//! `cargo xtask package [--out DIR]` builds the same into a Debian package,
//! target/debian/nrt-async-shim_<version>_<arch>.deb (xtask/src/package.rs).
//!
//! `cargo xtask bindings [--check]` regenerates (or checks) the committed Rust
//! bindings of include/nrt/, sys/src/bindings_v3.rs and bindings_v2.rs (bindgen and
//! libclang are needed for this task only; see xtask/src/bindings.rs).
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

mod bindings;
mod install;
mod package;

use std::path::{Path, PathBuf};
use std::process::{exit, Command};

fn usage() -> ! {
    eprintln!(
        "usage: cargo xtask sim [--release] [--out DIR]\n       cargo xtask demo [ITERATIONS]\n       cargo xtask install [--prefix /usr/local] [--destdir DIR]\n       cargo xtask package [--out DIR]\n       cargo xtask bindings [--check] [--committed DIR]"
    );
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

/// Compiles the demo's legacy program and the timing interposer into `out`
/// (target/nrt-demo): `double_buffer` and `libnrt_demo_timeline.so`.
fn build_demo_programs(root: &Path, v3: &Path, out: &Path) -> Vec<PathBuf> {
    install::build_demo(root, v3, out).unwrap_or_else(|e| {
        eprintln!("xtask: {e}");
        exit(1)
    })
}

fn demo(args: &[String]) {
    let iterations: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(200);
    let root = workspace_root();
    run_cargo(&root, &["build", "--release", "-p", "nrt-async-shim", "-p", "nrt-shim"]);
    let (v3, _) = sim(&["--release".to_string()]);
    let target = target_dir(&root);
    let out = target.join("nrt-demo");
    build_demo_programs(&root, &v3, &out);
    println!();
    let st = Command::new(target.join("release/nrt-shim"))
        .args(["demo", "--iterations", &iterations.to_string(), "--out"])
        .arg(&out)
        .arg("--program")
        .arg(out.join("double_buffer"))
        .status()
        .expect("cannot run target/release/nrt-shim");
    exit(st.code().unwrap_or(1));
}

/// Builds the shim, `nrt-shim`, the simulator (release) and the demo programs: what
/// `install` and `package` install.
fn release_sources(root: &Path) -> install::Sources {
    run_cargo(root, &["build", "--release", "-p", "nrt-async-shim", "-p", "nrt-shim"]);
    let (v3, _) = sim(&["--release".to_string()]);
    let target = target_dir(root);
    let release = target.join("release");
    let demo = build_demo_programs(root, &v3, &target.join("nrt-demo"));
    install::Sources {
        version: install::package_version(&root.join("Cargo.toml")),
        shim: release.join("libnrt_async_shim.so"),
        nrt_shim: release.join("nrt-shim"),
        sim_v3: release.join("libnrt_sim.so"),
        sim_v2: release.join("libnrt_sim_v2.so"),
        include: root.join("include"),
        pc_template: root.join("packaging/nrt-async-shim.pc.in"),
        demo,
    }
}

/// `cargo xtask package [--out DIR]`: the Debian package (xtask/src/package.rs).
fn package_cmd(args: &[String]) {
    let root = workspace_root();
    let target = target_dir(&root);
    let mut out = target.join("debian");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" => out = std::env::current_dir().unwrap().join(it.next().unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    // Before the build: a missing tool or a stale changelog is said at once.
    let check = install::package_version(&root.join("Cargo.toml"));
    if let Err(e) = package::architecture().and_then(|_| package::debian_version(&root, &check)) {
        eprintln!("xtask: {e}");
        exit(1);
    }
    let src = release_sources(&root);
    match package::build(&src, &root, &target.join("nrt-deb"), &out) {
        Ok(b) => {
            println!();
            println!("{}", b.deb.display());
            for l in b
                .control
                .lines()
                .filter(|l| ["Version:", "Depends:", "Installed-Size:"].iter().any(|f| l.starts_with(f)))
            {
                println!("  {l}");
            }
            println!("  (Depends from {})", b.depends_from);
            println!("install it:  sudo apt install {}", b.deb.display());
            println!("then:        nrt-shim doctor; nrt-shim demo; cc app.c $(pkg-config --cflags --libs nrt-async-shim) -lnrt");
        }
        Err(e) => {
            eprintln!("xtask: package failed: {e}");
            exit(1);
        }
    }
}

/// `cargo xtask install [--prefix /usr/local] [--destdir D]`
fn install_cmd(args: &[String]) {
    let mut prefix = PathBuf::from("/usr/local");
    let mut destdir: Option<PathBuf> = std::env::var_os("DESTDIR").filter(|d| !d.is_empty()).map(PathBuf::from);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--prefix" => prefix = PathBuf::from(it.next().unwrap_or_else(|| usage())),
            "--destdir" => destdir = Some(PathBuf::from(it.next().unwrap_or_else(|| usage()))),
            _ => usage(),
        }
    }
    let cwd = std::env::current_dir().unwrap();
    if !prefix.is_absolute() {
        prefix = cwd.join(prefix);
    }
    let destdir = destdir.map(|d| if d.is_absolute() { d } else { cwd.join(d) });
    let src = release_sources(&workspace_root());
    match install::install(&src, &prefix, destdir.as_deref()) {
        Ok(made) => {
            for m in &made {
                println!("installed {}", m.display());
            }
            let p = prefix.display();
            println!();
            println!(
                "nrt-async-shim installed under {p}{}",
                destdir.map(|d| format!(" (staged in {})", d.display())).unwrap_or_default()
            );
            println!("  run a program with it:   {p}/bin/nrt-shim run -- ./app     (nrt-shim doctor ./app checks the set-up)");
            println!("  link against it:         cc app.c $(pkg-config --cflags --libs nrt-async-shim) -lnrt   (PKG_CONFIG_PATH={p}/lib/pkgconfig if needed)");
            println!("  the simulator (no device): {p}/lib/nrt-sim/lib (v3), {p}/lib/nrt-sim/lib-v2 (v2); `nrt-shim run --sim`");
            println!("  if {p}/lib is not searched by the loader: run ldconfig, or add it to LD_LIBRARY_PATH");
        }
        Err(e) => {
            eprintln!("xtask: install failed: {e}");
            eprintln!(
                "xtask: (a system prefix needs root: sudo -E cargo xtask install, or choose --prefix $HOME/.local)"
            );
            exit(1);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("sim") => {
            sim(&args[1..]);
        }
        Some("demo") => demo(&args[1..]),
        Some("install") => install_cmd(&args[1..]),
        Some("package") => package_cmd(&args[1..]),
        Some("bindings") => {
            let root = workspace_root();
            bindings::main(&root, &target_dir(&root), &args[1..])
        }
        _ => usage(),
    }
}

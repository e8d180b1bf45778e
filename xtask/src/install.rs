//! The installed layout, one list ([`layout`]) used by `cargo xtask install`, by
//! `cargo xtask package` (the Debian package, xtask/src/package.rs) and by the tests
//! (tests/cli_install.rs and tests/package.rs include this file with `#[path]`), so
//! every one of them checks the real thing.
//!
//! ```text
//! PREFIX/lib/libnrt_async_shim.so.1           the shim (SONAME libnrt_async_shim.so.1)
//! PREFIX/lib/libnrt_async_shim.so -> libnrt_async_shim.so.1
//! PREFIX/lib/pkgconfig/nrt-async-shim.pc
//! PREFIX/include/nrt_async_shim.h             the shim's own C interface
//! PREFIX/include/nrt-async-shim/nrt/*.h       the shim's copy of the runtime's headers
//! PREFIX/bin/nrt-shim
//! PREFIX/lib/nrt-sim/lib/libnrt.so.1          the simulator, v3 (+ libnrt.so link)
//! PREFIX/lib/nrt-sim/lib-v2/libnrt.so.1       the simulator, v2 (+ libnrt.so link)
//! PREFIX/libexec/nrt-async-shim/double_buffer, libnrt_demo_timeline.so   for `nrt-shim demo`
//! ```
//!
//! The simulator is never put in PREFIX/lib, where it would shadow a real runtime.
//! Modes follow Debian's policy: 0755 for programs and directories, 0644 for
//! everything else, shared libraries included (the loader needs no execute bit).
#![allow(dead_code)] // each user needs part of it

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// What to install, from a build.
pub struct Sources {
    pub version: String,
    /// target/<profile>/libnrt_async_shim.so
    pub shim: PathBuf,
    /// target/<profile>/nrt-shim
    pub nrt_shim: PathBuf,
    /// target/<profile>/libnrt_sim.so and libnrt_sim_v2.so
    pub sim_v3: PathBuf,
    pub sim_v2: PathBuf,
    /// The repository's include/ (nrt_async_shim.h, nrt/*.h).
    pub include: PathBuf,
    /// packaging/nrt-async-shim.pc.in
    pub pc_template: PathBuf,
    /// The compiled demo program and timing interposer, if built.
    pub demo: Vec<PathBuf>,
}

/// One installed file or link.
pub enum Item {
    /// A copy of a built or committed file.
    Copy { from: PathBuf, mode: u32 },
    /// A file made here (the pkg-config file).
    Text { text: String, mode: u32 },
    /// A symbolic link, with its (relative) target.
    Link(String),
}

/// An installed path, relative to the prefix (`lib/libnrt_async_shim.so.1`), and what goes there.
pub struct Entry {
    pub path: PathBuf,
    pub item: Item,
}

/// The mode of an installed copy of `path`: shared libraries are not programs.
fn mode_of(path: &Path) -> u32 {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    if name.ends_with(".so") || name.contains(".so.") {
        0o644
    } else {
        0o755
    }
}

fn ctx<T>(r: io::Result<T>, what: &str, path: &Path) -> io::Result<T> {
    r.map_err(|e| io::Error::new(e.kind(), format!("{what} {}: {e}", path.display())))
}

/// Everything installed under `prefix` (which the pkg-config file names), in order.
pub fn layout(src: &Sources, prefix: &Path) -> io::Result<Vec<Entry>> {
    let copy =
        |path: &str, from: &Path, mode: u32| Entry { path: path.into(), item: Item::Copy { from: from.into(), mode } };
    let link = |path: &str, target: &str| Entry { path: path.into(), item: Item::Link(target.into()) };
    let mut v = vec![
        copy("lib/libnrt_async_shim.so.1", &src.shim, 0o644),
        link("lib/libnrt_async_shim.so", "libnrt_async_shim.so.1"),
        copy("include/nrt_async_shim.h", &src.include.join("nrt_async_shim.h"), 0o644),
    ];
    let nrt_dir = src.include.join("nrt");
    let mut headers: Vec<PathBuf> = ctx(fs::read_dir(&nrt_dir), "reading", &nrt_dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "h"))
        .collect();
    headers.sort();
    for hdr in headers {
        let to = format!("include/nrt-async-shim/nrt/{}", hdr.file_name().unwrap().to_string_lossy());
        v.push(copy(&to, &hdr, 0o644));
    }
    let template = ctx(fs::read_to_string(&src.pc_template), "reading", &src.pc_template)?;
    let pc = template.replace("@PREFIX@", &prefix.display().to_string()).replace("@VERSION@", &src.version);
    v.push(Entry { path: "lib/pkgconfig/nrt-async-shim.pc".into(), item: Item::Text { text: pc, mode: 0o644 } });
    v.push(copy("bin/nrt-shim", &src.nrt_shim, 0o755));
    for (from, dir) in [(&src.sim_v3, "lib"), (&src.sim_v2, "lib-v2")] {
        v.push(copy(&format!("lib/nrt-sim/{dir}/libnrt.so.1"), from, 0o644));
        v.push(link(&format!("lib/nrt-sim/{dir}/libnrt.so"), "libnrt.so.1"));
    }
    for f in &src.demo {
        let to = format!("libexec/nrt-async-shim/{}", f.file_name().unwrap().to_string_lossy());
        v.push(copy(&to, f, mode_of(f)));
    }
    Ok(v)
}

/// `destdir` + `prefix` (prefix must be absolute).
pub fn staged(prefix: &Path, destdir: Option<&Path>) -> PathBuf {
    match destdir {
        Some(d) => d.join(prefix.strip_prefix("/").unwrap_or(prefix)),
        None => prefix.to_path_buf(),
    }
}

/// Writes `to` atomically (temporary file + rename) with `mode`, from `fill(tmp)`.
fn put(to: &Path, mode: u32, fill: impl FnOnce(&Path) -> io::Result<()>) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = to.parent().unwrap();
    ctx(fs::create_dir_all(dir), "creating", dir)?;
    let tmp = dir.join(format!(".{}.tmp{}", to.file_name().unwrap().to_string_lossy(), std::process::id()));
    fill(&tmp)?;
    ctx(fs::set_permissions(&tmp, fs::Permissions::from_mode(mode)), "chmod", &tmp)?;
    ctx(fs::rename(&tmp, to), "installing", to)
}

fn link(target: &str, at: &Path) -> io::Result<()> {
    let dir = at.parent().unwrap();
    ctx(fs::create_dir_all(dir), "creating", dir)?;
    let _ = fs::remove_file(at);
    ctx(std::os::unix::fs::symlink(target, at), "linking", at)
}

/// Installs; returns the files and links made (staged paths).
pub fn install(src: &Sources, prefix: &Path, destdir: Option<&Path>) -> io::Result<Vec<PathBuf>> {
    if !prefix.is_absolute() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("--prefix {} must be absolute", prefix.display()),
        ));
    }
    let root = staged(prefix, destdir);
    let mut made = Vec::new();
    for e in layout(src, prefix)? {
        let to = root.join(&e.path);
        match &e.item {
            Item::Copy { from, mode } => put(&to, *mode, |tmp| ctx(fs::copy(from, tmp), "copying", from).map(drop))?,
            Item::Text { text, mode } => put(&to, *mode, |tmp| ctx(fs::write(tmp, text), "writing", &to))?,
            Item::Link(target) => link(target, &to)?,
        }
        made.push(to);
    }
    Ok(made)
}

/// The `version = "..."` of a Cargo.toml's [package].
pub fn package_version(manifest: &Path) -> String {
    fs::read_to_string(manifest)
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.trim()
                    .strip_prefix("version")
                    .map(|r| r.trim_start().trim_start_matches('=').trim().trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "0.0.0".into())
}

/// Compiles the demo's legacy program and its timing interposer into `out`:
/// `double_buffer` (linked with `-lnrt` from `sim_dir`) and `libnrt_demo_timeline.so`,
/// with Debian's hardening flags (they are installed programs).
pub fn build_demo(repo: &Path, sim_dir: &Path, out: &Path) -> Result<Vec<PathBuf>, String> {
    fs::create_dir_all(out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let include = format!("-I{}", repo.join("include").display());
    let exe = out.join("double_buffer");
    let lib = out.join("libnrt_demo_timeline.so");
    let builds: [(PathBuf, &PathBuf, Vec<String>); 2] = [
        (repo.join("tests/legacy/p2_double_buffer.c"), &exe, vec![format!("-L{}", sim_dir.display()), "-lnrt".into()]),
        (repo.join("cli/demo/timeline.c"), &lib, vec!["-shared".into(), "-fPIC".into(), "-ldl".into()]),
    ];
    let hardening = ["-D_FORTIFY_SOURCE=2", "-fstack-protector-strong", "-Wl,-z,relro,-z,now"];
    for (src, dst, extra) in builds {
        let st = std::process::Command::new(&cc)
            .args(["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-pthread", &include])
            .args(hardening)
            .arg(&src)
            .arg("-o")
            .arg(dst)
            .args(&extra)
            .status()
            .map_err(|e| format!("cannot run the C compiler `{cc}` (set CC): {e}"))?;
        if !st.success() {
            return Err(format!("compiling {} failed", src.display()));
        }
    }
    Ok(vec![exe, lib])
}

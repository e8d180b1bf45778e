//! The installed layout, used by `cargo xtask install` and by `tests/cli_install.rs`
//! (which includes this file with `#[path]`), so the test checks the real thing.
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
#![allow(dead_code)] // the test uses part of it

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

/// `destdir` + `prefix` (prefix must be absolute).
pub fn staged(prefix: &Path, destdir: Option<&Path>) -> PathBuf {
    match destdir {
        Some(d) => d.join(prefix.strip_prefix("/").unwrap_or(prefix)),
        None => prefix.to_path_buf(),
    }
}

fn ctx<T>(r: io::Result<T>, what: &str, path: &Path) -> io::Result<T> {
    r.map_err(|e| io::Error::new(e.kind(), format!("{what} {}: {e}", path.display())))
}

/// Copies `from` to `to` atomically (temporary file + rename), with `mode`.
fn put(from: &Path, to: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = to.parent().unwrap();
    ctx(fs::create_dir_all(dir), "creating", dir)?;
    let tmp = dir.join(format!(".{}.tmp{}", to.file_name().unwrap().to_string_lossy(), std::process::id()));
    ctx(fs::copy(from, &tmp), "copying", from)?;
    ctx(fs::set_permissions(&tmp, fs::Permissions::from_mode(mode)), "chmod", &tmp)?;
    ctx(fs::rename(&tmp, to), "installing", to)
}

fn link(target: &str, at: &Path) -> io::Result<()> {
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
    let lib = root.join("lib");
    let mut made = Vec::new();

    let so1 = lib.join("libnrt_async_shim.so.1");
    put(&src.shim, &so1, 0o755)?;
    let so = lib.join("libnrt_async_shim.so");
    link("libnrt_async_shim.so.1", &so)?;
    made.extend([so1, so]);

    let h = root.join("include/nrt_async_shim.h");
    put(&src.include.join("nrt_async_shim.h"), &h, 0o644)?;
    made.push(h);
    let nrt_dir = src.include.join("nrt");
    let mut headers: Vec<PathBuf> = ctx(fs::read_dir(&nrt_dir), "reading", &nrt_dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "h"))
        .collect();
    headers.sort();
    for hdr in headers {
        let to = root.join("include/nrt-async-shim/nrt").join(hdr.file_name().unwrap());
        put(&hdr, &to, 0o644)?;
        made.push(to);
    }

    let template = ctx(fs::read_to_string(&src.pc_template), "reading", &src.pc_template)?;
    let pc = template.replace("@PREFIX@", &prefix.display().to_string()).replace("@VERSION@", &src.version);
    let pc_path = lib.join("pkgconfig/nrt-async-shim.pc");
    ctx(fs::create_dir_all(pc_path.parent().unwrap()), "creating", &pc_path)?;
    ctx(fs::write(&pc_path, pc), "writing", &pc_path)?;
    made.push(pc_path);

    let bin = root.join("bin/nrt-shim");
    put(&src.nrt_shim, &bin, 0o755)?;
    made.push(bin);

    for (from, dir) in [(&src.sim_v3, "lib"), (&src.sim_v2, "lib-v2")] {
        let d = lib.join("nrt-sim").join(dir);
        let so1 = d.join("libnrt.so.1");
        put(from, &so1, 0o755)?;
        let so = d.join("libnrt.so");
        link("libnrt.so.1", &so)?;
        made.extend([so1, so]);
    }

    for f in &src.demo {
        let to = root.join("libexec/nrt-async-shim").join(f.file_name().unwrap());
        put(f, &to, 0o755)?;
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

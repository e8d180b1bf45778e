//! Finding the shim, the simulator, the demo program and the system's runtime.
//!
//! Two layouts are known, both found from where `nrt-shim` itself lives:
//!
//! ```text
//! installed:  PREFIX/bin/nrt-shim                       build tree:  target/<profile>/nrt-shim
//!             PREFIX/lib/libnrt_async_shim.so                        target/<profile>/libnrt_async_shim.so
//!             PREFIX/lib/nrt-sim/lib/libnrt.so.1  (v3)               target/nrt-sim/lib/libnrt.so.1
//!             PREFIX/lib/nrt-sim/lib-v2/libnrt.so.1 (v2)             target/nrt-sim/lib-v2/libnrt.so.1
//!             PREFIX/libexec/nrt-async-shim/double_buffer            target/nrt-demo/double_buffer
//! ```
//!
//! `NRT_SHIM_LIB` (the shim's file) and `NRT_SHIM_SIM_DIR` (the directory holding
//! `lib/` and `lib-v2/`) override both.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The runtime's file name, as programs are linked against it.
pub const RUNTIME: &str = "libnrt.so.1";
/// Where the Neuron SDK's packages put the runtime.
pub const NEURON_LIB_DIR: &str = "/opt/aws/neuron/lib";

/// The directory of the running `nrt-shim`.
pub fn exe_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let exe = exe.canonicalize().unwrap_or(exe);
    exe.parent().map(Path::to_path_buf)
}

/// `PREFIX` when `nrt-shim` runs as `PREFIX/bin/nrt-shim` of an installed layout.
pub fn installed_prefix() -> Option<PathBuf> {
    let dir = exe_dir()?;
    if dir.file_name()? != "bin" {
        return None;
    }
    let prefix = dir.parent()?.to_path_buf();
    let lib = prefix.join("lib");
    (lib.join("libnrt_async_shim.so.1").exists() || lib.join("libnrt_async_shim.so").exists()).then_some(prefix)
}

/// `target/` when `nrt-shim` runs from a cargo build tree (`target/<profile>/`).
fn build_target_dir() -> Option<PathBuf> {
    let dir = exe_dir()?;
    // target/<profile>/nrt-shim, or target/<profile>/deps/<test> for unit tests.
    let profile = if dir.file_name()? == "deps" { dir.parent()?.to_path_buf() } else { dir };
    let target = profile.parent()?.to_path_buf();
    (target.join("CACHEDIR.TAG").exists() || profile.join(".cargo-lock").exists()).then_some(target)
}

fn newest(candidates: impl IntoIterator<Item = PathBuf>) -> Option<PathBuf> {
    candidates
        .into_iter()
        .filter_map(|p| std::fs::metadata(&p).and_then(|m| m.modified()).ok().map(|t| (t, p)))
        .max_by_key(|(t, _)| *t)
        .map(|(_, p)| p)
}

/// The shim's shared library.
pub fn shim_lib() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("NRT_SHIM_LIB").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(absolute(&p))
        } else {
            Err(format!("NRT_SHIM_LIB={} is not a file: point it at libnrt_async_shim.so, or unset it", p.display()))
        };
    }
    if let Some(prefix) = installed_prefix() {
        for name in ["libnrt_async_shim.so.1", "libnrt_async_shim.so"] {
            let p = prefix.join("lib").join(name);
            if p.exists() {
                return Ok(p);
            }
        }
    }
    if let (Some(target), Some(dir)) = (build_target_dir(), exe_dir()) {
        let own = if dir.file_name().is_some_and(|n| n == "deps") { dir.parent().unwrap().to_path_buf() } else { dir };
        // This profile first; else whichever profile was built last.
        let p = own.join("libnrt_async_shim.so");
        if p.is_file() {
            return Ok(p);
        }
        if let Some(p) = newest(["release", "debug"].iter().map(|prof| target.join(prof).join("libnrt_async_shim.so")))
        {
            return Ok(p);
        }
    }
    Err("cannot find libnrt_async_shim.so next to nrt-shim: build it (`cargo build --release`), install it \
         (`cargo xtask install`), or set NRT_SHIM_LIB=/path/libnrt_async_shim.so"
        .into())
}

/// The simulator's directory (holding `lib/` and `lib-v2/`).
pub fn sim_root() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("NRT_SHIM_SIM_DIR").filter(|v| !v.is_empty()) {
        let p = absolute(Path::new(&p));
        return if p.join("lib").join(RUNTIME).exists() || p.join("lib-v2").join(RUNTIME).exists() {
            Ok(p)
        } else {
            Err(format!(
                "NRT_SHIM_SIM_DIR={} holds no lib/libnrt.so.1: point it at the directory `cargo xtask sim` \
                 made (target/nrt-sim), or unset it",
                p.display()
            ))
        };
    }
    if let Some(prefix) = installed_prefix() {
        let p = prefix.join("lib").join("nrt-sim");
        if p.join("lib").join(RUNTIME).exists() {
            return Ok(p);
        }
    }
    if let Some(target) = build_target_dir() {
        let p = target.join("nrt-sim");
        if p.join("lib").join(RUNTIME).exists() {
            return Ok(p);
        }
    }
    Err("cannot find the simulator (nrt-sim/lib/libnrt.so.1) next to nrt-shim: build it (`cargo xtask sim \
         --release`), install it (`cargo xtask install`), or set NRT_SHIM_SIM_DIR=/path/nrt-sim"
        .into())
}

/// The simulator's library directory for `nrta_*` generation `abi` (2 or 3).
pub fn sim_lib_dir(abi: u32) -> Result<PathBuf, String> {
    let root = sim_root()?;
    let dir = root.join(if abi == 2 { "lib-v2" } else { "lib" });
    if dir.join(RUNTIME).exists() {
        Ok(dir)
    } else {
        Err(format!("{} is missing: rebuild the simulator (`cargo xtask sim --release`)", dir.join(RUNTIME).display()))
    }
}

/// The compiled legacy program the demo runs.
pub fn demo_program() -> Result<PathBuf, String> {
    let mut tried = Vec::new();
    if let Some(prefix) = installed_prefix() {
        tried.push(prefix.join("libexec/nrt-async-shim/double_buffer"));
    }
    if let Some(target) = build_target_dir() {
        tried.push(target.join("nrt-demo/double_buffer"));
    }
    if let Some(p) = tried.iter().find(|p| p.is_file()) {
        return Ok(p.clone());
    }
    Err("the demo's legacy program is not built: run `cargo xtask demo` (builds everything, then runs \
         `nrt-shim demo`), or pass --program PATH (tests/legacy/p2_double_buffer.c compiled with -lnrt)"
        .into())
}

pub fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf())
    }
}

/// Where the loader would find `libnrt.so.1` for a program without RPATH, and how.
#[derive(Clone, Debug)]
pub struct Found {
    pub path: PathBuf,
    /// `LD_LIBRARY_PATH`, `ldconfig cache` or `/opt/aws/neuron/lib` (not on the loader's path).
    pub source: &'static str,
    /// Whether the dynamic loader finds it without help.
    pub on_loader_path: bool,
}

/// The `libnrt.so.1` the loader would use (LD_LIBRARY_PATH, then the ldconfig cache),
/// else the Neuron SDK's default directory (which the loader does not search by itself).
pub fn system_runtime() -> Option<Found> {
    system_runtime_with(std::env::var("LD_LIBRARY_PATH").ok().as_deref())
}

pub fn system_runtime_with(ld_library_path: Option<&str>) -> Option<Found> {
    for dir in ld_library_path.unwrap_or("").split(':').filter(|d| !d.is_empty()) {
        let p = Path::new(dir).join(RUNTIME);
        if p.exists() {
            return Some(Found { path: p, source: "LD_LIBRARY_PATH", on_loader_path: true });
        }
    }
    if let Some(p) = ldconfig_lookup(RUNTIME) {
        return Some(Found { path: p, source: "the ldconfig cache", on_loader_path: true });
    }
    let p = Path::new(NEURON_LIB_DIR).join(RUNTIME);
    if p.exists() {
        return Some(Found { path: p, source: NEURON_LIB_DIR, on_loader_path: false });
    }
    None
}

/// `ldconfig -p`'s entry for `name` (the first, as the loader picks it).
pub fn ldconfig_lookup(name: &str) -> Option<PathBuf> {
    let out = ["ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"]
        .iter()
        .find_map(|l| Command::new(l).arg("-p").output().ok().filter(|o| o.status.success()))?;
    parse_ldconfig(&String::from_utf8_lossy(&out.stdout), name)
}

pub fn parse_ldconfig(text: &str, name: &str) -> Option<PathBuf> {
    text.lines().find_map(|line| {
        let line = line.trim();
        let (lhs, rhs) = line.split_once("=>")?;
        (lhs.split_whitespace().next()? == name).then(|| PathBuf::from(rhs.trim()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldconfig_output_is_parsed() {
        let text = "3 libs found in cache `/etc/ld.so.cache'\n\
                    \tlibnrt.so.1 (libc6,x86-64) => /opt/aws/neuron/lib/libnrt.so.1\n\
                    \tlibnrt.so (libc6,x86-64) => /opt/aws/neuron/lib/libnrt.so\n";
        assert_eq!(parse_ldconfig(text, "libnrt.so.1"), Some(PathBuf::from("/opt/aws/neuron/lib/libnrt.so.1")));
        assert_eq!(parse_ldconfig(text, "libnrt.so.2"), None);
    }

    #[test]
    fn ld_library_path_comes_first() {
        let dir = std::env::temp_dir().join(format!("nrt-shim-locate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(RUNTIME), b"").unwrap();
        let found = system_runtime_with(Some(&format!("/nonexistent:{}", dir.display()))).unwrap();
        assert_eq!(found.path, dir.join(RUNTIME));
        assert_eq!(found.source, "LD_LIBRARY_PATH");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! The Debian package, `nrt-async-shim_<version>_<arch>.deb`, made by `cargo xtask
//! package` (and by tests/package.rs, which includes this file with `#[path]`).
//!
//! Its files are the installed layout of xtask/src/install.rs under `/usr` (one
//! list for both), stripped as dh_strip would, plus `/usr/share/doc/nrt-async-shim/`
//! (copyright, changelog.Debian.gz, the README and LD_PRELOAD.md), the man page
//! of `nrt-shim` and the lintian overrides (packaging/deb/lintian-overrides says
//! why each is there). The control file comes from packaging/deb/control.in: the version
//! from packaging/deb/changelog (whose upstream part must be Cargo.toml's), the
//! architecture from `dpkg --print-architecture`, `Depends` from the binaries'
//! needs (dpkg-shlibdeps when installed, else their symbol versions), Installed-Size
//! as dpkg-gencontrol counts it. `dpkg-deb --root-owner-group` builds it: root:root,
//! 0755 directories and programs, 0644 everything else.
#![allow(dead_code)] // each user needs part of it

use crate::install::{self, Item, Sources};
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The package's name.
pub const NAME: &str = "nrt-async-shim";

/// What was built.
pub struct Built {
    pub deb: PathBuf,
    /// The DEBIAN/control text.
    pub control: String,
    /// How `Depends` was computed: "dpkg-shlibdeps" or "symbol versions".
    pub depends_from: &'static str,
}

fn err(what: impl std::fmt::Display, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

/// Runs `cmd`; its stdout, or an error with its stderr. `package` names the Debian
/// package providing the program, for the message when it is missing.
fn output(cmd: &mut Command, package: &str) -> Result<String, String> {
    let prog = cmd.get_program().to_string_lossy().to_string();
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            format!("{prog} is not installed (apt-get install {package})")
        } else {
            err(format!("running {prog}"), e)
        }
    })?;
    if !out.status.success() {
        return Err(format!("{cmd:?} failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `dpkg --print-architecture`.
pub fn architecture() -> Result<String, String> {
    Ok(output(Command::new("dpkg").arg("--print-architecture"), "dpkg")?.trim().to_string())
}

/// The Debian version of the newest entry of packaging/deb/changelog, checked
/// against the crate's version (`0.1.0` must be packaged as `0.1.0-N`).
pub fn debian_version(repo: &Path, upstream: &str) -> Result<String, String> {
    let path = repo.join("packaging/deb/changelog");
    let text = fs::read_to_string(&path).map_err(|e| err(path.display(), e))?;
    let first = text.lines().next().unwrap_or_default();
    let version = first
        .strip_prefix(&format!("{NAME} ("))
        .and_then(|r| r.split_once(')'))
        .map(|(v, _)| v.to_string())
        .ok_or_else(|| format!("{}: the first line is not \"{NAME} (VERSION) ...\"", path.display()))?;
    match version.rsplit_once('-') {
        Some((up, _)) if up == upstream => Ok(version),
        _ => Err(format!(
            "packaging/deb/changelog's newest entry is {version}, but Cargo.toml says {upstream}: \
             add an entry for {upstream}-1 (dch -v {upstream}-1)"
        )),
    }
}

fn is_elf(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    fs::File::open(path).and_then(|mut f| io::Read::read_exact(&mut f, &mut magic)).is_ok() && magic == *b"\x7fELF"
}

/// Strips as dh_strip does: shared libraries to their dynamic symbols, programs of
/// their symbol tables; both lose .comment and .note.
fn strip(path: &Path, shared: bool) -> Result<(), String> {
    let mut cmd = Command::new("strip");
    cmd.args(["--remove-section=.comment", "--remove-section=.note"]);
    if shared {
        cmd.arg("--strip-unneeded");
    }
    output(cmd.arg(path), "binutils").map(drop)
}

/// `gzip -9n` of `from` into `to` (Debian's way for docs and man pages).
fn gzip(from: &Path, to: &Path) -> Result<(), String> {
    let file = fs::File::create(to).map_err(|e| err(to.display(), e))?;
    let st = Command::new("gzip")
        .args(["-9n", "-c"])
        .arg(from)
        .stdout(file)
        .status()
        .map_err(|e| err("running gzip (apt-get install gzip)", e))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("gzip {} failed", from.display()))
    }
}

/// The Rust crates compiled into the shipped binaries, as ` name version (license)`
/// lines (from `cargo tree`, proc-macros and the project's own crates left out).
fn crate_lines(repo: &Path) -> Result<String, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(repo).args(["tree", "--quiet", "-e", "normal,no-proc-macro", "--prefix", "none", "-f", "{p}|{l}"]);
    for p in ["nrt-async-shim", "nrt-shim", "nrt-sim", "nrt-sim-v2"] {
        cmd.args(["-p", p]);
    }
    let tree = output(&mut cmd, "cargo")?;
    let mut lines: Vec<String> = tree
        .lines()
        .filter_map(|l| l.trim_end_matches(" (*)").split_once('|'))
        .filter(|(p, _)| !p.contains(" (/")) // the workspace's own (path) crates: Files: *
        .map(|(p, l)| format!(" {p} ({l})").replace(" v", " "))
        .collect();
    lines.sort();
    lines.dedup();
    if lines.is_empty() {
        return Err("cargo tree listed no crates".into());
    }
    Ok(lines.join("\n"))
}

/// Every ELF file under `dir` (the staged package), for `Depends`.
fn elf_files(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for e in fs::read_dir(dir)? {
        let e = e?;
        let t = e.file_type()?;
        if t.is_dir() {
            elf_files(&e.path(), out)?;
        } else if t.is_file() && is_elf(&e.path()) {
            out.push(e.path());
        }
    }
    Ok(())
}

/// `Depends` from the symbol versions the binaries need (`objdump -p`): the C
/// library's sonames are libc6's, at least the newest GLIBC_ version referenced;
/// libgcc_s.so.1 is libgcc-s1's, at least the newest GCC_ version (as the symbols
/// files of both packages map them). Libraries the package holds itself need no
/// dependency; any other library is an error (install dpkg-dev for dpkg-shlibdeps).
pub fn depends_from_symbol_versions(files: &[PathBuf], own: &[String]) -> Result<String, String> {
    fn newer(a: &mut Vec<u32>, b: &str) {
        let v: Vec<u32> = b.split('.').map(|x| x.parse().unwrap_or(0)).collect();
        if v > *a {
            *a = v;
        }
    }
    let show = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(".");
    let (mut libc, mut libgcc) = (Vec::new(), Vec::new());
    let (mut need_libc, mut need_libgcc) = (false, false);
    for f in files {
        let dump = output(Command::new("objdump").arg("-p").arg(f), "binutils")?;
        for line in dump.lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            match w.as_slice() {
                ["NEEDED", lib] => {
                    let lib = *lib;
                    let c =
                        ["libc.so.", "libm.so.", "libdl.so.", "libpthread.so.", "librt.so.", "libutil.so.", "ld-linux"];
                    if c.iter().any(|p| lib.starts_with(p)) {
                        need_libc = true;
                    } else if lib == "libgcc_s.so.1" {
                        need_libgcc = true;
                    } else if !own.iter().any(|o| o == lib) {
                        return Err(format!(
                            "{} needs {lib}: its package is unknown without dpkg-shlibdeps (apt-get install dpkg-dev)",
                            f.display()
                        ));
                    }
                }
                [_, _, _, v] if v.starts_with("GLIBC_") && !v.starts_with("GLIBC_PRIVATE") => {
                    newer(&mut libc, &v["GLIBC_".len()..])
                }
                [_, _, _, v] if v.starts_with("GCC_") => newer(&mut libgcc, &v["GCC_".len()..]),
                _ => {}
            }
        }
    }
    let mut deps = Vec::new();
    if need_libc {
        deps.push(format!("libc6 (>= {})", show(&libc)));
    }
    if need_libgcc {
        // libgcc-s1's symbols file gives GCC_x.y.z as x.y.
        libgcc.truncate(2);
        deps.push(format!("libgcc-s1 (>= {})", show(&libgcc)));
    }
    Ok(deps.join(", "))
}

/// `Depends` by dpkg-shlibdeps, run in `work` (where the package is staged as
/// `debian/nrt-async-shim/`, as it expects), with the package's private library
/// directories searched, so that the demo's libnrt.so.1 is known to be the package's.
pub fn depends_from_dpkg_shlibdeps(work: &Path, files: &[PathBuf], private: &[PathBuf]) -> Result<String, String> {
    let control = work.join("debian/control");
    fs::write(&control, format!("Source: {NAME}\n\nPackage: {NAME}\nArchitecture: any\n"))
        .map_err(|e| err(control.display(), e))?;
    let mut cmd = Command::new("dpkg-shlibdeps");
    cmd.current_dir(work).arg("-O").arg("--ignore-missing-info").arg("--warnings=0");
    for d in private {
        cmd.arg(format!("-l{}", d.display()));
    }
    cmd.args(files);
    let out = output(&mut cmd, "dpkg-dev");
    let _ = fs::remove_file(&control);
    let out = out?;
    let deps = out.lines().find_map(|l| l.strip_prefix("shlibs:Depends=")).unwrap_or_default();
    Ok(deps.trim().to_string())
}

fn have(program: &str) -> bool {
    Command::new(program).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

/// Sets Debian's modes on the tree: directories 0755; files keep 0755 or 0644.
fn normalise(dir: &Path) -> io::Result<()> {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
    for e in fs::read_dir(dir)? {
        let e = e?;
        let t = e.file_type()?;
        if t.is_dir() {
            normalise(&e.path())?;
        } else if t.is_file() {
            let exec = e.metadata()?.permissions().mode() & 0o111 != 0;
            fs::set_permissions(e.path(), fs::Permissions::from_mode(if exec { 0o755 } else { 0o644 }))?;
        }
    }
    Ok(())
}

/// Installed-Size as dpkg-gencontrol counts it: the bytes of files and links, 1 KiB
/// per other object (directories), in KiB rounded up.
fn installed_size(dir: &Path) -> io::Result<u64> {
    fn walk(dir: &Path, total: &mut u64) -> io::Result<()> {
        *total += 1024;
        for e in fs::read_dir(dir)? {
            let e = e?;
            let m = fs::symlink_metadata(e.path())?;
            if m.is_dir() {
                if e.file_name() != "DEBIAN" {
                    walk(&e.path(), total)?;
                }
            } else {
                *total += m.len();
            }
        }
        Ok(())
    }
    let mut total = 0;
    walk(dir, &mut total)?;
    Ok(total.div_ceil(1024))
}

/// Builds the package from `src` into `out_dir`, staging in `work` (emptied first).
pub fn build(src: &Sources, repo: &Path, work: &Path, out_dir: &Path) -> Result<Built, String> {
    let version = debian_version(repo, &src.version)?;
    let arch = architecture()?;
    let _ = fs::remove_dir_all(work);
    let root = work.join("debian").join(NAME);
    let prefix = Path::new("/usr");

    // The installed layout, stripped.
    install::install(src, prefix, Some(&root)).map_err(|e| err("staging the layout", e))?;
    let usr = root.join("usr");
    for e in install::layout(src, prefix).map_err(|e| err("the layout", e))? {
        if let Item::Copy { mode, .. } = e.item {
            let p = usr.join(&e.path);
            if is_elf(&p) {
                strip(&p, mode & 0o111 == 0)?;
            }
        }
    }

    // Documentation: /usr/share/doc/<package> (copyright as is, the rest gzipped
    // when over 4 kB, as policy says) and the man page.
    let doc = usr.join("share/doc").join(NAME);
    fs::create_dir_all(&doc).map_err(|e| err(doc.display(), e))?;
    let copyright = fs::read_to_string(repo.join("packaging/deb/copyright.in")).map_err(|e| err("copyright.in", e))?;
    let copyright = copyright.replace("@CRATES@", &crate_lines(repo)?);
    fs::write(doc.join("copyright"), copyright).map_err(|e| err("copyright", e))?;
    gzip(&repo.join("packaging/deb/changelog"), &doc.join("changelog.Debian.gz"))?;
    for name in ["README.md", "LD_PRELOAD.md"] {
        let from = repo.join(name);
        let size = fs::metadata(&from).map_err(|e| err(from.display(), e))?.len();
        if size > 4096 {
            gzip(&from, &doc.join(format!("{name}.gz")))?;
        } else {
            fs::copy(&from, doc.join(name)).map_err(|e| err(from.display(), e))?;
        }
    }
    let man = usr.join("share/man/man1");
    fs::create_dir_all(&man).map_err(|e| err(man.display(), e))?;
    gzip(&repo.join("packaging/deb/nrt-shim.1"), &man.join("nrt-shim.1.gz"))?;
    // The lintian tags the package's design accepts, each with its reason.
    let overrides = usr.join("share/lintian/overrides");
    fs::create_dir_all(&overrides).map_err(|e| err(overrides.display(), e))?;
    fs::copy(repo.join("packaging/deb/lintian-overrides"), overrides.join(NAME))
        .map_err(|e| err("lintian-overrides", e))?;
    normalise(&root).map_err(|e| err("setting modes", e))?;

    // Depends.
    let mut elves = Vec::new();
    elf_files(&root, &mut elves).map_err(|e| err("listing the binaries", e))?;
    elves.sort();
    let private: Vec<PathBuf> = ["lib/nrt-sim/lib", "lib"].iter().map(|d| usr.join(d)).collect();
    let (depends, depends_from) = if have("dpkg-shlibdeps") {
        (depends_from_dpkg_shlibdeps(work, &elves, &private)?, "dpkg-shlibdeps")
    } else {
        let own = ["libnrt.so.1".to_string(), "libnrt_async_shim.so.1".to_string()];
        (depends_from_symbol_versions(&elves, &own)?, "symbol versions")
    };
    if depends.is_empty() {
        return Err("no Depends computed (the binaries need no C library?)".into());
    }

    // DEBIAN/: control, md5sums, shlibs (the public library), the ldconfig trigger.
    let debian = root.join("DEBIAN");
    fs::create_dir_all(&debian).map_err(|e| err(debian.display(), e))?;
    let size = installed_size(&root).map_err(|e| err("Installed-Size", e))?;
    let template = fs::read_to_string(repo.join("packaging/deb/control.in")).map_err(|e| err("control.in", e))?;
    let control = template
        .replace("@VERSION@", &version)
        .replace("@ARCH@", &arch)
        .replace("@INSTALLED_SIZE@", &size.to_string())
        .replace("@DEPENDS@", &depends);
    let mut md5 = Command::new("md5sum");
    md5.current_dir(&root);
    let mut files = Vec::new();
    list_files(&root, &root, &mut files).map_err(|e| err("listing files", e))?;
    files.sort();
    md5.args(&files);
    let md5sums = output(&mut md5, "coreutils")?;
    let upstream = &src.version;
    let shlibs = format!("libnrt_async_shim 1 {NAME} (>= {upstream})\n");
    for (name, text) in [
        ("control", control.as_str()),
        ("md5sums", &md5sums),
        ("shlibs", &shlibs),
        ("triggers", "activate-noawait ldconfig\n"),
    ] {
        let p = debian.join(name);
        fs::write(&p, text).map_err(|e| err(p.display(), e))?;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).map_err(|e| err(p.display(), e))?;
    }

    fs::create_dir_all(out_dir).map_err(|e| err(out_dir.display(), e))?;
    let deb = out_dir.join(format!("{NAME}_{version}_{arch}.deb"));
    output(Command::new("dpkg-deb").arg("--root-owner-group").arg("--build").arg(&root).arg(&deb), "dpkg")?;
    Ok(Built { deb, control, depends_from })
}

/// Regular files under `dir` (DEBIAN/ left out), relative to `base`.
fn list_files(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for e in fs::read_dir(dir)? {
        let e = e?;
        let t = e.file_type()?;
        if t.is_dir() && e.file_name() != "DEBIAN" {
            list_files(base, &e.path(), out)?;
        } else if t.is_file() {
            out.push(e.path().strip_prefix(base).unwrap().to_path_buf());
        }
    }
    Ok(())
}

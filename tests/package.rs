//! The Debian package (`cargo xtask package`, xtask/src/package.rs), built from this
//! build's files (as tests/cli_install.rs installs them) and the demo programs, then
//! met as apt would meet it, without touching the machine's /usr: its control fields;
//! its file list, modes and owners against the installed layout (xtask/src/install.rs,
//! one list for both) plus the documentation; its md5sums; unpacked with `dpkg-deb -x`
//! into a temporary root, a C program built there with pkg-config and run on the
//! packaged simulator, `nrt-shim run` and `nrt-shim demo` from the tree; `Depends`
//! from the symbol versions equal to dpkg-shlibdeps's; lintian without errors.
//!
//! Needs dpkg-deb and pkg-config; lintian and dpkg-shlibdeps (dpkg-dev) for their
//! parts. Under CI (.ci/run installs them) each is required; elsewhere a missing one
//! is one SKIPPED line naming its package. Every run has a watchdog.

mod support;

#[path = "../xtask/src/install.rs"]
mod install;

#[path = "../xtask/src/package.rs"]
mod package;

mod installed;

use installed::{build_and_run_with_pkg_config, run, sources, temp_dir, text};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const MINUTE: Duration = Duration::from_secs(60);

fn stdout(cmd: &mut Command, limit: Duration) -> String {
    let o = run(cmd, limit);
    assert!(o.status.success(), "{cmd:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `dpkg-deb -f`: the control fields (continuation lines joined with '\n').
fn fields(deb: &Path) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut last = String::new();
    for l in stdout(Command::new("dpkg-deb").arg("-f").arg(deb), MINUTE).lines() {
        if l.starts_with(' ') {
            let v: &mut String = m.get_mut(&last).expect("a continuation line first");
            v.push('\n');
            v.push_str(l);
        } else if let Some((k, v)) = l.split_once(": ") {
            last = k.to_string();
            m.insert(last.clone(), v.to_string());
        }
    }
    m
}

/// One line of `dpkg-deb -c`: (permissions, owner, path, link target).
fn contents(deb: &Path) -> Vec<(String, String, String, Option<String>)> {
    stdout(Command::new("dpkg-deb").arg("-c").arg(deb), MINUTE)
        .lines()
        .map(|l| {
            let w: Vec<&str> = l.splitn(6, char::is_whitespace).filter(|s| !s.is_empty()).collect();
            let rest = l.split_whitespace().skip(5).collect::<Vec<_>>().join(" ");
            let (path, target) = match rest.split_once(" -> ") {
                Some((p, t)) => (p.to_string(), Some(t.to_string())),
                None => (rest, None),
            };
            (w[0].to_string(), w[1].to_string(), path, target)
        })
        .collect()
}

fn perms(mode: u32) -> String {
    let bit = |m: u32, c: char| if mode & m != 0 { c } else { '-' };
    [
        (0o400, 'r'),
        (0o200, 'w'),
        (0o100, 'x'),
        (0o40, 'r'),
        (0o20, 'w'),
        (0o10, 'x'),
        (0o4, 'r'),
        (0o2, 'w'),
        (0o1, 'x'),
    ]
    .iter()
    .map(|(m, c)| bit(*m, *c))
    .collect()
}

fn elf_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let t = e.file_type().unwrap();
        if t.is_dir() {
            elf_files(&e.path(), out);
        } else if t.is_file() && std::fs::read(e.path()).unwrap().starts_with(b"\x7fELF") {
            out.push(e.path());
        }
    }
}

#[test]
fn the_debian_package_holds_the_layout_and_a_program_builds_against_it() {
    let what = "the Debian package test";
    if !support::require_tool("dpkg-deb", "dpkg", what) || !support::require_tool("pkg-config", "pkg-config", what) {
        return;
    }
    let _machine = support::shared_machine();
    let start = Instant::now();
    let repo = support::repo_root();
    let work = temp_dir("deb");
    let mut src = sources();
    src.demo = install::build_demo(repo, &support::sim_dir(support::Gen::V3), &work.join("demo")).unwrap();
    let built = package::build(&src, repo, &work.join("stage"), &work.join("out")).unwrap_or_else(|e| panic!("{e}"));
    let built_in = start.elapsed();

    // The name and the control fields, as dpkg reads them.
    let arch = package::architecture().unwrap();
    let version = package::debian_version(repo, &src.version).unwrap();
    assert!(version.starts_with(&format!("{}-", src.version)), "{version}");
    let name = format!("nrt-async-shim_{version}_{arch}.deb");
    assert_eq!(built.deb.file_name().unwrap().to_string_lossy(), name);
    let f = fields(&built.deb);
    let field = |k: &str| f.get(k).unwrap_or_else(|| panic!("no {k} field: {f:?}")).as_str();
    assert_eq!(field("Package"), "nrt-async-shim");
    assert_eq!(field("Version"), version);
    assert_eq!(field("Architecture"), arch);
    assert_eq!(field("Section"), "libs");
    assert_eq!(field("Priority"), "optional");
    let m = field("Maintainer");
    assert!(m.contains(" <") && m.ends_with('>') && m.contains('@'), "Maintainer: {m}");
    let d = field("Description");
    assert!(d.lines().count() > 5 && d.lines().next().unwrap().len() < 80, "Description: {d}");
    let size: u64 = field("Installed-Size").parse().unwrap();
    let depends = field("Depends");
    let mut libc = false;
    for dep in depends.split(", ") {
        let (pkg, ver) = dep.split_once(' ').unwrap_or((dep, ""));
        assert!(["libc6", "libgcc-s1"].contains(&pkg), "Depends on {pkg}: only the C library and libgcc's unwinder");
        assert!(ver.starts_with("(>= ") && ver.ends_with(')'), "Depends: {depends}");
        libc |= pkg == "libc6";
    }
    assert!(libc, "Depends: {depends}");

    // The file list: the installed layout under /usr, and the documentation; nothing
    // else, all root:root, directories 0755.
    let mut expected: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
    for e in install::layout(&src, Path::new("/usr")).unwrap() {
        let p = format!("./usr/{}", e.path.display());
        let v = match e.item {
            install::Item::Copy { mode, .. } | install::Item::Text { mode, .. } => (format!("-{}", perms(mode)), None),
            install::Item::Link(t) => ("lrwxrwxrwx".to_string(), Some(t)),
        };
        expected.insert(p, v);
    }
    for doc in ["copyright", "changelog.Debian.gz", "README.md.gz", "LD_PRELOAD.md.gz"] {
        expected.insert(format!("./usr/share/doc/nrt-async-shim/{doc}"), ("-rw-r--r--".into(), None));
    }
    expected.insert("./usr/share/man/man1/nrt-shim.1.gz".into(), ("-rw-r--r--".into(), None));
    expected.insert("./usr/share/lintian/overrides/nrt-async-shim".into(), ("-rw-r--r--".into(), None));
    let listed = contents(&built.deb);
    let mut got: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
    let mut dirs = 0;
    for (p, owner, path, target) in &listed {
        assert_eq!(owner, "root/root", "{path}");
        assert!(path == "./" || path.starts_with("./usr/"), "{path} is outside /usr");
        if p.starts_with('d') {
            assert_eq!(p, "drwxr-xr-x", "{path}");
            dirs += 1;
        } else {
            got.insert(path.clone(), (p.clone(), target.clone()));
        }
    }
    assert_eq!(got, expected, "the package's files are not the layout plus the docs");
    let shadow = got.keys().any(|p| p.starts_with("./usr/lib/libnrt.so"));
    assert!(!shadow, "the simulator must never be where a real libnrt.so.1 goes");
    assert!(src.demo.len() == 2 && got.contains_key("./usr/libexec/nrt-async-shim/double_buffer"));

    // Unpacked into a temporary root: the checksums, stripped binaries that keep their
    // SONAME, the control files, Installed-Size, the docs.
    let root = work.join("root");
    let ctrl = work.join("control");
    stdout(Command::new("dpkg-deb").arg("-x").arg(&built.deb).arg(&root), MINUTE);
    stdout(Command::new("dpkg-deb").arg("-e").arg(&built.deb).arg(&ctrl), MINUTE);
    let sums = std::fs::read_to_string(ctrl.join("md5sums")).unwrap();
    assert_eq!(sums.lines().count(), got.values().filter(|(p, _)| p.starts_with('-')).count(), "{sums}");
    stdout(
        Command::new("md5sum").args(["--check", "--quiet", "--strict"]).arg(ctrl.join("md5sums")).current_dir(&root),
        MINUTE,
    );
    assert_eq!(std::fs::read_to_string(ctrl.join("triggers")).unwrap(), "activate-noawait ldconfig\n");
    let shlibs = std::fs::read_to_string(ctrl.join("shlibs")).unwrap();
    assert_eq!(shlibs, format!("libnrt_async_shim 1 nrt-async-shim (>= {})\n", src.version));
    let usr = root.join("usr");
    let lib = usr.join("lib");
    let so = lib.join("libnrt_async_shim.so.1");
    let sections = stdout(Command::new("readelf").arg("-S").arg(&so), MINUTE);
    assert!(!sections.contains(".symtab") && !sections.contains(".debug_info"), "not stripped:\n{sections}");
    assert!(stdout(Command::new("readelf").arg("-d").arg(&so), MINUTE).contains("[libnrt_async_shim.so.1]"));
    let bytes: u64 = listed.iter().map(|(p, ..)| if p.starts_with('d') { 1024 } else { 0 }).sum::<u64>()
        + got
            .keys()
            .map(|p| std::fs::symlink_metadata(root.join(p.trim_start_matches("./"))).unwrap().len())
            .sum::<u64>();
    assert!(size.abs_diff(bytes.div_ceil(1024)) <= 1, "Installed-Size {size} KiB for {bytes} bytes");
    let doc = usr.join("share/doc/nrt-async-shim");
    let changelog = stdout(Command::new("gzip").arg("-dc").arg(doc.join("changelog.Debian.gz")), MINUTE);
    assert!(changelog.starts_with(&format!("nrt-async-shim ({version}) ")), "{changelog}");
    let copyright = std::fs::read_to_string(doc.join("copyright")).unwrap();
    assert!(copyright.contains("/usr/share/common-licenses/Apache-2.0") && !copyright.contains("@CRATES@"));
    assert!(copyright.contains(" libc 0.") && copyright.contains(" parking_lot "), "{copyright}");

    // Build and run a program against the unpacked tree with pkg-config.
    let exe = build_and_run_with_pkg_config(
        &lib.join("pkgconfig"),
        Some(&root),
        &lib,
        &lib.join("nrt-sim/lib"),
        &work,
        &src.version,
    );
    // The packaged nrt-shim finds the packaged shim and simulator, and its demo program.
    let nrt_shim = usr.join("bin/nrt-shim");
    let r = run(Command::new(&nrt_shim).args(["run", "--sim", "--"]).arg(&exe).env("LD_LIBRARY_PATH", &lib), MINUTE);
    assert!(r.status.success() && String::from_utf8_lossy(&r.stdout).contains("outputs: ok"), "{}", text(&r));
    let demo = run(
        Command::new(&nrt_shim).args(["demo", "--iterations", "20", "--out"]).arg(work.join("demo-out")),
        Duration::from_secs(180),
    );
    assert!(demo.status.success(), "nrt-shim demo from the package: {}", text(&demo));

    // Depends: what the symbol versions say must be what dpkg-shlibdeps says.
    if support::require_tool("dpkg-shlibdeps", "dpkg-dev", "comparing Depends with dpkg-shlibdeps") {
        assert_eq!(built.depends_from, "dpkg-shlibdeps");
        let mut elves = Vec::new();
        elf_files(&root, &mut elves);
        elves.sort();
        let own = ["libnrt.so.1".to_string(), "libnrt_async_shim.so.1".to_string()];
        let ours = package::depends_from_symbol_versions(&elves, &own).unwrap();
        assert_eq!(ours, depends, "Depends from the symbol versions differs from dpkg-shlibdeps's");
    }

    // lintian: no error and no warning (the tags the design accepts are overridden,
    // each with its reason, in packaging/deb/lintian-overrides).
    let mut linted = "";
    if support::require_tool("lintian", "lintian", "linting the package") {
        let l = run(Command::new("lintian").arg(&built.deb), Duration::from_secs(300));
        let out = String::from_utf8_lossy(&l.stdout).to_string();
        let bad: Vec<&str> = out.lines().filter(|l| l.starts_with("E: ") || l.starts_with("W: ")).collect();
        assert!(bad.is_empty() && l.status.success(), "lintian reports errors or warnings:\n{}", text(&l));
        linted = ", lintian clean";
    }
    let _ = writeln!(
        std::io::stderr(),
        "package test: {name}, {} files, {dirs} directories, built in {:.1} s, all checks in {:.1} s{linted}",
        got.len(),
        built_in.as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&work);
}

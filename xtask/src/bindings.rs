//! `cargo xtask bindings [--check] [--committed DIR]`: the Rust bindings of the
//! runtime's headers, `sys/src/bindings_v3.rs` and `sys/src/bindings_v2.rs`, made by
//! bindgen from `include/nrt/` and committed, so that building the project needs
//! neither bindgen nor libclang. Run it after changing a header.
//!
//! - no option: regenerates both files (rewrites only what changed);
//! - `--check`: regenerates them in memory and compares with the committed files
//!   (or those in `DIR`); any difference is a failure that names the command to run.
//!
//! Exit status: 0 done or up to date; 1 stale (with `--check`) or an error; 3 libclang
//! is missing (bindgen loads it at run time; Debian: `apt-get install libclang-dev`).
//!
//! bindgen is an optional dependency of xtask: the plain xtask (what `cargo xtask
//! demo` builds) runs this task by building xtask again with the `bindgen` feature, in
//! `target/bindgen/`, so no other task and no ordinary build ever compiles bindgen.

use std::path::{Path, PathBuf};
use std::process::exit;

/// The generated files, in `sys/src/`.
#[cfg(feature = "bindgen")]
pub const FILES: [&str; 2] = ["bindings_v3.rs", "bindings_v2.rs"];
/// The exit status when libclang cannot be loaded.
#[cfg(feature = "bindgen")]
pub const NO_LIBCLANG: i32 = 3;

struct Options {
    check: bool,
    committed: Option<PathBuf>,
}

fn usage() -> ! {
    eprintln!("usage: cargo xtask bindings [--check] [--committed DIR]");
    exit(2)
}

fn parse(args: &[String]) -> Options {
    let mut o = Options { check: false, committed: None };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--check" => o.check = true,
            "--committed" => o.committed = Some(PathBuf::from(it.next().unwrap_or_else(|| usage()))),
            _ => usage(),
        }
    }
    if o.committed.is_some() && !o.check {
        eprintln!("xtask: --committed DIR goes with --check");
        usage();
    }
    o
}

/// Without the `bindgen` feature: runs this task from xtask built with it.
#[cfg(not(feature = "bindgen"))]
pub fn main(root: &Path, target: &Path, args: &[String]) -> ! {
    parse(args);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let st = std::process::Command::new(&cargo)
        .arg("run")
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .args(["--quiet", "--package", "xtask", "--features", "bindgen", "--", "bindings"])
        .args(args)
        .env("CARGO_TARGET_DIR", target.join("bindgen"))
        .status()
        .unwrap_or_else(|e| {
            eprintln!("xtask: cannot run {cargo}: {e}");
            exit(1)
        });
    exit(st.code().unwrap_or(1))
}

#[cfg(feature = "bindgen")]
#[path = "../../sys/headers.rs"]
#[allow(dead_code)] // `recorded` is for sys/build.rs
mod headers;

/// bindgen's configuration: the two passes and options nrt-sys's build script used
/// before the bindings were committed, with the formatter pinned (prettyplease, a
/// locked dependency) so the text does not depend on the machine's rustfmt.
#[cfg(feature = "bindgen")]
fn builder(include: &Path) -> bindgen::Builder {
    bindgen::Builder::default()
        .header(include.join("nrt/nrt.h").to_string_lossy())
        .header(include.join("nrt/nrt_experimental.h").to_string_lossy())
        .header(include.join("nrt/nrt_async.h").to_string_lossy())
        .header(include.join("nrt/nrt_profile.h").to_string_lossy())
        .header(include.join("nrt/nrt_async_sendrecv.h").to_string_lossy())
        .clang_arg(format!("-I{}", include.display()))
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .derive_default(true)
        .derive_debug(true)
        .layout_tests(true)
        .generate_comments(false)
        .formatter(bindgen::Formatter::Prettyplease)
}

/// Both files' text: the synchronous API plus the v3 async generation (the default
/// of `nrt_async.h`), then the v2 generation's `nrta_*` items alone (`NRTA_ABI_V2`),
/// which reuse the common types of the first through `use super::*`.
#[cfg(feature = "bindgen")]
fn generate(include: &Path) -> Result<[String; 2], String> {
    let v3 = builder(include).generate().map_err(|e| format!("bindgen failed on include/nrt (v3): {e}"))?;
    let v2 = builder(include)
        .clang_arg("-DNRTA_ABI_V2")
        .allowlist_function("nrta_.*")
        .allowlist_type("nrta_xu_t|nrta_error_tracker.*")
        .allowlist_var("NRTA_.*")
        .blocklist_type("nrt_model|nrt_model_t|nrt_tensor|nrt_tensor_t|nrt_tensor_set_t|NRT_STATUS|nrta_seq_t|nrta_error|nrta_error_t|nrt_cc_.*|nrt_tensor_list.*|nrt_dtype_t|nrt_op_type_t|nrt_cc_op_type_t")
        .blocklist_function("nrta_is_completed|nrta_cc_prepare")
        .raw_line("#[allow(unused_imports)] use super::*;")
        .generate()
        .map_err(|e| format!("bindgen failed on include/nrt (v2, -DNRTA_ABI_V2): {e}"))?;
    let fingerprint =
        headers::fingerprint(include).map_err(|e| format!("reading {}: {e}", include.join("nrt").display()))?;
    let head = format!(
        "// @generated by `cargo xtask bindings` from include/nrt/*.h (bindgen; its options are in\n\
         // xtask/src/bindings.rs). Do not edit: change the headers, then run `cargo xtask bindings`.\n\
         {}{fingerprint}\n\n",
        headers::MARK
    );
    Ok([format!("{head}{v3}"), format!("{head}{v2}")])
}

/// The first line where `a` and `b` differ (1-based), with both lines: a line of
/// the bindings themselves if any differs, else the recorded fingerprint (the headers
/// changed in comments or spacing only).
#[cfg(feature = "bindgen")]
fn first_difference<'a>(a: &'a str, b: &'a str) -> (usize, &'a str, &'a str) {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.split('\n').collect(), b.split('\n').collect());
    let end = "(end of file)";
    let find = |skip_mark: bool| {
        (0..a.len().max(b.len())).find_map(|i| {
            let (x, y) = (a.get(i).copied(), b.get(i).copied());
            let mark = |l: Option<&str>| l.is_some_and(|l| l.starts_with(headers::MARK));
            (x != y && !(skip_mark && mark(x) && mark(y))).then(|| (i + 1, x.unwrap_or(end), y.unwrap_or(end)))
        })
    };
    find(true).or_else(|| find(false)).unwrap_or((0, "", ""))
}

#[cfg(feature = "bindgen")]
pub fn main(root: &Path, target: &Path, args: &[String]) -> ! {
    let o = parse(args);
    if let Err(e) = clang_sys::load() {
        eprintln!("xtask: cargo xtask bindings needs libclang, which bindgen loads at run time: {e}");
        eprintln!(
            "xtask: install it (Debian/Ubuntu: apt-get install libclang-dev), or set LIBCLANG_PATH to its directory"
        );
        exit(NO_LIBCLANG);
    }
    let include = root.join("include");
    let fresh = generate(&include).unwrap_or_else(|e| {
        eprintln!("xtask: {e}");
        exit(1)
    });
    let dir = o.committed.unwrap_or_else(|| root.join("sys/src"));
    let shown = |name: &str| {
        let p = dir.join(name);
        p.strip_prefix(root).map(Path::to_path_buf).unwrap_or(p).display().to_string()
    };
    if !o.check {
        for (name, text) in FILES.iter().zip(&fresh) {
            let path = dir.join(name);
            if std::fs::read_to_string(&path).is_ok_and(|t| &t == text) {
                println!("{}: up to date", shown(name));
            } else if let Err(e) = std::fs::write(&path, text) {
                eprintln!("xtask: writing {}: {e}", path.display());
                exit(1);
            } else {
                println!("{}: regenerated", shown(name));
            }
        }
        exit(0);
    }

    let mut stale = false;
    for (name, text) in FILES.iter().zip(&fresh) {
        let committed = std::fs::read_to_string(dir.join(name));
        match committed {
            Err(e) => {
                eprintln!("xtask: {}: {e}", shown(name));
                stale = true;
            }
            Ok(c) => {
                if c != *text {
                    let (line, was, now) = first_difference(&c, text);
                    eprintln!(
                        "xtask: {} differs from what bindgen makes of include/nrt/ (first at line {line}):",
                        shown(name)
                    );
                    eprintln!("xtask:   committed: {was}");
                    eprintln!("xtask:   generated: {now}");
                    stale = true;
                }
            }
        }
    }
    if !stale {
        println!("xtask: {} and {} are up to date with include/nrt/", shown(FILES[0]), shown(FILES[1]));
        exit(0);
    }
    let out = target.join("nrt-bindings");
    let saved = std::fs::create_dir_all(&out)
        .and_then(|_| FILES.iter().zip(&fresh).try_for_each(|(n, t)| std::fs::write(out.join(n), t)));
    if saved.is_ok() {
        eprintln!("xtask: the generated files are in {} (diff -u {} {})", out.display(), dir.display(), out.display());
    }
    eprintln!("xtask: (generated with {})", bindgen::clang_version().full);
    eprintln!(
        "xtask: the committed bindings are stale: run `cargo xtask bindings` and commit sys/src/{} and sys/src/{}",
        FILES[0], FILES[1]
    );
    exit(1)
}

//! Pitfall 14: a missing or extra export silently changes which library answers a
//! program's call. `tests/exports.txt` is the golden list of the dynamic symbols
//! `libnrt_async_shim.so` defines; this test compares it with
//! `nm -D --defined-only` of the built library and prints a readable diff.
//!
//! To update the list after a deliberate change:
//!   nm -D --defined-only --format=posix target/debug/libnrt_async_shim.so | awk '{print $1}' | sort
//! (keeping the comment at the top of tests/exports.txt). The names the build
//! declares (`export!` in src/exports/, listed by build.rs) must be the same
//! set: `nrt_async_shim::EXPORTED`.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::process::Command;

/// Symbols the linker itself may define in any shared object: not the shim's API.
const LINKER_SYMBOLS: [&str; 5] = ["_init", "_fini", "_edata", "_end", "__bss_start"];

/// The golden list: one name per line, `#` comments and blank lines ignored.
fn golden() -> BTreeSet<String> {
    let path = support::repo_root().join("tests/exports.txt");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect()
}

/// The names `nm -D --defined-only --format=posix` lists for the built shim.
fn exported() -> BTreeSet<String> {
    let lib = support::shim_lib();
    let out = Command::new("nm")
        .args(["-D", "--defined-only", "--format=posix"])
        .arg(&lib)
        .output()
        .unwrap_or_else(|e| panic!("running nm (binutils) on {}: {e}", lib.display()));
    assert!(out.status.success(), "nm failed on {}: {}", lib.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        // A versioned symbol prints as name@VERSION or name@@VERSION.
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .filter(|n| !LINKER_SYMBOLS.contains(&n.as_str()))
        .collect()
}

#[test]
fn exported_symbols_match_the_golden_list() {
    let want = golden();
    let got = exported();
    if want == got {
        return;
    }
    let missing: Vec<&String> = want.difference(&got).collect();
    let extra: Vec<&String> = got.difference(&want).collect();
    let mut msg = format!("{} exports differ from tests/exports.txt\n", support::shim_lib().display());
    for m in &missing {
        msg += &format!("  - {m}    (listed, not exported: programs calling it now reach the runtime directly)\n");
    }
    for e in &extra {
        msg += &format!("  + {e}    (exported, not listed: it now shadows the runtime's symbol of that name)\n");
    }
    msg += "If the change is deliberate, update tests/exports.txt (see tests/exports.rs for the command).";
    panic!("{msg}");
}

/// The runtime's prefixes: the synchronous API, and the explicit async one
/// (exported for half-migrated programs, src/exports/nrta.rs).
fn is_runtime_name(n: &str) -> bool {
    n.starts_with("nrt_") || n.starts_with("nrta_")
}

#[test]
fn golden_list_names_only_runtime_calls_and_the_shims_api() {
    // Every listed name is a function the runtime's headers declare (the shim only
    // interposes real calls) or one of the shim's own three; nothing else (no Rust
    // symbols, no helpers).
    let mut headers = String::new();
    for dir in ["include/nrt"] {
        let dir = support::repo_root().join(dir);
        for e in fs::read_dir(&dir).unwrap().flatten() {
            headers += &fs::read_to_string(e.path()).unwrap();
        }
    }
    let shim_api = ["nrt_async_shim_version", "nrt_async_shim_wait_all", "nrt_async_shim_stats_json"];
    let list = golden();
    for api in shim_api {
        assert!(list.contains(api), "tests/exports.txt lacks the shim's own {api}");
    }
    let declared = |name: &str| {
        headers.match_indices(name).any(|(i, _)| {
            let before = headers[..i].chars().next_back();
            let after = headers[i + name.len()..].trim_start().chars().next();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '_') && after == Some('(')
        })
    };
    let strays: Vec<&String> =
        list.iter().filter(|n| !(shim_api.contains(&n.as_str()) || is_runtime_name(n) && declared(n))).collect();
    assert!(
        strays.is_empty(),
        "tests/exports.txt names symbols that are neither runtime calls declared in include/nrt/ \
         nor the shim's API: {strays:?}"
    );
    // The calls every legacy program makes and whose behaviour the shim changes.
    for core in ["nrt_init", "nrt_close", "nrt_execute", "nrt_tensor_read", "nrt_tensor_write"] {
        assert!(list.contains(core), "tests/exports.txt lacks {core}");
    }
}

#[test]
fn exported_symbols_are_the_declared_exports() {
    // The list the export! declarations generate (build.rs): the library
    // defines exactly those, and the reviewed copy, tests/exports.txt, says
    // the same (the golden test above); nothing else is kept in step by hand.
    let declared: BTreeSet<String> = nrt_async_shim::EXPORTED.iter().map(|n| n.to_string()).collect();
    let got = exported();
    assert_eq!(
        got.difference(&declared).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "exported, but not declared with export! (or #[no_mangle] in src/exports/shim_api.rs)"
    );
    assert_eq!(
        declared.difference(&got).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "declared, but not exported by {}",
        support::shim_lib().display()
    );
    assert_eq!(golden(), declared, "tests/exports.txt, the reviewed copy, differs from the declared exports");
}

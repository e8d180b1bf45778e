//! The committed bindings (`src/bindings_v3.rs`, `src/bindings_v2.rs`) are what
//! bindgen makes of `include/nrt/` today, and the check that says so can fail:
//! `cargo xtask bindings --check` must pass on the committed files and must catch
//! deliberately edited copies (a changed value, a removed declaration, a missing
//! file), naming the file, the line and the command to run.
//!
//! The check needs libclang (bindgen loads it at run time). Under CI (`CI=true`),
//! where .ci/run installs libclang-dev before the tests, its absence is a failure;
//! elsewhere the test prints one line saying what to install, and passes: building
//! and every other test need no libclang.

#[allow(dead_code)]
#[path = "../../tests/support/watch.rs"]
mod watch;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// `cargo xtask bindings`'s exit status when libclang is missing (xtask/src/bindings.rs).
const NO_LIBCLANG: i32 = 3;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// `cargo xtask bindings --check [--committed DIR]`, as a user or CI runs it.
fn check(committed: Option<&Path>) -> watch::Finished {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(root()).args(["xtask", "bindings", "--check"]);
    if let Some(d) = committed {
        cmd.arg("--committed").arg(d);
    }
    // Watchdog: the first run builds xtask with bindgen (about a minute on 2 busy cores).
    let limit = Duration::from_secs(900);
    let f = watch::run_watched(cmd, limit, "cargo xtask bindings --check", Path::new(&cargo));
    assert!(!f.timed_out, "cargo xtask bindings --check did not finish within {limit:?}:\n{}", f.stderr);
    f
}

/// A copy of the committed files in a temporary directory, with `edit` applied to `name`.
fn edited_copy(tag: &str, name: &str, edit: impl Fn(&str) -> Option<String>) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nrt-bindings-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["bindings_v3.rs", "bindings_v2.rs"] {
        let text = std::fs::read_to_string(root().join("sys/src").join(f)).unwrap();
        let text = if f == name {
            edit(&text).unwrap_or_else(|| panic!("the test's edit does not apply to {f}"))
        } else {
            text
        };
        std::fs::write(dir.join(f), text).unwrap();
    }
    dir
}

fn must_fail(f: &watch::Finished, what: &str, signs: &[&str]) {
    assert_eq!(f.status.code(), Some(1), "the check did not fail on {what}:\n{}{}", f.stdout, f.stderr);
    assert!(f.stderr.contains("run `cargo xtask bindings`"), "no command to run for {what}:\n{}", f.stderr);
    for s in signs {
        assert!(f.stderr.contains(s), "{what}: the report lacks \"{s}\":\n{}", f.stderr);
    }
}

#[test]
fn the_committed_bindings_are_fresh_and_the_check_catches_edits() {
    let fresh = check(None);
    if fresh.status.code() == Some(NO_LIBCLANG) {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "libclang is missing under CI (.ci/run installs libclang-dev before the tests):\n{}",
            fresh.stderr
        );
        // Past the test harness's capture: one line, whatever the runner's options.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED the bindings drift check: it needs libclang (apt-get install libclang-dev)"
        );
        return;
    }
    assert!(
        fresh.status.success(),
        "sys/src/bindings_*.rs are not what bindgen makes of include/nrt/:\n{}{}",
        fresh.stdout,
        fresh.stderr
    );

    // One value changed: caught at its line, the other file left alone.
    let line = "pub const NRT_SUCCESS: NRT_STATUS = 0;";
    let dir = edited_copy("value", "bindings_v3.rs", |t| {
        (t.matches(line).count() == 1).then(|| t.replace(line, "pub const NRT_SUCCESS: NRT_STATUS = 9;"))
    });
    let f = check(Some(&dir));
    must_fail(&f, "a changed value", &["bindings_v3.rs differs", "committed: pub const NRT_SUCCESS: NRT_STATUS = 9;"]);
    assert!(!f.stderr.contains("bindings_v2.rs differs"), "the untouched v2 file was reported:\n{}", f.stderr);
    let _ = std::fs::remove_dir_all(&dir);

    // A declaration removed from the v2 file.
    let dir = edited_copy("removed", "bindings_v2.rs", |t| {
        let at = t.find("pub fn nrta_execute_schedule(")?;
        let start = t[..at].rfind('\n')? + 1;
        let end = at + t[at..].find(";\n")? + 2;
        Some(format!("{}{}", &t[..start], &t[end..]))
    });
    let f = check(Some(&dir));
    must_fail(&f, "a removed declaration", &["bindings_v2.rs differs"]);
    assert!(!f.stderr.contains("bindings_v3.rs differs"), "the untouched v3 file was reported:\n{}", f.stderr);
    let _ = std::fs::remove_dir_all(&dir);

    // A missing file.
    let dir = edited_copy("missing", "bindings_v3.rs", |t| Some(t.to_string()));
    std::fs::remove_file(dir.join("bindings_v2.rs")).unwrap();
    let f = check(Some(&dir));
    must_fail(&f, "a missing file", &["bindings_v2.rs"]);
    let _ = std::fs::remove_dir_all(&dir);
}

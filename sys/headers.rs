//! The fingerprint of `include/nrt/*.h` that `sys/src/bindings_*.rs` record in their
//! first lines. Shared (by `#[path]`) by `sys/build.rs`, which warns when the headers
//! changed since the bindings were generated, and by `cargo xtask bindings`, which
//! writes it. A plain hash, so that checking needs neither bindgen nor libclang.

use std::io;
use std::path::{Path, PathBuf};

/// The line that carries the fingerprint in a generated file.
pub const MARK: &str = "// include/nrt fingerprint: ";

/// The headers in `include/nrt/`, sorted by name.
pub fn headers(include: &Path) -> io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(include.join("nrt"))?
        .collect::<io::Result<Vec<_>>>()?
        .into_iter()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "h"))
        .collect();
    v.sort();
    Ok(v)
}

/// FNV-1a (64 bits) over every header's file name and bytes, as 16 hex digits.
pub fn fingerprint(include: &Path) -> io::Result<String> {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for p in headers(include)? {
        eat(p.file_name().unwrap_or_default().as_encoded_bytes());
        eat(b"\0");
        eat(&std::fs::read(&p)?);
        eat(b"\0");
    }
    Ok(format!("{h:016x}"))
}

/// The fingerprint recorded in a generated file's text, if any.
pub fn recorded(text: &str) -> Option<&str> {
    text.lines().take(10).find_map(|l| l.strip_prefix(MARK)).map(str::trim)
}

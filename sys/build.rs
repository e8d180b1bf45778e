//! The bindings are generated ahead of time (`cargo xtask bindings`, committed in
//! `src/bindings_v3.rs` and `src/bindings_v2.rs`), so building needs neither bindgen
//! nor libclang. This only says so when `include/nrt/` changed since they were
//! generated, which a build cannot fix by itself.

#[path = "headers.rs"]
mod headers;

use std::path::PathBuf;

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let include = root.parent().unwrap().join("include");
    println!("cargo:include={}", include.display());
    println!("cargo:rerun-if-changed={}", include.join("nrt").display());
    println!("cargo:rerun-if-changed=src/bindings_v3.rs");
    println!("cargo:rerun-if-changed=src/bindings_v2.rs");
    println!("cargo:rerun-if-changed=headers.rs");

    let now = match headers::fingerprint(&include) {
        Ok(f) => f,
        Err(e) => {
            println!("cargo:warning=cannot read {}: {e}", include.join("nrt").display());
            return;
        }
    };
    for name in ["bindings_v3.rs", "bindings_v2.rs"] {
        let text = std::fs::read_to_string(root.join("src").join(name)).unwrap_or_default();
        if headers::recorded(&text) != Some(now.as_str()) {
            println!(
                "cargo:warning=include/nrt/ changed since sys/src/{name} was generated: \
                 run `cargo xtask bindings` (needs libclang) and commit sys/src/bindings_*.rs"
            );
        }
    }
}

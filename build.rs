//! Link settings of the shim's shared library, and its C header.
use std::path::PathBuf;

fn main() {
    // Users link with -lnrt_async_shim and load libnrt_async_shim.so.1.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnrt_async_shim.so.1");
    // Never unmapped while threads or thread-locals of ours may live (rust-lang/rust#91979).
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");

    // include/nrt_async_shim.h is committed; this regenerates it into OUT_DIR
    // so a test can fail when the committed copy is stale.
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("nrt_async_shim.h");
    println!("cargo:rerun-if-changed=src/exports/shim_api.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/exports/shim_api.rs"))
        .generate()
        .expect("cbindgen failed on src/exports/shim_api.rs")
        .write_to_file(&out);
    println!("cargo:rustc-env=NRT_SHIM_GENERATED_HEADER={}", out.display());
}

//! Generates the Rust view of the runtime ABI from the project's own C headers
//! (`include/nrt/`), so that the shim, the simulator and the C programs all see
//! one declaration of every type and function.
//!
//! Two passes: the synchronous API plus the v3 async generation (the default of
//! `nrt_async.h`), and the v2 generation's `nrta_*` items alone (with
//! `NRTA_ABI_V2` defined), which reuse the common types of the first pass.

use std::env;
use std::path::PathBuf;

fn builder(include: &std::path::Path) -> bindgen::Builder {
    bindgen::Builder::default()
        .header(include.join("nrt/nrt.h").to_string_lossy())
        .header(include.join("nrt/nrt_experimental.h").to_string_lossy())
        .header(include.join("nrt/nrt_async.h").to_string_lossy())
        .clang_arg(format!("-I{}", include.display()))
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .derive_default(true)
        .derive_debug(true)
        .layout_tests(true)
        .generate_comments(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
}

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let include = root.parent().unwrap().join("include");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    println!("cargo:include={}", include.display());

    builder(&include)
        .generate()
        .expect("bindgen failed on include/nrt (v3)")
        .write_to_file(out.join("nrt_v3.rs"))
        .unwrap();

    // v2: only what differs from v3; the common types come from the parent module.
    builder(&include)
        .clang_arg("-DNRTA_ABI_V2")
        .allowlist_function("nrta_.*")
        .allowlist_type("nrta_xu_t|nrta_error_tracker.*")
        .allowlist_var("NRTA_.*")
        .blocklist_type("nrt_model|nrt_model_t|nrt_tensor|nrt_tensor_t|nrt_tensor_set_t|NRT_STATUS|nrta_seq_t|nrta_error|nrta_error_t|nrt_cc_.*|nrt_tensor_list.*|nrt_dtype_t|nrt_op_type_t|nrt_cc_op_type_t")
        .blocklist_function("nrta_is_completed|nrta_cc_prepare")
        .raw_line("#[allow(unused_imports)] use super::*;")
        .generate()
        .expect("bindgen failed on include/nrt (v2)")
        .write_to_file(out.join("nrt_v2.rs"))
        .unwrap();
}

fn main() {
    // The simulator stands in for the real runtime: same SONAME.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnrt.so.1");
    println!("cargo:rerun-if-changed=build.rs");
}

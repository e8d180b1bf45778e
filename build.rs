//! Link settings of the shim's shared library. The code comes with the shim
//! itself; the SONAME and the no-unload flag are part of its contract.
fn main() {
    // Users link with -lnrt_async_shim and load libnrt_async_shim.so.1.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnrt_async_shim.so.1");
    // Never unmapped while threads or thread-locals of ours may live (rust-lang/rust#91979).
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
}

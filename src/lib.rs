//! nrt-async-shim: the legacy Neuron runtime calls, implemented on the explicit
//! async (`nrta_*`) API with dependency tracking per byte range of storage.
//!
//! - [`exports`]: the C surface, one module per API family (the FFI edge);
//! - [`backend`]: finding and calling the real runtime, hiding its async generation;
//! - [`tracker`]: which pending operations touch which bytes (safe Rust);
//! - [`scheduler`]: windows, submission, completion, waiting, errors (safe Rust);
//! - [`registry`]: what the shim knows about tensors, sets and models;
//! - [`status`]: the runtime's status codes, from the header (a leaf);
//! - [`config`], [`observe`]: environment variables, counters and logging;
//! - [`sync`]: the primitives of the parts model-checked by loom; `scratch`:
//!   per-thread buffers of the hot paths.

pub mod backend;
pub mod config;
// In unit tests the exports are not exported (no_mangle would clash), so unused.
#[cfg_attr(test, allow(dead_code))]
mod exports;
/// Every symbol the library exports, as declared (tests/exports.rs checks it against the built library).
#[doc(hidden)]
pub use exports::EXPORTED;
mod ffi;
pub mod idhash;
pub mod observe;
pub mod registry;
pub mod scheduler;
mod scratch;
pub mod status;
pub mod sync;
pub mod tracker;

//! nrt-proof: the machinery that checks nrt-async-shim against the simulator's
//! synchronous runtime (see proof/README.md).
//!
//! Modules refer to each other with `super::`, never `crate::`: the top-level
//! tests (`tests/proof_*.rs`, in the root package) include this file with
//! `#[path]`, as a module of their own crate.

pub mod badinput;
pub mod diff;
pub mod faults;
pub mod gen;
pub mod harness;
pub mod program;

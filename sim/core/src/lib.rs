//! nrt-sim core: the behavioural simulator of the Neuron runtime (`libnrt.so.1`).
//!
//! All the logic lives here, plus the `#[no_mangle]` exports common to both
//! explicit-async generations (see [`ffi`]). The two cdylibs (`nrt-sim`, v3, and
//! `nrt-sim-v2`) add their generation's `nrta_*` exports. See `sim/README.md`.

pub mod config;
pub mod devmap;
pub mod exec;
pub mod ffi;
pub mod hazard;
pub mod logging;
pub mod model;
pub mod pace;
pub mod raw;
pub mod runtime;
pub mod seq;
pub mod site;
pub mod sync;

pub use nrt_sys;

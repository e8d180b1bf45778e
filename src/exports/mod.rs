//! The exported C surface, one module per API family. Only functions whose
//! behaviour changes are exported; everything else resolves to the runtime
//! itself. Each is declared once, with `export!` (src/ffi.rs); build.rs
//! lists them ([`EXPORTED`]), tests/exports.rs compares that list with the
//! built library and with tests/exports.txt, the reviewed copy.
//!
//! Each export: the runtime-state check, NULL and unknown handles as the
//! runtime's statuses (in that order, as the simulator and the runtime do),
//! then the engine decides when the real call may run.

mod escape;
mod exec;
mod legacy_async;
mod lifecycle;
mod model;
mod nrta;
mod profile;
mod shim_api;
mod sync_points;
mod tensor;
mod tensor_batch;
mod tensor_set;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use once_cell::sync::OnceCell;

use crate::backend::{RealDevice, Runtime};
use crate::config::{Config, Mode};
use crate::registry::Handle;
use crate::scheduler::{Device, Engine};
use crate::status::{NRT_FAILURE, NRT_INVALID};
use crate::tracker::Status;

pub use lifecycle::take_legacy_variable;

/// The shim, once per process.
pub struct Shim {
    pub rt: &'static Runtime,
    pub engine: Engine<RealDevice>,
    pub mode: Mode,
}

static SHIM: OnceCell<Option<Shim>> = OnceCell::new();

/// The shim, set up on first use (never in a constructor). None when no
/// runtime could be found: every export then returns NRT_FAILURE.
pub fn shim() -> Option<&'static Shim> {
    SHIM.get_or_init(|| {
        let legacy = take_legacy_variable();
        let (config, warnings) = Config::from_env(legacy.clone());
        crate::observe::init_logging(config.log_level);
        for w in warnings {
            log::warn!("{w}");
        }
        if let Some(v) = &legacy {
            log::info!(
                "{}={v} was removed from the environment (the runtime must not see it); in-flight depth {} from {}",
                crate::config::LEGACY_INFLIGHT_VAR,
                config.max_inflight,
                config.inflight_source
            );
        }
        let rt: &'static Runtime = match Runtime::find(config.libnrt.as_deref()) {
            Ok(rt) => Box::leak(Box::new(rt)),
            Err(e) => {
                log::error!("{e}");
                return None;
            }
        };
        let generation = rt.generation(config.async_abi);
        let mut mode = config.mode;
        if mode != Mode::Passthrough && !rt.has_async_core() {
            log::warn!(
                "the runtime at {} has no nrta_execute_schedule/nrta_is_completed: passing every call through",
                rt.source
            );
            mode = Mode::Passthrough;
        }
        let device = RealDevice::new(rt, generation);
        log::info!(
            "runtime {}: nrta generation {:?}, completion by {:?}, mode {:?}, in-flight depth {}, direct waiting {}",
            rt.source,
            generation,
            device.signal,
            mode,
            config.max_inflight,
            if !config.direct_wait {
                "off (NRT_SHIM_DIRECT_WAIT=0)"
            } else if device.can_wait_for() {
                "on"
            } else {
                "unavailable (the runtime cannot signal a thread)"
            }
        );
        lifecycle::register_process_hooks();
        crate::observe::init(&config, mode_name(mode));
        Some(Shim { rt, engine: Engine::new(device, config), mode })
    })
    .as_ref()
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Async => "async",
        Mode::Sync => "sync",
        Mode::Passthrough => "passthrough",
    }
}

/// Writes the stats and the trace, if asked for (at nrt_close, and at exit: `last`).
pub fn write_reports(last: bool) {
    if let Some(o) = crate::observe::get() {
        o.write_reports(last);
    }
}

static NO_RUNTIME_LOGGED: AtomicBool = AtomicBool::new(false);

/// The shim, or the status an export returns without one.
fn get() -> Result<&'static Shim, Status> {
    match shim() {
        Some(s) => Ok(s),
        None => {
            if !NO_RUNTIME_LOGGED.swap(true, Ordering::Relaxed) {
                log::error!("no runtime: every call returns NRT_FAILURE");
            }
            Err(NRT_FAILURE)
        }
    }
}

/// Turns an opaque pointer into a handle, NULL into NRT_INVALID (logged once).
fn handle<T>(p: *const T, what: &str) -> Result<Handle, Status> {
    if p.is_null() {
        Err(crate::observe::reject(NRT_INVALID, format_args!("{what} is NULL")))
    } else {
        Ok(p as Handle)
    }
}

include!(concat!(env!("OUT_DIR"), "/exports_list.rs"));

/// Whether `name` is in [`EXPORTED`] (at compile time, for `export!`).
pub const fn listed(name: &str) -> bool {
    let mut i = 0;
    while i < EXPORTED.len() {
        let (a, b) = (EXPORTED[i].as_bytes(), name.as_bytes());
        if a.len() == b.len() {
            let mut j = 0;
            while j < a.len() && a[j] == b[j] {
                j += 1;
            }
            if j == a.len() {
                return true;
            }
        }
        i += 1;
    }
    false
}

/// How long exit() gives in-flight work before abandoning it.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

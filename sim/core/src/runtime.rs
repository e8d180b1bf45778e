//! The simulated runtime. This file holds the state (`Runtime`, its registry)
//! and the unit tables; each concern has its own file:
//!
//! - `session`: nrt_init / nrt_close, the running runtime (`rt`);
//! - `fork`: the pthread_atfork handlers;
//! - `queue`: queues, ops, completions, `submit`; `worker`: running an op;
//! - `tensors`: tensors and storage; `sets`: tensor sets; `models`: models;
//! - `transfer`: the synchronous data calls; `execute`: the execute calls;
//! - `nrta`: the explicit async calls; `events`: completion eventfds;
//! - `implicit`: the implicit-async mode's fence and errors;
//! - `hazards`: call sites per op, hazard lines and abort;
//! - `report`: the session report.

use crate::config::Config;
use crate::hazard::{Oracle, Range};
use crate::model::ModelDef;
use crate::raw::Callback;
use crate::seq;
use crate::sync::{Condvar, Mutex};
use nrt_sys as sys;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Logs a rejected call and returns its status.
#[macro_export]
macro_rules! reject {
    ($st:expr, $($fmt:tt)+) => {{
        log::warn!($($fmt)+);
        $st
    }};
}

mod barrier;
mod devmem;
mod events;
mod execute;
mod fork;
mod hazards;
mod implicit;
mod models;
mod nrta;
mod profile;
mod queue;
mod report;
mod sendrecv;
mod session;
mod sets;
mod tensors;
mod transfer;
mod watch;
mod worker;

pub use devmem::{Bank, DevAlloc};
pub use fork::{fork_child, fork_parent, fork_prepare};
pub use models::Model;
pub use nrta::Tracker;
pub use queue::{Completion, Queue, SyncSlot};
pub use sendrecv::MAX_PENDING as SENDRECV_MAX_PENDING;
pub use session::{close, init, rt, rt_async, write_report_at_exit};
pub use tensors::{Placement, Region, Storage, Tensor};

pub type Status = u32;
pub type Res<T> = Result<T, Status>;

pub use sys::{
    NRT_CLOSED, NRT_EXEC_UNIT_UNRECOVERABLE, NRT_FAILURE, NRT_INVALID, NRT_INVALID_HANDLE, NRT_LOAD_NOT_ENOUGH_NC,
    NRT_QUEUE_FULL, NRT_RESOURCE, NRT_SUCCESS, NRT_TIMEOUT, NRT_UNINITIALIZED, NRT_UNSUPPORTED_NEFF_VERSION,
};

// ---------------------------------------------------------------- generation

/// Which explicit-async generation this library presents (2 or 3).
static GENERATION: AtomicU8 = AtomicU8::new(3);

/// Called by the cdylib at load time (an .init_array constructor).
pub fn set_generation(g: u8) {
    GENERATION.store(g, Ordering::Relaxed);
}

pub fn generation() -> u8 {
    GENERATION.load(Ordering::Relaxed)
}

/// Unit types of the generation: (name, queues). Index = the nrta_xu_t value.
pub fn unit_table(gen: u8) -> &'static [(&'static str, u32)] {
    if gen == 2 {
        &[("tensor_read", 1), ("tensor_write", 1), ("tensor_op", 1), ("compute", 1), ("collectives", 1)]
    } else {
        &[("tensor_op", 2), ("compute", 1), ("collectives", 3)]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitRole {
    Read,
    Write,
    Op,
    Compute,
}

pub fn unit_type(gen: u8, role: UnitRole) -> u32 {
    match (gen, role) {
        (2, UnitRole::Read) => 0,
        (2, UnitRole::Write) => 1,
        (2, UnitRole::Op) => 2,
        (2, UnitRole::Compute) => 3,
        (_, UnitRole::Compute) => 1,
        (_, _) => 0,
    }
}

// ---------------------------------------------------------------- handles

/// Handles are opaque addresses that are never dereferenced and never reused.
static NEXT_HANDLE: AtomicU64 = AtomicU64::new(0);

fn new_handle() -> usize {
    let n = NEXT_HANDLE.fetch_add(1, Ordering::Relaxed) + 1;
    (0x5eed_0000_0000usize) + (n as usize) * 16
}

/// A new opaque handle from the same space (objects that outlive sessions:
/// inspect options).
pub fn new_opaque_handle() -> usize {
    new_handle()
}

// ---------------------------------------------------------------- state

/// Everything the session handed out a handle for, and the per-core model counts.
#[derive(Default)]
struct Registry {
    tensors: HashMap<usize, Tensor>,
    models: HashMap<usize, Arc<Model>>,
    sets: HashMap<usize, BTreeMap<String, usize>>,
    trackers: HashMap<usize, Arc<Tracker>>,
    tensor_infos: HashMap<usize, usize>,
    models_per_core: Vec<u32>,
    next_model_id: u32,
    output_counts: HashMap<usize, u64>,
}

impl Registry {
    /// Registers a new tensor (its output-completion count at 0); returns its handle.
    fn add_tensor(&mut self, t: Tensor) -> usize {
        let h = new_handle();
        self.tensors.insert(h, t);
        self.output_counts.insert(h, 0);
        h
    }
}

// ---------------------------------------------------------------- runtime

/// Counters for the report (`fail_counter`: NRT_SIM_FAIL_EVERY's count of executions).
#[derive(Default)]
struct Stats {
    executions: AtomicU64,
    failed: AtomicU64,
    queue_full: AtomicU64,
    fail_counter: AtomicU64,
    /// NRT_SIM_FAIL_TRANSFER_EVERY's count of asynchronous transfers.
    transfer_counter: AtomicU64,
}

/// Implicit mode, per core: executions in flight (at most N) and jobs issued.
struct Implicit {
    inflight: Vec<u32>,
    jobs: Vec<u64>,
}

pub struct Runtime {
    pub cfg: &'static Config,
    pub gen: u8,
    /// N of the implicit-async mode, 0 when off.
    pub implicit: u32,
    /// NEURON_RT_MAP_HBM: device memory is mapped to the CPU (get_va of device
    /// tensors, nrt_get_hbm_mmap_va).
    pub map_hbm: bool,
    start: Instant,
    reg: Mutex<Registry>,
    output_cv: Condvar,
    queues: HashMap<u16, Arc<Queue>>,
    device_used: Arc<AtomicU64>,
    stats: Stats,
    oracle: Mutex<Oracle>,
    imp: Mutex<Implicit>,
    imp_cv: Condvar,
    fence: implicit::Fence,
    callback: Mutex<Option<Callback>>,
    /// Where this session's report goes (NRT_SIM_REPORT, `.<pid>` appended in a forked child).
    report: Option<String>,
    /// Device memory, one bank per core (made on first use).
    banks: devmem::Banks,
    barrier: barrier::Rendezvous,
    profiles: profile::Profiles,
    sendrecv: sendrecv::SendRecv,
}

impl Runtime {
    fn queue(&self, core: u32, utype: u32, q: u32) -> &Arc<Queue> {
        &self.queues[&seq::unit_id(core, utype, q)]
    }
    fn role_queue(&self, core: u32, role: UnitRole) -> &Arc<Queue> {
        self.queue(core, unit_type(self.gen, role), 0)
    }
    pub fn cores(&self) -> u32 {
        self.cfg.cores
    }
}

pub fn json_str(s: &str) -> String {
    nrt_common::json::quoted(s, nrt_common::json::Controls::Short)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn json_escape() {
        assert_eq!(json_str("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
    }
    #[test]
    fn tables() {
        assert_eq!(unit_table(3).len(), 3);
        assert_eq!(unit_table(2).len(), 5);
        assert_eq!(unit_type(3, UnitRole::Compute), sys::NRTA_XU_COMPUTE);
        assert_eq!(unit_type(3, UnitRole::Read), sys::NRTA_XU_TENSOR_OP);
        assert_eq!(unit_type(2, UnitRole::Compute), sys::v2::NRTA_XU_COMPUTE);
        assert_eq!(unit_type(2, UnitRole::Read), sys::v2::NRTA_XU_TENSOR_READ);
        assert_eq!(unit_type(2, UnitRole::Write), sys::v2::NRTA_XU_TENSOR_WRITE);
        assert_eq!(unit_type(2, UnitRole::Op), sys::v2::NRTA_XU_TENSOR_OP);
    }
    #[test]
    fn range_checks() {
        let t = Tensor { name: "t".into(), placement: Placement::Host, storage: None, offset: 0, size: 8 };
        assert_eq!(Runtime::range_check("x", &t, 0, 8), Ok((0, 8)));
        assert_eq!(Runtime::range_check("x", &t, 8, 0), Ok((8, 0)));
        assert_eq!(Runtime::range_check("x", &t, 4, 5), Err(NRT_INVALID));
        assert_eq!(Runtime::range_check("x", &t, 9, 0), Err(NRT_INVALID));
        assert_eq!(Runtime::range_check("x", &t, u64::MAX, 2), Err(NRT_INVALID));
        assert_eq!(Runtime::range_check("x", &t, 2, u64::MAX), Err(NRT_INVALID));
        assert_eq!(Runtime::with_storage("x", &t), Err(NRT_INVALID));
    }
    #[test]
    fn handles_unique() {
        let a = new_handle();
        let b = new_handle();
        assert_ne!(a, b);
        assert!(b > a);
    }
}

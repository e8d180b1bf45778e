//! The session: `nrt_init`, `nrt_close`, and the running runtime that every
//! call looks up (`rt`).

use super::events::forget_notify_fd;
use super::*;
use crate::config::{self, Config};
use crate::raw;
use crate::sync::Condvar;
use std::sync::atomic::AtomicBool;

pub(super) enum Phase {
    Uninit,
    Running(Arc<Runtime>),
    Closing,
    Closed,
}

/// The session. Lock order: PHASE, then NOTIFY_FDS (both taken by `fork_prepare`).
pub(super) static PHASE: Mutex<Phase> = Mutex::new(Phase::Uninit);

/// Set in a forked child (of a process that had initialised the runtime).
pub(super) static FORKED_CHILD: AtomicBool = AtomicBool::new(false);

/// The running runtime, or NRT_UNINITIALIZED / NRT_CLOSED (logged).
pub fn rt(call: &str) -> Res<Arc<Runtime>> {
    crate::logging::init();
    match &*PHASE.lock() {
        Phase::Running(r) => Ok(r.clone()),
        Phase::Uninit => {
            Err(reject!(NRT_UNINITIALIZED, "{call}: the runtime is not initialized (call nrt_init first)"))
        }
        Phase::Closing | Phase::Closed => Err(reject!(NRT_CLOSED, "{call}: the runtime is closed")),
    }
}

/// Like `rt`, for nrta_* calls: NRT_FAILURE in implicit-async mode.
pub fn rt_async(call: &str) -> Res<Arc<Runtime>> {
    let r = rt(call)?;
    if r.implicit > 0 {
        return Err(reject!(NRT_FAILURE, "{call}: Explicit async API cannot be used in implicit async mode"));
    }
    Ok(r)
}

fn implicit_from_env(cfg: &Config) -> u32 {
    let v = match std::env::var("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS") {
        Ok(v) if !v.trim().is_empty() => v,
        _ => return 0,
    };
    let n: u64 = match v.trim().parse() {
        Ok(n) => n,
        Err(_) => {
            log::warn!("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS={v:?} is not a number; implicit async mode off");
            return 0;
        }
    };
    if n == 0 {
        return 0;
    }
    if !cfg.has_implicit_mode() {
        log::warn!(
            "NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS={n} is ignored: the implicit async mode was removed in SDK 2.31 \
             (this runtime behaves as {}); executions are synchronous",
            cfg.runtime
        );
        return 0;
    }
    if cfg.runtime_version.1 == 30 && cfg.runtime_version.0 == 2 {
        log::warn!(
            "NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS is deprecated (SDK 2.30) and removed in SDK 2.31: use the \
             nrta_* API"
        );
    }
    if n > 63 {
        log::warn!("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS={n} is above the limit; using 63");
        return 63;
    }
    n as u32
}

/// NEURON_RT_MAP_HBM, the runtime's own variable (read at every nrt_init):
/// `1`, `true` or a positive integer maps device memory to the CPU.
fn map_hbm_from_env() -> bool {
    let Ok(v) = std::env::var("NEURON_RT_MAP_HBM") else { return false };
    let v = v.trim().to_ascii_lowercase();
    match v.as_str() {
        "" | "0" | "false" => false,
        "true" => true,
        _ => match v.parse::<u64>() {
            Ok(n) => n > 0,
            Err(_) => {
                log::warn!("NEURON_RT_MAP_HBM={v:?} is neither a number nor true/false; device memory is not mapped");
                false
            }
        },
    }
}

pub fn init() -> Status {
    crate::logging::init();
    let cfg = config::get();
    // Before PHASE: pthread_atfork waits for a concurrent fork, whose prepare
    // handler waits for PHASE.
    raw::register_atfork_once();
    let mut ph = PHASE.lock();
    match &*ph {
        Phase::Running(_) | Phase::Closing => {
            return reject!(NRT_FAILURE, "nrt_init: the runtime is already initialized (call nrt_close first)");
        }
        Phase::Uninit | Phase::Closed => {}
    }
    let gen = generation();
    if let Some(want) = cfg.async_abi_env {
        if want as u8 != gen {
            let dir = if want == 2 { "lib-v2/" } else { "lib/" };
            log::warn!(
                "NRT_SIM_ASYNC_ABI={want} but this library presents the v{gen} async API; the generation is a property of \
                 the library file: use the one in {dir} (cargo xtask sim)"
            );
        }
    }
    let implicit = implicit_from_env(cfg);
    let map_hbm = map_hbm_from_env();
    let mut queues = HashMap::new();
    for core in 0..cfg.cores {
        for (t, (uname, nq)) in unit_table(gen).iter().enumerate() {
            for q in 0..*nq {
                let uid = seq::unit_id(core, t as u32, q);
                let name = format!(
                    "nrt-sim-c{core}-{}{}",
                    uname.replace('_', ""),
                    if *nq > 1 { q.to_string() } else { String::new() }
                );
                queues.insert(uid, Arc::new(Queue::new(uid, core, t as u32, q, name)));
            }
        }
    }
    let reg = Registry { models_per_core: vec![0; cfg.cores as usize], ..Default::default() };
    let r = Arc::new(Runtime {
        cfg,
        gen,
        implicit,
        map_hbm,
        start: Instant::now(),
        reg: Mutex::new(reg),
        output_cv: Condvar::new(),
        queues,
        device_used: Arc::new(AtomicU64::new(0)),
        stats: Stats::default(),
        oracle: Mutex::new(Oracle::default()),
        imp: Mutex::new(Implicit { inflight: vec![0; cfg.cores as usize], jobs: vec![0; cfg.cores as usize] }),
        imp_cv: Condvar::new(),
        fence: implicit::Fence::new(cfg.implicit_fence),
        callback: Mutex::new(None),
        report: cfg.report.as_ref().map(|p| {
            if FORKED_CHILD.load(Ordering::Relaxed) {
                format!("{p}.{}", std::process::id())
            } else {
                p.clone()
            }
        }),
        banks: Default::default(),
        barrier: Default::default(),
        profiles: Default::default(),
        sendrecv: Default::default(),
    });
    let has_report = r.report.is_some();
    *ph = Phase::Running(r);
    drop(ph);
    if has_report {
        raw::register_atexit_once();
    }
    log::info!(
        "nrt_init: {} cores, async API v{gen}, behaving as SDK {}, implicit async {}",
        cfg.cores,
        cfg.runtime,
        if implicit > 0 { format!("on (N={implicit})") } else { "off".into() }
    );
    NRT_SUCCESS
}

pub fn close() {
    crate::logging::init();
    let r = {
        let mut ph = PHASE.lock();
        match std::mem::replace(&mut *ph, Phase::Closing) {
            Phase::Running(r) => r,
            other => {
                let what = if matches!(other, Phase::Uninit) { "not initialized" } else { "already closed" };
                *ph = other;
                log::warn!("nrt_close: the runtime is {what}");
                return;
            }
        }
    };
    // Refuse new work, let queued work finish.
    let mut qs: Vec<&Arc<Queue>> = r.queues.values().collect();
    qs.sort_by_key(|q| q.uid);
    for q in &qs {
        let mut st = q.st.lock();
        st.closing = true;
        q.done_cv.notify_all();
        while st.completed < st.issued {
            q.done_cv.wait(&mut st);
        }
    }
    for q in &qs {
        q.st.lock().stop = true;
        q.work_cv.notify_all();
        if let Some(h) = q.worker.lock().take() {
            let _ = h.join();
        }
        if let Some(fd) = q.st.lock().xu_notify.take() {
            forget_notify_fd(fd);
        }
    }
    r.write_report();
    {
        let mut reg = r.reg.lock();
        let infos: Vec<usize> = reg.tensor_infos.keys().copied().collect();
        *reg = Registry::default();
        drop(reg);
        for p in infos {
            crate::ffi::free_tensor_info_block(p);
        }
    }
    *PHASE.lock() = Phase::Closed;
    log::info!("nrt_close: done");
}

pub fn write_report_at_exit() {
    let r = match &*PHASE.lock() {
        Phase::Running(r) => r.clone(),
        _ => return,
    };
    r.write_report();
}

//! Execution: the validation of a request (model and sets), `nrt_execute`
//! (synchronous or implicit-async), `nrt_execute_repeat`, the drain.

use super::queue::{Completion, SyncSlot, Work};
use super::*;
use crate::raw::Callback;

/// A validated execution: model, input regions, output regions with their
/// tensor handles, and the sizes of host tensors (sync path DMA; none on the
/// async paths, which reject host tensors).
#[derive(Clone)]
pub(super) struct ExecPlan {
    pub(super) model: Arc<Model>,
    pub(super) inputs: Vec<Region>,
    pub(super) outputs: Vec<(Region, usize)>,
    host: Vec<usize>,
}

impl Runtime {
    /// Validates an execution. `async_path`: host tensors are rejected.
    pub(super) fn prepare_exec(
        &self,
        call: &str,
        mh: usize,
        inh: usize,
        outh: usize,
        async_path: bool,
    ) -> Res<ExecPlan> {
        let reg = self.reg.lock();
        let m = reg
            .models
            .get(&mh)
            .cloned()
            .ok_or_else(|| reject!(NRT_INVALID_HANDLE, "{call}: model handle {mh:#x} is unknown"))?;
        let ins = reg
            .sets
            .get(&inh)
            .ok_or_else(|| reject!(NRT_INVALID_HANDLE, "{call}: input tensor set {inh:#x} is unknown"))?;
        let outs = reg
            .sets
            .get(&outh)
            .ok_or_else(|| reject!(NRT_INVALID_HANDLE, "{call}: output tensor set {outh:#x} is unknown"))?;
        // 1) handles of the named tensors
        let decls =
            m.def.inputs.iter().map(|d| (d, ins, "input")).chain(m.def.outputs.iter().map(|d| (d, outs, "output")));
        for (d, set, kind) in decls.clone() {
            if let Some(th) = set.get(&d.name) {
                if !reg.tensors.contains_key(th) {
                    return Err(reject!(
                        NRT_INVALID_HANDLE,
                        "{call}: {kind} '{}' of model '{}' is a freed tensor",
                        d.name,
                        m.def.name
                    ));
                }
            }
        }
        // 2) presence, storage, size, placement, core
        let mut inputs = Vec::new();
        let mut outputs = Vec::new();
        let mut host = Vec::new();
        for (d, set, kind) in decls {
            let th = *set.get(&d.name).ok_or_else(|| {
                reject!(
                    NRT_INVALID,
                    "{call}: {kind} '{}' of model '{}' is missing from the {kind} set",
                    d.name,
                    m.def.name
                )
            })?;
            let t = &reg.tensors[&th];
            Self::with_storage(call, t)?;
            if t.size != d.size {
                return Err(reject!(
                    NRT_INVALID,
                    "{call}: {kind} '{}' of model '{}' must be {} bytes, tensor '{}' has {}",
                    d.name,
                    m.def.name,
                    d.size,
                    t.name,
                    t.size
                ));
            }
            match t.device_core() {
                Some(c) if c != m.core => {
                    return Err(reject!(
                        NRT_INVALID,
                        "{call}: {kind} '{}' (tensor '{}') is on core {c}, model '{}' on core {}",
                        d.name,
                        t.name,
                        m.def.name,
                        m.core
                    ))
                }
                Some(_) => {}
                None => {
                    if async_path {
                        return Err(reject!(
                            NRT_INVALID,
                            "{call}: {kind} '{}' (tensor '{}'): Async exec mode only supports device allocated tensors",
                            d.name,
                            t.name
                        ));
                    }
                    host.push(t.size);
                }
            }
            let r = t.region(0, t.size);
            if kind == "input" {
                inputs.push(r);
            } else {
                outputs.push((r, th));
            }
        }
        Ok(ExecPlan { model: m, inputs, outputs, host })
    }

    /// The modelled time of an execution: the model's latency, plus one DMA
    /// per host tensor.
    fn exec_duration(&self, plan: &ExecPlan) -> Duration {
        let mut d = self.cfg.scaled(plan.model.def.latency_us as f64);
        for &b in &plan.host {
            d += self.cfg.dma_time(b as u64);
        }
        d
    }

    /// Queues a validated execution on its model's compute unit. `blocking`:
    /// wait for room instead of NRT_QUEUE_FULL.
    pub(super) fn submit_exec(
        self: &Arc<Self>,
        call: &str,
        what: String,
        plan: ExecPlan,
        done: Completion,
        blocking: bool,
    ) -> Res<u64> {
        let q = self.role_queue(plan.model.core, UnitRole::Compute).clone();
        let dur = self.exec_duration(&plan);
        let ExecPlan { model, inputs, outputs, .. } = plan;
        self.submit(&q, call, what, Work::Exec { model, inputs, outputs, fail: None }, dur, done, blocking)
    }

    /// nrt_execute: synchronous, or implicit-async when the mode is on.
    pub fn execute(self: &Arc<Self>, mh: usize, inh: usize, outh: usize) -> Res<()> {
        let call = "nrt_execute";
        if self.implicit > 0 {
            return self.execute_implicit(call, mh, inh, outh);
        }
        let plan = self.prepare_exec(call, mh, inh, outh, false)?;
        let t0 = self.profile_begin();
        let slot = SyncSlot::new_inline();
        let what = format!("{call}('{}')", plan.model.def.name);
        self.submit_exec(call, what, plan, Completion::Sync(slot.clone()), true)?;
        let r = slot.wait_ok();
        if let Some(t0) = t0 {
            self.profile_record(mh, "nrt_execute", 1, t0, r.err().unwrap_or(NRT_SUCCESS));
        }
        r
    }

    fn execute_implicit(self: &Arc<Self>, call: &str, mh: usize, inh: usize, outh: usize) -> Res<()> {
        let plan = self.prepare_exec(call, mh, inh, outh, true)?;
        let m = plan.model.clone();
        let core = m.core as usize;
        let job_id = {
            let mut im = self.imp.lock();
            while im.inflight[core] >= self.implicit {
                self.imp_cv.wait(&mut im);
            }
            im.inflight[core] += 1;
            im.jobs[core] += 1;
            im.jobs[core]
        };
        let what = format!("{call}('{}', implicit job {job_id})", m.def.name);
        // Its storages count as in flight from now on (the fence).
        let ticket = self.implicit_begin(m.core, m.id, job_id, &plan.inputs, &plan.outputs);
        if let Err(e) = self.submit_exec(call, what, plan, Completion::Implicit(ticket), true) {
            self.fence.cancel(core as u32, job_id);
            let mut im = self.imp.lock();
            im.inflight[core] -= 1;
            self.imp_cv.notify_all();
            return Err(e);
        }
        Ok(())
    }

    pub fn execute_repeat(self: &Arc<Self>, mh: usize, inh: usize, outh: usize, n: i32) -> Res<()> {
        let call = "nrt_execute_repeat";
        if self.implicit > 0 {
            drop(self.prepare_exec(call, mh, inh, outh, true)?);
            if n < 1 {
                return Err(reject!(NRT_INVALID, "{call}: repeat_count {n} must be >= 1"));
            }
            for _ in 0..n {
                self.execute_implicit(call, mh, inh, outh)?;
            }
            return Ok(());
        }
        let plan = self.prepare_exec(call, mh, inh, outh, false)?;
        if n < 1 {
            return Err(reject!(NRT_INVALID, "{call}: repeat_count {n} must be >= 1"));
        }
        let t0 = self.profile_begin();
        let mut slots = Vec::new();
        let mut first_err = None;
        for i in 0..n {
            let slot = SyncSlot::new();
            let what = format!("{call}('{}') #{}", plan.model.def.name, i + 1);
            match self.submit_exec(call, what, plan.clone(), Completion::Sync(slot.clone()), true) {
                Ok(_) => slots.push(slot),
                Err(e) => {
                    first_err = Some(e);
                    break;
                }
            }
        }
        for s in slots {
            let st = s.wait();
            if st != NRT_SUCCESS && first_err.is_none() {
                first_err = Some(st);
            }
        }
        if let Some(t0) = t0 {
            self.profile_record(mh, call, n, t0, first_err.unwrap_or(NRT_SUCCESS));
        }
        first_err.map_or(Ok(()), Err)
    }

    pub fn register_callback(&self, cb: Option<Callback>) {
        *self.callback.lock() = cb;
    }

    pub fn drain(&self, vnc: i32) -> Res<()> {
        if vnc < 0 || vnc as u32 >= self.cfg.cores {
            return Err(reject!(NRT_INVALID, "nrt_async_drain_queued_execs: vnc {vnc} does not exist"));
        }
        let upto = self.implicit_last_job(vnc as u32);
        self.role_queue(vnc as u32, UnitRole::Compute).drain();
        // Implicit mode: the drain surfaces a failure among the requests it waited for.
        self.implicit_drained(vnc as u32, upto)
    }
}

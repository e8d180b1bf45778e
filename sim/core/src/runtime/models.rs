//! Loaded models: `nrt_load`, `nrt_unload`, and the model-info blocks.

use super::*;
use crate::model;

pub struct Model {
    pub handle: usize,
    pub id: u32,
    pub core: u32,
    pub def: Arc<ModelDef>,
    pub(super) execs: AtomicU64,
    pub(super) last_counter: AtomicU64,
}

impl Runtime {
    fn model(&self, call: &str, h: usize) -> Res<Arc<Model>> {
        self.reg.lock().models.get(&h).cloned().ok_or_else(|| {
            reject!(NRT_INVALID_HANDLE, "{call}: model handle {h:#x} is unknown (never loaded or already unloaded)")
        })
    }

    pub fn load(&self, data: &[u8], vnc: i32) -> Res<usize> {
        let cores = self.cfg.cores;
        if vnc < -1 {
            return Err(reject!(NRT_INVALID, "nrt_load: vnc {vnc} is invalid (-1 or 0..{cores})"));
        }
        if vnc >= cores as i32 {
            return Err(reject!(NRT_LOAD_NOT_ENOUGH_NC, "nrt_load: vnc {vnc} does not exist ({cores} cores)"));
        }
        let def = match model::parse(data) {
            Ok(d) => d,
            Err(e @ model::LoadError::Neff) => return Err(reject!(NRT_UNSUPPORTED_NEFF_VERSION, "nrt_load: {e}")),
            Err(e) => return Err(reject!(NRT_INVALID, "nrt_load: {e}")),
        };
        let mut reg = self.reg.lock();
        let core = if vnc >= 0 {
            vnc as u32
        } else {
            let m = *reg.models_per_core.iter().min().unwrap();
            reg.models_per_core.iter().position(|&n| n == m).unwrap() as u32
        };
        reg.models_per_core[core as usize] += 1;
        reg.next_model_id += 1;
        let h = new_handle();
        let m = Model {
            handle: h,
            id: reg.next_model_id,
            core,
            def: Arc::new(def),
            execs: AtomicU64::new(0),
            last_counter: AtomicU64::new(0),
        };
        log::info!("nrt_load: model '{}' (id {}) on core {core}", m.def.name, m.id);
        reg.models.insert(h, Arc::new(m));
        Ok(h)
    }

    pub fn unload(&self, h: usize) -> Res<()> {
        let m = self.model("nrt_unload", h)?;
        let q = self.role_queue(m.core, UnitRole::Compute);
        q.wait_completed(m.last_counter.load(Ordering::Relaxed));
        let mut reg = self.reg.lock();
        if reg.models.remove(&h).is_some() {
            reg.models_per_core[m.core as usize] -= 1;
            Ok(())
        } else {
            Err(reject!(NRT_INVALID_HANDLE, "nrt_unload: model handle {h:#x} was unloaded concurrently"))
        }
    }

    pub fn model_info(&self, call: &str, h: usize) -> Res<Arc<Model>> {
        self.model(call, h)
    }

    pub fn remember_tensor_info(&self, p: usize) {
        self.reg.lock().tensor_infos.insert(p, p);
    }
    pub fn forget_tensor_info(&self, p: usize) -> bool {
        self.reg.lock().tensor_infos.remove(&p).is_some()
    }
}

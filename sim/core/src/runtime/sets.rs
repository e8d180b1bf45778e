//! Tensor sets: name -> tensor maps, read by the execute calls.

use super::*;

impl Runtime {
    pub fn set_alloc(&self) -> usize {
        let h = new_handle();
        self.reg.lock().sets.insert(h, BTreeMap::new());
        h
    }
    pub fn set_destroy(&self, h: usize) -> Res<()> {
        self.reg.lock().sets.remove(&h).map(|_| ()).ok_or_else(|| {
            reject!(NRT_INVALID_HANDLE, "nrt_destroy_tensor_set: tensor set {h:#x} is unknown or already destroyed")
        })
    }
    pub fn set_add(&self, h: usize, name: &str, t: usize) -> Res<()> {
        let mut reg = self.reg.lock();
        if !reg.sets.contains_key(&h) {
            return Err(reject!(NRT_INVALID_HANDLE, "nrt_add_tensor_to_tensor_set: tensor set {h:#x} is unknown"));
        }
        if !reg.tensors.contains_key(&t) {
            return Err(reject!(
                NRT_INVALID_HANDLE,
                "nrt_add_tensor_to_tensor_set: tensor {t:#x} ('{name}') is unknown"
            ));
        }
        reg.sets.get_mut(&h).unwrap().insert(name.to_string(), t);
        Ok(())
    }
    pub fn set_get(&self, h: usize, name: &str) -> Res<usize> {
        let reg = self.reg.lock();
        let s = reg.sets.get(&h).ok_or_else(|| {
            reject!(NRT_INVALID_HANDLE, "nrt_get_tensor_from_tensor_set: tensor set {h:#x} is unknown")
        })?;
        s.get(name)
            .copied()
            .ok_or_else(|| reject!(NRT_INVALID, "nrt_get_tensor_from_tensor_set: no tensor named '{name}' in the set"))
    }
}

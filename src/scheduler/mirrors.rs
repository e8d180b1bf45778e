//! Mirror sets: the runtime sets a request runs on, the shim's own, so the
//! application may change or destroy its sets while requests are pending.
//! Kept per set and role, reused when idle, destroyed when no request holds
//! them (orphans).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::*;

impl<D: Device> Engine<D> {
    /// Before the real nrt_destroy_tensor_set: the shim's mirrors of it go
    /// when no pending request holds them.
    pub fn set_destroyed(&'static self, handle: Handle) {
        if let Some(set) = self.sets.remove(handle) {
            let mirrors = std::mem::take(&mut set.contents.lock().mirrors);
            if !mirrors.is_empty() {
                self.orphans.lock().extend(mirrors);
                self.has_orphans.store(true, Ordering::Release);
                self.sweep_orphans();
            }
        }
    }

    #[inline]
    pub(super) fn sweep_orphans(&'static self) {
        if self.has_orphans.load(Ordering::Acquire) {
            self.sweep_orphans_now();
        }
    }

    #[inline(never)]
    fn sweep_orphans_now(&'static self) {
        let free: Vec<Arc<Mirror>> = {
            let mut o = self.orphans.lock();
            let (free, held): (Vec<_>, Vec<_>) = o.drain(..).partition(|m| Arc::strong_count(m) == 1);
            *o = held;
            self.has_orphans.store(!o.is_empty(), Ordering::Release);
            free
        };
        for m in free {
            self.device.destroy_set(m.set);
        }
    }

    /// A runtime set holding `tensors` under the model's names for one role,
    /// unchanged while requests use it.
    pub(super) fn mirror(
        &'static self,
        set: &SetRecord,
        model: &ModelRecord,
        outputs: bool,
        tensors: &[Handle],
    ) -> Result<Arc<Mirror>, Status> {
        let names = if outputs { &model.outputs } else { &model.inputs };
        let same_use = |m: &Arc<Mirror>| m.model == model.handle && m.outputs == outputs;
        let mut spare = {
            let mut c = set.contents.lock();
            if let Some(m) = c.mirrors.iter().find(|m| same_use(m) && m.tensors == tensors) {
                return Ok(m.clone());
            }
            // One no request holds can be rewritten in place.
            c.mirrors.iter().position(|m| same_use(m) && Arc::strong_count(m) == 1).map(|i| c.mirrors.swap_remove(i))
        };
        let mirror = match spare.as_mut().and_then(Arc::get_mut) {
            Some(m) => {
                for (i, name) in names.iter().enumerate() {
                    if m.tensors[i] != tensors[i] {
                        let st = self.device.add_to_set(m.set, &name.name, tensors[i]);
                        if st != NRT_SUCCESS {
                            return Err(st);
                        }
                        m.tensors[i] = tensors[i];
                    }
                }
                spare.unwrap()
            }
            None => {
                COUNTERS.add(Counter::MirrorSets, 1);
                let h = self.device.allocate_set()?;
                for (i, name) in names.iter().enumerate() {
                    let st = self.device.add_to_set(h, &name.name, tensors[i]);
                    if st != NRT_SUCCESS {
                        self.device.destroy_set(h);
                        return Err(st);
                    }
                }
                Arc::new(Mirror { set: h, model: model.handle, outputs, tensors: tensors.to_vec() })
            }
        };
        let mut c = set.contents.lock();
        c.mirrors.push(mirror.clone());
        // Keep a handful: a set whose contents keep changing must not grow without bound.
        if c.mirrors.len() > 8 {
            if let Some(i) = c.mirrors.iter().position(|m| Arc::strong_count(m) == 1) {
                let old = c.mirrors.swap_remove(i);
                drop(c);
                self.device.destroy_set(old.set);
            }
        }
        Ok(mirror)
    }
}

//! The execute path's lookup: an execution's handles checked in the
//! runtime's order and resolved to records, and the thread's cache of the
//! last few resolutions, so a loop over the same sets resolves nothing.

use super::*;

impl<D: Device> Engine<D> {
    /// The records of the request's handles and its sets' tensors, as the
    /// index of their entry in the thread's cache; the handles it uses go to
    /// `s.work`. From the cache when the same handles were resolved at the
    /// registries' current generations (no handle, set member or model
    /// changed since), else checked in the runtime's order and cached.
    #[inline]
    pub(super) fn lookup(
        &'static self,
        s: &mut Scratch,
        model: Handle,
        input: Handle,
        output: Handle,
    ) -> Result<usize, Status> {
        self.check_open()?;
        let gens = [self.models.generation(), self.sets.generation(), self.tensors.generation()];
        // The engine too: tests run several on one thread.
        let key = [self as *const Self as usize, model, input, output];
        let i = match s.cache.iter().position(|c| c.key == key && c.gens == gens) {
            Some(i) => i,
            None => self.resolve(s, key, gens)?,
        };
        let hit = &s.cache[i];
        s.work.in_handles.extend_from_slice(&hit.in_handles);
        s.work.out_handles.extend_from_slice(&hit.out_handles);
        Ok(i)
    }

    /// A lookup the cache missed: resolved and cached (see `lookup`).
    #[inline(never)]
    fn resolve(&'static self, s: &mut Scratch, key: [usize; 4], gens: [u64; 3]) -> Result<usize, Status> {
        let [_, model, input, output] = key;
        let (model, in_set, out_set) = self.check_handles(model, input, output)?;
        let mut entry = Resolved {
            key,
            gens,
            model,
            in_set,
            out_set,
            tensors: Vec::new(),
            in_handles: Vec::new(),
            out_handles: Vec::new(),
            mirrors: None,
        };
        self.resolve_tensors(&mut entry)?;
        // Entries of older generations can never hit again: drop them (and
        // the records they hold) now. Else replace the oldest entry (a program
        // alternating a few sets hits every time).
        s.cache.retain(|c| c.gens == gens);
        if s.cache.len() < CACHED_LOOKUPS {
            s.cache.push(entry);
            Ok(s.cache.len() - 1)
        } else {
            let i = s.next_victim % CACHED_LOOKUPS;
            s.cache[i] = entry;
            s.next_victim = i + 1;
            Ok(i)
        }
    }

    /// For an execution the runtime judges itself (`nrt_execute_repeat` with a
    /// bad count): the runtime checks the handles of the model's named tensors
    /// first, and a tensor the program freed may still be the runtime's (its
    /// free deferred), so those are the shim's to reject. Only for a model the
    /// shim has described already (describing one costs a runtime call, which
    /// may log).
    pub fn check_named_tensors(&'static self, model: Handle, input: Handle, output: Handle) -> Result<(), Status> {
        self.check_open()?;
        let Some(m) = self.models.get(model) else { return Ok(()) };
        for (set, decl) in [(input, &m.inputs), (output, &m.outputs)] {
            let Some(set) = self.sets.get(set) else { continue };
            let named: Vec<Handle> = {
                let contents = set.contents.lock();
                decl.iter().filter_map(|t| contents.get(&t.name)).collect()
            };
            for h in named {
                self.tensor(h)?;
            }
        }
        Ok(())
    }

    /// The runtime's first checks of an execution: the state, NULL handles,
    /// then the model and the two sets (this is the contract; the export
    /// only forwards the pointers).
    #[inline]
    fn check_handles(&'static self, model: Handle, input: Handle, output: Handle) -> Result<Handles, Status> {
        self.check_open()?;
        for (h, what) in [(model, "model"), (input, "input set"), (output, "output set")] {
            if h == 0 {
                return Err(observe::reject(NRT_INVALID, format_args!("{what} is NULL")));
            }
        }
        Ok((self.model(model)?, self.set_record(input)?, self.set_record(output)?))
    }

    /// The handles of every named tensor of the sets (NRT_INVALID_HANDLE),
    /// then their presence (NRT_INVALID), in the runtime's order, so that a
    /// program gets the status it got before; fills the entry's tensors and
    /// handle lists.
    fn resolve_tensors(&'static self, r: &mut Resolved) -> Result<(), Status> {
        let Resolved { model: m, in_set, out_set, tensors, in_handles, out_handles, .. } = r;
        let decls = [(in_set, &m.inputs, AccessKind::Read), (out_set, &m.outputs, AccessKind::Write)];
        let mut missing = None;
        for (set, decl, kind) in decls {
            let contents = set.contents.lock();
            for t in decl.iter() {
                match contents.get(&t.name) {
                    Some(h) => {
                        tensors.push((self.tensor(h)?, kind));
                        match kind {
                            AccessKind::Read => in_handles.push(h),
                            AccessKind::Write => out_handles.push(h),
                        }
                    }
                    None => missing = missing.or(Some((&t.name, kind))),
                }
            }
        }
        if let Some((name, kind)) = missing {
            let (role, name) = (role(kind), name.to_string_lossy());
            return Err(observe::reject(NRT_INVALID, format_args!("the {role} set has no tensor named '{name}'")));
        }
        Ok(())
    }
}

/// Executions a thread keeps resolved: enough for double- and triple-buffered
/// loops over a few models.
const CACHED_LOOKUPS: usize = 4;

/// One execution's handles resolved to records, valid while the registries'
/// generations are `gens` (models, sets, tensors).
pub(super) struct Resolved {
    /// The engine's address, the model, the input and the output set.
    key: [usize; 4],
    gens: [u64; 3],
    pub(super) model: Arc<ModelRecord>,
    pub(super) in_set: Arc<SetRecord>,
    pub(super) out_set: Arc<SetRecord>,
    /// The model's inputs, then its outputs, in its declared order.
    pub(super) tensors: Vec<(Arc<TensorRecord>, AccessKind)>,
    in_handles: Vec<Handle>,
    out_handles: Vec<Handle>,
    /// The mirror sets the last execution of these handles ran on (see
    /// `Engine::mirrors_of`).
    pub(super) mirrors: Option<(Arc<Mirror>, Arc<Mirror>)>,
}

fn role(kind: AccessKind) -> &'static str {
    match kind {
        AccessKind::Read => "input",
        AccessKind::Write => "output",
    }
}

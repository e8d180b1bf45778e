//! An execution's inputs and renamed versions (scheduler/rename.rs): which
//! version each input reads, once outputs were brought home.

use super::*;

impl<D: Device> Engine<D> {
    /// A host execution reads the program's own handles: its renamed inputs
    /// come home first, and its accesses are those of the home versions.
    #[cold]
    pub(super) fn bring_inputs_home(&'static self, s: &mut Work, tensors: &[(Arc<TensorRecord>, AccessKind)]) {
        let n_in = s.in_handles.len();
        for (i, (rec, _)) in tensors.iter().enumerate().take(n_in) {
            if s.in_handles[i] != rec.handle {
                self.bring_home(rec, false);
                s.in_handles[i] = rec.handle;
            }
        }
        self.reaccess(s, tensors);
    }

    /// After outputs were brought home: every input read at another version
    /// reads the one its tensor has now (home, for a tensor that is also an
    /// output), and the accesses follow.
    #[cold]
    pub(super) fn reread_homed_inputs(&'static self, s: &mut Work, tensors: &[(Arc<TensorRecord>, AccessKind)]) {
        let n_in = s.in_handles.len();
        for (i, (rec, _)) in tensors.iter().enumerate().take(n_in) {
            if s.in_handles[i] != rec.handle {
                s.in_handles[i] = rec.view().phys(rec.handle);
            }
        }
        self.reaccess(s, tensors);
    }

    /// The request's accesses, from its tensors' current versions.
    fn reaccess(&'static self, s: &mut Work, tensors: &[(Arc<TensorRecord>, AccessKind)]) {
        s.accesses.clear();
        for (rec, kind) in tensors {
            let view = rec.view();
            if let Some(st) = view.storage.as_ref().filter(|st| st.core.is_some()) {
                let range = ByteRange::new(view.offset, view.size);
                s.accesses.push(StorageRange { storage: st.id, range, kind: *kind });
            }
        }
    }
}

//! fork: the engine's locks taken in one order before, released after; the
//! child forgets the parent's requests and handles.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::*;

impl<D: Device> Engine<D> {
    /// pthread_atfork prepare: takes the engine's locks in one fixed order, so
    /// that the child never inherits one held by a thread it lacks. The
    /// holders are short critical sections that wait for nothing and call
    /// nothing outside the shim, so this waits at most for those. Every other
    /// lock the engine has (per tensor, per set) the child never takes: it
    /// forgets the objects that hold them.
    pub fn before_fork(&'static self) -> ForkHeld {
        let thread = self.thread.before_fork();
        let cores = self.cores().iter().map(|c| c.q.lock()).collect();
        // Never held together with a core's queue lock.
        let pools = self.cores().iter().map(|c| c.pool.lock()).collect();
        let registries = (self.tensors.lock_all(), self.sets.lock_all(), self.models.lock_all());
        let callback = self.callback.lock();
        let deferred = self.deferred.lock();
        let orphans = self.orphans.lock();
        let escapes = self.escapes.lock();
        self.device.before_fork();
        ForkHeld { thread, cores, pools, registries, callback, deferred, orphans, escapes }
    }

    /// pthread_atfork parent / child, with what [`before_fork`](Self::before_fork)
    /// took. The parent releases the locks and goes on. The child starts from a
    /// fresh, uninitialised shim, as the runtime's child does: the parent's
    /// requests are not its own (they never complete here, and no completion
    /// thread exists), nor are its handles, callback or deferred frees. They are
    /// forgotten, not freed (the parent's memory stays as copy-on-write pages,
    /// and nothing of it runs any code): the child needs no lock that a thread
    /// of the parent may have held. nrt_init starts afresh.
    pub fn after_fork(&'static self, held: ForkHeld, child: bool) {
        let ForkHeld { thread, mut cores, mut pools, registries, mut callback, mut deferred, mut orphans, mut escapes } =
            held;
        if child {
            self.state.store(UNINITIALIZED, Ordering::Release);
            self.ncores.store(0, Ordering::Release);
            for (core, q) in self.cores().iter().zip(cores.iter_mut()) {
                std::mem::forget(std::mem::replace(&mut **q, self.fresh_queue()));
                core.reset_mirrors();
                // A parent's thread that was retiring or waiting does not exist here.
                core.gate.reset();
                core.cv.forget_waiters();
            }
            // The parent's spare versions are the parent's runtime's.
            for p in pools.iter_mut() {
                std::mem::forget(std::mem::take(&mut **p));
            }
            let (mut tensors, mut sets, mut models) = registries;
            tensors.forget_all();
            sets.forget_all();
            models.forget_all();
            *callback = None;
            self.has_callback.store(false, Ordering::Release);
            std::mem::forget(std::mem::take(&mut *deferred));
            self.has_deferred.store(false, Ordering::Release);
            std::mem::forget(std::mem::take(&mut *orphans));
            self.has_orphans.store(false, Ordering::Release);
            self.escapes.forget_in_child(&mut escapes);
        } else {
            drop(registries);
        }
        drop((cores, pools, callback, deferred, orphans, escapes));
        self.device.after_fork(child);
        self.thread.after_fork(thread, child);
    }
}

/// The engine's locks, held by the forking thread from the prepare handler to
/// the parent's or the child's (the three run on that thread).
pub struct ForkHeld {
    thread: completion::ForkHeld,
    cores: Vec<MutexGuard<'static, CoreQueue<OpPayload>>>,
    pools: Vec<MutexGuard<'static, pool::Pool>>,
    registries: (RegistryHeld<TensorRecord>, RegistryHeld<SetRecord>, RegistryHeld<ModelRecord>),
    callback: MutexGuard<'static, Option<Callback>>,
    deferred: MutexGuard<'static, Vec<Arc<TensorRecord>>>,
    orphans: MutexGuard<'static, Vec<Arc<Mirror>>>,
    escapes: MutexGuard<'static, escape::EscapeState>,
}

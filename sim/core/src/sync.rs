//! `Mutex` and `Condvar` for the simulator: std's primitives with the
//! parking_lot-style interface the runtime uses (`lock()` without poisoning,
//! `wait(&mut guard)`).
//!
//! Why not parking_lot: its mutexes and condvars park threads in one global hash
//! table, which is not fork-safe (parking_lot issue #515). A forked child
//! inherits the table with the entries of threads that do not exist in the child
//! and, at worst, buckets locked by them, and glibc reuses those threads' stacks
//! for the child's new threads. On Linux, std's Mutex and Condvar are futex words
//! inside the object and nothing else, so a child that never touches the
//! objects of the parent's session (see `runtime::fork_child`) inherits nothing
//! shared.

use std::ops::{Deref, DerefMut};
use std::sync::{PoisonError, WaitTimeoutResult};
use std::time::Instant;

/// A mutex without poisoning: a panic while it is held (caught at the C edge)
/// does not make later calls fail.
#[derive(Default)]
pub struct Mutex<T: ?Sized>(std::sync::Mutex<T>);

/// Always `Some` except inside `Condvar::wait`.
pub struct MutexGuard<'a, T: ?Sized>(Option<std::sync::MutexGuard<'a, T>>);

impl<T> Mutex<T> {
    pub const fn new(v: T) -> Mutex<T> {
        Mutex(std::sync::Mutex::new(v))
    }
}

impl<T: ?Sized> Mutex<T> {
    pub fn lock(&self) -> MutexGuard<'_, T> {
        MutexGuard(Some(self.0.lock().unwrap_or_else(PoisonError::into_inner)))
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.as_deref().expect("mutex guard in use by a condvar wait")
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.as_deref_mut().expect("mutex guard in use by a condvar wait")
    }
}

#[derive(Default)]
pub struct Condvar(std::sync::Condvar);

impl Condvar {
    pub const fn new() -> Condvar {
        Condvar(std::sync::Condvar::new())
    }

    /// Releases the guard's mutex, waits for a notification, locks it again.
    pub fn wait<T>(&self, g: &mut MutexGuard<'_, T>) {
        let inner = g.0.take().expect("mutex guard in use by a condvar wait");
        g.0 = Some(self.0.wait(inner).unwrap_or_else(PoisonError::into_inner));
    }

    /// Like `wait`, until `deadline` at the latest.
    pub fn wait_until<T>(&self, g: &mut MutexGuard<'_, T>, deadline: Instant) -> WaitTimeoutResult {
        let inner = g.0.take().expect("mutex guard in use by a condvar wait");
        let timeout = deadline.saturating_duration_since(Instant::now());
        let (inner, r) = self.0.wait_timeout(inner, timeout).unwrap_or_else(PoisonError::into_inner);
        g.0 = Some(inner);
        r
    }

    pub fn notify_one(&self) {
        self.0.notify_one();
    }

    pub fn notify_all(&self) {
        self.0.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn lock_wait_notify() {
        let p = Arc::new((Mutex::new(0u32), Condvar::new()));
        let q = p.clone();
        let t = std::thread::spawn(move || {
            *q.0.lock() = 7;
            q.1.notify_all();
        });
        let mut g = p.0.lock();
        while *g != 7 {
            p.1.wait(&mut g);
        }
        drop(g);
        t.join().unwrap();
        let mut g = p.0.lock();
        let r = p.1.wait_until(&mut g, Instant::now() + Duration::from_millis(5));
        assert!(r.timed_out());
        *g += 1;
        assert_eq!(*g, 8);
    }

    #[test]
    fn no_poisoning() {
        let m = Arc::new(Mutex::new(1u32));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let _g = m2.lock();
            panic!("poison it");
        })
        .join();
        assert_eq!(*m.lock(), 1);
    }
}

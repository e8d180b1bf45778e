//! The shim's synchronisation primitives, in two layers.
//!
//! [`plain`]: std's `Mutex`, `Condvar` and `RwLock` behind a parking_lot-style
//! API (`lock()` without poisoning, `wait(&mut guard)`). Every lock of the shim
//! is one of these, never parking_lot's: parking_lot parks threads in one
//! process-global hash table (buckets with their own word locks), which a forked
//! child inherits half-updated, with the entries of threads that do not exist
//! there; a child that unlocks or waits may then find a bucket locked forever or
//! hand its lock to a vanished thread (a hang in `fork()`, issue 12). On Linux
//! std's primitives are futex words inside each object and nothing else (the
//! simulator uses them for the same reason: sim/core/src/sync.rs).
//!
//! The facade at the top (`Mutex`, `Condvar`, atomics): the parts checked by
//! loom use it, and get [`plain`]'s types in every build, loom's under
//! `RUSTFLAGS="--cfg loom"` (behind the same API), so the model checker runs
//! the shim's own code.

#[cfg(not(loom))]
pub use self::plain::{Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

#[cfg(loom)]
pub use self::model::{Condvar, Mutex, MutexGuard};
#[cfg(loom)]
pub use loom::sync::atomic::{AtomicBool, AtomicU8, Ordering};

pub mod plain {
    use std::ops::{Deref, DerefMut};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::PoisonError;
    use std::time::{Duration, Instant};

    /// A mutex without poisoning: a panic while it is held (caught at the C
    /// edge) does not make later calls fail.
    #[derive(Debug, Default)]
    pub struct Mutex<T: ?Sized>(std::sync::Mutex<T>);

    pub struct MutexGuard<'a, T: ?Sized>(std::sync::MutexGuard<'a, T>);

    impl<T> Mutex<T> {
        pub const fn new(v: T) -> Mutex<T> {
            Mutex(std::sync::Mutex::new(v))
        }
    }

    impl<T: ?Sized> Mutex<T> {
        #[inline]
        pub fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(self.0.lock().unwrap_or_else(PoisonError::into_inner))
        }

        pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            match self.0.try_lock() {
                Ok(g) => Some(MutexGuard(g)),
                Err(std::sync::TryLockError::Poisoned(e)) => Some(MutexGuard(e.into_inner())),
                Err(std::sync::TryLockError::WouldBlock) => None,
            }
        }
    }

    impl<T: ?Sized> Deref for MutexGuard<'_, T> {
        type Target = T;
        #[inline]
        fn deref(&self) -> &T {
            &self.0
        }
    }

    impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
        #[inline]
        fn deref_mut(&mut self) -> &mut T {
            &mut self.0
        }
    }

    pub struct WaitTimeoutResult(bool);

    impl WaitTimeoutResult {
        pub fn timed_out(&self) -> bool {
            self.0
        }
    }

    /// std's condition variable, which counts its waiters so that a notify
    /// with nobody waiting makes no system call (std's futex condvar always
    /// makes one; parking_lot's did not, and a completion notifies every
    /// time). Sound under the usual rule, which every user here follows: the
    /// waited-for state changes under the mutex the waiter holds, and the
    /// notify comes after that change. A waiter counts itself under the mutex
    /// before it sleeps, so a notifier that changed the state under the same
    /// mutex afterwards sees the count.
    #[derive(Debug, Default)]
    pub struct Condvar {
        cv: std::sync::Condvar,
        waiters: AtomicUsize,
    }

    impl Condvar {
        pub const fn new() -> Condvar {
            Condvar { cv: std::sync::Condvar::new(), waiters: AtomicUsize::new(0) }
        }

        /// Releases the guard's mutex, waits for a notification, locks it
        /// again (by value, as std: a guard that can be taken out of a `&mut`
        /// costs a check at every use).
        pub fn wait<'a, T>(&self, g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            self.waiters.fetch_add(1, Ordering::Relaxed);
            let g = self.cv.wait(g.0).unwrap_or_else(PoisonError::into_inner);
            self.waiters.fetch_sub(1, Ordering::Relaxed);
            MutexGuard(g)
        }

        pub fn wait_for<'a, T>(&self, g: MutexGuard<'a, T>, d: Duration) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
            self.waiters.fetch_add(1, Ordering::Relaxed);
            let (g, r) = self.cv.wait_timeout(g.0, d).unwrap_or_else(PoisonError::into_inner);
            self.waiters.fetch_sub(1, Ordering::Relaxed);
            (MutexGuard(g), WaitTimeoutResult(r.timed_out()))
        }

        pub fn wait_until<'a, T>(
            &self,
            g: MutexGuard<'a, T>,
            deadline: Instant,
        ) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
            self.wait_for(g, deadline.saturating_duration_since(Instant::now()))
        }

        #[inline]
        pub fn notify_one(&self) {
            if self.waiters.load(Ordering::Relaxed) > 0 {
                self.cv.notify_one();
            }
        }

        #[inline]
        pub fn notify_all(&self) {
            if self.waiters.load(Ordering::Relaxed) > 0 {
                self.cv.notify_all();
            }
        }

        /// In a forked child: the waiters were threads of the parent.
        pub fn forget_waiters(&self) {
            self.waiters.store(0, Ordering::Relaxed);
        }
    }

    /// A reader-writer lock without poisoning.
    #[derive(Debug, Default)]
    pub struct RwLock<T>(std::sync::RwLock<T>);

    pub type RwLockWriteGuard<'a, T> = std::sync::RwLockWriteGuard<'a, T>;

    impl<T> RwLock<T> {
        pub const fn new(v: T) -> RwLock<T> {
            RwLock(std::sync::RwLock::new(v))
        }

        #[inline]
        pub fn read(&self) -> std::sync::RwLockReadGuard<'_, T> {
            self.0.read().unwrap_or_else(PoisonError::into_inner)
        }

        #[inline]
        pub fn write(&self) -> RwLockWriteGuard<'_, T> {
            self.0.write().unwrap_or_else(PoisonError::into_inner)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use std::sync::Arc;

        #[test]
        fn a_notify_reaches_a_waiter() {
            let m = Arc::new(Mutex::new(false));
            let cv = Arc::new(Condvar::new());
            let (m2, cv2) = (m.clone(), cv.clone());
            let t = std::thread::spawn(move || {
                let mut g = m2.lock();
                while !*g {
                    // Bounded: a lost notify fails the test instead of hanging it.
                    let (next, r) = cv2.wait_for(g, Duration::from_secs(30));
                    assert!(!r.timed_out(), "the notify was lost");
                    g = next;
                }
            });
            std::thread::sleep(Duration::from_millis(20));
            *m.lock() = true;
            cv.notify_all();
            t.join().unwrap();
            assert_eq!(cv.waiters.load(Ordering::Relaxed), 0);
        }

        #[test]
        fn a_panic_does_not_poison() {
            let m = Arc::new(Mutex::new(1));
            let m2 = m.clone();
            let _ = std::thread::spawn(move || {
                let _g = m2.lock();
                panic!("on purpose");
            })
            .join();
            assert_eq!(*m.lock(), 1);
            assert!(m.try_lock().is_some());
        }
    }
}

#[cfg(loom)]
mod model {
    use std::ops::{Deref, DerefMut};
    use std::time::Duration;

    #[derive(Debug, Default)]
    pub struct Mutex<T>(loom::sync::Mutex<T>);

    pub struct MutexGuard<'a, T>(loom::sync::MutexGuard<'a, T>);

    impl<T> Mutex<T> {
        pub fn new(v: T) -> Self {
            Mutex(loom::sync::Mutex::new(v))
        }
        pub fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(self.0.lock().unwrap())
        }
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            &self.0
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            &mut self.0
        }
    }

    #[derive(Debug, Default)]
    pub struct Condvar(loom::sync::Condvar);

    pub struct WaitTimeoutResult(bool);

    impl WaitTimeoutResult {
        pub fn timed_out(&self) -> bool {
            self.0
        }
    }

    impl Condvar {
        pub fn new() -> Self {
            Condvar(loom::sync::Condvar::new())
        }
        pub fn wait<'a, T>(&self, g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            MutexGuard(self.0.wait(g.0).unwrap())
        }
        /// loom never times a wait out: a wake-up that a timeout would paper
        /// over in production is a deadlock here.
        pub fn wait_for<'a, T>(&self, g: MutexGuard<'a, T>, d: Duration) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
            let (g, r) = self.0.wait_timeout(g.0, d).unwrap();
            (MutexGuard(g), WaitTimeoutResult(r.timed_out()))
        }
        pub fn notify_one(&self) {
            self.0.notify_one();
        }
        pub fn notify_all(&self) {
            self.0.notify_all();
        }
        pub fn forget_waiters(&self) {}
    }
}

//! Per-thread buffers reused from call to call, so that the hot paths allocate
//! nothing in steady state.

use std::cell::RefCell;
use std::thread::LocalKey;

/// Runs `f` with the thread's buffer of `key`, taken out for the call: a call
/// made from inside it (an application callback re-entering the shim on this
/// thread) gets a fresh, empty one instead of a borrow panic, and so does a call
/// after the thread's locals are gone (from a TLS destructor). The buffer goes
/// back afterwards, holding what the last call left in it: `f` clears it.
pub fn with<T: Default, R>(key: &'static LocalKey<RefCell<T>>, f: impl FnOnce(&mut T) -> R) -> R {
    let mut buf = key.try_with(|c| c.try_borrow_mut().map(|mut b| std::mem::take(&mut *b)).ok()).ok().flatten();
    let mut fresh = T::default();
    let r = f(buf.as_mut().unwrap_or(&mut fresh));
    if let Some(buf) = buf {
        let _ = key.try_with(|c| {
            if let Ok(mut b) = c.try_borrow_mut() {
                *b = buf;
            }
        });
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static BUF: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
    }

    #[test]
    fn capacity_is_kept_between_calls() {
        with(&BUF, |v| v.extend(0..100));
        let cap = with(&BUF, |v| {
            let cap = v.capacity();
            v.clear();
            cap
        });
        assert!(cap >= 100);
        assert_eq!(with(&BUF, |v| v.len()), 0);
    }

    #[test]
    fn a_nested_call_gets_its_own_buffer() {
        with(&BUF, |outer| {
            outer.clear();
            outer.push(1);
            with(&BUF, |inner| {
                assert!(inner.is_empty(), "the nested call saw the outer call's buffer");
                inner.push(2);
            });
            assert_eq!(outer, &[1]);
        });
    }
}

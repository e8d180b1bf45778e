//! Per-thread buffers reused from call to call, so that the hot paths allocate
//! nothing in steady state.

use std::cell::RefCell;
use std::thread::LocalKey;

/// Runs `f` with the thread's buffer of `key`, borrowed in place (the hot
/// paths pay one TLS access and one borrow flag). A call made from inside it
/// (an application callback re-entering the shim on this thread) gets a fresh,
/// empty buffer instead of a borrow panic, and so does a call after the
/// thread's locals are gone (from a TLS destructor). `f` finds the buffer as
/// the last call left it (a panic may leave it full), so it clears it first.
pub fn with<T: Default, R>(key: &'static LocalKey<RefCell<T>>, f: impl FnOnce(&mut T) -> R) -> R {
    let mut f = Some(f);
    if let Ok(Some(r)) = key.try_with(|c| c.try_borrow_mut().ok().map(|mut b| f.take().expect("once")(&mut b))) {
        return r;
    }
    // Not called above (borrowed already, or the locals are gone).
    f.take().expect("once")(&mut T::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static BUF: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
    }

    #[test]
    fn capacity_is_kept_between_calls() {
        with(&BUF, |v| {
            v.clear();
            v.extend(0..100)
        });
        let cap = with(&BUF, |v| {
            let cap = v.capacity();
            v.clear();
            cap
        });
        assert!(cap >= 100);
        assert_eq!(with(&BUF, |v| v.len()), 0, "the buffer is as the last call left it");
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

//! The fork handlers against the fake device, without a real fork (that is
//! tests/pitfalls.rs, `pt_fork_storm`): the state the child starts from, and
//! a prepare handler racing with calls in progress.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::*;

/// The sets and tensors of [`engine`], registered again (as a child would,
/// after its own nrt_init and allocations).
fn register_again(e: &'static Engine<Fake>) {
    for t in [X, Y, X2, Y2] {
        e.tensor_allocated(t, None, Some(0), 64);
    }
    for (set, t) in [(IN, X), (OUT, Y), (IN2, X2), (OUT2, Y2)] {
        e.set_allocated(set);
        let name: &[u8] = if set == IN || set == IN2 { b"x" } else { b"y" };
        e.set_member_added(set, name, t);
    }
}

fn ignore(_raw: usize, _params: usize, _model: u32, _vnc: u32, _job: u64, _status: Status) {}

#[test]
fn the_child_starts_uninitialised_and_runs_work_of_its_own() {
    let e = engine(4);
    assert_eq!(exec(e, IN, OUT), NRT_SUCCESS);
    e.free_tensor(X); // deferred: its request is in flight
    assert!(e.has_deferred_frees());
    e.set_callback(Some(Callback { call: ignore, raw: 0, params: 0 }));
    // A real child has no completion thread: stop this process's first.
    e.thread.stop(&e.device, WATCHDOG);

    let held = e.before_fork();
    e.after_fork(held, true);
    assert_eq!(e.check_open(), Err(NRT_UNINITIALIZED));
    assert!(e.tensors.is_empty() && e.sets.is_empty() && e.models.is_empty(), "the parent's handles are forgotten");
    assert!(!e.has_deferred_frees(), "the parent's deferred frees are not the child's");
    assert!(!e.has_callback.load(Ordering::Acquire));
    assert!(e.device.st.lock().freed.is_empty(), "nothing of the parent's is freed in the child");

    e.opened(2);
    assert_eq!(e.outstanding(), 0, "the parent's request is not the child's");
    register_again(e);
    assert_eq!(exec(e, IN, OUT), NRT_SUCCESS);
    // The fake still holds the parent's request first; the child's is next.
    assert!(e.device.complete(0, NRT_SUCCESS));
    assert!(e.device.complete(0, NRT_SUCCESS));
    let r = spawn(move || read(e, Y));
    assert_eq!(r.recv_timeout(WATCHDOG).expect("the child's read hangs"), NRT_SUCCESS);
    assert_eq!(e.drain(0), NRT_SUCCESS);
}

#[test]
fn the_parent_goes_on_after_the_fork() {
    let e = engine(4);
    assert_eq!(exec(e, IN, OUT), NRT_SUCCESS);
    let held = e.before_fork();
    e.after_fork(held, false);
    assert!(e.is_open());
    assert_eq!(e.outstanding(), 1, "the parent keeps its request");
    assert!(e.device.complete(0, NRT_SUCCESS));
    let r = spawn(move || read(e, Y));
    assert_eq!(r.recv_timeout(WATCHDOG).expect("the parent's read hangs"), NRT_SUCCESS);
}

/// The prepare handler takes every shared lock while other threads execute,
/// complete, read and allocate: it must never deadlock with them, and the
/// parent handler must leave every lock free (each round's calls go on).
#[test]
fn prepare_races_with_calls_in_progress() {
    let e = engine(2);
    let stop = Arc::new(AtomicBool::new(false));
    // Rounds each worker completed (a round: execute, complete, read; or
    // allocate and free).
    let rounds: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    // The forks start once both workers run.
    let go = Arc::new(std::sync::Barrier::new(3));
    let workers: Vec<_> = (0..2)
        .map(|w| {
            let (stop, go, rounds) = (stop.clone(), go.clone(), rounds.clone());
            spawn(move || {
                go.wait();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if w == 0 {
                        assert_eq!(exec(e, IN, OUT), NRT_SUCCESS);
                        while !e.device.complete(0, NRT_SUCCESS) {
                            std::thread::yield_now();
                        }
                        assert_eq!(read(e, Y), NRT_SUCCESS);
                    } else {
                        let h = 0x10_0000 + (n as usize % 64) * 16;
                        e.tensor_allocated(h, None, Some(0), 64);
                        e.free_tensor(h);
                    }
                    n += 1;
                    rounds[w].store(n, Ordering::Release);
                }
            })
        })
        .collect();
    let forks = spawn(move || {
        go.wait();
        for _ in 0..500 {
            let held = e.before_fork();
            e.after_fork(held, false);
        }
    });
    forks.recv_timeout(WATCHDOG * 3).expect("the prepare handler deadlocked with calls in progress");
    // After the forks, every worker still completes rounds (no lock was
    // left held), however the threads were scheduled meanwhile.
    let after: Vec<u64> = rounds.iter().map(|r| r.load(Ordering::Acquire)).collect();
    let deadline = std::time::Instant::now() + WATCHDOG;
    for (w, r) in rounds.iter().enumerate() {
        while r.load(Ordering::Acquire) <= after[w] {
            assert!(std::time::Instant::now() < deadline, "worker {w} makes no progress after the forks");
            std::thread::yield_now();
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.recv_timeout(WATCHDOG).expect("a worker hangs after the forks");
    }
}

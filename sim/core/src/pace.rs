//! Keeping the device's time on the host: deadline sleeps that wake on time, the
//! moment an op's data phase starts, and the short, bounded spins that save a
//! thread wake-up where work or a completion is a few microseconds away.
//!
//! A deadline sleep sleeps (nanosleep) until `tail` before the deadline and spins
//! for the rest; `tail` follows the wake-up overshoot this thread has measured
//! (about 40 us on a KVM guest with 1 us timer slack, a few us on bare metal),
//! bounded by [`MAX_TAIL`]. So a thread never spins for an op's modelled
//! duration, only for its last moments; and no thread spins at all for 50 ms
//! after a spin saw it was preempted (an oversubscribed machine).

use crate::raw;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Bounds of the spin at the end of a deadline sleep.
const MIN_TAIL: Duration = Duration::from_micros(5);
pub const MAX_TAIL: Duration = Duration::from_micros(150);
/// How long a worker that ran out of work polls for more before it sleeps.
pub const IDLE_SPIN: Duration = Duration::from_micros(30);
/// How long a synchronous caller polls for its completion before it sleeps.
pub const SYNC_SPIN: Duration = Duration::from_micros(20);

thread_local! {
    /// Smoothed wake-up overshoot of this thread's deadline sleeps, ns.
    static OVERSHOOT_NS: Cell<u64> = const { Cell::new(40_000) };
    /// This thread's timer slack is already low (a worker).
    static LOW_SLACK: Cell<bool> = const { Cell::new(false) };
}

/// Called by each worker thread at start: lowers its timer slack for good.
pub fn init_worker() {
    raw::low_timer_slack();
    LOW_SLACK.with(|c| c.set(true));
}

fn tail() -> Duration {
    let ns = OVERSHOOT_NS.with(|c| c.get());
    Duration::from_nanos(ns + ns / 4).clamp(MIN_TAIL, MAX_TAIL)
}

/// A gap this long between two polls of a spin means the thread was preempted:
/// the CPUs are oversubscribed, and spinning only takes time from the thread it
/// waits for (and makes the scheduler treat the spinner as a CPU hog).
const PREEMPTED: Duration = Duration::from_micros(200);
/// How long spinning stays off, process-wide, after a preempted spin.
const SPIN_OFF: Duration = Duration::from_millis(50);

static EPOCH: OnceLock<Instant> = OnceLock::new();
/// Spinning is off until this time (ns after EPOCH).
static SPIN_OFF_UNTIL: AtomicU64 = AtomicU64::new(0);

fn ns_since_epoch(t: Instant) -> u64 {
    t.saturating_duration_since(*EPOCH.get_or_init(Instant::now)).as_nanos() as u64
}

/// False while a recent spin was preempted (see PREEMPTED).
pub fn spinning_allowed() -> bool {
    ns_since_epoch(Instant::now()) >= SPIN_OFF_UNTIL.load(Ordering::Relaxed)
}

/// Polls `done` until it is true or `limit` has passed; returns the last answer.
/// Never yields (a yield on a loaded machine can give the CPU away for a whole
/// time slice); stops, and switches spinning off for a while, when it sees that
/// it was preempted.
pub fn spin_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    if !spinning_allowed() {
        return done();
    }
    let start = Instant::now();
    let mut last = start;
    loop {
        if done() {
            return true;
        }
        let now = Instant::now();
        if now - last > PREEMPTED {
            SPIN_OFF_UNTIL.store(ns_since_epoch(now + SPIN_OFF), Ordering::Relaxed);
            return done();
        }
        if now - start >= limit {
            return false;
        }
        last = now;
        for _ in 0..16 {
            std::hint::spin_loop();
        }
    }
}

/// Whether a spin-wait for another thread is worth trying. It pays only when that
/// thread runs alongside on another CPU and is about to act; when a spin fails
/// (nothing came in time: the other thread is far off, or shares this CPU and
/// cannot run while we spin), the next 1, 2, 4, ... 64 waits skip it. A success
/// resets the penalty.
#[derive(Default)]
pub struct SpinGate {
    skip: u32,
    penalty: u32,
}

impl SpinGate {
    pub fn spin(&mut self, limit: Duration, mut done: impl FnMut() -> bool) -> bool {
        if self.skip > 0 {
            self.skip -= 1;
            return done();
        }
        let ok = spin_until(limit, &mut done);
        if ok {
            self.penalty = 0;
        } else {
            self.penalty = (self.penalty * 2).clamp(1, 64);
            self.skip = self.penalty;
        }
        ok
    }
}

/// Returns at `deadline` (or at once if it has passed), sleeping for all but the
/// last `tail` of the wait.
pub fn sleep_until(deadline: Instant) {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        let tail = if spinning_allowed() { tail() } else { Duration::ZERO };
        let left = deadline - now;
        if left <= tail {
            if !spin_until(left, || Instant::now() >= deadline) {
                continue; // preempted: spinning is off, sleep for the rest
            }
            return;
        }
        let wake = deadline - tail;
        if LOW_SLACK.with(|c| c.get()) {
            std::thread::sleep(wake - now);
        } else {
            // A caller's thread (an op run inline): its slack (50 us by default)
            // would make the wake-up late; lowered for this sleep only.
            raw::with_low_timer_slack(|| std::thread::sleep(wake - now));
        }
        if !tail.is_zero() {
            let over = Instant::now().saturating_duration_since(wake).as_nanos().min(10_000_000) as u64;
            OVERSHOOT_NS.with(|c| c.set(c.get() - c.get() / 8 + over / 8));
        }
    }
}

/// What an op's data phase does, for its host-time estimate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// memcpy / memmove / memset: units are bytes.
    Copy = 0,
    /// `compute affine` / `compute copy`: units are output bytes times passes.
    Compute = 1,
}

/// Smoothed host cost of a unit of each kind, picoseconds (initially 10 GB/s and
/// 7 GB/s). Shared by all threads: any of them may run a data phase.
static PS_PER_UNIT: [AtomicU64; 2] = [AtomicU64::new(100), AtomicU64::new(150)];
/// Ops smaller than this do not update the estimate (fixed costs dominate).
const LEARN_FROM: u64 = 64 << 10;
/// Fixed allowance of every data phase.
const FIXED: Duration = Duration::from_micros(5);

/// The host time a data phase of `units` is expected to take, with a margin.
pub fn estimate(kind: Kind, units: u64) -> Duration {
    let ps = PS_PER_UNIT[kind as usize].load(Ordering::Relaxed) as u128 * units as u128;
    Duration::from_nanos((ps / 1000 + ps / 4000).min(u64::MAX as u128) as u64) + FIXED
}

/// Records how long a data phase of `units` took.
pub fn record(kind: Kind, units: u64, took: Duration) {
    if units < LEARN_FROM {
        return;
    }
    let a = &PS_PER_UNIT[kind as usize];
    let old = a.load(Ordering::Relaxed).max(1);
    // One slow sample (page faults of a fresh tensor, a preempted thread) moves
    // the estimate by at most a factor 4 / 8.
    let sample = ((took.as_nanos() * 1000 / units as u128) as u64).clamp(old / 4, old * 4).max(1);
    a.store(old - old / 8 + sample / 8, Ordering::Relaxed);
}

/// When the data phase of an op that runs from `start` to `end` begins: as late
/// as lets it finish by `end` (so bytes land when the op ends, as documented),
/// never before `start`.
pub fn data_start(start: Instant, end: Instant, kind: Kind, units: u64) -> Instant {
    end.checked_sub(estimate(kind, units)).map_or(start, |t| t.max(start))
}

/// Runs the data phase `f` (of `units`) of an op from `start` to `end` at its
/// time, and returns at `end`.
pub fn run_data_phase(start: Instant, end: Instant, kind: Kind, units: u64, f: impl FnOnce()) {
    sleep_until(data_start(start, end, kind, units));
    let t = Instant::now();
    f();
    record(kind, units, t.elapsed());
    sleep_until(end);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_sleep_is_on_time_and_not_early() {
        for us in [0u64, 3, 80, 2000] {
            let d = Instant::now() + Duration::from_micros(us);
            sleep_until(d);
            assert!(Instant::now() >= d, "{us} us: returned early");
        }
    }

    #[test]
    fn spin_is_bounded() {
        let t = Instant::now();
        assert!(!spin_until(Duration::from_micros(200), || false));
        assert!(t.elapsed() >= Duration::from_micros(200));
        assert!(spin_until(Duration::from_secs(10), || true));
    }

    #[test]
    fn spin_gate_backs_off_after_failures() {
        let mut g = SpinGate::default();
        let mut polls = 0;
        assert!(!g.spin(Duration::from_micros(20), || {
            polls += 1;
            false
        }));
        assert!(polls > 1, "the first wait spins");
        // The next wait only looks once; then the penalty doubles on each failure.
        let mut one = 0;
        assert!(!g.spin(Duration::from_secs(1), || {
            one += 1;
            false
        }));
        assert_eq!(one, 1);
        assert!(g.spin(Duration::from_micros(20), || true));
        assert_eq!(g.penalty, 0, "a success resets");
    }

    #[test]
    fn estimates_learn_and_are_bounded() {
        let e0 = estimate(Kind::Copy, 1 << 20);
        assert!(e0 > FIXED);
        // Ten times slower than assumed: the estimate grows, at most 4x per sample.
        let slow = Duration::from_nanos((PS_PER_UNIT[0].load(Ordering::Relaxed) * 10 * (1 << 20)) / 1000);
        record(Kind::Copy, 1 << 20, slow);
        let e1 = estimate(Kind::Copy, 1 << 20);
        assert!(e1 > e0 && e1 < e0 * 2, "{e0:?} -> {e1:?}");
        // Small ops teach nothing.
        record(Kind::Copy, 100, Duration::from_secs(1));
        assert_eq!(estimate(Kind::Copy, 1 << 20), e1);
        let (s, e) = (Instant::now(), Instant::now() + Duration::from_millis(1));
        assert_eq!(data_start(s, e, Kind::Copy, u64::MAX / 1024), s, "never before the op starts");
        assert!(data_start(s, e, Kind::Copy, 16) > s);
    }
}

//! The execute path: the request checked once, in the runtime's order
//! ([`Checked`]), then accepted into its core's window and submitted in
//! acceptance order, or, with host tensors, run by the synchronous call in
//! its turn.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::*;

mod lookup;
mod versions;

use lookup::Resolved;

impl<D: Device> Engine<D> {
    /// nrt_execute / nrt_execute_repeat: the request checked ([`Checked`]),
    /// then run. `run_sync` is the runtime's own synchronous execution, for
    /// requests the async path cannot take.
    pub fn execute(
        &'static self,
        model: Handle,
        input: Handle,
        output: Handle,
        repeat: u32,
        run_sync: impl FnOnce() -> Status,
    ) -> Status {
        let r = crate::scratch::with(&SCRATCH, |s| {
            s.work.clear();
            let r = self.lookup(s, model, input, output).and_then(|i| {
                // The request uses the cached records in place (no reference
                // counts taken): nothing else changes the cache during the call.
                let Scratch { work, cache, .. } = s;
                self.check_tensors(work, &mut cache[i]).and_then(|req| self.run(req, repeat, run_sync))
            });
            // Keep the capacity.
            s.work.clear();
            r
        });
        match r {
            Ok(st) | Err(st) => st,
        }
    }

    /// The checks of the request's tensors (resolved by [`lookup`](Self::lookup))
    /// against the model: size, placement and core (NRT_INVALID); fills
    /// `s.accesses`.
    #[inline]
    fn check_tensors<'a>(&'static self, s: &'a mut Work, r: &'a mut Resolved) -> Result<Checked<'a>, Status> {
        let (mut host, mut visible, mut renamed, mut homed) = (false, false, false, false);
        let m = &r.model;
        let decls = m.inputs.iter().chain(m.outputs.iter());
        for (i, (t, (rec, kind))) in decls.zip(r.tensors.iter()).enumerate() {
            let mut place = rec.place();
            if place.phys != 0 {
                if *kind == AccessKind::Write {
                    // The runtime counts output completions on the program's handle.
                    self.bring_home(rec, false);
                    place = rec.place();
                    homed = true;
                } else {
                    // The request reads the version the tensor has now.
                    s.in_handles[i] = place.phys;
                    renamed = true;
                }
            }
            if place.size != t.size {
                let (name, size) = (t.name.to_string_lossy(), place.size);
                return Err(observe::reject(
                    NRT_INVALID,
                    format_args!("tensor '{name}' has {size} bytes, the model declares {}", t.size),
                ));
            }
            match (place.core, place.storage) {
                (Some(c), _) if c != m.core => {
                    let name = t.name.to_string_lossy();
                    return Err(observe::reject(
                        NRT_INVALID,
                        format_args!("tensor '{name}' is on core {c}, the model on core {}", m.core),
                    ));
                }
                (Some(_), Some(storage)) => s.accesses.push(StorageRange {
                    storage,
                    range: ByteRange::new(place.offset, place.size),
                    kind: *kind,
                }),
                // Host memory, or no storage: only the synchronous call takes it.
                _ => host = true,
            }
            visible |= place.host_visible;
        }
        if renamed && (host || self.profiled(m.handle)) {
            // The synchronous call runs on the program's own sets.
            self.bring_inputs_home(s, &r.tensors);
        } else if renamed && homed {
            // An output brought home that the request also reads (in place,
            // looked at first as an input): it reads the bytes at home too.
            self.reread_homed_inputs(s, &r.tensors);
        }
        Ok(Checked { resolved: r, host, visible, work: s })
    }

    /// Runs a checked request: on the host in its turn, or accepted and
    /// submitted `repeat` times (waiting for it when the program can touch
    /// its memory directly, or in sync mode).
    #[inline]
    fn run(&'static self, req: Checked<'_>, repeat: u32, run_sync: impl FnOnce() -> Status) -> Result<Status, Status> {
        let Checked { resolved: r, host, visible, work: s } = req;
        let m = &r.model;
        // The application's own conflicting nrta_* requests complete first:
        // they may run on another unit, in no order with this one.
        self.wait_foreign(m.core, &s.accesses, None, None);
        // A profiled model's executions take the synchronous path too: the
        // runtime profiles no other (escape.rs).
        if host || self.profiled(m.handle) {
            return self.execute_on_host(m, &s.accesses, &r.tensors, run_sync);
        }
        let visible = self.all_exposed() || visible && !self.config.trust_host_memory;
        let (input, output) = self.mirrors_of(s, r)?;
        let m = &r.model;
        let mut last = 0;
        let runs = repeat.max(1);
        let mut sets = Some((input, output));
        for i in 1..=runs {
            // The last run takes the mirrors, the others a reference each.
            let these = if i == runs { sets.take() } else { sets.clone() };
            last = self.accept(m, &s.accesses, &r.tensors, these)?;
            // Submit as we go: a repeat count above the window must not
            // wait for room that only submitted requests can make.
            self.pump(m.core);
        }
        if self.config.mode == Mode::Sync || visible {
            // Memory the application can touch directly cannot be watched:
            // the request completes before the call returns.
            self.wait_done(m.core, last, None, "completes-before-return", None);
            let mut q = self.core(m.core).q.lock();
            if let Some(st) = q.take_failure_by_id(last) {
                return Ok(st);
            }
        }
        Ok(NRT_SUCCESS)
    }

    /// The mirror sets of a request: those the thread's last execution of the
    /// same handles used when they still hold the same tensors (a mirror a
    /// request or cache entry holds is never rewritten: `mirror` rewrites only
    /// one nothing else holds), else `mirror`'s, remembered for the next call.
    fn mirrors_of(&'static self, s: &Work, r: &mut Resolved) -> Result<(Arc<Mirror>, Arc<Mirror>), Status> {
        if let Some((i, o)) = r.mirrors.as_ref() {
            if i.tensors == s.in_handles && o.tensors == s.out_handles {
                return Ok((i.clone(), o.clone()));
            }
        }
        let input = self.mirror(&r.in_set, &r.model, false, &s.in_handles)?;
        let output = self.mirror(&r.out_set, &r.model, true, &s.out_handles)?;
        r.mirrors = Some((input.clone(), output.clone()));
        Ok((input, output))
    }

    /// A request with host tensors: the runtime's async paths refuse them, so
    /// it runs through the synchronous nrt_execute. It is accepted like any
    /// request (a window slot, a job number, a callback in its place) and
    /// goes to the runtime in acceptance order: after every earlier request of
    /// the core reached the runtime and completed (its hazards), before any
    /// later one. Without a callback its status is returned here (that is its
    /// report); with one, the callback carries it and this returns success.
    pub(super) fn execute_on_host(
        &'static self,
        m: &Arc<ModelRecord>,
        accesses: &[StorageRange],
        tensors: &[(Arc<TensorRecord>, AccessKind)],
        run_sync: impl FnOnce() -> Status,
    ) -> Result<Status, Status> {
        COUNTERS.add(Counter::HostExecutions, 1);
        let c = m.core;
        let core = self.core(c);
        let seq = self.accept(m, accesses, tensors, None)?;
        self.pump(c);
        loop {
            let mut q = core.q.lock();
            if q.host_turn(seq) {
                q.begin_host(seq);
                break;
            }
            drop(q);
            self.block_on_core(c, None, |q| q.host_turn(seq));
        }
        if let Some(o) = observe::get() {
            o.submitted(c, seq);
        }
        self.wait_done(c, seq - 1, None, "host-execution", None);
        // Its device tensors may be a transfer's (the synchronous call is
        // ordered after nothing on the tensor-op unit).
        self.wait_no_transfers(c, None, None);
        let st = run_sync();
        {
            let mut q = core.q.lock();
            q.end_host(seq, st);
            core.submitted.store(q.submitted_upto(), Ordering::Release);
        }
        self.thread.ensure(self);
        self.thread.kick(&self.device, true);
        self.pump(c);
        // Retired (its callback run, its outputs marked) before it returns.
        self.wait_done(c, seq, None, "host-execution", None);
        Ok(if self.has_callback.load(Ordering::Acquire) { NRT_SUCCESS } else { st })
    }

    /// Accepts one request into its core's window (waiting for room).
    /// `sets`: the shim's input and output sets (None: a host execution).
    pub(super) fn accept(
        &'static self,
        m: &Arc<ModelRecord>,
        accesses: &[StorageRange],
        tensors: &[(Arc<TensorRecord>, AccessKind)],
        sets: Option<(Arc<Mirror>, Arc<Mirror>)>,
    ) -> Result<OpSeq, Status> {
        let core = self.core(m.core);
        let mut q = core.q.lock();
        if !q.has_room() && !q.is_dead() {
            let started = Instant::now();
            while !q.has_room() && !q.is_dead() {
                drop(q);
                self.block_on_core(m.core, None, |q| q.has_room() || q.is_dead());
                q = core.q.lock();
            }
            let ns = started.elapsed().as_nanos() as u64;
            COUNTERS.add(Counter::BlockedNanos, ns);
            COUNTERS.add(Counter::WindowFullWaits, 1);
            if let Some(o) = observe::get() {
                o.waited(m.core, None, "window-full", None, ns);
            }
        }
        if let Some(o) = observe::get() {
            o.accepted(q.outstanding());
        }
        if q.is_dead() {
            log::error!(
                "core {}: the compute unit is unrecoverable (NRT_EXEC_UNIT_UNRECOVERABLE); restart the process",
                m.core
            );
            return Err(NRT_EXEC_UNIT_UNRECOVERABLE);
        }
        let mut buf = q.access_buffer();
        buf.extend_from_slice(accesses);
        let payload = OpPayload { model: m.clone(), sets };
        let host = payload.sets.is_none();
        let seq = if host { q.admit_host(buf, payload) } else { q.admit(buf, payload) };
        core.accepted.store(seq, Ordering::Release);
        // Publish for the lock-free fast paths of later host calls.
        m.last_use.store(seq, Ordering::Release);
        for (t, kind) in tensors {
            t.last_use.store(seq, Ordering::Release);
            if *kind == AccessKind::Write && !t.exec_output.load(Ordering::Relaxed) {
                t.exec_output.store(true, Ordering::Release);
            }
            if let Some(st) = t.storage.lock().as_ref() {
                st.last_user.store(seq, Ordering::Release);
                if *kind == AccessKind::Write {
                    st.last_writer.store(seq, Ordering::Release);
                }
            }
        }
        COUNTERS.add(Counter::Executions, 1);
        Ok(seq)
    }

    /// Hands accepted requests of core `c` to the runtime, in order, outside
    /// the core's lock. Whichever thread finds no submission in progress does it.
    /// The lock that records one outcome also takes the next request, so a
    /// request costs two acquisitions of the core's lock here, not three.
    pub(super) fn pump(&'static self, c: u32) {
        let core = self.core(c);
        if !core.may_have_unsubmitted() {
            // The completion thread after each retire, in steady state.
            return;
        }
        let mut submitted_any = false;
        let mut was_idle = false;
        let mut q = core.q.lock();
        while let Some(op) = q.begin_submit() {
            let (input, output) = op.payload.sets.as_ref().map_or((0, 0), |(i, o)| (i.set, o.set));
            let (seq, model) = (op.seq, op.payload.model.handle);
            // Per submission: another thread may have retired the core's last
            // request meanwhile (the completion thread then watches nothing here).
            was_idle |= !q.has_device_work();
            drop(q);
            let outcome = self.device.schedule(c, model, input, output, core.slot(seq));
            if let Some(o) = observe::get() {
                o.submitted(c, seq);
            }
            if outcome == SubmitOutcome::QueueFull {
                COUNTERS.add(Counter::QueueFull, 1);
            }
            if let SubmitOutcome::Refused(st) = outcome {
                if st == NRT_EXEC_UNIT_UNRECOVERABLE {
                    log::error!("core {c}: the runtime reports NRT_EXEC_UNIT_UNRECOVERABLE; restart the process");
                } else {
                    log::warn!("core {c}: the runtime refused a request: status {st}");
                }
            }
            q = core.q.lock();
            q.end_submit(seq, outcome);
            core.submitted.store(q.submitted_upto(), Ordering::Release);
            if q.has_host_waiting() {
                // A host execution waits for its turn, which this may be
                // (notified outside the lock, which it needs to look).
                drop(q);
                core.cv.notify_all();
                q = core.q.lock();
            }
            submitted_any = true;
        }
        drop(q);
        if submitted_any {
            self.thread.ensure(self);
            // A core that already had work on the device is being watched;
            // only a core going from idle to busy needs the thread's attention.
            self.thread.kick(&self.device, was_idle);
        }
    }
}

/// An execution's model and sets, after the first checks.
type Handles = (Arc<ModelRecord>, Arc<SetRecord>, Arc<SetRecord>);

/// An execution whose checks all passed, in the runtime's order: its
/// records are the thread's cached ones and its accesses are in the
/// thread's scratch, so nothing is checked or looked up twice.
struct Checked<'a> {
    resolved: &'a mut Resolved,
    /// A tensor is in host memory: only the synchronous call takes it.
    host: bool,
    /// The application holds a CPU address of one of its tensors' storage.
    visible: bool,
    work: &'a mut Work,
}

/// Per-thread scratch space, so a call allocates nothing in steady state.
#[derive(Default)]
struct Scratch {
    work: Work,
    /// The thread's last few resolved executions (see `Engine::lookup`).
    cache: Vec<Resolved>,
    next_victim: usize,
}

/// One call's lists: its accesses, and the runtime handles its inputs and
/// outputs use this time (a renamed input's version, see `check_tensors`).
#[derive(Default)]
struct Work {
    accesses: Vec<StorageRange>,
    in_handles: Vec<Handle>,
    out_handles: Vec<Handle>,
}

impl Work {
    fn clear(&mut self) {
        self.accesses.clear();
        self.in_handles.clear();
        self.out_handles.clear();
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

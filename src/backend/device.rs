//! [`RealDevice`]: the scheduler's [`Device`] on the real runtime, with the
//! difference between the two `nrta_*` generations hidden here.

use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void, CStr};
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use crate::sync::plain::{Mutex, MutexGuard};
use nrt_sys::*;

use super::armed::Arming;
use super::fds::*;
use super::transfer::TensorOps;
use super::{CompletionSignal, Generation, Runtime};
use crate::registry::{Handle, ModelTensor};
use crate::scheduler::{Device, ModelDesc, SubmitOutcome};
use crate::status::{NRT_FAILURE, NRT_INVALID};
use crate::tracker::Status;

pub struct RealDevice {
    pub rt: &'static Runtime,
    pub generation: Generation,
    pub signal: CompletionSignal,
    /// v3 completions (EventFd mode), or -1. New in a forked child: the
    /// parent's is shared with it (one file description).
    completion_fd: AtomicI32,
    /// Ends a wait early (new in a forked child, as completion_fd).
    wake_fd: AtomicI32,
    /// v2 error trackers, one per core (the table sized at the first
    /// nrt_init), created on first use after each nrt_init (the runtime
    /// forgets them at nrt_close).
    trackers: OnceLock<Box<[AtomicPtr<c_void>]>>,
    /// v2: errors read from trackers and not yet matched to a request.
    v2_errors: Mutex<Vec<(u64, Status)>>,
    pub schedules: AtomicU64,
    /// nrta_tensor_write / nrta_tensor_copy, if the runtime has them.
    ops: TensorOps,
}

/// The v2 error list and the spare thread fds, locked across fork.
type BackendHeld = (MutexGuard<'static, Vec<(u64, Status)>>, MutexGuard<'static, Vec<c_int>>);

thread_local! {
    static WAIT_FD: ThreadEventFd = const { ThreadEventFd(Cell::new((-1, 0))) };
    /// The backend's locks, held by the forking thread across fork.
    static FORK_HELD: RefCell<Option<BackendHeld>> = const { RefCell::new(None) };
}

impl RealDevice {
    pub fn new(rt: &'static Runtime, generation: Generation) -> RealDevice {
        let signal = match generation {
            Generation::V3 if rt.nrta_event_register_seq_id_completion.is_some() => CompletionSignal::EventFd,
            Generation::V2 if rt.nrta_get_completion_handle.is_some() => CompletionSignal::CompletionHandle,
            _ => CompletionSignal::Polling,
        };
        let completion_fd = if signal == CompletionSignal::EventFd { eventfd() } else { -1 };
        let signal =
            if signal == CompletionSignal::EventFd && completion_fd < 0 { CompletionSignal::Polling } else { signal };
        RealDevice {
            rt,
            generation,
            signal,
            completion_fd: AtomicI32::new(completion_fd),
            wake_fd: AtomicI32::new(eventfd()),
            trackers: OnceLock::new(),
            v2_errors: Mutex::new(Vec::new()),
            schedules: AtomicU64::new(0),
            ops: TensorOps::find(rt, generation),
        }
    }

    /// Every core's tracker slot (none before the first nrt_init).
    fn trackers(&self) -> &[AtomicPtr<c_void>] {
        self.trackers.get().map_or(&[], |t| t)
    }

    fn tracker(&self, core: u32) -> *mut c_void {
        let Some(slot) = self.trackers().get(core as usize) else { return std::ptr::null_mut() };
        let t = slot.load(Ordering::Acquire);
        if !t.is_null() {
            return t;
        }
        let Some(create) = self.rt.nrta_error_tracker_create else { return std::ptr::null_mut() };
        let mut t = std::ptr::null_mut();
        // SAFETY: v2 nrta_error_tracker_create with a valid out-pointer.
        let st = unsafe { create(core, &mut t) };
        if st != NRT_SUCCESS || t.is_null() {
            log::warn!("core {core}: nrta_error_tracker_create failed ({st}); failures on it cannot be seen");
            return std::ptr::null_mut();
        }
        match slot.compare_exchange(std::ptr::null_mut(), t, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => t,
            // Another thread won the race; its tracker is the one in use.
            Err(other) => other,
        }
    }
}

impl RealDevice {
    /// Where the runtime reports a request's status: the slot (v3) or the
    /// core's error tracker (v2).
    fn err_target(&self, core: u32, slot: &AtomicU32) -> *mut c_void {
        match self.generation {
            Generation::V3 => {
                slot.store(NRT_SUCCESS, Ordering::Relaxed);
                slot.as_ptr() as *mut c_void
            }
            Generation::V2 => self.tracker(core),
        }
    }

    /// What a schedule call's status means. Nothing is registered for the
    /// request here: the completion thread registers the few it waits for
    /// (`wait_any`), so a submission costs the caller one runtime call.
    fn outcome(&self, st: NRT_STATUS, seq: nrta_seq_t) -> SubmitOutcome {
        match st {
            NRT_SUCCESS => SubmitOutcome::Queued { device_seq: seq },
            NRT_QUEUE_FULL => SubmitOutcome::QueueFull,
            other => SubmitOutcome::Refused(other),
        }
    }
}

impl Device for RealDevice {
    fn schedule(&self, core: u32, model: Handle, input: Handle, output: Handle, slot: &AtomicU32) -> SubmitOutcome {
        let Some(schedule) = self.rt.nrta_execute_schedule else { return SubmitOutcome::Refused(NRT_FAILURE) };
        let err = self.err_target(core, slot);
        let mut seq: nrta_seq_t = 0;
        // SAFETY: handles the runtime issued (the model, two sets the shim
        // owns); the status slot outlives the request.
        let st = unsafe { schedule(model as *mut _, input as *mut _, output as *mut _, 0, err, &mut seq) };
        self.schedules.fetch_add(1, Ordering::Relaxed);
        self.outcome(st, seq)
    }

    fn can_transfer(&self) -> bool {
        self.ops.available()
    }

    fn transfer_queues(&self) -> u32 {
        self.ops.queues()
    }

    fn schedule_write(
        &self,
        core: u32,
        queue: u32,
        tensor: Handle,
        offset: u64,
        buf: &[u8],
        slot: &AtomicU32,
    ) -> SubmitOutcome {
        let (st, seq) = self.ops.write(core, queue, tensor, offset, buf, self.err_target(core, slot));
        self.outcome(st, seq)
    }

    fn schedule_copy(
        &self,
        core: u32,
        queue: u32,
        src: Handle,
        src_offset: u64,
        dst: Handle,
        dst_offset: u64,
        size: u64,
        slot: &AtomicU32,
    ) -> SubmitOutcome {
        let err = self.err_target(core, slot);
        let (st, seq) = self.ops.copy(core, queue, src, src_offset, dst, dst_offset, size, err);
        self.outcome(st, seq)
    }

    fn is_completed(&self, device_seq: u64) -> Result<bool, Status> {
        let Some(f) = self.rt.nrta_is_completed else { return Err(NRT_FAILURE) };
        let mut done = false;
        // SAFETY: valid out-pointer.
        match unsafe { f(device_seq, &mut done) } {
            NRT_SUCCESS => Ok(done),
            st => Err(st),
        }
    }

    fn status_of(&self, core: u32, device_seq: u64, slot: &AtomicU32) -> Status {
        match self.generation {
            Generation::V3 => slot.load(Ordering::Acquire),
            Generation::V2 => {
                let t = self.trackers().get(core as usize).map_or(std::ptr::null_mut(), |t| t.load(Ordering::Acquire));
                // The runtime is called without the list's lock (the fork
                // handlers take it, after the runtime's own may have run): the
                // tracker is this core's, and only the holder of the core's
                // retire gate asks for a status, so nothing else calls it.
                let mut entries: &[nrta_error_t] = &[];
                if let (false, Some(get)) = (t.is_null(), self.rt.nrta_error_tracker_get_list) {
                    let mut list: *const nrta_error_t = std::ptr::null();
                    let mut n = 0usize;
                    // SAFETY: our tracker; the list stays valid until the next call on it.
                    if unsafe { get(t, &mut list, &mut n) } == NRT_SUCCESS && !list.is_null() {
                        // SAFETY: the runtime returned n entries at list.
                        entries = unsafe { std::slice::from_raw_parts(list, n) };
                    }
                }
                let mut errs = self.v2_errors.lock();
                for e in entries {
                    if !errs.iter().any(|(s, _)| *s == e.seq_id) {
                        errs.push((e.seq_id, e.error_code as Status));
                    }
                }
                match errs.iter().position(|(s, _)| *s == device_seq) {
                    Some(i) => errs.swap_remove(i).1,
                    None => NRT_SUCCESS,
                }
            }
        }
    }

    fn wait_any(&self, device_seqs: &[u64], attempt: u32) -> bool {
        match self.signal {
            CompletionSignal::EventFd => {
                let (completion_fd, wake_fd) =
                    (self.completion_fd.load(Ordering::Relaxed), self.wake_fd.load(Ordering::Relaxed));
                let arming = self.arm(device_seqs, completion_fd);
                let mut fds = [
                    libc::pollfd { fd: completion_fd, events: libc::POLLIN, revents: 0 },
                    libc::pollfd { fd: wake_fd, events: libc::POLLIN, revents: 0 },
                ];
                let ns = match arming {
                    Arming::All => 50_000_000,
                    Arming::Refused => 1_000_000,
                    Arming::Stale => 50_000,
                };
                let woken = poll_fds(&mut fds, ns);
                drain_fd(completion_fd);
                drain_fd(wake_fd);
                woken || arming == Arming::Stale
            }
            CompletionSignal::CompletionHandle => {
                let get = self.rt.nrta_get_completion_handle.expect("checked in new()");
                let mut fds: Vec<libc::pollfd> = Vec::with_capacity(device_seqs.len() + 1);
                for &seq in device_seqs {
                    let mut fd = -1;
                    // SAFETY: valid out-pointer; we close the fd below.
                    if unsafe { get(seq, &mut fd) } == NRT_SUCCESS && fd >= 0 {
                        fds.push(libc::pollfd { fd, events: libc::POLLIN, revents: 0 });
                    }
                }
                let n = fds.len();
                let wake_fd = self.wake_fd.load(Ordering::Relaxed);
                fds.push(libc::pollfd { fd: wake_fd, events: libc::POLLIN, revents: 0 });
                let woken = poll_fds(&mut fds, 50_000_000);
                for p in &fds[..n] {
                    // SAFETY: fds the runtime gave us to close.
                    unsafe { libc::close(p.fd) };
                }
                drain_fd(wake_fd);
                woken
            }
            CompletionSignal::Polling => {
                // Spin briefly (completions often come within microseconds of
                // each other), then back off to at most 200 us between polls.
                if attempt < 16 {
                    std::thread::yield_now();
                } else {
                    let ns = (2_000u64 << ((attempt - 16) / 2).min(7)).min(200_000);
                    let wake_fd = self.wake_fd.load(Ordering::Relaxed);
                    let mut fds = [libc::pollfd { fd: wake_fd, events: libc::POLLIN, revents: 0 }];
                    poll_fds(&mut fds, ns);
                    drain_fd(wake_fd);
                }
                // Polling: a completion is found by looking, never late.
                true
            }
        }
    }

    fn can_wait_for(&self) -> bool {
        matches!(self.signal, CompletionSignal::EventFd | CompletionSignal::CompletionHandle)
    }

    fn wait_for(&self, device_seq: u64, timeout: Duration) -> bool {
        let ns = timeout.as_nanos().min(u64::MAX as u128) as u64;
        match self.signal {
            CompletionSignal::EventFd => {
                let Some(reg) = self.rt.nrta_event_register_seq_id_completion else { return false };
                // try_with: during the thread's own exit its fd is gone.
                WAIT_FD
                    .try_with(|w| {
                        let fd = w.get();
                        // SAFETY: our thread's own eventfd; the runtime signals a
                        // copy of it when the request completes.
                        if fd < 0 || unsafe { reg(device_seq, fd) } != NRT_SUCCESS {
                            return false;
                        }
                        // The documentation does not say that a request already
                        // done signals at once: look after registering.
                        if self.is_completed(device_seq) != Ok(false) {
                            return true;
                        }
                        let mut fds = [libc::pollfd { fd, events: libc::POLLIN, revents: 0 }];
                        poll_fds(&mut fds, ns);
                        // Stale signals of earlier waits only cause a spurious return.
                        drain_fd(fd);
                        true
                    })
                    .unwrap_or(false)
            }
            CompletionSignal::CompletionHandle => {
                let Some(get) = self.rt.nrta_get_completion_handle else { return false };
                let mut fd = -1;
                // SAFETY: valid out-pointer; we close the fd below.
                if unsafe { get(device_seq, &mut fd) } != NRT_SUCCESS || fd < 0 {
                    return false;
                }
                let mut fds = [libc::pollfd { fd, events: libc::POLLIN, revents: 0 }];
                poll_fds(&mut fds, ns);
                // SAFETY: the fd the runtime gave us to close.
                unsafe { libc::close(fd) };
                true
            }
            CompletionSignal::Polling => false,
        }
    }

    fn closed(&self) {
        // The runtime invalidates every handle at nrt_close: a tracker kept
        // past it would make every request after the next nrt_init fail.
        for slot in self.trackers().iter() {
            let t = slot.swap(std::ptr::null_mut(), Ordering::AcqRel);
            if let (false, Some(destroy)) = (t.is_null(), self.rt.nrta_error_tracker_destroy) {
                // SAFETY: our own tracker; no request is pending (the engine drained).
                unsafe { destroy(t) };
            }
        }
        self.v2_errors.lock().clear();
    }

    fn opened(&self, ncores: u32) {
        self.trackers.get_or_init(|| (0..ncores).map(|_| AtomicPtr::new(std::ptr::null_mut())).collect());
    }

    fn before_fork(&'static self) {
        let held = (self.v2_errors.lock(), SPARE_FDS.lock());
        let _ = FORK_HELD.try_with(|h| *h.borrow_mut() = Some(held));
    }

    fn after_fork(&'static self, child: bool) {
        let Ok(Some((mut errs, mut spare))) = FORK_HELD.try_with(|h| h.borrow_mut().take()) else { return };
        if !child {
            return;
        }
        FORK_EPOCH.fetch_add(1, Ordering::AcqRel);
        // The parent's runtime objects: the child's runtime starts afresh and
        // never knew them (destroying them would be a call on unknown handles).
        for slot in self.trackers().iter() {
            slot.store(std::ptr::null_mut(), Ordering::Release);
        }
        errs.clear();
        // The parent's eventfds are shared with it: a read here would take a
        // signal meant for the parent, a write would wake the parent's threads.
        // The child's copies are closed (its runtime has no registration on
        // them) and replaced.
        for fd in spare.drain(..) {
            close_fd(fd);
        }
        if self.signal == CompletionSignal::EventFd {
            close_fd(self.completion_fd.swap(eventfd(), Ordering::AcqRel));
        }
        close_fd(self.wake_fd.swap(eventfd(), Ordering::AcqRel));
    }

    fn wake(&self) {
        let one = 1u64;
        // SAFETY: writing 8 bytes to our own eventfd.
        unsafe { libc::write(self.wake_fd.load(Ordering::Relaxed), &one as *const u64 as *const c_void, 8) };
    }

    fn describe_model(&self, model: Handle) -> Result<ModelDesc, Status> {
        let (Some(info_fn), Some(tinfo_fn), Some(free_fn)) =
            (self.rt.nrt_get_model_info, self.rt.nrt_get_model_tensor_info, self.rt.nrt_free_model_tensor_info)
        else {
            return Err(NRT_FAILURE);
        };
        let mut info = nrt_model_info_t::default();
        let mut out = 0usize;
        // SAFETY: valid out-pointers sized as declared.
        let st = unsafe { info_fn(model as *const _, &mut info, std::mem::size_of::<nrt_model_info_t>(), &mut out) };
        if st != NRT_SUCCESS {
            return Err(st);
        }
        let mut arr: *mut nrt_tensor_info_array_t = std::ptr::null_mut();
        // SAFETY: valid out-pointer; freed below with the runtime's call.
        let st = unsafe { tinfo_fn(model as *mut _, &mut arr) };
        if st != NRT_SUCCESS || arr.is_null() {
            return Err(if st == NRT_SUCCESS { NRT_INVALID } else { st });
        }
        let mut desc = ModelDesc { core: info.vnc, inputs: Vec::new(), outputs: Vec::new() };
        // SAFETY: the runtime returned an array of tensor_count entries.
        unsafe {
            let n = (*arr).tensor_count as usize;
            let items = std::slice::from_raw_parts((*arr).tensor_array.as_ptr(), n);
            for t in items {
                let name = CStr::from_ptr(t.name.as_ptr()).to_owned();
                let mt = ModelTensor { name, size: t.size as u64 };
                if t.usage == NRT_TENSOR_USAGE_INPUT {
                    desc.inputs.push(mt);
                } else {
                    desc.outputs.push(mt);
                }
            }
            free_fn(arr);
        }
        Ok(desc)
    }

    fn allocate_set(&self) -> Result<Handle, Status> {
        let f = self.rt.nrt_allocate_tensor_set.ok_or(NRT_FAILURE)?;
        let mut s: *mut nrt_tensor_set_t = std::ptr::null_mut();
        // SAFETY: valid out-pointer.
        match unsafe { f(&mut s) } {
            NRT_SUCCESS => Ok(s as Handle),
            st => Err(st),
        }
    }

    fn add_to_set(&self, set: Handle, name: &std::ffi::CString, tensor: Handle) -> Status {
        let Some(f) = self.rt.nrt_add_tensor_to_tensor_set else { return NRT_FAILURE };
        // SAFETY: a set the shim owns, a tensor the runtime issued.
        unsafe { f(set as *mut _, name.as_ptr(), tensor as *mut _) }
    }

    fn destroy_set(&self, set: Handle) {
        if let Some(f) = self.rt.nrt_destroy_tensor_set {
            let mut s = set as *mut nrt_tensor_set_t;
            // SAFETY: a set the shim owns and no pending request holds.
            unsafe { f(&mut s) };
        }
    }

    fn free_tensor(&self, tensor: Handle) {
        if let Some(f) = self.rt.nrt_tensor_free {
            let mut t = tensor as *mut nrt_tensor_t;
            // SAFETY: the application freed it; nothing pending uses it now.
            unsafe { f(&mut t) };
        }
    }

    fn allocate_tensor(&self, core: u32, size: u64) -> Result<Handle, Status> {
        self.rt.allocate_spare(core, size)
    }

    fn copy_tensor(&self, src: Handle, dst: Handle, size: u64) -> Status {
        self.rt.copy_whole(src, dst, size)
    }

    fn spawn(&self, name: &str, f: Box<dyn FnOnce() + Send>) -> bool {
        // Block every signal while the thread is created, so it inherits a
        // full mask and never takes a signal meant for the program.
        // SAFETY: sigset manipulation on local values.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
            let r = std::thread::Builder::new().name(name.to_string()).spawn(f);
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            r.is_ok()
        }
    }
}

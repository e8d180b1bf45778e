//! `NRT_SHIM_RECORD=path`: every exported call, per application thread and in
//! call order, with its status, tensor, range, and a digest of the bytes each
//! read returned, for `nrt-shim verify` to compare runs. On in every mode
//! (passthrough too: verify's reference runs are passthrough runs).
//!
//! Cost: per call, one thread-local lookup, one uncontended per-thread lock
//! and a 56-byte copy into the thread's buffer (allocated once per thread);
//! per read, the digest of the bytes read. A full buffer is written to the
//! file in one `write` (O_APPEND, so processes and threads never interleave
//! inside a chunk); the rest at thread exit, nrt_close and exit.
//!
//! File format (little-endian), a sequence of chunks:
//! ```text
//! chunk:  magic u32 "NRTR" | version u16 = 1 | kind u16 | pid u32 | thread u32 | seq u32 | len u32 | payload
//!   kind 0 (once per process): payload = shim version, then the export names, '\n'-separated
//!   kind 1: payload = records of that thread, in call order
//! record: fn u16 (index into the names) | flags u16 | extra u32 | status u64 | handle u64
//!         | offset u64 | size u64 | handle2 u64 | digest u64 | extra bytes, padded to 8
//! ```
//! Threads are numbered in the order of their first recorded call in the
//! process (after a fork the child numbers its own, under its own pid).

use std::cell::RefCell;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::sync::Arc;

use once_cell::sync::Lazy;

use crate::sync::plain::{Mutex, MutexGuard};

pub const MAGIC: u32 = u32::from_le_bytes(*b"NRTR");
pub const RECORD_BYTES: usize = 56;
const CHUNK: usize = 64 * 1024;
const HEADER: usize = 24;

pub const F_DIGEST: u16 = 1;
pub const F_NAME: u16 = 2;
pub const F_DATA: u16 = 4;

mod digest;
mod plan;

pub use digest::digest;
pub use plan::{plan, Plan, Ret, Word};

struct Setup {
    path: String,
    /// NRT_SHIM_RECORD_DATA=THREAD:CALL: that call's bytes are recorded too.
    data_at: Option<(u32, u32)>,
}

static SETUP: Lazy<Option<Setup>> = Lazy::new(|| {
    let path = std::env::var("NRT_SHIM_RECORD").ok().filter(|p| !p.trim().is_empty())?;
    let data_at = std::env::var("NRT_SHIM_RECORD_DATA").ok().and_then(|v| {
        let (t, c) = v.split_once(':')?;
        Some((t.trim().parse().ok()?, c.trim().parse().ok()?))
    });
    PID.store(std::process::id(), Ordering::Relaxed);
    // SAFETY: registering plain extern "C" handlers, once.
    unsafe {
        libc::pthread_atfork(Some(fork_prepare), Some(fork_parent), Some(fork_child));
        libc::atexit(at_exit);
    }
    Some(Setup { path, data_at })
});

static PID: AtomicU32 = AtomicU32::new(0);
static GENERATION: AtomicU32 = AtomicU32::new(0);
static NEXT_THREAD: AtomicU32 = AtomicU32::new(0);
static FD: AtomicI32 = AtomicI32::new(-1);
static HEADER_PID: AtomicU32 = AtomicU32::new(0);
static FAILED: AtomicBool = AtomicBool::new(false);

/// Every live thread's buffer, for the flushes at nrt_close and exit. Taken
/// when a thread starts or ends recording and by those flushes, never per call.
static THREADS: Mutex<Vec<Arc<ThreadBuf>>> = Mutex::new(Vec::new());

struct ThreadBuf {
    /// The fork generation it belongs to (a child drops its parent's buffers).
    generation: u32,
    inner: Mutex<Inner>,
}

struct Inner {
    thread: u32,
    seq: u32,
    calls: u32,
    data: Vec<u8>,
}

struct Local(RefCell<Option<Arc<ThreadBuf>>>);

impl Drop for Local {
    fn drop(&mut self) {
        if let Some(b) = self.0.borrow_mut().take() {
            flush(b.generation, &mut b.inner.lock());
            THREADS.lock().retain(|t| !Arc::ptr_eq(t, &b));
        }
    }
}

thread_local! {
    static LOCAL: Local = const { Local(RefCell::new(None)) };
}

/// The arguments of a call being recorded.
pub struct Pending {
    plan: &'static Plan,
    args: [u64; 8],
    pre: u64,
}

/// Before the call: None (one load) unless NRT_SHIM_RECORD is set.
#[inline]
pub fn begin(plan: &'static Plan, args: &[u64]) -> Option<Pending> {
    SETUP.as_ref()?;
    let mut a = [0u64; 8];
    for (d, s) in a.iter_mut().zip(args) {
        *d = *s;
    }
    let pre = match plan.pre {
        // SAFETY: the caller's pointer to a handle, read before the runtime clears it (NULL checked).
        i if i >= 0 && a[i as usize] != 0 => unsafe { *(a[i as usize] as usize as *const usize) as u64 },
        _ => 0,
    };
    Some(Pending { plan, args: a, pre })
}

impl Pending {
    /// After the call: appends its record(s) to this thread's buffer.
    pub fn end(self, ret: &impl Ret) {
        let status = ret.status();
        let _ = LOCAL.try_with(|l| {
            let mut slot = l.0.borrow_mut();
            let generation = GENERATION.load(Ordering::Relaxed);
            if slot.as_ref().is_none_or(|b| b.generation != generation) {
                *slot = Some(register(generation));
            }
            let buf = slot.as_ref().expect("registered above");
            let mut inner = buf.inner.lock();
            self.write(buf.generation, &mut inner, status);
        });
        if self.plan.flush {
            flush_all();
        }
    }

    fn arg(&self, i: i8) -> u64 {
        if i >= 0 {
            self.args[i as usize]
        } else {
            0
        }
    }

    fn write(&self, generation: u32, inner: &mut Inner, status: u64) {
        let p = self.plan;
        if p.batch_read {
            return self.write_batch(generation, inner, status);
        }
        let mut handle = self.arg(p.tensor);
        if p.pre >= 0 {
            handle = self.pre;
        }
        if p.out >= 0 && status == 0 && self.arg(p.out) != 0 {
            // SAFETY: the runtime filled the caller's out-pointer on success.
            handle = unsafe { *(self.arg(p.out) as usize as *const usize) } as u64;
        }
        let (offset, size) = (self.arg(p.offset), self.arg(p.size));
        let mut flags = 0;
        let mut digest_of = 0;
        let mut bytes: &[u8] = &[];
        if p.read_buf >= 0 && status == 0 && size > 0 && self.arg(p.read_buf) != 0 {
            // SAFETY: a successful read filled `size` bytes of the caller's buffer.
            bytes = unsafe { std::slice::from_raw_parts(self.arg(p.read_buf) as usize as *const u8, size as usize) };
            digest_of = digest(bytes);
            flags |= F_DIGEST;
        }
        let mut extra: &[u8] = &[];
        if p.name >= 0 && self.arg(p.name) != 0 {
            // SAFETY: the runtime's contract: a NUL-terminated name.
            extra =
                unsafe { std::ffi::CStr::from_ptr(self.arg(p.name) as usize as *const std::ffi::c_char) }.to_bytes();
            flags |= F_NAME;
        }
        let data_here = SETUP.as_ref().and_then(|s| s.data_at) == Some((inner.thread, inner.calls));
        if data_here && flags & F_DIGEST != 0 {
            (extra, flags) = (bytes, flags | F_DATA);
        }
        // The last word: the digest of a read, else a second offset (a copy's destination).
        let last = if flags & F_DIGEST != 0 { digest_of } else { self.arg(p.offset2) };
        let fields = [status, handle, offset, size, self.arg(p.tensor2), last];
        push(generation, inner, p.id, flags, &fields, extra);
    }

    fn write_batch(&self, generation: u32, inner: &mut Inner, status: u64) {
        let (batches, n) = (self.args[0] as usize as *const nrt_sys::nrt_tensor_batch_t, self.args[1] as usize);
        if batches.is_null() {
            return push(generation, inner, self.plan.id, 0, &[status, 0, 0, 0, 0, 0], &[]);
        }
        for i in 0..n {
            // SAFETY: the caller passed `n` batches (the runtime read them).
            let b = unsafe { &*batches.add(i) };
            for j in 0..b.num_ops as usize {
                if b.ops.is_null() {
                    break;
                }
                // SAFETY: `num_ops` ops at `ops`.
                let op = unsafe { &*b.ops.add(j) };
                let (flags, d) = if status == 0 && !op.buffer.is_null() && op.size > 0 {
                    // SAFETY: a successful batch read filled each op's buffer.
                    let s = unsafe { std::slice::from_raw_parts(op.buffer as *const u8, op.size as usize) };
                    (F_DIGEST, digest(s))
                } else {
                    (0, 0)
                };
                push(
                    generation,
                    inner,
                    self.plan.id,
                    flags,
                    &[status, b.tensor as usize as u64, op.offset, op.size, 0, d],
                    &[],
                );
            }
        }
    }
}

fn register(generation: u32) -> Arc<ThreadBuf> {
    let thread = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
    let b =
        Arc::new(ThreadBuf { generation, inner: Mutex::new(Inner { thread, seq: 0, calls: 0, data: empty_chunk() }) });
    THREADS.lock().push(b.clone());
    b
}

/// A chunk's buffer: room for its header, filled in when it is written.
fn empty_chunk() -> Vec<u8> {
    let mut v = Vec::with_capacity(CHUNK);
    v.resize(HEADER, 0);
    v
}

fn push(generation: u32, inner: &mut Inner, id: u16, flags: u16, fields: &[u64; 6], extra: &[u8]) {
    let padded = extra.len().div_ceil(8) * 8;
    if inner.data.len() + RECORD_BYTES + padded > CHUNK {
        flush(generation, inner);
    }
    // One fixed-size copy into the buffer (its capacity was reserved up front).
    let mut rec = [0u8; RECORD_BYTES];
    rec[0..2].copy_from_slice(&id.to_le_bytes());
    rec[2..4].copy_from_slice(&flags.to_le_bytes());
    rec[4..8].copy_from_slice(&(extra.len() as u32).to_le_bytes());
    for (i, f) in fields.iter().enumerate() {
        rec[8 + 8 * i..16 + 8 * i].copy_from_slice(&f.to_le_bytes());
    }
    let d = &mut inner.data;
    d.extend_from_slice(&rec);
    if !extra.is_empty() {
        d.extend_from_slice(extra);
        d.resize(d.len() + padded - extra.len(), 0);
    }
    inner.calls += 1;
}

fn chunk_header(kind: u16, thread: u32, seq: u32, len: usize) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    h[4..6].copy_from_slice(&1u16.to_le_bytes());
    h[6..8].copy_from_slice(&kind.to_le_bytes());
    h[8..12].copy_from_slice(&PID.load(Ordering::Relaxed).to_le_bytes());
    h[12..16].copy_from_slice(&thread.to_le_bytes());
    h[16..20].copy_from_slice(&seq.to_le_bytes());
    h[20..24].copy_from_slice(&(len as u32).to_le_bytes());
    h
}

/// The file, opened on the first flush (and the process's header written once).
fn file() -> Option<std::mem::ManuallyDrop<std::fs::File>> {
    let setup = SETUP.as_ref()?;
    let mut fd = FD.load(Ordering::Acquire);
    if fd < 0 {
        use std::os::unix::fs::OpenOptionsExt;
        use std::os::unix::io::IntoRawFd;
        match std::fs::OpenOptions::new().create(true).append(true).mode(0o644).open(&setup.path) {
            Ok(f) => {
                let new = f.into_raw_fd();
                match FD.compare_exchange(-1, new, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => fd = new,
                    Err(other) => {
                        // SAFETY: our own descriptor, lost the race; closed once.
                        unsafe { libc::close(new) };
                        fd = other;
                    }
                }
            }
            Err(e) => {
                if !FAILED.swap(true, Ordering::Relaxed) {
                    log::error!("NRT_SHIM_RECORD={}: cannot open it ({e}); nothing is recorded", setup.path);
                }
                return None;
            }
        }
    }
    // SAFETY: the descriptor stays open for the process's life; ManuallyDrop never closes it.
    let f = std::mem::ManuallyDrop::new(unsafe { <std::fs::File as std::os::unix::io::FromRawFd>::from_raw_fd(fd) });
    let pid = PID.load(Ordering::Relaxed);
    if HEADER_PID.swap(pid, Ordering::AcqRel) != pid {
        let mut payload = format!("{}\n", env!("CARGO_PKG_VERSION"));
        for n in crate::exports::EXPORTED {
            payload.push_str(n);
            payload.push('\n');
        }
        let mut chunk = chunk_header(0, u32::MAX, 0, payload.len()).to_vec();
        chunk.extend_from_slice(payload.as_bytes());
        let _ = (&*f).write_all(&chunk);
    }
    Some(f)
}

/// Writes this thread's records as one chunk.
/// Writes this thread's records as one chunk, in one write (no allocation).
fn flush(generation: u32, inner: &mut Inner) {
    if inner.data.len() <= HEADER || generation != GENERATION.load(Ordering::Relaxed) {
        inner.data.truncate(HEADER);
        return;
    }
    if let Some(f) = file() {
        let len = inner.data.len() - HEADER;
        inner.data[..HEADER].copy_from_slice(&chunk_header(1, inner.thread, inner.seq, len));
        if let Err(e) = (&*f).write_all(&inner.data) {
            if !FAILED.swap(true, Ordering::Relaxed) {
                log::error!("NRT_SHIM_RECORD: writing failed ({e}); the record is incomplete");
            }
        }
    }
    inner.seq += 1;
    inner.data.truncate(HEADER);
}

/// Every thread's records so far (nrt_close, exit).
pub fn flush_all() {
    if SETUP.is_none() {
        return;
    }
    for b in THREADS.lock().iter() {
        flush(b.generation, &mut b.inner.lock());
    }
}

extern "C" fn at_exit() {
    flush_all();
}

thread_local! {
    /// THREADS, held across a fork by the forking thread (the three handlers run on it).
    static FORK_HELD: RefCell<Option<MutexGuard<'static, Vec<Arc<ThreadBuf>>>>> = const { RefCell::new(None) };
}

extern "C" fn fork_prepare() {
    // No flush or registration can be under way across the fork.
    let g = THREADS.lock();
    let _ = FORK_HELD.try_with(|h| *h.borrow_mut() = Some(g));
}

extern "C" fn fork_parent() {
    let _ = FORK_HELD.try_with(|h| h.borrow_mut().take());
}

extern "C" fn fork_child() {
    // The child's records are its own: a new pid, threads numbered afresh,
    // and the parent's unwritten records (copied by fork) dropped.
    PID.store(std::process::id(), Ordering::Relaxed);
    GENERATION.fetch_add(1, Ordering::Relaxed);
    NEXT_THREAD.store(0, Ordering::Relaxed);
    let _ = FORK_HELD.try_with(|h| {
        if let Some(mut g) = h.borrow_mut().take() {
            g.clear();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_name_the_arguments() {
        let r = plan("nrt_tensor_read");
        assert_eq!((r.tensor, r.read_buf, r.offset, r.size), (0, 1, 2, 3));
        assert_ne!(r.id, u16::MAX);
        assert!(plan("nrt_close").flush);
        assert_eq!(plan("nrt_tensor_free").pre, 0);
        assert_eq!(plan("nrt_no_such_call").id, u16::MAX);
    }

    #[test]
    fn records_are_fixed_size_and_padded() {
        let mut inner = Inner { thread: 0, seq: 0, calls: 0, data: empty_chunk() };
        let cap = inner.data.capacity();
        push(0, &mut inner, 3, F_NAME, &[1, 2, 3, 4, 5, 6], b"abc");
        let r = &inner.data[HEADER..];
        assert_eq!(r.len(), RECORD_BYTES + 8);
        assert_eq!(&r[0..2], &3u16.to_le_bytes());
        assert_eq!(&r[4..8], &3u32.to_le_bytes());
        assert_eq!(&r[RECORD_BYTES..RECORD_BYTES + 3], b"abc");
        assert_eq!(inner.calls, 1);
        assert_eq!(inner.data.capacity(), cap, "no reallocation");
    }
}

//! The FFI edge inside the core: raw pointers handed over by C callers that the
//! simulator must use later (from a worker thread), and the few libc calls.
//! Everything unsafe in the core lives here.

use std::ffi::c_void;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};

/// A caller's buffer (nrta_tensor_read destination, nrta_tensor_write source) that
/// must stay valid until the request completes, as the runtime documents.
#[derive(Debug, Clone, Copy)]
pub struct UserBuf {
    ptr: usize,
    len: usize,
}

impl UserBuf {
    /// # Safety
    /// `ptr` must be valid for `len` bytes until the request using it completes.
    pub unsafe fn new(ptr: *const c_void, len: usize) -> UserBuf {
        UserBuf { ptr: ptr as usize, len }
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A v3 `NRT_STATUS *ret` that receives the request's status at completion.
#[derive(Debug, Clone, Copy)]
pub struct StatusPtr(usize);

impl StatusPtr {
    /// # Safety
    /// `p` must be valid and aligned for a u32 write until the request completes.
    pub unsafe fn new(p: *mut u32) -> StatusPtr {
        StatusPtr(p as usize)
    }
    pub fn store(&self, status: u32) {
        // SAFETY: see `new`. Volatile so that a polling caller sees it.
        unsafe { std::ptr::write_volatile(self.0 as *mut u32, status) }
    }
}

/// The implicit-async status callback and its params.
#[derive(Clone, Copy)]
pub struct Callback {
    f: unsafe extern "C" fn(*mut c_void, u32, u32, u64, u32),
    params: usize,
}

impl Callback {
    /// # Safety
    /// `f` must be callable with `params` from any thread until replaced.
    pub unsafe fn new(f: unsafe extern "C" fn(*mut c_void, u32, u32, u64, u32), params: *mut c_void) -> Callback {
        Callback { f, params: params as usize }
    }
    pub fn call(&self, model_id: u32, vnc: u32, job_id: u64, status: u32) {
        // SAFETY: see `new`.
        unsafe { (self.f)(self.params as *mut c_void, model_id, vnc, job_id, status) }
    }
}

/// Host memory backing a storage: owned (zeroed, freed on drop) or the caller's (attached).
pub struct Mem {
    ptr: usize,
    len: usize,
    owned: bool,
}

impl Mem {
    pub fn alloc(len: usize) -> Option<Mem> {
        let mut v: Vec<u8> = Vec::new();
        v.try_reserve_exact(len).ok()?;
        v.resize(len, 0);
        let b = v.into_boxed_slice();
        let ptr = Box::into_raw(b) as *mut u8 as usize;
        Some(Mem { ptr, len, owned: true })
    }
    /// # Safety
    /// `ptr` must be valid for `len` bytes for the life of every tensor using it.
    pub unsafe fn attach(ptr: *mut c_void, len: usize) -> Mem {
        Mem { ptr: ptr as usize, len, owned: false }
    }
    pub fn addr(&self) -> usize {
        self.ptr
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn read(&self, off: usize, dst: &mut [u8]) {
        assert!(off.checked_add(dst.len()).is_some_and(|e| e <= self.len));
        if !dst.is_empty() {
            // SAFETY: bounds checked above; the memory is live while self is.
            unsafe { std::ptr::copy((self.ptr + off) as *const u8, dst.as_mut_ptr(), dst.len()) }
        }
    }
    pub fn write(&self, off: usize, src: &[u8]) {
        assert!(off.checked_add(src.len()).is_some_and(|e| e <= self.len));
        if !src.is_empty() {
            // SAFETY: bounds checked above.
            unsafe { std::ptr::copy(src.as_ptr(), (self.ptr + off) as *mut u8, src.len()) }
        }
    }
}

impl Mem {
    /// The bytes `off..off + len` (bounds checked), for the data phase of an op.
    pub fn view(&self, off: usize, len: usize) -> View<'_> {
        assert!(off.checked_add(len).is_some_and(|e| e <= self.len));
        View { ptr: self.ptr + off, len, _mem: PhantomData }
    }
}

/// A byte range of a storage's memory, valid while the storage lives.
///
/// Storage memory is shared: the units of the simulator, the host paths, and for
/// attached buffers the program, all touch it through raw pointers. The simulator
/// orders its own accesses (in-order queues; a program's device ops touch the same
/// bytes concurrently only in a race, which the hazard oracle counts and whose
/// bytes are unspecified). Slices handed out below live only for the call and never
/// overlap each other (`with_dst_and_sources` checks it).
#[derive(Clone, Copy)]
pub struct View<'a> {
    ptr: usize,
    len: usize,
    _mem: PhantomData<&'a Mem>,
}

impl View<'_> {
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// True when the two ranges share a byte (also across storages: attached
    /// buffers of one storage may alias another's).
    pub fn overlaps(&self, o: &View<'_>) -> bool {
        self.len > 0 && o.len > 0 && self.ptr < o.ptr + o.len && o.ptr < self.ptr + self.len
    }
    /// memmove from `src` (same length; overlap allowed).
    pub fn copy_from(&self, src: &View<'_>) {
        assert_eq!(src.len, self.len);
        // Both ranges are live storage memory of this length (see View).
        copy_raw(src.ptr, self.ptr, self.len);
    }
    /// Copies a caller's buffer (nrt_tensor_write source) into these bytes.
    pub fn copy_from_user(&self, src: &UserBuf) {
        assert_eq!(src.len, self.len);
        // Live storage memory (see View); the caller's buffer is valid (UserBuf::new).
        copy_raw(src.ptr, self.ptr, self.len);
    }
    /// Copies these bytes into a caller's buffer (nrt_tensor_read destination).
    pub fn copy_to_user(&self, dst: &UserBuf) {
        assert_eq!(dst.len, self.len);
        copy_raw(self.ptr, dst.ptr, self.len);
    }
    pub fn fill(&self, value: u8) {
        if self.len > 0 {
            // SAFETY: live storage memory (see View).
            unsafe { std::ptr::write_bytes(self.ptr as *mut u8, value, self.len) }
        }
    }
    /// A 64-bit fingerprint of these bytes (to notice that someone outside the
    /// simulator changed them: a program writing through a device address).
    pub fn fingerprint(&self) -> u64 {
        let mut h = 0xcbf2_9ce4_8422_2325u64 ^ self.len as u64;
        let mut i = 0;
        while i + 8 <= self.len {
            // SAFETY: live storage memory (see View); [i, i + 8) lies inside it.
            let w = unsafe { std::ptr::read_unaligned((self.ptr + i) as *const u64) };
            h = (h ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
            i += 8;
        }
        while i < self.len {
            // SAFETY: as above, one byte inside the range.
            let b = unsafe { *((self.ptr + i) as *const u8) };
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
            i += 1;
        }
        h
    }
    /// Copies these bytes into `dst` (same length).
    pub fn read_into(&self, dst: &mut [u8]) {
        assert_eq!(dst.len(), self.len);
        if self.len > 0 {
            // SAFETY: live storage memory (see View); dst is a distinct Rust buffer.
            unsafe { std::ptr::copy(self.ptr as *const u8, dst.as_mut_ptr(), self.len) }
        }
    }
    /// Runs `f` on these bytes, writable.
    pub fn with_mut<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> R {
        if self.len == 0 {
            return f(&mut []);
        }
        // SAFETY: live storage memory (see View); no other slice of it exists during f.
        f(unsafe { std::slice::from_raw_parts_mut(self.ptr as *mut u8, self.len) })
    }
    /// Runs `f(dst, srcs)` on `dst` and the `n` source ranges `source(k)`,
    /// provided no source shares a byte with `dst` (sources may overlap each
    /// other: they are only read); None (f not run) otherwise. Up to 8 sources
    /// need no allocation.
    pub fn with_dst_and_sources<'v, R>(
        dst: &View<'_>,
        n: usize,
        source: impl Fn(usize) -> View<'v>,
        f: impl for<'s> FnOnce(&'s mut [u8], &'s [&'s [u8]]) -> R,
    ) -> Option<R> {
        if (0..n).any(|k| source(k).overlaps(dst)) {
            return None;
        }
        let slice = |k: usize| -> &'v [u8] {
            let v = source(k);
            if v.len == 0 {
                return &[];
            }
            // SAFETY: live storage memory (see View), disjoint from dst (checked above).
            unsafe { std::slice::from_raw_parts(v.ptr as *const u8, v.len) }
        };
        let mut few: [&[u8]; 8] = [&[]; 8];
        let many: Vec<&[u8]>;
        let srcs: &[&[u8]] = if n <= few.len() {
            for (k, s) in few.iter_mut().enumerate().take(n) {
                *s = slice(k);
            }
            &few[..n]
        } else {
            many = (0..n).map(slice).collect();
            &many
        };
        Some(dst.with_mut(|d| f(d, srcs)))
    }
}

/// Copies of at least this many bytes bypass the caches (non-temporal stores):
/// a tensor this large has usually left them, and on this class of machine a
/// 4 MiB copy out of cache then takes about 0.7 of the time (no read of the
/// destination before it is written).
const STREAM_FROM: usize = 1 << 20;

/// memmove of `len` bytes from address `src` to `dst`. Private: the callers
/// (View's methods) pass live ranges of `len` bytes.
fn copy_raw(src: usize, dst: usize, len: usize) {
    if len == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if len >= STREAM_FROM && (src + len <= dst || dst + len <= src) {
        stream_copy(src, dst, len);
        return;
    }
    // SAFETY: live ranges of len bytes (see above); ptr::copy allows overlap.
    unsafe { std::ptr::copy(src as *const u8, dst as *mut u8, len) }
}

/// A copy between disjoint ranges with SSE2 (baseline on x86_64) streaming stores.
#[cfg(target_arch = "x86_64")]
fn stream_copy(src: usize, dst: usize, len: usize) {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_sfence, _mm_stream_si128};
    let head = ((16 - dst % 16) % 16).min(len);
    // SAFETY: the first `head` bytes of the two disjoint live ranges.
    unsafe { std::ptr::copy_nonoverlapping(src as *const u8, dst as *mut u8, head) }
    let (mut s, mut d, end) = (src + head, dst + head, dst + len);
    while d + 64 <= end {
        // SAFETY: [s, s + 64) and [d, d + 64) lie inside the two ranges; d is
        // 16-byte aligned (streaming stores need it); loads may be unaligned.
        unsafe {
            let (sp, dp) = (s as *const __m128i, d as *mut __m128i);
            let (a, b, c, e) = (
                _mm_loadu_si128(sp),
                _mm_loadu_si128(sp.add(1)),
                _mm_loadu_si128(sp.add(2)),
                _mm_loadu_si128(sp.add(3)),
            );
            _mm_stream_si128(dp, a);
            _mm_stream_si128(dp.add(1), b);
            _mm_stream_si128(dp.add(2), c);
            _mm_stream_si128(dp.add(3), e);
        }
        s += 64;
        d += 64;
    }
    // SAFETY: the remaining tail (< 64 bytes) of the two ranges.
    unsafe { std::ptr::copy_nonoverlapping(s as *const u8, d as *mut u8, end - d) }
    // SAFETY: no operands; orders the streaming stores before the stores that
    // publish the op's completion.
    unsafe { _mm_sfence() }
}

impl Drop for Mem {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: built by Box::into_raw of a boxed slice of this length.
            unsafe {
                drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.ptr as *mut u8, self.len)));
            }
        }
    }
}

/// Adds 1 to an eventfd we own.
pub fn signal(fd: i32) {
    let one: u64 = 1;
    // SAFETY: plain syscall on an fd we own; 8 readable bytes.
    let _ = unsafe { libc::write(fd, &one as *const u64 as *const c_void, 8) };
}

/// Adds 1 to an eventfd (our own dup of it) and closes it.
pub fn signal_and_close(fd: i32) {
    signal(fd);
    close_fd(fd);
}

/// dup(2) with CLOEXEC; None on failure.
pub fn dup_cloexec(fd: i32) -> Option<i32> {
    // SAFETY: plain syscall.
    let r = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    (r >= 0).then_some(r)
}

/// A new eventfd (EFD_CLOEXEC).
pub fn new_eventfd() -> Option<i32> {
    // SAFETY: plain syscall.
    let r = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    (r >= 0).then_some(r)
}

pub fn close_fd(fd: i32) {
    // SAFETY: plain syscall on an fd we own.
    unsafe {
        libc::close(fd);
    }
}

/// Lowers the timer slack of the calling thread so deadline sleeps wake on time.
pub fn low_timer_slack() {
    // SAFETY: prctl on the calling thread only.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong, 0, 0, 0);
    }
}

/// Runs `f` with the calling thread's timer slack at 1 us, then restores it (a
/// deadline sleep on a caller's thread, which may have the default 50 us).
pub fn with_low_timer_slack<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: prctl on the calling thread only.
    let old = unsafe { libc::prctl(libc::PR_GET_TIMERSLACK, 0 as libc::c_ulong, 0, 0, 0) };
    if old <= 1000 {
        return f();
    }
    low_timer_slack();
    let r = f();
    // SAFETY: as above; restores the thread's own value.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, old as libc::c_ulong, 0, 0, 0);
    }
    r
}

/// Writes all of `bytes` to fd 2 with write(2): no lock (std's stderr lock could
/// be held forever in a forked child by a thread that does not exist there); one
/// call per log line, so lines of concurrent writers do not interleave (pipes:
/// up to PIPE_BUF bytes).
pub fn write_stderr(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: plain syscall on a valid buffer.
        let n = unsafe { libc::write(2, bytes.as_ptr() as *const c_void, bytes.len()) };
        if n > 0 {
            bytes = &bytes[n as usize..];
        } else if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        } else {
            return; // stderr closed or full: drop the line
        }
    }
}

/// Pins this library in memory (RTLD_NODELETE), so that handlers registered with
/// the C library stay valid even if the program dlcloses it.
fn pin_self() {
    // SAFETY: dladdr/dlopen on our own code address; RTLD_NOLOAD opens nothing new.
    unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        if libc::dladdr(pin_self as *const c_void, &mut info) != 0 && !info.dli_fname.is_null() {
            let _ = libc::dlopen(info.dli_fname, libc::RTLD_NOW | libc::RTLD_NODELETE | libc::RTLD_NOLOAD);
        }
    }
}

extern "C" fn at_exit() {
    crate::runtime::write_report_at_exit();
}

/// True the first time for `flag`. Unlike `std::sync::Once`, nobody ever waits:
/// a fork cannot leave a child blocked on a registration a vanished thread began.
fn first_time(flag: &AtomicBool) -> bool {
    !flag.swap(true, Ordering::AcqRel)
}

/// Registers the exit-time report writer (once per process) and pins this
/// library in memory so the handler stays valid even if the program dlcloses it.
pub fn register_atexit_once() {
    static DONE: AtomicBool = AtomicBool::new(false);
    if first_time(&DONE) {
        pin_self();
        // SAFETY: atexit with a static fn.
        unsafe {
            libc::atexit(at_exit);
        }
    }
}

extern "C" fn fork_prepare() {
    crate::runtime::fork_prepare();
}
extern "C" fn fork_parent() {
    crate::runtime::fork_parent();
}
extern "C" fn fork_child() {
    crate::runtime::fork_child();
}

/// Registers the fork handlers (once per process; see `runtime::fork_prepare`)
/// and pins this library. Must not be called while holding a simulator lock:
/// pthread_atfork waits for a concurrent fork, whose prepare handler takes them.
pub fn register_atfork_once() {
    static DONE: AtomicBool = AtomicBool::new(false);
    if first_time(&DONE) {
        pin_self();
        // SAFETY: static handlers that never unwind (they only lock, unlock and reset).
        let r = unsafe { libc::pthread_atfork(Some(fork_prepare), Some(fork_parent), Some(fork_child)) };
        if r != 0 {
            log::error!("pthread_atfork failed ({r}): a forked child may inherit the parent's simulator state");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_small_large_misaligned_and_overlapping() {
        for &(len, soff, doff) in &[(0usize, 0usize, 0usize), (5, 1, 3), (STREAM_FROM, 0, 0), (STREAM_FROM + 77, 3, 9)]
        {
            let src = Mem::alloc(len + 16).unwrap();
            let data: Vec<u8> = (0..len + 16).map(|i| (i * 7 + 3) as u8).collect();
            src.write(0, &data);
            let dst = Mem::alloc(len + 16).unwrap();
            dst.view(doff, len).copy_from(&src.view(soff, len));
            let mut out = vec![0u8; len + 16];
            dst.read(0, &mut out);
            assert_eq!(&out[doff..doff + len], &data[soff..soff + len], "len {len}");
            assert!(out[..doff].iter().chain(&out[doff + len..]).all(|&b| b == 0), "len {len}: outside untouched");
        }
        // Overlapping (memmove), large: takes the plain path.
        let len = STREAM_FROM + 100;
        let m = Mem::alloc(len + 64).unwrap();
        let data: Vec<u8> = (0..len + 64).map(|i| (i * 13) as u8).collect();
        m.write(0, &data);
        m.view(64, len).copy_from(&m.view(0, len));
        let mut out = vec![0u8; len + 64];
        m.read(0, &mut out);
        assert_eq!(&out[64..], &data[..len]);
    }
}

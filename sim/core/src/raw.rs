//! The FFI edge inside the core: raw pointers handed over by C callers that the
//! simulator must use later (from a worker thread), and the few libc calls.
//! Everything unsafe in the core lives here.

use std::ffi::c_void;
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
    pub fn read(&self, dst: &mut [u8]) {
        assert_eq!(dst.len(), self.len);
        if self.len > 0 {
            // SAFETY: the caller promised validity in `new`.
            unsafe { std::ptr::copy(self.ptr as *const u8, dst.as_mut_ptr(), self.len) }
        }
    }
    pub fn write(&self, src: &[u8]) {
        assert_eq!(src.len(), self.len);
        if self.len > 0 {
            // SAFETY: the caller promised validity in `new`.
            unsafe { std::ptr::copy(src.as_ptr(), self.ptr as *mut u8, self.len) }
        }
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
    pub fn fill(&self, off: usize, len: usize, value: u8) {
        assert!(off.checked_add(len).is_some_and(|e| e <= self.len));
        if len > 0 {
            // SAFETY: bounds checked above.
            unsafe { std::ptr::write_bytes((self.ptr + off) as *mut u8, value, len) }
        }
    }
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

/// Adds 1 to an eventfd (our own dup of it) and closes it.
pub fn signal_and_close(fd: i32) {
    let one: u64 = 1;
    // SAFETY: plain syscalls on an fd we own.
    unsafe {
        let _ = libc::write(fd, &one as *const u64 as *const c_void, 8);
        libc::close(fd);
    }
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

//! The FFI edge of simulated device memory: one shared mapping of a memfd per
//! HBM bank (`runtime::devmem` sub-allocates tensors from it). A memfd, not
//! anonymous memory, so that `nrt_get_dmabuf_fd` can hand out a descriptor of
//! the same bytes. Sparse: pages exist only once touched; a freed range is
//! punched out, so it reads as zeroes again and its memory goes back.

use crate::raw::Mem;
use std::ffi::{c_void, CString};
use std::io;

pub const PAGE: usize = 4096;

pub struct Mapping {
    fd: i32,
    base: usize,
    len: usize,
}

// SAFETY: the mapping is plain shared memory and an fd; nothing is thread-bound.
unsafe impl Send for Mapping {}
// SAFETY: as above; the methods take &self and touch the bytes only through raw copies
// whose ordering the simulator provides (see raw::View).
unsafe impl Sync for Mapping {}

impl Mapping {
    /// A zeroed shared mapping of `len` bytes (a multiple of PAGE) named `name`.
    pub fn new(name: &str, len: usize) -> io::Result<Mapping> {
        let cname = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: plain syscall with a NUL-terminated name.
        let fd = unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: plain syscall on the fd just created.
        if unsafe { libc::ftruncate(fd, len as libc::off_t) } != 0 {
            let e = io::Error::last_os_error();
            crate::raw::close_fd(fd);
            return Err(e);
        }
        // SAFETY: a new shared mapping of the whole memfd; the kernel picks the address.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_NORESERVE,
                fd,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            let e = io::Error::last_os_error();
            crate::raw::close_fd(fd);
            return Err(e);
        }
        Ok(Mapping { fd, base: p as usize, len })
    }

    pub fn base(&self) -> usize {
        self.base
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn contains(&self, addr: usize, len: usize) -> bool {
        addr >= self.base && addr.checked_add(len).is_some_and(|e| e <= self.base + self.len)
    }

    /// The bytes `off..off + len` as a storage's memory (not owned: the range
    /// goes back to the bank when the storage's `DevAlloc` drops, after its Mem).
    pub fn mem(&self, off: usize, len: usize) -> Mem {
        assert!(off.checked_add(len).is_some_and(|e| e <= self.len));
        // SAFETY: the range lies inside this mapping, which outlives the Mem: the
        // storage holding the Mem also holds the bank (its DevAlloc), dropped after it.
        unsafe { Mem::attach((self.base + off) as *mut c_void, len) }
    }

    /// Faults in the pages of `off..off + len` (page multiples) now, as writing
    /// zeroes into fresh heap memory did: a tensor's first use then costs what it
    /// cost before device memory was a bank. Best effort (before Linux 5.14 the
    /// pages fault in at first touch instead).
    pub fn populate(&self, off: usize, len: usize) {
        assert!(off.is_multiple_of(PAGE) && len.is_multiple_of(PAGE) && off + len <= self.len);
        // SAFETY: advice on a range inside our own mapping; it changes no byte.
        unsafe {
            libc::madvise((self.base + off) as *mut c_void, len, libc::MADV_POPULATE_WRITE);
        }
    }

    /// Gives back the pages of `off..off + len` (page multiples): they read as
    /// zeroes afterwards.
    pub fn zero(&self, off: usize, len: usize) {
        assert!(off.is_multiple_of(PAGE) && len.is_multiple_of(PAGE) && off + len <= self.len);
        let flags = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
        // SAFETY: plain syscall on our memfd.
        let r = unsafe { libc::fallocate(self.fd, flags, off as libc::off_t, len as libc::off_t) };
        if r != 0 {
            // SAFETY: the range lies inside the mapping (asserted above) and no
            // storage uses it any more (it is being freed).
            unsafe { std::ptr::write_bytes((self.base + off) as *mut u8, 0, len) }
        }
    }

    /// A new descriptor (CLOEXEC) of this bank's memfd, owned by the caller.
    pub fn dup_fd(&self) -> Option<i32> {
        crate::raw::dup_cloexec(self.fd)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: our own mapping and fd; no storage uses them any more (each holds the bank).
        unsafe {
            libc::munmap(self.base as *mut c_void, self.len);
        }
        crate::raw::close_fd(self.fd);
    }
}

/// Copies `len` bytes from the caller's address `src` to `dst` (nrt_memcpy_to_device).
///
/// # Safety
/// `src` must be readable for `len` bytes and `dst..dst + len` must lie inside a live Mapping.
pub unsafe fn copy_in(dst: usize, src: *const c_void, len: usize) {
    if len > 0 {
        // SAFETY: this function's contract; ptr::copy allows overlap (a program may
        // copy from one device address to another).
        unsafe { std::ptr::copy(src as *const u8, dst as *mut u8, len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn sparse_zeroed_shared_and_punched() {
        let m = Mapping::new("nrt-sim-test", 1 << 34).expect("16 GiB sparse memfd mapping");
        let mem = m.mem(PAGE, PAGE);
        mem.write(0, &[7; 16]);
        let mut b = [0u8; 16];
        mem.read(0, &mut b);
        assert_eq!(b, [7; 16]);
        m.zero(PAGE, PAGE);
        mem.read(0, &mut b);
        assert_eq!(b, [0; 16]);
        let fd = m.dup_fd().unwrap();
        assert!(fd >= 0);
        crate::raw::close_fd(fd);
        assert!(m.contains(m.base(), m.len()) && !m.contains(m.base(), m.len() + 1));
    }
}

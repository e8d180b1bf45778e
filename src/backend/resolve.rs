//! Finding the real runtime's functions, never the shim's own.
//!
//! Order: `dlsym(RTLD_NEXT)` (preloaded, or linked before the runtime); if
//! that finds nothing (the runtime was opened RTLD_LOCAL, or is not loaded),
//! the handle of an already-loaded `NRT_SHIM_LIBNRT` / `libnrt.so.1`
//! (RTLD_NOLOAD), then a fresh dlopen of them. Every pointer is checked with
//! dladdr to lie outside this library.

use std::ffi::{c_void, CStr, CString};

pub struct Resolver {
    handle: *mut c_void,
    /// Where the functions come from, for logs and `nrt-shim doctor`.
    pub source: String,
}

// The handle is a process-wide loader handle, valid on any thread.
unsafe impl Send for Resolver {}
unsafe impl Sync for Resolver {}

/// The base address of the object that holds `addr`, and its path.
/// (dladdr only compares the address with the loader's tables; it never
/// dereferences it.)
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub fn object_of(addr: *const c_void) -> Option<(usize, String)> {
    // SAFETY: Dl_info is plain C data (pointers and integers): all zeroes is a valid value.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only reads the loader's tables.
    if unsafe { libc::dladdr(addr, &mut info) } == 0 || info.dli_fbase.is_null() {
        return None;
    }
    let path = if info.dli_fname.is_null() {
        String::new()
    } else {
        // SAFETY: dladdr gives a NUL-terminated path owned by the loader.
        unsafe { CStr::from_ptr(info.dli_fname) }.to_string_lossy().into_owned()
    };
    Some((info.dli_fbase as usize, path))
}

/// The base address of this library.
pub fn own_base() -> usize {
    object_of(own_base as *const c_void).map_or(0, |(b, _)| b)
}

fn outside_self(p: *mut c_void) -> bool {
    !p.is_null() && object_of(p).is_none_or(|(base, _)| base != own_base())
}

impl Resolver {
    pub fn find(configured: Option<&str>) -> Result<Resolver, String> {
        let probe = c"nrt_execute";
        // SAFETY: dlsym with a static NUL-terminated name.
        let next = unsafe { libc::dlsym(libc::RTLD_NEXT, probe.as_ptr()) };
        if outside_self(next) {
            let source = object_of(next).map_or_else(|| "RTLD_NEXT".into(), |(_, p)| p);
            return Ok(Resolver { handle: libc::RTLD_NEXT, source });
        }
        let mut tried = Vec::new();
        for name in configured.into_iter().chain(std::iter::once("libnrt.so.1")) {
            let Ok(cname) = CString::new(name) else { continue };
            for flags in [libc::RTLD_NOW | libc::RTLD_NOLOAD, libc::RTLD_NOW | libc::RTLD_LOCAL] {
                // SAFETY: dlopen of a library path; the handle is kept for the process lifetime.
                let h = unsafe { libc::dlopen(cname.as_ptr(), flags) };
                if h.is_null() {
                    continue;
                }
                // SAFETY: dlsym on a valid handle.
                let f = unsafe { libc::dlsym(h, probe.as_ptr()) };
                if outside_self(f) {
                    let source = object_of(f).map_or_else(|| name.to_string(), |(_, p)| p);
                    return Ok(Resolver { handle: h, source });
                }
            }
            tried.push(name.to_string());
        }
        Err(format!(
            "no Neuron runtime found (RTLD_NEXT, then dlopen of {}); set NRT_SHIM_LIBNRT to the path of libnrt.so.1",
            tried.join(", ")
        ))
    }

    /// The runtime's function `name` (NUL-terminated), if it has one.
    pub fn get(&self, name: &CStr) -> Option<*mut c_void> {
        // SAFETY: dlsym on the handle found above.
        let p = unsafe { libc::dlsym(self.handle, name.as_ptr()) };
        if p.is_null() {
            None
        } else if !outside_self(p) {
            log::error!("{} resolved to the shim itself; refusing it", name.to_string_lossy());
            None
        } else {
            Some(p)
        }
    }
}

/// Whether the program's own calls to `nrt_execute` reach this library.
/// None when this library is not in the global scope (opened RTLD_LOCAL and
/// called through its handle): then the question does not arise.
pub fn program_calls_reach_shim() -> Option<bool> {
    // SAFETY: dlsym with static names.
    let (ours, exec) = unsafe {
        (
            libc::dlsym(libc::RTLD_DEFAULT, c"nrt_async_shim_version".as_ptr()),
            libc::dlsym(libc::RTLD_DEFAULT, c"nrt_execute".as_ptr()),
        )
    };
    if ours.is_null() || object_of(ours).is_none_or(|(base, _)| base != own_base()) || exec.is_null() {
        return None;
    }
    Some(object_of(exec).is_some_and(|(base, _)| base == own_base()))
}

/// The loud warning when the shim is loaded but bypassed. Called from the
/// constructor (linked after the runtime, no call would ever reach the shim
/// to warn later), so it uses nothing but write(2).
pub fn warn_if_bypassed() {
    if program_calls_reach_shim() == Some(false) {
        let msg = b"nrt-async-shim: warning: the program's calls to nrt_execute do not reach nrt-async-shim \
(linked after -lnrt, or RTLD_DEEPBIND): it runs synchronously. Preload the shim (LD_PRELOAD) or link \
-lnrt_async_shim before -lnrt; see LD_PRELOAD.md\n";
        // SAFETY: writing a static buffer to stderr.
        unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
    }
}

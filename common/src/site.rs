//! Call sites, for the simulator's hazard report and the shim's stats: the
//! return address of the API call being made, as one word, captured only by
//! callers that can print it, and resolved (dl_iterate_phdr, dladdr, the
//! `addr2line` tool) only when printed.
//!
//! "This library" is the object this code is linked into (the simulator's
//! `libnrt.so.1`, or the shim). [`capture_here!`] (cheap, at an entry point)
//! and [`capture_caller`] give the first frame outside it: the program's call,
//! or, for the simulator with the shim in between, the shim's call into it.
//! [`capture`] (an unwind, microseconds) also walks past the shim's frames to
//! the program's.

use std::ffi::{c_int, c_void, CStr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

mod resolve;
pub use resolve::{addr2line_tool, describe, resolve, Resolved};

/// No site (capture off, or no frame outside the simulator).
pub const NONE: usize = 0;

const MAX_FRAMES: u32 = 64;

extern "C" {
    // The system unwinder (libgcc_s), which std links on every Linux target.
    fn _Unwind_Backtrace(trace: extern "C" fn(*mut c_void, *mut c_void) -> c_int, arg: *mut c_void) -> c_int;
    fn _Unwind_GetIP(ctx: *mut c_void) -> usize;
    fn _Unwind_GetCFA(ctx: *mut c_void) -> usize;
}

/// Address ranges of loaded objects: ours, the shim's (when it is not ours),
/// and the code of all the others (where a program's return address lies).
struct Skip {
    ours: Vec<(usize, usize)>,
    shim: Vec<(usize, usize)>,
    foreign_code: Vec<(usize, usize)>,
}

fn inside(ranges: &[(usize, usize)], pc: usize) -> bool {
    ranges.iter().any(|&(lo, hi)| lo <= pc && pc < hi)
}

/// One loaded object: its file name ("" for the program), load bias,
/// segments, and which of them hold code.
struct Object {
    name: String,
    bias: usize,
    segments: Vec<(usize, usize)>,
    code: Vec<(usize, usize)>,
}

fn objects() -> Vec<Object> {
    extern "C" fn each(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> c_int {
        // SAFETY: data is the &mut Vec<Object> passed to dl_iterate_phdr below.
        let out = unsafe { &mut *(data as *mut Vec<Object>) };
        // SAFETY: the loader passes a valid dl_phdr_info for the duration of the call.
        let info = unsafe { &*info };
        let name = if info.dlpi_name.is_null() {
            String::new()
        } else {
            // SAFETY: dlpi_name is a NUL-terminated string owned by the loader.
            unsafe { CStr::from_ptr(info.dlpi_name) }.to_string_lossy().into_owned()
        };
        let bias = info.dlpi_addr as usize;
        let (mut segments, mut code) = (Vec::new(), Vec::new());
        for i in 0..info.dlpi_phnum as usize {
            // SAFETY: dlpi_phdr points to dlpi_phnum program headers.
            let ph = unsafe { &*info.dlpi_phdr.add(i) };
            if ph.p_type == libc::PT_LOAD {
                let lo = bias + ph.p_vaddr as usize;
                segments.push((lo, lo + ph.p_memsz as usize));
                if ph.p_flags & libc::PF_X != 0 {
                    code.push((lo, lo + ph.p_memsz as usize));
                }
            }
        }
        out.push(Object { name, bias, segments, code });
        0
    }
    let mut out: Vec<Object> = Vec::new();
    // SAFETY: `each` matches the callback type and only touches `out` through data.
    unsafe { libc::dl_iterate_phdr(Some(each), &mut out as *mut Vec<Object> as *mut c_void) };
    out
}

fn skip() -> &'static Skip {
    static SKIP: OnceLock<Skip> = OnceLock::new();
    SKIP.get_or_init(|| {
        let me = capture as *const () as usize;
        let mut s = Skip { ours: Vec::new(), shim: Vec::new(), foreign_code: Vec::new() };
        for o in objects() {
            if inside(&o.segments, me) {
                s.ours = o.segments;
            } else {
                if o.name.contains("libnrt_async_shim") {
                    s.shim.extend(o.segments);
                }
                s.foreign_code.extend(o.code);
            }
        }
        s
    })
}

struct Walk {
    skip: &'static Skip,
    frames: u32,
    first_outside_ours: usize,
    /// Where that frame's return address (`first_outside_ours`) is stored.
    first_outside_slot: usize,
    site: usize,
}

extern "C" fn step(ctx: *mut c_void, arg: *mut c_void) -> c_int {
    // SAFETY: arg is the &mut Walk passed to _Unwind_Backtrace in `capture`.
    let w = unsafe { &mut *(arg as *mut Walk) };
    // SAFETY: ctx is the unwinder's context for this frame.
    let pc = unsafe { _Unwind_GetIP(ctx) };
    w.frames += 1;
    if pc == 0 || w.frames > MAX_FRAMES {
        return 1;
    }
    if inside(&w.skip.ours, pc) {
        return 0;
    }
    if w.first_outside_ours == NONE {
        w.first_outside_ours = pc;
        // The context's CFA is the callee's (as libgcc reports it while
        // backtracing): the call pushed pc just below it (x86-64).
        // SAFETY: as above.
        let cfa = unsafe { _Unwind_GetCFA(ctx) };
        w.first_outside_slot = cfa.saturating_sub(std::mem::size_of::<usize>());
    }
    if inside(&w.skip.shim, pc) {
        return 0;
    }
    w.site = pc;
    1 // stop: found
}

#[inline(never)]
fn walk() -> Walk {
    let mut w = Walk { skip: skip(), frames: 0, first_outside_ours: NONE, first_outside_slot: 0, site: NONE };
    // SAFETY: `step` matches the callback type and only touches `w` through arg.
    unsafe { _Unwind_Backtrace(step, &mut w as *mut Walk as *mut c_void) };
    w
}

/// The current API call's site in the program, past the shim's frames (a
/// return address), or NONE. Unwinds: microseconds.
pub fn capture() -> usize {
    let w = walk();
    if w.site != NONE {
        w.site
    } else {
        w.first_outside_ours
    }
}

/// The return address of the first frame outside this library, or NONE. Unwinds.
pub fn capture_caller() -> usize {
    walk().first_outside_ours
}

// ---- the cheap capture at an entry point -----------------------------------

const UNCALIBRATED: usize = usize::MAX;
const UNUSABLE: usize = usize::MAX - 1;

/// One capture point (an export's entry): where, above the stack pointer
/// read there, the return address into the caller lies, in words. The
/// layout of a function's frame at a given instruction is fixed (Rust has no
/// alloca), so it is found once with the unwinder (the entry point's CFA)
/// and then just read. x86-64 only (where a call pushes the return address
/// just below the callee's CFA); elsewhere every capture unwinds.
pub struct Point(AtomicUsize);

impl Point {
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Point {
        Point(AtomicUsize::new(UNCALIBRATED))
    }
}

impl std::fmt::Debug for Point {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Point({})", self.0.load(Ordering::Relaxed))
    }
}

/// The site of the call being made into the function that expands this
/// (an exported entry point, called by the program): a few loads once
/// calibrated (see [`Point`]). Expands to a `usize` (0: none).
#[macro_export]
macro_rules! capture_here {
    () => {{
        static POINT: $crate::site::Point = $crate::site::Point::new();
        $crate::site::capture_at($crate::site::stack_pointer!(), &POINT)
    }};
}

/// The stack pointer at the point of expansion (0 where unsupported: then
/// every capture unwinds).
#[cfg(target_arch = "x86_64")]
#[macro_export]
#[doc(hidden)]
macro_rules! stack_pointer {
    () => {{
        let sp: usize;
        // SAFETY: reads a register; touches no memory.
        unsafe { ::core::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
        sp
    }};
}

#[cfg(not(target_arch = "x86_64"))]
#[macro_export]
#[doc(hidden)]
macro_rules! stack_pointer {
    () => {
        0usize
    };
}

pub use crate::{capture_here, stack_pointer};

/// Word `i` above `sp`.
///
/// # Safety
/// `sp + 8 i` must be in the calling thread's live stack.
unsafe fn stack_word(sp: usize, i: usize) -> usize {
    // SAFETY: the caller guarantees the address is in the live stack.
    unsafe { ((sp + i * std::mem::size_of::<usize>()) as *const usize).read_volatile() }
}

/// `capture_caller`, through a calibrated point: `sp` is the stack pointer
/// read in the entry point itself. Where the slot does not hold a return
/// address into another object's code, it unwinds instead.
#[inline(never)]
pub fn capture_at(sp: usize, point: &Point) -> usize {
    let skip = skip();
    if sp == 0 {
        return capture_caller();
    }
    match point.0.load(Ordering::Relaxed) {
        UNCALIBRATED => {
            let w = walk();
            let (pc, at) = (w.first_outside_ours, w.first_outside_slot);
            if pc == NONE {
                return pc;
            }
            let word = std::mem::size_of::<usize>();
            let slot = if at >= sp && (at - sp) % word == 0 {
                let i = (at - sp) / word;
                // SAFETY: `at` is a return-address slot of a live frame of this
                // thread (the unwinder found it), above sp.
                (unsafe { stack_word(sp, i) } == pc).then_some(i)
            } else {
                None
            };
            point.0.store(slot.unwrap_or(UNUSABLE), Ordering::Relaxed);
            pc
        }
        UNUSABLE => capture_caller(),
        slot => {
            // SAFETY: calibration found a return address in this slot: it is
            // in the frame of the entry point's caller chain, live now.
            let pc = unsafe { stack_word(sp, slot) };
            if inside(&skip.foreign_code, pc) {
                pc
            } else {
                capture_caller()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn here() -> usize {
        capture()
    }

    #[test]
    fn capture_never_names_our_own_frames() {
        // In a unit test the whole test binary is "ours": the site is the
        // first frame outside it (libc's thread start), or NONE.
        assert!(inside(&skip().ours, here as *const () as usize));
        let pc = here();
        assert!(pc == NONE || !inside(&skip().ours, pc), "{pc:#x}");
    }

    #[test]
    fn the_cheap_capture_agrees_with_the_unwinder() {
        // Called from here, "ours" is the whole test binary, so the unwinder's
        // site is libc's thread start (or none); the calibrated point must
        // give the same answer on every call.
        #[inline(never)]
        fn entry() -> usize {
            capture_here!()
        }
        let first = entry();
        for _ in 0..3 {
            assert_eq!(entry(), first);
        }
    }
}

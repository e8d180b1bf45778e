//! Program call sites, for the simulator's hazard report and the shim's
//! stats: the return address, in the program, of the API call being made.
//! Captured as one word (by unwinding this library's own frames with the
//! system unwinder) only by callers that can print it, and resolved
//! (dl_iterate_phdr, dladdr, the `addr2line` tool) only when printed.
//!
//! "This library" is the object this code is linked into (the simulator's
//! `libnrt.so.1`, or the shim). The site is the first frame outside it and
//! outside `libnrt_async_shim` (so with the shim preloaded the simulator still
//! finds the program's line); when every frame is ours or the shim's (a shim
//! thread), the first frame outside this library.

use std::collections::HashMap;
use std::ffi::{c_int, c_void, CStr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// No site (capture off, or no frame outside the simulator).
pub const NONE: usize = 0;

const MAX_FRAMES: u32 = 64;

extern "C" {
    // The system unwinder (libgcc_s), which std links on every Linux target.
    fn _Unwind_Backtrace(trace: extern "C" fn(*mut c_void, *mut c_void) -> c_int, arg: *mut c_void) -> c_int;
    fn _Unwind_GetIP(ctx: *mut c_void) -> usize;
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
            } else if o.name.contains("libnrt_async_shim") {
                s.shim.extend(o.segments);
            } else {
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
    }
    if inside(&w.skip.shim, pc) {
        return 0;
    }
    w.site = pc;
    1 // stop: found
}

/// The current API call's site in the program (a return address), or NONE.
#[inline(never)]
pub fn capture() -> usize {
    let mut w = Walk { skip: skip(), frames: 0, first_outside_ours: NONE, site: NONE };
    // SAFETY: `step` matches the callback type and only touches `w` through arg.
    unsafe { _Unwind_Backtrace(step, &mut w as *mut Walk as *mut c_void) };
    if w.site != NONE {
        w.site
    } else {
        w.first_outside_ours
    }
}

// ---- the cheap capture at an entry point -----------------------------------

const UNCALIBRATED: usize = usize::MAX;
const UNUSABLE: usize = usize::MAX - 1;
/// How far above the stack pointer calibration looks for the return address.
const MAX_SLOT: usize = 1024;

/// One capture point (an export's entry): where, above the stack pointer
/// read there, the return address into the program lies, in words. The
/// layout of a function's frame at a given instruction is fixed (Rust has no
/// alloca), so it is found once with the unwinder and then just read.
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

/// The stack pointer at the point of expansion (0 where unsupported).
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

#[cfg(target_arch = "aarch64")]
#[macro_export]
#[doc(hidden)]
macro_rules! stack_pointer {
    () => {{
        let sp: usize;
        // SAFETY: reads a register; touches no memory.
        unsafe { ::core::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
        sp
    }};
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
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

/// `capture`, through a calibrated point: `sp` is the stack pointer read in
/// the entry point itself. With the shim in the way (its frames vary in
/// depth), or where the slot does not hold a return address into foreign code,
/// it unwinds instead.
#[inline(never)]
pub fn capture_at(sp: usize, point: &Point) -> usize {
    let skip = skip();
    if sp == 0 || !skip.shim.is_empty() {
        return capture();
    }
    match point.0.load(Ordering::Relaxed) {
        UNCALIBRATED => {
            let pc = capture();
            if pc == NONE {
                return pc;
            }
            // The unwinder found pc on this stack above sp (a call pushed or
            // saved it), so every word up to it is in the live stack.
            // SAFETY: see above; the scan stops at the first match.
            let slot = (0..MAX_SLOT).find(|&i| unsafe { stack_word(sp, i) } == pc);
            point.0.store(slot.unwrap_or(UNUSABLE), Ordering::Relaxed);
            pc
        }
        UNUSABLE => capture(),
        slot => {
            // SAFETY: calibration found a return address in this slot: it is
            // in the frame of the entry point's caller chain, live now.
            let pc = unsafe { stack_word(sp, slot) };
            if inside(&skip.foreign_code, pc) {
                pc
            } else {
                capture()
            }
        }
    }
}

/// A resolved site.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resolved {
    /// The object's path (the program's, from /proc/self/exe).
    pub object: String,
    /// The return address's offset in the object (what `addr2line -e OBJECT` takes, plus one).
    pub offset: usize,
    /// `symbol+0xoff` from the dynamic symbol table, or the function name from debug information.
    pub symbol: Option<String>,
    /// `file:line` from debug information (needs the `addr2line` tool): the
    /// innermost, when the call is in a function inlined into others.
    pub line: Option<String>,
    /// The `file:line`s of the calls of the inlined functions, inner to outer.
    pub inlined_from: Vec<String>,
}

impl Resolved {
    /// "main (racy.c:78) [racy+0x12af]", "nrt_x+0x1a [libfoo.so+0x3c1a]", "racy+0x12af",
    /// "read_d (common.h:262, inlined at p2.c:34, p2.c:88) [p2+0x1a2f]".
    pub fn text(&self) -> String {
        let base = self.object.rsplit('/').next().unwrap_or(&self.object);
        let at = format!("{base}+{:#x}", self.offset);
        let short = |l: &String| l.rsplit('/').next().unwrap_or(l).to_string();
        let line = self.line.as_ref().map(|l| {
            let outer: Vec<String> = self.inlined_from.iter().map(short).collect();
            if outer.is_empty() {
                format!(" ({})", short(l))
            } else {
                format!(" ({}, inlined at {})", short(l), outer.join(", "))
            }
        });
        match &self.symbol {
            Some(s) => format!("{s}{} [{at}]", line.unwrap_or_default()),
            None => format!("{at}{}", line.unwrap_or_default()),
        }
    }
}

/// The symbolizer named by environment variable `var` (default `addr2line`,
/// from PATH; empty or `none`: none).
pub fn addr2line_tool(var: &str) -> Option<String> {
    match std::env::var(var) {
        Err(_) => Some("addr2line".into()),
        Ok(s) if s.trim().is_empty() || s.trim() == "none" => None,
        Ok(s) => Some(s.trim().to_string()),
    }
}

/// What the symbolizer found: the innermost function, and the file:line of
/// each (inlined) frame, inner to outer.
#[derive(Default)]
struct Symbolized {
    func: Option<String>,
    lines: Vec<String>,
}

/// Parses `addr2line -f -i` output: (function, file:line) pairs, inner to outer.
fn parse_addr2line(text: &str) -> Symbolized {
    let rows: Vec<&str> = text.lines().collect();
    let mut s = Symbolized::default();
    for (i, pair) in rows.chunks(2).enumerate() {
        if i == 0 {
            s.func = pair.first().map(|f| f.trim()).filter(|f| !f.is_empty() && *f != "??").map(String::from);
        }
        let line = pair.get(1).map(|l| l.split(" (discriminator").next().unwrap_or(l).trim().to_string());
        match line {
            Some(l) if !l.starts_with("??") && !l.ends_with(":0") && !l.ends_with(":?") => s.lines.push(l),
            _ => break,
        }
    }
    s
}

/// Symbolizes `offset - 1` (inside the call) in `object` with the addr2line tool.
fn symbolize(tool: Option<&str>, object: &str, offset: usize) -> Symbolized {
    let Some(tool) = tool else { return Symbolized::default() };
    let out = std::process::Command::new(tool)
        .args(["-f", "-i", "-C", "-e", object, &format!("{:#x}", offset.saturating_sub(1))])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output();
    match out {
        Ok(out) => parse_addr2line(&String::from_utf8_lossy(&out.stdout)),
        Err(_) => Symbolized::default(),
    }
}

/// Resolves a site with symbolizer `tool` (see `addr2line_tool`; cached:
/// each address is resolved once per process).
pub fn resolve(pc: usize, tool: Option<&str>) -> Option<Resolved> {
    if pc == NONE {
        return None;
    }
    static CACHE: OnceLock<Mutex<HashMap<usize, Resolved>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(r) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&pc) {
        return Some(r.clone());
    }
    let o = objects().into_iter().find(|o| inside(&o.segments, pc))?;
    let object = if o.name.is_empty() {
        std::fs::read_link("/proc/self/exe").map(|p| p.display().to_string()).unwrap_or_default()
    } else {
        o.name
    };
    let offset = pc - o.bias;
    // SAFETY: Dl_info is plain data; all-zero is a valid value for dladdr to fill.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only reads the loader's tables; info is a valid out-pointer.
    let found = unsafe { libc::dladdr((pc - 1) as *const c_void, &mut info) } != 0;
    let dynsym = if found && !info.dli_sname.is_null() {
        // SAFETY: dli_sname is a NUL-terminated string owned by the loader.
        let name = unsafe { CStr::from_ptr(info.dli_sname) }.to_string_lossy().into_owned();
        Some(format!("{name}+{:#x}", pc - info.dli_saddr as usize))
    } else {
        None
    };
    let mut sym = symbolize(tool, &object, offset);
    let line = (!sym.lines.is_empty()).then(|| sym.lines.remove(0));
    let r = Resolved { object, offset, symbol: dynsym.or(sym.func), line, inlined_from: sym.lines };
    cache.lock().unwrap_or_else(|e| e.into_inner()).insert(pc, r.clone());
    Some(r)
}

/// The site as one phrase: "main (racy.c:78) [racy+0x12af]", or "an unknown site".
pub fn describe(pc: usize, tool: Option<&str>) -> String {
    match resolve(pc, tool) {
        Some(r) => r.text(),
        None => "an unknown site".into(),
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

    #[test]
    fn resolve_names_the_object_and_a_symbol() {
        // libc's write is outside this binary: resolvable through dladdr.
        let pc = libc::write as *const () as usize + 1;
        let r = resolve(pc, None).expect("libc is loaded");
        assert!(r.object.contains("libc"), "{r:?}");
        assert!(r.symbol.as_deref().is_some_and(|s| s.contains("write")), "{r:?}");
        assert!(r.text().contains("[libc"), "{}", r.text());
        assert_eq!(resolve(NONE, None), None);
        assert_eq!(describe(NONE, None), "an unknown site");
    }

    #[test]
    fn text_forms() {
        let mut r = Resolved { object: "/x/racy".into(), offset: 0x12af, ..Default::default() };
        assert_eq!(r.text(), "racy+0x12af");
        r.line = Some("/src/racy.c:78".into());
        assert_eq!(r.text(), "racy+0x12af (racy.c:78)");
        r.symbol = Some("main".into());
        assert_eq!(r.text(), "main (racy.c:78) [racy+0x12af]");
        r.inlined_from = vec!["/src/p2.c:34".into(), "/src/p2.c:88".into()];
        assert_eq!(r.text(), "main (racy.c:78, inlined at p2.c:34, p2.c:88) [racy+0x12af]");
    }

    #[test]
    fn addr2line_output() {
        let s =
            parse_addr2line("read_d\n/s/common.h:262\ncheck_outputs\n/s/p2.c:34 (discriminator 2)\nmain\n/s/p2.c:88\n");
        assert_eq!(s.func.as_deref(), Some("read_d"));
        assert_eq!(s.lines, ["/s/common.h:262", "/s/p2.c:34", "/s/p2.c:88"]);
        let s = parse_addr2line("??\n??:0\n");
        assert_eq!((s.func, s.lines.len()), (None, 0));
    }
}

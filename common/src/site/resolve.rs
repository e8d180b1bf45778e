//! Resolving a call site (see `super`): object and offset from the loader,
//! a dynamic symbol from dladdr, function and file:line (with the inlined-at
//! chain) from the `addr2line` tool. Only when a report is printed.

use super::{inside, objects, NONE};
use std::collections::HashMap;
use std::ffi::{c_void, CStr};
use std::sync::{Mutex, OnceLock};

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

//! `nrt-shim doctor [PROGRAM]`: findings about the set-up, each with a remedy.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use crate::locate;
use crate::probe;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Ok,
    Note,
    Warn,
    Problem,
}

#[derive(Debug)]
pub struct Finding {
    pub level: Level,
    pub what: String,
    pub remedy: Option<String>,
}

fn f(level: Level, what: impl Into<String>, remedy: Option<&str>) -> Finding {
    Finding { level, what: what.into(), remedy: remedy.map(str::to_string) }
}

pub fn doctor(program: Option<&Path>) -> ExitCode {
    let mut out = Vec::new();
    check_shim(&mut out);
    check_runtime(&mut out);
    check_environment(&mut out, |k| std::env::var(k).ok());
    if let Some(p) = program {
        check_program(&mut out, p);
    }
    for finding in &out {
        let tag = match finding.level {
            Level::Ok => "ok     ",
            Level::Note => "note   ",
            Level::Warn => "warn   ",
            Level::Problem => "PROBLEM",
        };
        println!("{tag} {}", finding.what);
        if let Some(r) = &finding.remedy {
            println!("        -> {r}");
        }
    }
    let problems = out.iter().filter(|f| f.level == Level::Problem).count();
    if problems > 0 {
        println!("\n{problems} problem(s) found.");
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn check_shim(out: &mut Vec<Finding>) {
    match locate::shim_lib() {
        Ok(p) => out.push(f(Level::Ok, format!("shim: {}", p.display()), None)),
        Err(e) => out.push(f(Level::Problem, "shim: not found", Some(&e))),
    }
}

fn describe(p: &probe::Probe) -> String {
    let detail = if p.detail.is_empty() { String::new() } else { format!(" ({})", p.detail) };
    format!("version {}{detail}; nrta_* generation {}", p.version, p.generation())
}

fn check_runtime(out: &mut Vec<Finding>) {
    match locate::system_runtime() {
        Some(found) => {
            let real = found.path.canonicalize().unwrap_or(found.path.clone());
            out.push(f(
                if found.on_loader_path { Level::Ok } else { Level::Warn },
                format!("runtime: {} (from {}{})", found.path.display(), found.source, if real != found.path { format!(", the file {}", real.display()) } else { String::new() }),
                (!found.on_loader_path).then_some(
                    "the loader does not search it by itself: add it to LD_LIBRARY_PATH or /etc/ld.so.conf.d/ and run ldconfig (`nrt-shim run` adds it for you)",
                ),
            ));
            match probe::probe(&found.path) {
                Ok(p) if p.is_shim => out.push(f(
                    Level::Problem,
                    format!("{} is nrt-async-shim, not the runtime", found.path.display()),
                    Some("remove the shim from where the runtime should be; install it under its own name (`cargo xtask install`)"),
                )),
                Ok(p) => {
                    let sim = p.detail.contains("nrt-sim");
                    out.push(f(
                        if p.execute_schedule { Level::Ok } else { Level::Warn },
                        format!("runtime {}: {}", if sim { "(the simulator)" } else { "" }, describe(&p)).replace("runtime : ", "runtime: "),
                        (!p.execute_schedule).then_some(
                            "this runtime has no explicit async API (before SDK 2.28): the shim passes every call through; upgrade the runtime to gain overlap",
                        ),
                    ));
                }
                Err(e) => out.push(f(
                    Level::Problem,
                    format!("runtime: {} cannot be loaded: {e}", found.path.display()),
                    Some("check the Neuron SDK installation (`ldd` on the library shows missing dependencies)"),
                )),
            }
        }
        None => out.push(f(
            Level::Note,
            "runtime: no libnrt.so.1 installed (not on LD_LIBRARY_PATH, not in the ldconfig cache, not in /opt/aws/neuron/lib)",
            Some("`nrt-shim run` uses the simulator; on a Neuron machine install the runtime (aws-neuronx-runtime-lib)"),
        )),
    }
    match locate::sim_root() {
        Ok(root) => {
            for (abi, dir) in [(3, "lib"), (2, "lib-v2")] {
                let lib = root.join(dir).join(locate::RUNTIME);
                if !lib.exists() {
                    continue;
                }
                match probe::probe(&lib) {
                    Ok(p) => {
                        out.push(f(Level::Ok, format!("simulator v{abi}: {}: {}", lib.display(), describe(&p)), None))
                    }
                    Err(e) => out.push(f(
                        Level::Warn,
                        format!("simulator v{abi}: {} cannot be loaded: {e}", lib.display()),
                        Some("rebuild it: `cargo xtask sim --release`"),
                    )),
                }
            }
        }
        Err(e) => out.push(f(Level::Note, "simulator: not found", Some(&e))),
    }
}

pub fn check_environment(out: &mut Vec<Finding>, var: impl Fn(&str) -> Option<String>) {
    if let Some(v) = var("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS") {
        out.push(f(
            Level::Warn,
            format!("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS={v} is set: SDK 2.31+ runtimes ignore it (every execution is synchronous), SDK 2.28-2.30 runtimes refuse every nrta_* call while it is set; the shim takes it as its in-flight depth and removes it"),
            Some(&format!("unset it and use NRT_SHIM_MAX_INFLIGHT={v} (`nrt-shim run --max-inflight {v}`)")),
        ));
    }
    if let Some(v) = var("LD_PRELOAD").filter(|v| v.contains("nrt_async_shim")) {
        out.push(f(
            Level::Note,
            format!("LD_PRELOAD already names the shim ({v}): every program started from here preloads it"),
            None,
        ));
    }
    if let Some(v) = var("NRT_SHIM_MODE").filter(|v| v != "async") {
        out.push(f(
            Level::Note,
            format!("NRT_SHIM_MODE={v}: the shim does not overlap work in this mode"),
            Some("unset it (default async) for pipelining"),
        ));
    }
    for (k, what) in [
        ("NRT_SHIM_ASYNC_ABI", "forces the nrta_* generation instead of detecting it"),
        ("NRT_SHIM_LIBNRT", "names the runtime the shim dlopens when RTLD_NEXT finds none"),
        ("NRT_SHIM_TEST_PANIC", "makes the shim panic on purpose (tests only)"),
    ] {
        if let Some(v) = var(k) {
            out.push(f(Level::Note, format!("{k}={v} {what}"), Some(&format!("unset {k} unless you mean it"))));
        }
    }
}

/// The `NEEDED` entries and `RPATH`/`RUNPATH` of an ELF file, from `readelf -d`.
#[derive(Debug, Default, PartialEq)]
pub struct Dynamic {
    pub needed: Vec<String>,
    pub rpath: Option<String>,
    pub runpath: Option<String>,
}

pub fn parse_readelf(text: &str) -> Option<Dynamic> {
    if !text.contains("Dynamic section") {
        return None;
    }
    let mut d = Dynamic::default();
    let bracket = |line: &str| line.split_once('[').and_then(|(_, r)| r.rsplit_once(']')).map(|(v, _)| v.to_string());
    for line in text.lines() {
        if line.contains("(NEEDED)") {
            d.needed.extend(bracket(line));
        } else if line.contains("(RPATH)") {
            d.rpath = bracket(line);
        } else if line.contains("(RUNPATH)") {
            d.runpath = bracket(line);
        }
    }
    Some(d)
}

/// `libX.so => /path` lines of `ldd`: (name, resolved path or None for "not found").
pub fn parse_ldd(text: &str) -> Vec<(String, Option<PathBuf>)> {
    text.lines()
        .filter_map(|line| {
            let (name, rest) = line.trim().split_once(" => ")?;
            let rest = rest.trim();
            if rest.starts_with("not found") {
                return Some((name.to_string(), None));
            }
            let path = rest.split(" (").next()?.trim();
            Some((name.to_string(), (!path.is_empty()).then(|| PathBuf::from(path))))
        })
        .collect()
}

/// The findings about a program's dynamic section, given what `ldd` resolved and
/// whether it imports `dlopen`.
pub fn program_findings(
    name: &str,
    d: &Dynamic,
    ldd: &[(String, Option<PathBuf>)],
    imports_dlopen: bool,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let is_nrt = |n: &str| n == "libnrt.so.1" || n == "libnrt.so";
    let is_shim = |n: &str| n.starts_with("libnrt_async_shim.so");
    let nrt = d.needed.iter().position(|n| is_nrt(n));
    let shim = d.needed.iter().position(|n| is_shim(n));
    let order = d.needed.join(", ");
    match (nrt, shim) {
        (Some(n), Some(s)) if s < n => out.push(f(
            Level::Ok,
            format!("{name}: linked with the shim before the runtime (NEEDED: {order}): the shim is active without preloading"),
            None,
        )),
        (Some(_), Some(_)) => out.push(f(
            Level::Problem,
            format!("{name}: linked with the shim AFTER the runtime (NEEDED: {order}): its calls bind to libnrt.so.1 and the shim is bypassed"),
            Some("relink with -lnrt_async_shim before -lnrt, or preload it: `nrt-shim run -- PROGRAM`"),
        )),
        (Some(_), None) => out.push(f(
            Level::Ok,
            format!("{name}: links libnrt.so.1 (NEEDED: {order}): preloading puts the shim in front"),
            Some("`nrt-shim run -- PROGRAM`, or LD_PRELOAD=/path/libnrt_async_shim.so"),
        )),
        (None, Some(_)) => out.push(f(
            Level::Note,
            format!("{name}: links the shim but not libnrt.so.1 (NEEDED: {order}): the shim finds the runtime itself"),
            None,
        )),
        (None, None) => {
            let via = ldd.iter().find(|(n, _)| is_nrt(n));
            if let Some((_, path)) = via {
                out.push(f(
                    Level::Ok,
                    format!(
                        "{name}: reaches libnrt.so.1 through another library ({}): preloading puts the shim in front",
                        path.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "not found".into())
                    ),
                    Some("`nrt-shim run -- PROGRAM`"),
                ));
            } else if imports_dlopen {
                out.push(f(
                    Level::Warn,
                    format!("{name}: does not link libnrt.so.1 and calls dlopen: it probably loads the runtime by handle; calls it looks up with dlsym(handle, ...) bypass the shim and run synchronously"),
                    Some("a limit of preloading (LD_PRELOAD.md, Limits): link the program with -lnrt, or look functions up with dlsym(RTLD_DEFAULT, ...)"),
                ));
            } else {
                out.push(f(
                    Level::Note,
                    format!("{name}: uses neither libnrt.so.1 nor dlopen (a launcher or a script?)"),
                    Some("check the program it starts: `nrt-shim doctor THAT_PROGRAM`"),
                ));
            }
        }
    }
    if ldd.iter().any(|(n, p)| is_nrt(n) && p.is_none()) {
        out.push(f(
            Level::Warn,
            format!("{name}: the loader finds no libnrt.so.1 for it: run directly, it fails to start"),
            Some("install the runtime or set LD_LIBRARY_PATH; to try it without a device: `nrt-shim run --sim -- PROGRAM`"),
        ));
    }
    if let Some(r) = &d.rpath {
        out.push(f(
            Level::Note,
            format!("{name}: has DT_RPATH {r}, searched before LD_LIBRARY_PATH"),
            Some("if it holds a libnrt.so.1, `--sim` cannot replace it; relink with --enable-new-dtags (RUNPATH)"),
        ));
    }
    out
}

fn check_program(out: &mut Vec<Finding>, program: &Path) {
    let name = program.display().to_string();
    if !program.is_file() {
        out.push(f(Level::Problem, format!("{name}: no such file"), Some("give the program's path")));
        return;
    }
    let readelf = Command::new("readelf").arg("-dW").arg(program).output();
    let Ok(readelf) = readelf else {
        out.push(f(Level::Warn, "readelf is not installed: cannot check the program", Some("install binutils")));
        return;
    };
    let text = String::from_utf8_lossy(&readelf.stdout);
    let Some(d) = parse_readelf(&text) else {
        let remedy = if readelf.status.success() {
            "a statically linked program cannot be preloaded into: link it dynamically against libnrt.so.1"
        } else {
            "give a dynamically linked ELF program (for a script, the program it runs)"
        };
        out.push(f(
            Level::Problem,
            format!("{name}: no dynamic section (not a dynamically linked ELF program)"),
            Some(remedy),
        ));
        return;
    };
    let ldd = Command::new("ldd")
        .arg(program)
        .output()
        .map(|o| parse_ldd(&String::from_utf8_lossy(&o.stdout)))
        .unwrap_or_default();
    let syms = Command::new("readelf").arg("--dyn-syms").arg("-W").arg(program).output();
    let imports_dlopen = syms
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.split_whitespace().nth(7).is_some_and(|s| s.starts_with("dlopen")))
        })
        .unwrap_or(false);
    out.extend(program_findings(&name, &d, &ldd, imports_dlopen));
}

#[cfg(test)]
mod tests {
    use super::*;

    const READELF: &str = "\nDynamic section at offset 0x2dc8 contains 28 entries:\n  Tag        Type                         Name/Value\n 0x0000000000000001 (NEEDED)             Shared library: [libnrt.so.1]\n 0x0000000000000001 (NEEDED)             Shared library: [libnrt_async_shim.so.1]\n 0x0000000000000001 (NEEDED)             Shared library: [libc.so.6]\n 0x000000000000001d (RUNPATH)            Library runpath: [/opt/x]\n";

    #[test]
    fn readelf_and_ldd_are_parsed() {
        let d = parse_readelf(READELF).unwrap();
        assert_eq!(d.needed, ["libnrt.so.1", "libnrt_async_shim.so.1", "libc.so.6"]);
        assert_eq!(d.runpath.as_deref(), Some("/opt/x"));
        assert_eq!(d.rpath, None);
        assert!(parse_readelf("There is no dynamic section in this file.").is_none());
        let ldd = parse_ldd(
            "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibnrt.so.1 => not found\n\tlibc.so.6 => /lib/libc.so.6 (0x7f)\n",
        );
        assert_eq!(
            ldd,
            vec![("libnrt.so.1".to_string(), None), ("libc.so.6".to_string(), Some(PathBuf::from("/lib/libc.so.6")))]
        );
    }

    #[test]
    fn shim_linked_after_the_runtime_is_a_problem() {
        let d = parse_readelf(READELF).unwrap();
        let found = program_findings("app", &d, &[], false);
        assert_eq!(found[0].level, Level::Problem);
        assert!(found[0].what.contains("AFTER"));
        assert!(found[0].remedy.as_ref().unwrap().contains("before -lnrt"));
    }

    #[test]
    fn link_orders_and_loading_by_handle() {
        let d =
            |needed: &[&str]| Dynamic { needed: needed.iter().map(|s| s.to_string()).collect(), ..Default::default() };
        assert_eq!(
            program_findings("a", &d(&["libnrt_async_shim.so.1", "libnrt.so.1"]), &[], false)[0].level,
            Level::Ok
        );
        assert_eq!(program_findings("a", &d(&["libnrt.so.1", "libc.so.6"]), &[], false)[0].level, Level::Ok);
        let by_handle = program_findings("a", &d(&["libc.so.6"]), &[], true);
        assert_eq!(by_handle[0].level, Level::Warn);
        assert!(by_handle[0].what.contains("by handle"));
        let not_found = program_findings("a", &d(&["libnrt.so.1"]), &[("libnrt.so.1".into(), None)], false);
        assert!(not_found.iter().any(|f| f.level == Level::Warn && f.remedy.as_ref().unwrap().contains("--sim")));
    }

    #[test]
    fn stray_legacy_variable_has_a_remedy() {
        let mut out = Vec::new();
        check_environment(&mut out, |k| (k == "NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS").then(|| "3".to_string()));
        assert_eq!(out.len(), 1);
        assert!(out[0].remedy.as_ref().unwrap().contains("NRT_SHIM_MAX_INFLIGHT=3"));
    }
}

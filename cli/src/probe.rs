//! Looking inside a runtime library: `nrt-shim probe LIB` (hidden) loads it in its own
//! process and prints what it says; `probe()` runs that child under a watchdog, so a
//! library that crashes or hangs at load cannot take `doctor` with it.

use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

#[repr(C)]
struct NrtVersion {
    rt_major: u64,
    rt_minor: u64,
    rt_patch: u64,
    rt_maintenance: u64,
    rt_detail: [u8; 128],
    git_hash: [u8; 64],
}

type GetVersion = unsafe extern "C" fn(*mut NrtVersion, usize) -> u32;

fn c_text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// The child's side: prints `key: value` lines.
pub fn probe_here(library: &Path) -> ExitCode {
    let Ok(name) = CString::new(library.as_os_str().as_bytes()) else {
        println!("error: bad path");
        return ExitCode::from(1);
    };
    // SAFETY: dlopen/dlsym/dlerror with valid NUL-terminated strings; the handle is kept
    // open until the process exits.
    unsafe {
        let handle = libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
        if handle.is_null() {
            let err = libc::dlerror();
            let msg = if err.is_null() { "unknown".into() } else { CStr::from_ptr(err).to_string_lossy().into_owned() };
            println!("error: {msg}");
            return ExitCode::from(1);
        }
        let has = |sym: &str| {
            let s = CString::new(sym).unwrap();
            !libc::dlsym(handle, s.as_ptr()).is_null()
        };
        for sym in ["nrta_execute_schedule", "nrta_is_completed", "nrta_error_tracker_create", "nrt_async_shim_version"]
        {
            println!("{sym}: {}", if has(sym) { "yes" } else { "no" });
        }
        let sym = CString::new("nrt_get_version").unwrap();
        let f = libc::dlsym(handle, sym.as_ptr());
        if f.is_null() {
            println!("version: (no nrt_get_version)");
        } else {
            let get: GetVersion = std::mem::transmute::<*mut libc::c_void, GetVersion>(f);
            let mut v: NrtVersion = std::mem::zeroed();
            let st = get(&mut v, std::mem::size_of::<NrtVersion>());
            if st == 0 {
                println!("version: {}.{}.{}.{}", v.rt_major, v.rt_minor, v.rt_patch, v.rt_maintenance);
                println!("detail: {}", c_text(&v.rt_detail));
                println!("git_hash: {}", c_text(&v.git_hash));
            } else {
                println!("version: (nrt_get_version returned status {st})");
            }
        }
    }
    ExitCode::SUCCESS
}

/// What a library reported.
#[derive(Debug, Default, Clone)]
pub struct Probe {
    pub version: String,
    pub detail: String,
    pub execute_schedule: bool,
    pub is_completed: bool,
    /// `nrta_error_tracker_create` exists only in the v2 generation.
    pub error_tracker: bool,
    pub is_shim: bool,
}

impl Probe {
    pub fn generation(&self) -> &'static str {
        match (self.execute_schedule, self.error_tracker) {
            (false, _) => "none (no nrta_execute_schedule: the shim passes every call through)",
            (true, true) => "v2 (SDK 2.28: nrta_error_tracker_create present)",
            (true, false) => "v3 (SDK 2.29+: no nrta_error_tracker_create)",
        }
    }

    pub fn parse(text: &str) -> Result<Probe, String> {
        let mut p = Probe::default();
        for line in text.lines() {
            let Some((k, v)) = line.split_once(": ") else { continue };
            let yes = v == "yes";
            match k {
                "error" => return Err(v.to_string()),
                "version" => p.version = v.to_string(),
                "detail" => p.detail = v.to_string(),
                "nrta_execute_schedule" => p.execute_schedule = yes,
                "nrta_is_completed" => p.is_completed = yes,
                "nrta_error_tracker_create" => p.error_tracker = yes,
                "nrt_async_shim_version" => p.is_shim = yes,
                _ => {}
            }
        }
        Ok(p)
    }
}

/// Loads `library` in a child process (10 s watchdog) and reports what it says.
pub fn probe(library: &Path) -> Result<Probe, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find nrt-shim itself: {e}"))?;
    let mut child = Command::new(exe)
        .arg("probe")
        .arg(library)
        .env_remove("LD_PRELOAD")
        .env_remove("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS")
        .env("NRT_SIM_LOG", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the probe: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("loading it did not finish within 10 s".into());
            }
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() && !text.contains("error: ") {
        return Err(format!("loading it failed ({})", out.status));
    }
    Probe::parse(&text)
}

//! Test harness for the nrt-sim C ABI: typed dlopen tables (signatures checked
//! at compile time against nrt-sys), a child-process runner with a watchdog,
//! and small helpers.
#![allow(dead_code, clippy::missing_safety_doc)]

use nrt_sys::v2::nrta_error_tracker_t;
use nrt_sys::*;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

macro_rules! api {
    ($table:ident, $sys:ident ; $( $name:ident : fn($($ty:ty),*) $(-> $ret:ty)? ;)*) => {
        pub struct $table { $(pub $name: unsafe extern "C" fn($($ty),*) $(-> $ret)?,)* }
        $( const _: unsafe extern "C" fn($($ty),*) $(-> $ret)? = $sys::$name; )*
        impl $table {
            /// # Safety
            /// `h` must be a live dlopen handle of a library whose exports have these signatures.
            pub unsafe fn load(h: *mut c_void) -> $table {
                $table { $($name: {
                    // SAFETY: h is a live dlopen handle (this function's contract).
                    let p = unsafe { sym(h, stringify!($name)) };
                    // SAFETY: p is non-NULL (sym asserts it) and the library's export of this
                    // name has this signature: the const above checks it against nrt-sys.
                    unsafe { std::mem::transmute::<*mut c_void, unsafe extern "C" fn($($ty),*) $(-> $ret)?>(p) }
                },)* }
            }
        }
    };
}

/// # Safety
/// `h` must be a live dlopen handle.
pub unsafe fn sym(h: *mut c_void, name: &str) -> *mut c_void {
    let c = CString::new(name).unwrap();
    // SAFETY: h is a live handle (this function's contract) and c is NUL-terminated.
    let p = unsafe { libc::dlsym(h, c.as_ptr()) };
    assert!(!p.is_null(), "symbol {name} missing from the library");
    p
}

use nrt_sys as sys3;
use nrt_sys::v2 as sys2;

api!(Common, sys3;
    nrt_init: fn(nrt_framework_type_t, *const c_char, *const c_char) -> NRT_STATUS;
    nrt_close: fn();
    nrt_get_version: fn(*mut nrt_version_t, usize) -> NRT_STATUS;
    nrt_get_status_as_str: fn(NRT_STATUS) -> *const c_char;
    nrt_get_total_vnc_count: fn(*mut u32) -> NRT_STATUS;
    nrt_get_visible_vnc_count: fn(*mut u32) -> NRT_STATUS;
    nrt_get_total_nc_count: fn(*mut u32) -> NRT_STATUS;
    nrt_get_visible_nc_count: fn(*mut u32) -> NRT_STATUS;
    nrt_load: fn(*const c_void, usize, i32, i32, *mut *mut nrt_model_t) -> NRT_STATUS;
    nrt_load_collectives: fn(*const c_void, usize, i32, i32, u32, u32, *mut *mut nrt_model_t) -> NRT_STATUS;
    nrt_unload: fn(*mut nrt_model_t) -> NRT_STATUS;
    nrt_get_model_vnc_count: fn(*const nrt_model_t, *mut u32) -> NRT_STATUS;
    nrt_get_model_info: fn(*const nrt_model_t, *mut nrt_model_info_t, usize, *mut usize) -> NRT_STATUS;
    nrt_get_model_tensor_info: fn(*mut nrt_model_t, *mut *mut nrt_tensor_info_array_t) -> NRT_STATUS;
    nrt_free_model_tensor_info: fn(*mut nrt_tensor_info_array_t) -> NRT_STATUS;
    nrt_allocate_tensor_set: fn(*mut *mut nrt_tensor_set_t) -> NRT_STATUS;
    nrt_destroy_tensor_set: fn(*mut *mut nrt_tensor_set_t);
    nrt_add_tensor_to_tensor_set: fn(*mut nrt_tensor_set_t, *const c_char, *mut nrt_tensor_t) -> NRT_STATUS;
    nrt_get_tensor_from_tensor_set: fn(*mut nrt_tensor_set_t, *const c_char, *mut *mut nrt_tensor_t) -> NRT_STATUS;
    nrt_execute: fn(*mut nrt_model_t, *const nrt_tensor_set_t, *mut nrt_tensor_set_t) -> NRT_STATUS;
    nrt_execute_repeat: fn(*mut nrt_model_t, *const nrt_tensor_set_t, *mut nrt_tensor_set_t, c_int) -> NRT_STATUS;
    nrt_tensor_allocate: fn(nrt_tensor_placement_t, c_int, usize, *const c_char, *mut *mut nrt_tensor_t) -> NRT_STATUS;
    nrt_tensor_free: fn(*mut *mut nrt_tensor_t);
    nrt_tensor_read: fn(*const nrt_tensor_t, *mut c_void, usize, usize) -> NRT_STATUS;
    nrt_tensor_write: fn(*mut nrt_tensor_t, *const c_void, usize, usize) -> NRT_STATUS;
    nrt_tensor_copy: fn(*const nrt_tensor_t, usize, *mut nrt_tensor_t, usize, usize) -> NRT_STATUS;
    nrt_tensor_get_size: fn(*const nrt_tensor_t) -> usize;
    nrt_tensor_memset: fn(*mut nrt_tensor_t, u64, c_int, usize) -> NRT_STATUS;
    nrt_tensor_allocate_empty: fn(*const c_char, *mut *mut nrt_tensor_t) -> NRT_STATUS;
    nrt_tensor_attach_buffer: fn(*mut nrt_tensor_t, *mut c_void, usize) -> NRT_STATUS;
    nrt_tensor_allocate_slice: fn(*const nrt_tensor_t, usize, usize, *const c_char, *mut *mut nrt_tensor_t) -> NRT_STATUS;
    nrt_tensor_get_va: fn(*const nrt_tensor_t) -> *mut c_void;
    nrt_tensor_read_batch: fn(*const nrt_tensor_batch_t, u64, bool) -> NRT_STATUS;
    nrt_tensor_write_batch: fn(*const nrt_tensor_batch_t, u64, bool) -> NRT_STATUS;
    nrt_tensor_get_device_allocation_info: fn(*const nrt_tensor_t, *mut nrt_tensor_device_allocation_info_t) -> NRT_STATUS;
    nrt_tensor_check_output_completion: fn(*const nrt_tensor_t, i64, u64) -> NRT_STATUS;
    nrt_tensor_reset_output_completion: fn(*mut nrt_tensor_t) -> NRT_STATUS;
    nrt_register_async_exec_callback: fn(NRT_ASYNC_EXEC_STATUS_CALLBACK, *mut c_void) -> NRT_STATUS;
    nrt_async_drain_queued_execs: fn(i32) -> NRT_STATUS;
    nrta_is_completed: fn(nrta_seq_t, *mut bool) -> NRT_STATUS;
    nrta_cc_prepare: fn(*mut nrt_cc_comm_t, *mut nrt_tensor_list_t, *mut nrt_tensor_list_t, nrt_dtype_t, nrt_op_type_t, nrt_cc_op_type_t, *mut *mut nrt_cc_context_t) -> NRT_STATUS;
);

api!(V3, sys3;
    nrta_execute_schedule: fn(*mut nrt_model_t, *mut nrt_tensor_set_t, *mut nrt_tensor_set_t, u32, *mut NRT_STATUS, *mut nrta_seq_t) -> NRT_STATUS;
    nrta_tensor_write: fn(*mut nrt_tensor_t, *mut c_void, u64, u64, u32, u32, *mut NRT_STATUS, *mut nrta_seq_t) -> NRT_STATUS;
    nrta_tensor_read: fn(*mut c_void, *mut nrt_tensor_t, u64, u64, u32, u32, *mut NRT_STATUS, *mut nrta_seq_t) -> NRT_STATUS;
    nrta_tensor_copy: fn(*mut nrt_tensor_t, u64, *mut nrt_tensor_t, u64, u64, u32, u32, *mut NRT_STATUS, *mut nrta_seq_t) -> NRT_STATUS;
    nrta_cc_schedule: fn(*mut *mut nrt_cc_context_t, u32, *mut c_void, *mut nrta_seq_t) -> NRT_STATUS;
    nrta_get_sequence: fn(u32, nrta_xu_t, c_int, *mut nrta_seq_t) -> NRT_STATUS;
    nrta_event_register_seq_id_completion: fn(nrta_seq_t, c_int) -> NRT_STATUS;
    nrta_event_register_xu_completion: fn(u32, nrta_xu_t, c_int, c_int) -> NRT_STATUS;
);

api!(V2, sys2;
    nrta_execute_schedule: fn(*mut nrt_model_t, *const nrt_tensor_set_t, *mut nrt_tensor_set_t, c_int, *mut nrta_error_tracker_t, *mut nrta_seq_t) -> NRT_STATUS;
    nrta_tensor_write: fn(*mut nrt_tensor_t, *const c_void, u64, u64, c_int, *mut nrta_error_tracker_t, *mut nrta_seq_t) -> NRT_STATUS;
    nrta_tensor_read: fn(*mut c_void, *mut nrt_tensor_t, u64, u64, c_int, *mut nrta_error_tracker_t, *mut nrta_seq_t) -> NRT_STATUS;
    nrta_tensor_copy: fn(*mut nrt_tensor_t, u64, *mut nrt_tensor_t, u64, u64, c_int, *mut nrta_error_tracker_t, *mut nrta_seq_t) -> NRT_STATUS;
    nrta_cc_schedule: fn(*mut *mut nrt_cc_context_t, c_int, *mut nrta_error_tracker_t, *mut nrta_seq_t) -> NRT_STATUS;
    nrta_get_sequence: fn(u32, nrta_xu_t, c_int, *mut nrta_seq_t) -> NRT_STATUS;
    nrta_get_completion_handle: fn(nrta_seq_t, *mut c_int) -> NRT_STATUS;
    nrta_error_tracker_create: fn(u32, *mut *mut nrta_error_tracker_t) -> NRT_STATUS;
    nrta_error_tracker_destroy: fn(*mut nrta_error_tracker_t);
    nrta_error_tracker_get_list: fn(*mut nrta_error_tracker_t, *mut *const nrta_error_t, *mut usize) -> NRT_STATUS;
);

// ------------------------------------------------------------------ locating the libraries

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gen {
    V3,
    V2,
}

/// target/<profile>/ from the test executable's path (target/<profile>/deps/<exe>).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(|d| d.parent()).unwrap().to_path_buf()
}

/// The library of generation `g`: the newer of `target/<profile>/<lib>` (left by
/// `cargo build`) and `target/<profile>/deps/<lib>` (left by `cargo test`, which
/// builds the cdylib through the package's rlib crate type but does not copy it up).
pub fn lib_path(g: Gen) -> PathBuf {
    let name = match g {
        Gen::V3 => "libnrt_sim.so",
        Gen::V2 => "libnrt_sim_v2.so",
    };
    let dir = profile_dir();
    let candidates = [dir.join(name), dir.join("deps").join(name)];
    let newest = candidates
        .iter()
        .filter_map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok().map(|t| (t, p.clone())))
        .max_by_key(|(t, _)| *t);
    match newest {
        Some((_, p)) => p,
        None => panic!(
            "{} is missing: build both simulator libraries first (cargo test --workspace, or cargo build -p nrt-sim -p nrt-sim-v2)",
            candidates[0].display()
        ),
    }
}

pub fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

// ------------------------------------------------------------------ child processes

/// A model of one 64-byte input and output that takes `us` microseconds.
pub fn slow(us: u64) -> String {
    format!("nrt-sim-model 1\nname slow\nlatency_us {us}\ninput x 64\noutput y 64\ncompute affine 1 1\n")
}

pub const SCENARIO_VAR: &str = "NRT_SIM_TEST_SCENARIO";
pub const LIB_VAR: &str = "NRT_SIM_TEST_LIB";

pub struct Output {
    pub stdout: String,
    pub stderr: String,
    /// The child's `report_path()` file, if it left one (read before its directory is removed).
    pub report: Option<String>,
}

/// Runs `scenario` in a child process (the test binary re-executed) against the
/// library of generation `g`, with `env`; kills it and fails after `timeout_s`.
pub fn run(scenario: &str, g: Gen, env: &[(&str, &str)], timeout_s: u64) -> Output {
    let lib = lib_path(g);
    // Unique per run: two tests may run the same scenario at once.
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("nrt-sim-test-{}-{n}-{scenario}-{:?}", std::process::id(), g));
    std::fs::create_dir_all(&dir).unwrap();
    let out_p = dir.join("stdout");
    let err_p = dir.join("stderr");
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env(SCENARIO_VAR, scenario)
        .env(LIB_VAR, &lib)
        .env("NRT_SIM_TEST_DIR", &dir)
        .env_remove("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS")
        .env_remove("NEURON_RT_MAP_HBM")
        .stdout(std::fs::File::create(&out_p).unwrap())
        .stderr(std::fs::File::create(&err_p).unwrap());
    for (k, _) in std::env::vars() {
        if k.starts_with("NRT_SIM_") && k != "NRT_SIM_LOG" {
            cmd.env_remove(&k);
        }
    }
    cmd.env(SCENARIO_VAR, scenario).env(LIB_VAR, &lib).env("NRT_SIM_TEST_DIR", &dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("cannot start the child process");
    let deadline = Instant::now() + Duration::from_secs(timeout_s);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let o = Output {
        stdout: std::fs::read_to_string(&out_p).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_p).unwrap_or_default(),
        report: std::fs::read_to_string(dir.join(REPORT_FILE)).ok(),
    };
    let _ = std::fs::remove_dir_all(&dir);
    match status {
        None => panic!(
            "scenario {scenario} ({g:?}) hung: killed after {timeout_s}s\n--- stdout\n{}\n--- stderr\n{}",
            o.stdout, o.stderr
        ),
        Some(st) if !st.success() => {
            panic!("scenario {scenario} ({g:?}) failed: {st}\n--- stdout\n{}\n--- stderr\n{}", o.stdout, o.stderr)
        }
        Some(_) => {}
    }
    assert!(
        o.stdout.contains(&format!("scenario {scenario} passed")),
        "scenario {scenario} did not run:\n{}",
        o.stdout
    );
    o
}

// ------------------------------------------------------------------ the child's view of the library

pub struct Lib {
    pub handle: *mut c_void,
    pub c: Common,
    pub v3: Option<V3>,
    pub v2: Option<V2>,
}

// SAFETY: the table holds a dlopen handle and function pointers, usable from any thread.
unsafe impl Sync for Lib {}
unsafe impl Send for Lib {}

impl Lib {
    pub fn open() -> Lib {
        let path = std::env::var(LIB_VAR).expect("child without library path");
        let cp = CString::new(path.clone()).unwrap();
        unsafe {
            let h = libc::dlopen(cp.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
            assert!(!h.is_null(), "dlopen {path} failed");
            let c = Common::load(h);
            let v2_marker = libc::dlsym(h, c"nrta_error_tracker_create".as_ptr());
            let (v3, v2) = if v2_marker.is_null() { (Some(V3::load(h)), None) } else { (None, Some(V2::load(h))) };
            Lib { handle: h, c, v3, v2 }
        }
    }
    pub fn has(&self, name: &str) -> bool {
        let c = CString::new(name).unwrap();
        unsafe { !libc::dlsym(self.handle, c.as_ptr()).is_null() }
    }
    pub fn v3(&self) -> &V3 {
        self.v3.as_ref().expect("not the v3 library")
    }
    pub fn v2(&self) -> &V2 {
        self.v2.as_ref().expect("not the v2 library")
    }

    pub fn init(&self) {
        assert_eq!(unsafe { (self.c.nrt_init)(NRT_FRAMEWORK_TYPE_NO_FW, c"2.0".as_ptr(), c"".as_ptr()) }, NRT_SUCCESS);
    }
    pub fn close(&self) {
        unsafe { (self.c.nrt_close)() }
    }
    pub fn load_text(&self, text: &str, vnc: i32) -> Result<*mut nrt_model_t, NRT_STATUS> {
        let mut m = std::ptr::null_mut();
        let st = unsafe { (self.c.nrt_load)(text.as_ptr() as *const c_void, text.len(), vnc, -1, &mut m) };
        if st == NRT_SUCCESS {
            Ok(m)
        } else {
            Err(st)
        }
    }
    pub fn load(&self, text: &str, vnc: i32) -> *mut nrt_model_t {
        self.load_text(text, vnc).expect("nrt_load failed")
    }
    pub fn load_file(&self, name: &str, vnc: i32) -> *mut nrt_model_t {
        let text = std::fs::read_to_string(models_dir().join(name)).unwrap();
        self.load(&text, vnc)
    }
    pub fn alloc_st(
        &self,
        placement: nrt_tensor_placement_t,
        vnc: i32,
        size: usize,
        name: &str,
    ) -> Result<*mut nrt_tensor_t, NRT_STATUS> {
        let mut t = std::ptr::null_mut();
        let n = CString::new(name).unwrap();
        let st = unsafe { (self.c.nrt_tensor_allocate)(placement, vnc, size, n.as_ptr(), &mut t) };
        if st == NRT_SUCCESS {
            Ok(t)
        } else {
            Err(st)
        }
    }
    pub fn dev(&self, vnc: i32, size: usize, name: &str) -> *mut nrt_tensor_t {
        self.alloc_st(NRT_TENSOR_PLACEMENT_DEVICE, vnc, size, name).unwrap()
    }
    pub fn host(&self, size: usize, name: &str) -> *mut nrt_tensor_t {
        self.alloc_st(NRT_TENSOR_PLACEMENT_HOST, -1, size, name).unwrap()
    }
    pub fn free(&self, mut t: *mut nrt_tensor_t) {
        unsafe { (self.c.nrt_tensor_free)(&mut t) };
        assert!(t.is_null());
    }
    pub fn set(&self, members: &[(&str, *mut nrt_tensor_t)]) -> *mut nrt_tensor_set_t {
        let mut s = std::ptr::null_mut();
        unsafe {
            assert_eq!((self.c.nrt_allocate_tensor_set)(&mut s), NRT_SUCCESS);
            for (name, t) in members {
                let n = CString::new(*name).unwrap();
                assert_eq!((self.c.nrt_add_tensor_to_tensor_set)(s, n.as_ptr(), *t), NRT_SUCCESS);
            }
        }
        s
    }
    pub fn write(&self, t: *mut nrt_tensor_t, off: usize, data: &[u8]) -> NRT_STATUS {
        unsafe { (self.c.nrt_tensor_write)(t, data.as_ptr() as *const c_void, off, data.len()) }
    }
    pub fn read(&self, t: *mut nrt_tensor_t, off: usize, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        let st = unsafe { (self.c.nrt_tensor_read)(t, v.as_mut_ptr() as *mut c_void, off, n) };
        assert_eq!(st, NRT_SUCCESS, "nrt_tensor_read");
        v
    }
    pub fn exec(&self, m: *mut nrt_model_t, i: *mut nrt_tensor_set_t, o: *mut nrt_tensor_set_t) -> NRT_STATUS {
        unsafe { (self.c.nrt_execute)(m, i, o) }
    }
    pub fn is_completed(&self, seq: u64) -> Result<bool, NRT_STATUS> {
        let mut d = false;
        let st = unsafe { (self.c.nrta_is_completed)(seq, &mut d) };
        if st == NRT_SUCCESS {
            Ok(d)
        } else {
            Err(st)
        }
    }
    /// Waits (polling, bounded) until seq completes.
    pub fn wait_seq(&self, seq: u64) {
        let t = Instant::now();
        while !self.is_completed(seq).expect("nrta_is_completed") {
            assert!(t.elapsed() < Duration::from_secs(10), "seq {seq:#x} never completed");
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    pub fn status_str(&self, s: NRT_STATUS) -> String {
        unsafe { CStr::from_ptr((self.c.nrt_get_status_as_str)(s)).to_string_lossy().into_owned() }
    }
}

const REPORT_FILE: &str = "report.json";

pub fn report_path() -> PathBuf {
    PathBuf::from(std::env::var("NRT_SIM_TEST_DIR").unwrap()).join(REPORT_FILE)
}

pub fn parse_report(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("report is not JSON ({e}): {s}"))
}

pub fn read_report_at(p: &std::path::Path) -> serde_json::Value {
    let s = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("report {}: {e}", p.display()));
    parse_report(&s)
}

pub fn read_report() -> serde_json::Value {
    read_report_at(&report_path())
}

/// Waits for the child `pid` (a fork of this process) under a watchdog: after
/// `timeout` it is killed (SIGKILL) and the test fails. Returns the wait status.
pub fn wait_child(pid: libc::pid_t, timeout: Duration, what: &str) -> c_int {
    let t = Instant::now();
    let mut status: c_int = 0;
    loop {
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(r >= 0, "waitpid({pid}) failed: {}", std::io::Error::last_os_error());
        if r == pid {
            return status;
        }
        if t.elapsed() > timeout {
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("{what} (pid {pid}) hung: killed after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The file descriptors open in this process (from /proc/self/fd, without the
/// directory's own descriptor, nor the simulator's device memory: one memfd per
/// core's bank, made at the core's first device allocation).
pub fn open_fds() -> std::collections::BTreeSet<c_int> {
    let names: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    let is_bank = |fd: &c_int| {
        std::fs::read_link(format!("/proc/self/fd/{fd}"))
            .is_ok_and(|p| p.to_string_lossy().starts_with("/memfd:nrt-sim-hbm"))
    };
    names.iter().filter_map(|n| n.parse().ok()).filter(|&fd| fd_is_open(fd) && !is_bank(&fd)).collect()
}

/// The number of open fds once it has settled at `want` (or the last count
/// after 5 s): the simulator signals a registered eventfd before it closes
/// its private dup of it, so a waiter woken by the signal can look before the
/// close.
pub fn open_fd_count_settled(want: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let n = open_fds().len();
        if n == want || Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

pub fn fd_is_open(fd: c_int) -> bool {
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// Waits for an fd to become readable; true if it did within `ms`.
pub fn readable(fd: c_int, ms: c_int) -> bool {
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    unsafe { libc::poll(&mut p, 1, ms) == 1 && (p.revents & libc::POLLIN) != 0 }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn affine_expect(mul: u8, add: u8, inputs: &[&[u8]], out_len: usize) -> Vec<u8> {
    (0..out_len)
        .map(|j| {
            let s = inputs.iter().fold(0u8, |a, i| a.wrapping_add(i[j % i.len()]));
            mul.wrapping_mul(s).wrapping_add(add)
        })
        .collect()
}

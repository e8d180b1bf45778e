//! One watched run of the program, recorded: its exit, a digest of its stdout,
//! its wall time, and what the shim recorded (NRT_SHIM_RECORD).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::recfile::{self, Process};

/// How a run is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Config {
    /// The shim in passthrough: the runtime's own synchronous behaviour.
    Reference,
    /// The shim's async mode at this in-flight depth.
    Depth(u32),
}

impl Config {
    pub fn describe(self) -> String {
        match self {
            Config::Reference => "reference (passthrough)".into(),
            Config::Depth(d) => format!("shim (async, depth {d})"),
        }
    }
}

pub struct Outcome {
    pub exit: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub wall: Duration,
    pub stdout_digest: u64,
    pub stdout_len: usize,
    pub stderr_path: PathBuf,
    /// The program's own process (the one verify started).
    pub record: Option<Process>,
    pub other_processes: usize,
    /// Calls those other processes recorded.
    pub other_calls: usize,
}

impl Outcome {
    pub fn exit_text(&self) -> String {
        match (self.exit, self.signal) {
            (Some(c), _) => format!("exit status {c}"),
            (None, Some(s)) => format!("killed by signal {s} ({})", signal_name(s)),
            _ => "unknown exit".into(),
        }
    }
}

pub fn signal_name(s: i32) -> &'static str {
    match s {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGILL => "SIGILL",
        libc::SIGINT => "SIGINT",
        libc::SIGPIPE => "SIGPIPE",
        _ => "signal",
    }
}

/// FNV-1a over the program's stdout, streamed.
fn fnv(h: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *h = (*h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
    }
}

pub struct Runner<'a> {
    pub program: &'a [OsString],
    pub env: &'a [(String, OsString)],
    pub dir: &'a Path,
    pub timeout: Duration,
    pub count: usize,
}

impl Runner<'_> {
    /// Runs once; Err only when the program cannot be started.
    pub fn run(&mut self, config: Config, data_at: Option<(u32, usize)>) -> Result<Outcome, String> {
        self.count += 1;
        let n = self.count;
        let rec = self.dir.join(format!("run-{n}.rec"));
        let _ = std::fs::remove_file(&rec);
        let stderr_path = self.dir.join(format!("run-{n}.stderr"));
        let stderr = std::fs::File::create(&stderr_path).map_err(|e| format!("{}: {e}", stderr_path.display()))?;
        let mut cmd = Command::new(&self.program[0]);
        cmd.args(&self.program[1..]);
        for (k, v) in self.env {
            cmd.env(k, v);
        }
        cmd.env("NRT_SHIM_RECORD", &rec).env_remove("NRT_SHIM_RECORD_DATA");
        match config {
            Config::Reference => cmd.env("NRT_SHIM_MODE", "passthrough"),
            Config::Depth(d) => cmd.env("NRT_SHIM_MODE", "async").env("NRT_SHIM_MAX_INFLIGHT", d.to_string()),
        };
        if let Some((t, c)) = data_at {
            cmd.env("NRT_SHIM_RECORD_DATA", format!("{t}:{c}"));
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(stderr).process_group(0);
        let start = Instant::now();
        let mut child = cmd.spawn().map_err(|e| {
            format!(
                "cannot run {}: {e}: check the path (a program in the current directory needs ./) and that it is executable",
                Path::new(&self.program[0]).display()
            )
        })?;
        let pid = child.id();
        let mut out = child.stdout.take().expect("piped");
        let reader = std::thread::spawn(move || {
            let (mut h, mut len, mut buf) = (0xcbf2_9ce4_8422_2325u64, 0usize, vec![0u8; 65536]);
            while let Ok(k) = out.read(&mut buf) {
                if k == 0 {
                    break;
                }
                fnv(&mut h, &buf[..k]);
                len += k;
            }
            (h, len)
        });
        let mut timed_out = false;
        let status = loop {
            if let Some(st) = child.try_wait().map_err(|e| format!("waiting for the program: {e}"))? {
                break st;
            }
            if start.elapsed() > self.timeout {
                timed_out = true;
                kill_group(pid);
                break child.wait().map_err(|e| format!("waiting for the program: {e}"))?;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let wall = start.elapsed();
        // Whatever the program left running in its group (it would hold stdout open).
        kill_group(pid);
        let (stdout_digest, stdout_len) = reader.join().unwrap_or((0, 0));
        let mut procs = match std::fs::read(&rec) {
            Ok(bytes) => recfile::parse(&bytes).map_err(|e| format!("{}: {e}", rec.display()))?,
            Err(_) => BTreeMap::new(),
        };
        let record = procs.remove(&pid);
        let other_calls = procs.values().flat_map(|p| p.threads.values()).map(Vec::len).sum();
        Ok(Outcome {
            exit: status.code(),
            signal: status.signal(),
            timed_out,
            wall,
            stdout_digest,
            stdout_len,
            stderr_path,
            record,
            other_processes: procs.len(),
            other_calls,
        })
    }
}

fn kill_group(pid: u32) {
    // SAFETY: kill(2) on our child's own process group; harmless if it is gone.
    unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
}

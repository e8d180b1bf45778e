//! Running a child process under a watchdog, with its output captured: one
//! runner for every harness (tests/support/mod.rs, and proof/src/harness.rs,
//! which includes this file with #[path]). std only.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// What a watched child did.
pub struct Finished {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub wall: Duration,
    pub timed_out: bool,
}

/// Runs `cmd` with stdin closed and its output captured, in a process group of
/// its own; after `timeout` kills the whole group (a hang is a failure, and
/// the caller says so with the output).
pub fn run_watched(mut cmd: Command, timeout: Duration, what: &str, program: &Path) -> Finished {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let start = Instant::now();
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{what}: cannot start {}: {e}", program.display()));
    let pid = child.id();
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_reader = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out_pipe.read_to_end(&mut v);
        v
    });
    let err_reader = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err_pipe.read_to_end(&mut v);
        v
    });
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the child") {
            break status;
        }
        if start.elapsed() > timeout {
            timed_out = true;
            // The whole process group, in case the program started others.
            let _ = Command::new("kill").args(["-KILL", &format!("-{pid}")]).stderr(Stdio::null()).status();
            let _ = child.kill();
            break child.wait().expect("waiting for the killed child");
        }
        thread::sleep(Duration::from_millis(2));
    };
    let wall = start.elapsed();
    let stdout = String::from_utf8_lossy(&out_reader.join().unwrap_or_default()).to_string();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).to_string();
    Finished { status, stdout, stderr, wall, timed_out }
}

//! `nrt-shim run`: the program with the shim preloaded, by `exec`, so its exit status
//! and signals are its own.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use crate::locate;
use crate::RunArgs;

/// `value` prepended to the `sep`-separated list in `existing`.
pub fn prepend(value: &Path, existing: Option<OsString>) -> OsString {
    let mut out = OsString::from(value);
    if let Some(old) = existing.filter(|o| !o.is_empty()) {
        out.push(":");
        out.push(old);
    }
    out
}

/// The environment to add for a run: (variable, value), in order.
pub fn environment(args: &RunArgs, quiet: bool) -> Result<Vec<(String, OsString)>, String> {
    let shim = locate::shim_lib()?;
    let mut env: Vec<(String, OsString)> = Vec::new();
    env.push(("LD_PRELOAD".into(), prepend(&shim, std::env::var_os("LD_PRELOAD"))));
    if let Some(n) = args.max_inflight {
        env.push(("NRT_SHIM_MAX_INFLIGHT".into(), n.to_string().into()));
    }
    if let Some(m) = args.mode {
        env.push(("NRT_SHIM_MODE".into(), m.as_str().into()));
    }
    if let Some(s) = &args.stats {
        let v: OsString = if s == "1" { "1".into() } else { locate::absolute(Path::new(s)).into() };
        env.push(("NRT_SHIM_STATS".into(), v));
    }
    if let Some(t) = &args.trace {
        env.push(("NRT_SHIM_TRACE".into(), locate::absolute(t).into()));
    }
    let use_sim = if args.sim {
        true
    } else {
        match locate::system_runtime() {
            Some(found) if found.on_loader_path => false,
            Some(found) => {
                // Installed where the SDK puts it, but not on the loader's path: add it.
                let dir = found.path.parent().unwrap_or(Path::new("/")).to_path_buf();
                if !quiet {
                    eprintln!(
                        "nrt-shim: using the Neuron runtime in {} (not on the loader's path; added to LD_LIBRARY_PATH)",
                        dir.display()
                    );
                }
                env.push(("LD_LIBRARY_PATH".into(), prepend(&dir, std::env::var_os("LD_LIBRARY_PATH"))));
                false
            }
            None => {
                if !quiet {
                    eprintln!("nrt-shim: no Neuron runtime (libnrt.so.1) is installed here: running on the simulator, nrt-sim (pass --sim to choose it explicitly)");
                }
                true
            }
        }
    };
    if use_sim {
        let abi = match args.sim_abi {
            Some(a) => a,
            None => match std::env::var("NRT_SIM_ASYNC_ABI").ok().as_deref().map(str::trim) {
                Some("2") => 2,
                Some("3") | None | Some("") => 3,
                Some(other) => {
                    return Err(format!("NRT_SIM_ASYNC_ABI={other} is not 2 or 3: set it to 2 or 3, or unset it"))
                }
            },
        };
        let dir = locate::sim_lib_dir(abi)?;
        env.push(("LD_LIBRARY_PATH".into(), prepend(&dir, std::env::var_os("LD_LIBRARY_PATH"))));
    }
    Ok(env)
}

pub fn run(args: RunArgs) -> ExitCode {
    let env = match environment(&args, false) {
        Ok(e) => e,
        Err(e) => {
            crate::error(e);
            return ExitCode::from(125);
        }
    };
    let program = PathBuf::from(&args.program[0]);
    let mut cmd = Command::new(&program);
    cmd.args(&args.program[1..]);
    for (k, v) in &env {
        cmd.env(k, v);
    }
    // exec only returns on failure; on success the program's exit status is ours.
    let err = cmd.exec();
    let code = if err.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
    crate::error(format_args!(
        "cannot run {}: {err}: check the path (a program in the current directory needs ./) and that it is executable",
        program.display()
    ));
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepend_keeps_existing_values() {
        assert_eq!(prepend(Path::new("/a/b.so"), None), OsString::from("/a/b.so"));
        assert_eq!(prepend(Path::new("/a/b.so"), Some("".into())), OsString::from("/a/b.so"));
        assert_eq!(prepend(Path::new("/a/b.so"), Some("/c.so".into())), OsString::from("/a/b.so:/c.so"));
    }
}

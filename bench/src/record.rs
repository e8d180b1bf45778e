//! `nrt-bench record`: what NRT_SHIM_RECORD (the recorder `nrt-shim verify`
//! switches on) costs per nrt_tensor_read of 64 bytes, on an instant device: time
//! (with and without it, alternating), and instructions (callgrind, the shim's own,
//! (Ir at N2 reads - Ir at N1) / (N2 - N1)).

use crate::Opts;
use nrt_bench::{callgrind_self_by_object, line_value, median, prepare, run_program, Json, Paths};
use std::path::Path;
use std::process::{exit, Command};
use std::time::Duration;

fn fail(e: impl std::fmt::Display) -> ! {
    eprintln!("nrt-bench: {e}");
    exit(1)
}

fn env(paths: &Paths, record: Option<&Path>) -> Vec<(String, String)> {
    let mut v = vec![
        ("NRT_SIM_LATENCY_SCALE".to_string(), "0".to_string()),
        ("NRT_SIM_RUNTIME".to_string(), "2.32".to_string()),
        ("LD_PRELOAD".to_string(), paths.shim.display().to_string()),
    ];
    if let Some(r) = record {
        let _ = std::fs::remove_file(r);
        v.push(("NRT_SHIM_RECORD".to_string(), r.display().to_string()));
    }
    v
}

fn ns_per_read(paths: &Paths, calls: u64, record: Option<&Path>) -> f64 {
    let args = ["read".to_string(), calls.to_string()];
    let out = run_program(paths, &paths.bin.join("overhead"), &args, &env(paths, record), Duration::from_secs(300))
        .unwrap_or_else(|e| fail(e));
    if !out.success {
        fail(format!("overhead read failed:\n{}{}", out.stdout, out.stderr));
    }
    line_value(&out.stdout, "ns_per_call").and_then(|v| v.parse().ok()).unwrap_or_else(|| fail("no ns_per_call line"))
}

/// The shim's own instructions in a callgrind run of `overhead read calls`.
fn shim_ir(paths: &Paths, calls: u64, record: Option<&Path>, tag: &str) -> u64 {
    let file = paths.out.join(format!("callgrind.record.{tag}.{calls}.out"));
    let _ = std::fs::remove_file(&file);
    let mut cmd = Command::new("valgrind");
    cmd.arg("--tool=callgrind").arg(format!("--callgrind-out-file={}", file.display())).arg(paths.bin.join("overhead"));
    cmd.args(["read", &calls.to_string()]).env("LD_LIBRARY_PATH", &paths.sim_lib);
    for (k, v) in env(paths, record) {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap_or_else(|e| fail(format!("cannot run valgrind: {e}")));
    if !out.status.success() {
        fail(format!("valgrind failed:\n{}", String::from_utf8_lossy(&out.stderr)));
    }
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    callgrind_self_by_object(&text).iter().filter(|(k, _)| k.contains("libnrt_async_shim")).map(|(_, v)| *v).sum()
}

pub fn record(opts: &Opts) {
    let paths = prepare().unwrap_or_else(|e| fail(e));
    let (calls, reps) = if opts.quick { (2000, 3) } else { (20000, opts.reps.unwrap_or(7)) };
    let rec = paths.out.join("record.bin");
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        off.push(ns_per_read(&paths, calls, None));
        on.push(ns_per_read(&paths, calls, Some(&rec)));
    }
    let (t_off, t_on) = (median(&off), median(&on));
    println!(
        "nrt_tensor_read of 64 B, nothing pending, instant device, {calls} reads, median of {reps} runs alternating:"
    );
    println!("{:<40} {:>10}", "", "ns/read");
    println!("{:<40} {t_off:>10.0}", "through the shim");
    println!("{:<40} {t_on:>10.0}", "through the shim, NRT_SHIM_RECORD on");
    println!("added by recording: {:+.0} ns (a shared machine: compare with the spread of the runs)", t_on - t_off);
    let mut j = std::collections::BTreeMap::new();
    j.insert("read_ns".to_string(), Json::Num(t_off));
    j.insert("read_recorded_ns".to_string(), Json::Num(t_on));
    let have_valgrind = Command::new("valgrind").arg("--version").output().is_ok_and(|o| o.status.success());
    if have_valgrind {
        let (n1, n2) = (1000u64, 3000u64);
        let per = |record: Option<&Path>, tag: &str| {
            let (a, b) = (shim_ir(&paths, n1, record, tag), shim_ir(&paths, n2, record, tag));
            (b as f64 - a as f64) / (n2 - n1) as f64
        };
        let (ir_off, ir_on) = (per(None, "off"), per(Some(&rec), "on"));
        println!("the shim's own instructions per read (callgrind, (Ir at {n2} - Ir at {n1}) / {}):", n2 - n1);
        println!("{:<40} {ir_off:>10.0}", "without recording");
        println!("{:<40} {ir_on:>10.0}", "with NRT_SHIM_RECORD");
        println!("added by recording: {:+.0} Ir per read", ir_on - ir_off);
        j.insert("read_shim_own_ir".to_string(), Json::Num(ir_off));
        j.insert("read_recorded_shim_own_ir".to_string(), Json::Num(ir_on));
        j.insert("record_added_ir".to_string(), Json::Num(ir_on - ir_off));
    } else {
        println!("valgrind not found: no instruction counts");
    }
    let _ = std::fs::remove_file(&rec);
    if let Some(p) = &opts.json {
        std::fs::write(p, Json::Obj(j).to_text()).unwrap_or_else(|e| fail(format!("cannot write {p}: {e}")));
        eprintln!("nrt-bench: wrote {p}");
    }
}

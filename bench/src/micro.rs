//! `nrt-bench overhead | scale | alloc`: the per-call cost of the shim on an instant
//! device (NRT_SIM_LATENCY_SCALE=0), with bench/micro/overhead.c.

use crate::Opts;
use nrt_bench::{alloc_check, callgrind_self_by_object, line_value, median, prepare, run_program, Json, Paths};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{exit, Command};
use std::time::Duration;

pub(crate) fn fail(e: impl std::fmt::Display) -> ! {
    eprintln!("nrt-bench: {e}");
    exit(1)
}

pub(crate) fn base_env(extra: &[(&str, String)]) -> Vec<(String, String)> {
    let mut v = vec![
        ("NRT_SIM_LATENCY_SCALE".to_string(), "0".to_string()),
        ("NRT_SIM_RUNTIME".to_string(), "2.32".to_string()),
    ];
    v.extend(extra.iter().map(|(k, x)| (k.to_string(), x.clone())));
    v
}

/// One run of overhead.c: ns per call.
pub(crate) fn ns_per_call(paths: &Paths, args: &[String], env: &[(String, String)]) -> f64 {
    let out = run_program(paths, &paths.bin.join("overhead"), args, env, Duration::from_secs(300))
        .unwrap_or_else(|e| fail(e));
    if !out.success {
        fail(format!("overhead {args:?} failed:\n{}{}", out.stdout, out.stderr));
    }
    line_value(&out.stdout, "ns_per_call").and_then(|v| v.parse().ok()).unwrap_or_else(|| fail("no ns_per_call line"))
}

/// Median ns per call over `reps` runs.
fn timed(paths: &Paths, reps: usize, args: &[String], env: &[(String, String)]) -> f64 {
    let v: Vec<f64> = (0..reps).map(|_| ns_per_call(paths, args, env)).collect();
    median(&v)
}

pub(crate) fn shim_env(paths: &Paths, extra: &[(&str, String)]) -> Vec<(String, String)> {
    let mut e = base_env(extra);
    e.push(("LD_PRELOAD".into(), paths.shim.display().to_string()));
    e
}

pub(crate) fn args(mode: &str, calls: u64, live: u64, threads: u64, window: u64) -> Vec<String> {
    [mode.to_string(), calls.to_string(), live.to_string(), threads.to_string(), window.to_string()].to_vec()
}

/// Instructions (Ir) of a callgrind run: (total, the shim's own objects, the
/// shim's own in the program's calling thread). One profile per thread
/// (`--separate-threads`): the calling thread's share does not depend on how
/// valgrind interleaves the threads, the completion thread's does.
fn callgrind(paths: &Paths, tag: &str, a: &[String], env: &[(String, String)]) -> (u64, u64, u64) {
    let file = paths.out.join(format!("callgrind.{tag}.out"));
    let prefix = format!("callgrind.{tag}.out-");
    let profiles = || {
        let mut v: Vec<_> = std::fs::read_dir(&paths.out)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    for old in profiles() {
        let _ = std::fs::remove_file(old);
    }
    let mut cmd = Command::new("valgrind");
    cmd.arg("--tool=callgrind")
        .arg("--separate-threads=yes")
        .arg(format!("--callgrind-out-file={}", file.display()))
        .arg(paths.bin.join("overhead"));
    cmd.args(a).env("LD_LIBRARY_PATH", &paths.sim_lib);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap_or_else(|e| fail(format!("cannot run valgrind: {e}")));
    if !out.status.success() {
        fail(format!("valgrind {a:?} failed:\n{}", String::from_utf8_lossy(&out.stderr)));
    }
    let (mut total, mut shim, mut caller, mut program_most) = (0, 0, 0, 0);
    for f in profiles() {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        total += text
            .lines()
            .find_map(|l| l.strip_prefix("summary:").or_else(|| l.strip_prefix("totals:")))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let by = callgrind_self_by_object(&text);
        let own: u64 = by.iter().filter(|(k, _)| k.contains("libnrt_async_shim")).map(|(_, v)| *v).sum();
        shim += own;
        // The calling thread: the one that runs most of the program's own
        // code (its loop; overhead.c calls from a thread of its own).
        let program: u64 = by.iter().filter(|(k, _)| k.ends_with("/overhead")).map(|(_, v)| *v).sum();
        if program > program_most {
            (program_most, caller) = (program, own);
        }
    }
    (total, shim, caller)
}

fn have_valgrind() -> bool {
    Command::new("valgrind").arg("--version").output().map(|o| o.status.success()).unwrap_or(false)
}

pub(crate) fn write_json(path: &Option<String>, doc: Json) {
    if let Some(p) = path {
        std::fs::write(Path::new(p), doc.to_text()).unwrap_or_else(|e| fail(format!("cannot write {p}: {e}")));
        eprintln!("nrt-bench: wrote {p}");
    }
}

pub fn overhead(opts: &Opts) {
    let paths = prepare().unwrap_or_else(|e| fail(e));
    let (calls, reps) = if opts.quick { (2000, 1) } else { (20000, opts.reps.unwrap_or(5)) };
    let d = base_env(&[]);
    let s = shim_env(&paths, &[]);
    let exec_shim = timed(&paths, reps, &args("exec", calls, 0, 1, 4), &s);
    let exec_sync = timed(&paths, reps, &args("exec", calls, 0, 1, 4), &d);
    let nrta_poll = timed(&paths, reps, &args("nrta", calls, 0, 1, 4), &d);
    let nrta_efd = timed(&paths, reps, &args("nrta_efd", calls, 0, 1, 4), &d);
    let read_shim = timed(&paths, reps, &args("read", calls, 0, 1, 4), &s);
    let read_direct = timed(&paths, reps, &args("read", calls, 0, 1, 4), &d);
    println!("Per-call time, instant device (NRT_SIM_LATENCY_SCALE=0), {calls} calls, median of {reps} runs:");
    println!("{:<58} {:>12}", "call", "ns/call");
    for (k, v) in [
        ("nrt_execute through the shim (window 4)", exec_shim),
        ("nrta_execute_schedule direct, window 4, polling", nrta_poll),
        ("nrta_execute_schedule direct, window 4, eventfd wait", nrta_efd),
        ("nrt_execute, synchronous runtime (no shim)", exec_sync),
        ("nrt_tensor_read 64 B, nothing pending, through the shim", read_shim),
        ("nrt_tensor_read 64 B, nothing pending, runtime direct", read_direct),
    ] {
        println!("{k:<58} {v:>12.0}");
    }
    println!(
        "added by the shim: nrt_execute {:+.0} ns (vs polling), {:+.0} ns (vs eventfd); nrt_tensor_read {:+.0} ns",
        exec_shim - nrta_poll,
        exec_shim - nrta_efd,
        read_shim - read_direct
    );
    let mut j = BTreeMap::new();
    for (k, v) in [
        ("exec_shim_ns", exec_shim),
        ("exec_sync_ns", exec_sync),
        ("nrta_poll_ns", nrta_poll),
        ("nrta_efd_ns", nrta_efd),
        ("read_shim_ns", read_shim),
        ("read_direct_ns", read_direct),
        ("exec_added_ns_vs_poll", exec_shim - nrta_poll),
        ("exec_added_ns_vs_efd", exec_shim - nrta_efd),
        ("read_added_ns", read_shim - read_direct),
    ] {
        j.insert(k.to_string(), Json::Num(v));
    }
    if have_valgrind() {
        let (n1, n2) = if opts.quick { (200u64, 400u64) } else { (1000, 3000) };
        // Valgrind runs one thread at a time, so how the completion thread
        // interleaves with the caller (and how long a thread spins on a lock
        // the other holds) moves one run's count by a few hundred: repeat
        // and report the median of the runs with their range.
        let cg_reps = if opts.quick { 1 } else { opts.reps.unwrap_or(5) };
        let dn = (n2 - n1) as f64;
        let per = |mode: &str, env: &[(String, String)], tag: &str| -> (f64, f64, f64, f64, f64) {
            let (mut totals, mut owns, mut callers) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..cg_reps {
                let (t1, s1, c1) = callgrind(&paths, &format!("{tag}.{n1}"), &args(mode, n1, 0, 1, 4), env);
                let (t2, s2, c2) = callgrind(&paths, &format!("{tag}.{n2}"), &args(mode, n2, 0, 1, 4), env);
                totals.push((t2 as f64 - t1 as f64) / dn);
                owns.push((s2 as f64 - s1 as f64) / dn);
                callers.push((c2 as f64 - c1 as f64) / dn);
            }
            let lo = owns.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = owns.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (median(&totals), median(&owns), lo, hi, median(&callers))
        };
        let (exec_total, exec_own, exec_lo, exec_hi, exec_caller) = per("exec", &s, "exec_shim");
        let (efd_total, ..) = per("nrta_efd", &d, "nrta_efd");
        let (rs_total, read_own, read_lo, read_hi, read_caller) = per("read", &s, "read_shim");
        let (rd_total, ..) = per("read", &d, "read_direct");
        let range = |lo: f64, hi: f64| if cg_reps > 1 { format!(" ({lo:.0}-{hi:.0})") } else { String::new() };
        println!();
        println!(
            "Instructions per call (valgrind --tool=callgrind, whole process, all threads; (Ir at {n2} calls - Ir at {n1}) / {}; \
             median of {cg_reps} runs, the range of the shim's own in brackets):",
            n2 - n1
        );
        println!("{:<58} {:>12} {:>22}", "call", "Ir/call", "shim's own Ir");
        println!(
            "{:<58} {:>12.0} {:>22}",
            "nrt_execute through the shim",
            exec_total,
            format!("{exec_own:.0}{}", range(exec_lo, exec_hi))
        );
        println!("{:<58} {:>12.0} {:>22}", "nrta_execute_schedule + eventfd wait (direct)", efd_total, "-");
        println!(
            "{:<58} {:>12.0} {:>22}",
            "nrt_tensor_read through the shim",
            rs_total,
            format!("{read_own:.0}{}", range(read_lo, read_hi))
        );
        println!("{:<58} {:>12.0} {:>22}", "nrt_tensor_read direct", rd_total, "-");
        println!(
            "of the shim's own, in the calling thread (the rest is the completion thread's): \
             nrt_execute {exec_caller:.0}, nrt_tensor_read {read_caller:.0}"
        );
        println!(
            "added by the shim: nrt_execute {:+.0} Ir (difference of the runs), {exec_own:.0} Ir in the shim's own code; \
             nrt_tensor_read {:+.0} Ir, {read_own:.0} Ir own",
            exec_total - efd_total,
            rs_total - rd_total
        );
        for (k, v) in [
            ("exec_shim_ir", exec_total),
            ("exec_shim_own_ir", exec_own),
            ("exec_shim_own_ir_min", exec_lo),
            ("exec_shim_own_ir_max", exec_hi),
            ("exec_shim_own_ir_calling_thread", exec_caller),
            ("nrta_efd_ir", efd_total),
            ("exec_added_ir", exec_total - efd_total),
            ("read_shim_ir", rs_total),
            ("read_shim_own_ir", read_own),
            ("read_shim_own_ir_min", read_lo),
            ("read_shim_own_ir_max", read_hi),
            ("read_shim_own_ir_calling_thread", read_caller),
            ("read_direct_ir", rd_total),
            ("read_added_ir", rs_total - rd_total),
        ] {
            j.insert(k.to_string(), Json::Num(v));
        }
    } else {
        println!("valgrind not found: no instruction counts");
    }
    write_json(&opts.json, Json::Obj(j));
}

pub fn scale(opts: &Opts) {
    let paths = prepare().unwrap_or_else(|e| fail(e));
    let (calls, reps) = if opts.quick { (1000, 1) } else { (10000, opts.reps.unwrap_or(3)) };
    let d = base_env(&[("NRT_SIM_QUEUE_DEPTH", "64".into())]);
    let mut rows = Vec::new();
    println!("Per-call time with the shim, instant device, {calls} calls per thread, median of {reps} runs (ns/call):");
    println!("{:<28} {:>12} {:>12} {:>12} {:>12}", "parameter", "exec shim", "exec direct", "read shim", "read direct");
    let mut row = |name: String, live: u64, threads: u64, inflight: u64| {
        let s =
            shim_env(&paths, &[("NRT_SIM_QUEUE_DEPTH", "64".into()), ("NRT_SHIM_MAX_INFLIGHT", inflight.to_string())]);
        let es = timed(&paths, reps, &args("exec", calls, live, threads, inflight), &s);
        let ed = timed(&paths, reps, &args("nrta", calls, live, threads, inflight), &d);
        let rs = timed(&paths, reps, &args("read", calls, live, threads, inflight), &s);
        let rd = timed(&paths, reps, &args("read", calls, live, threads, inflight), &d);
        println!("{name:<28} {es:>12.0} {ed:>12.0} {rs:>12.0} {rd:>12.0}");
        rows.push(Json::obj([
            ("parameter", Json::Str(name)),
            ("live_tensors", Json::Int(live as i64)),
            ("threads", Json::Int(threads as i64)),
            ("inflight", Json::Int(inflight as i64)),
            ("exec_shim_ns", Json::Num(es)),
            ("exec_direct_ns", Json::Num(ed)),
            ("read_shim_ns", Json::Num(rs)),
            ("read_direct_ns", Json::Num(rd)),
        ]));
    };
    let lives: &[u64] = if opts.quick { &[10, 1000] } else { &[10, 1000, 100_000] };
    for &l in lives {
        row(format!("live tensors {l}"), l, 1, 4);
    }
    for k in [1, 16, 64] {
        row(format!("in flight {k}"), 0, 1, k);
    }
    for t in [1, 4, 8] {
        row(format!("threads {t}"), 0, t, 4);
    }
    println!(
        "exec direct: nrta_execute_schedule with the same window, polling; read direct: the runtime's nrt_tensor_read."
    );
    let mut j = BTreeMap::new();
    j.insert("rows".to_string(), Json::Arr(rows));
    if have_valgrind() && !opts.quick {
        // Deterministic view of the live-tensor question: the shim's own instructions per call.
        println!();
        println!("Shim's own instructions per call (callgrind, (Ir at 3000 calls - Ir at 1000) / 2000):");
        let mut cg = Vec::new();
        for l in [10u64, 1000, 100_000] {
            let s = shim_env(&paths, &[]);
            let mut own = [0.0; 2];
            for (i, mode) in ["exec", "read"].iter().enumerate() {
                let (_, a, _) = callgrind(&paths, &format!("scale.{mode}.{l}.1000"), &args(mode, 1000, l, 1, 4), &s);
                let (_, b, _) = callgrind(&paths, &format!("scale.{mode}.{l}.3000"), &args(mode, 3000, l, 1, 4), &s);
                own[i] = (b as f64 - a as f64) / 2000.0;
            }
            println!("live tensors {l:<8} nrt_execute {:>8.0} Ir   nrt_tensor_read {:>8.0} Ir", own[0], own[1]);
            cg.push(Json::obj([
                ("live_tensors", Json::Int(l as i64)),
                ("exec_shim_own_ir", Json::Num(own[0])),
                ("read_shim_own_ir", Json::Num(own[1])),
            ]));
        }
        j.insert("callgrind_live_tensors".to_string(), Json::Arr(cg));
    }
    write_json(&opts.json, Json::Obj(j));
}

pub fn alloc(opts: &Opts) {
    let paths = prepare().unwrap_or_else(|e| fail(e));
    let calls = if opts.quick { 2000 } else { 10000 };
    let ([shim, runtime, other], control) = alloc_check(&paths, calls).unwrap_or_else(|e| fail(e));
    println!("heap allocations during {calls} x (nrt_execute + nrt_tensor_read) after a warm-up of 1000:");
    println!("  called from libnrt_async_shim.so: {shim}");
    println!("  called from the runtime (nrt-sim): {runtime}");
    println!("  called from anything else:         {other}");
    println!(
        "positive control (allocating one tensor and one tensor set): shim {}, runtime {}, other {}",
        control[0], control[1], control[2]
    );
    if shim > 0 {
        fail("the shim allocates in steady state");
    }
}

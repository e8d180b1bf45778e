//! `nrt-bench sim`: the simulator's own cost on the host, so that the figures of
//! the other tasks can be judged (a benchmark measures the shim only where the
//! simulator keeps up with the device it models).
//!
//! Two parts, each run with the current simulator and, with `--baseline LIB`,
//! another build of it, alternated within every repetition:
//! - cost on an instant device (`NRT_SIM_LATENCY_SCALE=0`, bench/micro/simcost.c):
//!   ns per byte of a write, read, copy and execution (the difference between
//!   4 MiB and 64-byte calls, so fixed costs cancel) and us per small call;
//! - timing at size: w6_large (two 4 MiB inputs written, one output read per
//!   step, 1.5 ms model) at 4 MiB, 1 MiB and 64 KiB with the device model on,
//!   against its modelled time: synchronously the sum of all units' busy time
//!   (nothing overlaps), with the shim the busiest unit's (the bound).

use crate::Opts;
use nrt_bench::{
    busiest_unit_us, json_number, line_value, median, prepare, run_program, total_busy_us, with_simulator, Json, Paths,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::exit;
use std::time::Duration;

fn fail(e: impl std::fmt::Display) -> ! {
    eprintln!("nrt-bench: {e}");
    exit(1)
}

const SMALL: u64 = 64;

/// One run of simcost.c: ns per call.
fn ns_per_call(paths: &Paths, op: &str, size: u64, calls: u64) -> f64 {
    let env = vec![
        ("NRT_SIM_LATENCY_SCALE".to_string(), "0".to_string()),
        ("NRT_SIM_RUNTIME".to_string(), "2.32".to_string()),
    ];
    let args = [op.to_string(), size.to_string(), calls.to_string()];
    let out = run_program(paths, &paths.bin.join("simcost"), &args, &env, Duration::from_secs(300))
        .unwrap_or_else(|e| fail(e));
    if !out.success {
        fail(format!("simcost {args:?} failed:\n{}{}", out.stdout, out.stderr));
    }
    line_value(&out.stdout, "ns_per_call").and_then(|v| v.parse().ok()).unwrap_or_else(|| fail("no ns_per_call line"))
}

/// (ms per step, modelled ms per step) of one run.
type Step = (f64, f64);

/// One run of w6_large.
fn loop_run(paths: &Paths, shim: bool, size: u64, steps: u64, tag: &str) -> Step {
    let report = paths.out.join(format!("sim.{tag}.report.json"));
    let _ = std::fs::remove_file(&report);
    let mut env = vec![
        ("NRT_SIM_RUNTIME".to_string(), "2.32".to_string()),
        ("NRT_SIM_REPORT".to_string(), report.display().to_string()),
    ];
    if shim {
        env.push(("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS".into(), "3".into()));
        env.push(("LD_PRELOAD".into(), paths.shim.display().to_string()));
    }
    let args = [steps.to_string(), size.to_string()];
    let out = run_program(paths, &paths.bin.join("w6_large"), &args, &env, Duration::from_secs(300))
        .unwrap_or_else(|e| fail(e));
    if !out.success {
        fail(format!("w6_large {args:?} failed:\n{}{}", out.stdout, out.stderr));
    }
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    let elapsed = line_value(&out.stdout, "elapsed_us").and_then(|v| v.parse::<f64>().ok());
    let (Some(elapsed), Some(_)) = (elapsed, json_number(&text, "wall_us")) else {
        fail(format!("w6_large {args:?}: no elapsed_us line or no report:\n{}", out.stdout))
    };
    let modelled = if shim { busiest_unit_us(&text) } else { total_busy_us(&text) } as f64;
    (elapsed / steps as f64 / 1e3, modelled / steps as f64 / 1e3)
}

fn size_name(b: u64) -> String {
    if b >= 1 << 20 {
        format!("{} MiB", b >> 20)
    } else if b >= 1 << 10 {
        format!("{} KiB", b >> 10)
    } else {
        format!("{b} B")
    }
}

pub fn sim(opts: &Opts) {
    let paths = prepare().unwrap_or_else(|e| fail(e));
    let mut variants: Vec<(&str, Paths)> = Vec::new();
    if let Some(b) = &opts.baseline {
        variants.push(("baseline", with_simulator(&paths, Path::new(b)).unwrap_or_else(|e| fail(e))));
    }
    variants.push(("current", paths.clone()));
    let reps = opts.reps.unwrap_or(if opts.quick { 1 } else { 5 });
    let big: u64 = if opts.quick { 1 << 20 } else { 4 << 20 };
    let (calls_big, calls_small) = if opts.quick { (4, 200) } else { (40, 5000) };
    let ops = ["write", "read", "copy", "exec"];
    let mut runs: Vec<(String, u64, u64)> = Vec::new();
    for op in ops {
        runs.push((op.to_string(), SMALL, calls_small));
        runs.push((op.to_string(), big, calls_big));
    }
    runs.push(("schedule".to_string(), SMALL, calls_small));
    let (sizes, steps): (Vec<u64>, u64) =
        if opts.quick { (vec![64 << 10], 4) } else { (vec![4 << 20, 1 << 20, 64 << 10], 40) };

    // (variant, what) -> samples
    let mut cost: BTreeMap<(&str, String, u64), Vec<f64>> = BTreeMap::new();
    let mut timing: BTreeMap<(&str, u64, bool), Vec<Step>> = BTreeMap::new();
    for rep in 0..reps {
        // Alternate: each repetition starts with the next variant.
        let order: Vec<&(&str, Paths)> = (0..variants.len()).map(|k| &variants[(k + rep) % variants.len()]).collect();
        for (op, size, calls) in &runs {
            for (name, p) in &order {
                cost.entry((name, op.clone(), *size)).or_default().push(ns_per_call(p, op, *size, *calls));
            }
        }
        for &size in &sizes {
            for shim in [false, true] {
                for (name, p) in &order {
                    let tag = format!("{name}.{size}.{}.{rep}", if shim { "shim" } else { "sync" });
                    timing.entry((name, size, shim)).or_default().push(loop_run(p, shim, size, steps, &tag));
                }
            }
        }
        eprintln!("nrt-bench: sim repetition {} of {reps} done", rep + 1);
    }

    let med = |v: &str, op: &str, size: u64| median(&cost[&(v, op.to_string(), size)]);
    let per_byte = |v: &str, op: &str| (med(v, op, big) - med(v, op, SMALL)) / (big - SMALL) as f64;
    let names: Vec<&str> = variants.iter().map(|(n, _)| *n).collect();
    // (key, label, value per variant)
    let rows: Vec<(&str, &str, Vec<f64>)> = [
        ("write", "nrt_tensor_write, device tensor (ns/byte)"),
        ("read", "nrt_tensor_read, device tensor (ns/byte)"),
        ("copy", "nrt_tensor_copy, device to device (ns/byte)"),
        ("exec", "nrt_execute, affine, 2 inputs (ns/output byte)"),
        ("read_small", "sync nrt_tensor_read, 64 B (us/call)"),
        ("exec_small", "sync nrt_execute, 64 B model (us/call)"),
        ("schedule_small", "nrta_execute_schedule + completion, 64 B (us)"),
    ]
    .into_iter()
    .map(|(key, label)| {
        let vals = names
            .iter()
            .map(|v| match key.strip_suffix("_small") {
                Some(op) => med(v, op, SMALL) / 1e3,
                None => per_byte(v, key),
            })
            .collect();
        (key, label, vals)
    })
    .collect();
    println!(
        "Simulator host cost, instant device (NRT_SIM_LATENCY_SCALE=0), median of {reps} runs \
         (ns/byte: (t({}) - t(64 B)) / bytes):",
        size_name(big)
    );
    let mut head = format!("{:<50}", "operation");
    for n in &names {
        head += &format!(" {n:>10}");
    }
    if names.len() == 2 {
        head += &format!(" {:>16}", "current/baseline");
    }
    println!("{head}");
    let mut jcost = BTreeMap::new();
    for (key, label, vals) in &rows {
        let mut line = format!("{label:<50}");
        let mut jv = BTreeMap::new();
        for (n, x) in names.iter().zip(vals) {
            line += &format!(" {x:>10.3}");
            jv.insert(n.to_string(), Json::Num(*x));
        }
        if vals.len() == 2 {
            line += &format!(" {:>15.2}x", vals[1] / vals[0]);
        }
        println!("{line}");
        jcost.insert(key.to_string(), Json::Obj(jv));
    }

    println!();
    println!(
        "Timing at size (w6_large, {steps} steps, default device model), ms per step, median of {reps} runs; \
         modelled: sync = all units' busy time, shim = the busiest unit's (the bound); (x) = wall / modelled:"
    );
    let mut head = format!("{:<8} {:<5} {:>9}", "size", "mode", "modelled");
    for n in &names {
        head += &format!(" {n:>10} {:>7}", "(x)");
    }
    println!("{head}");
    let mut jtiming = Vec::new();
    for &size in &sizes {
        for shim in [false, true] {
            let mode = if shim { "shim" } else { "sync" };
            let all_modelled: Vec<f64> =
                names.iter().flat_map(|n| timing[&(*n, size, shim)].iter().map(|x| x.1)).collect();
            let modelled = median(&all_modelled);
            let mut line = format!("{:<8} {mode:<5} {modelled:>9.3}", size_name(size));
            let mut j = vec![
                ("size", Json::Int(size as i64)),
                ("mode", Json::Str(mode.into())),
                ("modelled_ms_per_step", Json::Num(modelled)),
            ];
            for n in &names {
                let wall = median(&timing[&(*n, size, shim)].iter().map(|x| x.0).collect::<Vec<_>>());
                line += &format!(" {wall:>10.3} {:>6.2}x", wall / modelled);
                j.push((
                    if *n == "baseline" { "baseline_ms_per_step" } else { "current_ms_per_step" },
                    Json::Num(wall),
                ));
            }
            println!("{line}");
            jtiming.push(Json::Obj(j.into_iter().map(|(k, v)| (k.to_string(), v)).collect()));
        }
    }
    if let Some(path) = &opts.json {
        let doc = Json::obj([
            ("quick", Json::Bool(opts.quick)),
            ("repetitions", Json::Int(reps as i64)),
            ("host_cost", Json::Obj(jcost)),
            ("timing", Json::Arr(jtiming)),
        ]);
        std::fs::write(path, doc.to_text()).unwrap_or_else(|e| fail(format!("cannot write {path}: {e}")));
        eprintln!("nrt-bench: wrote {path}");
    }
}

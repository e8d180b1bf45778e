//! `nrt-bench cost`: the wall time the shim adds to one nrt_execute, measured
//! two ways (bench/micro/overhead.c), every variant alternated within each
//! repetition, medians and ranges reported:
//! - non-waiting: the device busy with a long request and the window not
//!   full, so no call waits: nrt_execute through the shim against
//!   nrta_execute_schedule called directly;
//! - waiting: a window of one on a 10 us device, so every call waits for the
//!   previous request: the shim (its spin before sleeping at several
//!   NRT_SHIM_SPIN_US) against a direct caller polling and one sleeping on an
//!   eventfd.

use crate::micro::{args, base_env, fail, ns_per_call, shim_env, write_json};
use crate::Opts;
use nrt_bench::{median, prepare, Json};
use std::collections::BTreeMap;

/// NRT_SHIM_SPIN_US values compared on the waiting path.
const SPINS: [u32; 4] = [0, 5, 20, 50];

struct Variant {
    name: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    runs: Vec<f64>,
}

fn summary(v: &[f64]) -> (f64, f64, f64) {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (median(v), lo, hi)
}

/// Runs every variant once per repetition, in turn, and prints them.
fn alternate(paths: &nrt_bench::Paths, title: &str, reps: usize, vs: &mut [Variant]) -> Json {
    for _ in 0..reps {
        for v in vs.iter_mut() {
            v.runs.push(ns_per_call(paths, &v.args, &v.env));
        }
    }
    println!("{title}");
    println!("{:<64} {:>9} {:>17}", "variant", "median", "range (ns/call)");
    let mut rows = Vec::new();
    for v in vs.iter() {
        let (m, lo, hi) = summary(&v.runs);
        println!("{:<64} {m:>9.0} {lo:>8.0}-{hi:<8.0}", v.name);
        rows.push(Json::obj([
            ("variant", Json::Str(v.name.clone())),
            ("median_ns", Json::Num(m)),
            ("min_ns", Json::Num(lo)),
            ("max_ns", Json::Num(hi)),
        ]));
    }
    Json::Arr(rows)
}

/// Median over repetitions of (a - b), run by run (the pairs ran side by side).
fn paired(a: &Variant, b: &Variant) -> f64 {
    let d: Vec<f64> = a.runs.iter().zip(&b.runs).map(|(x, y)| x - y).collect();
    median(&d)
}

pub fn cost(opts: &Opts) {
    let paths = prepare().unwrap_or_else(|e| fail(e));
    let reps = if opts.quick { 1 } else { opts.reps.unwrap_or(7) };
    let mut j = BTreeMap::new();

    // (a) Non-waiting: scale 1 (the long request takes 5 ms), 64 requests of
    // window and device queue, batches of 32 calls behind the long one.
    let calls = if opts.quick { 256 } else { 2048 };
    let deep = [("NRT_SIM_LATENCY_SCALE", "1".to_string()), ("NRT_SIM_QUEUE_DEPTH", "64".to_string())];
    let mut env_a = base_env(&[]);
    env_a.retain(|(k, _)| k != "NRT_SIM_LATENCY_SCALE");
    env_a.extend(deep.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let mut shim_a = shim_env(&paths, &[("NRT_SHIM_MAX_INFLIGHT", "64".into())]);
    shim_a.retain(|(k, _)| k != "NRT_SIM_LATENCY_SCALE");
    shim_a.extend(deep.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let mut a = [
        Variant {
            name: "nrt_execute through the shim (no wait)".into(),
            args: args("busy", calls, 0, 1, 64),
            env: shim_a,
            runs: vec![],
        },
        Variant {
            name: "nrta_execute_schedule direct (no wait)".into(),
            args: args("busy_nrta", calls, 0, 1, 64),
            env: env_a,
            runs: vec![],
        },
    ];
    let title =
        format!("(a) non-waiting: {calls} calls queued behind a 5 ms request, window 64, {reps} runs alternated:");
    j.insert("nonwaiting".to_string(), alternate(&paths, &title, reps, &mut a));
    let added_a = paired(&a[0], &a[1]);
    println!("added by the shim, non-waiting: {added_a:+.0} ns per call (median of the paired differences)");
    j.insert("nonwaiting_added_ns".to_string(), Json::Num(added_a));
    println!();

    // (b) Waiting: window 1, the tiny model's 50 us at scale 0.2 = 10 us.
    let calls = if opts.quick { 500 } else { 3000 };
    let scale = [("NRT_SIM_LATENCY_SCALE", "0.2".to_string())];
    let with_scale = |mut e: Vec<(String, String)>| {
        e.retain(|(k, _)| k != "NRT_SIM_LATENCY_SCALE");
        e.extend(scale.iter().map(|(k, v)| (k.to_string(), v.clone())));
        e
    };
    let mut b: Vec<Variant> = SPINS
        .iter()
        .map(|&s| Variant {
            name: format!("nrt_execute through the shim, NRT_SHIM_SPIN_US={s}"),
            args: args("exec", calls, 0, 1, 1),
            env: with_scale(shim_env(
                &paths,
                &[("NRT_SHIM_MAX_INFLIGHT", "1".into()), ("NRT_SHIM_SPIN_US", s.to_string())],
            )),
            runs: vec![],
        })
        .collect();
    b.push(Variant {
        name: "nrta_execute_schedule direct, polling".into(),
        args: args("nrta", calls, 0, 1, 1),
        env: with_scale(base_env(&[])),
        runs: vec![],
    });
    b.push(Variant {
        name: "nrta_execute_schedule direct, eventfd wait".into(),
        args: args("nrta_efd", calls, 0, 1, 1),
        env: with_scale(base_env(&[])),
        runs: vec![],
    });
    b.push(Variant {
        name: "nrt_execute, synchronous runtime (no shim)".into(),
        args: args("exec", calls, 0, 1, 1),
        env: with_scale(base_env(&[])),
        runs: vec![],
    });
    let title = format!("(b) waiting: {calls} calls, window 1, 10 us per request, {reps} runs alternated:");
    j.insert("waiting".to_string(), alternate(&paths, &title, reps, &mut b));
    let n = SPINS.len();
    for (i, s) in SPINS.iter().enumerate() {
        let (vp, ve) = (paired(&b[i], &b[n]), paired(&b[i], &b[n + 1]));
        println!("added by the shim, waiting, NRT_SHIM_SPIN_US={s}: {vp:+.0} ns vs polling, {ve:+.0} ns vs eventfd");
        j.insert(format!("waiting_added_ns_vs_poll_spin{s}"), Json::Num(vp));
        j.insert(format!("waiting_added_ns_vs_efd_spin{s}"), Json::Num(ve));
    }
    write_json(&opts.json, Json::Obj(j));
}

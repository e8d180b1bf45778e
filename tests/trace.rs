//! The shim's NRT_SHIM_TRACE and NRT_SHIM_STATS outputs (docs/trace-format.md):
//! a legacy program run with both, and the structure of what they contain.

mod support;

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use support::{Gen, Mode, Run};

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("nrt-trace-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn trace_and_stats_of_a_double_buffered_loop() {
    let _machine = support::shared_machine();
    let trace_path = temp("trace.json");
    let stats_path = temp("stats.json");
    let run = Run::new("tests/legacy/p2_double_buffer.c", Mode::Preload, Gen::V3)
        // 20 ms per request against 100 us of host work per step: the read of
        // request i-1 waits for it even on a loaded machine (with 400 us, a host
        // descheduled for a few ms each step found every request done, and the
        // trace had no wait to show).
        .args(&["30", "20000", "100"])
        .env("NRT_SHIM_TRACE", trace_path.to_str().unwrap())
        .env("NRT_SHIM_STATS", stats_path.to_str().unwrap())
        .run();
    run.assert_ok().assert_no_hazards();

    let trace: Value = serde_json::from_str(&std::fs::read_to_string(&trace_path).unwrap()).unwrap();
    assert_eq!(trace["otherData"]["tool"], "nrt-async-shim");
    assert_eq!(trace["otherData"]["dropped_events"], 0);
    let events = trace["traceEvents"].as_array().expect("traceEvents is a list");
    let mut named_tracks = HashSet::new();
    let mut used_tracks = HashSet::new();
    let mut flows: HashMap<u64, Vec<&str>> = HashMap::new();
    let (mut host, mut device) = (0, 0);
    for e in events {
        assert_eq!(e["pid"], 1, "{e}");
        match e["ph"].as_str().unwrap() {
            "M" => {
                if e["name"] == "thread_name" {
                    named_tracks.insert(e["tid"].as_u64().unwrap());
                }
            }
            "X" => {
                let tid = e["tid"].as_u64().unwrap();
                used_tracks.insert(tid);
                assert!(e["ts"].as_f64().unwrap() >= 0.0 && e["dur"].as_f64().unwrap() >= 0.0, "{e}");
                match e["cat"].as_str().unwrap() {
                    "host" => {
                        host += 1;
                        assert!(tid < 1000, "host calls on application tracks: {e}");
                        assert!(e["name"].as_str().unwrap().starts_with("nrt_"), "{e}");
                        assert!(e["args"]["blocked_us"].as_f64().unwrap() <= e["dur"].as_f64().unwrap() + 1.0);
                    }
                    "device" => {
                        device += 1;
                        assert!(tid >= 1000, "device work on device tracks: {e}");
                        assert_eq!(e["args"]["status"], 0);
                    }
                    other => panic!("unknown category {other}"),
                }
            }
            ph @ ("s" | "f") => flows.entry(e["id"].as_u64().unwrap()).or_default().push(ph),
            other => panic!("unexpected phase {other}"),
        }
    }
    assert_eq!(device, 30, "one device slice per request");
    assert!(host >= 30 * 3, "executes, writes and reads of every step");
    assert!(used_tracks.is_subset(&named_tracks), "every track has a name");
    assert!(!flows.is_empty(), "reads of the previous request's outputs wait for it");
    for (id, phases) in &flows {
        assert_eq!(phases, &vec!["s", "f"], "flow {id} is a start/finish pair");
    }
    // The waits point at device work and name the tensor and the hazard.
    let waited: Vec<&Value> = events.iter().filter(|e| e["args"]["waited_for"].is_string()).collect();
    assert!(waited.iter().any(|e| e["args"]["hazard"] == "read-after-write" && e["args"]["tensor"].is_string()));

    let stats: Value = serde_json::from_str(&std::fs::read_to_string(&stats_path).unwrap()).unwrap();
    assert_eq!(stats["calls"]["nrt_execute"]["count"], 30);
    assert!(stats["calls"]["nrt_tensor_read"]["blocked_us"]["total"].as_f64().unwrap() > 0.0);
    assert_eq!(stats["counters"]["executions"], 30);
    assert!(stats["queue_depth"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum::<u64>() == 30);
    let waits = stats["waits"].as_array().unwrap();
    assert!(waits.iter().any(|w| w["call"] == "nrt_tensor_read" && w["hazard"] == "read-after-write"));
    let advice = stats["advice"].as_array().unwrap();
    assert!(!advice.is_empty() && advice.len() <= 3);
    assert!(advice[0].as_str().unwrap().contains("waited"));
}

#[test]
fn text_stats_go_to_stderr_once() {
    let _machine = support::shared_machine();
    let run = Run::new("tests/legacy/p2_double_buffer.c", Mode::Preload, Gen::V2)
        .args(&["10", "300", "0"])
        .env("NRT_SHIM_STATS", "1")
        .run();
    run.assert_ok();
    let header = run.stderr.lines().filter(|l| l.contains("stats:") && l.contains("in-flight depth")).count();
    assert_eq!(header, 1, "{}", run.stderr);
    assert!(run.stderr.lines().filter(|l| l.contains("stats:")).all(|l| l.starts_with("nrt-async-shim: ")));
    assert!(run.stderr.contains("nrt_execute"));
}

/// The completion thread registers with the runtime only the requests it waits
/// for (one per unit), not each request at submission. If it ever waited for one
/// it had not registered, it would learn of that completion only when its wait
/// ran out (50 ms): `late_completions` counts those. With direct waiting off,
/// every completion of both cores is the thread's to find; none may be late, on
/// either generation. The control (the thread registers nothing) proves the
/// counter sees a miss.
#[test]
fn the_completion_thread_is_signalled_for_every_completion() {
    let _machine = support::shared_machine();
    let late = |gen: Gen, tag: &str, extra: &[(&str, &str)]| {
        let stats_path = temp(&format!("late-{tag}.json"));
        let run = Run::new("tests/legacy/p6_two_cores.c", Mode::Preload, gen)
            .args(&["12"])
            .env("NRT_SHIM_DIRECT_WAIT", "0")
            .env("NRT_SHIM_STATS", stats_path.to_str().unwrap())
            .envs(extra)
            .run();
        run.assert_ok().assert_no_hazards();
        let stats: Value = serde_json::from_str(&std::fs::read_to_string(&stats_path).unwrap()).unwrap();
        assert!(stats["counters"]["executions"].as_u64().unwrap() >= 24, "{stats}");
        stats["counters"]["late_completions"].as_u64().expect("a late_completions counter")
    };
    assert_eq!(late(Gen::V3, "v3", &[]), 0, "v3: a completion the thread was not signalled for");
    assert_eq!(late(Gen::V2, "v2", &[]), 0, "v2: a completion the thread was not signalled for");
    assert!(late(Gen::V3, "control", &[("NRT_SHIM_TEST_SKIP_ARM", "1")]) > 0, "the counter cannot see a miss");
}

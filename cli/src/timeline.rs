//! The traces of the demo's runs without the shim, from the lines of the timing
//! interposer `libnrt_demo_timeline.so` (cli/demo/timeline.c): host calls as measured;
//! device slices inferred. Synchronous runtime: the nrt_execute calls themselves (they
//! return when the device is done). Implicit mode: from the later of the call's return
//! and the previous completion on that core to the request's completion (a core runs
//! its requests in order, under either fence rule). A call's blocked time is the part
//! of it during which the device was busy. The trace says so in `otherData.note`.

use std::fmt::Write as _;

use serde_json::Value;

/// A trace in the shim's format from the timing interposer's lines (see the module doc).
pub fn to_trace(raw: &str, config: &str) -> String {
    let mut host: Vec<(String, f64, f64)> = Vec::new();
    let mut done: Vec<(u64, u64, f64)> = Vec::new();
    for line in raw.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["H", name, a, b] => {
                if let (Ok(a), Ok(b)) = (a.parse::<f64>(), b.parse::<f64>()) {
                    host.push((name.to_string(), a, b));
                }
            }
            ["C", vnc, job, at] => {
                if let (Ok(v), Ok(j), Ok(t)) = (vnc.parse(), job.parse(), at.parse()) {
                    done.push((v, j, t));
                }
            }
            _ => {}
        }
    }
    host.sort_by(|a, b| a.1.total_cmp(&b.1));
    done.sort_by(|a, b| a.2.total_cmp(&b.2));
    let executes: Vec<&(String, f64, f64)> = host.iter().filter(|h| h.0 == "nrt_execute").collect();
    // Device slices: (core, job, start, end).
    let mut device: Vec<(u64, u64, f64, f64)> = Vec::new();
    let note;
    // The blocked time of each host call, in `host`'s order.
    let blocked: Vec<f64>;
    if !done.is_empty() && done.len() == executes.len() {
        note = "measured by libnrt_demo_timeline.so (no shim in this run): host calls as timed; device slices inferred from each nrt_execute's return and the completion callback (start = the later of the return and the previous completion on the core); blocked = from a call's start to the last completion during it (a call that waited returns right after what it waited for)";
        let mut last_end: std::collections::HashMap<u64, f64> = Default::default();
        for (e, (vnc, job, at)) in executes.iter().zip(&done) {
            let prev = last_end.get(vnc).copied().unwrap_or(0.0);
            let start = e.2.max(prev).min(*at);
            device.push((*vnc, *job, start, *at));
            last_end.insert(*vnc, *at);
        }
        let at: Vec<f64> = done.iter().map(|d| d.2).collect();
        blocked = host
            .iter()
            .map(|(_, a, b)| {
                // The last completion at or before the call's end, if it is inside the call.
                let i = at.partition_point(|t| t <= b);
                if i > 0 && at[i - 1] >= *a {
                    at[i - 1] - a
                } else {
                    0.0
                }
            })
            .collect();
    } else {
        note = "measured by libnrt_demo_timeline.so (no shim in this run): host calls as timed; the runtime is synchronous, so the device slices are the nrt_execute calls themselves (core 0 assumed) and an nrt_execute is blocked for all of its time";
        for (i, e) in executes.iter().enumerate() {
            device.push((0, i as u64 + 1, e.1, e.2));
        }
        blocked = host.iter().map(|(name, a, b)| if name == "nrt_execute" { b - a } else { 0.0 }).collect();
    }

    let mut ev: Vec<String> = vec![
        r#"{"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "nrt-shim demo timeline"}}"#.into(),
        r#"{"ph": "M", "name": "thread_name", "pid": 1, "tid": 1, "args": {"name": "app thread 1"}}"#.into(),
    ];
    let mut cores: Vec<u64> = device.iter().map(|d| d.0).collect();
    cores.sort_unstable();
    cores.dedup();
    for c in &cores {
        ev.push(format!(
            r#"{{"ph": "M", "name": "thread_name", "pid": 1, "tid": {}, "args": {{"name": "core {c} compute"}}}}"#,
            1000 + 16 * c
        ));
    }
    for ((name, a, b), blocked) in host.iter().zip(&blocked) {
        ev.push(format!(
            r#"{{"ph": "X", "cat": "host", "name": "{name}", "pid": 1, "tid": 1, "ts": {a:.3}, "dur": {:.3}, "args": {{"blocked_us": {:.3}}}}}"#,
            b - a,
            blocked
        ));
    }
    for (c, job, a, b) in &device {
        ev.push(format!(
            r#"{{"ph": "X", "cat": "device", "name": "double_buffer #{job}", "pid": 1, "tid": {}, "ts": {a:.3}, "dur": {:.3}, "args": {{"core": {c}, "job": {job}, "status": 0}}}}"#,
            1000 + 16 * c,
            b - a
        ));
    }
    let mut s = String::new();
    let _ = write!(
        s,
        "{{\n  \"displayTimeUnit\": \"ms\",\n  \"otherData\": {{\"tool\": \"nrt-shim demo\", \"mode\": {}, \"events\": {}, \"dropped_events\": 0, \"note\": {}}},\n  \"traceEvents\": [\n    {}\n  ]\n}}\n",
        Value::from(config),
        ev.len(),
        Value::from(note),
        ev.join(",\n    ")
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::Trace;

    #[test]
    fn sync_timeline_becomes_a_trace() {
        let raw =
            "H nrt_tensor_write 0 10\nH nrt_execute 10 1010\nH nrt_tensor_read 1010 1020\nH nrt_execute 1600 2600\n";
        let t = Trace::parse(&to_trace(raw, "sync")).unwrap();
        assert_eq!(t.tracks.len(), 2);
        let dev = &t.tracks[1];
        assert_eq!(dev.name, "core 0 compute");
        assert_eq!(dev.slices.len(), 2);
        assert_eq!((dev.slices[0].ts, dev.slices[0].dur), (10.0, 1000.0));
        let exec = t.tracks[0].slices.iter().find(|s| s.name == "nrt_execute").unwrap();
        assert_eq!(exec.blocked_us, 1000.0);
        assert!(t.other["note"].contains("synchronous"));
    }

    #[test]
    fn implicit_timeline_infers_device_slices_from_completions() {
        // Two executes return at once; completions at 1010 and 2010; the read waits.
        let raw = "H nrt_execute 0 10\nH nrt_execute 20 30\nH nrt_tensor_read 40 2015\nC 0 1 1010\nC 0 2 2010\n";
        let t = Trace::parse(&to_trace(raw, "implicit")).unwrap();
        let dev = &t.tracks[1];
        assert_eq!(
            dev.slices.iter().map(|s| (s.ts, s.end())).collect::<Vec<_>>(),
            vec![(10.0, 1010.0), (1010.0, 2010.0)]
        );
        let read = t.tracks[0].slices.iter().find(|s| s.name == "nrt_tensor_read").unwrap();
        assert_eq!(read.blocked_us, 1970.0);
        assert!(t.other["note"].contains("completion callback"));
    }
}

//! The reports, written from what the observer gathered: the Chrome trace
//! (docs/trace-format.md), the stats as JSON and as text, and the advice.

use std::fmt::Write as _;

use super::*;

impl Observer {
    /// Writes the trace and the stats files (at nrt_close and at exit, each
    /// time with everything so far); the text summary only at exit (`last`).
    pub fn write_reports(&self, last: bool) {
        if let Some((path, ring)) = &self.trace {
            let json = self.trace_json(&ring.lock());
            if let Err(e) = write_atomically(path, &json) {
                log::warn!("cannot write the trace to {path}: {e}");
            }
        }
        match &self.stats {
            Some(StatsOut::Stderr) if last => {
                let _ = std::io::stderr().write_all(self.stats_text().as_bytes());
            }
            Some(StatsOut::File(path)) => {
                if let Err(e) = write_atomically(path, &self.stats_json()) {
                    log::warn!("cannot write the stats to {path}: {e}");
                }
            }
            _ => {}
        }
    }

    pub(super) fn trace_json(&self, ring: &Ring) -> String {
        let us = |ns: u64| ns as f64 / 1000.0;
        let mut out = String::with_capacity(ring.events.len() * 160 + 1024);
        let _ = write!(
            out,
            "{{\"displayTimeUnit\": \"ms\", \"otherData\": {{\"tool\": \"nrt-async-shim\", \"version\": \"{}\", \
             \"mode\": \"{}\", \"in_flight_depth\": {}, \"events\": {}, \"dropped_events\": {}}},\n\"traceEvents\": [\n",
            env!("CARGO_PKG_VERSION"),
            self.mode,
            self.depth,
            ring.events.len(),
            ring.total.saturating_sub(ring.events.len() as u64)
        );
        out.push_str(
            "{\"ph\": \"M\", \"name\": \"process_name\", \"pid\": 1, \"args\": {\"name\": \"nrt-async-shim\"}}",
        );
        for t in 1..NEXT_TID.load(Ordering::Relaxed) {
            let _ = write!(
                out,
                ",\n{{\"ph\": \"M\", \"name\": \"thread_name\", \"pid\": 1, \"tid\": {t}, \"args\": {{\"name\": \"app thread {t}\"}}}}"
            );
        }
        for c in 0..self.cores_seen.load(Ordering::Relaxed) {
            let _ = write!(
                out,
                ",\n{{\"ph\": \"M\", \"name\": \"thread_name\", \"pid\": 1, \"tid\": {}, \"args\": {{\"name\": \"core {c} compute\"}}}}",
                device_tid(c)
            );
        }
        for (flow_id, e) in ring.ordered().enumerate() {
            match e {
                Event::Host { tid, name, ts, dur, blocked, waited } => {
                    let _ = write!(
                        out,
                        ",\n{{\"ph\": \"X\", \"cat\": \"host\", \"name\": \"{name}\", \"pid\": 1, \"tid\": {tid}, \
                         \"ts\": {:.3}, \"dur\": {:.3}, \"args\": {{\"blocked_us\": {:.3}",
                        us(*ts),
                        us(*dur),
                        us(*blocked)
                    );
                    if let Some(Wait { core, job, why, tensor, .. }) = waited {
                        match job {
                            Some(j) => {
                                let _ = write!(out, ", \"waited_for\": \"core{core} #{j}\"");
                            }
                            None => {
                                let _ = write!(out, ", \"waited_for\": \"core{core} window\"");
                            }
                        }
                        let _ = write!(out, ", \"hazard\": \"{why}\"");
                        if let Some(t) = tensor {
                            let _ = write!(out, ", \"tensor\": \"{}\"", json_escape(t));
                        }
                    }
                    out.push_str("}}");
                }
                Event::Device { core, job, model, ts, dur, status } => {
                    let _ = write!(
                        out,
                        ",\n{{\"ph\": \"X\", \"cat\": \"device\", \"name\": \"model {model} #{job}\", \"pid\": 1, \
                         \"tid\": {}, \"ts\": {:.3}, \"dur\": {:.3}, \"args\": {{\"core\": {core}, \"job\": {job}, \
                         \"status\": {status}}}}}",
                        device_tid(*core),
                        us(*ts),
                        us(*dur)
                    );
                }
                Event::Flow { core, tid, from, to } => {
                    // Bound to the end of the request's slice and of the wait.
                    let _ = write!(
                        out,
                        ",\n{{\"ph\": \"s\", \"cat\": \"dependency\", \"name\": \"waits for\", \"id\": {flow_id}, \
                         \"pid\": 1, \"tid\": {}, \"ts\": {:.3}}},\n{{\"ph\": \"f\", \"bp\": \"e\", \"cat\": \
                         \"dependency\", \"name\": \"waits for\", \"id\": {flow_id}, \"pid\": 1, \"tid\": {tid}, \"ts\": {:.3}}}",
                        device_tid(*core),
                        us(from.saturating_sub(1)),
                        us(*to)
                    );
                }
            }
        }
        out.push_str("\n]}\n");
        out
    }

    pub(super) fn sorted_calls(&self) -> Vec<&'static CallStat> {
        let mut calls = self.calls.lock().clone();
        calls.sort_by_key(|c| c.name);
        calls
    }

    pub(super) fn sorted_waits(&self) -> Vec<(WaitKey, WaitAgg)> {
        let mut waits: Vec<_> = self.waits.lock().iter().map(|(k, v)| (k.clone(), *v)).collect();
        waits.sort_by_key(|w| std::cmp::Reverse(w.1.ns));
        waits
    }

    /// The three largest sources of waiting, in plain words.
    pub(super) fn advice(&self, wall_ns: u64) -> Vec<String> {
        self.sorted_waits()
            .into_iter()
            // A renamed write is marked in the waits (0 ns), not a wait to advise on.
            .filter(|(k, _)| k.why != "renamed")
            .take(3)
            .map(|(k, v)| {
                let pct = 100.0 * v.ns as f64 / wall_ns.max(1) as f64;
                let mut what = k.tensor.as_deref().map_or_else(|| "tensors".to_string(), |t| format!("'{t}'"));
                if let Some(at) = site_text(k.site) {
                    what = format!("{what} at {at}");
                }
                match (k.call, k.why) {
                    (_, "window-full") => format!(
                        "{}{} waited {pct:.0}% of the run for room in the in-flight window (depth {}): the device is \
                         the bottleneck; a deeper window (NRT_SHIM_MAX_INFLIGHT) only helps if requests vary in length",
                        k.call,
                        site_text(k.site).map(|s| format!(" at {s}")).unwrap_or_default(),
                        self.depth
                    ),
                    (c, "read-after-write") if c.contains("read") || c.contains("completion") => format!(
                        "reads of {what} waited {pct:.0}% of the run for the execution that produces them: read them \
                         one step later (after submitting the next request) to overlap"
                    ),
                    (_, "write-after-read") => format!(
                        "writes to {what} waited {pct:.0}% of the run for executions still reading them: write into a \
                         second buffer (double-buffer the inputs) so the transfer overlaps compute"
                    ),
                    (_, "write-after-write") => format!(
                        "writes to {what} waited {pct:.0}% of the run for executions that produce them: write after \
                         reading the results, or into a second buffer"
                    ),
                    (call, why) => format!("{call} on {what} waited {pct:.0}% of the run ({why})"),
                }
            })
            .collect()
    }

    pub(super) fn stats_json(&self) -> String {
        let wall = self.now_ns();
        let mut s = String::new();
        let _ = write!(
            s,
            "{{\"version\": \"{}\", \"wall_us\": {:.3}, \"mode\": \"{}\", \"in_flight_depth\": {},\n\"calls\": {{",
            env!("CARGO_PKG_VERSION"),
            wall as f64 / 1000.0,
            self.mode,
            self.depth
        );
        for (i, c) in self.sorted_calls().iter().enumerate() {
            let _ = write!(
                s,
                "{}\"{}\": {{\"count\": {}, \"blocked_us\": {{\"total\": {:.3}, \"median\": {:.3}, \"p99\": {:.3}}}}}",
                if i > 0 { ", " } else { "" },
                c.name,
                c.count.load(Ordering::Relaxed),
                c.blocked_ns.load(Ordering::Relaxed) as f64 / 1000.0,
                c.quantile_us(0.5),
                c.quantile_us(0.99)
            );
        }
        s.push_str("},\n\"waits\": [");
        for (i, (k, v)) in self.sorted_waits().iter().enumerate() {
            let tensor = k.tensor.as_deref().map_or_else(|| "null".to_string(), |t| format!("\"{}\"", json_escape(t)));
            let site = site_text(k.site).map_or_else(|| "null".to_string(), |t| format!("\"{}\"", json_escape(&t)));
            let _ = write!(
                s,
                "{}{{\"tensor\": {tensor}, \"call\": \"{}\", \"hazard\": \"{}\", \"site\": {site}, \"count\": {}, \
                 \"total_us\": {:.3}, \"share_of_run\": {:.4}}}",
                if i > 0 { ", " } else { "" },
                k.call,
                k.why,
                v.count,
                v.ns as f64 / 1000.0,
                v.ns as f64 / wall.max(1) as f64
            );
        }
        s.push_str("],\n\"queue_depth\": {");
        let mut first = true;
        for (d, n) in self.queue_depth.iter().enumerate() {
            let n = n.load(Ordering::Relaxed);
            if n > 0 {
                let _ = write!(s, "{}\"{d}\": {n}", if first { "" } else { ", " });
                first = false;
            }
        }
        let _ = write!(s, "}},\n\"counters\": {},\n\"advice\": [", COUNTERS.to_json());
        for (i, a) in self.advice(wall).iter().enumerate() {
            let _ = write!(s, "{}\"{}\"", if i > 0 { ", " } else { "" }, json_escape(a));
        }
        s.push_str("]}\n");
        s
    }

    pub(super) fn stats_text(&self) -> String {
        let wall = self.now_ns();
        let mut s = String::new();
        let p = "nrt-async-shim: stats:";
        let _ = writeln!(s, "{p} {:.3} s, mode {}, in-flight depth {}", wall as f64 / 1e9, self.mode, self.depth);
        let _ =
            writeln!(s, "{p}   {:<36} {:>9} {:>14} {:>12} {:>12}", "call", "count", "blocked total", "median", "p99");
        for c in self.sorted_calls() {
            let _ = writeln!(
                s,
                "{p}   {:<36} {:>9} {:>11.3} ms {:>9.1} us {:>9.1} us",
                c.name,
                c.count.load(Ordering::Relaxed),
                c.blocked_ns.load(Ordering::Relaxed) as f64 / 1e6,
                c.quantile_us(0.5),
                c.quantile_us(0.99)
            );
        }
        for (k, v) in self.sorted_waits().iter().take(10) {
            let _ = writeln!(
                s,
                "{p}   waited: {} {}{} ({}): {} waits, {:.3} ms ({:.1}% of the run)",
                k.call,
                k.tensor.as_deref().map_or_else(|| "-".to_string(), |t| format!("'{t}'")),
                site_text(k.site).map(|s| format!(" at {s}")).unwrap_or_default(),
                k.why,
                v.count,
                v.ns as f64 / 1e6,
                100.0 * v.ns as f64 / wall.max(1) as f64
            );
        }
        let depths: Vec<String> = self
            .queue_depth
            .iter()
            .enumerate()
            .filter(|(_, n)| n.load(Ordering::Relaxed) > 0)
            .map(|(d, n)| format!("{d}:{}", n.load(Ordering::Relaxed)))
            .collect();
        let _ = writeln!(s, "{p}   requests outstanding at nrt_execute (depth:count): {}", depths.join(" "));
        let _ = writeln!(s, "{p}   counters: {}", COUNTERS.to_json());
        for (i, a) in self.advice(wall).iter().enumerate() {
            let _ = writeln!(s, "{p}   {}. {a}", i + 1);
        }
        s
    }
}

/// A call site in words, resolved now (report time; NRT_SHIM_ADDR2LINE, default
/// `addr2line`, gives file:line): "main (app.c:57) [app+0x1c6b]".
pub(super) fn site_text(site: usize) -> Option<String> {
    static TOOL: OnceCell<Option<String>> = OnceCell::new();
    let tool = TOOL.get_or_init(|| nrt_common::site::addr2line_tool("NRT_SHIM_ADDR2LINE"));
    nrt_common::site::resolve(site, tool.as_deref()).map(|r| r.text())
}

pub(super) fn device_tid(core: u32) -> u32 {
    1000 + 16 * core
}

pub(super) fn json_escape(s: &str) -> String {
    nrt_common::json::escape(s, nrt_common::json::Controls::Unicode)
}

pub(super) fn write_atomically(path: &str, text: &str) -> std::io::Result<()> {
    let tmp = format!("{path}.tmp.{}", std::process::id());
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

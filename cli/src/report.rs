//! `nrt-shim report TRACE... [--svg OUT]`: the text summary of each trace and, for
//! several, how they compare; `--svg` draws them on one time axis.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::svg::{self, Figures, Run};
use crate::trace::{self, Kind, Trace};

pub fn command(paths: &[PathBuf], svg_out: Option<&Path>) -> ExitCode {
    // Every file is read before anything is printed: one bad file, one error line.
    let mut traces = Vec::with_capacity(paths.len());
    for path in paths {
        match load(path) {
            Ok(t) => traces.push(t),
            Err(e) => {
                crate::error(e);
                return ExitCode::from(2);
            }
        }
    }
    let labels = labels(paths);
    for (i, (t, path)) in traces.iter().zip(paths).enumerate() {
        if i > 0 {
            println!();
        }
        print!("{}", summary(t, &path.display().to_string()));
    }
    let runs: Vec<Run> = traces
        .iter()
        .zip(&labels)
        .map(|(t, label)| Run { label: label.clone(), detail: detail(t), trace: t })
        .collect();
    if runs.len() > 1 {
        println!();
        print!("{}", comparison(&runs));
    }
    if let Some(out) = svg_out {
        let picture = match runs.as_slice() {
            [one] => svg::render(one.trace, &one.label, &one.detail),
            _ => svg::render_runs(&format!("Timelines compared: {}", labels.join(" vs ")), &runs),
        };
        if let Err(e) = std::fs::write(out, picture) {
            crate::error(format_args!(
                "cannot write {}: {e}: check the directory exists and is writable",
                out.display()
            ));
            return ExitCode::from(1);
        }
        println!("timeline: {}", out.display());
    }
    ExitCode::SUCCESS
}

fn load(path: &Path) -> Result<Trace, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read {}: {e}: give the file written by NRT_SHIM_TRACE (or `nrt-shim run --trace PATH`)",
            path.display()
        )
    })?;
    Trace::parse(&text).map_err(|e| {
        format!(
            "{} is not a trace: {e}: a program killed before exit writes none; the format is docs/trace-format.md",
            path.display()
        )
    })
}

/// A short name per file: its name without `.json` / `.trace`, or the whole path
/// where two files would get the same name.
fn labels(paths: &[PathBuf]) -> Vec<String> {
    let short = |p: &PathBuf| -> String {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| p.display().to_string());
        let name = name.strip_suffix(".json").unwrap_or(&name);
        name.strip_suffix(".trace").unwrap_or(name).to_string()
    };
    let names: Vec<String> = paths.iter().map(short).collect();
    names
        .iter()
        .zip(paths)
        .map(|(n, p)| if names.iter().filter(|m| *m == n).count() > 1 { p.display().to_string() } else { n.clone() })
        .collect()
}

/// "nrt-async-shim 0.1.0, mode async, in-flight depth 4" from the trace's otherData.
pub fn detail(t: &Trace) -> String {
    let o = &t.other;
    let mut parts = Vec::new();
    if let Some(tool) = o.get("tool") {
        parts.push([tool.as_str(), o.get("version").map(String::as_str).unwrap_or("")].join(" ").trim().to_string());
    }
    if let Some(m) = o.get("mode") {
        parts.push(format!("mode {m}"));
    }
    if let Some(d) = o.get("in_flight_depth") {
        parts.push(format!("in-flight depth {d}"));
    }
    parts.join(", ")
}

/// The runs side by side: wall time, device utilisation, speed against the first.
pub fn comparison(runs: &[Run]) -> String {
    let mut s = String::new();
    let width = runs.iter().map(|r| r.label.chars().count()).max().unwrap_or(0).max(5);
    let first = Figures::of(runs[0].trace).wall_us;
    let _ = writeln!(s, "{:<width$} {:>10} {:>12} {:>10}", "trace", "wall ms", "device busy", "speed-up");
    for r in runs {
        let f = Figures::of(r.trace);
        let busy = f.device_busy.map(|b| format!("{:.0}%", b * 100.0)).unwrap_or_else(|| "-".into());
        let speed = if f.wall_us > 0.0 { format!("{:.2}x", first / f.wall_us) } else { "-".into() };
        let _ = writeln!(s, "{:<width$} {:>10} {:>12} {:>10}", r.label, ms(f.wall_us), busy, speed);
    }
    let _ = writeln!(
        s,
        "wall: first event to last in each trace; device busy: mean busy share of its device lanes; speed-up: against {}",
        runs[0].label
    );
    s
}

fn ms(us: f64) -> String {
    // + 0.0: an empty sum is -0.0, which would print as "-0.00".
    format!("{:.2}", us / 1000.0 + 0.0)
}

/// The per-host-call aggregate.
#[derive(Default)]
struct Call {
    count: u64,
    total: f64,
    blocked: f64,
    max_blocked: f64,
}

/// The text summary.
pub fn summary(t: &Trace, name: &str) -> String {
    let mut s = String::new();
    let o = &t.other;
    let get = |k: &str| o.get(k).map(String::as_str).unwrap_or("?");
    let _ = writeln!(s, "trace: {name}");
    if !o.is_empty() {
        let mut parts = vec![format!(
            "written by {}",
            [get("tool"), o.get("version").map(String::as_str).unwrap_or("")].join(" ").trim()
        )];
        if let Some(m) = o.get("mode") {
            parts.push(format!("mode {m}"));
        }
        if let Some(d) = o.get("in_flight_depth") {
            parts.push(format!("in-flight depth {d}"));
        }
        if let Some(n) = o.get("events") {
            parts.push(format!("{n} events, {} dropped", t.dropped_events));
        }
        let _ = writeln!(s, "  {}", parts.join(", "));
    }
    if let Some(note) = o.get("note") {
        let _ = writeln!(s, "  note: {note}");
    }
    if t.dropped_events > 0 {
        let _ = writeln!(
            s,
            "  warning: {} events were dropped (the oldest): raise NRT_SHIM_TRACE_EVENTS for a complete picture",
            t.dropped_events
        );
    }
    let span = t.span();
    let _ = writeln!(s, "  span: {} ms (first event at {} ms, last ends at {} ms)", ms(span), ms(t.start), ms(t.end));
    if t.tracks.is_empty() {
        let _ = writeln!(s, "  (no tracks)");
        return s;
    }

    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<24} {:>10} {:>6} {:>11}  longest idle gaps (ms, from..to ms)",
        "track", "busy ms", "util", "blocked ms"
    );
    for tr in &t.tracks {
        let busy = trace::busy(tr);
        let busy_us: f64 = busy.iter().map(|(a, b)| b - a).sum();
        let util = if span > 0.0 { busy_us / span * 100.0 } else { 0.0 };
        let blocked: f64 = trace::blocked(tr).iter().map(|(a, b)| b - a).sum();
        let gaps = trace::gaps(&busy, t.start, t.end);
        let gap_text: Vec<String> =
            gaps.iter().take(3).map(|(a, b)| format!("{} ({}..{})", ms(b - a), ms(*a), ms(*b))).collect();
        let label = match tr.kind {
            Kind::Host => format!("{} (calls)", tr.name),
            Kind::Device => tr.name.clone(),
        };
        let blocked_text = if tr.kind == Kind::Host { ms(blocked) } else { "-".into() };
        let _ = writeln!(
            s,
            "{:<24} {:>10} {:>5.0}% {:>11}  {}",
            label,
            ms(busy_us),
            util,
            blocked_text,
            if gap_text.is_empty() { "none".into() } else { gap_text.join(", ") }
        );
    }

    let mut calls: BTreeMap<&str, Call> = BTreeMap::new();
    for tr in t.tracks.iter().filter(|tr| tr.kind == Kind::Host) {
        for sl in &tr.slices {
            let c = calls.entry(&sl.name).or_default();
            c.count += 1;
            c.total += sl.dur;
            c.blocked += sl.blocked_us;
            c.max_blocked = c.max_blocked.max(sl.blocked_us);
        }
    }
    if !calls.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "{:<32} {:>7} {:>10} {:>11} {:>11}",
            "host call", "count", "total ms", "blocked ms", "max wait ms"
        );
        let mut rows: Vec<_> = calls.into_iter().collect();
        rows.sort_by(|a, b| b.1.blocked.total_cmp(&a.1.blocked).then(a.0.cmp(b.0)));
        for (name, c) in rows {
            let _ = writeln!(
                s,
                "{:<32} {:>7} {:>10} {:>11} {:>11}",
                name,
                c.count,
                ms(c.total),
                ms(c.blocked),
                ms(c.max_blocked)
            );
        }
    }

    // The top waits: grouped by (call, tensor, hazard), largest total first.
    // (call, tensor, hazard) -> (count, total, longest, where the longest waited)
    type Waits = BTreeMap<(String, String, String), (u64, f64, f64, String)>;
    let mut waits: Waits = BTreeMap::new();
    for tr in t.tracks.iter().filter(|tr| tr.kind == Kind::Host) {
        for sl in tr.slices.iter().filter(|sl| sl.blocked_us > 0.0) {
            let key = (
                sl.name.clone(),
                sl.tensor.clone().unwrap_or_default(),
                sl.hazard.clone().unwrap_or_else(|| "unknown".into()),
            );
            let w = waits.entry(key).or_insert((0, 0.0, 0.0, String::new()));
            w.0 += 1;
            w.1 += sl.blocked_us;
            if sl.blocked_us > w.2 {
                w.2 = sl.blocked_us;
                w.3 = sl
                    .waited_for
                    .clone()
                    .map(|f| format!(" (longest: {} ms for {f} at {} ms)", ms(sl.blocked_us), ms(sl.ts)))
                    .unwrap_or_default();
            }
        }
    }
    let _ = writeln!(s);
    if waits.is_empty() {
        let _ = writeln!(s, "top waits: none (no call waited for the device)");
    } else {
        let _ = writeln!(s, "top waits:");
        let mut rows: Vec<_> = waits.into_iter().collect();
        rows.sort_by(|a, b| (b.1).1.total_cmp(&(a.1).1));
        for (i, ((call, tensor, hazard), (count, total, _, longest))) in rows.iter().take(5).enumerate() {
            let share = if span > 0.0 { total / span * 100.0 } else { 0.0 };
            let tensor = if tensor.is_empty() { String::new() } else { format!(" of '{tensor}'") };
            let _ = writeln!(
                s,
                "  {}. {call}{tensor}, {hazard}: {count} wait(s), {} ms = {share:.0}% of the span{longest}",
                i + 1,
                ms(*total)
            );
        }
    }
    s
}

#[cfg(test)]
pub use tests::TRACE as HAND_TRACE;

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-written trace: one application thread, one core; the reads of the
    /// previous request's outputs wait 0.8 ms each; the core is idle 2 ms in the middle.
    pub const TRACE: &str = r#"{
      "displayTimeUnit": "ms",
      "otherData": {"tool": "nrt-async-shim", "version": "0.1.0", "mode": "async", "in_flight_depth": 4, "events": 7, "dropped_events": 0},
      "traceEvents": [
        {"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "nrt-async-shim"}},
        {"ph": "M", "name": "thread_name", "pid": 1, "tid": 1, "args": {"name": "app thread 1"}},
        {"ph": "M", "name": "thread_name", "pid": 1, "tid": 1000, "args": {"name": "core 0 compute"}},
        {"ph": "X", "cat": "host", "name": "nrt_execute", "pid": 1, "tid": 1, "ts": 0.0, "dur": 10.0, "args": {"blocked_us": 0.0}},
        {"ph": "X", "cat": "device", "name": "m #1", "pid": 1, "tid": 1000, "ts": 5.0, "dur": 1000.0, "args": {"core": 0, "job": 1, "status": 0}},
        {"ph": "X", "cat": "host", "name": "nrt_tensor_read", "pid": 1, "tid": 1, "ts": 200.0, "dur": 810.0,
         "args": {"blocked_us": 800.0, "waited_for": "core0 #1", "hazard": "read-after-write", "tensor": "logits"}},
        {"ph": "X", "cat": "host", "name": "nrt_execute", "pid": 1, "tid": 1, "ts": 3000.0, "dur": 10.0, "args": {"blocked_us": 0.0}},
        {"ph": "X", "cat": "device", "name": "m #2", "pid": 1, "tid": 1000, "ts": 3005.0, "dur": 1000.0, "args": {"core": 0, "job": 2, "status": 0}},
        {"ph": "X", "cat": "host", "name": "nrt_tensor_read", "pid": 1, "tid": 1, "ts": 3200.0, "dur": 810.0,
         "args": {"blocked_us": 800.0, "waited_for": "core0 #2", "hazard": "read-after-write", "tensor": "logits"}},
        {"ph": "s", "cat": "dependency", "name": "waits for", "id": 1, "pid": 1, "tid": 1000, "ts": 1005.0},
        {"ph": "f", "bp": "e", "cat": "dependency", "name": "waits for", "id": 1, "pid": 1, "tid": 1, "ts": 1010.0}
      ]}"#;

    #[test]
    fn summary_of_a_hand_written_trace() {
        let t = Trace::parse(TRACE).unwrap();
        let s = summary(&t, "hand.json");
        assert!(s.contains("span: 4.01 ms"), "{s}");
        // The core: 2 ms busy of 4.01 ms; its longest idle gap is 1.005..3.005 ms.
        let core = s.lines().find(|l| l.starts_with("core 0 compute")).unwrap();
        assert!(core.contains(" 2.00 ") && core.contains("50%") && core.contains("2.00 (1.00..3.00)"), "{core}");
        let reads = s.lines().find(|l| l.starts_with("nrt_tensor_read")).unwrap();
        assert!(
            reads.split_whitespace().collect::<Vec<_>>() == ["nrt_tensor_read", "2", "1.62", "1.60", "0.80"],
            "{reads}"
        );
        assert!(
            s.contains("1. nrt_tensor_read of 'logits', read-after-write: 2 wait(s), 1.60 ms = 40% of the span"),
            "{s}"
        );
        assert!(s.contains("for core0 #1"), "{s}");
    }

    #[test]
    fn an_empty_trace_is_summarised() {
        let t = Trace::parse(r#"{"traceEvents": []}"#).unwrap();
        assert!(summary(&t, "e").contains("(no tracks)"));
    }
}

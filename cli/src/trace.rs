//! Reading a trace in the format of docs/trace-format.md (Chrome trace-event JSON,
//! object form): tracks named by `thread_name` metadata, complete (`"ph": "X"`) events.

use std::collections::BTreeMap;

use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// An application thread's legacy calls (`tid` < 1000).
    Host,
    /// A core's execution unit (`tid` >= 1000).
    Device,
}

#[derive(Clone, Debug, Default)]
pub struct Slice {
    pub name: String,
    pub ts: f64,
    pub dur: f64,
    pub blocked_us: f64,
    pub waited_for: Option<String>,
    pub hazard: Option<String>,
    pub tensor: Option<String>,
}

impl Slice {
    pub fn end(&self) -> f64 {
        self.ts + self.dur
    }
}

#[derive(Clone, Debug)]
pub struct Track {
    pub tid: u64,
    pub name: String,
    pub kind: Kind,
    pub slices: Vec<Slice>,
}

#[derive(Clone, Debug, Default)]
pub struct Trace {
    pub tracks: Vec<Track>,
    /// The first event's start and the last event's end, microseconds.
    pub start: f64,
    pub end: f64,
    /// `otherData`: "tool", "mode", ... as text.
    pub other: BTreeMap<String, String>,
    pub dropped_events: u64,
}

impl Trace {
    pub fn span(&self) -> f64 {
        (self.end - self.start).max(0.0)
    }

    pub fn parse(text: &str) -> Result<Trace, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let events = match &v {
            Value::Object(o) => o.get("traceEvents").and_then(Value::as_array),
            Value::Array(a) => Some(a),
            _ => None,
        }
        .ok_or("no \"traceEvents\" list: not a Chrome trace-event file")?;
        let mut other = BTreeMap::new();
        let mut dropped_events = 0;
        if let Some(Value::Object(o)) = v.get("otherData") {
            for (k, val) in o {
                other.insert(k.clone(), val.as_str().map(str::to_string).unwrap_or_else(|| val.to_string()));
            }
            dropped_events = o.get("dropped_events").and_then(Value::as_u64).unwrap_or(0);
        }
        let mut names: BTreeMap<u64, String> = BTreeMap::new();
        let mut slices: BTreeMap<u64, Vec<Slice>> = BTreeMap::new();
        let mut cats: BTreeMap<u64, Kind> = BTreeMap::new();
        for e in events {
            let tid = e.get("tid").and_then(Value::as_u64);
            match (e.get("ph").and_then(Value::as_str), tid) {
                (Some("M"), Some(tid)) if e.get("name").and_then(Value::as_str) == Some("thread_name") => {
                    if let Some(n) = e.pointer("/args/name").and_then(Value::as_str) {
                        names.insert(tid, n.to_string());
                    }
                }
                (Some("X"), Some(tid)) => {
                    let num = |k: &str| e.get(k).and_then(Value::as_f64);
                    let (Some(ts), Some(dur)) = (num("ts"), num("dur")) else {
                        return Err(format!("an \"X\" event without ts/dur: {e}"));
                    };
                    let arg = |k: &str| e.pointer(&format!("/args/{k}")).and_then(Value::as_str).map(str::to_string);
                    let kind = match e.get("cat").and_then(Value::as_str) {
                        Some("device") => Kind::Device,
                        Some("host") => Kind::Host,
                        _ if tid >= 1000 => Kind::Device,
                        _ => Kind::Host,
                    };
                    cats.insert(tid, kind);
                    slices.entry(tid).or_default().push(Slice {
                        name: e.get("name").and_then(Value::as_str).unwrap_or("?").to_string(),
                        ts,
                        dur: dur.max(0.0),
                        blocked_us: e.pointer("/args/blocked_us").and_then(Value::as_f64).unwrap_or(0.0).max(0.0),
                        waited_for: arg("waited_for"),
                        hazard: arg("hazard"),
                        tensor: arg("tensor"),
                    });
                }
                _ => {}
            }
        }
        let mut t = Trace { other, dropped_events, start: f64::INFINITY, end: f64::NEG_INFINITY, ..Default::default() };
        // Named tracks without events are lanes too (an idle core is worth seeing).
        let tids: std::collections::BTreeSet<u64> = names.keys().chain(slices.keys()).copied().collect();
        for tid in tids {
            let mut s = slices.remove(&tid).unwrap_or_default();
            s.sort_by(|a, b| a.ts.total_cmp(&b.ts));
            for x in &s {
                t.start = t.start.min(x.ts);
                t.end = t.end.max(x.end());
            }
            let kind = cats.get(&tid).copied().unwrap_or(if tid >= 1000 { Kind::Device } else { Kind::Host });
            let name = names.get(&tid).cloned().unwrap_or_else(|| format!("track {tid}"));
            t.tracks.push(Track { tid, name, kind, slices: s });
        }
        t.tracks.sort_by_key(|tr| (tr.kind, tr.tid));
        if !t.start.is_finite() {
            t.start = 0.0;
            t.end = 0.0;
        }
        Ok(t)
    }
}

/// The union of the intervals `[ts, ts + dur)`, sorted and merged.
pub fn merged(intervals: impl IntoIterator<Item = (f64, f64)>) -> Vec<(f64, f64)> {
    let mut v: Vec<(f64, f64)> = intervals.into_iter().filter(|(a, b)| b > a).collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Busy intervals of a track (merged).
pub fn busy(track: &Track) -> Vec<(f64, f64)> {
    merged(track.slices.iter().map(|s| (s.ts, s.end())))
}

/// Blocked intervals of a host track: the last `blocked_us` of each call (the shim
/// records how long a call waited, not when; a call waits, then does its work, which
/// is short next to the wait).
pub fn blocked(track: &Track) -> Vec<(f64, f64)> {
    merged(track.slices.iter().filter(|s| s.blocked_us > 0.0).map(|s| (s.end() - s.blocked_us.min(s.dur), s.end())))
}

/// The idle gaps between `start` and `end` not covered by `busy`, longest first.
pub fn gaps(busy: &[(f64, f64)], start: f64, end: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let mut at = start;
    for &(a, b) in busy {
        if a > at {
            out.push((at, a));
        }
        at = at.max(b);
    }
    if end > at {
        out.push((at, end));
    }
    out.sort_by(|x, y| (y.1 - y.0).total_cmp(&(x.1 - x.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_merge_and_gaps_sort() {
        let m = merged([(5.0, 7.0), (0.0, 2.0), (1.0, 3.0), (9.0, 9.0)]);
        assert_eq!(m, vec![(0.0, 3.0), (5.0, 7.0)]);
        assert_eq!(gaps(&m, 0.0, 10.0), vec![(7.0, 10.0), (3.0, 5.0)]);
    }

    #[test]
    fn parses_tracks_and_metadata() {
        let text = r#"{"otherData": {"tool": "nrt-async-shim", "mode": "async", "dropped_events": 3},
          "traceEvents": [
            {"ph": "M", "name": "thread_name", "pid": 1, "tid": 1000, "args": {"name": "core 0 compute"}},
            {"ph": "M", "name": "thread_name", "pid": 1, "tid": 1, "args": {"name": "app thread 1"}},
            {"ph": "M", "name": "thread_name", "pid": 1, "tid": 1016, "args": {"name": "core 1 compute"}},
            {"ph": "X", "cat": "device", "name": "m #1", "pid": 1, "tid": 1000, "ts": 10.0, "dur": 5.0, "args": {"core": 0, "job": 1, "status": 0}},
            {"ph": "X", "cat": "host", "name": "nrt_tensor_read", "pid": 1, "tid": 1, "ts": 9.0, "dur": 7.0,
             "args": {"blocked_us": 6.0, "waited_for": "core0 #1", "hazard": "read-after-write", "tensor": "z"}},
            {"ph": "s", "cat": "dependency", "name": "waits for", "id": 1, "pid": 1, "tid": 1000, "ts": 15.0}
          ]}"#;
        let t = Trace::parse(text).unwrap();
        assert_eq!(t.tracks.len(), 3);
        assert_eq!(t.tracks[0].name, "app thread 1");
        assert_eq!(t.tracks[0].kind, Kind::Host);
        assert_eq!(t.tracks[1].name, "core 0 compute");
        assert!(t.tracks[2].slices.is_empty());
        assert_eq!((t.start, t.end), (9.0, 16.0));
        assert_eq!(t.dropped_events, 3);
        assert_eq!(t.other["mode"], "async");
        assert_eq!(blocked(&t.tracks[0]), vec![(10.0, 16.0)]);
        assert!(Trace::parse("[1, 2").is_err());
        assert!(Trace::parse("{}").is_err());
    }
}

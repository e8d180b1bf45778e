//! The hazard oracle: byte ranges of storages used by in-flight device ops.

use std::collections::HashMap;

pub const MAX_EXAMPLES: usize = 16;

#[derive(Debug, Clone)]
pub struct Range {
    pub storage: u64,
    pub start: usize,
    pub end: usize,
    pub write: bool,
    pub tensor: String,
}

#[derive(Debug, Clone)]
struct InFlight {
    unit: u16,
    what: String,
    ranges: Vec<Range>,
    /// A hazard involving this op was counted already (so an outside write
    /// that the same race explains is not counted twice).
    raced: bool,
}

#[derive(Debug, Default)]
pub struct Oracle {
    inflight: HashMap<u64, InFlight>,
    next_key: u64,
    pub count: u64,
    pub examples: Vec<String>,
}

fn overlap(a: &Range, b: &Range) -> bool {
    a.storage == b.storage && a.start < b.end && b.start < a.end && (a.write || b.write)
}

fn rw(w: bool) -> &'static str {
    if w {
        "writing"
    } else {
        "reading"
    }
}

impl Oracle {
    /// Checks an access (by a unit, or by the host when `unit` is None) against
    /// in-flight ops of other units; counts hazards. Returns how many were found.
    pub fn check(&mut self, unit: Option<u16>, what: &str, ranges: &[Range]) -> u64 {
        let mut found = 0;
        let mut keys: Vec<&u64> = self.inflight.keys().collect();
        keys.sort();
        let mut new_examples = Vec::new();
        let mut raced = Vec::new();
        for k in keys {
            let op = &self.inflight[k];
            if Some(op.unit) == unit {
                continue;
            }
            for r in ranges {
                if let Some(o) = op.ranges.iter().find(|o| overlap(r, o)) {
                    found += 1;
                    raced.push(*k);
                    if self.examples.len() + new_examples.len() < MAX_EXAMPLES {
                        new_examples.push(format!(
                            "{what} {} tensor '{}' bytes [{}..{}) of storage #{} while in-flight {} is {} tensor '{}' bytes [{}..{})",
                            rw(r.write),
                            r.tensor,
                            r.start,
                            r.end,
                            r.storage,
                            op.what,
                            rw(o.write),
                            o.tensor,
                            o.start,
                            o.end
                        ));
                    }
                    break;
                }
            }
        }
        for k in raced {
            if let Some(op) = self.inflight.get_mut(&k) {
                op.raced = true;
            }
        }
        self.count += found;
        self.examples.extend(new_examples);
        found
    }

    /// Counts one hazard for in-flight op `key` whose bytes changed behind the
    /// simulator (`what` says how), unless a hazard involving it was counted.
    pub fn external(&mut self, key: u64, what: impl FnOnce(&str) -> String) {
        let Some(op) = self.inflight.get_mut(&key) else { return };
        if op.raced {
            return;
        }
        op.raced = true;
        self.count += 1;
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(what(&op.what));
        }
    }

    /// Checks and registers a device op; returns its key for `remove`.
    pub fn register(&mut self, unit: u16, what: String, ranges: Vec<Range>) -> u64 {
        let n = self.check(Some(unit), &what, &ranges);
        if n > 0 {
            log::debug!("hazard oracle: {n} hazard(s) at {what}");
        }
        self.next_key += 1;
        self.inflight.insert(self.next_key, InFlight { unit, what, ranges, raced: n > 0 });
        self.next_key
    }

    pub fn remove(&mut self, key: u64) {
        self.inflight.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn r(storage: u64, start: usize, end: usize, write: bool) -> Range {
        Range { storage, start, end, write, tensor: "t".into() }
    }
    #[test]
    fn rules() {
        let mut o = Oracle::default();
        let k = o.register(1, "exec".into(), vec![r(1, 0, 100, true), r(2, 0, 10, false)]);
        // same unit: ordered, no hazard
        assert_eq!(o.check(Some(1), "x", &[r(1, 0, 10, false)]), 0);
        // read/read: no hazard
        assert_eq!(o.check(None, "x", &[r(2, 0, 10, false)]), 0);
        // disjoint: none
        assert_eq!(o.check(None, "x", &[r(1, 100, 200, true)]), 0);
        // other storage: none
        assert_eq!(o.check(None, "x", &[r(3, 0, 200, true)]), 0);
        // read of a written range from the host: hazard
        assert_eq!(o.check(None, "read", &[r(1, 99, 100, false)]), 1);
        // write of a read range from another unit: hazard
        assert_eq!(o.check(Some(2), "write", &[r(2, 5, 6, true)]), 1);
        assert_eq!(o.count, 2);
        assert_eq!(o.examples.len(), 2);
        assert!(o.examples[0].contains("in-flight exec"));
        o.remove(k);
        assert_eq!(o.check(None, "read", &[r(1, 0, 100, true)]), 0);
        for _ in 0..40 {
            o.register(5, "w".into(), vec![r(9, 0, 1, true)]);
            o.check(None, "r", &[r(9, 0, 1, false)]);
        }
        assert_eq!(o.examples.len(), MAX_EXAMPLES);
    }
    #[test]
    fn external_changes_count_once_per_op_and_not_after_a_race() {
        let mut o = Oracle::default();
        let a = o.register(1, "exec a".into(), vec![r(1, 0, 8, false)]);
        o.external(a, |w| format!("outside write during {w}"));
        o.external(a, |w| format!("again during {w}"));
        assert_eq!(o.count, 1);
        assert!(o.examples[0].contains("exec a"));
        let b = o.register(2, "exec b".into(), vec![r(2, 0, 8, false)]);
        assert_eq!(o.check(None, "write", &[r(2, 0, 1, true)]), 1);
        o.external(b, |_| "explained by the race above".into());
        assert_eq!(o.count, 2);
        o.remove(a);
        o.external(a, |_| "gone".into());
        assert_eq!(o.count, 2);
    }
}

//! The hazard oracle: byte ranges of storages used by in-flight device ops.
//! Each op keeps its program call site (a return address, see `site`), so a
//! hazard names both calls; sites are resolved only when printed.

use std::collections::HashMap;

pub const MAX_EXAMPLES: usize = 16;
/// Distinct (racing site, in-flight site) pairs kept, with their counts.
pub const MAX_SITE_PAIRS: usize = 64;

/// One hazard: the racing access and the in-flight op, each with its site.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub text: String,
    pub site: usize,
    pub inflight_site: usize,
}

/// Hazards between two call sites of the program.
#[derive(Debug, Clone, PartialEq)]
pub struct SitePair {
    pub site: usize,
    pub inflight_site: usize,
    pub count: u64,
    /// The first hazard between them.
    pub first: String,
}

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
    site: usize,
    /// A hazard involving this op was counted already (so an outside write
    /// that the same race explains is not counted twice).
    raced: bool,
}

#[derive(Debug, Default)]
pub struct Oracle {
    inflight: HashMap<u64, InFlight>,
    next_key: u64,
    pub count: u64,
    pub examples: Vec<Example>,
    /// Per pair of sites, in order of first occurrence (at most MAX_SITE_PAIRS).
    pub pairs: Vec<SitePair>,
    /// Hazards at a pair of sites not seen before, for the caller to print
    /// (NRT_SIM_HAZARDS=stderr); drained by `take_fresh`.
    fresh: Vec<Example>,
}

/// Whether two accesses conflict: one writes, and they share a byte (an empty
/// range, such as a zero-byte nrta_* transfer, touches none).
fn overlap(a: &Range, b: &Range) -> bool {
    let shared = a.start.max(b.start) < a.end.min(b.end);
    a.storage == b.storage && shared && (a.write || b.write)
}

fn rw(w: bool) -> &'static str {
    if w {
        "writing"
    } else {
        "reading"
    }
}

impl Oracle {
    /// Checks an access (by a unit, or by the host when `unit` is None), made
    /// at `site`, against in-flight ops of other units; counts hazards.
    /// Returns how many were found.
    pub fn check(&mut self, unit: Option<u16>, what: &str, ranges: &[Range], site: usize) -> u64 {
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
                    let full = self.pairs.len() >= MAX_SITE_PAIRS;
                    let pair = self.pairs.iter_mut().find(|p| p.site == site && p.inflight_site == op.site);
                    let fresh_pair = pair.is_none() && !full;
                    if let Some(p) = pair {
                        p.count += 1;
                    }
                    if fresh_pair || self.examples.len() + new_examples.len() < MAX_EXAMPLES {
                        let text = format!(
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
                        );
                        let ex = Example { text, site, inflight_site: op.site };
                        if fresh_pair {
                            self.pairs.push(SitePair {
                                site,
                                inflight_site: op.site,
                                count: 1,
                                first: ex.text.clone(),
                            });
                            self.fresh.push(ex.clone());
                        }
                        if self.examples.len() + new_examples.len() < MAX_EXAMPLES {
                            new_examples.push(ex);
                        }
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
    /// Nothing but the op is known of such a write, so it carries the op's site
    /// on both sides.
    pub fn external(&mut self, key: u64, what: impl FnOnce(&str) -> String) {
        let Some(op) = self.inflight.get_mut(&key) else { return };
        if op.raced {
            return;
        }
        op.raced = true;
        self.count += 1;
        let ex = Example { text: what(&op.what), site: 0, inflight_site: op.site };
        let full = self.pairs.len() >= MAX_SITE_PAIRS;
        let pair = self.pairs.iter_mut().find(|p| p.site == 0 && p.inflight_site == ex.inflight_site);
        match pair {
            Some(p) => p.count += 1,
            None if !full => {
                let first = ex.text.clone();
                self.pairs.push(SitePair { site: 0, inflight_site: ex.inflight_site, count: 1, first });
                self.fresh.push(ex.clone());
            }
            None => {}
        }
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(ex);
        }
    }

    /// Checks and registers a device op scheduled at `site`; returns its key for `remove`.
    pub fn register(&mut self, unit: u16, what: String, ranges: Vec<Range>, site: usize) -> u64 {
        let n = self.check(Some(unit), &what, &ranges, site);
        if n > 0 {
            log::debug!("hazard oracle: {n} hazard(s) at {what}");
        }
        self.next_key += 1;
        self.inflight.insert(self.next_key, InFlight { unit, what, ranges, site, raced: n > 0 });
        self.next_key
    }

    /// The hazards at new pairs of sites since the last call.
    pub fn take_fresh(&mut self) -> Vec<Example> {
        std::mem::take(&mut self.fresh)
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
        let k = o.register(1, "exec".into(), vec![r(1, 0, 100, true), r(2, 0, 10, false)], 0x100);
        // same unit: ordered, no hazard
        assert_eq!(o.check(Some(1), "x", &[r(1, 0, 10, false)], 7), 0);
        // read/read: no hazard
        assert_eq!(o.check(None, "x", &[r(2, 0, 10, false)], 7), 0);
        // disjoint: none
        assert_eq!(o.check(None, "x", &[r(1, 100, 200, true)], 7), 0);
        // empty, inside a written range: touches no byte, none
        assert_eq!(o.check(None, "x", &[r(1, 50, 50, false)], 7), 0);
        // other storage: none
        assert_eq!(o.check(None, "x", &[r(3, 0, 200, true)], 7), 0);
        // read of a written range from the host: hazard
        assert_eq!(o.check(None, "read", &[r(1, 99, 100, false)], 0x200), 1);
        // write of a read range from another unit: hazard
        assert_eq!(o.check(Some(2), "write", &[r(2, 5, 6, true)], 0x300), 1);
        assert_eq!(o.count, 2);
        assert_eq!(o.examples.len(), 2);
        assert!(o.examples[0].text.contains("in-flight exec"));
        // Both operations' sites: the racing call's and the in-flight op's.
        assert_eq!((o.examples[0].site, o.examples[0].inflight_site), (0x200, 0x100));
        assert_eq!(o.take_fresh().len(), 2);
        assert!(o.take_fresh().is_empty());
        // The same pair again: counted on its pair, not fresh.
        assert_eq!(o.check(None, "read", &[r(1, 0, 1, false)], 0x200), 1);
        assert!(o.take_fresh().is_empty());
        assert_eq!(o.pairs[0].count, 2);
        o.remove(k);
        assert_eq!(o.check(None, "read", &[r(1, 0, 100, true)], 0x200), 0);
        for i in 0..40 {
            o.register(5, "w".into(), vec![r(9, 0, 1, true)], 0x400);
            o.check(None, "r", &[r(9, 0, 1, false)], 0x500 + (i % 2));
        }
        assert_eq!(o.examples.len(), MAX_EXAMPLES);
        // Two new pairs, both kept even though the examples are full.
        assert_eq!(o.pairs.len(), 4);
        assert_eq!(o.take_fresh().len(), 2);
    }

    #[test]
    fn external_changes_count_once_per_op_and_not_after_a_race() {
        let mut o = Oracle::default();
        let a = o.register(1, "exec a".into(), vec![r(1, 0, 8, false)], 0x100);
        o.external(a, |w| format!("outside write during {w}"));
        o.external(a, |w| format!("again during {w}"));
        assert_eq!(o.count, 1);
        assert!(o.examples[0].text.contains("exec a"));
        assert_eq!(o.examples[0].inflight_site, 0x100);
        let b = o.register(2, "exec b".into(), vec![r(2, 0, 8, false)], 0x200);
        assert_eq!(o.check(None, "write", &[r(2, 0, 1, true)], 7), 1);
        o.external(b, |_| "explained by the race above".into());
        assert_eq!(o.count, 2);
        o.remove(a);
        o.external(a, |_| "gone".into());
        assert_eq!(o.count, 2);
    }
}

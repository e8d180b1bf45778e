//! `predict`: the shim's transcript of a fault program under the error
//! contract, derived from the reference's (the rules are listed in faults.rs).

use std::collections::{BTreeMap, HashMap, HashSet};

use super::super::diff::{OpResult, ProgResult};
use super::super::program::Program;
use super::xfer::{Staging, XferFaults};
use super::INJECTED;

/// What the contract makes of a fault program: the shim's transcript, and the
/// statuses its callbacks get per core, in order (if one is registered).
pub struct Prediction {
    pub ops: Vec<OpResult>,
    pub callbacks: BTreeMap<u32, Vec<u32>>,
    /// Writes the shim stages (failing-transfer storms only).
    pub staged: u64,
    /// Of them, the ones the simulator fails.
    pub failed_transfers: u64,
}

/// The shim's expected transcript of a fault program, from the reference's.
/// `xfer`: the storm fails staged transfers.
pub fn predict(p: &Program, reference: &ProgResult, callback: bool, xfer: Option<XferFaults>) -> Prediction {
    // slot -> (root, base, size) of tensors with storage
    let mut tens: HashMap<i64, (i64, i64, i64)> = HashMap::new();
    // root -> its core
    let mut core_of: HashMap<i64, u32> = HashMap::new();
    let mut staging = xfer.map(Staging::new);
    // roots in host memory: the shim marks no host bytes
    let mut host: HashSet<i64> = HashSet::new();
    // device roots whose CPU address was handed out (`va` of a device tensor):
    // their executions complete before nrt_execute returns (README.md)
    let mut exposed: HashSet<i64> = HashSet::new();
    let mut sets: HashMap<i64, HashMap<String, i64>> = HashMap::new();
    // root -> byte -> (status, index in `failures`): which failure's mark the byte holds
    let mut taint: HashMap<i64, HashMap<i64, (u32, usize)>> = HashMap::new();
    struct Failure {
        core: u32,
        status: u32,
        reported: bool,
    }
    let mut failures: Vec<Failure> = Vec::new();
    let mut out = Vec::new();
    let mut callbacks: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    let range_of = |tens: &HashMap<i64, (i64, i64, i64)>, t: i64, off: i64, len: i64| {
        tens.get(&t).map(|&(root, base, _)| (root, base + off, base + off + len))
    };
    for (k, op) in p.ops.iter().enumerate() {
        let r = reference.ops[k];
        let a = &op.args;
        let mut pred = r;
        let ok = r.0 == 0;
        let clear = |taint: &mut HashMap<i64, HashMap<i64, (u32, usize)>>, rg: Option<(i64, i64, i64)>| {
            if let Some((root, lo, hi)) = rg {
                if let Some(m) = taint.get_mut(&root) {
                    for b in lo..hi {
                        m.remove(&b);
                    }
                }
            }
        };
        match op.kind {
            "alloc" if ok => {
                tens.insert(a[0], (a[0], 0, a[3]));
                core_of.insert(a[0], a[2] as u32);
                exposed.remove(&a[0]);
                if a[1] != 0 {
                    host.insert(a[0]);
                }
            }
            "slice" if ok => {
                if let Some(&(root, base, _)) = tens.get(&a[1]) {
                    tens.insert(a[0], (root, base + a[2], a[3]));
                }
            }
            "va" if ok => {
                if let Some(&(root, ..)) = tens.get(&a[0]) {
                    exposed.insert(root);
                }
            }
            "free" => {
                tens.remove(&a[0]);
            }
            "sadd" if ok => {
                sets.entry(a[0]).or_default().insert(op.name.clone().unwrap_or_default(), a[1]);
            }
            "sdestroy" => {
                sets.remove(&a[0]);
            }
            "write" | "memset" if ok => {
                let len = if op.kind == "write" { a[2] } else { a[3] };
                let rg = range_of(&tens, a[0], a[1], len);
                let stageable = rg.is_some_and(|(root, ..)| !host.contains(&root) && !exposed.contains(&root));
                match (staging.as_mut().and_then(|s| s.write(len, stageable)), rg) {
                    // A failed transfer: its bytes are marked as a failed
                    // request's outputs are, and nothing reported it yet.
                    (Some(status), Some((root, lo, hi))) => {
                        let marks = taint.entry(root).or_default();
                        for b in lo..hi {
                            marks.insert(b, (status, failures.len()));
                        }
                        let core = core_of.get(&root).copied().unwrap_or(0);
                        failures.push(Failure { core, status, reported: false });
                    }
                    _ => clear(&mut taint, rg),
                }
            }
            "writeb" if ok => {
                for i in 0..a[1] as usize {
                    clear(&mut taint, range_of(&tens, a[0], a[2 + 3 * i], a[3 + 3 * i]));
                }
            }
            "exec" => {
                let m = &p.models[a[0] as usize];
                let whole = |set: i64, name: String| {
                    sets.get(&set)
                        .and_then(|s| s.get(&name))
                        .and_then(|t| tens.get(t).map(|&(root, base, size)| (root, base, base + size)))
                };
                let ins: Vec<Option<(i64, i64, i64)>> =
                    (0..m.inputs.len()).map(|i| whole(a[1], format!("i{i}"))).collect();
                let outs: Vec<Option<(i64, i64, i64)>> =
                    (0..m.outputs.len()).map(|i| whole(a[2], format!("o{i}"))).collect();
                let on_host = ins.iter().chain(&outs).flatten().any(|(root, ..)| host.contains(root));
                let dev_outs: Vec<(i64, i64, i64)> =
                    outs.iter().flatten().copied().filter(|(root, ..)| !host.contains(root)).collect();
                if ok || INJECTED.contains(&r.0) {
                    // accepted: one callback with the runtime's status
                    callbacks.entry(m.core).or_default().push(r.0);
                }
                if INJECTED.contains(&r.0) {
                    // an execution of host tensors (or of exposed device memory, which
                    // completes before nrt_execute returns) reports its own failure,
                    // unless a callback does
                    let touches_exposed = ins.iter().chain(&outs).flatten().any(|(root, ..)| exposed.contains(root));
                    let returned = (on_host || touches_exposed) && !callback;
                    pred = if returned { r } else { (0, 0, 0) };
                    // A later failure's marks replace an earlier one's.
                    for &(root, lo, hi) in &dev_outs {
                        let marks = taint.entry(root).or_default();
                        for b in lo..hi {
                            marks.insert(b, (r.0, failures.len()));
                        }
                    }
                    failures.push(Failure { core: m.core, status: r.0, reported: callback || returned });
                } else if ok {
                    // a derived failure: the first marked input's lowest marked byte
                    let first = ins.iter().flatten().find_map(|&(root, lo, hi)| {
                        let m = taint.get(&root)?;
                        let marks: Vec<(u32, usize)> = (lo..hi).filter_map(|b| m.get(&b).copied()).collect();
                        (!marks.is_empty()).then_some(marks)
                    });
                    let derived = first.as_ref().map(|marks| marks[0]);
                    for &(root, lo, hi) in &dev_outs {
                        match derived {
                            Some(mark) => {
                                let marks = taint.entry(root).or_default();
                                for b in lo..hi {
                                    marks.insert(b, mark);
                                }
                            }
                            None => clear(&mut taint, Some((root, lo, hi))),
                        }
                    }
                }
            }
            "read" | "readb" => {
                let ranges: Vec<(i64, i64, i64)> = if op.kind == "read" {
                    range_of(&tens, a[0], a[1], a[2]).into_iter().collect()
                } else {
                    (0..a[1] as usize).filter_map(|i| range_of(&tens, a[0], a[2 + 2 * i], a[3 + 2 * i])).collect()
                };
                // The read returns the status of the lowest marked byte of its
                // first marked range, and reports every failure whose marks it
                // touches (README.md, "Errors").
                if ok {
                    let mut st = None;
                    for &(root, lo, hi) in &ranges {
                        if let Some(m) = taint.get(&root) {
                            for b in lo..hi {
                                if let Some(&(s, f)) = m.get(&b) {
                                    st.get_or_insert(s);
                                    failures[f].reported = true;
                                }
                            }
                        }
                    }
                    if let Some(s) = st {
                        pred = (s, 0, 0);
                    }
                }
            }
            "drain" if ok => {
                let core = a[0] as u32;
                if let Some(f) = failures.iter().find(|f| f.core == core && !f.reported) {
                    pred = (f.status, 0, 0);
                }
                for f in failures.iter_mut().filter(|f| f.core == core) {
                    f.reported = true;
                }
            }
            _ => {}
        }
        out.push(pred);
    }
    let (staged, failed_transfers) = staging.map_or((0, 0), |s| (s.staged, s.failed));
    Prediction { ops: out, callbacks, staged, failed_transfers }
}

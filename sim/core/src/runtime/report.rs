//! The session's report (NRT_SIM_REPORT): hazards, executions, unit busy time.

use super::*;

impl Runtime {
    pub fn report_json(&self) -> String {
        let o = self.oracle.lock();
        let mut s = String::from("{\n");
        s += &format!("  \"hazards\": {},\n", o.count);
        s += "  \"hazard_examples\": [";
        let examples = o.examples.clone();
        let pairs = o.pairs.clone();
        drop(o);
        // Resolved now, without the oracle's lock (addr2line runs per new address).
        for (i, e) in examples.iter().enumerate() {
            s += if i == 0 { "\n    " } else { ",\n    " };
            s += &json_str(&super::hazards::example_text(e));
        }
        s += if examples.is_empty() { "],\n" } else { "\n  ],\n" };
        s += "  \"hazard_sites\": [";
        for (i, p) in pairs.iter().enumerate() {
            s += if i == 0 { "\n    " } else { ",\n    " };
            s += &format!(
                "{{\"count\": {}, \"racing_call\": {}, \"in_flight_op\": {}, \"first\": {}}}",
                p.count,
                site_json(p.site),
                site_json(p.inflight_site),
                json_str(&p.first)
            );
        }
        s += if pairs.is_empty() { "],\n" } else { "\n  ],\n" };
        s += &format!("  \"executions\": {},\n", self.stats.executions.load(Ordering::Relaxed));
        s += &format!("  \"failed_executions\": {},\n", self.stats.failed.load(Ordering::Relaxed));
        s += &format!("  \"wall_us\": {},\n", self.start.elapsed().as_micros());
        s += "  \"busy_us\": {";
        let table = unit_table(self.gen);
        for core in 0..self.cfg.cores {
            s += if core == 0 { "\n" } else { ",\n" };
            s += &format!("    \"core{core}\": {{");
            for (t, (uname, nq)) in table.iter().enumerate() {
                let busy: Duration = (0..*nq).map(|q| self.queue(core, t as u32, q).st.lock().busy).sum();
                s += &format!("{}\"{uname}\": {}", if t == 0 { "" } else { ", " }, busy.as_micros());
            }
            s += "}";
        }
        s += "\n  },\n";
        s += &format!("  \"queue_full\": {},\n", self.stats.queue_full.load(Ordering::Relaxed));
        s += &format!("  \"runtime\": {},\n", json_str(&self.cfg.runtime));
        s += &format!("  \"async_abi\": {},\n", self.gen);
        s += &self.implicit_report();
        s += &format!("  \"implicit_inflight\": {}\n", self.implicit);
        s += "}\n";
        s
    }

    pub fn write_report(&self) {
        let Some(path) = &self.report else { return };
        let tmp = format!("{path}.tmp.{}", std::process::id());
        let r = std::fs::write(&tmp, self.report_json()).and_then(|_| std::fs::rename(&tmp, path));
        match r {
            Ok(()) => log::info!("report written to {path}"),
            Err(e) => log::error!("cannot write the report to {path}: {e}"),
        }
    }
}

/// A call site as JSON: {"site": "main (racy.c:78) [racy+0x12af]", "object", "offset", "symbol", "line", "inlined_from"}.
fn site_json(pc: usize) -> String {
    let Some(r) = crate::site::resolve(pc) else { return "null".into() };
    let opt = |v: &Option<String>| v.as_deref().map(json_str).unwrap_or_else(|| "null".into());
    format!(
        "{{\"site\": {}, \"object\": {}, \"offset\": \"{:#x}\", \"symbol\": {}, \"line\": {}, \"inlined_from\": [{}]}}",
        json_str(&r.text()),
        json_str(&r.object),
        r.offset,
        opt(&r.symbol),
        opt(&r.line),
        r.inlined_from.iter().map(|l| json_str(l)).collect::<Vec<_>>().join(", ")
    )
}

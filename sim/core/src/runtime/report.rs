//! The session's report (NRT_SIM_REPORT): hazards, executions, unit busy time.

use super::*;

impl Runtime {
    pub fn report_json(&self) -> String {
        let o = self.oracle.lock();
        let mut s = String::from("{\n");
        s += &format!("  \"hazards\": {},\n", o.count);
        s += "  \"hazard_examples\": [";
        for (i, e) in o.examples.iter().enumerate() {
            s += if i == 0 { "\n    " } else { ",\n    " };
            s += &json_str(e);
        }
        s += if o.examples.is_empty() { "],\n" } else { "\n  ],\n" };
        drop(o);
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

//! The profiling brackets: `nrt_profile_start` / `nrt_profile_stop` record the
//! synchronous executions of a model into a small JSON file; `nrt_inspect_*`
//! sessions are tracked (begin/stop) and drain the device at stop.

use super::*;
use std::fmt::Write as _;
use std::sync::atomic::AtomicUsize;

#[derive(Default)]
pub(super) struct Profiles {
    /// Profiles started and not stopped: the execute path's one check.
    active: AtomicUsize,
    list: Mutex<Vec<Profile>>,
    inspect: Mutex<Option<Instant>>,
}

struct Profile {
    file: String,
    model: Arc<Model>,
    started_us: f64,
    execs: Vec<Exec>,
}

struct Exec {
    call: &'static str,
    repeat: i32,
    start_us: f64,
    end_us: f64,
    status: Status,
}

impl Runtime {
    fn since_start_us(&self, t: Instant) -> f64 {
        t.duration_since(self.start).as_secs_f64() * 1e6
    }

    /// The start time of an execution of `model`, if a profile records it.
    pub(super) fn profile_begin(&self) -> Option<Instant> {
        (self.profiles.active.load(Ordering::Relaxed) > 0).then(Instant::now)
    }

    /// Records a synchronous execution in the profiles of its model.
    pub(super) fn profile_record(&self, mh: usize, call: &'static str, repeat: i32, t0: Instant, status: Status) {
        let end = Instant::now();
        let mut list = self.profiles.list.lock();
        for p in list.iter_mut().filter(|p| p.model.handle == mh) {
            let e = Exec { call, repeat, start_us: self.since_start_us(t0), end_us: self.since_start_us(end), status };
            p.execs.push(e);
        }
    }

    pub fn profile_start(&self, mh: usize, file: &str) -> Res<()> {
        let call = "nrt_profile_start";
        let model = self.reg.lock().models.get(&mh).cloned().ok_or_else(|| {
            reject!(NRT_INVALID_HANDLE, "{call}: model handle {mh:#x} is unknown (never loaded or already unloaded)")
        })?;
        if file.is_empty() {
            return Err(reject!(NRT_INVALID, "{call}: the file name is empty"));
        }
        let mut list = self.profiles.list.lock();
        if list.iter().any(|p| p.file == file) {
            return Err(reject!(NRT_INVALID, "{call}: a profile into '{file}' is already running"));
        }
        log::info!("{call}: profiling model '{}' into '{file}' (synchronous executions only)", model.def.name);
        list.push(Profile {
            file: file.to_string(),
            model,
            started_us: self.since_start_us(Instant::now()),
            execs: vec![],
        });
        self.profiles.active.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    pub fn profile_stop(&self, file: &str) -> Res<()> {
        let call = "nrt_profile_stop";
        let p = {
            let mut list = self.profiles.list.lock();
            let Some(i) = list.iter().position(|p| p.file == file) else {
                return Err(reject!(NRT_INVALID, "{call}: no profile was started into '{file}'"));
            };
            self.profiles.active.fetch_sub(1, Ordering::Relaxed);
            list.remove(i)
        };
        // The model's work completes before its profile is written.
        self.drain_core(p.model.core);
        let stopped = self.since_start_us(Instant::now());
        let mut j = format!(
            "{{\"format\":\"nrt-sim-profile 1\",\"model\":{},\"model_id\":{},\"vnc\":{},\"started_us\":{:.1},\"stopped_us\":{stopped:.1},\"captured\":\"synchronous nrt_execute and nrt_execute_repeat only\",\"executions\":[",
            json_str(&p.model.def.name),
            p.model.id,
            p.model.core,
            p.started_us
        );
        for (i, e) in p.execs.iter().enumerate() {
            let _ = write!(
                j,
                "{}{{\"call\":\"{}\",\"repeat\":{},\"start_us\":{:.1},\"end_us\":{:.1},\"status\":{}}}",
                if i > 0 { "," } else { "" },
                e.call,
                e.repeat,
                e.start_us,
                e.end_us,
                e.status
            );
        }
        j.push_str("]}\n");
        std::fs::write(file, j).map_err(|e| reject!(NRT_FAILURE, "{call}: cannot write '{file}': {e}"))?;
        log::info!("{call}: {} execution(s) of '{}' written to '{file}'", p.execs.len(), p.model.def.name);
        Ok(())
    }

    pub fn inspect_begin(&self, call: &str) -> Res<()> {
        let mut s = self.profiles.inspect.lock();
        if s.is_some() {
            return Err(reject!(NRT_INVALID, "{call}: an inspect session is already running"));
        }
        *s = Some(Instant::now());
        log::info!("{call}: inspect session begun (nrt-sim captures nothing into it)");
        Ok(())
    }

    /// nrt_inspect_stop: drains every core (what a capture would cover is done),
    /// then ends the session; without one, nothing.
    pub fn inspect_stop(&self) -> Res<()> {
        if self.profiles.inspect.lock().take().is_none() {
            log::debug!("nrt_inspect_stop: no inspect session");
            return Ok(());
        }
        for core in 0..self.cfg.cores {
            self.drain_core(core);
        }
        Ok(())
    }
}

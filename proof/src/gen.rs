//! The random program generator: a seed and a configuration give one program.
//!
//! It keeps a model of every object it created (placement, core, size, the storage
//! a slice aliases, the contents of every tensor set) so that most calls are valid
//! and meaningful (executions on sets that fit the model, chains where one model's
//! output is another's input, slices overlapping the tensors they alias, in-place
//! executions), with a few percent of invalid ones (out-of-range offsets, sizes
//! that do not fit, tensors of another core, freed tensors in sets, unloaded
//! models), whose statuses must agree too.
//!
//! Threads: every object has an owner, one thread or "shared". An op touching a
//! shared object is ordered (the interpreter runs ordered ops in program order), so
//! the program's outcome under the synchronous runtime does not depend on the
//! interleaving.

use super::program::{ModelDef, Op, Program, Rng};

mod escape;
mod nrta;

/// What kind of programs to make.
#[derive(Clone, Debug)]
pub struct GenConfig {
    /// Application threads: 1..=max_threads (8 at most).
    pub max_threads: u32,
    /// Exactly this many threads (overrides max_threads).
    pub exact_threads: Option<u32>,
    /// `NRT_SIM_CORES` of the run.
    pub cores: u32,
    /// Ops in the threads' bodies: min..=max.
    pub min_ops: usize,
    pub max_ops: usize,
    /// Fault storms: no copies, no repeats, and (unless `chains`) no failure
    /// can propagate (inputs are never outputs, device memory only).
    pub fault: bool,
    /// In fault storms: chains (one request's output is another's input, in
    /// place too) and host tensors (executions through the synchronous
    /// nrt_execute), so failures propagate as derived failures.
    pub chains: bool,
    /// Models fail every n-th execution: `Some((lo, hi))` picks n per model.
    pub model_fail: Option<(u32, u32)>,
    /// `NRT_SIM_DEVICE_MEMORY` of the run: allocations are sized to hit it.
    pub memlimit: Option<u64>,
    /// Invalid calls, in percent of ops (roughly).
    pub invalid_pct: u64,
    /// The program's own `nrta_*` requests (gen/nrta.rs): half-migrated programs.
    pub nrta: bool,
    /// The escape ops (gen/escape.rs): their weight scale, 0 for none. The
    /// runs need NEURON_RT_MAP_HBM=1.
    pub escape: u64,
    /// With escapes: the share of programs (percent) that map a bank late.
    pub hbm_pct: u64,
}

impl Default for GenConfig {
    fn default() -> GenConfig {
        GenConfig {
            max_threads: 1,
            exact_threads: None,
            cores: 4,
            min_ops: 20,
            max_ops: 80,
            fault: false,
            chains: false,
            model_fail: None,
            memlimit: None,
            invalid_pct: 4,
            nrta: false,
            escape: 0,
            hbm_pct: 0,
        }
    }
}

const SIZES: &[usize] = &[16, 64, 100, 256, 1000, 4096];
const MAXT: usize = 250;
const MAXS: usize = 60;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Place {
    Dev(u32),
    Host,
    Empty,
    Attached,
}

#[derive(Clone, Debug)]
struct Tns {
    owner: Option<i32>,
    alive: bool,
    place: Place,
    size: usize,
    /// Fault mode: written by executions (never an input).
    out_role: bool,
    /// Executions completed with this tensor as an output since allocation or reset.
    completions: u64,
    /// The completion count is exact (every execution naming it was valid).
    count_known: bool,
    /// The interpreter keeps its address (`vaget`), still valid.
    va: bool,
    /// A slice: the tensor it was cut from.
    parent: Option<usize>,
}

#[derive(Clone, Debug)]
struct Set {
    owner: Option<i32>,
    alive: bool,
    contents: Vec<(String, usize)>,
}

#[derive(Clone, Debug)]
struct Mdl {
    def: ModelDef,
    owner: Option<i32>,
    loaded: bool,
    io: Vec<(usize, usize)>,
}

struct Gen<'a> {
    cfg: &'a GenConfig,
    rng: Rng,
    threads: u32,
    t: Vec<Tns>,
    s: Vec<Set>,
    m: Vec<Mdl>,
    ops: Vec<Op>,
    device_bytes: u64,
    esc: escape::Escapes,
}

/// Makes the program of `seed` under `cfg`.
pub fn generate(seed: u64, cfg: &GenConfig) -> Program {
    let mut rng = Rng::new(seed);
    let threads = cfg.exact_threads.unwrap_or_else(|| rng.range(1, cfg.max_threads.clamp(1, 8) as i64) as u32);
    let mut g = Gen {
        cfg,
        rng,
        threads,
        t: vec![],
        s: vec![],
        m: vec![],
        ops: vec![],
        device_bytes: 0,
        esc: Default::default(),
    };
    g.run();
    Program { seed, threads, models: g.m.iter().map(|m| m.def.clone()).collect(), ops: g.ops }
}

impl Gen<'_> {
    fn multi(&self) -> bool {
        self.threads > 1
    }

    fn visible(&self, owner: Option<i32>, thr: i32) -> bool {
        thr < 0 || owner.is_none() || owner == Some(thr)
    }

    fn emit(&mut self, thr: i32, ordered: bool, kind: &'static str, args: &[i64]) {
        self.ops.push(Op::new(thr, ordered && thr >= 0 && self.multi(), kind, args));
    }

    fn t_shared(&self, t: usize) -> bool {
        self.t[t].owner.is_none()
    }

    fn s_shared(&self, s: usize) -> bool {
        self.s[s].owner.is_none() || self.s[s].contents.iter().any(|(_, t)| self.t_shared(*t))
    }

    fn has_storage(&self, t: usize) -> bool {
        !matches!(self.t[t].place, Place::Empty)
    }

    fn size(&mut self) -> usize {
        if self.rng.pct(85) {
            *self.rng.pick(SIZES).unwrap()
        } else {
            self.rng.range(1, 5000) as usize
        }
    }

    fn invalid(&mut self) -> bool {
        self.rng.pct(self.cfg.invalid_pct)
    }

    /// An owner for a new object made by `thr`: mostly private, sometimes shared.
    fn new_owner(&mut self, thr: i32) -> Option<i32> {
        if !self.multi() {
            Some(0)
        } else if thr < 0 {
            if self.rng.pct(40) {
                None
            } else {
                Some(self.rng.below(self.threads as u64) as i32)
            }
        } else if self.rng.pct(20) {
            None
        } else {
            Some(thr)
        }
    }

    fn run(&mut self) {
        let nmodels = self.rng.range(1, 4) as usize;
        for _ in 0..nmodels {
            self.new_model();
        }
        for i in 0..self.m.len() {
            self.emit(-1, false, "load", &[i as i64]);
            self.m[i].loaded = true;
        }
        for i in 0..self.m.len() {
            let owner = self.m[i].owner.unwrap_or_else(|| self.rng.below(self.threads as u64) as i32);
            if self.rng.pct(70) {
                self.build_io(-1, i, Some(owner));
            }
        }
        let n = self.rng.range(self.cfg.min_ops as i64, self.cfg.max_ops.max(self.cfg.min_ops) as i64);
        self.escape_plan(n as usize);
        for i in 0..n as usize {
            let thr = self.rng.below(self.threads as u64) as i32;
            self.escape_before_step(i, thr);
            self.step(thr);
        }
        self.epilogue();
    }

    fn new_model(&mut self) {
        let copy = self.rng.pct(20);
        let nin = if copy { self.rng.range(1, 2) } else { self.rng.range(0, 2) } as usize;
        let nout = if copy { nin } else { self.rng.range(1, 2) as usize };
        let inputs: Vec<usize> = (0..nin).map(|_| self.size()).collect();
        let outputs: Vec<usize> = if copy { inputs.clone() } else { (0..nout).map(|_| self.size()).collect() };
        let fail = self.cfg.model_fail.map(|(lo, hi)| {
            let n = self.rng.range(lo as i64, hi as i64) as u32;
            let st = *self.rng.pick(&[1004u32, 1003, 1006, 1201]).unwrap();
            (n, st)
        });
        let def = ModelDef {
            core: self.rng.below(self.cfg.cores as u64) as u32,
            latency_us: *self.rng.pick(&[0u32, 10, 50, 100, 300]).unwrap(),
            affine: if copy { None } else { Some((self.rng.below(256) as u32, self.rng.below(256) as u32)) },
            inputs,
            outputs,
            fail,
        };
        let owner =
            if self.multi() && self.rng.pct(50) { None } else { Some(self.rng.below(self.threads as u64) as i32) };
        self.m.push(Mdl { def, owner, loaded: false, io: vec![] });
    }

    fn alloc(&mut self, thr: i32, owner: Option<i32>, place: Place, size: usize) -> usize {
        let slot = self.t.len();
        let (p, core) = match place {
            Place::Dev(c) => (0, c as i64),
            _ => (1, -1),
        };
        self.emit(thr, owner.is_none(), "alloc", &[slot as i64, p, core, size as i64]);
        let ok = match place {
            Place::Dev(_) => match self.cfg.memlimit {
                Some(l) => self.device_bytes + size as u64 <= l,
                None => true,
            },
            _ => true,
        };
        if matches!(place, Place::Dev(_)) && ok {
            self.device_bytes += size as u64;
        }
        let place = if ok { place } else { Place::Empty };
        self.t.push(Tns {
            owner,
            alive: ok,
            place,
            size,
            out_role: false,
            completions: 0,
            count_known: true,
            va: false,
            parent: None,
        });
        slot
    }

    /// A tensor for a model's input or output of `size` bytes on `core`.
    fn io_tensor(&mut self, thr: i32, owner: Option<i32>, core: u32, size: usize, output: bool) -> usize {
        // Storms without chains keep inputs and outputs apart, on the device.
        let fault = self.cfg.fault && !self.cfg.chains;
        // An existing tensor that fits (chains, in-place, sharing).
        if self.rng.pct(if self.cfg.fault { 15 } else { 35 }) {
            let cands: Vec<usize> = (0..self.t.len())
                .filter(|&i| {
                    let t = &self.t[i];
                    t.alive
                        && t.size == size
                        && self.visible(t.owner, thr)
                        && t.owner == owner
                        && (matches!(t.place, Place::Dev(c) if c == core)
                            || (!fault && matches!(t.place, Place::Host | Place::Attached)))
                        && (!fault || t.out_role == output)
                })
                .collect();
            if let Some(&i) = self.rng.pick(&cands) {
                return i;
            }
        }
        let place = if !fault && self.rng.pct(10) { Place::Host } else { Place::Dev(core) };
        let t = if self.rng.pct(15) && self.t.len() + 2 < MAXT {
            let extra = self.rng.range(1, 300) as usize;
            let src = self.alloc(thr, owner, place, size + extra);
            let off = self.rng.range(0, extra as i64);
            self.slice(thr, src, off as usize, size)
        } else {
            self.alloc(thr, owner, place, size)
        };
        self.t[t].out_role = output;
        t
    }

    fn slice(&mut self, thr: i32, src: usize, off: usize, size: usize) -> usize {
        let slot = self.t.len();
        let owner = self.t[src].owner;
        self.emit(thr, owner.is_none(), "slice", &[slot as i64, src as i64, off as i64, size as i64]);
        let ok = self.t[src].alive && self.has_storage(src) && off + size <= self.t[src].size;
        let place = if ok { self.t[src].place } else { Place::Empty };
        let out_role = self.t[src].out_role;
        self.t.push(Tns {
            owner,
            alive: ok,
            place,
            size,
            out_role,
            completions: 0,
            count_known: true,
            va: false,
            parent: Some(src),
        });
        slot
    }

    fn new_set(&mut self, thr: i32, owner: Option<i32>) -> usize {
        let slot = self.s.len();
        self.emit(thr, owner.is_none(), "salloc", &[slot as i64]);
        self.s.push(Set { owner, alive: true, contents: vec![] });
        slot
    }

    fn sadd(&mut self, thr: i32, s: usize, name: String, t: usize) {
        let ordered = self.s_shared(s) || self.t_shared(t);
        self.ops.push(Op {
            thr,
            ordered: ordered && thr >= 0 && self.multi(),
            kind: "sadd",
            args: vec![s as i64, t as i64],
            name: Some(name.clone()),
        });
        if self.s[s].alive {
            let c = &mut self.s[s].contents;
            match c.iter_mut().find(|(n, _)| *n == name) {
                Some(e) => e.1 = t,
                None => c.push((name, t)),
            }
        }
    }

    /// Builds an input set and an output set for model `m`.
    fn build_io(&mut self, thr: i32, m: usize, owner: Option<i32>) {
        if self.s.len() + 2 > MAXS || self.t.len() + 8 > MAXT {
            return;
        }
        let def = self.m[m].def.clone();
        let sin = self.new_set(thr, owner);
        for (i, sz) in def.inputs.iter().enumerate() {
            let t = self.io_tensor(thr, owner, def.core, *sz, false);
            self.sadd(thr, sin, format!("i{i}"), t);
        }
        let apart = self.cfg.fault && !self.cfg.chains;
        let same = !apart && self.rng.pct(15);
        let sout = if same { sin } else { self.new_set(thr, owner) };
        for (i, sz) in def.outputs.iter().enumerate() {
            let t = if !apart && self.rng.pct(10) && !def.inputs.is_empty() {
                // in place: an output aliasing an input of the same size, when there is one
                let k = self.rng.below(def.inputs.len() as u64) as usize;
                match self.s[sin].contents.iter().find(|(n, _)| *n == format!("i{k}")) {
                    Some((_, t)) if self.t[*t].size == *sz => *t,
                    _ => self.io_tensor(thr, owner, def.core, *sz, true),
                }
            } else {
                self.io_tensor(thr, owner, def.core, *sz, true)
            };
            self.sadd(thr, sout, format!("o{i}"), t);
        }
        self.m[m].io.push((sin, sout));
    }

    fn vis_tensors(&self, thr: i32, storage: bool) -> Vec<usize> {
        (0..self.t.len())
            .filter(|&i| self.t[i].alive && self.visible(self.t[i].owner, thr) && (!storage || self.has_storage(i)))
            .collect()
    }

    /// An (offset, size) in a tensor of `size` bytes: mostly valid, sometimes not.
    fn range_in(&mut self, size: usize) -> (i64, i64) {
        if self.invalid() {
            return match self.rng.below(3) {
                0 => (size as i64, 1),
                1 => (0, size as i64 + 1),
                _ => (self.rng.range(0, size as i64), size as i64),
            };
        }
        if self.rng.pct(3) {
            return (self.rng.range(0, size as i64), 0);
        }
        if self.rng.pct(40) {
            return (0, size as i64);
        }
        let off = self.rng.range(0, size as i64 - 1);
        let len = self.rng.range(1, size as i64 - off);
        (off, len)
    }

    fn exec_valid(&self, m: usize, sin: usize, sout: usize) -> bool {
        let md = &self.m[m];
        if !md.loaded || !self.s[sin].alive || !self.s[sout].alive {
            return false;
        }
        let check = |s: usize, prefix: &str, sizes: &[usize]| {
            sizes.iter().enumerate().all(|(i, sz)| {
                let name = format!("{prefix}{i}");
                self.s[s].contents.iter().find(|(n, _)| *n == name).is_some_and(|(_, t)| {
                    let t = &self.t[*t];
                    t.alive
                        && t.size == *sz
                        && match t.place {
                            Place::Dev(c) => c == md.def.core,
                            Place::Host | Place::Attached => true,
                            Place::Empty => false,
                        }
                })
            })
        };
        check(sin, "i", &md.def.inputs) && check(sout, "o", &md.def.outputs)
    }

    fn step(&mut self, thr: i32) {
        let fault = self.cfg.fault;
        let single = !self.multi();
        let esc = self.escape_weights();
        let base: &[(&str, u64)] = &[
            ("write", 18),
            ("read", 18),
            ("exec", 22),
            ("repeat", if fault { 0 } else { 4 }),
            ("copy", if fault { 0 } else { 7 }),
            ("memset", 5),
            ("readb", 3),
            ("writeb", 3),
            ("slice", 3),
            ("alloc", 4),
            ("attach", if fault { 0 } else { 2 }),
            ("free", 4),
            ("replace", 3),
            ("sdestroy", 1),
            ("va", 2),
            ("vawrite", if fault { 0 } else { 2 }),
            ("getsize", 1),
            ("drain", 2),
            ("reload", 2),
            ("checkc", if single && !fault { 2 } else { 0 }),
            ("resetc", if single && !fault { 1 } else { 0 }),
            ("aread", if self.cfg.nrta && !fault { 12 } else { 0 }),
            ("awrite", if self.cfg.nrta && !fault { 12 } else { 0 }),
            ("aexec", if self.cfg.nrta && !fault { 16 } else { 0 }),
        ];
        let w: Vec<(&str, u64)> = base.iter().chain(esc.iter()).copied().collect();
        let total: u64 = w.iter().map(|x| x.1).sum();
        let mut r = self.rng.below(total);
        let mut kind = "write";
        for (k, n) in &w {
            if r < *n {
                kind = k;
                break;
            }
            r -= n;
        }
        let done = match kind {
            "write" | "read" | "memset" | "readb" | "writeb" => self.data_op(thr, kind),
            "exec" | "repeat" => self.exec(thr, kind == "repeat"),
            "copy" => self.copy(thr),
            "aread" | "awrite" => self.nrta_data_op(thr, kind == "awrite"),
            "aexec" => self.nrta_exec(thr),
            "vaget" | "varead" | "vastore" | "mcpy" | "barrier" | "ainfo" | "hbmrw" | "perf" => {
                self.escape_op(thr, kind)
            }
            "slice" => {
                let c = self.vis_tensors(thr, true);
                match self.rng.pick(&c).copied() {
                    Some(src) if self.t.len() < MAXT => {
                        let sz = self.t[src].size;
                        let (off, len) = self.range_in(sz);
                        let len = if len == 0 { 1 } else { len };
                        self.slice(thr, src, off as usize, len as usize);
                        true
                    }
                    _ => false,
                }
            }
            "alloc" if self.t.len() < MAXT => {
                let owner = self.new_owner(thr);
                let place = if self.rng.pct(20) {
                    Place::Host
                } else {
                    Place::Dev(self.rng.below(self.cfg.cores as u64) as u32)
                };
                let size = match self.cfg.memlimit {
                    Some(l) if matches!(place, Place::Dev(_)) => self.rng.range(1, (l / 3) as i64) as usize,
                    _ => self.size(),
                };
                self.alloc(thr, owner, place, size);
                true
            }
            "attach" if self.t.len() < MAXT => {
                let owner = self.new_owner(thr);
                let slot = self.t.len();
                let size = self.size();
                let seed = self.rng.below(1 << 30) as i64;
                if self.invalid() {
                    // attaching to a tensor that has storage: refused for its own storage, a second attach
                    // (new storage; slices made before keep the old one, which the interpreter keeps alive)
                    // otherwise
                    let c = self.vis_tensors(thr, true);
                    if let Some(&t) = self.rng.pick(&c) {
                        let sh = self.t_shared(t);
                        self.emit(thr, sh, "attach", &[t as i64, size as i64, seed]);
                        if matches!(self.t[t].place, Place::Attached) {
                            self.t[t].size = size;
                        }
                        return;
                    }
                }
                self.emit(thr, owner.is_none(), "empty", &[slot as i64]);
                self.t.push(Tns {
                    owner,
                    alive: true,
                    place: Place::Empty,
                    size: 0,
                    out_role: false,
                    completions: 0,
                    count_known: true,
                    va: false,
                    parent: None,
                });
                if self.rng.pct(90) {
                    self.emit(thr, owner.is_none(), "attach", &[slot as i64, size as i64, seed]);
                    self.t[slot].place = Place::Attached;
                    self.t[slot].size = size;
                }
                true
            }
            "free" => {
                // mostly tensors no live set names (freeing one a set names makes its executions invalid)
                let any = self.invalid();
                let c: Vec<usize> = self
                    .vis_tensors(thr, false)
                    .into_iter()
                    .filter(|&t| any || !self.s.iter().any(|s| s.alive && s.contents.iter().any(|(_, x)| *x == t)))
                    .collect();
                match self.rng.pick(&c).copied() {
                    Some(t) => {
                        let sh = self.t_shared(t);
                        self.emit(thr, sh, "free", &[t as i64]);
                        self.t[t].alive = false;
                        self.forget_va(t);
                        // Tight memory: allocate its size at once, while its
                        // free may be deferred (the shim must finish it and retry).
                        if let (Some(_), Place::Dev(c)) = (self.cfg.memlimit, self.t[t].place) {
                            if self.rng.pct(60) && self.t.len() < MAXT {
                                let size = self.t[t].size;
                                self.device_bytes = self.device_bytes.saturating_sub(size as u64);
                                let owner = self.new_owner(thr);
                                self.alloc(thr, owner, Place::Dev(c), size);
                            }
                        }
                        true
                    }
                    None => false,
                }
            }
            "replace" => self.replace(thr),
            "sdestroy" => {
                let c: Vec<usize> =
                    (0..self.s.len()).filter(|&s| self.s[s].alive && self.visible(self.s[s].owner, thr)).collect();
                match self.rng.pick(&c).copied() {
                    Some(s) => {
                        let sh = self.s_shared(s);
                        self.emit(thr, sh, "sdestroy", &[s as i64]);
                        self.s[s].alive = false;
                        true
                    }
                    None => false,
                }
            }
            "va" | "getsize" => {
                let c = self.vis_tensors(thr, false);
                match self.rng.pick(&c).copied() {
                    Some(t) => {
                        let sh = self.t_shared(t);
                        self.emit(thr, sh, if kind == "va" { "va" } else { "getsize" }, &[t as i64]);
                        true
                    }
                    None => false,
                }
            }
            "vawrite" => {
                let c: Vec<usize> = self
                    .vis_tensors(thr, true)
                    .into_iter()
                    .filter(|&t| match self.t[t].place {
                        Place::Host | Place::Attached => true,
                        // device memory is mapped (NEURON_RT_MAP_HBM) in the escape runs
                        Place::Dev(_) => self.cfg.escape > 0,
                        Place::Empty => false,
                    })
                    .collect();
                match self.rng.pick(&c).copied() {
                    Some(t) => {
                        let sz = self.t[t].size as i64;
                        let off = self.rng.range(0, sz - 1);
                        let len = self.rng.range(1, sz - off);
                        let seed = self.rng.below(1 << 30) as i64;
                        let sh = self.t_shared(t);
                        self.emit(thr, sh, "vawrite", &[t as i64, off, len, seed]);
                        true
                    }
                    None => false,
                }
            }
            "drain" => {
                let core =
                    if self.invalid() { self.cfg.cores as i64 } else { self.rng.below(self.cfg.cores as u64) as i64 };
                self.emit(thr, false, "drain", &[core]);
                true
            }
            "reload" => {
                let c: Vec<usize> = (0..self.m.len()).filter(|&m| self.m[m].owner == Some(thr)).collect();
                match self.rng.pick(&c).copied() {
                    Some(m) if self.m[m].loaded => {
                        self.emit(thr, false, "unload", &[m as i64]);
                        self.m[m].loaded = false;
                        if self.rng.pct(80) {
                            self.emit(thr, false, "load", &[m as i64]);
                            self.m[m].loaded = true;
                        }
                        true
                    }
                    Some(m) => {
                        self.emit(thr, false, "load", &[m as i64]);
                        self.m[m].loaded = true;
                        true
                    }
                    None => false,
                }
            }
            "checkc" | "resetc" => {
                let c = self.vis_tensors(thr, true);
                match self.rng.pick(&c).copied() {
                    Some(t) if kind == "resetc" => {
                        self.emit(thr, false, "resetc", &[t as i64]);
                        self.t[t].completions = 0;
                        self.t[t].count_known = true;
                        true
                    }
                    Some(t) => {
                        let (want, timeout) = if self.t[t].count_known && self.t[t].completions > 0 {
                            (self.t[t].completions as i64, 2_000_000)
                        } else {
                            (0, 0)
                        };
                        self.emit(thr, false, "checkc", &[t as i64, want, timeout]);
                        true
                    }
                    None => false,
                }
            }
            _ => false,
        };
        if !done {
            // Nothing to do that: allocate something useful instead.
            if let Some(m) = self.pick_model(thr) {
                let owner = if self.multi() && self.rng.pct(25) { None } else { Some(thr) };
                self.build_io(thr, m, owner);
            }
        }
    }

    fn pick_model(&mut self, thr: i32) -> Option<usize> {
        let c: Vec<usize> = (0..self.m.len()).filter(|&m| self.visible(self.m[m].owner, thr)).collect();
        self.rng.pick(&c).copied()
    }

    fn data_op(&mut self, thr: i32, kind: &'static str) -> bool {
        let fault = self.cfg.fault;
        let storage = !self.invalid();
        let keep_out = self.rng.pct(30);
        let c: Vec<usize> = self
            .vis_tensors(thr, storage)
            .into_iter()
            // fault storms: host writes mostly to inputs (rewriting an output clears its failure mark: fine, but
            // keep the outputs' marks observable)
            .filter(|&t| !fault || kind == "read" || kind == "readb" || !self.t[t].out_role || keep_out)
            .collect();
        let Some(t) = self.rng.pick(&c).copied() else { return false };
        let sz = self.t[t].size.max(1);
        let sh = self.t_shared(t);
        match kind {
            "write" | "read" => {
                let (off, len) = self.range_in(sz);
                let mut a = vec![t as i64, off, len];
                if kind == "write" {
                    a.push(self.rng.below(1 << 30) as i64);
                }
                self.emit(thr, sh, kind, &a);
            }
            "memset" => {
                let (off, len) = self.range_in(sz);
                let v = self.rng.below(256) as i64;
                self.emit(thr, sh, "memset", &[t as i64, off, v, len]);
            }
            _ => {
                let n = self.rng.range(1, 4);
                let mut a = vec![t as i64, n];
                for _ in 0..n {
                    let (off, len) = self.range_in(sz);
                    a.push(off);
                    a.push(len);
                    if kind == "writeb" {
                        a.push(self.rng.below(1 << 30) as i64);
                    }
                }
                self.emit(thr, sh, kind, &a);
            }
        }
        if kind != "read" && kind != "readb" {
            self.read_back(thr, t);
        }
        true
    }

    /// Model `m`'s set pairs that are alive and visible to thread `thr`.
    fn live_pairs(&self, m: usize, thr: i32) -> Vec<(usize, usize)> {
        self.m[m]
            .io
            .iter()
            .copied()
            .filter(|&(a, b)| {
                self.s[a].alive
                    && self.s[b].alive
                    && self.visible(self.s[a].owner, thr)
                    && self.visible(self.s[b].owner, thr)
            })
            .collect()
    }

    fn exec(&mut self, thr: i32, repeat: bool) -> bool {
        let Some(m) = self.pick_model(thr) else { return false };
        let mut pairs: Vec<(usize, usize)> = self.live_pairs(m, thr);
        if self.invalid() {
            // sets of another model, or destroyed ones
            pairs = self.m.iter().flat_map(|x| x.io.iter().copied()).collect();
            pairs.retain(|&(a, b)| self.visible(self.s[a].owner, thr) && self.visible(self.s[b].owner, thr));
        }
        let Some(&(sin, sout)) = self.rng.pick(&pairs) else {
            let owner = if self.multi() && self.rng.pct(25) { None } else { Some(thr) };
            self.build_io(thr, m, owner);
            return true;
        };
        let ordered = self.s_shared(sin) || self.s_shared(sout) || self.m[m].def.fail.is_some() && self.multi();
        let lo = if self.invalid() { 0 } else { 1 };
        let n = if repeat { self.rng.range(lo, 4) } else { 1 };
        if repeat {
            self.emit(thr, ordered, "repeat", &[m as i64, sin as i64, sout as i64, n]);
        } else {
            self.emit(thr, ordered, "exec", &[m as i64, sin as i64, sout as i64]);
        }
        let valid = n >= 1 && self.exec_valid(m, sin, sout);
        let outs: Vec<usize> = self.s[sout].contents.iter().map(|(_, t)| *t).collect();
        for t in outs {
            let declared = self.s[sout].contents.iter().any(|(name, x)| {
                *x == t
                    && name
                        .strip_prefix('o')
                        .and_then(|k| k.parse::<usize>().ok())
                        .is_some_and(|k| k < self.m[m].def.outputs.len())
            });
            if !declared {
                continue;
            }
            if valid {
                self.t[t].completions += n as u64;
            } else {
                self.t[t].count_known = false;
            }
        }
        if valid && !self.cfg.fault && self.rng.pct(30) {
            self.rewrite_input(thr, sin);
        }
        true
    }

    /// Renaming on purpose (issue 16): rewrites an input of the request just
    /// issued, which may still be reading it: whole (renamed), by a memset or
    /// in part (waits); sometimes takes its address right after (exposure
    /// after renaming).
    fn rewrite_input(&mut self, thr: i32, sin: usize) {
        let ins: Vec<usize> = self.s[sin]
            .contents
            .iter()
            .map(|(_, t)| *t)
            .filter(|&t| {
                self.t[t].alive && matches!(self.t[t].place, Place::Dev(_)) && self.visible(self.t[t].owner, thr)
            })
            .collect();
        let Some(t) = self.rng.pick(&ins).copied() else { return };
        let sz = self.t[t].size.max(1) as i64;
        let sh = self.t_shared(t);
        match self.rng.below(4) {
            0 | 1 => {
                let seed = self.rng.below(1 << 30) as i64;
                self.emit(thr, sh, "write", &[t as i64, 0, sz, seed]);
            }
            2 => {
                let v = self.rng.below(256) as i64;
                self.emit(thr, sh, "memset", &[t as i64, 0, v, sz]);
            }
            _ => {
                let off = self.rng.range(0, sz - 1);
                let seed = self.rng.below(1 << 30) as i64;
                self.emit(thr, sh, "write", &[t as i64, off, sz - off, seed]);
            }
        }
        self.read_back(thr, t);
        if self.rng.pct(10) {
            self.emit(thr, sh, "va", &[t as i64]);
        }
    }

    fn copy(&mut self, thr: i32) -> bool {
        let c = self.vis_tensors(thr, true);
        let (Some(&s), Some(&d)) = (self.rng.pick(&c), self.rng.pick(&c)) else { return false };
        // mostly between tensors a copy accepts (same core, or host on one side)
        let (ps, pd) = (self.t[s].place, self.t[d].place);
        if let (Place::Dev(a), Place::Dev(b)) = (ps, pd) {
            if a != b && !self.invalid() {
                return false;
            }
        }
        let (ss, ds) = (self.t[s].size, self.t[d].size);
        let (soff, len) = self.range_in(ss);
        let len = if self.invalid() { len } else { len.min(ds as i64) };
        let doff = if ds as i64 > len { self.rng.range(0, ds as i64 - len) } else { 0 };
        let sh = self.t_shared(s) || self.t_shared(d);
        self.emit(thr, sh, "copy", &[s as i64, soff, d as i64, doff, len]);
        self.read_back(thr, d);
        true
    }

    fn replace(&mut self, thr: i32) -> bool {
        let c: Vec<usize> = (0..self.s.len())
            .filter(|&s| self.s[s].alive && !self.s[s].contents.is_empty() && self.visible(self.s[s].owner, thr))
            .collect();
        let Some(&s) = self.rng.pick(&c) else { return false };
        let (name, old) = self.rng.pick(&self.s[s].contents.clone()).cloned().unwrap();
        let size = self.t[old].size;
        let fault = self.cfg.fault && !self.cfg.chains;
        let role = self.t[old].out_role;
        let any_size = self.invalid();
        let cands: Vec<usize> = self
            .vis_tensors(thr, true)
            .into_iter()
            .filter(|&t| (self.t[t].size == size || any_size) && (!fault || self.t[t].out_role == role))
            .filter(|&t| !fault || matches!(self.t[t].place, Place::Dev(_)))
            .filter(|&t| self.t[t].owner == self.s[s].owner)
            .collect();
        let Some(&t) = self.rng.pick(&cands) else { return false };
        self.sadd(thr, s, name, t);
        true
    }

    fn epilogue(&mut self) {
        self.escape_epilogue();
        for t in 0..self.t.len() {
            if self.t[t].alive && self.has_storage(t) {
                self.emit(-2, false, "read", &[t as i64, 0, self.t[t].size as i64]);
            }
        }
        for core in 0..self.cfg.cores {
            if self.cfg.fault || self.rng.pct(30) {
                self.emit(-2, false, "drain", &[core as i64]);
            }
        }
        let free_all = self.cfg.memlimit.is_some() || self.rng.pct(50);
        for t in 0..self.t.len() {
            if self.t[t].alive && (free_all || self.rng.pct(50)) {
                self.emit(-2, false, "free", &[t as i64]);
                self.t[t].alive = false;
            }
        }
        for s in 0..self.s.len() {
            if self.s[s].alive && self.rng.pct(50) {
                self.emit(-2, false, "sdestroy", &[s as i64]);
            }
        }
        for m in 0..self.m.len() {
            if self.m[m].loaded && self.rng.pct(50) {
                self.emit(-2, false, "unload", &[m as i64]);
            }
        }
        if let Some(l) = self.cfg.memlimit {
            if free_all {
                // every byte of device memory must be free again (deferred frees included)
                for core in 0..self.cfg.cores.min(2) {
                    self.emit(-2, false, "probe", &[l as i64, core as i64]);
                }
            }
        }
    }
}

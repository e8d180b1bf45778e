//! A legacy program as the interpreter (`proof/c/interp.c`) runs it: models, then
//! ops, each owned by the prologue (`thr -1`), an application thread (`0..`) or
//! the epilogue (`-2`). Its text form is the interpreter's input and the format of
//! the files in `proof/regressions/`.

use std::fmt::Write as _;

/// A deterministic generator (SplitMix64): every program is a function of its seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x6a09_e667_f3bc_c909)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// True with probability `pct` percent.
    pub fn pct(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            Some(&items[self.below(items.len() as u64) as usize])
        }
    }
}

/// One model: the simulator's model text, on a fixed core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelDef {
    pub core: u32,
    pub latency_us: u32,
    /// `None`: `compute copy`; `Some((mul, add))`: `compute affine mul add`.
    pub affine: Option<(u32, u32)>,
    pub inputs: Vec<usize>,
    pub outputs: Vec<usize>,
    /// `fail_every n status`.
    pub fail: Option<(u32, u32)>,
}

impl ModelDef {
    pub fn text(&self, slot: usize) -> String {
        let mut s = format!("nrt-sim-model 1\nname m{slot}\nlatency_us {}\n", self.latency_us);
        for (i, sz) in self.inputs.iter().enumerate() {
            let _ = writeln!(s, "input i{i} {sz}");
        }
        for (i, sz) in self.outputs.iter().enumerate() {
            let _ = writeln!(s, "output o{i} {sz}");
        }
        match self.affine {
            Some((m, a)) => {
                let _ = writeln!(s, "compute affine {m} {a}");
            }
            None => s.push_str("compute copy\n"),
        }
        if let Some((n, st)) = self.fail {
            let _ = writeln!(s, "fail_every {n} {st}");
        }
        s
    }

    fn encode(&self, slot: usize) -> String {
        self.text(slot).replace('\n', "|").replace(' ', "~")
    }

    fn decode(text: &str) -> Result<ModelDef, String> {
        let text = text.replace('|', "\n").replace('~', " ");
        let mut m = ModelDef { core: 0, latency_us: 0, affine: None, inputs: vec![], outputs: vec![], fail: None };
        for line in text.lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            let num = |i: usize| -> Result<u64, String> {
                w.get(i).and_then(|v| v.parse().ok()).ok_or_else(|| format!("bad model line {line:?}"))
            };
            match w.first().copied() {
                Some("latency_us") => m.latency_us = num(1)? as u32,
                Some("input") => m.inputs.push(num(2)? as usize),
                Some("output") => m.outputs.push(num(2)? as usize),
                Some("compute") if w.get(1) == Some(&"affine") => m.affine = Some((num(2)? as u32, num(3)? as u32)),
                Some("compute") => m.affine = None,
                Some("fail_every") => m.fail = Some((num(1)? as u32, num(2)? as u32)),
                _ => {}
            }
        }
        Ok(m)
    }
}

/// One call of the legacy API (see `interp.c` for the argument lists).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    /// -1 prologue, -2 epilogue, else the application thread.
    pub thr: i32,
    /// Runs in its place in the global order of ordered ops (it touches shared objects).
    pub ordered: bool,
    pub kind: &'static str,
    pub args: Vec<i64>,
    /// `sadd`: the name in the set.
    pub name: Option<String>,
}

pub const OP_KINDS: &[&str] = &[
    "load", "unload", "alloc", "slice", "empty", "attach", "free", "write", "read", "readb", "writeb", "copy",
    "memset", "va", "vawrite", "getsize", "salloc", "sdestroy", "sadd", "exec", "repeat", "drain", "checkc", "resetc",
    "probe", "aread", "awrite", "aexec", "vaget", "varead", "vastore", "mcpy", "barrier", "ainfo", "hbm", "hbmwrite",
    "hbmread",
];

impl Op {
    pub fn new(thr: i32, ordered: bool, kind: &'static str, args: &[i64]) -> Op {
        Op { thr, ordered, kind, args: args.to_vec(), name: None }
    }

    pub fn line(&self) -> String {
        let mut s = format!("O {} {} {}", self.thr, u8::from(self.ordered), self.kind);
        for (i, a) in self.args.iter().enumerate() {
            if i == 1 {
                if let Some(n) = &self.name {
                    let _ = write!(s, " {n}");
                }
            }
            let _ = write!(s, " {a}");
        }
        s
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Program {
    pub seed: u64,
    pub threads: u32,
    pub models: Vec<ModelDef>,
    pub ops: Vec<Op>,
}

impl Program {
    /// The interpreter's text of this program, numbered `id` in its batch.
    pub fn text(&self, id: usize) -> String {
        let mut s = format!("# seed {}\nP {id} {}\n", self.seed, self.threads);
        for (i, m) in self.models.iter().enumerate() {
            let _ = writeln!(s, "M {i} {} {}", m.core, m.encode(i));
        }
        for op in &self.ops {
            s.push_str(&op.line());
            s.push('\n');
        }
        s.push_str("E\n");
        s
    }

    /// Parses the text of one program (comments and blank lines ignored).
    pub fn parse(text: &str) -> Result<Program, String> {
        let mut p = Program::default();
        for line in text.lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            let int = |i: usize| -> Result<i64, String> {
                w.get(i).and_then(|v| v.parse().ok()).ok_or_else(|| format!("bad line {line:?}"))
            };
            match w.first().copied() {
                None => {}
                Some("#") if w.get(1) == Some(&"seed") => p.seed = int(2)? as u64,
                Some(c) if c.starts_with('#') => {}
                Some("P") => p.threads = int(2)? as u32,
                Some("M") => {
                    let mut m = ModelDef::decode(w.get(3).ok_or("model text missing")?)?;
                    m.core = int(2)? as u32;
                    p.models.push(m);
                }
                Some("O") => {
                    let kind = *OP_KINDS
                        .iter()
                        .find(|k| Some(**k) == w.get(3).copied())
                        .ok_or_else(|| format!("unknown op in {line:?}"))?;
                    let mut op = Op::new(int(1)? as i32, int(2)? != 0, kind, &[]);
                    for (i, a) in w[4..].iter().enumerate() {
                        if kind == "sadd" && i == 1 {
                            op.name = Some(a.to_string());
                        } else {
                            op.args.push(a.parse().map_err(|_| format!("bad argument in {line:?}"))?);
                        }
                    }
                    p.ops.push(op);
                }
                Some("E") => break,
                Some(other) => return Err(format!("bad line starting {other:?}")),
            }
        }
        Ok(p)
    }
}

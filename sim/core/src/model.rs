//! The nrt-sim model format (text) and its deterministic compute.
//!
//! ```text
//! nrt-sim-model 1
//! name <identifier>
//! latency_us <integer>
//! input <name> <bytes>       (repeatable, in order)
//! output <name> <bytes>      (repeatable, in order)
//! compute affine <mul> <add> | compute copy
//! fail_every <n> <status>    (optional)
//! ```

pub const MAGIC: &str = "nrt-sim-model 1";
/// Size of a compiled NEFF header: data this long that is not a text model is taken as a NEFF.
pub const NEFF_MIN: usize = 1024;
/// Largest tensor a model may declare (1 TiB).
pub const MAX_TENSOR: u64 = 1 << 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compute {
    Affine { mul: u8, add: u8 },
    Copy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorDecl {
    pub name: String,
    pub size: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelDef {
    pub name: String,
    pub latency_us: u64,
    pub inputs: Vec<TensorDecl>,
    pub outputs: Vec<TensorDecl>,
    pub compute: Compute,
    /// (n, status): every n-th execution completes with status.
    pub fail_every: Option<(u64, u32)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// Malformed text: (line number, reason). Maps to NRT_INVALID.
    Invalid { line: usize, reason: String },
    /// A compiled NEFF (or other binary): NRT_UNSUPPORTED_NEFF_VERSION.
    Neff,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Invalid { line, reason } => write!(f, "invalid nrt-sim model: line {line}: {reason}"),
            LoadError::Neff => write!(
                f,
                "this looks like a compiled NEFF: the simulator runs only nrt-sim models (text starting with \
                 \"{MAGIC}\", see sim/README.md)"
            ),
        }
    }
}

fn is_ident(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/'))
}

fn byte_param(s: &str) -> Option<u8> {
    s.parse::<i64>().ok().map(|v| v.rem_euclid(256) as u8)
}

/// Parses a model from the bytes given to nrt_load.
pub fn parse(data: &[u8]) -> Result<ModelDef, LoadError> {
    if !data.starts_with(MAGIC.as_bytes()) {
        if data.len() >= NEFF_MIN {
            return Err(LoadError::Neff);
        }
        return Err(LoadError::Invalid { line: 1, reason: format!("the first line must be \"{MAGIC}\"") });
    }
    // Tolerate a trailing NUL (C strings passed with their terminator).
    let data = match data.iter().position(|&b| b == 0) {
        Some(p) if data[p..].iter().all(|&b| b == 0) => &data[..p],
        _ => data,
    };
    let text = std::str::from_utf8(data).map_err(|e| {
        let line = data[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
        LoadError::Invalid { line, reason: "not UTF-8 text".into() }
    })?;
    let err = |line: usize, reason: String| LoadError::Invalid { line, reason };
    let mut name = None;
    let mut latency = None;
    let mut inputs: Vec<TensorDecl> = Vec::new();
    let mut outputs: Vec<TensorDecl> = Vec::new();
    let mut compute = None;
    let mut fail_every = None;
    let mut nlines = 0;
    for (i, raw) in text.lines().enumerate() {
        let ln = i + 1;
        nlines = ln;
        let line = raw.split('#').next().unwrap_or("").trim();
        if i == 0 {
            if line != MAGIC {
                return Err(err(1, format!("the first line must be \"{MAGIC}\"")));
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        let argc = |n: usize| -> Result<(), LoadError> {
            if w.len() != n + 1 {
                Err(err(ln, format!("{} takes {} argument(s), got {}", w[0], n, w.len() - 1)))
            } else {
                Ok(())
            }
        };
        match w[0] {
            "name" => {
                argc(1)?;
                if name.is_some() {
                    return Err(err(ln, "name given twice".into()));
                }
                if !is_ident(w[1]) {
                    return Err(err(ln, format!("bad model name {:?}", w[1])));
                }
                name = Some(w[1].to_string());
            }
            "latency_us" => {
                argc(1)?;
                if latency.is_some() {
                    return Err(err(ln, "latency_us given twice".into()));
                }
                let v: u64 =
                    w[1].parse().map_err(|_| err(ln, format!("latency_us {:?} is not an integer >= 0", w[1])))?;
                if v > 3_600_000_000 {
                    return Err(err(ln, "latency_us is more than an hour".into()));
                }
                latency = Some(v);
            }
            "input" | "output" => {
                argc(2)?;
                if !is_ident(w[1]) || w[1].len() >= 256 {
                    return Err(err(ln, format!("bad tensor name {:?}", w[1])));
                }
                let size: u64 =
                    w[2].parse().map_err(|_| err(ln, format!("tensor size {:?} is not an integer", w[2])))?;
                if size == 0 || size > MAX_TENSOR {
                    return Err(err(ln, format!("tensor size {size} must be in 1..={MAX_TENSOR}")));
                }
                if inputs.iter().chain(outputs.iter()).any(|t| t.name == w[1]) {
                    return Err(err(ln, format!("tensor name {:?} declared twice", w[1])));
                }
                let d = TensorDecl { name: w[1].to_string(), size: size as usize };
                if w[0] == "input" {
                    inputs.push(d)
                } else {
                    outputs.push(d)
                }
            }
            "compute" => {
                if compute.is_some() {
                    return Err(err(ln, "compute given twice".into()));
                }
                match w.get(1).copied() {
                    Some("affine") => {
                        if w.len() != 4 {
                            return Err(err(ln, "compute affine takes <mul> <add>".into()));
                        }
                        let mul =
                            byte_param(w[2]).ok_or_else(|| err(ln, format!("mul {:?} is not an integer", w[2])))?;
                        let add =
                            byte_param(w[3]).ok_or_else(|| err(ln, format!("add {:?} is not an integer", w[3])))?;
                        compute = Some(Compute::Affine { mul, add });
                    }
                    Some("copy") => {
                        if w.len() != 2 {
                            return Err(err(ln, "compute copy takes no arguments".into()));
                        }
                        compute = Some(Compute::Copy);
                    }
                    _ => return Err(err(ln, "compute must be \"affine <mul> <add>\" or \"copy\"".into())),
                }
            }
            "fail_every" => {
                argc(2)?;
                if fail_every.is_some() {
                    return Err(err(ln, "fail_every given twice".into()));
                }
                let n: u64 = w[1].parse().map_err(|_| err(ln, format!("fail_every n {:?} is not an integer", w[1])))?;
                if n == 0 {
                    return Err(err(ln, "fail_every n must be >= 1".into()));
                }
                let st: u32 = w[2].parse().map_err(|_| err(ln, format!("status {:?} is not an integer", w[2])))?;
                if st == 0 {
                    return Err(err(ln, "fail_every status must not be NRT_SUCCESS (0)".into()));
                }
                fail_every = Some((n, st));
            }
            other => return Err(err(ln, format!("unknown directive {other:?}"))),
        }
    }
    let end = nlines + 1;
    let name = name.ok_or_else(|| err(end, "missing \"name\"".into()))?;
    let latency_us = latency.ok_or_else(|| err(end, "missing \"latency_us\"".into()))?;
    let compute = compute.ok_or_else(|| err(end, "missing \"compute\"".into()))?;
    if outputs.is_empty() {
        return Err(err(end, "a model needs at least one output".into()));
    }
    if compute == Compute::Copy {
        if inputs.len() != outputs.len() {
            return Err(err(
                end,
                format!("compute copy needs as many inputs ({}) as outputs ({})", inputs.len(), outputs.len()),
            ));
        }
        for (i, o) in inputs.iter().zip(&outputs) {
            if i.size != o.size {
                return Err(err(
                    end,
                    format!("compute copy: input {} has {} bytes, output {} has {}", i.name, i.size, o.name, o.size),
                ));
            }
        }
    }
    Ok(ModelDef { name, latency_us, inputs, outputs, compute, fail_every })
}

/// Inputs shorter than this (and than the output) are repeated into a scratch
/// tile first, so that every pass runs over long contiguous slices that the
/// compiler vectorises instead of one `j % len` per byte.
const MIN_RUN: usize = 4096;

/// One pass of `compute affine mul add` over one output: combines `out` with
/// input `src`, whose byte `j % src.len()` meets output byte `j`. The first pass
/// starts the sum (`out = src`), later ones add (`out += src`, wrapping); the last
/// one also applies the affine map (`out = mul * out + add`). `tile` is scratch
/// space the caller keeps between calls (no allocation once it has grown).
pub fn affine_pass(out: &mut [u8], src: &[u8], first: bool, last: bool, mul: u8, add: u8, tile: &mut Vec<u8>) {
    assert!(!src.is_empty(), "an input has at least one byte");
    let period: &[u8] = if src.len() >= out.len() || src.len() >= MIN_RUN {
        src
    } else {
        // src repeated to a whole number of periods, at least MIN_RUN (or the output) long.
        let want = MIN_RUN.min(out.len()).div_ceil(src.len()) * src.len();
        tile.clear();
        tile.extend_from_slice(src);
        while tile.len() < want {
            let n = tile.len().min(want - tile.len());
            tile.extend_from_within(..n);
        }
        tile
    };
    for chunk in out.chunks_mut(period.len()) {
        let s = &period[..chunk.len()];
        match (first, last) {
            (true, false) => chunk.copy_from_slice(s),
            (true, true) => chunk.iter_mut().zip(s).for_each(|(o, &x)| *o = mul.wrapping_mul(x).wrapping_add(add)),
            (false, false) => chunk.iter_mut().zip(s).for_each(|(o, &x)| *o = o.wrapping_add(x)),
            (false, true) => {
                chunk.iter_mut().zip(s).for_each(|(o, &x)| *o = mul.wrapping_mul(o.wrapping_add(x)).wrapping_add(add))
            }
        }
    }
}

/// The first pass of `compute affine` over two inputs at once, both at least as
/// long as the output (no repetition): `out = a + b`, and when `last` the affine
/// map. One pass over the output instead of two.
pub fn affine_pass2(out: &mut [u8], a: &[u8], b: &[u8], last: bool, mul: u8, add: u8) {
    let (a, b) = (&a[..out.len()], &b[..out.len()]);
    if last {
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            *o = mul.wrapping_mul(x.wrapping_add(y)).wrapping_add(add);
        }
    } else {
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            *o = x.wrapping_add(y);
        }
    }
}

/// The passes of one affine output: `out` = the affine map of the sum of the
/// inputs given by `input(k)`, k in 0..n (declared order). No inputs: `add`.
pub fn affine_output<'a>(
    out: &mut [u8],
    n: usize,
    mut input: impl FnMut(usize) -> &'a [u8],
    mul: u8,
    add: u8,
    tile: &mut Vec<u8>,
) {
    if n == 0 {
        out.fill(add);
        return;
    }
    let first = input(0);
    let mut k = 1;
    if n >= 2 && first.len() >= out.len() {
        let second = input(1);
        if second.len() >= out.len() {
            affine_pass2(out, first, second, n == 2, mul, add);
        } else {
            affine_pass(out, first, true, false, mul, add, tile);
            affine_pass(out, second, false, n == 2, mul, add, tile);
        }
        k = 2;
    } else {
        affine_pass(out, first, true, n == 1, mul, add, tile);
    }
    for k in k..n {
        affine_pass(out, input(k), false, k + 1 == n, mul, add, tile);
    }
}

/// Computes the outputs of one execution from its inputs (declared order) into
/// `outputs` (declared sizes). `tile`: scratch space kept by the caller.
pub fn compute_into(def: &ModelDef, inputs: &[&[u8]], outputs: &mut [&mut [u8]], tile: &mut Vec<u8>) {
    match def.compute {
        Compute::Copy => {
            for (o, i) in outputs.iter_mut().zip(inputs) {
                o.copy_from_slice(i);
            }
        }
        Compute::Affine { mul, add } => {
            let live: usize = inputs.iter().filter(|i| !i.is_empty()).count();
            for o in outputs.iter_mut() {
                let mut it = inputs.iter().filter(|i| !i.is_empty());
                affine_output(o, live, |_| it.next().expect("counted above"), mul, add, tile);
            }
        }
    }
}

/// Computes the outputs of one execution from its inputs (declared order).
pub fn compute(def: &ModelDef, inputs: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let ins: Vec<&[u8]> = inputs.iter().map(|v| v.as_slice()).collect();
    let mut outs: Vec<Vec<u8>> = match def.compute {
        Compute::Copy => inputs.iter().map(|i| vec![0; i.len()]).collect(),
        Compute::Affine { .. } => def.outputs.iter().map(|o| vec![0; o.size]).collect(),
    };
    let mut views: Vec<&mut [u8]> = outs.iter_mut().map(|v| v.as_mut_slice()).collect();
    compute_into(def, &ins, &mut views, &mut Vec::new());
    outs
}

#[cfg(test)]
mod tests;

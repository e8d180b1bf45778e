use super::*;

const GOOD: &str = "nrt-sim-model 1\n# comment\n\nname m1\nlatency_us 50 # trailing\ninput a 4\ninput b 2\noutput y 6\ncompute affine 3 7\nfail_every 5 1004\n";

fn invalid(text: &str) -> (usize, String) {
    match parse(text.as_bytes()) {
        Err(LoadError::Invalid { line, reason }) => (line, reason),
        other => panic!("expected invalid, got {other:?}"),
    }
}

#[test]
fn parses_good() {
    let m = parse(GOOD.as_bytes()).unwrap();
    assert_eq!(m.name, "m1");
    assert_eq!(m.latency_us, 50);
    assert_eq!(m.inputs, vec![TensorDecl { name: "a".into(), size: 4 }, TensorDecl { name: "b".into(), size: 2 }]);
    assert_eq!(m.outputs.len(), 1);
    assert_eq!(m.compute, Compute::Affine { mul: 3, add: 7 });
    assert_eq!(m.fail_every, Some((5, 1004)));
    // trailing NULs tolerated
    let mut v = GOOD.as_bytes().to_vec();
    v.push(0);
    assert!(parse(&v).is_ok());
}

#[test]
fn shipped_models_parse() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().map(|x| x == "model").unwrap_or(false) {
            parse(&std::fs::read(&p).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            n += 1;
        }
    }
    assert!(n >= 4);
}

#[test]
fn error_paths() {
    assert_eq!(invalid("hello").0, 1);
    assert_eq!(invalid("nrt-sim-model 2\nname x\n").0, 1);
    assert_eq!(invalid("nrt-sim-model 1x\n").0, 1);
    let base = "nrt-sim-model 1\nname m\nlatency_us 1\noutput y 1\ncompute copy\n";
    let _ = base;
    let cases: &[(&str, usize, &str)] = &[
        ("nrt-sim-model 1\nbogus 1\n", 2, "unknown directive"),
        ("nrt-sim-model 1\nname\n", 2, "argument"),
        ("nrt-sim-model 1\nname a b\n", 2, "argument"),
        ("nrt-sim-model 1\nname a\nname b\n", 3, "twice"),
        ("nrt-sim-model 1\nname a!b\n", 2, "bad model name"),
        ("nrt-sim-model 1\nlatency_us x\n", 2, "not an integer"),
        ("nrt-sim-model 1\nlatency_us -1\n", 2, "not an integer"),
        ("nrt-sim-model 1\nlatency_us 1\nlatency_us 2\n", 3, "twice"),
        ("nrt-sim-model 1\nlatency_us 99999999999999\n", 2, "hour"),
        ("nrt-sim-model 1\ninput a\n", 2, "argument"),
        ("nrt-sim-model 1\ninput a x\n", 2, "not an integer"),
        ("nrt-sim-model 1\ninput a 0\n", 2, "must be in"),
        ("nrt-sim-model 1\ninput a 1\noutput a 1\n", 3, "declared twice"),
        ("nrt-sim-model 1\ninput a$ 1\n", 2, "bad tensor name"),
        ("nrt-sim-model 1\ncompute\n", 2, "compute must be"),
        ("nrt-sim-model 1\ncompute fancy\n", 2, "compute must be"),
        ("nrt-sim-model 1\ncompute affine 1\n", 2, "affine takes"),
        ("nrt-sim-model 1\ncompute affine x 1\n", 2, "mul"),
        ("nrt-sim-model 1\ncompute affine 1 y\n", 2, "add"),
        ("nrt-sim-model 1\ncompute copy 1\n", 2, "no arguments"),
        ("nrt-sim-model 1\ncompute copy\ncompute copy\n", 3, "twice"),
        ("nrt-sim-model 1\nfail_every 0 1004\n", 2, ">= 1"),
        ("nrt-sim-model 1\nfail_every x 1004\n", 2, "not an integer"),
        ("nrt-sim-model 1\nfail_every 2 0\n", 2, "must not be"),
        ("nrt-sim-model 1\nfail_every 2 y\n", 2, "not an integer"),
        ("nrt-sim-model 1\nfail_every 2 1004\nfail_every 2 1004\n", 3, "twice"),
        ("nrt-sim-model 1\nlatency_us 1\noutput y 1\ncompute copy\n", 5, "missing \"name\""),
        ("nrt-sim-model 1\nname m\noutput y 1\ncompute copy\n", 5, "missing \"latency_us\""),
        ("nrt-sim-model 1\nname m\nlatency_us 1\noutput y 1\n", 5, "missing \"compute\""),
        ("nrt-sim-model 1\nname m\nlatency_us 1\ncompute affine 1 0\n", 5, "at least one output"),
        (
            "nrt-sim-model 1\nname m\nlatency_us 1\ninput a 1\ninput b 1\noutput y 1\ncompute copy\n",
            8,
            "as many inputs",
        ),
        ("nrt-sim-model 1\nname m\nlatency_us 1\ninput a 2\noutput y 1\ncompute copy\n", 7, "has 2 bytes"),
    ];
    for (text, line, why) in cases {
        let (l, r) = invalid(text);
        assert_eq!(l, *line, "{text:?}: {r}");
        assert!(r.contains(why), "{text:?}: {r:?} should contain {why:?}");
    }
    // not UTF-8
    let mut v = b"nrt-sim-model 1\nname m\n".to_vec();
    v.extend_from_slice(&[0xff, 0xfe, b'\n']);
    assert_eq!(parse(&v), Err(LoadError::Invalid { line: 3, reason: "not UTF-8 text".into() }));
}

#[test]
fn neff_detection() {
    let blob = vec![0x7fu8; 1024];
    assert_eq!(parse(&blob), Err(LoadError::Neff));
    assert!(LoadError::Neff.to_string().contains("only nrt-sim models"));
    assert!(matches!(parse(&blob[..1023]), Err(LoadError::Invalid { line: 1, .. })));
}

#[test]
fn affine_compute() {
    let m = parse(
        b"nrt-sim-model 1\nname m\nlatency_us 0\ninput a 4\ninput b 2\noutput y 6\noutput z 1\ncompute affine 3 7\n",
    )
    .unwrap();
    let a = vec![1u8, 2, 3, 200];
    let b = vec![10u8, 100];
    let out = compute(&m, &[a.clone(), b.clone()]);
    assert_eq!(out.len(), 2);
    for j in 0..6 {
        let s = a[j % 4].wrapping_add(b[j % 2]);
        assert_eq!(out[0][j], 3u8.wrapping_mul(s).wrapping_add(7), "byte {j}");
    }
    assert_eq!(out[1], vec![3u8.wrapping_mul(11).wrapping_add(7)]);
    // wrapping at 256: 200 + 100 = 300 -> 44; 3*44+7 = 139
    assert_eq!(out[0][3], 139);
    // negative / large parameters reduce mod 256
    let m2 = parse(b"nrt-sim-model 1\nname m\nlatency_us 0\noutput y 3\ncompute affine -1 257\n").unwrap();
    assert_eq!(m2.compute, Compute::Affine { mul: 255, add: 1 });
    assert_eq!(compute(&m2, &[]), vec![vec![1u8, 1, 1]]);
}

/// The formula as it was first written: one `j % len` per byte per input.
fn reference(def: &ModelDef, inputs: &[Vec<u8>]) -> Vec<Vec<u8>> {
    match def.compute {
        Compute::Copy => inputs.to_vec(),
        Compute::Affine { mul, add } => def
            .outputs
            .iter()
            .map(|o| {
                (0..o.size)
                    .map(|j| {
                        let s = inputs
                            .iter()
                            .filter(|i| !i.is_empty())
                            .fold(0u8, |acc, i| acc.wrapping_add(i[j % i.len()]));
                        mul.wrapping_mul(s).wrapping_add(add)
                    })
                    .collect()
            })
            .collect(),
    }
}

/// xorshift64*: deterministic test data without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn size(&mut self) -> usize {
        // Mostly small and odd sizes (tiles, partial chunks), some past MIN_RUN.
        match self.below(4) {
            0 => 1 + self.below(8) as usize,
            1 => 1 + self.below(300) as usize,
            2 => 1 + self.below(5000) as usize,
            _ => 4000 + self.below(20000) as usize,
        }
    }
}

#[test]
fn fast_compute_matches_the_reference_formula() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut tile = Vec::new();
    for case in 0..400 {
        let nin = rng.below(5) as usize;
        let nout = 1 + rng.below(3) as usize;
        let decl = |p: &str, i: usize, size: usize| TensorDecl { name: format!("{p}{i}"), size };
        let inputs: Vec<TensorDecl> = (0..nin).map(|i| decl("i", i, rng.size())).collect();
        let outputs: Vec<TensorDecl> = (0..nout).map(|i| decl("o", i, rng.size())).collect();
        let (mul, add) = (rng.next() as u8, rng.next() as u8);
        let def = ModelDef {
            name: "m".into(),
            latency_us: 0,
            inputs,
            outputs,
            compute: Compute::Affine { mul, add },
            fail_every: None,
        };
        let data: Vec<Vec<u8>> = def.inputs.iter().map(|d| (0..d.size).map(|_| rng.next() as u8).collect()).collect();
        let want = reference(&def, &data);
        assert_eq!(compute(&def, &data), want, "case {case}");
        // The same through compute_into, on outputs that start as garbage, inputs
        // and outputs at random offsets of larger buffers, tile kept across cases.
        let mut backing: Vec<Vec<u8>> = Vec::new();
        let mut offs = Vec::new();
        for d in &data {
            let off = rng.below(64) as usize;
            let mut b: Vec<u8> = (0..off + d.len() + 7).map(|_| rng.next() as u8).collect();
            b[off..off + d.len()].copy_from_slice(d);
            backing.push(b);
            offs.push(off);
        }
        let ins: Vec<&[u8]> = backing.iter().zip(&offs).zip(&data).map(|((b, &o), d)| &b[o..o + d.len()]).collect();
        let mut out_backing: Vec<(usize, Vec<u8>)> = def
            .outputs
            .iter()
            .map(|d| {
                let off = rng.below(64) as usize;
                (off, (0..off + d.size + 5).map(|_| rng.next() as u8).collect())
            })
            .collect();
        let guard: Vec<Vec<u8>> = out_backing.iter().map(|(_, b)| b.clone()).collect();
        {
            let mut outs: Vec<&mut [u8]> =
                out_backing.iter_mut().zip(&def.outputs).map(|((off, b), d)| &mut b[*off..*off + d.size]).collect();
            compute_into(&def, &ins, &mut outs, &mut tile);
        }
        for (k, ((off, b), d)) in out_backing.iter().zip(&def.outputs).enumerate() {
            assert_eq!(&b[*off..*off + d.size], &want[k][..], "case {case} output {k}");
            assert_eq!(&b[..*off], &guard[k][..*off], "case {case}: bytes before output {k} untouched");
            assert_eq!(&b[*off + d.size..], &guard[k][*off + d.size..], "case {case}: bytes after output {k}");
        }
    }
}

#[test]
fn copy_compute() {
    let m =
        parse(b"nrt-sim-model 1\nname c\nlatency_us 0\ninput a 3\ninput b 1\noutput x 3\noutput y 1\ncompute copy\n")
            .unwrap();
    let out = compute(&m, &[vec![1, 2, 3], vec![9]]);
    assert_eq!(out, vec![vec![1, 2, 3], vec![9]]);
}

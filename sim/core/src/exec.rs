//! The data phase of an execution: the model's compute, from the input regions
//! straight into the output regions (no snapshot, no intermediate buffer, no
//! allocation in steady state). Only when an output shares bytes with an input or
//! with another output (an in-place model) are the inputs copied first, which
//! gives the same bytes as computing from a snapshot and writing the outputs in
//! order.

use crate::model::{self, Compute, ModelDef};
use crate::raw::View;
use crate::runtime::Region;
use std::cell::RefCell;

/// A byte range an execution reads or writes.
pub trait Bytes {
    fn bytes(&self) -> View<'_>;
}

impl Bytes for Region {
    fn bytes(&self) -> View<'_> {
        self.storage.mem.view(self.off, self.len)
    }
}

/// Outputs come with their tensor handle (runtime::Work::Exec).
impl<B: Bytes> Bytes for (B, usize) {
    fn bytes(&self) -> View<'_> {
        self.0.bytes()
    }
}

/// Per-thread scratch space (workers, and callers that run an op inline).
#[derive(Default)]
struct Scratch {
    /// Short inputs repeated (model::affine_pass).
    tile: Vec<u8>,
    /// The aliasing case: input snapshots and computed outputs.
    snap: Vec<Vec<u8>>,
    outs: Vec<Vec<u8>>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Work units of an execution, for the data phase's time estimate (pace::Kind::Compute):
/// output bytes times the passes over them.
pub fn units(def: &ModelDef, outputs: &[impl Bytes]) -> u64 {
    let passes = match def.compute {
        Compute::Copy => 1,
        Compute::Affine { .. } => def.inputs.len().max(1) as u64,
    };
    outputs.iter().map(|r| r.bytes().len() as u64).sum::<u64>() * passes
}

fn aliased(inputs: &[impl Bytes], outputs: &[impl Bytes]) -> bool {
    outputs.iter().enumerate().any(|(i, o)| {
        let ov = o.bytes();
        inputs.iter().any(|r| r.bytes().overlaps(&ov)) || outputs[..i].iter().any(|p| p.bytes().overlaps(&ov))
    })
}

/// Computes the outputs of one execution of `def` (regions in declared order).
pub fn execute(def: &ModelDef, inputs: &[impl Bytes], outputs: &[impl Bytes]) {
    SCRATCH.with(|s| {
        let s = &mut *s.borrow_mut();
        if aliased(inputs, outputs) {
            return execute_snapshot(def, inputs, outputs, s);
        }
        match def.compute {
            Compute::Copy => {
                for (o, i) in outputs.iter().zip(inputs) {
                    o.bytes().copy_from(&i.bytes());
                }
            }
            Compute::Affine { mul, add } => {
                let live = || inputs.iter().map(|r| r.bytes()).filter(|v| !v.is_empty());
                let n = live().count();
                for o in outputs {
                    let source = |k: usize| live().nth(k).expect("k < n");
                    View::with_dst_and_sources(&o.bytes(), n, source, |dst, srcs| {
                        model::affine_output(dst, n, |k| srcs[k], mul, add, &mut s.tile)
                    })
                    .expect("outputs share no byte with inputs (checked above)");
                }
            }
        }
    })
}

/// The aliasing case: snapshot the inputs, compute, write the outputs in order.
fn execute_snapshot(def: &ModelDef, inputs: &[impl Bytes], outputs: &[impl Bytes], s: &mut Scratch) {
    s.snap.resize_with(s.snap.len().max(inputs.len()), Vec::new);
    s.outs.resize_with(s.outs.len().max(outputs.len()), Vec::new);
    for (buf, r) in s.snap.iter_mut().zip(inputs) {
        buf.resize(r.bytes().len(), 0);
        r.bytes().read_into(buf);
    }
    for (buf, r) in s.outs.iter_mut().zip(outputs) {
        buf.resize(r.bytes().len(), 0);
    }
    {
        let ins: Vec<&[u8]> = s.snap[..inputs.len()].iter().map(|v| v.as_slice()).collect();
        let mut outs: Vec<&mut [u8]> = s.outs[..outputs.len()].iter_mut().map(|v| v.as_mut_slice()).collect();
        model::compute_into(def, &ins, &mut outs, &mut s.tile);
    }
    for (buf, r) in s.outs.iter().zip(outputs) {
        r.bytes().with_mut(|d| d.copy_from_slice(buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{parse, TensorDecl};
    use crate::raw::Mem;

    struct R<'a>(&'a Mem, usize, usize);
    impl Bytes for R<'_> {
        fn bytes(&self) -> View<'_> {
            self.0.view(self.1, self.2)
        }
    }

    fn mem_with(data: &[u8]) -> Mem {
        let m = Mem::alloc(data.len()).unwrap();
        m.write(0, data);
        m
    }
    fn contents(m: &Mem) -> Vec<u8> {
        let mut v = vec![0; m.len()];
        m.read(0, &mut v);
        v
    }
    fn def(text: &str) -> ModelDef {
        parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn disjoint_regions_compute_in_place_of_the_outputs() {
        // Inputs and outputs at offsets inside shared storages.
        let d = def("nrt-sim-model 1\nname m\nlatency_us 0\ninput a 300\ninput b 7\noutput y 5000\noutput z 3\ncompute affine 3 7\n");
        let a: Vec<u8> = (0..300u32).map(|i| (i * 7 + 1) as u8).collect();
        let b: Vec<u8> = (0..7u32).map(|i| (i * 31 + 2) as u8).collect();
        let mut img = vec![0xeeu8; 10_000];
        img[100..400].copy_from_slice(&a);
        img[9000..9007].copy_from_slice(&b);
        let m = mem_with(&img);
        let ins = [R(&m, 100, 300), R(&m, 9000, 7)];
        let outs = [(R(&m, 2000, 5000), 1usize), (R(&m, 8000, 3), 2)];
        execute(&d, &ins, &outs);
        let want = model::compute(&d, &[a, b]);
        let got = contents(&m);
        assert_eq!(&got[2000..7000], &want[0][..]);
        assert_eq!(&got[8000..8003], &want[1][..]);
        assert!(got[..100].iter().chain(&got[400..2000]).chain(&got[7000..8000]).all(|&x| x == 0xee));
        assert_eq!(units(&d, &outs), 5003 * 2);
    }

    #[test]
    fn aliasing_outputs_give_the_snapshot_result() {
        // In place: y is the input's own bytes, shifted by one; z overlaps y.
        let d = def("nrt-sim-model 1\nname m\nlatency_us 0\ninput a 64\noutput y 64\noutput z 8\ncompute affine 5 1\n");
        let img: Vec<u8> = (0..200u32).map(|i| (i * 13) as u8).collect();
        let m = mem_with(&img);
        let a = img[10..74].to_vec();
        execute(&d, &[R(&m, 10, 64)], &[(R(&m, 11, 64), 0usize), (R(&m, 70, 8), 0)]);
        // Reference: snapshot, compute, write y then z.
        let want = model::compute(&d, &[a]);
        let mut exp = img.clone();
        exp[11..75].copy_from_slice(&want[0]);
        exp[70..78].copy_from_slice(&want[1]);
        assert_eq!(contents(&m), exp);
        // compute copy onto itself shifted (memmove semantics of a snapshot).
        let c = ModelDef {
            name: "c".into(),
            latency_us: 0,
            inputs: vec![TensorDecl { name: "a".into(), size: 50 }],
            outputs: vec![TensorDecl { name: "y".into(), size: 50 }],
            compute: Compute::Copy,
            fail_every: None,
        };
        let m2 = mem_with(&img);
        execute(&c, &[R(&m2, 0, 50)], &[(R(&m2, 20, 50), 0usize)]);
        let mut exp2 = img.clone();
        exp2[20..70].copy_from_slice(&img[0..50]);
        assert_eq!(contents(&m2), exp2);
    }
}

//! Forward semantics of the fused ops: hand-computed values, naive references, and
//! agreement with the primitive-op graphs they replace.

use crate::common::*;
use llc_ir::DType;
use llc_runtime::interp::Precision;
use llc_runtime::tensor::{Tensor, max_abs_diff};

#[test]
fn rms_norm_hand_computed() {
    let f = func(|b| {
        let x = input(b, "x", &[2, 2]);
        let w = input(b, "w", &[2]);
        vec![b.rms_norm(x, w, 0.5).unwrap()]
    });
    let got = run(
        &f,
        &[t64(&[2, 2], &[3., 4., 1., -1.]), t64(&[2], &[1., 2.])],
        Precision::F64,
    )
    .remove(0);
    let r0 = 1.0 / (12.5f64 + 0.5).sqrt();
    let r1 = 1.0 / (1.0f64 + 0.5).sqrt();
    assert_vals(&got, &[2, 2], &[3. * r0, 8. * r0, r1, -2. * r1], 1e-15);
}

#[test]
fn rms_norm_matches_its_primitive_graph() {
    let (rows, d, eps) = (6, 8, 1e-5);
    let fused = func(|b| {
        let x = input(b, "x", &[rows, d]);
        let w = input(b, "w", &[d]);
        vec![b.rms_norm(x, w, eps).unwrap()]
    });
    let prim = func(|b| {
        let x = input(b, "x", &[rows, d]);
        let w = input(b, "w", &[d]);
        let sq = b.mul(x, x).unwrap();
        let ms = b.mean(sq, &[1], true).unwrap();
        let ms = b.add_scalar(ms, eps).unwrap();
        let r = b.rsqrt(ms).unwrap();
        let r = b.broadcast(r, &[rows, d]).unwrap();
        let y = b.mul(x, r).unwrap();
        let w = b.broadcast(w, &[rows, d]).unwrap();
        vec![b.mul(y, w).unwrap()]
    });
    let args = [randn(&[rows, d], 1), randn(&[d], 2)];
    let a = run(&fused, &args, Precision::F64).remove(0);
    let c = run(&prim, &args, Precision::F64).remove(0);
    assert!(max_abs_diff(&a, &c) < 1e-13);
}

#[test]
fn swiglu_hand_computed() {
    let f = func(|b| {
        let a = input(b, "a", &[3]);
        let c = input(b, "b", &[3]);
        vec![b.swiglu(a, c).unwrap()]
    });
    let got = run(
        &f,
        &[t64(&[3], &[0., 1., -2.]), t64(&[3], &[2., 3., 0.5])],
        Precision::F64,
    )
    .remove(0);
    let s = |x: f64| 1.0 / (1.0 + (-x).exp());
    assert_vals(
        &got,
        &[3],
        &[0.0, 3.0 * s(1.0), -2.0 * s(-2.0) * 0.5],
        1e-15,
    );
}

#[test]
fn rope_hand_computed() {
    // x[B=1, T=2, H=1, hd=4], theta 100: pair 0 turns by t, pair 1 by t * 100^(-1/2) = t/10.
    let f = func(|b| {
        let x = input(b, "x", &[1, 2, 1, 4]);
        vec![b.rope(x, 100.0, false).unwrap()]
    });
    let x = [1., 2., 3., 4., 1., 2., 3., 4.];
    let got = run(&f, &[t64(&[1, 2, 1, 4], &x)], Precision::F64).remove(0);
    let rot =
        |a: f64, b: f64, ang: f64| (a * ang.cos() - b * ang.sin(), a * ang.sin() + b * ang.cos());
    let (p0, p1) = (rot(1., 2., 1.0), rot(3., 4., 0.1));
    let want = [1., 2., 3., 4., p0.0, p0.1, p1.0, p1.1];
    assert_vals(&got, &[1, 2, 1, 4], &want, 1e-14);
}

#[test]
fn rope_inverse_undoes_rope_and_uses_axis_1_as_position() {
    let shape = [2, 5, 3, 8];
    let f = func(|b| {
        let x = input(b, "x", &shape);
        let r = b.rope(x, 10000.0, false).unwrap();
        vec![r, b.rope(r, 10000.0, true).unwrap()]
    });
    let x = randn(&shape, 3);
    let out = run(&f, std::slice::from_ref(&x), Precision::F64);
    assert!(max_abs_diff(&out[1], &x) < 1e-14);
    // position 0 is untouched, other positions are not; batch and head do not matter
    let (xv, rv) = (x.to_f64_vec(), out[0].to_f64_vec());
    let row = 3 * 8;
    for b in 0..2 {
        let base = b * 5 * row;
        assert_eq!(&xv[base..base + row], &rv[base..base + row]);
        assert_ne!(
            &xv[base + row..base + 2 * row],
            &rv[base + row..base + 2 * row]
        );
    }
}

#[test]
fn softmax_hand_computed_and_stable() {
    let f = func(|b| {
        let x = input(b, "x", &[2, 3]);
        vec![b.softmax(x).unwrap()]
    });
    let got = run(
        &f,
        &[t64(&[2, 3], &[1., 2., 3., 1000., 1000., -1000.])],
        Precision::F64,
    )
    .remove(0);
    let z: f64 = [1f64, 2., 3.].iter().map(|v| v.exp()).sum();
    assert_vals(
        &got,
        &[2, 3],
        &[
            1f64.exp() / z,
            2f64.exp() / z,
            3f64.exp() / z,
            0.5,
            0.5,
            0.0,
        ],
        1e-15,
    );
}

/// Attention by explicit loops, f64.
fn naive_attention(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64, causal: bool) -> Tensor {
    let (qs, ks) = (q.shape(), k.shape());
    let (b, hq, t, hd) = (qs[0], qs[1], qs[2], qs[3]);
    let (hkv, s) = (ks[1], ks[2]);
    let (qv, kv, vv) = (q.to_f64_vec(), k.to_f64_vec(), v.to_f64_vec());
    let mut out = vec![0.0; qv.len()];
    for bi in 0..b {
        for h in 0..hq {
            let g = h / (hq / hkv);
            for i in 0..t {
                let qrow = |d: usize| qv[((bi * hq + h) * t + i) * hd + d];
                let kat = |j: usize, d: usize| kv[((bi * hkv + g) * s + j) * hd + d];
                let vat = |j: usize, d: usize| vv[((bi * hkv + g) * s + j) * hd + d];
                let js: Vec<usize> = (0..s).filter(|&j| !causal || j <= i).collect();
                let sc: Vec<f64> = js
                    .iter()
                    .map(|&j| scale * (0..hd).map(|d| qrow(d) * kat(j, d)).sum::<f64>())
                    .collect();
                let m = sc.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = sc.iter().map(|x| (x - m).exp()).collect();
                let z: f64 = e.iter().sum();
                for d in 0..hd {
                    out[((bi * hq + h) * t + i) * hd + d] =
                        js.iter().zip(&e).map(|(&j, p)| p / z * vat(j, d)).sum();
                }
            }
        }
    }
    Tensor::from_f64(qs.to_vec(), out).unwrap()
}

fn attention_fn(qs: [usize; 4], ks: [usize; 4], scale: f64, causal: bool) -> llc_ir::Function {
    func(|b| {
        let q = input(b, "q", &qs);
        let k = input(b, "k", &ks);
        let v = input(b, "v", &ks);
        vec![b.attention(q, k, v, scale, causal).unwrap()]
    })
}

#[test]
fn attention_matches_naive_loops() {
    for (qs, ks, causal) in [
        ([2, 4, 5, 3], [2, 2, 5, 3], true),
        ([2, 4, 5, 3], [2, 1, 7, 3], false),
        ([1, 3, 4, 2], [1, 3, 4, 2], false),
        ([1, 2, 6, 4], [1, 2, 6, 4], true),
    ] {
        let f = attention_fn(qs, ks, 0.7, causal);
        let args = [randn(&qs, 1), randn(&ks, 2), randn(&ks, 3)];
        let want = naive_attention(&args[0], &args[1], &args[2], 0.7, causal);
        let got = run(&f, &args, Precision::F64).remove(0);
        assert!(max_abs_diff(&got, &want) < 1e-13, "{qs:?} {ks:?} {causal}");
        let got32 = run(&f, &args, Precision::F32).remove(0);
        assert!(
            max_abs_diff(&got32, &want) < 1e-5,
            "f32 {qs:?} {ks:?} {causal}"
        );
    }
}

#[test]
fn causal_first_query_sees_only_the_first_key() {
    let f = attention_fn([1, 1, 3, 2], [1, 1, 3, 2], 1.0, true);
    let v = t64(&[1, 1, 3, 2], &[1., 2., 30., 40., 500., 600.]);
    let args = [randn(&[1, 1, 3, 2], 4), randn(&[1, 1, 3, 2], 5), v];
    let got = run(&f, &args, Precision::F64).remove(0).to_f64_vec();
    assert_eq!(&got[..2], &[1., 2.]);
}

#[test]
fn grouped_query_attention_equals_repeated_kv_heads() {
    let (b, hq, hkv, t, hd) = (2, 6, 2, 4, 3);
    let gqa = attention_fn([b, hq, t, hd], [b, hkv, t, hd], 0.5, true);
    let mha = attention_fn([b, hq, t, hd], [b, hq, t, hd], 0.5, true);
    let (q, k, v) = (
        randn(&[b, hq, t, hd], 1),
        randn(&[b, hkv, t, hd], 2),
        randn(&[b, hkv, t, hd], 3),
    );
    // KV head g serves query heads g*3 .. g*3+3: repeat each KV head 3 times in place.
    let repeat = |x: &Tensor| {
        let xv = x.to_f64_vec();
        let blk = t * hd;
        let mut out = vec![];
        for bi in 0..b {
            for h in 0..hq {
                let g = h / (hq / hkv);
                let at = (bi * hkv + g) * blk;
                out.extend_from_slice(&xv[at..at + blk]);
            }
        }
        Tensor::from_f64([b, hq, t, hd], out).unwrap()
    };
    let a = run(&gqa, &[q.clone(), k.clone(), v.clone()], Precision::F64).remove(0);
    let c = run(&mha, &[q, repeat(&k), repeat(&v)], Precision::F64).remove(0);
    assert!(max_abs_diff(&a, &c) < 1e-14);
}

#[test]
fn cross_entropy_hand_computed_and_stable() {
    let f = func(|b| {
        let x = input(b, "x", &[2, 3]);
        let t = b.input("t", DType::I32, &[2]).unwrap();
        vec![b.cross_entropy(x, t).unwrap()]
    });
    let got = run(
        &f,
        &[
            t64(&[2, 3], &[1., 2., 3., 1000., 0., -1000.]),
            ti(&[2], &[2, 1]),
        ],
        Precision::F64,
    )
    .remove(0);
    let lse = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
    assert_vals(&got, &[2], &[lse - 3.0, 1000.0], 1e-12);
}

#[test]
fn cross_entropy_matches_log_softmax_graph() {
    let (r, v) = (5, 11);
    let fused = func(|b| {
        let x = input(b, "x", &[r, v]);
        let t = b.input("t", DType::I32, &[r]).unwrap();
        vec![b.cross_entropy(x, t).unwrap()]
    });
    let prim = func(|b| {
        let x = input(b, "x", &[r, v]);
        let t = b.input("t", DType::I32, &[r]).unwrap();
        let p = b.softmax(x).unwrap();
        let lp = b.log(p).unwrap();
        let cls = b
            .iota(llc_ir::TensorType::new(DType::I32, [r, v]), 1)
            .unwrap();
        let t2 = b.reshape(t, &[r, 1]).unwrap();
        let t2 = b.broadcast(t2, &[r, v]).unwrap();
        let hit = b.compare(llc_ir::CmpOp::Eq, cls, t2).unwrap();
        let zero = b.full_like(lp, 0.0).unwrap();
        let picked = b.select(hit, lp, zero).unwrap();
        let s = b.reduce_sum(picked, &[1], false).unwrap();
        vec![b.neg(s).unwrap()]
    });
    let args = [
        randn(&[r, v], 7),
        Tensor::random_ints([r], 0..v as i32, &mut rng(8)),
    ];
    let a = run(&fused, &args, Precision::F64).remove(0);
    let c = run(&prim, &args, Precision::F64).remove(0);
    assert!(max_abs_diff(&a, &c) < 1e-13);
}

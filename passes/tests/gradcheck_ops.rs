//! Every VJP rule checked in f64 against finite differences: for each op, a function
//! `loss = sum(op(params...) * w)` with a random weight input `w`, random (seeded) shapes
//! including broadcasting cases, and every entry of every parameter compared.
//! Relative error bound: 1e-6 (see `support` for the measure).

mod support;

use llc_ir::{
    AttnOperand, BinaryOp, Builder, CmpOp, DType, Function, NodeId, Op, TensorType, UnaryOp,
};
use llc_runtime::{Precision, Tensor, run_function};
use rand::{Rng, SeedableRng, rngs::StdRng};
use support::{Entries, args_for, grad_check};

const TOL: f64 = 1e-6;

fn ident(x: f64) -> f64 {
    x
}
fn positive(x: f64) -> f64 {
    x.abs() + 0.5
}
fn off_zero(x: f64) -> f64 {
    x.signum() * (x.abs() + 0.1)
}

/// A test function: float params of the given shapes (and dtype `dt`), i32 inputs of the
/// given shapes, `out = build(params, ints)`, `loss = sum(out * w)`.
fn op_fn(
    dt: DType,
    params: &[&[usize]],
    ints: &[&[usize]],
    build: impl FnOnce(&mut Builder, &[NodeId], &[NodeId]) -> NodeId,
) -> Function {
    let mut f = Function::new("forward");
    let mut b = Builder::new(&mut f);
    let ps: Vec<NodeId> = params
        .iter()
        .enumerate()
        .map(|(i, s)| b.param(&format!("p{i}"), dt, s).unwrap())
        .collect();
    let is: Vec<NodeId> = ints
        .iter()
        .enumerate()
        .map(|(i, s)| b.input(&format!("i{i}"), DType::I32, s).unwrap())
        .collect();
    let out = build(&mut b, &ps, &is);
    let wt = b.ty(out).clone();
    let w = b.arg("w", llc_ir::ArgRole::Input, wt).unwrap();
    let prod = b.mul(out, w).unwrap();
    let s = b.sum_all(prod).unwrap();
    let loss = b.name(s, "loss").unwrap();
    b.output(loss);
    f
}

/// Gradient-check `f` on every entry; returns the largest error after asserting it.
fn check(what: &str, f: &Function, int_high: i32, domain: fn(f64) -> f64, seed: u64) -> f64 {
    let args = args_for(f, seed, int_high, domain);
    let r = grad_check(f, &args, Entries::All, seed);
    eprintln!(
        "{what:<40} max rel err {:.2e} over {} entries",
        r.max_err, r.entries
    );
    assert!(
        r.max_err < TOL,
        "{what}: gradient error {:.3e} >= {TOL:e}: {:?}",
        r.max_err,
        r.per_param
    );
    r.max_err
}

fn random_shape(rng: &mut StdRng, max_rank: usize) -> Vec<usize> {
    let rank = rng.random_range(1..=max_rank);
    (0..rank).map(|_| rng.random_range(1..=4)).collect()
}

#[test]
fn unary_ops() {
    let mut rng = StdRng::seed_from_u64(1);
    for u in UnaryOp::ALL {
        let domain: fn(f64) -> f64 = match u {
            UnaryOp::Log | UnaryOp::Sqrt | UnaryOp::Rsqrt | UnaryOp::Recip => positive,
            UnaryOp::Abs => off_zero,
            _ => ident,
        };
        for seed in 0..2 {
            let shape = random_shape(&mut rng, 3);
            let f = op_fn(DType::F64, &[&shape], &[], |b, p, _| {
                b.unary(u, p[0]).unwrap()
            });
            check(&format!("{} {shape:?}", u.name()), &f, 0, domain, seed);
        }
    }
}

#[test]
fn binary_ops() {
    let mut rng = StdRng::seed_from_u64(2);
    for bo in BinaryOp::ALL {
        let domain: fn(f64) -> f64 = match bo {
            BinaryOp::Pow | BinaryOp::Div => positive,
            _ => ident,
        };
        for seed in 0..2 {
            let shape = random_shape(&mut rng, 3);
            let f = op_fn(DType::F64, &[&shape, &shape], &[], |b, p, _| {
                b.binary(bo, p[0], p[1]).unwrap()
            });
            check(
                &format!("{} {shape:?}", bo.name()),
                &f,
                0,
                domain,
                10 + seed,
            );
        }
    }
    // An operand used twice by one op: x * x, x / x, pow(x, x).
    for bo in [BinaryOp::Mul, BinaryOp::Add, BinaryOp::Pow] {
        let f = op_fn(DType::F64, &[&[3, 2]], &[], |b, p, _| {
            b.binary(bo, p[0], p[0]).unwrap()
        });
        check(&format!("{}(x, x)", bo.name()), &f, 0, positive, 3);
    }
}

#[test]
fn select_compare_cast_iota_full() {
    // select on a compare of the params: the condition gets no gradient, each branch
    // gets the cotangent where it was chosen.
    let f = op_fn(DType::F64, &[&[3, 4], &[3, 4]], &[], |b, p, _| {
        let c = b.compare(CmpOp::Gt, p[0], p[1]).unwrap();
        let sq = b.mul(p[0], p[0]).unwrap();
        b.select(c, sq, p[1]).unwrap()
    });
    check("select(cmp_gt(a, b), a*a, b)", &f, 0, ident, 4);
    // cast f64 -> f32 -> f64 around a nonlinearity
    let f = op_fn(DType::F64, &[&[2, 3]], &[], |b, p, _| {
        let c = b.cast(p[0], DType::F32).unwrap();
        let e = b.exp(c).unwrap();
        b.cast(e, DType::F64).unwrap()
    });
    check("cast f64->f32->f64", &f, 0, ident, 5);
    // constants on the path get no gradient and do not break anything
    let f = op_fn(DType::F64, &[&[2, 5]], &[], |b, p, _| {
        let io = b.iota(TensorType::new(DType::F64, [2, 5]), 1).unwrap();
        let k = b.full(0.5, TensorType::new(DType::F64, [2, 5])).unwrap();
        let t = b.mul(p[0], io).unwrap();
        let t = b.add(t, k).unwrap();
        b.mul(t, p[0]).unwrap()
    });
    check("x * iota + full", &f, 0, ident, 6);
}

#[test]
fn broadcast_cases() {
    let cases: [(&[usize], &[usize]); 6] = [
        (&[3], &[2, 3]),
        (&[2, 1], &[2, 4]),
        (&[1, 3, 1], &[2, 3, 4]),
        (&[], &[2, 2]),
        (&[4, 1, 3], &[2, 4, 5, 3]),
        (&[2, 3], &[2, 3]),
    ];
    for (i, (from, to)) in cases.into_iter().enumerate() {
        let f = op_fn(DType::F64, &[from], &[], |b, p, _| {
            let ty = b.ty(p[0]).with_shape(to);
            // an explicit op even when the shapes match
            b.op(Op::Broadcast, &[p[0]], Some(ty)).unwrap()
        });
        check(
            &format!("broadcast {from:?} -> {to:?}"),
            &f,
            0,
            ident,
            20 + i as u64,
        );
    }
    // one broadcast value used twice: a[3] * b[2, 3] / (1 + a^2)
    let f = op_fn(DType::F64, &[&[3], &[2, 3]], &[], |b, p, _| {
        let a = b.broadcast(p[0], &[2, 3]).unwrap();
        let s = b.mul(a, p[1]).unwrap();
        let a2 = b.mul(a, a).unwrap();
        let d = b.add_scalar(a2, 1.0).unwrap();
        b.div(s, d).unwrap()
    });
    check("a[3] * b[2,3] / (1 + a^2), a broadcast", &f, 0, ident, 26);
}

#[test]
fn reshape_transpose_slice_concat() {
    let f = op_fn(DType::F64, &[&[2, 3, 4]], &[], |b, p, _| {
        let r = b.reshape(p[0], &[6, 4]).unwrap();
        b.sin(r).unwrap()
    });
    check("reshape [2,3,4] -> [6,4]", &f, 0, ident, 30);
    for perm in [vec![1, 0, 2], vec![2, 0, 1], vec![0, 2, 1]] {
        let f = op_fn(DType::F64, &[&[2, 3, 4]], &[], |b, p, _| {
            b.transpose(p[0], &perm).unwrap()
        });
        check(&format!("transpose {perm:?}"), &f, 0, ident, 31);
    }
    for (axis, start, end) in [(0, 1, 3), (1, 0, 2), (2, 1, 4), (1, 0, 3)] {
        let f = op_fn(DType::F64, &[&[3, 3, 4]], &[], |b, p, _| {
            let s = b.slice(p[0], axis, start, end).unwrap();
            b.mul(s, s).unwrap()
        });
        check(
            &format!("slice axis {axis} {start}..{end}"),
            &f,
            0,
            ident,
            32,
        );
    }
    let f = op_fn(DType::F64, &[&[2, 3], &[2, 1], &[2, 2]], &[], |b, p, _| {
        b.concat(p, 1).unwrap()
    });
    check("concat 3 operands on axis 1", &f, 0, ident, 33);
    let f = op_fn(DType::F64, &[&[1, 3], &[2, 3]], &[], |b, p, _| {
        let c = b.concat(&[p[0], p[1], p[0]], 0).unwrap();
        b.exp(c).unwrap()
    });
    check("concat with a repeated operand", &f, 0, ident, 34);
}

#[test]
fn reductions() {
    let cases: [(&[usize], &[usize], bool); 5] = [
        (&[3, 4], &[1], false),
        (&[3, 4], &[0], true),
        (&[2, 3, 4], &[0, 2], false),
        (&[2, 3, 4], &[0, 1, 2], true),
        (&[5], &[0], false),
    ];
    for (i, (shape, axes, keep)) in cases.into_iter().enumerate() {
        for kind in [llc_ir::ReduceKind::Sum, llc_ir::ReduceKind::Max] {
            let f = op_fn(DType::F64, &[shape], &[], |b, p, _| {
                let e = b.sin(p[0]).unwrap();
                b.reduce(kind, e, axes, keep).unwrap()
            });
            let what = format!("{} {shape:?} axes {axes:?} keep {keep}", kind.name());
            check(&what, &f, 0, ident, 40 + i as u64);
        }
    }
}

#[test]
fn reduce_max_splits_ties_evenly() {
    // loss = max(x) with x = [1, 3, 3, 2]: the two maxima get 1/2 each.
    let mut f = Function::new("forward");
    let mut b = Builder::new(&mut f);
    let x = b.param("x", DType::F64, &[4]).unwrap();
    let m = b.reduce_max(x, &[0], false).unwrap();
    let loss = b.name(m, "loss").unwrap();
    b.output(loss);
    let (fb, _) = llc_passes::differentiate(&f, "loss", "fb").unwrap();
    let args = [Tensor::from_f64(vec![4], vec![1.0, 3.0, 3.0, 2.0]).unwrap()];
    let out = run_function(&fb, &args, Precision::F64).unwrap();
    assert_eq!(out[1].to_f64_vec(), vec![0.0, 0.5, 0.5, 0.0]);
}

#[test]
fn max_min_ties_go_to_the_first_operand() {
    let mut f = Function::new("forward");
    let mut b = Builder::new(&mut f);
    let x = b.param("x", DType::F64, &[2]).unwrap();
    let y = b.param("y", DType::F64, &[2]).unwrap();
    let m = b.max(x, y).unwrap();
    let n = b.min(x, y).unwrap();
    let s = b.add(m, n).unwrap();
    let s = b.sum_all(s).unwrap();
    let loss = b.name(s, "loss").unwrap();
    b.output(loss);
    let (fb, _) = llc_passes::differentiate(&f, "loss", "fb").unwrap();
    let args = [
        Tensor::from_f64(vec![2], vec![1.0, 5.0]).unwrap(),
        Tensor::from_f64(vec![2], vec![1.0, 2.0]).unwrap(),
    ];
    let out = run_function(&fb, &args, Precision::F64).unwrap();
    // entry 0 ties: both max and min send their gradient to x
    assert_eq!(out[1].to_f64_vec(), vec![2.0, 1.0]);
    assert_eq!(out[2].to_f64_vec(), vec![0.0, 1.0]);
}

#[test]
fn matmul_all_layouts() {
    let (m, k, n) = (3, 4, 2);
    for tl in [false, true] {
        for tr in [false, true] {
            let a2 = if tl { vec![k, m] } else { vec![m, k] };
            let b2 = if tr { vec![n, k] } else { vec![k, n] };
            let batched = |s: &[usize]| [&[2usize][..], s].concat();
            let cases: [(Vec<usize>, Vec<usize>, &str); 3] = [
                (a2.clone(), b2.clone(), "rank 2"),
                (batched(&a2), batched(&b2), "batched"),
                (
                    [&[2usize, 2][..], &a2[..]].concat(),
                    b2.clone(),
                    "shared rhs",
                ),
            ];
            for (sa, sb, what) in cases {
                let f = op_fn(DType::F64, &[&sa, &sb], &[], |b, p, _| {
                    b.matmul_t(p[0], p[1], tl, tr).unwrap()
                });
                check(&format!("matmul tl={tl} tr={tr} {what}"), &f, 0, ident, 50);
            }
        }
    }
}

#[test]
fn gather_and_scatter_add() {
    // indices repeat, so the table gradient must accumulate
    let f = op_fn(DType::F64, &[&[5, 3]], &[&[2, 4]], |b, p, i| {
        b.gather(p[0], i[0]).unwrap()
    });
    check("gather [5,3] by [2,4]", &f, 5, ident, 60);
    let f = op_fn(DType::F64, &[&[6, 3]], &[&[6]], |b, p, i| {
        b.scatter_add(i[0], p[0], 4).unwrap()
    });
    check("scatter_add [6,3] into [4,3]", &f, 4, ident, 61);
}

#[test]
fn fused_rms_norm_swiglu_softmax() {
    let f = op_fn(DType::F64, &[&[2, 3, 8], &[8]], &[], |b, p, _| {
        b.rms_norm(p[0], p[1], 1e-5).unwrap()
    });
    check("rms_norm [2,3,8]", &f, 0, ident, 70);
    let f = op_fn(DType::F64, &[&[3, 5], &[3, 5]], &[], |b, p, _| {
        b.swiglu(p[0], p[1]).unwrap()
    });
    check("swiglu [3,5]", &f, 0, ident, 71);
    for shape in [vec![3, 5], vec![2, 2, 4]] {
        let f = op_fn(DType::F64, &[&shape], &[], |b, p, _| {
            b.softmax(p[0]).unwrap()
        });
        check(&format!("softmax {shape:?}"), &f, 0, ident, 72);
    }
}

#[test]
fn fused_rope() {
    for inverse in [false, true] {
        let f = op_fn(DType::F64, &[&[2, 3, 2, 4]], &[], |b, p, _| {
            b.rope(p[0], 10000.0, inverse).unwrap()
        });
        check(&format!("rope inverse={inverse}"), &f, 0, ident, 73);
    }
}

#[test]
fn fused_attention() {
    // causal GQA: 4 query heads over 2 KV heads
    let f = op_fn(
        DType::F64,
        &[&[1, 4, 3, 4], &[1, 2, 3, 4], &[1, 2, 3, 4]],
        &[],
        |b, p, _| b.attention(p[0], p[1], p[2], 0.5, true).unwrap(),
    );
    check("attention causal GQA 4/2", &f, 0, ident, 80);
    // non-causal, more keys than queries, one KV head
    let f = op_fn(
        DType::F64,
        &[&[2, 2, 3, 4], &[2, 1, 5, 4], &[2, 1, 5, 4]],
        &[],
        |b, p, _| b.attention(p[0], p[1], p[2], 0.7, false).unwrap(),
    );
    check("attention non-causal S=5 MQA", &f, 0, ident, 81);
}

#[test]
fn fused_cross_entropy() {
    let f = op_fn(DType::F64, &[&[2, 3, 7]], &[&[2, 3]], |b, p, i| {
        b.cross_entropy(p[0], i[0]).unwrap()
    });
    check("cross_entropy [2,3,7]", &f, 7, ident, 90);
}

#[test]
fn all_reduce_on_one_rank() {
    // On a single rank both kinds are the identity, and so is their VJP; with a tanh in
    // front, a rule that dropped or doubled the cotangent would show.
    for kind in llc_ir::CollectiveKind::ALL {
        let f = op_fn(DType::F64, &[&[3, 4]], &[], |b, p, _| {
            let t = b.unary(UnaryOp::Tanh, p[0]).unwrap();
            b.all_reduce(t, kind).unwrap()
        });
        check(
            &format!("all_reduce {{kind = {}}}", kind.name()),
            &f,
            1,
            ident,
            41,
        );
    }
}

#[test]
fn grad_ops_have_no_vjp() {
    // Each *_grad op on the path from a param to the loss is rejected by name.
    let cases: Vec<(&str, Function)> = vec![
        (
            "attention_grad",
            op_fn(
                DType::F64,
                &[&[1, 2, 3, 4], &[1, 2, 3, 4], &[1, 2, 3, 4], &[1, 2, 3, 4]],
                &[],
                |b, p, _| {
                    b.attention_grad(AttnOperand::Q, [p[0], p[1], p[2], p[3]], 0.5, true)
                        .unwrap()
                },
            ),
        ),
        (
            "swiglu_grad_b",
            op_fn(DType::F64, &[&[2, 3], &[2, 3]], &[], |b, p, _| {
                b.op(Op::SwigluGradB, &[p[0], p[1]], None).unwrap()
            }),
        ),
        (
            "cross_entropy_grad",
            op_fn(DType::F64, &[&[2, 5], &[2]], &[&[2]], |b, p, i| {
                b.op(Op::CrossEntropyGrad, &[p[0], i[0], p[1]], None)
                    .unwrap()
            }),
        ),
    ];
    for (name, f) in cases {
        let err = llc_passes::differentiate(&f, "loss", "fb").unwrap_err();
        assert!(err.to_string().contains(name), "{err}");
    }
}

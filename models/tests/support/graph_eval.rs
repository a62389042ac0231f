//! A deliberately small f64 evaluator for the primitive ops the model builder emits, so
//! the forward graph can be checked against the plain-Rust reference before the real CPU
//! interpreter (`llc_runtime::interp::run_function(f, &args, Precision::F64)`) is merged.
//! Every value is computed in f64 (i32 and bool values are stored as whole numbers), which
//! is the interpreter's F64 precision. Once the interpreter is available, the comparison
//! tests in `reference.rs` should run through it too (see the note there).

use llc_ir::{BinaryOp, CmpOp, Function, Op, ReduceKind, UnaryOp};
use std::collections::HashMap;

/// A dense row-major tensor of f64.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

impl Tensor {
    pub fn new(shape: Vec<usize>, data: Vec<f64>) -> Self {
        assert_eq!(
            shape.iter().product::<usize>(),
            data.len(),
            "shape {shape:?}"
        );
        Tensor { shape, data }
    }
    fn filled(shape: &[usize], f: impl FnMut(&[usize]) -> f64) -> Self {
        let mut f = f;
        let n: usize = shape.iter().product();
        let mut idx = vec![0usize; shape.len()];
        let mut data = Vec::with_capacity(n);
        for _ in 0..n {
            data.push(f(&idx));
            for d in (0..shape.len()).rev() {
                idx[d] += 1;
                if idx[d] < shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        Tensor::new(shape.to_vec(), data)
    }
    fn at(&self, idx: &[usize]) -> f64 {
        let mut off = 0;
        for (d, &i) in idx.iter().enumerate() {
            off = off * self.shape[d] + i;
        }
        self.data[off]
    }
}

fn unary(op: UnaryOp, x: f64) -> f64 {
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Abs => x.abs(),
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Rsqrt => 1.0 / x.sqrt(),
        UnaryOp::Recip => 1.0 / x,
        UnaryOp::Sin => x.sin(),
        UnaryOp::Cos => x.cos(),
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Sigmoid => 1.0 / (1.0 + (-x).exp()),
    }
}

fn binary(op: BinaryOp, a: f64, b: f64) -> f64 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Max => a.max(b),
        BinaryOp::Min => a.min(b),
        BinaryOp::Pow => a.powf(b),
    }
}

fn compare(op: CmpOp, a: f64, b: f64) -> bool {
    match op {
        CmpOp::Lt => a < b,
        CmpOp::Le => a <= b,
        CmpOp::Gt => a > b,
        CmpOp::Ge => a >= b,
        CmpOp::Eq => a == b,
        CmpOp::Ne => a != b,
    }
}

fn matmul(a: &Tensor, b: &Tensor, ta: bool, tb: bool, out: &[usize]) -> Tensor {
    let (ra, rb) = (a.shape.len(), b.shape.len());
    let (m, k) = if ta {
        (a.shape[ra - 1], a.shape[ra - 2])
    } else {
        (a.shape[ra - 2], a.shape[ra - 1])
    };
    let n = out[out.len() - 1];
    let batches: usize = a.shape[..ra - 2].iter().product();
    let (a_mat, b_mat) = (m * k, b.shape[rb - 2] * b.shape[rb - 1]);
    let mut data = vec![0.0; batches * m * n];
    for bi in 0..batches {
        let ab = &a.data[bi * a_mat..(bi + 1) * a_mat];
        let bb = if rb == 2 {
            &b.data[..]
        } else {
            &b.data[bi * b_mat..(bi + 1) * b_mat]
        };
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0;
                for p in 0..k {
                    let x = if ta { ab[p * m + i] } else { ab[i * k + p] };
                    let y = if tb { bb[j * k + p] } else { bb[p * n + j] };
                    s += x * y;
                }
                data[bi * m * n + i * n + j] = s;
            }
        }
    }
    Tensor::new(out.to_vec(), data)
}

/// Evaluate `f` on arguments given by name; returns every output, in order.
pub fn run(f: &Function, args: &HashMap<String, Tensor>) -> Vec<Tensor> {
    let mut vals: HashMap<_, Tensor> = HashMap::new();
    for id in f.topo_order().expect("acyclic") {
        let node = f.node(id);
        let ops: Vec<&Tensor> = f.operands(id).iter().map(|o| &vals[o]).collect();
        let shape = node.ty.shape.clone();
        let v = match &node.op {
            Op::Arg { .. } => {
                let t = args
                    .get(&node.name)
                    .unwrap_or_else(|| panic!("missing argument {}", node.name))
                    .clone();
                assert_eq!(t.shape, shape, "argument {}", node.name);
                t
            }
            Op::Full { value } => Tensor::filled(&shape, |_| value.0),
            Op::Iota { axis } => Tensor::filled(&shape, |i| i[*axis] as f64),
            Op::Unary { op } => {
                Tensor::new(shape, ops[0].data.iter().map(|&x| unary(*op, x)).collect())
            }
            Op::Binary { op } => Tensor::new(
                shape,
                ops[0]
                    .data
                    .iter()
                    .zip(&ops[1].data)
                    .map(|(&a, &b)| binary(*op, a, b))
                    .collect(),
            ),
            Op::Compare { op } => Tensor::new(
                shape,
                ops[0]
                    .data
                    .iter()
                    .zip(&ops[1].data)
                    .map(|(&a, &b)| if compare(*op, a, b) { 1.0 } else { 0.0 })
                    .collect(),
            ),
            Op::Select => Tensor::new(
                shape,
                (0..ops[0].data.len())
                    .map(|i| {
                        if ops[0].data[i] != 0.0 {
                            ops[1].data[i]
                        } else {
                            ops[2].data[i]
                        }
                    })
                    .collect(),
            ),
            Op::Cast | Op::Reshape => Tensor::new(shape, ops[0].data.clone()),
            Op::Broadcast => {
                let src = ops[0];
                let off = shape.len() - src.shape.len();
                Tensor::filled(&shape, |i| {
                    let si: Vec<usize> = (0..src.shape.len())
                        .map(|d| if src.shape[d] == 1 { 0 } else { i[off + d] })
                        .collect();
                    src.at(&si)
                })
            }
            Op::Transpose { perm } => Tensor::filled(&shape, |i| {
                let mut si = vec![0; perm.len()];
                for (d, &p) in perm.iter().enumerate() {
                    si[p] = i[d];
                }
                ops[0].at(&si)
            }),
            Op::Slice { axis, start, .. } => Tensor::filled(&shape, |i| {
                let mut si = i.to_vec();
                si[*axis] += start;
                ops[0].at(&si)
            }),
            Op::Concat { axis } => Tensor::filled(&shape, |i| {
                let mut si = i.to_vec();
                for t in &ops {
                    if si[*axis] < t.shape[*axis] {
                        return t.at(&si);
                    }
                    si[*axis] -= t.shape[*axis];
                }
                unreachable!("concat index in range")
            }),
            Op::Reduce { kind, axes, .. } => {
                let src = ops[0];
                let kept: Vec<usize> = (0..src.shape.len()).filter(|d| !axes.contains(d)).collect();
                let out_n: usize = kept.iter().map(|&d| src.shape[d]).product();
                let init = match kind {
                    ReduceKind::Sum => 0.0,
                    ReduceKind::Max => f64::NEG_INFINITY,
                };
                let mut acc = vec![init; out_n];
                let _ = Tensor::filled(&src.shape, |i| {
                    let mut o = 0;
                    for &d in &kept {
                        o = o * src.shape[d] + i[d];
                    }
                    let x = src.at(i);
                    acc[o] = match kind {
                        ReduceKind::Sum => acc[o] + x,
                        ReduceKind::Max => acc[o].max(x),
                    };
                    0.0
                });
                Tensor::new(shape, acc)
            }
            Op::MatMul {
                transpose_lhs,
                transpose_rhs,
            } => matmul(ops[0], ops[1], *transpose_lhs, *transpose_rhs, &shape),
            Op::Gather => {
                let (table, idx) = (ops[0], ops[1]);
                let row: usize = table.shape[1..].iter().product();
                let mut data = Vec::with_capacity(idx.data.len() * row);
                for &i in &idx.data {
                    let r = i as usize;
                    data.extend_from_slice(&table.data[r * row..(r + 1) * row]);
                }
                Tensor::new(shape, data)
            }
            other => panic!("the test evaluator does not implement `{}`", other.name()),
        };
        vals.insert(id, v);
    }
    f.outputs().iter().map(|o| vals[&o.node].clone()).collect()
}

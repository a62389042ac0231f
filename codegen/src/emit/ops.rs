//! Scalar arithmetic: one IR op on one element, in `arith` and `math`.
//!
//! Floats are computed in f32 (a cast to a 16-bit float rounds to it), integers
//! in i32, bools in i1. `max`/`min` propagate NaN like the interpreter; `recip` and `div`
//! are IEEE divisions; `sigmoid` is `1/(1 + exp(−x))`.

use crate::emit::flavor::Flavor;
use crate::emit::kernel::Kernel;
use crate::emit::libdevice::MathFn;
use crate::emit::text::{Sty, Val};
use llc_ir::{BinaryOp, CmpOp, DType, ReduceKind, UnaryOp};

impl Kernel<'_> {
    /// `arith.<op> a, b` on two values of the same type.
    pub(crate) fn fop(&mut self, op: &str, a: &Val, b: &Val) -> Val {
        self.w.op(
            a.ty,
            &format!("arith.{op} {}, {} : {}", a.name, b.name, a.ty.mlir()),
        )
    }

    /// A call of a math function on f32 values: the `math` op on the GPU (lowered to our
    /// libdevice stand-ins), a direct call of the stand-in on the CPU.
    pub(crate) fn math(&mut self, m: MathFn, args: &[Val]) -> Val {
        self.math.insert(m);
        let names: Vec<&str> = args.iter().map(|a| a.name.as_str()).collect();
        let names = names.join(", ");
        match self.flavor {
            Flavor::Gpu => self.w.op(Sty::F32, &format!("{} {names} : f32", m.op())),
            Flavor::Cpu => {
                let tys = vec!["f32"; m.arity()].join(", ");
                self.w.op(
                    Sty::F32,
                    &format!("llvm.call @{}({names}) : ({tys}) -> f32", m.symbol()),
                )
            }
        }
    }

    /// A constant of `dtype` in its compute type.
    pub(crate) fn constant(&mut self, dtype: DType, v: f64) -> Val {
        match Sty::compute(dtype).expect("planned kernels only have supported dtypes") {
            Sty::F32 => self.w.f32(v),
            Sty::I32 => self.w.int(Sty::I32, v as i64),
            Sty::I1 => self.w.int(Sty::I1, (v != 0.0) as i64),
            other => unreachable!("compute type {other:?}"),
        }
    }

    pub(crate) fn unary(&mut self, op: UnaryOp, x: Val) -> Val {
        if !x.ty.is_float() {
            let zero = self.w.int(x.ty, 0);
            let neg = self.fop("subi", &zero, &x);
            return match op {
                UnaryOp::Abs => {
                    let lt = self.w.op(
                        Sty::I1,
                        &format!("arith.cmpi slt, {}, {} : i32", x.name, zero.name),
                    );
                    self.w.op(
                        x.ty,
                        &format!("arith.select {}, {}, {} : i32", lt.name, neg.name, x.name),
                    )
                }
                _ => neg,
            };
        }
        match op {
            UnaryOp::Neg => self.w.op(Sty::F32, &format!("arith.negf {} : f32", x.name)),
            UnaryOp::Abs => self.math(MathFn::Abs, &[x]),
            UnaryOp::Exp => self.math(MathFn::Exp, &[x]),
            UnaryOp::Log => self.math(MathFn::Log, &[x]),
            UnaryOp::Sqrt => self.math(MathFn::Sqrt, &[x]),
            UnaryOp::Rsqrt => self.math(MathFn::Rsqrt, &[x]),
            UnaryOp::Recip => {
                let one = self.w.f32(1.0);
                self.fop("divf", &one, &x)
            }
            UnaryOp::Sin => self.math(MathFn::Sin, &[x]),
            UnaryOp::Cos => self.math(MathFn::Cos, &[x]),
            UnaryOp::Tanh => self.math(MathFn::Tanh, &[x]),
            UnaryOp::Sigmoid => {
                let one = self.w.f32(1.0);
                let n = self.w.op(Sty::F32, &format!("arith.negf {} : f32", x.name));
                let e = self.math(MathFn::Exp, &[n]);
                let d = self.fop("addf", &one, &e);
                self.fop("divf", &one, &d)
            }
        }
    }

    pub(crate) fn binary(&mut self, op: BinaryOp, a: Val, b: Val) -> Val {
        let float = a.ty.is_float();
        let name = match (op, float) {
            (BinaryOp::Add, true) => "addf",
            (BinaryOp::Sub, true) => "subf",
            (BinaryOp::Mul, true) => "mulf",
            (BinaryOp::Div, true) => "divf",
            (BinaryOp::Max, true) => "maximumf",
            (BinaryOp::Min, true) => "minimumf",
            (BinaryOp::Pow, _) => return self.math(MathFn::Pow, &[a, b]),
            (BinaryOp::Add, false) => "addi",
            (BinaryOp::Sub, false) => "subi",
            (BinaryOp::Mul, false) => "muli",
            (BinaryOp::Div, false) => "divsi",
            (BinaryOp::Max, false) => "maxsi",
            (BinaryOp::Min, false) => "minsi",
        };
        self.fop(name, &a, &b)
    }

    /// A comparison of two values of `dtype`; unordered `ne` so NaN != NaN.
    pub(crate) fn compare(&mut self, op: CmpOp, a: Val, b: Val, dtype: DType) -> Val {
        let (kind, pred) = if a.ty.is_float() {
            (
                "cmpf",
                match op {
                    CmpOp::Lt => "olt",
                    CmpOp::Le => "ole",
                    CmpOp::Gt => "ogt",
                    CmpOp::Ge => "oge",
                    CmpOp::Eq => "oeq",
                    CmpOp::Ne => "une",
                },
            )
        } else {
            // bools order false < true: unsigned on i1
            let signed = dtype != DType::Bool;
            (
                "cmpi",
                match (op, signed) {
                    (CmpOp::Lt, true) => "slt",
                    (CmpOp::Le, true) => "sle",
                    (CmpOp::Gt, true) => "sgt",
                    (CmpOp::Ge, true) => "sge",
                    (CmpOp::Lt, false) => "ult",
                    (CmpOp::Le, false) => "ule",
                    (CmpOp::Gt, false) => "ugt",
                    (CmpOp::Ge, false) => "uge",
                    (CmpOp::Eq, _) => "eq",
                    (CmpOp::Ne, _) => "ne",
                },
            )
        };
        self.w.op(
            Sty::I1,
            &format!(
                "arith.{kind} {pred}, {}, {} : {}",
                a.name,
                b.name,
                a.ty.mlir()
            ),
        )
    }

    /// Convert a value of `from` (in its compute type) to `to`'s compute type.
    pub(crate) fn convert(&mut self, x: Val, from: DType, to: DType) -> Val {
        let target = Sty::compute(to).expect("planned kernels only have supported dtypes");
        if x.ty == target {
            return x;
        }
        let (s, t) = (x.ty.mlir(), target.mlir());
        let rhs = match (x.ty, target) {
            (Sty::F32, Sty::I32) => format!("arith.fptosi {} : {s} to {t}", x.name),
            (Sty::I32, Sty::F32) => format!("arith.sitofp {} : {s} to {t}", x.name),
            (Sty::I1, Sty::F32) => format!("arith.uitofp {} : {s} to {t}", x.name),
            (Sty::I1, Sty::I32) => format!("arith.extui {} : {s} to {t}", x.name),
            (Sty::F32, Sty::I1) => {
                let z = self.w.f32(0.0);
                format!("arith.cmpf une, {}, {} : f32", x.name, z.name)
            }
            (Sty::I32, Sty::I1) => {
                let z = self.w.int(Sty::I32, 0);
                format!("arith.cmpi ne, {}, {} : i32", x.name, z.name)
            }
            (a, b) => unreachable!("conversion {a:?} -> {b:?} from {from} to {to}"),
        };
        self.w.op(target, &rhs)
    }

    /// Round an f32 value to the precision of a 16-bit float `dtype` (no-op otherwise).
    pub(crate) fn round(&mut self, dtype: DType, v: Val) -> Val {
        let half = match dtype {
            DType::BF16 => Sty::BF16,
            DType::F16 => Sty::F16,
            _ => return v,
        };
        let h = self.narrow(v, half);
        self.widen(h)
    }

    /// A loaded element in its compute type.
    pub(crate) fn widen(&mut self, v: Val) -> Val {
        match v.ty {
            Sty::BF16 | Sty::F16 => self.w.op(
                Sty::F32,
                &format!("arith.extf {} : {} to f32", v.name, v.ty.mlir()),
            ),
            Sty::I8 => {
                let z = self.w.int(Sty::I8, 0);
                self.w.op(
                    Sty::I1,
                    &format!("arith.cmpi ne, {}, {} : i8", v.name, z.name),
                )
            }
            _ => v,
        }
    }

    /// A computed element in the type it is stored as.
    pub(crate) fn narrow(&mut self, v: Val, storage: Sty) -> Val {
        match (v.ty, storage) {
            (a, b) if a == b => v,
            (Sty::F32, Sty::BF16 | Sty::F16) => self.w.op(
                storage,
                &format!("arith.truncf {} : f32 to {}", v.name, storage.mlir()),
            ),
            (Sty::I1, Sty::I8) => self
                .w
                .op(Sty::I8, &format!("arith.extui {} : i1 to i8", v.name)),
            (a, b) => unreachable!("storing {a:?} as {b:?}"),
        }
    }

    /// The identity of a reduction in type `ty`.
    pub(crate) fn identity(&mut self, kind: ReduceKind, ty: Sty) -> Val {
        match (kind, ty.is_float()) {
            (ReduceKind::Sum, true) => self.w.f32(0.0),
            (ReduceKind::Max, true) => self.w.f32(f64::NEG_INFINITY),
            (ReduceKind::Sum, false) => self.w.int(ty, 0),
            (ReduceKind::Max, false) => self.w.int(ty, i32::MIN as i64),
        }
    }

    /// Fold `v` into the accumulator `acc`.
    pub(crate) fn combine(&mut self, kind: ReduceKind, acc: &Val, v: &Val) -> Val {
        let op = match (kind, acc.ty.is_float()) {
            (ReduceKind::Sum, true) => "addf",
            (ReduceKind::Max, true) => "maximumf",
            (ReduceKind::Sum, false) => "addi",
            (ReduceKind::Max, false) => "maxsi",
        };
        self.fop(op, acc, v)
    }
}

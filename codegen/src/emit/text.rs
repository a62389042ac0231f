//! The MLIR text writer: fresh SSA names, indentation, typed values and constants.
//!
//! Kernels are written as MLIR text in the dialects' custom syntax and parsed by melior
//! in the shared context (see `crate::mlir`), which checks every op against its
//! definition. Constants go to a prelude at the function entry, so a constant is defined
//! once per kernel and dominates every use, whatever loop asked for it first.

use llc_ir::DType;
use std::collections::HashMap;
use std::fmt::Write as _;

/// A scalar MLIR type used in kernel bodies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Sty {
    F32,
    BF16,
    F16,
    I32,
    I8,
    I1,
    Index,
}

impl Sty {
    /// The MLIR spelling.
    pub(crate) fn mlir(self) -> &'static str {
        match self {
            Sty::F32 => "f32",
            Sty::BF16 => "bf16",
            Sty::F16 => "f16",
            Sty::I32 => "i32",
            Sty::I8 => "i8",
            Sty::I1 => "i1",
            Sty::Index => "index",
        }
    }

    /// Floating-point types use the `*f` arith ops.
    pub(crate) fn is_float(self) -> bool {
        matches!(self, Sty::F32 | Sty::BF16 | Sty::F16)
    }

    /// Bytes per element in memory.
    pub(crate) fn bytes(self) -> usize {
        match self {
            Sty::F32 | Sty::I32 => 4,
            Sty::BF16 | Sty::F16 => 2,
            Sty::I8 | Sty::I1 => 1,
            Sty::Index => 8,
        }
    }

    /// How a tensor of `dtype` is stored in device memory (`bool` as one byte).
    /// `None` for dtypes codegen does not handle (f64).
    pub(crate) fn storage(dtype: DType) -> Option<Sty> {
        Some(match dtype {
            DType::F32 => Sty::F32,
            DType::BF16 => Sty::BF16,
            DType::F16 => Sty::F16,
            DType::I32 => Sty::I32,
            DType::Bool => Sty::I8,
            DType::F64 => return None,
        })
    }

    /// The type a value of `dtype` is computed in: every float in f32, as the
    /// interpreter's f32 runs do (only a cast to bf16/f16 rounds).
    pub(crate) fn compute(dtype: DType) -> Option<Sty> {
        Some(match dtype {
            DType::F32 | DType::BF16 | DType::F16 => Sty::F32,
            DType::I32 => Sty::I32,
            DType::Bool => Sty::I1,
            DType::F64 => return None,
        })
    }
}

/// An SSA value and its type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Val {
    pub name: String,
    pub ty: Sty,
}

/// Builds the text of one function body.
#[derive(Default)]
pub(crate) struct Writer {
    prelude: String,
    body: String,
    indent: usize,
    next: usize,
    consts: HashMap<(Sty, u64), Val>,
}

impl Writer {
    /// A fresh SSA name.
    pub(crate) fn fresh(&mut self) -> String {
        self.next += 1;
        format!("%v{}", self.next)
    }

    /// Write one line at the current indentation.
    pub(crate) fn line(&mut self, s: &str) {
        for _ in 0..self.indent {
            self.body.push_str("  ");
        }
        self.body.push_str(s);
        self.body.push('\n');
    }

    /// `%new = rhs`, returning the new value of type `ty`.
    pub(crate) fn op(&mut self, ty: Sty, rhs: &str) -> Val {
        let name = self.fresh();
        self.line(&format!("{name} = {rhs}"));
        Val { name, ty }
    }

    /// Open a region: the line ends with `{`, following lines are indented.
    pub(crate) fn open(&mut self, s: &str) {
        self.line(s);
        self.indent += 1;
    }

    /// Close the innermost region with `}` (plus an optional suffix).
    pub(crate) fn close(&mut self, suffix: &str) {
        self.indent = self.indent.saturating_sub(1);
        self.line(&format!("}}{suffix}"));
    }

    /// Indent following lines one level (after a line that ends with `{`).
    pub(crate) fn indent_in(&mut self) {
        self.indent += 1;
    }

    /// A line in the prelude (function entry), for values every region may use.
    pub(crate) fn prelude_op(&mut self, ty: Sty, rhs: &str) -> Val {
        let name = self.fresh();
        let _ = writeln!(self.prelude, "{name} = {rhs}");
        Val { name, ty }
    }

    /// A constant of type `ty` holding `bits` (the value's bit pattern for floats, the
    /// two's complement value for integers), defined once in the prelude.
    fn konst(&mut self, ty: Sty, bits: u64, literal: String) -> Val {
        if let Some(v) = self.consts.get(&(ty, bits)) {
            return v.clone();
        }
        let v = self.prelude_op(ty, &format!("arith.constant {literal} : {}", ty.mlir()));
        self.consts.insert((ty, bits), v.clone());
        v
    }

    /// An `index` constant.
    pub(crate) fn index(&mut self, v: i64) -> Val {
        self.konst(Sty::Index, v as u64, v.to_string())
    }

    /// An integer constant of type `ty` (i32, i8 or i1).
    pub(crate) fn int(&mut self, ty: Sty, v: i64) -> Val {
        let lit = if ty == Sty::I1 {
            if v != 0 { "true" } else { "false" }.to_string()
        } else {
            v.to_string()
        };
        self.konst(ty, v as u64, lit)
    }

    /// An f32 constant, written as its exact bit pattern (every float is computed in
    /// f32, so this is the only float constant kernels need).
    pub(crate) fn f32(&mut self, v: f64) -> Val {
        let b = (v as f32).to_bits();
        self.konst(Sty::F32, b as u64, format!("0x{b:08X}"))
    }

    /// The function body: the prelude followed by the body lines, indented by `indent`.
    pub(crate) fn finish(&self, indent: usize) -> String {
        let (p, b) = self.finish_parts(indent, indent);
        p + &b
    }

    /// The prelude and the body separately, each indented as asked.
    pub(crate) fn finish_parts(&self, prelude: usize, body: usize) -> (String, String) {
        let pad = |text: &str, n: usize| {
            let pad = "  ".repeat(n);
            let mut s = String::new();
            for l in text.lines() {
                let _ = writeln!(s, "{pad}{l}");
            }
            s
        };
        (pad(&self.prelude, prelude), pad(&self.body, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_are_defined_once_in_the_prelude() {
        let mut w = Writer::default();
        let a = w.f32(1.0);
        let b = w.f32(1.0);
        let c = w.index(4);
        assert_eq!(a, b);
        assert_ne!(a.name, c.name);
        let text = w.finish(0);
        assert_eq!(text.matches("0x3F800000").count(), 1, "{text}");
    }
}

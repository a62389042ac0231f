//! Element evaluation: the value of a node at a symbolic index.
//!
//! [`Kernel::eval`] recurses through the operands with their mapped indices and memoizes
//! each `(node, index)` pair in the innermost open region, so a value used by several
//! outputs, or by several lanes at the same index, is computed once. Reductions are not
//! evaluated here but bound by the strategy once computed for the current row or output;
//! a read of one at any other index is the error that keeps row statistics in their row.

use crate::emit::kernel::Kernel;
use crate::emit::libdevice::MathFn;
use crate::emit::shape::{
    broadcast_ix, coord, join_at_axis, slice_ix, split_at_axis, transpose_ix,
};
use crate::emit::text::{Sty, Val};
use crate::error::Result;
use crate::index::{Ix, Var};
use llc_ir::{DType, NodeId, Op};
use std::collections::HashSet;

/// Elements per row of a `gather` table / `scatter_add` result (`[V, R...]`).
pub(crate) fn row_len(shape: &[usize]) -> i64 {
    shape[1..].iter().product::<usize>() as i64
}

impl Kernel<'_> {
    /// The operand of `concat` node `n` the element at `ix` reads, with its index, when
    /// the index math proves which one it is.
    fn concat_part(&self, n: NodeId, ix: &Ix) -> Option<(NodeId, Ix)> {
        let f = self.f;
        let Op::Concat { axis } = f.node(n).op else {
            return None;
        };
        let (outer, c, inner, len) = split_at_axis(ix, &f.ty(n).shape, axis);
        let (lo, hi) = c.range();
        let mut off = 0i64;
        for o in f.operands(n) {
            let shape = &f.ty(o).shape;
            let end = off + shape[axis] as i64;
            if lo >= off && hi < end {
                let oc = c.add_konst(-off);
                return Some((o, join_at_axis(&outer, &oc, &inner, len, shape, axis)));
            }
            off = end;
        }
        None
    }

    /// `concat` at `ix`: the operand whose range holds the element's coordinate along
    /// `axis`, chosen statically when the index math allows, else by a chain of
    /// `scf.if` so only the right operand is read.
    fn concat(&mut self, n: NodeId, ix: &Ix, axis: usize) -> Result<Val> {
        if let Some((o, oix)) = self.concat_part(n, ix) {
            return self.eval(o, &oix);
        }
        let f = self.f;
        let (outer, c, inner, len) = split_at_axis(ix, &f.ty(n).shape, axis);
        let ci = self.index(&c)?;
        let ty = Sty::compute(f.ty(n).dtype).expect("planned dtypes are supported");
        // (operand, its first coordinate) for every operand
        let mut parts = Vec::new();
        let mut off = 0i64;
        for o in f.operands(n) {
            parts.push((o, off));
            off += f.ty(o).shape[axis] as i64;
        }
        self.concat_chain(&parts, &ci, &c, &outer, &inner, len, axis, ty)
    }

    #[allow(clippy::too_many_arguments)]
    fn concat_chain(
        &mut self,
        parts: &[(NodeId, i64)],
        ci: &Val,
        c: &Ix,
        outer: &Ix,
        inner: &Ix,
        len: i64,
        axis: usize,
        ty: Sty,
    ) -> Result<Val> {
        let (o, off) = parts[0];
        let shape = self.f.ty(o).shape.clone();
        let oix = join_at_axis(outer, &c.add_konst(-off), inner, len, &shape, axis);
        if parts.len() == 1 {
            return self.eval(o, &oix);
        }
        let end = self.w.index(off + shape[axis] as i64);
        let cond = self.w.op(
            Sty::I1,
            &format!("arith.cmpi ult, {}, {} : index", ci.name, end.name),
        );
        self.if_else(
            &cond,
            ty,
            |k| k.eval(o, &oix),
            |k| k.concat_chain(&parts[1..], ci, c, outer, inner, len, axis, ty),
        )
    }

    /// The row `i` (an i32 loaded from memory) names in a table of `rows` rows, clamped
    /// into it, as a loop-invariant variable of the index math.
    pub(crate) fn dyn_row(&mut self, i: &Val, rows: usize) -> Result<Ix> {
        if let Some(&v) = self.dyns.get(&i.name) {
            return Ok(Ix::var(v, rows));
        }
        let zero = self.w.int(Sty::I32, 0);
        let last = self.w.int(Sty::I32, rows as i64 - 1);
        let lo = self.fop("maxsi", i, &zero);
        let r = self.fop("minsi", &lo, &last);
        let r = self.w.op(
            Sty::Index,
            &format!("arith.index_cast {} : i32 to index", r.name),
        );
        let var = Var::Dyn(self.dyns.len() as u32);
        self.bind_var(var, r);
        self.dyns.insert(i.name.clone(), var);
        Ok(Ix::var(var, rows))
    }
    fn lookup(&self, n: NodeId, ix: &Ix) -> Option<Val> {
        self.scopes
            .iter()
            .rev()
            .find_map(|s| s.vals.get(&(n, ix.clone())))
            .cloned()
    }

    /// The operands a node reads at `ix`, with their indices (none for reductions,
    /// whose operands the strategy reads in its own loops).
    pub(crate) fn operand_ixs(&self, n: NodeId, ix: &Ix) -> Vec<(NodeId, Ix)> {
        let f = self.f;
        let ops = f.operands(n);
        match &f.node(n).op {
            Op::Broadcast => {
                vec![(
                    ops[0],
                    broadcast_ix(ix, &f.ty(ops[0]).shape, &f.ty(n).shape),
                )]
            }
            Op::Transpose { perm } => vec![(ops[0], transpose_ix(ix, &f.ty(ops[0]).shape, perm))],
            Op::Slice { axis, start, .. } => vec![(
                ops[0],
                slice_ix(ix, &f.ty(ops[0]).shape, &f.ty(n).shape, *axis, *start),
            )],
            // only the part a result element certainly reads: guarded reads stay guarded
            Op::Concat { .. } => self.concat_part(n, ix).into_iter().collect(),
            // the table row is only known once the index is loaded
            Op::Gather => vec![(ops[1], ix.div(row_len(&f.ty(ops[0]).shape)))],
            Op::ScatterAdd => Vec::new(),
            Op::Reduce { axes, .. } if !crate::plan::is_trivial(f, n, axes) => Vec::new(),
            Op::Rope { .. } => {
                let partner = ix.add_konst(1).add(&ix.rem(2).scale(-2));
                vec![(ops[0], ix.clone()), (ops[0], partner)]
            }
            _ => ops.into_iter().map(|o| (o, ix.clone())).collect(),
        }
    }

    /// Evaluate, before a loop over `var`, every value the loop needs that does not
    /// depend on `var`, so the loop body only computes what changes per iteration.
    pub(crate) fn hoist(&mut self, roots: &[(NodeId, Ix)], var: Var) -> Result<()> {
        let mut seen = HashSet::new();
        let mut stack = roots.to_vec();
        while let Some((n, ix)) = stack.pop() {
            if !seen.insert((n, ix.clone())) {
                continue;
            }
            if !ix.mentions(var) {
                if !matches!(self.f.node(n).op, Op::Full { .. }) {
                    self.eval(n, &ix)?;
                }
                continue;
            }
            if matches!(self.f.node(n).op, Op::Arg { .. }) {
                // the part of a load's index that stays fixed in the loop
                let fixed = ix.invariant(var);
                if fixed.terms().len() > 1 || fixed.terms().iter().any(|(_, c)| *c != 1) {
                    self.index(&fixed)?;
                }
            }
            stack.extend(self.operand_ixs(n, &ix));
        }
        Ok(())
    }

    /// The value of node `n` at element `ix` of its own shape, in its compute type.
    pub(crate) fn eval(&mut self, n: NodeId, ix: &Ix) -> Result<Val> {
        if let Some(v) = self.lookup(n, ix) {
            return Ok(v);
        }
        let f = self.f;
        let node = f.node(n);
        let ops = f.operands(n);
        let dtype = node.ty.dtype;
        let v = match &node.op {
            Op::Arg { .. } => self.load(n, ix)?,
            Op::Full { value } => self.constant(dtype, value.0),
            Op::Iota { axis } => {
                let c = coord(ix, &node.ty.shape, *axis);
                let c = self.index(&c)?;
                let i = self.w.op(
                    Sty::I32,
                    &format!("arith.index_cast {} : index to i32", c.name),
                );
                self.convert(i, DType::I32, dtype)
            }
            Op::Unary { op } => {
                let x = self.eval(ops[0], ix)?;
                self.unary(*op, x)
            }
            Op::Binary { op } => {
                let a = self.eval(ops[0], ix)?;
                let b = self.eval(ops[1], ix)?;
                self.binary(*op, a, b)
            }
            Op::Compare { op } => {
                let a = self.eval(ops[0], ix)?;
                let b = self.eval(ops[1], ix)?;
                self.compare(*op, a, b, f.ty(ops[0]).dtype)
            }
            Op::Select => {
                let c = self.eval(ops[0], ix)?;
                let a = self.eval(ops[1], ix)?;
                let b = self.eval(ops[2], ix)?;
                self.w.op(
                    a.ty,
                    &format!(
                        "arith.select {}, {}, {} : {}",
                        c.name,
                        a.name,
                        b.name,
                        a.ty.mlir()
                    ),
                )
            }
            Op::Cast => {
                let x = self.eval(ops[0], ix)?;
                self.convert(x, f.ty(ops[0]).dtype, dtype)
            }
            Op::Broadcast | Op::Reshape | Op::Transpose { .. } | Op::Slice { .. } => {
                let (o, oix) = self.operand_ixs(n, ix).remove(0);
                self.eval(o, &oix)?
            }
            Op::Concat { axis } => self.concat(n, ix, *axis)?,
            Op::Gather => {
                let (table, idx) = (ops[0], ops[1]);
                let shape = &f.ty(table).shape;
                let row = row_len(shape);
                let i = self.eval(idx, &ix.div(row))?;
                let r = self.dyn_row(&i, shape[0])?;
                self.eval(table, &r.scale(row).add(&ix.rem(row)))?
            }
            Op::Reduce { axes, .. } if crate::plan::is_trivial(f, n, axes) => {
                self.eval(ops[0], ix)?
            }
            Op::Reduce { .. } => match self.bound.get(&n) {
                Some((bix, v)) if bix == ix => v.clone(),
                // A one-element result (a single row) is the same value at every index,
                // however a broadcast spelled it.
                Some((_, v)) if f.ty(n).numel() == 1 => v.clone(),
                Some((bix, _)) => {
                    return Err(self.unsupported(format!(
                        "the reduction %{} is computed for element {bix} of the current row/output but read at element {ix}: a reduction's result may only be used in its own row",
                        node.name
                    )));
                }
                None => {
                    return Err(self.unsupported(format!(
                        "internal: the reduction %{} is not computed by this launch",
                        node.name
                    )));
                }
            },
            Op::Rope { theta, inverse } => self.rope(n, ix, theta.0, *inverse)?,
            other => {
                return Err(self.unsupported(format!(
                    "%{} = {}: no kernel lowering",
                    node.name,
                    other.name()
                )));
            }
        };
        // like the interpreter, 16-bit float values are computed in f32 and only a
        // cast to bf16/f16 rounds (stores round too, being 16 bits wide)
        let v = if matches!(node.op, Op::Cast) {
            self.round(dtype, v)
        } else {
            v
        };
        self.scopes
            .last_mut()
            .expect("a scope is open")
            .vals
            .insert((n, ix.clone()), v.clone());
        Ok(v)
    }

    /// Rotary embedding of `x[B, T, H, hd]` at `ix`: `x·cos + partner·sin` with the
    /// partner element of the pair and the sign of its position in the pair.
    fn rope(&mut self, n: NodeId, ix: &Ix, theta: f64, inverse: bool) -> Result<Val> {
        let f = self.f;
        let x = f.operands(n)[0];
        let shape = f.ty(x).shape.clone();
        let (t_len, heads, hd) = (shape[1] as i64, shape[2] as i64, shape[3] as i64);
        let t = ix.div(heads * hd).rem(t_len);
        let pair = ix.rem(hd).div(2);
        let parity = ix.rem(2);
        let uses = self.operand_ixs(n, ix);
        let a = self.eval(x, &uses[0].1)?;
        let b = self.eval(x, &uses[1].1)?;
        let (c, s) = self.rope_angle(&t, &pair, theta, hd, inverse)?;
        let ac = self.fop("mulf", &a, &c);
        let bs = self.fop("mulf", &b, &s);
        Ok(match parity.as_konst() {
            Some(0) => self.fop("subf", &ac, &bs),
            Some(_) => self.fop("addf", &ac, &bs),
            None => {
                let even = self.fop("subf", &ac, &bs);
                let odd = self.fop("addf", &ac, &bs);
                let p = self.index(&parity)?;
                let zero = self.w.index(0);
                let is_even = self.w.op(
                    Sty::I1,
                    &format!("arith.cmpi eq, {}, {} : index", p.name, zero.name),
                );
                self.w.op(
                    Sty::F32,
                    &format!(
                        "arith.select {}, {}, {} : f32",
                        is_even.name, even.name, odd.name
                    ),
                )
            }
        })
    }

    /// `(cos θ, ±sin θ)` for `θ = t · theta^(-2·pair/hd)`, memoized per region.
    fn rope_angle(
        &mut self,
        t: &Ix,
        pair: &Ix,
        theta: f64,
        hd: i64,
        inverse: bool,
    ) -> Result<(Val, Val)> {
        let key = (t.clone(), pair.clone());
        if let Some(v) = self.scopes.iter().rev().find_map(|s| s.angles.get(&key)) {
            return Ok(v.clone());
        }
        let ti = self.index(t)?;
        let pi = self.index(pair)?;
        let tf = self.index_to_f32(&ti);
        let pf = self.index_to_f32(&pi);
        let k = self.w.f32(-2.0 * theta.log2() / hd as f64);
        let e = self.fop("mulf", &pf, &k);
        let freq = self.math(MathFn::Exp2, &[e]);
        let angle = self.fop("mulf", &tf, &freq);
        let c = self.math(MathFn::Cos, std::slice::from_ref(&angle));
        let s = self.math(MathFn::Sin, &[angle]);
        let s = if inverse {
            self.w.op(Sty::F32, &format!("arith.negf {} : f32", s.name))
        } else {
            s
        };
        self.scopes
            .last_mut()
            .expect("a scope is open")
            .angles
            .insert(key, (c.clone(), s.clone()));
        Ok((c, s))
    }

    fn index_to_f32(&mut self, i: &Val) -> Val {
        let i32v = self.w.op(
            Sty::I32,
            &format!("arith.index_cast {} : index to i32", i.name),
        );
        self.w.op(
            Sty::F32,
            &format!("arith.sitofp {} : i32 to f32", i32v.name),
        )
    }
}

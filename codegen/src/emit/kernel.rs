//! The state of one kernel being written, and element evaluation.
//!
//! [`Kernel::eval`] produces the value of a node at a symbolic index: it recurses through
//! the operands with their mapped indices and memoizes each `(node, index)` pair in the
//! innermost open region, so a value used by several outputs, or by several lanes at the
//! same index, is computed once. Loads at consecutive lane indices starting at a
//! 16-byte-aligned element become one vector load; reductions are not evaluated here but
//! bound by the strategy once it has computed them for the current row or output.

use crate::api::Launch;
use crate::emit::flavor::Flavor;
use crate::emit::libdevice::MathFn;
use crate::emit::text::{Sty, Val, Writer};
use crate::error::{CodegenError, Result};
use crate::index::{Atom, Ix, Var};
use llc_ir::{DType, Function, NodeId, Op};
use std::collections::{BTreeSet, HashMap, HashSet};

/// A kernel parameter: a buffer of `numel` elements stored as `storage`.
#[derive(Clone, Debug)]
pub(crate) struct Buf {
    pub name: String,
    pub numel: usize,
    pub storage: Sty,
}

impl Buf {
    /// `memref<Nxty>`.
    pub(crate) fn mlir_type(&self) -> String {
        format!("memref<{}x{}>", self.numel, self.storage.mlir())
    }
}

/// Values known in one region (a loop body, a conditional, the function body).
#[derive(Default)]
struct Scope {
    vals: HashMap<(NodeId, Ix), Val>,
    idx: HashMap<Ix, Val>,
    vecs: HashMap<(NodeId, Ix), String>,
    angles: HashMap<(Ix, Ix), (Val, Val)>,
}

/// One kernel (one `gpu.func` or CPU `func.func`) being written.
pub(crate) struct Kernel<'a> {
    pub f: &'a Function,
    pub flavor: Flavor,
    pub w: Writer,
    /// Entry name.
    pub entry: String,
    /// Name of the kernel spec, for errors.
    pub kernel: String,
    /// Consecutive elements a thread handles per step (1 or 4).
    pub width: usize,
    pub params: Vec<Buf>,
    args: HashMap<NodeId, usize>,
    scopes: Vec<Scope>,
    vars: HashMap<Var, Val>,
    bound: HashMap<NodeId, (Ix, Val)>,
    pub math: BTreeSet<MathFn>,
    pub(crate) hw: HashMap<String, Val>,
    pub(crate) shared: Vec<String>,
    pub launch: Launch,
}

/// Row-major strides of `shape`.
pub(crate) fn strides(shape: &[usize]) -> Vec<i64> {
    let mut s = vec![1i64; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1] as i64;
    }
    s
}

/// Index into the operand of a numpy-style broadcast from `src` to `dst`, given the
/// index into the result. Runs of consecutive kept dims are handled as one dim.
pub(crate) fn broadcast_ix(ix: &Ix, src: &[usize], dst: &[usize]) -> Ix {
    let off = dst.len() - src.len();
    let (ds, ss) = (strides(dst), strides(src));
    let kept = |k: usize| k >= off && src[k - off] != 1;
    let mut out = Ix::konst(0);
    let mut k = 0;
    while k < dst.len() {
        if !kept(k) {
            k += 1;
            continue;
        }
        let start = k;
        while k + 1 < dst.len() && kept(k + 1) {
            k += 1;
        }
        let size: usize = dst[start..=k].iter().product();
        let coord = ix.div(ds[k]).rem(size as i64);
        out = out.add(&coord.scale(ss[k - off]));
        k += 1;
    }
    out
}

/// The coordinate along `axis` of the element at `ix` in `shape`.
pub(crate) fn coord(ix: &Ix, shape: &[usize], axis: usize) -> Ix {
    ix.div(strides(shape)[axis]).rem(shape[axis] as i64)
}

impl<'a> Kernel<'a> {
    /// Start a kernel computing `f`: parameters are its arguments, then its outputs.
    pub(crate) fn new(
        f: &'a Function,
        flavor: Flavor,
        entry: String,
        kernel: String,
        width: usize,
    ) -> Result<Kernel<'a>> {
        let mut params = Vec::new();
        let mut args = HashMap::new();
        let buf = |i: usize, ty: &llc_ir::TensorType| -> Result<Buf> {
            Ok(Buf {
                name: format!("%p{i}"),
                numel: ty.numel(),
                storage: Sty::storage(ty.dtype).ok_or_else(|| CodegenError::Unsupported {
                    kernel: kernel.clone(),
                    msg: format!("dtype {} has no device storage", ty.dtype),
                })?,
            })
        };
        for &a in f.args() {
            args.insert(a, params.len());
            params.push(buf(params.len(), f.ty(a))?);
        }
        for o in f.outputs() {
            params.push(buf(params.len(), f.ty(o.node))?);
        }
        Ok(Kernel {
            f,
            flavor,
            w: Writer::default(),
            entry,
            kernel,
            width,
            params,
            args,
            scopes: vec![Scope::default()],
            vars: HashMap::new(),
            bound: HashMap::new(),
            math: BTreeSet::new(),
            hw: HashMap::new(),
            shared: Vec::new(),
            launch: Launch {
                grid: [1, 1, 1],
                block: [1, 1, 1],
                shared_mem_bytes: 0,
            },
        })
    }

    pub(crate) fn unsupported(&self, msg: String) -> CodegenError {
        CodegenError::Unsupported {
            kernel: self.kernel.clone(),
            msg,
        }
    }

    /// Open a region scope (values defined inside are forgotten when it closes).
    pub(crate) fn push_scope(&mut self) {
        self.scopes.push(Scope::default());
    }

    pub(crate) fn pop_scope(&mut self) {
        self.scopes.pop();
    }

    /// Bind a loop variable to its SSA value.
    pub(crate) fn bind_var(&mut self, v: Var, val: Val) {
        self.vars.insert(v, val);
    }

    /// Make a reduction's value available at index `ix` (its row or output element).
    pub(crate) fn bind_reduction(&mut self, n: NodeId, ix: Ix, val: Val) {
        self.bound.insert(n, (ix, val));
    }

    /// The parameter index of output `j`.
    pub(crate) fn output_param(&self, j: usize) -> usize {
        self.f.args().len() + j
    }

    // ---- indices ----

    /// The SSA value of an index expression (memoized per region).
    pub(crate) fn index(&mut self, ix: &Ix) -> Result<Val> {
        if let Some(k) = ix.as_konst() {
            return Ok(self.w.index(k));
        }
        if let Some(v) = self.scopes.iter().rev().find_map(|s| s.idx.get(ix)) {
            return Ok(v.clone());
        }
        // the constant is added last so lanes share the base
        let v = if ix.konst_part() != 0 {
            let base = self.index(&ix.add_konst(-ix.konst_part()))?;
            let c = self.w.index(ix.konst_part().abs());
            let op = if ix.konst_part() > 0 { "addi" } else { "subi" };
            self.w.op(
                Sty::Index,
                &format!("arith.{op} {}, {} : index", base.name, c.name),
            )
        } else if ix.terms().len() > 1 {
            // prefix + last term, so indices sharing a prefix share its computation
            let n = ix.terms().len();
            let base = self.index(&ix.prefix(n - 1))?;
            let (atom, c) = &ix.terms()[n - 1];
            let last = self.index(&Ix::from_term(atom.clone(), c.abs()))?;
            let op = if *c < 0 { "subi" } else { "addi" };
            self.w.op(
                Sty::Index,
                &format!("arith.{op} {}, {} : index", base.name, last.name),
            )
        } else {
            let (atom, c) = &ix.terms()[0];
            let t = self.term(atom, c.abs())?;
            if *c < 0 {
                let z = self.w.index(0);
                self.w.op(
                    Sty::Index,
                    &format!("arith.subi {}, {} : index", z.name, t.name),
                )
            } else {
                t
            }
        };
        self.scopes
            .last_mut()
            .expect("a scope is open")
            .idx
            .insert(ix.clone(), v.clone());
        Ok(v)
    }

    /// `c · atom` for `c > 0`.
    fn term(&mut self, atom: &Atom, c: i64) -> Result<Val> {
        let a = match atom {
            Atom::Var(v, _) => self.vars.get(v).cloned().ok_or_else(|| {
                self.unsupported(format!("internal: loop variable {v:?} is not bound"))
            })?,
            Atom::Div(x, k) | Atom::Rem(x, k) => {
                let x = self.index(x)?;
                let k = self.w.index(*k);
                let op = if matches!(atom, Atom::Div(..)) {
                    "divui"
                } else {
                    "remui"
                };
                self.w.op(
                    Sty::Index,
                    &format!("arith.{op} {}, {} : index", x.name, k.name),
                )
            }
        };
        Ok(if c != 1 {
            let k = self.w.index(c);
            self.w.op(
                Sty::Index,
                &format!("arith.muli {}, {} : index", a.name, k.name),
            )
        } else {
            a
        })
    }

    // ---- evaluation ----

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
            Op::Broadcast | Op::Reshape => {
                let (o, oix) = self.operand_ixs(n, ix).remove(0);
                self.eval(o, &oix)?
            }
            Op::Reduce { axes, .. } if crate::plan::is_trivial(f, n, axes) => {
                self.eval(ops[0], ix)?
            }
            Op::Reduce { .. } => match self.bound.get(&n) {
                Some((bix, v)) if bix == ix => v.clone(),
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

    /// Load argument `n` at `ix`: from a vector load when `ix` is one of `width`
    /// consecutive elements starting at a provably aligned index.
    fn load(&mut self, n: NodeId, ix: &Ix) -> Result<Val> {
        let p = self.args[&n];
        let buf = self.params[p].clone();
        let w = self.width as i64;
        let lane = ix.konst_part().rem_euclid(w);
        let base = ix.add_konst(-lane);
        let raw = if w > 1
            && buf.numel as i64 % w == 0
            && base.multiple() % w == 0
            && base.range().0 >= 0
        {
            let vt = format!("vector<{w}x{}>", buf.storage.mlir());
            let key = (n, base.clone());
            let vec = match self.scopes.iter().rev().find_map(|s| s.vecs.get(&key)) {
                Some(v) => v.clone(),
                None => {
                    let i = self.index(&base)?;
                    let name = self.w.fresh();
                    let align = w as usize * buf.storage.bytes();
                    self.w.line(&format!(
                        "{name} = vector.load {}[{}] {{alignment = {align}}} : {}, {vt}",
                        buf.name,
                        i.name,
                        buf.mlir_type()
                    ));
                    self.scopes
                        .last_mut()
                        .expect("a scope is open")
                        .vecs
                        .insert(key, name.clone());
                    name
                }
            };
            self.w.op(
                buf.storage,
                &format!(
                    "vector.extract {vec}[{lane}] : {} from {vt}",
                    buf.storage.mlir()
                ),
            )
        } else {
            let i = self.index(ix)?;
            self.w.op(
                buf.storage,
                &format!("memref.load {}[{}] : {}", buf.name, i.name, buf.mlir_type()),
            )
        };
        Ok(self.widen(raw))
    }

    /// Store `vals` (consecutive lanes) into parameter `p` starting at element `ix`.
    pub(crate) fn store(&mut self, p: usize, ix: &Ix, vals: &[Val]) -> Result<()> {
        let buf = self.params[p].clone();
        let raw: Vec<Val> = vals
            .iter()
            .map(|v| self.narrow(v.clone(), buf.storage))
            .collect();
        let i = self.index(ix)?;
        if raw.len() == 1 {
            self.w.line(&format!(
                "memref.store {}, {}[{}] : {}",
                raw[0].name,
                buf.name,
                i.name,
                buf.mlir_type()
            ));
            return Ok(());
        }
        let vt = format!("vector<{}x{}>", raw.len(), buf.storage.mlir());
        let names: Vec<&str> = raw.iter().map(|v| v.name.as_str()).collect();
        let vec = self.w.fresh();
        self.w.line(&format!(
            "{vec} = vector.from_elements {} : {vt}",
            names.join(", ")
        ));
        let align = raw.len() * buf.storage.bytes();
        self.w.line(&format!(
            "vector.store {vec}, {}[{}] {{alignment = {align}}} : {}, {vt}",
            buf.name,
            i.name,
            buf.mlir_type()
        ));
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute-force broadcast: the source index of destination element `i`.
    fn reference(i: usize, src: &[usize], dst: &[usize]) -> usize {
        let off = dst.len() - src.len();
        let (ds, ss) = (strides(dst), strides(src));
        (0..src.len())
            .map(|j| {
                let c = (i as i64 / ds[off + j]) as usize % dst[off + j];
                if src[j] == 1 { 0 } else { c * ss[j] as usize }
            })
            .sum()
    }

    #[test]
    fn broadcast_indices_match_brute_force_for_every_lane() {
        // a small xorshift: deterministic shapes without a rand dependency
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n) as usize
        };
        for _ in 0..300 {
            let rank = 1 + next(4);
            let dst: Vec<usize> = (0..rank).map(|_| 1 + next(6)).collect();
            let srank = next(rank as u64 + 1);
            let src: Vec<usize> = dst[rank - srank..]
                .iter()
                .map(|&d| if next(2) == 0 { 1 } else { d })
                .collect();
            let n: usize = dst.iter().product();
            let width = if n.is_multiple_of(4) { 4 } else { 1 };
            let group = Ix::var(Var::Group, n / width).scale(width as i64);
            for l in 0..width {
                let ix = broadcast_ix(&group.add_konst(l as i64), &src, &dst);
                for g in 0..n / width {
                    let i = g * width + l;
                    assert_eq!(
                        ix.eval(&|_| g as i64) as usize,
                        reference(i, &src, &dst),
                        "{src:?} -> {dst:?}, element {i}: {ix}"
                    );
                }
            }
        }
    }
}

//! The state of one kernel being written: parameters, memo scopes, loop variables,
//! index emission, loads and stores. Loads at consecutive lane indices starting at a
//! provably 16-byte-aligned element become one vector load.

use crate::api::LaunchDims;
use crate::emit::flavor::Flavor;
use crate::emit::libdevice::MathFn;
use crate::emit::text::{Sty, Val, Writer};
use crate::error::{CodegenError, Result};
use crate::index::{Atom, Ix, Var};
use llc_ir::{Function, NodeId};
use std::collections::{BTreeSet, HashMap};

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
pub(crate) struct Scope {
    pub vals: HashMap<(NodeId, Ix), Val>,
    pub idx: HashMap<Ix, Val>,
    pub vecs: HashMap<(NodeId, Ix), String>,
    pub angles: HashMap<(Ix, Ix), (Val, Val)>,
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
    /// Consecutive elements a thread handles per step (1, 4, 8 or 16; see `Flavor::lanes`).
    pub width: usize,
    pub params: Vec<Buf>,
    args: HashMap<NodeId, usize>,
    pub(crate) scopes: Vec<Scope>,
    vars: HashMap<Var, Val>,
    pub(crate) bound: HashMap<NodeId, (Ix, Val)>,
    /// Row variables of loaded indices, by the SSA name of the loaded value.
    pub(crate) dyns: HashMap<String, Var>,
    pub math: BTreeSet<MathFn>,
    pub(crate) hw: HashMap<String, Val>,
    pub(crate) shared: Vec<String>,
    pub launch: LaunchDims,
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
            dyns: HashMap::new(),
            math: BTreeSet::new(),
            hw: HashMap::new(),
            shared: Vec::new(),
            launch: LaunchDims {
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
    /// Load argument `n` at `ix`: from a vector load when `ix` is one of `width`
    /// consecutive elements starting at a provably aligned index.
    pub(crate) fn load(&mut self, n: NodeId, ix: &Ix) -> Result<Val> {
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
                    let align = self
                        .flavor
                        .vector_alignment(w as usize * buf.storage.bytes(), buf.storage.bytes());
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
        let align = self
            .flavor
            .vector_alignment(raw.len() * buf.storage.bytes(), buf.storage.bytes());
        self.w.line(&format!(
            "vector.store {vec}, {}[{}] {{alignment = {align}}} : {}, {vt}",
            buf.name,
            i.name,
            buf.mlir_type()
        ));
        Ok(())
    }
}

//! Structured control flow: `scf.for` loops (plain and folding accumulators) and
//! `scf.if` regions, each with its own memo scope.

use crate::emit::kernel::Kernel;
use crate::emit::text::Val;
use crate::error::Result;
use crate::index::Var;

impl Kernel<'_> {
    /// `scf.for var = lb to extent step step { body }`, with `var` bound inside.
    pub(crate) fn for_each(
        &mut self,
        var: Var,
        extent: usize,
        lb: &Val,
        step: &Val,
        body: impl FnOnce(&mut Self) -> Result<()>,
    ) -> Result<()> {
        let ub = self.w.index(extent as i64);
        self.for_range(var, lb, &ub, step, body)
    }

    /// `scf.for var = lb to ub step step { body }` with a computed upper bound (a CPU
    /// block's chunk of a grid loop); `var`'s extent for the index math is its own.
    pub(crate) fn for_range(
        &mut self,
        var: Var,
        lb: &Val,
        ub: &Val,
        step: &Val,
        body: impl FnOnce(&mut Self) -> Result<()>,
    ) -> Result<()> {
        let iv = self.w.fresh();
        self.w.open(&format!(
            "scf.for {iv} = {} to {} step {} {{",
            lb.name, ub.name, step.name
        ));
        self.bind_var(
            var,
            Val {
                name: iv,
                ty: crate::emit::text::Sty::Index,
            },
        );
        self.push_scope();
        let r = body(self);
        self.pop_scope();
        self.w.close("");
        r
    }

    /// Like [`Kernel::for_each`], threading accumulators: `body` gets their current
    /// values and returns the next ones; returns the final values.
    pub(crate) fn for_fold(
        &mut self,
        var: Var,
        extent: usize,
        lb: &Val,
        step: &Val,
        inits: Vec<Val>,
        body: impl FnOnce(&mut Self, Vec<Val>) -> Result<Vec<Val>>,
    ) -> Result<Vec<Val>> {
        let ub = self.w.index(extent as i64);
        let iv = self.w.fresh();
        let res = self.w.fresh();
        let accs: Vec<Val> = inits
            .iter()
            .map(|v| Val {
                name: self.w.fresh(),
                ty: v.ty,
            })
            .collect();
        let iter_args: Vec<String> = accs
            .iter()
            .zip(&inits)
            .map(|(a, i)| format!("{} = {}", a.name, i.name))
            .collect();
        let tys: Vec<&str> = inits.iter().map(|v| v.ty.mlir()).collect();
        self.w.open(&format!(
            "{res}:{} = scf.for {iv} = {} to {} step {} iter_args({}) -> ({}) {{",
            inits.len(),
            lb.name,
            ub.name,
            step.name,
            iter_args.join(", "),
            tys.join(", ")
        ));
        self.bind_var(
            var,
            Val {
                name: iv,
                ty: crate::emit::text::Sty::Index,
            },
        );
        self.push_scope();
        let next = body(self, accs);
        self.pop_scope();
        let next = next?;
        let names: Vec<&str> = next.iter().map(|v| v.name.as_str()).collect();
        self.w.line(&format!(
            "scf.yield {} : {}",
            names.join(", "),
            tys.join(", ")
        ));
        self.w.close("");
        Ok(inits
            .iter()
            .enumerate()
            .map(|(i, v)| Val {
                name: format!("{res}#{i}"),
                ty: v.ty,
            })
            .collect())
    }

    /// `scf.if cond -> ty { then } else { otherwise }`, returning the branch's value.
    pub(crate) fn if_else(
        &mut self,
        cond: &Val,
        ty: crate::emit::text::Sty,
        then: impl FnOnce(&mut Self) -> Result<Val>,
        otherwise: impl FnOnce(&mut Self) -> Result<Val>,
    ) -> Result<Val> {
        let res = self.w.fresh();
        self.w.open(&format!(
            "{res} = scf.if {} -> ({}) {{",
            cond.name,
            ty.mlir()
        ));
        self.push_scope();
        let a = then(self);
        self.pop_scope();
        let a = a?;
        self.w
            .line(&format!("scf.yield {} : {}", a.name, ty.mlir()));
        self.w.close(" else {");
        self.w.indent_in();
        self.push_scope();
        let b = otherwise(self);
        self.pop_scope();
        let b = b?;
        self.w
            .line(&format!("scf.yield {} : {}", b.name, ty.mlir()));
        self.w.close("");
        Ok(Val { name: res, ty })
    }

    /// `scf.if cond { body }`.
    pub(crate) fn when(
        &mut self,
        cond: &Val,
        body: impl FnOnce(&mut Self) -> Result<()>,
    ) -> Result<()> {
        self.w.open(&format!("scf.if {} {{", cond.name));
        self.push_scope();
        let r = body(self);
        self.pop_scope();
        self.w.close("");
        r
    }
}

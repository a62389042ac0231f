//! Rewrite rules as named data, one file per topic (as cranelift groups its `opts/*.isle`):
//! [`fusion`], [`gqa`], [`horizontal`], [`layout`], [`algebra`]. A rule is a name, an egg
//! pattern for its left-hand side and a small Rust function that checks the guard (shapes,
//! constants, attributes) and builds the right-hand side; it returns `None` when the guard
//! fails, before adding anything to the e-graph.

pub mod algebra;
pub mod fusion;
pub mod gqa;
pub mod horizontal;
pub mod layout;

use super::analysis::EG;
use super::language::{Attr, Constant, TensorLang, TypeKey};
use super::ops::{add_attr, attr_of};
use egg::{Applier, Id, Pattern, PatternAst, Rewrite, SearchMatches, Searcher, Subst, Symbol, Var};
use llc_ir::{Real, TensorType};
use std::fmt;

/// The rewrite type of the optimizer.
pub type Rw = Rewrite<TensorLang, super::analysis::TypeAnalysis>;

/// Topics rules are grouped by; the driver runs the groups it is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleGroup {
    /// Primitive-op patterns into fused ops: rms_norm, swiglu, softmax, attention,
    /// cross_entropy, rope.
    Fusion,
    /// Grouped-query attention without materialized K/V head copies.
    Gqa,
    /// Matmuls sharing an operand (or summed) into one matmul over concatenated operands.
    Horizontal,
    /// Transposes, reshapes, slices and concats: folding and cancelling.
    Layout,
    /// Identities and constant folding.
    Algebra,
}

impl RuleGroup {
    /// Every group, in the order they are listed.
    pub const ALL: [RuleGroup; 5] = [
        RuleGroup::Fusion,
        RuleGroup::Gqa,
        RuleGroup::Horizontal,
        RuleGroup::Layout,
        RuleGroup::Algebra,
    ];

    /// The group's name (for flags and reports).
    pub fn name(self) -> &'static str {
        match self {
            RuleGroup::Fusion => "fusion",
            RuleGroup::Gqa => "gqa",
            RuleGroup::Horizontal => "horizontal",
            RuleGroup::Layout => "layout",
            RuleGroup::Algebra => "algebra",
        }
    }

    /// Inverse of [`RuleGroup::name`].
    pub fn from_name(s: &str) -> Option<RuleGroup> {
        RuleGroup::ALL.into_iter().find(|g| g.name() == s)
    }

    /// The group's rules.
    pub fn rules(self) -> Vec<Rule> {
        match self {
            RuleGroup::Fusion => fusion::rules(),
            RuleGroup::Gqa => gqa::rules(),
            RuleGroup::Horizontal => horizontal::rules(),
            RuleGroup::Layout => layout::rules(),
            RuleGroup::Algebra => algebra::rules(),
        }
    }
}

impl fmt::Display for RuleGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A named rewrite of a group.
pub struct Rule {
    /// Unique name, as reported when the rule fires.
    pub name: String,
    /// The topic it belongs to.
    pub group: RuleGroup,
    /// The egg rewrite.
    pub rewrite: Rw,
}

/// Guard and right-hand side of a rule: `None` when the guard fails.
pub type BuildFn = fn(&mut Ctx) -> Option<Id>;

/// Guard and right-hand sides of a rule that proves several classes equal to new terms
/// at once (horizontal fusion): pairs `(existing class, new term)`.
pub type MultiBuildFn = fn(&mut Ctx) -> Vec<(Id, Id)>;

/// A rule whose left-hand side is an egg pattern.
pub fn rule(group: RuleGroup, name: impl Into<String>, lhs: &str, build: BuildFn) -> Rule {
    let name = name.into();
    let pattern: Pattern<TensorLang> = lhs
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("rule {name}: bad pattern: {e}"));
    custom(group, name, pattern, build)
}

/// A rule with any searcher (used for rules that look at a class's users).
pub fn custom(
    group: RuleGroup,
    name: impl Into<String>,
    searcher: impl Searcher<TensorLang, super::analysis::TypeAnalysis> + Send + Sync + 'static,
    build: BuildFn,
) -> Rule {
    let name = name.into();
    let rewrite = Rewrite::new(name.as_str(), searcher, BuildApplier { build })
        .unwrap_or_else(|e| panic!("rule {name}: {e}"));
    Rule {
        name,
        group,
        rewrite,
    }
}

/// A rule with any searcher whose builder unions several classes.
pub fn custom_multi(
    group: RuleGroup,
    name: impl Into<String>,
    searcher: impl Searcher<TensorLang, super::analysis::TypeAnalysis> + Send + Sync + 'static,
    build: MultiBuildFn,
) -> Rule {
    let name = name.into();
    let rewrite = Rewrite::new(name.as_str(), searcher, MultiApplier { build })
        .unwrap_or_else(|e| panic!("rule {name}: {e}"));
    Rule {
        name,
        group,
        rewrite,
    }
}

struct MultiApplier {
    build: MultiBuildFn,
}

impl Applier<TensorLang, super::analysis::TypeAnalysis> for MultiApplier {
    fn apply_one(
        &self,
        eg: &mut EG,
        eclass: Id,
        subst: &Subst,
        _searcher_ast: Option<&PatternAst<TensorLang>>,
        _rule_name: Symbol,
    ) -> Vec<Id> {
        let mut ctx = Ctx {
            eg: &mut *eg,
            subst,
            eclass,
        };
        let pairs = (self.build)(&mut ctx);
        pairs
            .into_iter()
            .filter(|&(a, b)| eg.union(a, b))
            .map(|(_, b)| b)
            .collect()
    }
}

/// Matches every class holding a node of one kind (same op symbol), binding nothing: for
/// rules over variadic nodes or a class's users, whose builder inspects the class itself.
pub struct KindSearcher {
    kind: std::mem::Discriminant<TensorLang>,
}

impl KindSearcher {
    /// Match the classes holding nodes of `sample`'s kind.
    pub fn new(sample: &TensorLang) -> Self {
        KindSearcher {
            kind: std::mem::discriminant(sample),
        }
    }
}

impl Searcher<TensorLang, super::analysis::TypeAnalysis> for KindSearcher {
    fn search_eclass_with_limit(
        &self,
        egraph: &EG,
        eclass: Id,
        limit: usize,
    ) -> Option<SearchMatches<'_, TensorLang>> {
        let has = egraph[eclass]
            .nodes
            .iter()
            .any(|n| std::mem::discriminant(n) == self.kind);
        (has && limit > 0).then(|| SearchMatches {
            eclass,
            substs: vec![Subst::default()],
            ast: None,
        })
    }

    fn search_with_limit(&self, egraph: &EG, limit: usize) -> Vec<SearchMatches<'_, TensorLang>> {
        let mut ids: Vec<Id> = match egraph.classes_for_op(&self.kind) {
            Some(it) => it.collect(),
            None => return Vec::new(),
        };
        ids.sort_unstable();
        ids.into_iter()
            .filter_map(|id| self.search_eclass_with_limit(egraph, id, limit))
            .take(limit)
            .collect()
    }

    fn vars(&self) -> Vec<Var> {
        Vec::new()
    }
}

struct BuildApplier {
    build: BuildFn,
}

impl Applier<TensorLang, super::analysis::TypeAnalysis> for BuildApplier {
    fn apply_one(
        &self,
        eg: &mut EG,
        eclass: Id,
        subst: &Subst,
        _searcher_ast: Option<&PatternAst<TensorLang>>,
        _rule_name: Symbol,
    ) -> Vec<Id> {
        let mut ctx = Ctx {
            eg: &mut *eg,
            subst,
            eclass,
        };
        match (self.build)(&mut ctx) {
            Some(id) if eg.union(eclass, id) => vec![id],
            _ => vec![],
        }
    }
}

/// What a rule's guard and builder see: the e-graph, the match and the matched class.
pub struct Ctx<'a> {
    /// The e-graph (not rebuilt while rules apply: ids may need `find`).
    pub eg: &'a mut EG,
    /// The match's variable bindings.
    pub subst: &'a Subst,
    /// The matched e-class.
    pub eclass: Id,
}

fn var(v: &str) -> Var {
    v.parse()
        .unwrap_or_else(|e| panic!("bad variable {v}: {e}"))
}

/// `|a - b| <= rel * |b|`.
pub fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs()
}

impl Ctx<'_> {
    /// The class bound to `v`.
    pub fn id(&self, v: &str) -> Id {
        self.eg.find(self.subst[var(v)])
    }

    /// The type of the class bound to `v`.
    pub fn ty(&self, v: &str) -> Option<TensorType> {
        self.eg[self.id(v)].data.ty.clone()
    }

    /// The type of a class.
    pub fn ty_of(&self, id: Id) -> Option<TensorType> {
        self.eg[id].data.ty.clone()
    }

    /// The shape of the class bound to `v`.
    pub fn shape(&self, v: &str) -> Option<Vec<usize>> {
        self.ty(v).map(|t| t.shape)
    }

    /// The constant every element of `v` equals.
    pub fn konst(&self, v: &str) -> Option<f64> {
        self.eg[self.id(v)].data.konst.map(|r| r.0)
    }

    /// The attribute bound to `v`.
    pub fn attr(&self, v: &str) -> Option<Attr> {
        attr_of(self.eg, self.id(v)).cloned()
    }

    /// The declared type attribute bound to `v`'s shape.
    pub fn type_attr(&self, v: &str) -> Option<Vec<usize>> {
        match self.attr(v)? {
            Attr::Type(t) => Some(t.shape),
            _ => None,
        }
    }

    /// `Some(axes)` when `v` is a reduction over `axes` that keeps dims.
    pub fn kept_axes(&self, v: &str) -> Option<Vec<usize>> {
        match self.attr(v)? {
            Attr::Axes { axes, keep: true } => Some(axes),
            _ => None,
        }
    }

    /// Add a node.
    pub fn add(&mut self, n: TensorLang) -> Id {
        self.eg.add(n)
    }

    /// Add an attribute leaf.
    pub fn attr_leaf(&mut self, a: Attr) -> Id {
        add_attr(self.eg, a)
    }

    /// A real attribute leaf.
    pub fn real(&mut self, v: f64) -> Id {
        self.attr_leaf(Attr::Real(Real(v)))
    }

    /// A constant of type `ty`.
    pub fn full(&mut self, value: f64, ty: &TensorType) -> Id {
        self.add(TensorLang::Full(Constant {
            value: Real(value),
            ty: TypeKey::from(ty),
        }))
    }

    /// `x` reshaped to `shape` (`x` itself when the shape already matches).
    pub fn reshape(&mut self, x: Id, shape: &[usize]) -> Option<Id> {
        let t = self.ty_of(x)?;
        if t.shape == shape {
            return Some(x);
        }
        let a = self.attr_leaf(Attr::Type(TypeKey::from(&t.with_shape(shape.to_vec()))));
        Some(self.add(TensorLang::Reshape([x, a])))
    }

    /// `x` broadcast to `shape` (`x` itself when the shape already matches).
    pub fn broadcast(&mut self, x: Id, shape: &[usize]) -> Option<Id> {
        let t = self.ty_of(x)?;
        if t.shape == shape {
            return Some(x);
        }
        let a = self.attr_leaf(Attr::Type(TypeKey::from(&t.with_shape(shape.to_vec()))));
        Some(self.add(TensorLang::Broadcast([x, a])))
    }

    /// Elements `start..end` of `x` along `axis` (`x` itself when that is everything).
    pub fn slice(&mut self, x: Id, axis: usize, start: usize, end: usize) -> Option<Id> {
        let t = self.ty_of(x)?;
        if start == 0 && t.shape.get(axis) == Some(&end) {
            return Some(x);
        }
        let a = self.attr_leaf(Attr::Range { axis, start, end });
        Some(self.add(TensorLang::Slice([x, a])))
    }

    /// `xs` concatenated along `axis` (the operand itself when there is one).
    pub fn concat(&mut self, axis: usize, xs: &[Id]) -> Id {
        if xs.len() == 1 {
            return xs[0];
        }
        let mut c = vec![self.attr_leaf(Attr::Axis(axis))];
        c.extend_from_slice(xs);
        self.add(TensorLang::Concat(c.into_boxed_slice()))
    }
}

/// All rules of the given groups, in group order.
pub fn rules_for(groups: &[RuleGroup]) -> Vec<Rule> {
    let mut gs: Vec<RuleGroup> = groups.to_vec();
    gs.sort_unstable();
    gs.dedup();
    gs.into_iter().flat_map(|g| g.rules()).collect()
}

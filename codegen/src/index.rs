//! Symbolic index expressions: how a kernel finds the element of every value it reads.
//!
//! Every value in a kernel is addressed by its row-major linear index. A strategy binds a
//! few loop variables (the grid-stride group, the row, the column group, the output
//! element, the reduced element) and each op maps the index of its result to the index of
//! its operands (a broadcast divides and takes remainders by the static strides, a reshape
//! keeps the index). An [`Ix`] is such an index kept symbolic, as `Σ coeff·atom + konst`
//! with atoms `var`, `x / k` and `x % k`, and simplified with what is known statically:
//! each variable's range and each term's divisibility. That is what turns
//! `((r·C + 4c + l) / C) % R` into `r`, proves that four lanes read four consecutive,
//! 16-byte-aligned elements (so they become one vector load), and lets a row kernel check
//! that a row statistic is only read in its own row.
//!
//! All runtime indices are non-negative; `/` and `%` are floor division and the
//! non-negative remainder. A `/` or `%` atom is only ever built over an expression that is
//! provably non-negative or that is a genuine index, so emitting it as unsigned division
//! is exact.

use std::collections::BTreeMap;
use std::fmt;

/// A loop variable bound by a strategy, with its exclusive upper bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Var {
    /// Grid-stride group of an elementwise kernel.
    Group,
    /// The row of a row kernel (one block per row).
    Row,
    /// The column group of a row kernel (threads stride over it).
    Col,
    /// The output element of a reduction kernel.
    Out,
    /// The reduced-element group of a reduction kernel.
    Red,
    /// The chunk of the reduced elements a block takes (split reductions).
    Chunk,
    /// The `y` thread slice whose partial a column reduction combines.
    Slice,
    /// A row number read from memory (a `gather`/`scatter_add` index), clamped to the
    /// table; each distinct loaded index gets its own.
    Dyn(u32),
}

impl Var {
    fn name(self) -> &'static str {
        match self {
            Var::Group => "i",
            Var::Row => "r",
            Var::Col => "c",
            Var::Out => "o",
            Var::Red => "k",
            Var::Chunk => "g",
            Var::Slice => "s",
            Var::Dyn(_) => "row",
        }
    }
}

/// One non-constant piece of an [`Ix`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Atom {
    /// A loop variable in `0..extent`.
    Var(Var, i64),
    /// Floor division by a positive constant.
    Div(Box<Ix>, i64),
    /// Non-negative remainder by a positive constant.
    Rem(Box<Ix>, i64),
}

/// `Σ coeff·atom + konst`, canonical: terms sorted by atom, merged, no zero coefficients.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub(crate) struct Ix {
    terms: Vec<(Atom, i64)>,
    konst: i64,
}

fn gcd(a: i64, b: i64) -> i64 {
    let (mut a, mut b) = (a.abs(), b.abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Atom {
    /// Inclusive range of values the atom can take.
    fn range(&self) -> (i64, i64) {
        match self {
            Atom::Var(_, n) => (0, n - 1),
            Atom::Div(x, k) => {
                let (lo, hi) = x.range();
                (lo.max(0).div_euclid(*k), hi.max(0).div_euclid(*k))
            }
            Atom::Rem(x, k) => {
                let (_, hi) = x.range();
                (0, hi.min(k - 1).max(0))
            }
        }
    }

    /// A number the atom is always a multiple of.
    fn multiple(&self) -> i64 {
        match self {
            Atom::Var(..) | Atom::Div(..) => 1,
            Atom::Rem(x, k) => gcd(x.multiple(), *k),
        }
    }
}

impl Ix {
    /// The constant `c`.
    pub(crate) fn konst(c: i64) -> Ix {
        Ix {
            terms: Vec::new(),
            konst: c,
        }
    }

    /// The loop variable `v`, ranging over `0..extent`.
    pub(crate) fn var(v: Var, extent: usize) -> Ix {
        Ix::atom(Atom::Var(v, extent.max(1) as i64))
    }

    fn atom(a: Atom) -> Ix {
        Ix {
            terms: vec![(a, 1)],
            konst: 0,
        }
    }

    fn from_terms(terms: Vec<(Atom, i64)>, konst: i64) -> Ix {
        let mut m: BTreeMap<Atom, i64> = BTreeMap::new();
        for (a, c) in terms {
            *m.entry(a).or_insert(0) += c;
        }
        let mut ix = Ix {
            terms: m.into_iter().filter(|(_, c)| *c != 0).collect(),
            konst,
        };
        ix.fold_div_rem();
        ix
    }

    /// `c·k·(x / k) + c·(x % k)` is `c·x`: recombine such pairs, which appear when a
    /// broadcast splits an index into coordinates and puts them back together.
    fn fold_div_rem(&mut self) {
        loop {
            let mut found = None;
            for (i, (a, c)) in self.terms.iter().enumerate() {
                if let Atom::Rem(x, k) = a {
                    let want = Atom::Div(x.clone(), *k);
                    if let Some(j) = self
                        .terms
                        .iter()
                        .position(|(b, d)| *b == want && *d == c * k)
                    {
                        found = Some((i, j, (**x).clone(), *c));
                        break;
                    }
                }
            }
            let Some((i, j, x, c)) = found else { return };
            let mut terms: Vec<(Atom, i64)> = self
                .terms
                .iter()
                .enumerate()
                .filter(|(n, _)| *n != i && *n != j)
                .map(|(_, t)| t.clone())
                .collect();
            terms.extend(x.terms.into_iter().map(|(a, d)| (a, d * c)));
            let konst = self.konst + c * x.konst;
            *self = Ix::from_terms(terms, konst);
        }
    }

    /// Whether the expression is the constant it returns.
    pub(crate) fn as_konst(&self) -> Option<i64> {
        self.terms.is_empty().then_some(self.konst)
    }

    /// The constant part.
    pub(crate) fn konst_part(&self) -> i64 {
        self.konst
    }

    /// The terms, for emission.
    pub(crate) fn terms(&self) -> &[(Atom, i64)] {
        &self.terms
    }

    /// Inclusive range of values.
    pub(crate) fn range(&self) -> (i64, i64) {
        let (mut lo, mut hi) = (self.konst, self.konst);
        for (a, c) in &self.terms {
            let (alo, ahi) = a.range();
            if *c >= 0 {
                lo += c * alo;
                hi += c * ahi;
            } else {
                lo += c * ahi;
                hi += c * alo;
            }
        }
        (lo, hi)
    }

    /// The largest number this expression is known to be a multiple of (0 for the
    /// constant 0, which is a multiple of everything).
    pub(crate) fn multiple(&self) -> i64 {
        self.terms
            .iter()
            .fold(self.konst, |g, (a, c)| gcd(g, c * a.multiple()))
    }

    fn nonneg(&self) -> bool {
        self.range().0 >= 0
    }

    /// Whether the loop variable `v` occurs anywhere in the expression.
    pub(crate) fn mentions(&self, v: Var) -> bool {
        self.terms.iter().any(|(a, _)| match a {
            Atom::Var(w, _) => *w == v,
            Atom::Div(x, _) | Atom::Rem(x, _) => x.mentions(v),
        })
    }

    /// The first `n` terms (no constant): a prefix the emitter memoizes, so indices that
    /// differ only in their last terms share the computation of the rest.
    pub(crate) fn prefix(&self, n: usize) -> Ix {
        Ix {
            terms: self.terms[..n].to_vec(),
            konst: 0,
        }
    }

    /// The single term `c·atom`.
    pub(crate) fn from_term(a: Atom, c: i64) -> Ix {
        Ix::from_terms(vec![(a, c)], 0)
    }

    /// The terms that do not mention `v` (no constant).
    pub(crate) fn invariant(&self, v: Var) -> Ix {
        Ix {
            terms: self
                .terms
                .iter()
                .filter(|(a, _)| !Ix::atom(a.clone()).mentions(v))
                .cloned()
                .collect(),
            konst: 0,
        }
    }

    /// `self + other`.
    pub(crate) fn add(&self, other: &Ix) -> Ix {
        let mut t = self.terms.clone();
        t.extend(other.terms.iter().cloned());
        Ix::from_terms(t, self.konst + other.konst)
    }

    /// `self + c`.
    pub(crate) fn add_konst(&self, c: i64) -> Ix {
        Ix {
            terms: self.terms.clone(),
            konst: self.konst + c,
        }
    }

    /// `self · c`.
    pub(crate) fn scale(&self, c: i64) -> Ix {
        if c == 0 {
            return Ix::konst(0);
        }
        Ix::from_terms(
            self.terms.iter().map(|(a, d)| (a.clone(), d * c)).collect(),
            self.konst * c,
        )
    }

    /// Split into the terms whose coefficient is a multiple of `k` (divided by `k`,
    /// with the constant's quotient) and the rest (with the constant's remainder).
    fn split_multiples(&self, k: i64) -> (Ix, Ix) {
        let (mut q, mut r) = (Vec::new(), Vec::new());
        for (a, c) in &self.terms {
            if c % k == 0 {
                q.push((a.clone(), c / k));
            } else {
                r.push((a.clone(), *c));
            }
        }
        (
            Ix::from_terms(q, self.konst.div_euclid(k)),
            Ix::from_terms(r, self.konst.rem_euclid(k)),
        )
    }

    /// Find `g | k` and a split `self = a + b` with `g | a`, `a >= 0` and `0 <= b < g`,
    /// so that `self / k = a / k` and `self % k = a % k + b`.
    fn align_split(&self, k: i64) -> Option<(Ix, Ix)> {
        let mut cands: Vec<i64> = self
            .terms
            .iter()
            .map(|(a, c)| gcd(c * a.multiple(), k))
            .filter(|&g| g > 1)
            .collect();
        cands.sort_unstable_by(|a, b| b.cmp(a));
        cands.dedup();
        for g in cands {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for (atom, c) in &self.terms {
                if (c * atom.multiple()) % g == 0 {
                    a.push((atom.clone(), *c));
                } else {
                    b.push((atom.clone(), *c));
                }
            }
            let a = Ix::from_terms(a, self.konst - self.konst.rem_euclid(g));
            let b = Ix::from_terms(b, self.konst.rem_euclid(g));
            let (blo, bhi) = b.range();
            let useful = !b.terms.is_empty() || b.konst != 0;
            if useful && blo >= 0 && bhi < g && a.nonneg() && !a.terms.is_empty() {
                return Some((a, b));
            }
        }
        None
    }

    /// `self / k` (floor), simplified.
    pub(crate) fn div(&self, k: i64) -> Ix {
        assert!(k > 0, "index division by {k}");
        if k == 1 {
            return self.clone();
        }
        let (lo, hi) = self.range();
        if lo >= 0 && hi < k {
            return Ix::konst(0);
        }
        let (q, r) = self.split_multiples(k);
        let (rlo, rhi) = r.range();
        if rlo >= 0 && rhi < k {
            return q;
        }
        if let Some((a, _)) = r.align_split(k) {
            return q.add(&a.div(k));
        }
        if !r.nonneg() {
            return Ix::atom(Atom::Div(Box::new(self.clone()), k));
        }
        // all coefficients and the constant share a factor g with k: divide it out
        let g = gcd(r.terms.iter().fold(r.konst, |g, (_, c)| gcd(g, *c)), k);
        if g > 1 {
            let r = Ix::from_terms(
                r.terms.iter().map(|(a, c)| (a.clone(), c / g)).collect(),
                r.konst / g,
            );
            return q.add(&r.div(k / g));
        }
        // (x / a) / k = x / (a·k)
        if r.konst == 0
            && let [(Atom::Div(x, a), 1)] = r.terms.as_slice()
        {
            return q.add(&x.div(a * k));
        }
        q.add(&Ix::atom(Atom::Div(Box::new(r), k)))
    }

    /// `self % k` (non-negative), simplified.
    pub(crate) fn rem(&self, k: i64) -> Ix {
        assert!(k > 0, "index remainder by {k}");
        if k == 1 {
            return Ix::konst(0);
        }
        let (lo, hi) = self.range();
        if lo >= 0 && hi < k {
            return self.clone();
        }
        let r = Ix::from_terms(
            self.terms
                .iter()
                .filter(|(_, c)| c.rem_euclid(k) != 0)
                .map(|(a, c)| (a.clone(), c.rem_euclid(k)))
                .collect(),
            self.konst.rem_euclid(k),
        );
        let (rlo, rhi) = r.range();
        if rlo >= 0 && rhi < k {
            return r;
        }
        if let Some((a, b)) = r.align_split(k) {
            return a.rem(k).add(&b);
        }
        if !r.nonneg() {
            return Ix::atom(Atom::Rem(Box::new(self.clone()), k));
        }
        // (g·x) % (g·k') = g·(x % k')
        let g = gcd(r.terms.iter().fold(r.konst, |g, (_, c)| gcd(g, *c)), k);
        if g > 1 {
            let r = Ix::from_terms(
                r.terms.iter().map(|(a, c)| (a.clone(), c / g)).collect(),
                r.konst / g,
            );
            return r.rem(k / g).scale(g);
        }
        // (x % m) % k = x % k when k | m
        if r.konst == 0
            && let [(Atom::Rem(x, m), 1)] = r.terms.as_slice()
            && m % k == 0
        {
            return x.rem(k);
        }
        Ix::atom(Atom::Rem(Box::new(r), k))
    }
}

#[cfg(test)]
impl Ix {
    /// Evaluate with concrete variable values, as the GPU would (unsigned `/` and `%`).
    pub(crate) fn eval(&self, env: &dyn Fn(Var) -> i64) -> i64 {
        self.konst
            + self
                .terms
                .iter()
                .map(|(a, c)| {
                    c * match a {
                        Atom::Var(v, _) => env(*v),
                        Atom::Div(x, k) | Atom::Rem(x, k) => {
                            let v = x.eval(env);
                            assert!(v >= 0, "unsigned division of {v}");
                            if matches!(a, Atom::Div(..)) {
                                v / k
                            } else {
                                v % k
                            }
                        }
                    }
                })
                .sum::<i64>()
    }
}

impl fmt::Display for Ix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (a, c) in &self.terms {
            if !first {
                f.write_str(if *c < 0 { " - " } else { " + " })?;
            } else if *c < 0 {
                f.write_str("-")?;
            }
            first = false;
            if c.abs() != 1 {
                write!(f, "{}*", c.abs())?;
            }
            match a {
                Atom::Var(v, _) => f.write_str(v.name())?,
                Atom::Div(x, k) => write!(f, "({x})/{k}")?,
                Atom::Rem(x, k) => write!(f, "({x})%{k}")?,
            }
        }
        if first {
            write!(f, "{}", self.konst)
        } else if self.konst != 0 {
            write!(
                f,
                " {} {}",
                if self.konst < 0 { "-" } else { "+" },
                self.konst.abs()
            )
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(ix: &Ix, env: &dyn Fn(Var) -> i64) -> i64 {
        ix.eval(env)
    }

    #[test]
    fn row_index_splits_into_row_and_column() {
        let (rows, cols) = (6usize, 8usize);
        let lin = Ix::var(Var::Row, rows)
            .scale(cols as i64)
            .add(&Ix::var(Var::Col, cols / 4).scale(4))
            .add_konst(3);
        assert_eq!(lin.div(cols as i64), Ix::var(Var::Row, rows));
        assert_eq!(
            lin.div(cols as i64).rem(rows as i64),
            Ix::var(Var::Row, rows)
        );
        assert_eq!(
            lin.rem(cols as i64),
            Ix::var(Var::Col, cols / 4).scale(4).add_konst(3)
        );
    }

    #[test]
    fn broadcast_round_trip_recombines() {
        // [B, T, 1] broadcast to [B, T, C]: source index b*T + t must become r
        let (b, t, c) = (3i64, 5i64, 8i64);
        let lin = Ix::var(Var::Row, (b * t) as usize)
            .scale(c)
            .add(&Ix::var(Var::Col, c as usize));
        let bb = lin.div(t * c).rem(b);
        let tt = lin.div(c).rem(t);
        let src = bb.scale(t).add(&tt);
        assert_eq!(src, Ix::var(Var::Row, (b * t) as usize));
    }

    #[test]
    fn lanes_of_an_aligned_group_share_a_base() {
        let g = Ix::var(Var::Group, 100).scale(4);
        for l in 0..4 {
            let ix = g.add_konst(l);
            // rope's pair index: (ix % 64) / 2 is the same for lanes 0,1 and for 2,3
            let pair = ix.rem(64).div(2);
            let base = g.rem(64).div(2);
            assert_eq!(pair, base.add_konst(l / 2), "lane {l}");
            assert_eq!(ix.rem(2), Ix::konst(l % 2));
        }
        assert_eq!(g.multiple(), 4);
    }

    #[test]
    fn simplified_expressions_evaluate_like_integers() {
        // exhaustive check of div/rem chains against integer arithmetic
        let n = 4 * 3 * 5;
        for k1 in [1, 2, 3, 4, 5, 6, 12, 15, 60, 120] {
            for k2 in [1, 2, 3, 4, 5, 7] {
                let ix = Ix::var(Var::Group, n / 4).scale(4);
                for l in 0..4 {
                    let v = ix.add_konst(l);
                    let e = v.div(k1).rem(k2).scale(3).add(&v.rem(k1));
                    for g in 0..(n / 4) as i64 {
                        let v = 4 * g + l;
                        let want = (v / k1) % k2 * 3 + v % k1;
                        assert_eq!(eval(&e, &|_| g), want, "k1={k1} k2={k2} v={v} e={e}");
                    }
                }
            }
        }
    }

    #[test]
    fn partner_index_stays_exact() {
        // rope partner: ix + 1 - 2*(ix % 2), with a scalar (unvectorized) index
        let ix = Ix::var(Var::Group, 50);
        let partner = ix.add_konst(1).add(&ix.rem(2).scale(-2));
        for g in 0..50 {
            let want = if g % 2 == 0 { g + 1 } else { g - 1 };
            assert_eq!(eval(&partner, &|_| g), want);
            // dividing the partner index must stay exact too
            assert_eq!(
                eval(&partner.div(2), &|_| g),
                want / 2,
                "{}",
                partner.div(2)
            );
        }
    }
}

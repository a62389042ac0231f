//! Index maps of shape ops: row-major strides, numpy broadcasting, transposes, slices,
//! concatenation and coordinates. Each maps the index of a result element to the index
//! of the operand element it reads.

use crate::index::Ix;

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

/// Index into the operand of `transpose(perm)` of `src`, given the index into the result
/// (result dim `i` is operand dim `perm[i]`). Runs of result dims that stay consecutive
/// in the operand are handled as one dim.
pub(crate) fn transpose_ix(ix: &Ix, src: &[usize], perm: &[usize]) -> Ix {
    let dst: Vec<usize> = perm.iter().map(|&p| src[p]).collect();
    let (ds, ss) = (strides(&dst), strides(src));
    let mut out = Ix::konst(0);
    let mut i = 0;
    while i < dst.len() {
        let start = i;
        while i + 1 < dst.len() && perm[i + 1] == perm[i] + 1 {
            i += 1;
        }
        let size: usize = dst[start..=i].iter().product();
        let coord = ix.div(ds[i]).rem(size as i64);
        out = out.add(&coord.scale(ss[perm[i]]));
        i += 1;
    }
    out
}

/// A result index split around `axis` of a result of `shape`: the combined index of the
/// dims before it, the coordinate along it, and the combined index of the dims after it
/// (whose count is returned too).
pub(crate) fn split_at_axis(ix: &Ix, shape: &[usize], axis: usize) -> (Ix, Ix, Ix, i64) {
    let inner: usize = shape[axis + 1..].iter().product();
    let len = shape[axis] as i64;
    let inner = inner as i64;
    (
        ix.div(len * inner),
        ix.div(inner).rem(len),
        ix.rem(inner),
        inner,
    )
}

/// Index into an operand of `src` shape whose `axis` coordinate is `c` (the other parts
/// as [`split_at_axis`] returns them).
pub(crate) fn join_at_axis(
    outer: &Ix,
    c: &Ix,
    inner: &Ix,
    inner_len: i64,
    src: &[usize],
    axis: usize,
) -> Ix {
    let len = src[axis] as i64;
    outer
        .scale(len * inner_len)
        .add(&c.scale(inner_len))
        .add(inner)
}

/// Index into the operand of `slice(axis, start..)` of `src`, given the index into the
/// result of shape `dst`.
pub(crate) fn slice_ix(ix: &Ix, src: &[usize], dst: &[usize], axis: usize, start: usize) -> Ix {
    let (outer, c, inner, n) = split_at_axis(ix, dst, axis);
    join_at_axis(&outer, &c.add_konst(start as i64), &inner, n, src, axis)
}

/// The coordinate along `axis` of the element at `ix` in `shape`.
pub(crate) fn coord(ix: &Ix, shape: &[usize], axis: usize) -> Ix {
    ix.div(strides(shape)[axis]).rem(shape[axis] as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Var;

    /// Row-major coordinates of `i` in `shape`.
    fn coords(mut i: usize, shape: &[usize]) -> Vec<usize> {
        let mut c = vec![0; shape.len()];
        for d in (0..shape.len()).rev() {
            c[d] = i % shape[d];
            i /= shape[d];
        }
        c
    }

    fn lin(c: &[usize], shape: &[usize]) -> usize {
        c.iter().zip(shape).fold(0, |a, (&x, &n)| a * n + x)
    }

    #[test]
    fn transpose_and_slice_indices_match_brute_force() {
        let src = [2usize, 3, 4, 5];
        let perms: [[usize; 4]; 5] = [
            [0, 1, 2, 3],
            [0, 2, 1, 3],
            [3, 2, 1, 0],
            [1, 2, 3, 0],
            [0, 1, 3, 2],
        ];
        for perm in perms {
            let dst: Vec<usize> = perm.iter().map(|&p| src[p]).collect();
            let n: usize = dst.iter().product();
            let ix = transpose_ix(&Ix::var(Var::Group, n), &src, &perm);
            for i in 0..n {
                let c = coords(i, &dst);
                let mut sc = [0usize; 4];
                for (k, &p) in perm.iter().enumerate() {
                    sc[p] = c[k];
                }
                assert_eq!(
                    ix.eval(&|_| i as i64) as usize,
                    lin(&sc, &src),
                    "{perm:?} {i}"
                );
            }
        }
        for axis in 0..4 {
            let (start, len) = (1, src[axis] - 1);
            let mut dst = src.to_vec();
            dst[axis] = len;
            let n: usize = dst.iter().product();
            let ix = slice_ix(&Ix::var(Var::Group, n), &src, &dst, axis, start);
            for i in 0..n {
                let mut c = coords(i, &dst);
                c[axis] += start;
                assert_eq!(
                    ix.eval(&|_| i as i64) as usize,
                    lin(&c, &src),
                    "axis {axis} {i}"
                );
            }
        }
    }

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

//! Index maps of shape ops: row-major strides, numpy broadcasting and coordinates.

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

/// The coordinate along `axis` of the element at `ix` in `shape`.
pub(crate) fn coord(ix: &Ix, shape: &[usize], axis: usize) -> Ix {
    ix.div(strides(shape)[axis]).rem(shape[axis] as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Var;

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

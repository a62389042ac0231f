//! Small graph-building helpers shared by the VJP rules: zeros, the keep-dims shape of a
//! reduction, summing a cotangent back down to a broadcast operand's shape.

use llc_ir::{Builder, NodeId, Result, TensorType};

/// A zero tensor of type `ty`.
pub(crate) fn zeros(b: &mut Builder<'_>, ty: &TensorType) -> Result<NodeId> {
    b.full(0.0, ty.clone())
}

/// The shape a reduction over `axes` of `shape` has with `keep_dims = true`.
pub(crate) fn keep_dims_shape(shape: &[usize], axes: &[usize]) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .map(|(d, &s)| if axes.contains(&d) { 1 } else { s })
        .collect()
}

/// The inverse of a permutation: `inv[perm[i]] = i`.
pub(crate) fn inverse_perm(perm: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    inv
}

/// Axes of `to` along which `broadcast(from -> to)` expanded: the leading axes that
/// `from` lacks and the size-1 axes of `from` that grew.
pub(crate) fn broadcast_axes(from: &[usize], to: &[usize]) -> Vec<usize> {
    let off = to.len() - from.len();
    (0..to.len())
        .filter(|&d| d < off || (from[d - off] == 1 && to[d] != 1))
        .collect()
}

/// Sum `g` (shaped like the broadcast result) back to `target` (the broadcast operand's
/// shape): one `reduce_sum` over the expanded axes, then a reshape that restores the
/// size-1 axes.
pub(crate) fn unbroadcast(b: &mut Builder<'_>, g: NodeId, target: &[usize]) -> Result<NodeId> {
    let from = b.shape(g);
    let axes = broadcast_axes(target, &from);
    let summed = if axes.is_empty() {
        g
    } else {
        b.reduce_sum(g, &axes, false)?
    };
    b.reshape(summed, target)
}

/// Swap the last two axes of `x` (rank >= 2).
pub(crate) fn transpose_last2(b: &mut Builder<'_>, x: NodeId) -> Result<NodeId> {
    let r = b.ty(x).rank();
    let mut perm: Vec<usize> = (0..r).collect();
    perm.swap(r - 2, r - 1);
    b.transpose(x, &perm)
}

/// Collapse every axis but the last into one: `[.., M, K] -> [prod(..) * M, K]`.
pub(crate) fn flatten_rows(b: &mut Builder<'_>, x: NodeId) -> Result<NodeId> {
    let s = b.shape(x);
    let last = *s.last().expect("flatten_rows needs rank >= 1");
    let rows: usize = s[..s.len() - 1].iter().product();
    b.reshape(x, &[rows, last])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_axes_cover_new_and_grown_dims() {
        assert_eq!(broadcast_axes(&[3], &[2, 3]), vec![0]);
        assert_eq!(broadcast_axes(&[1, 3], &[4, 2, 3]), vec![0, 1]);
        assert_eq!(broadcast_axes(&[2, 1], &[2, 5]), vec![1]);
        assert_eq!(broadcast_axes(&[2, 1], &[2, 1]), Vec::<usize>::new());
        assert_eq!(broadcast_axes(&[], &[2, 2]), vec![0, 1]);
    }

    #[test]
    fn inverse_perm_undoes_perm() {
        let p = [2, 0, 3, 1];
        let inv = inverse_perm(&p);
        for (i, &pi) in p.iter().enumerate() {
            assert_eq!(inv[pi], i);
        }
    }

    #[test]
    fn keep_dims_shape_sets_reduced_axes_to_one() {
        assert_eq!(keep_dims_shape(&[2, 3, 4], &[0, 2]), vec![1, 3, 1]);
    }
}

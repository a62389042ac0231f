//! Deterministic data parallelism: work is split only over independent outputs (elements
//! or rows), never inside a reduction, so results are bit-identical for any thread count.

use rayon::prelude::*;

/// Below this many elements, work runs on the calling thread (rayon's overhead would
/// dominate, and small test graphs stay single-threaded).
pub(crate) const PAR_MIN_ELEMS: usize = 1 << 15;

/// `out[i] = f(i)` for `i in 0..n`.
pub(crate) fn map_index<U: Send>(n: usize, f: impl Fn(usize) -> U + Sync + Send) -> Vec<U> {
    if n < PAR_MIN_ELEMS {
        (0..n).map(f).collect()
    } else {
        (0..n).into_par_iter().with_min_len(4096).map(f).collect()
    }
}

/// `out[i] = f(i)` for `i in 0..n` where each item costs about `per_item` element
/// operations (a row of a reduction): parallel once the total work is large.
pub(crate) fn map_heavy<U: Send>(
    n: usize,
    per_item: usize,
    f: impl Fn(usize) -> U + Sync + Send,
) -> Vec<U> {
    let per = per_item.max(1);
    if n < 2 || n.saturating_mul(per) < PAR_MIN_ELEMS {
        (0..n).map(f).collect()
    } else {
        let min_len = (PAR_MIN_ELEMS / 8 / per).max(1);
        (0..n)
            .into_par_iter()
            .with_min_len(min_len)
            .map(f)
            .collect()
    }
}

/// Elementwise map of one slice.
pub(crate) fn map1<A: Sync, U: Send>(a: &[A], f: impl Fn(&A) -> U + Sync + Send) -> Vec<U> {
    if a.len() < PAR_MIN_ELEMS {
        a.iter().map(f).collect()
    } else {
        a.par_iter().with_min_len(4096).map(f).collect()
    }
}

/// Elementwise map of two equal-length slices.
pub(crate) fn map2<A: Sync, B: Sync, U: Send>(
    a: &[A],
    b: &[B],
    f: impl Fn(&A, &B) -> U + Sync + Send,
) -> Vec<U> {
    debug_assert_eq!(a.len(), b.len());
    if a.len() < PAR_MIN_ELEMS {
        a.iter().zip(b).map(|(x, y)| f(x, y)).collect()
    } else {
        a.par_iter()
            .zip(b.par_iter())
            .with_min_len(4096)
            .map(|(x, y)| f(x, y))
            .collect()
    }
}

/// Call `f(row_index, row)` for each `row_len`-sized row of `out`; rows run in parallel
/// when the buffer is large. Each row is written by exactly one call.
pub(crate) fn for_rows<T: Send>(
    out: &mut [T],
    row_len: usize,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    if row_len == 0 || out.is_empty() {
        return;
    }
    if out.len() < PAR_MIN_ELEMS {
        out.chunks_mut(row_len)
            .enumerate()
            .for_each(|(i, r)| f(i, r));
    } else {
        let min_rows = (PAR_MIN_ELEMS / 8 / row_len).max(1);
        out.par_chunks_mut(row_len)
            .with_min_len(min_rows)
            .enumerate()
            .for_each(|(i, r)| f(i, r));
    }
}

/// Like [`for_rows`] but always parallel over rows (each row is heavy: attention heads,
/// matmul batches).
pub(crate) fn for_heavy_rows<T: Send>(
    out: &mut [T],
    row_len: usize,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    if row_len == 0 || out.is_empty() {
        return;
    }
    out.par_chunks_mut(row_len)
        .enumerate()
        .for_each(|(i, r)| f(i, r));
}

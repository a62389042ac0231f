//! Scaled dot-product attention with grouped-query heads, and its gradients. Each
//! (batch, head) is one task; the `[T, S]` probability matrix lives only inside it.
//!
//! With `P = softmax(scale * Q K^T + mask)` and `O = P V`, for each query head:
//! `dP = dO V^T`, `dS = P * (dP - rowsum(P * dP))`, `dQ = scale * dS K`,
//! `dK = scale * dS^T Q`, `dV = P^T dO`; K and V gradients of a KV head are the sums over
//! the query heads of its group, added in head order.
//!
//! In bf16 (the op's type) the values are rounded where the compiled code stores bf16
//! (`passes::lower_attention`): the scores `Q K^T` and `dP` as GEMM results, `P` for the
//! value GEMMs (the softmax and `softmax_grad` read the unrounded `P`), and
//! `dS * scale` for the query and key GEMMs; the result is rounded by the caller.

use crate::error::Result;
use crate::interp::activation::softmax_row;
use crate::interp::ctx::Ctx;
use crate::interp::float::Float;
use crate::interp::matmul::{Mat, gemm};
use crate::interp::parallel::for_heavy_rows;
use crate::tensor::Tensor;
use llc_ir::AttnOperand;

/// Sizes of one attention call.
#[derive(Clone, Copy)]
struct Dims {
    hq: usize,
    hkv: usize,
    t: usize,
    s: usize,
    hd: usize,
    scale: f64,
    causal: bool,
    /// Round as bf16 GEMMs store (see the module docs).
    bf16: bool,
}

impl Dims {
    fn new(cx: &Ctx, q: &Tensor, k: &Tensor, scale: f64, causal: bool) -> Dims {
        let (qs, ks) = (q.shape(), k.shape());
        Dims {
            hq: qs[1],
            hkv: ks[1],
            t: qs[2],
            s: ks[2],
            hd: qs[3],
            scale,
            causal,
            bf16: cx.node.ty.dtype == llc_ir::DType::BF16,
        }
    }
    /// `x` as the compiled code stores it.
    fn store<T: Float>(&self, x: &mut [T]) {
        if self.bf16 {
            x.iter_mut().for_each(|v| *v = v.round_bf16());
        }
    }
    /// The scale the `dS` GEMMs apply (in bf16 it is in `dS` already).
    fn ds_alpha<T: Float>(&self) -> T {
        T::from_f64(if self.bf16 { 1.0 } else { self.scale })
    }
    fn group(&self) -> usize {
        self.hq / self.hkv
    }
    /// Query-side `[T, hd]` block of flat head `bh = b * Hq + h`.
    fn q_block<'a, T>(&self, x: &'a [T], bh: usize) -> &'a [T] {
        let n = self.t * self.hd;
        &x[bh * n..(bh + 1) * n]
    }
    /// KV-side `[S, hd]` block of flat KV head `bg = b * Hkv + g`.
    fn kv_block<'a, T>(&self, x: &'a [T], bg: usize) -> &'a [T] {
        let n = self.s * self.hd;
        &x[bg * n..(bg + 1) * n]
    }
    /// The KV head a flat query head reads.
    fn kv_of(&self, bh: usize) -> usize {
        let (b, h) = (bh / self.hq, bh % self.hq);
        b * self.hkv + h / self.group()
    }
}

/// The `[T, S]` attention probabilities of one query head: as the softmax makes them,
/// and as the value GEMMs read them (rounded in bf16; empty when the same).
fn probs<T: Float>(d: &Dims, q: &[T], k: &[T]) -> (Vec<T>, Vec<T>) {
    let mut p = vec![T::ZERO; d.t * d.s];
    gemm(
        d.t,
        d.hd,
        d.s,
        if d.bf16 { T::ONE } else { T::from_f64(d.scale) },
        Mat::row_major(q, d.hd, false),
        Mat::row_major(k, d.hd, true),
        T::ZERO,
        &mut p,
    );
    if d.bf16 {
        let scale = T::from_f64(d.scale);
        p.iter_mut().for_each(|v| *v = v.round_bf16() * scale);
    }
    if d.s == 0 {
        return (p, Vec::new());
    }
    let mut row = vec![T::ZERO; d.s];
    for (i, pr) in p.chunks_mut(d.s).enumerate() {
        if d.causal {
            pr[i + 1..].fill(T::NEG_INFINITY);
        }
        row.copy_from_slice(pr);
        softmax_row(&row, pr);
    }
    let mut rounded = Vec::new();
    if d.bf16 {
        rounded = p.clone();
        d.store(&mut rounded);
    }
    (p, rounded)
}

/// The probabilities the value GEMMs read.
fn for_gemm<T>(p: &(Vec<T>, Vec<T>)) -> &[T] {
    if p.1.is_empty() { &p.0 } else { &p.1 }
}

/// `dS = P * (dO V^T - rowsum(P * dO V^T))` of one query head (in bf16: times the
/// scale, rounded; see [`Dims::ds_alpha`]).
fn score_grad<T: Float>(d: &Dims, p: &[T], v: &[T], dout: &[T]) -> Vec<T> {
    let mut ds = vec![T::ZERO; d.t * d.s];
    gemm(
        d.t,
        d.hd,
        d.s,
        T::ONE,
        Mat::row_major(dout, d.hd, false),
        Mat::row_major(v, d.hd, true),
        T::ZERO,
        &mut ds,
    );
    if d.s == 0 {
        return ds;
    }
    d.store(&mut ds);
    for (dr, pr) in ds.chunks_mut(d.s).zip(p.chunks(d.s)) {
        let dot: f64 = dr
            .iter()
            .zip(pr)
            .map(|(a, b)| a.to_f64() * b.to_f64())
            .sum();
        for (x, &pv) in dr.iter_mut().zip(pr) {
            *x = T::from_f64(pv.to_f64() * (x.to_f64() - dot));
        }
    }
    if d.bf16 {
        let scale = T::from_f64(d.scale);
        ds.iter_mut().for_each(|v| *v = (*v * scale).round_bf16());
    }
    ds
}

/// `softmax(q k^T * scale [+ causal mask]) v`.
pub(crate) fn attention<T: Float>(
    cx: &Ctx,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    causal: bool,
) -> Result<Tensor> {
    let (qs, ks, vs) = (
        cx.floats::<T>(q, "q")?,
        cx.floats::<T>(k, "k")?,
        cx.floats::<T>(v, "v")?,
    );
    let d = Dims::new(cx, q, k, scale, causal);
    let mut out = vec![T::ZERO; qs.len()];
    for_heavy_rows(&mut out, d.t * d.hd, |bh, o| {
        let g = d.kv_of(bh);
        let p = probs(&d, d.q_block(qs, bh), d.kv_block(ks, g));
        gemm(
            d.t,
            d.s,
            d.hd,
            T::ONE,
            Mat::row_major(for_gemm(&p), d.s, false),
            Mat::row_major(d.kv_block(vs, g), d.hd, false),
            T::ZERO,
            o,
        );
    });
    Ok(Tensor::from_parts(q.shape().to_vec(), T::wrap(out)))
}

/// Gradient of `attention(q, k, v)` with respect to `wrt`, given the output gradient `dy`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attention_grad<T: Float>(
    cx: &Ctx,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    dy: &Tensor,
    scale: f64,
    causal: bool,
    wrt: AttnOperand,
) -> Result<Tensor> {
    let (qs, ks, vs, gs) = (
        cx.floats::<T>(q, "q")?,
        cx.floats::<T>(k, "k")?,
        cx.floats::<T>(v, "v")?,
        cx.floats::<T>(dy, "dy")?,
    );
    let d = Dims::new(cx, q, k, scale, causal);
    let out = match wrt {
        AttnOperand::Q => {
            let mut out = vec![T::ZERO; qs.len()];
            for_heavy_rows(&mut out, d.t * d.hd, |bh, dq| {
                let g = d.kv_of(bh);
                let (kb, vb) = (d.kv_block(ks, g), d.kv_block(vs, g));
                let p = probs(&d, d.q_block(qs, bh), kb);
                let ds = score_grad(&d, &p.0, vb, d.q_block(gs, bh));
                gemm(
                    d.t,
                    d.s,
                    d.hd,
                    d.ds_alpha(),
                    Mat::row_major(&ds, d.s, false),
                    Mat::row_major(kb, d.hd, false),
                    T::ZERO,
                    dq,
                );
            });
            out
        }
        AttnOperand::K | AttnOperand::V => {
            let mut out = vec![T::ZERO; ks.len()];
            for_heavy_rows(&mut out, d.s * d.hd, |bg, dkv| {
                let (b, g) = (bg / d.hkv, bg % d.hkv);
                let (kb, vb) = (d.kv_block(ks, bg), d.kv_block(vs, bg));
                for j in 0..d.group() {
                    let bh = b * d.hq + g * d.group() + j;
                    let qb = d.q_block(qs, bh);
                    let p = probs(&d, qb, kb);
                    let beta = if j == 0 { T::ZERO } else { T::ONE };
                    if wrt == AttnOperand::V {
                        let a = Mat::row_major(for_gemm(&p), d.s, true);
                        let rhs = Mat::row_major(d.q_block(gs, bh), d.hd, false);
                        gemm(d.s, d.t, d.hd, T::ONE, a, rhs, beta, dkv);
                    } else {
                        let ds = score_grad(&d, &p.0, vb, d.q_block(gs, bh));
                        let a = Mat::row_major(&ds, d.s, true);
                        let rhs = Mat::row_major(qb, d.hd, false);
                        gemm(d.s, d.t, d.hd, d.ds_alpha(), a, rhs, beta, dkv);
                    }
                }
            });
            out
        }
    };
    let shape = match wrt {
        AttnOperand::Q => q.shape(),
        AttnOperand::K => k.shape(),
        AttnOperand::V => v.shape(),
    };
    Ok(Tensor::from_parts(shape.to_vec(), T::wrap(out)))
}

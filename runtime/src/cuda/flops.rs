//! Model FLOPs per training step and model FLOPs utilisation (MFU), the way the PaLM
//! paper (appendix B) and nanoGPT count them, so numbers compare with published ones and
//! with `scripts/torch_reference.py`, which uses the same formula:
//!
//! `flops_per_step = 6 * N * tokens + 12 * L * d * T * tokens`
//!
//! - `N`: parameters that take part in matrix multiplies: every parameter, except the
//!   token-embedding table when the model has a separate output head (a lookup costs no
//!   FLOPs); with tied embeddings the table is the head and counts once.
//! - `6 N`: forward (2N) and backward (4N) multiply-adds per token.
//! - `12 L d T`: attention scores and weighted sums (`QK^T`, `PV`) forward and backward
//!   for `L` layers, model width `d` and sequence length `T`, with no discount for the
//!   causal mask.
//!
//! MFU is `flops_per_step / seconds_per_step / peak`, with the H100 SXM's dense bf16 peak
//! of 989 TFLOP/s as the peak, whatever precision the step actually ran in.

use llc_ir::ArgRole;
use llc_ir::plan::Plan;

/// H100 SXM dense bf16 tensor-core peak, FLOP/s (the MFU denominator).
pub const H100_BF16_DENSE_PEAK: f64 = 989e12;

/// The sizes the FLOP count needs, read from a plan's arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelShape {
    /// Every parameter element.
    pub params_total: u64,
    /// `N` of the formula (see the module docs).
    pub params_matmul: u64,
    pub layers: u64,
    pub d_model: u64,
    pub batch: u64,
    pub seq: u64,
}

impl ModelShape {
    /// Read from the plan: parameter sizes by name (`tok_embeddings.weight`,
    /// `output.weight`, `layers.N.…`) and the `tokens` input's `[batch, seq]`. `None`
    /// when the plan is not a Llama step.
    pub fn from_plan(plan: &Plan) -> Option<ModelShape> {
        let shape = |name: &str| {
            let a = plan.arg(name)?;
            plan.buffers.get(a.buffer as usize).map(|b| b.shape.clone())
        };
        let numel = |s: &[usize]| s.iter().product::<usize>() as u64;
        let emb = shape("tok_embeddings.weight")?;
        let tokens = shape("tokens")?;
        if emb.len() != 2 || tokens.len() != 2 {
            return None;
        }
        let mut total = 0u64;
        let mut layers = 0u64;
        for a in plan.args.iter().filter(|a| a.role == ArgRole::Param) {
            total += numel(&shape(&a.name)?);
            if let Some(n) = a
                .name
                .strip_prefix("layers.")
                .and_then(|r| r.split('.').next())
                .and_then(|n| n.parse::<u64>().ok())
            {
                layers = layers.max(n + 1);
            }
        }
        let untied = plan.arg("output.weight").is_some();
        Some(ModelShape {
            params_total: total,
            params_matmul: if untied { total - numel(&emb) } else { total },
            layers,
            d_model: emb[1] as u64,
            batch: tokens[0] as u64,
            seq: tokens[1] as u64,
        })
    }

    /// Tokens per step.
    pub fn tokens(&self) -> u64 {
        self.batch * self.seq
    }

    /// Model FLOPs of one training step (see the module docs).
    pub fn flops_per_step(&self) -> f64 {
        let tokens = self.tokens() as f64;
        6.0 * self.params_matmul as f64 * tokens
            + 12.0 * (self.layers * self.d_model * self.seq) as f64 * tokens
    }
}

/// Model FLOPs utilisation of a step taking `seconds` against `peak` FLOP/s.
pub fn mfu(flops_per_step: f64, seconds: f64, peak: f64) -> f64 {
    if seconds > 0.0 && peak > 0.0 {
        flops_per_step / seconds / peak
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_formula_matches_a_hand_count() {
        // Llama-2-arch 110M (d 768, 12 layers, 32000 tied vocab, batch 16 x 1024).
        let s = ModelShape {
            params_total: 110_000_000,
            params_matmul: 110_000_000,
            layers: 12,
            d_model: 768,
            batch: 16,
            seq: 1024,
        };
        let tokens = 16.0 * 1024.0;
        let want = 6.0 * 110e6 * tokens + 12.0 * 12.0 * 768.0 * 1024.0 * tokens;
        assert_eq!(s.flops_per_step(), want);
        // 34.3 ms per step (the torch.compile reference) is about 37% of 989 TFLOP/s.
        let m = mfu(want, 0.0343, H100_BF16_DENSE_PEAK);
        assert!((m - 0.3735).abs() < 1e-4, "{m}");
        assert_eq!(mfu(want, 0.0, H100_BF16_DENSE_PEAK), 0.0);
    }
}

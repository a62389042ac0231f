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
//! MFU is `flops_per_step / seconds_per_step / peak`, where the peak is the device's
//! dense tensor-core (or FP32) rate for the math the step's GEMMs actually use
//! ([`GemmMath::of`]: bf16 when the plan's GEMMs are bf16, else TF32 when it is allowed,
//! else FP32), from [`gemm_peak`]'s table of the devices the project runs on.

use llc_ir::ArgRole;
use llc_ir::plan::Plan;

/// H100 SXM dense bf16 tensor-core peak, FLOP/s.
pub const H100_BF16_DENSE_PEAK: f64 = 989e12;

/// The arithmetic a step's GEMMs run in: what its MFU is measured against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmMath {
    /// bf16 operands on tensor cores (f32 accumulation).
    Bf16,
    /// f32 operands on tensor cores as TF32 (`--allow-tf32`).
    Tf32,
    /// f32 operands in exact FP32 (no tensor cores).
    Fp32,
}

impl GemmMath {
    /// The math of `plan`'s GEMMs: bf16 if any GEMM reads bf16 (the precision policy puts
    /// every GEMM of a step in bf16 or none), else TF32 or FP32 as `allow_tf32` says.
    pub fn of(plan: &Plan, allow_tf32: bool) -> GemmMath {
        let bf16 = plan
            .steps
            .iter()
            .any(|s| matches!(s, llc_ir::plan::Step::Gemm(g) if g.dtype == llc_ir::DType::BF16));
        match (bf16, allow_tf32) {
            (true, _) => GemmMath::Bf16,
            (false, true) => GemmMath::Tf32,
            (false, false) => GemmMath::Fp32,
        }
    }

    /// How reports name it.
    pub fn name(self) -> &'static str {
        match self {
            GemmMath::Bf16 => "bf16",
            GemmMath::Tf32 => "tf32",
            GemmMath::Fp32 => "fp32",
        }
    }
}

/// Dense peaks (FLOP/s) of the devices MFU knows: name fragment, bf16, TF32, FP32
/// (NVIDIA's datasheets, without sparsity). The first match wins, so the more specific
/// names come first.
const PEAKS: &[(&str, &str, [f64; 3])] = &[
    ("H200", "H200", [989e12, 494.7e12, 66.9e12]),
    ("H100 PCIe", "H100 PCIe", [756e12, 378e12, 51.2e12]),
    ("H100", "H100 SXM", [989e12, 494.7e12, 66.9e12]),
    ("A100", "A100", [312e12, 156e12, 19.5e12]),
];

/// The peak FLOP/s of device `device_name` (as the driver names it) for `math`, and a
/// label saying which figure it is; a device not in the table is measured against the
/// H100 SXM's figure, and the label says so.
pub fn gemm_peak(device_name: &str, math: GemmMath) -> (f64, String) {
    let i = match math {
        GemmMath::Bf16 => 0,
        GemmMath::Tf32 => 1,
        GemmMath::Fp32 => 2,
    };
    let (known, label, peaks) = PEAKS
        .iter()
        .find(|(frag, _, _)| device_name.contains(frag))
        .map(|(_, l, p)| (true, *l, p))
        .unwrap_or((false, "H100 SXM", &PEAKS[2].2));
    let note = if known {
        String::new()
    } else {
        format!(" (unknown device {device_name:?}: H100 SXM figures)")
    };
    (
        peaks[i],
        format!(
            "{:.1} TFLOP/s = {label} dense {} peak{note}",
            peaks[i] / 1e12,
            math.name()
        ),
    )
}

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
    fn the_peak_follows_the_device_and_the_gemm_math() {
        let (p, l) = gemm_peak("NVIDIA H100 80GB HBM3", GemmMath::Bf16);
        assert_eq!(p, 989e12);
        assert!(l.contains("H100 SXM dense bf16"), "{l}");
        assert_eq!(gemm_peak("NVIDIA H100 PCIe", GemmMath::Bf16).0, 756e12);
        assert_eq!(gemm_peak("NVIDIA H200", GemmMath::Tf32).0, 494.7e12);
        assert_eq!(
            gemm_peak("NVIDIA A100-SXM4-80GB", GemmMath::Fp32).0,
            19.5e12
        );
        let (p, l) = gemm_peak("Some Future GPU", GemmMath::Bf16);
        assert_eq!(p, 989e12);
        assert!(l.contains("unknown device"), "{l}");
    }

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

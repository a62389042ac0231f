//! Building steps of Llama presets as the compile pipeline does.

use llc_ir::Function;
use llc_models::{BuildOptions, LlamaConfig, build_forward};
use llc_passes::egraph::{EGraphOptions, optimize};
use llc_passes::{OptimizerConfig, build_step, differentiate};

/// The training step of `preset` at `batch x seq`, with the e-graph run on the forward
/// graph and on the step.
pub fn fused_step(preset: &str, batch: usize, seq: usize) -> Function {
    let cfg = LlamaConfig::preset(preset).unwrap();
    let m = build_forward(&cfg, &BuildOptions::new(batch, seq)).unwrap();
    let (fwd, _) = optimize(m.function("forward").unwrap(), &EGraphOptions::forward()).unwrap();
    let (fb, _) = differentiate(&fwd, "loss", "forward_backward").unwrap();
    let (step, _) = build_step(&fb, &OptimizerConfig::default()).unwrap();
    optimize(&step, &EGraphOptions::step()).unwrap().0
}

//! The interface between the training loop and whatever executes the compiled step.

use crate::error::Result;
use crate::tensor::Tensor;

/// One batch of data inputs, by argument name (`tokens`, `targets`, `loss_mask`).
#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub inputs: Vec<(String, Tensor)>,
}

impl Batch {
    /// The input called `name`.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.inputs.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// Tokens in the batch (elements of `tokens`).
    pub fn tokens(&self) -> usize {
        self.get("tokens").map_or(0, Tensor::numel)
    }
}

/// What one training step reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepMetrics {
    pub loss: f64,
    /// Global gradient L2 norm before clipping.
    pub grad_norm: f64,
    /// Learning rate used by this step.
    pub lr: f64,
}

/// Executes a compiled training step whose parameters and optimizer state it owns.
/// Implementations: [`super::CpuBackend`] (interpreter) and the CUDA runtime.
pub trait StepBackend {
    /// Short name for logs (`cpu`, `cuda:0 (NVIDIA H100)`).
    fn name(&self) -> String;
    /// Run one step on `batch`, updating parameters and state in place.
    fn step(&mut self, batch: &Batch) -> Result<StepMetrics>;
    /// Mean loss of the current parameters on `batch`, without updating anything.
    fn eval_loss(&mut self, batch: &Batch) -> Result<f64>;
    /// Current values of every parameter and state argument, by name, in argument order
    /// (for checkpoints and sampling).
    fn state(&self) -> Result<Vec<(String, Tensor)>>;
    /// Overwrite parameters and state by name (resume, fine-tuning from a checkpoint).
    /// Every name must exist with the same shape; names not given keep their value.
    fn load_state(&mut self, values: &[(String, Tensor)]) -> Result<()>;
}

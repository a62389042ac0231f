//! One line of the metrics log.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What the trainer logs at a step; absent values are left out of the JSON line.
/// Non-finite floats are written as `null` by JSON and read back as absent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricRecord {
    /// Optimizer step the values belong to.
    pub step: u64,
    /// Training loss (mean over the step's tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<f64>,
    /// Validation loss, on evaluation steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f64>,
    /// Learning rate used for the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Global gradient norm before clipping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_norm: Option<f64>,
    /// Training throughput.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_sec: Option<f64>,
    /// Seconds since the run (or resume) started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed: Option<f64>,
    /// Any other keys, kept as they are.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl MetricRecord {
    /// A record for `step` with nothing else set.
    pub fn at_step(step: u64) -> Self {
        Self {
            step,
            ..Self::default()
        }
    }
}

//! llc-passes: IR-to-IR passes and the named pipeline.
//!
//! - [`autodiff`]: reverse-mode differentiation, `forward` -> `forward_backward`;
//! - [`optimizer`]: clipping, AdamW and the LR schedule as IR, `forward_backward` -> `step`;
//! - [`pipeline`]: the linear list of named passes the compiler runs.

pub mod autodiff;
pub mod error;
pub mod optimizer;
pub mod pipeline;

pub use autodiff::{AutodiffOptions, AutodiffStats, autodiff, differentiate};
pub use error::{PassError, Result};
pub use optimizer::{DecayOverride, OptimizerConfig, OptimizerStats, build_step, lower_optimizer};
pub use pipeline::{Pass, PassReport, Pipeline, PipelineHooks};

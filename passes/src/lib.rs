//! llc-passes: IR-to-IR passes and the named pipeline.
//!
//! - [`autodiff`]: reverse-mode differentiation, `forward` -> `forward_backward`;
//! - [`data_parallel`]: the gradients averaged over ranks by bucketed `all_reduce`s;
//! - [`optimizer`]: clipping, AdamW and the LR schedule as IR, `forward_backward` -> `step`;
//! - [`egraph`]: equality saturation (egg): fusion, GQA, horizontal fusion, layout;
//! - [`precision`]: the precision policy (bf16 GEMMs, f32 master weights) as casts;
//! - [`pipeline`]: the linear list of named passes the compiler runs;
//! - [`lower_attention`]: attention as GEMMs and softmax row work;
//! - [`partition`]: the step as kernels, GEMM calls and views;
//! - [`memplan`]: step order, arena offsets and the execution plan.

pub mod autodiff;
pub mod data_parallel;
pub mod egraph;
pub mod error;
pub mod lower_attention;
pub mod memplan;
pub mod optimizer;
pub mod partition;
pub mod pipeline;
pub mod precision;

pub use autodiff::{AutodiffOptions, AutodiffStats, autodiff, differentiate};
pub use data_parallel::{
    DEFAULT_BUCKET_BYTES, DataParallelOptions, DataParallelStats, data_parallel,
};
pub use error::{PassError, Result};
pub use optimizer::{DecayOverride, OptimizerConfig, OptimizerStats, build_step, lower_optimizer};
pub use pipeline::{Pass, PassReport, Pipeline, PipelineHooks};
pub use precision::{Precision, PrecisionStats, apply_precision};

//! llc-runtime: executes IR on the CPU (reference interpreter) and on CUDA GPUs, and
//! everything a training run needs around the step: data, checkpoints, metrics.

pub mod checkpoint;
pub mod comm;
pub mod cuda;
pub mod data;
pub mod error;
pub mod generate;
pub mod init;
pub mod interp;
pub mod metrics;
pub mod plan_exec;
pub mod ppo;
pub mod reward;
pub mod tensor;
pub mod token_ids;
pub mod train;

pub use error::RuntimeError;
pub use interp::{Precision, random_args, run_function, run_function_traced, run_function_with};
pub use plan_exec::{PlanExecutor, Profile};
pub use tensor::{Tensor, TensorData};

//! llc-runtime: the executors. Runs IR on the CPU (reference interpreter, compiled plan)
//! and on CUDA GPUs, behind one training-step interface ([`step`]). The training
//! application around the step (data, checkpoints, metrics, the loop) is `llc-trainer`.

pub mod comm;
pub mod cuda;
pub mod error;
pub mod init;
pub mod interp;
pub mod plan_exec;
pub mod step;
pub mod tensor;
pub mod token_ids;

pub use error::RuntimeError;
pub use interp::{Precision, random_args, run_function, run_function_traced, run_function_with};
pub use plan_exec::{PlanExecutor, Profile};
pub use tensor::{Tensor, TensorData};

//! Root integration tests: the `llc-train` binary and the cross-crate compile path end to
//! end. One test binary, because every binary that reaches llc-codegen links MLIR
//! statically, and links are the slow part of a build.
//!
//! - [`artifact`]: the compile path from a Llama preset to an artifact directory, every
//!   kernel accepted by codegen and assembled by ptxas, atomic writes;
//! - [`plan_exec`]: the artifact run by the CPU plan executor against the interpreter;
//! - [`cpu_target`]: the compiled CPU step against the interpreter over 20 steps, artifacts
//!   for other targets or CPUs refused, `train --backend cpu|interp`, threads and resume;
//! - [`data_parallel`]: `mpirun -np 2` training against one rank at twice the batch,
//!   rank-0-only outputs, resume refusals, a killed or stopped rank;
//! - [`decode`]: KV-cache decoding (compiled and interpreted) against the full-window
//!   forward, ragged batches, `sample --jsonl`;
//! - [`compiler_cli`], [`train_cli`], [`grad_cmd`], [`sample_cmd`]: the commands;
//! - [`gpu_cli`]: the GPU commands, on a machine with or without a GPU;
//! - [`reward_cli`], [`ppo_cli`]: the reward model, rejection sampling and PPO commands
//!   (training, checkpoints, exact resume, refusals);
//! - [`hf_interop`]: checkpoints and gradients against Hugging Face transformers;
//! - [`optim_torch`]: the optimizer step's trajectory against `torch.optim.AdamW`.

mod artifact;
mod bf16;
mod common;
mod compiler_cli;
mod cpu_target;
mod data_parallel;
mod decode;
mod gpu_cli;
mod grad_cmd;
mod hf_interop;
mod optim_torch;
mod plan_exec;
mod ppo_cli;
mod reward_cli;
mod sample_cmd;
mod train_cli;

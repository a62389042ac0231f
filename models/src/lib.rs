//! llc-models: Llama 2 configurations and their IR.
//!
//! [`LlamaConfig`] holds a model's hyper-parameters (named presets, or read from a Hugging
//! Face `config.json`); [`build_forward`] turns one into an IR module whose `forward`
//! function computes the loss (or logits) from primitive ops only; [`param_names`] lists
//! the parameters in argument order with Meta's checkpoint names.

mod blocks;
mod config;
mod decode;
mod error;
mod head;
mod hf_config;
mod llama;
mod loss;
mod params;
mod ppo;
mod presets;

pub use config::LlamaConfig;
pub use decode::{
    DECODE_STEP_FN, KvPart, PREFILL_FN, build_decode_step, build_prefill, kv_cache_name,
    kv_cache_shape, prefill_kv_name,
};
pub use error::ModelError;
pub use head::Head;
pub use hf_config::REWARD_PAD_ID;
pub use llama::{BuildOptions, ForwardOutput, build_forward, ppo_inputs, reward_inputs};
pub use params::{param_names, param_names_for};
pub use ppo::PpoLossOptions;

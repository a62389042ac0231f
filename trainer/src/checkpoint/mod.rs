//! Checkpoints: crash-safe checkpoint directories (Hugging Face `model.safetensors` +
//! `config.json`, optimizer state, trainer state), keep-last-K rotation, and conversion
//! between our (Meta) parameter names/layout and Hugging Face Llama's.

pub mod error;
pub mod hf_config;
pub mod hf_convert;
pub mod hf_load;
pub mod hf_names;
pub mod manager;
pub mod rope_permute;
pub mod safetensors_io;
pub mod tensor;
pub mod trainer_state;

pub use error::{CheckpointError, CheckpointResult};
pub use hf_config::{
    param_specs, param_specs_for, read_model_config, read_model_config_any, read_model_config_file,
};
pub use hf_convert::{from_hf, gradients_to_hf, to_hf};
pub use hf_load::{HfModel, load_hf_model_dir, load_hf_weights};
pub use hf_names::{from_hf_name, to_hf_name};
pub use manager::{Checkpoint, CheckpointManager, OptimizerState, load_checkpoint};
pub use rope_permute::{RopeLayout, permute_rope_rows};
pub use safetensors_io::{read_safetensors, write_safetensors};
pub use tensor::{NamedTensor, ParamSpec, match_spec};
pub use trainer_state::TrainerState;

//! Checkpoints: crash-safe checkpoint directories (Hugging Face `model.safetensors` +
//! `config.json`, optimizer state, trainer state), keep-last-K rotation, and conversion
//! between our (Meta) parameter names/layout and Hugging Face Llama's.

pub mod atomic;

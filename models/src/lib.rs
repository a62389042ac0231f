//! llc-models: Llama 2 configurations and their IR.

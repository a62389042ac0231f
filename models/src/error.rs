//! The model crate's error type: bad configurations, bad Hugging Face `config.json` files,
//! bad build options, and IR errors raised while building a graph.

use thiserror::Error;

/// Everything that can go wrong choosing a configuration or building a model graph.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ModelError {
    /// `LlamaConfig::preset` was given a name it does not know.
    #[error("unknown model preset `{name}`; known presets: {}", .known.join(", "))]
    UnknownPreset {
        name: String,
        known: Vec<&'static str>,
    },
    /// A configuration field has a value the model cannot use.
    #[error("invalid model config: `{field}` {msg}")]
    InvalidConfig { field: &'static str, msg: String },
    /// A Hugging Face `config.json` is not valid JSON.
    #[error("config.json {line}:{column}: {msg}")]
    HfJson {
        line: usize,
        column: usize,
        msg: String,
    },
    /// A Hugging Face `config.json` field is missing, has the wrong type, or describes a
    /// model this builder does not implement.
    #[error("config.json field `{field}`: {msg}")]
    HfField { field: String, msg: String },
    /// A checkpoint's `config.json` describes a model with another head than the one
    /// asked for (a reward model where a policy is expected, or the reverse).
    #[error("config.json describes {found}, but {expected} is expected here")]
    WrongHead {
        expected: crate::head::Head,
        found: crate::head::Head,
    },
    /// A build option (batch, sequence length, dtype) is unusable with this config.
    #[error("invalid build option `{option}`: {msg}")]
    InvalidOption { option: &'static str, msg: String },
    /// The IR rejected a node while the graph was built (a builder bug, reported not hidden).
    #[error("building the model graph: {0}")]
    Ir(#[from] llc_ir::IrError),
}

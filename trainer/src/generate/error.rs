//! Errors of text generation: bad sampling options, a logits graph of the wrong form,
//! weights that do not fit it, and failures of the interpreter underneath.

use thiserror::Error;

/// Everything that can go wrong while sampling from a model.
#[derive(Debug, Error)]
pub enum GenerateError {
    /// A sampling or decoding option is out of its range.
    #[error("invalid option {option}: {msg}")]
    InvalidOption {
        /// The option (`temperature`, `top_p`, ...).
        option: &'static str,
        /// What is wrong with it.
        msg: String,
    },
    /// The logits function does not have the form decoding needs.
    #[error("@{func} cannot be used for decoding: {msg}")]
    BadGraph {
        /// The function's name.
        func: String,
        /// What is missing or mis-shaped.
        msg: String,
    },
    /// A parameter of the logits function has no tensor in the weights given.
    #[error("no weight for parameter {name} of @{func}")]
    MissingParam {
        /// The function's name.
        func: String,
        /// The parameter's name.
        name: String,
    },
    /// A weight's shape differs from its parameter's.
    #[error("weight {name} has shape {got:?}, parameter of @{func} expects {expected:?}")]
    ParamShape {
        /// The function's name.
        func: String,
        /// The parameter's name.
        name: String,
        /// The parameter's shape.
        expected: Vec<usize>,
        /// The weight's shape.
        got: Vec<usize>,
    },
    /// Decoding needs at least one context token.
    #[error("the prompt is empty: decoding needs at least one token (e.g. BOS)")]
    EmptyPrompt,
    /// A prompt has more tokens than the decoder's prefill holds.
    #[error("the prompt has {tokens} tokens; the decoder holds at most {limit}")]
    PromptTooLong {
        /// Tokens in the prompt (BOS included).
        tokens: usize,
        /// The longest prompt the decoder takes.
        limit: usize,
    },
    /// A context token is not a row of the embedding.
    #[error("token {token} at position {position} is outside the vocabulary 0..{vocab}")]
    TokenOutOfRange {
        /// Index in the token sequence (prompt first, then generated tokens).
        position: usize,
        /// The token id.
        token: u32,
        /// The model's vocabulary size.
        vocab: usize,
    },
    /// The model produced NaN or infinite logits, so no distribution can be formed.
    #[error("the logits at sequence position {position} are not finite (NaN or inf)")]
    NonFiniteLogits {
        /// Sequence position whose logits were read.
        position: usize,
    },
    /// The interpreter failed to run the logits function.
    #[error("running the logits function: {0}")]
    Interp(Box<llc_runtime::RuntimeError>),
}

impl From<llc_runtime::RuntimeError> for GenerateError {
    fn from(e: llc_runtime::RuntimeError) -> Self {
        GenerateError::Interp(Box::new(e))
    }
}

/// Result alias for generation.
pub type GenerateResult<T> = std::result::Result<T, GenerateError>;

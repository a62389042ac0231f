//! The decoding loop: ask the model for the next token's logits, sample one, append it,
//! repeat until `max_tokens` tokens or the stop token.
//!
//! The context is the last `L` tokens of prompt + generated text (`L` = the logits
//! graph's window): once the window is full it slides, so generation can go on past it.
//! A prompt longer than the window keeps only its last `L` tokens.

use super::error::{GenerateError, GenerateResult};
use super::model::LogitsModel;
use super::sampler::Sampler;

/// Limits and special tokens of one generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Stop after this many new tokens.
    pub max_tokens: usize,
    /// Stop (without emitting it) when this token is drawn, e.g. the tokenizer's EOS.
    pub stop_token: Option<u32>,
    /// Id used to right-pad the context to the window (any valid id: causality makes its
    /// value irrelevant).
    pub pad_token: u32,
    /// Only ids `0..candidates` may be drawn: a model whose vocabulary is padded beyond
    /// the tokenizer's must not produce ids the tokenizer cannot decode.
    pub candidates: usize,
}

/// Why a generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// `max_tokens` new tokens were produced.
    MaxTokens,
    /// The stop token was drawn.
    StopToken,
    /// The KV cache is full: the sequence reached the decoder's cache length.
    ContextFull,
}

impl StopReason {
    /// How reports say it.
    pub fn describe(self) -> &'static str {
        match self {
            StopReason::MaxTokens => "max tokens",
            StopReason::StopToken => "end of sequence",
            StopReason::ContextFull => "context full",
        }
    }
}

/// The outcome of [`generate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generation {
    /// The new tokens, in order (the stop token excluded).
    pub tokens: Vec<u32>,
    /// Why it ended.
    pub stop: StopReason,
}

/// Generates up to `opts.max_tokens` tokens after `prompt`, calling `on_token` with each
/// new token as soon as it is drawn (for streaming output); an error from `on_token`
/// ends the generation and is returned.
pub fn generate<E: From<GenerateError>>(
    model: &mut LogitsModel,
    prompt: &[u32],
    opts: &DecodeOptions,
    sampler: &mut Sampler,
    mut on_token: impl FnMut(u32) -> Result<(), E>,
) -> Result<Generation, E> {
    check_options(model, prompt, opts)?;
    let window = model.window();
    let candidates = opts.candidates;
    let mut seq = prompt.to_vec();
    let mut tokens = Vec::with_capacity(opts.max_tokens);
    while tokens.len() < opts.max_tokens {
        let start = seq.len().saturating_sub(window);
        let logits = model.next_logits(&seq[start..], opts.pad_token, start)?;
        let next = sampler.sample(&logits[..candidates], seq.len() - 1)?;
        if opts.stop_token == Some(next) {
            return Ok(Generation {
                tokens,
                stop: StopReason::StopToken,
            });
        }
        on_token(next)?;
        tokens.push(next);
        seq.push(next);
    }
    Ok(Generation {
        tokens,
        stop: StopReason::MaxTokens,
    })
}

fn check_options(model: &LogitsModel, prompt: &[u32], opts: &DecodeOptions) -> GenerateResult<()> {
    if prompt.is_empty() {
        return Err(GenerateError::EmptyPrompt);
    }
    if opts.candidates == 0 || opts.candidates > model.vocab() {
        return Err(GenerateError::InvalidOption {
            option: "candidates",
            msg: format!(
                "must be in 1..={} (the model's vocabulary), got {}",
                model.vocab(),
                opts.candidates
            ),
        });
    }
    check_prompt_tokens(prompt, model.vocab())
}

/// Every prompt token is a row of the embedding (`< vocab`), or the first that is not is
/// named with its position.
pub(crate) fn check_prompt_tokens(prompt: &[u32], vocab: usize) -> GenerateResult<()> {
    match prompt
        .iter()
        .enumerate()
        .find(|&(_, &t)| t as usize >= vocab)
    {
        Some((position, &token)) => Err(GenerateError::TokenOutOfRange {
            position,
            token,
            vocab,
        }),
        None => Ok(()),
    }
}

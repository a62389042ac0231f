//! A logits graph with its weights bound, answering "what comes after this context?".
//!
//! The IR has static shapes, so one function of fixed length `L` (`tokens: i32[1, L]` to
//! `logits: [1, L, V]`) serves every step: the context is right-padded to `L` and the
//! logits are read at its last real position. The model is causal, so padding after that
//! position cannot change them. Each step recomputes the whole window (no KV cache): O(L²)
//! attention work per token, fine for the small models one samples on a CPU.

use llc_ir::{ArgRole, DType, Function};

use super::bind::bind_params;
use super::error::{GenerateError, GenerateResult};
use crate::checkpoint::NamedTensor;
use llc_runtime::interp::run_function;
use llc_runtime::tensor::{Precision, Tensor};

/// A `[1, L] -> [1, L, V]` logits function and the arguments to run it with.
pub struct LogitsModel {
    func: Function,
    args: Vec<Tensor>,
    tokens_slot: usize,
    logits_slot: usize,
    window: usize,
    vocab: usize,
    precision: Precision,
}

impl LogitsModel {
    /// Checks the form of `func` (one `tokens: i32[1, L]` input, every other argument a
    /// parameter, a `logits: [1, L, V]` result) and binds `weights` to its parameters.
    pub fn new(
        func: Function,
        weights: &[NamedTensor],
        precision: Precision,
    ) -> GenerateResult<Self> {
        let bad = |msg: String| GenerateError::BadGraph {
            func: func.name.clone(),
            msg,
        };
        let tokens = func
            .by_name("tokens")
            .filter(|&id| func.arg_role(id) == Some(ArgRole::Input))
            .ok_or_else(|| bad("no `tokens` input".into()))?;
        let tty = func.ty(tokens);
        if tty.dtype != DType::I32 || tty.rank() != 2 || tty.shape[0] != 1 || tty.shape[1] == 0 {
            return Err(bad(format!("`tokens` must be i32[1, L], found {tty}")));
        }
        let window = tty.shape[1];
        if let Some(&other) = func
            .args()
            .iter()
            .find(|&&a| a != tokens && func.arg_role(a) != Some(ArgRole::Param))
        {
            return Err(bad(format!(
                "argument %{} is neither a parameter nor `tokens`",
                func.node(other).name
            )));
        }
        let logits = func
            .output_by_name("logits")
            .ok_or_else(|| bad("no `logits` result".into()))?;
        let lty = func.ty(logits);
        if !lty.dtype.is_float()
            || lty.rank() != 3
            || lty.shape[0] != 1
            || lty.shape[1] != window
            || lty.shape[2] == 0
        {
            return Err(bad(format!(
                "`logits` must be a float [1, {window}, V], found {lty}"
            )));
        }
        let vocab = lty.shape[2];
        let logits_slot = func
            .outputs()
            .iter()
            .position(|o| o.node == logits)
            .expect("output_by_name found it among the outputs");
        let tokens_slot = func
            .args()
            .iter()
            .position(|&a| a == tokens)
            .expect("tokens is an argument");
        let bound = bind_params(&func, weights, precision)?;
        let placeholder = Tensor::from_i32(vec![1, window], vec![0; window])?;
        let args = bound
            .into_iter()
            .map(|slot| slot.unwrap_or_else(|| placeholder.clone()))
            .collect();
        Ok(LogitsModel {
            func,
            args,
            tokens_slot,
            logits_slot,
            window,
            vocab,
            precision,
        })
    }

    /// The fixed sequence length `L` of the graph: the longest context it sees.
    pub fn window(&self) -> usize {
        self.window
    }

    /// The vocabulary size `V` (length of each logits row).
    pub fn vocab(&self) -> usize {
        self.vocab
    }

    /// Logits for the token after `context` (1..=L ids, each < V), which is placed at
    /// positions `0..len` and right-padded with `pad`; the row read is position `len - 1`.
    /// `first_position` is where `context` starts in the whole sequence (for messages).
    pub fn next_logits(
        &mut self,
        context: &[u32],
        pad: u32,
        first_position: usize,
    ) -> GenerateResult<Vec<f32>> {
        if context.is_empty() {
            return Err(GenerateError::EmptyPrompt);
        }
        if context.len() > self.window {
            return Err(GenerateError::InvalidOption {
                option: "context",
                msg: format!(
                    "{} tokens do not fit the window of {}",
                    context.len(),
                    self.window
                ),
            });
        }
        let check = |position: usize, token: u32| {
            if (token as usize) < self.vocab {
                Ok(token as i32)
            } else {
                Err(GenerateError::TokenOutOfRange {
                    position,
                    token,
                    vocab: self.vocab,
                })
            }
        };
        let mut ids = Vec::with_capacity(self.window);
        for (i, &t) in context.iter().enumerate() {
            ids.push(check(first_position + i, t)?);
        }
        let pad = check(first_position + context.len(), pad)?;
        ids.resize(self.window, pad);
        self.args[self.tokens_slot] = Tensor::from_i32(vec![1, self.window], ids)?;
        let outputs = run_function(&self.func, &self.args, self.precision)?;
        let logits = outputs[self.logits_slot].to_f32_vec();
        let row = context.len() - 1;
        let at = row * self.vocab;
        Ok(logits[at..at + self.vocab].to_vec())
    }
}

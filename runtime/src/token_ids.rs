//! Out-of-range token ids, handled one way on every path: **an error before anything
//! runs**. This is the one place: every backend calls [`check_token_ids`] on the model's
//! token inputs ([`TOKEN_INPUTS`]) when they are written — the CPU plan executor in
//! `PlanExecutor::set_arg` (compiled native kernels, interpreted kernels and library
//! gathers all read the arena it writes), the CUDA backend when it encodes a batch, and
//! the interpreter in its own `gather` and `cross_entropy` (the same `IndexOutOfRange`
//! error). The kernels' own out-of-range behaviour (the codegen gather clamps into the
//! table, the GPU move kernel zero-fills) is therefore never reached from a token input;
//! it only keeps a wrong internal index in bounds.

use crate::error::RuntimeError;

/// The model inputs that hold token ids (rows of `tok_embeddings.weight`, columns of the
/// logits): the training and eval functions' `tokens` and `targets`, the decoders' `tokens`.
pub const TOKEN_INPUTS: [&str; 2] = ["tokens", "targets"];

/// The argument holding the token embedding, whose rows bound every token id.
pub const EMBEDDING_ARG: &str = "tok_embeddings.weight";

/// Every id in `ids` (the flat values of input `%name`) lies in `0..vocab`; the first that
/// does not is an [`RuntimeError::IndexOutOfRange`] naming the input and its position.
pub fn check_token_ids(
    name: &str,
    ids: impl IntoIterator<Item = i64>,
    vocab: usize,
) -> Result<(), RuntimeError> {
    for (i, id) in ids.into_iter().enumerate() {
        if id < 0 || id as u64 >= vocab as u64 {
            return Err(RuntimeError::IndexOutOfRange {
                node: name.to_string(),
                op: "token input".into(),
                index: id,
                position: vec![i],
                bound: vocab,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_outside_the_vocabulary_are_errors_naming_the_input() {
        assert!(check_token_ids("tokens", [0, 5, 9], 10).is_ok());
        let e = check_token_ids("targets", [0, 10, 3], 10).unwrap_err();
        assert_eq!(
            e.to_string(),
            "%targets = token input: index 10 at position [1] is outside 0..10"
        );
        let e = check_token_ids("tokens", [-1], 10).unwrap_err();
        assert!(e.to_string().contains("index -1"), "{e}");
    }
}

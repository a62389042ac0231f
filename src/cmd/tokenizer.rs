//! `llc-train tokenizer train`: a byte-level BPE for users without a tokenizer.

use crate::cli::TokenizerTrainArgs;
use anyhow::Result;
use llc_trainer::data::{BpeTrainOptions, expand_text_inputs, train_bpe_tokenizer};
use std::io::IsTerminal;

pub fn train(a: TokenizerTrainArgs) -> Result<()> {
    let opts = BpeTrainOptions {
        min_frequency: a.min_frequency,
        show_progress: std::io::stderr().is_terminal(),
    };
    let s = train_bpe_tokenizer(&expand_text_inputs(&a.input)?, a.vocab, &a.output, &opts)?;
    println!(
        "wrote {} (vocab {}, {} bytes of text)",
        s.path.display(),
        s.vocab_size,
        s.bytes_read
    );
    Ok(())
}

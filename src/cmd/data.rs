//! `llc-train data prepare|sft`: text or prompt/answer pairs into token shards.

use crate::cli::{DataPrepareArgs, DataSftArgs};
use anyhow::{Result, bail};
use llc_trainer::data::{
    DocSplit, PrepareOptions, PrepareSummary, SftLayout, SftOptions, TextTokenizer,
    expand_text_inputs, prepare_sft_shards, prepare_shards,
};
use std::io::IsTerminal;

fn report(s: &PrepareSummary, out: &std::path::Path) {
    println!(
        "wrote {}: {} documents, {} train tokens in {} shard(s), {} val tokens in {} shard(s) ({}, vocab {})",
        out.display(),
        s.documents,
        s.train_tokens,
        s.train_shards.len(),
        s.val_tokens,
        s.val_shards.len(),
        s.tokenizer,
        s.vocab_size
    );
}

pub fn prepare(a: DataPrepareArgs) -> Result<()> {
    let tok = TextTokenizer::load(&a.tokenizer)?;
    let opts = PrepareOptions {
        val_fraction: a.val_fraction,
        shard_tokens: a.shard_tokens,
        split: DocSplit::parse(&a.doc_split)?,
        show_progress: std::io::stderr().is_terminal(),
        overwrite: a.overwrite,
        ..PrepareOptions::default()
    };
    let s = prepare_shards(&tok, &expand_text_inputs(&a.input)?, &a.out, &opts)?;
    report(&s, &a.out);
    Ok(())
}

pub fn sft(a: DataSftArgs) -> Result<()> {
    let tok = TextTokenizer::load(&a.tokenizer)?;
    let layout = match a.layout.as_str() {
        "packed" => SftLayout::Packed,
        "padded" => SftLayout::Padded,
        other => bail!("unknown --layout `{other}` (expected packed or padded)"),
    };
    let opts = SftOptions {
        seq_len: a.seq,
        layout,
        val_fraction: a.val_fraction,
        truncate: a.truncate,
        show_progress: std::io::stderr().is_terminal(),
        overwrite: a.overwrite,
        ..SftOptions::default()
    };
    let s = prepare_sft_shards(&tok, std::slice::from_ref(&a.input), &a.out, &opts)?;
    report(&s, &a.out);
    Ok(())
}

//! `llc-train sample`: generate text from a checkpoint with the forward graph on the CPU
//! interpreter, printing the prompt and then each new piece of text as it is drawn.

use super::model_dir::load_model_dir;
use anyhow::{Context, Result, bail};
use clap::Args;
use llc_models::{BuildOptions, ForwardOutput, build_forward};
use llc_runtime::Precision;
use llc_runtime::data::{TextTokenizer, check_vocab};
use llc_runtime::generate::{
    DecodeOptions, LogitsModel, Sampler, SamplingConfig, StopReason, TextStream, generate,
};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

/// Generate text from a checkpoint (or a Hugging Face Llama directory) on the CPU.
///
/// The model runs as one logits graph of fixed length L = min(max_seq_len, prompt tokens +
/// --max-tokens): the IR has static shapes, so the context is right-padded to L and the
/// logits are read at its last position (the model is causal, so the padding cannot
/// change them). Every token recomputes the whole window (no KV cache): O(L²) work per
/// token, fine for the small models one samples on a CPU. Past max_seq_len the window
/// slides over the most recent tokens.
///
/// The prompt is encoded after a BOS token (as `data prepare` starts every document) unless
/// --no-bos is given. Generation stops after --max-tokens tokens or at the tokenizer's EOS.
/// The same --seed gives the same text.
#[derive(Args, Debug)]
pub struct SampleArgs {
    /// A checkpoint written by `llc-train` (a `step_*` directory, or a root whose latest
    /// checkpoint is used) or a Hugging Face Llama directory.
    #[arg(long, value_name = "DIR")]
    pub checkpoint: PathBuf,
    /// Text to continue.
    #[arg(long, default_value = "")]
    pub prompt: String,
    /// New tokens to generate at most.
    #[arg(long, default_value_t = 200)]
    pub max_tokens: usize,
    /// Softmax temperature; 0 picks the most likely token every time (greedy).
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f64,
    /// Sample only from the smallest set of tokens whose probabilities reach this (0, 1].
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f64,
    /// Seed of the sampler's random numbers.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// `byte`, or a `tokenizer.json` file. Default: the checkpoint's `tokenizer.json` when
    /// it has one, else `byte`.
    #[arg(long, value_name = "SPEC")]
    pub tokenizer: Option<String>,
    /// Do not put a BOS token before the prompt.
    #[arg(long)]
    pub no_bos: bool,
}

/// Runs the command.
pub fn run(a: SampleArgs) -> Result<()> {
    let config = SamplingConfig {
        temperature: a.temperature,
        top_p: a.top_p,
    };
    let mut sampler = Sampler::new(config, a.seed)?;
    let model = load_model_dir(&a.checkpoint)?;
    let tokenizer = load_tokenizer(a.tokenizer.as_deref(), &model.dir, &a.checkpoint)?;
    check_vocab(&tokenizer, model.cfg.vocab_size)
        .with_context(|| format!("tokenizer {}", tokenizer.describe()))?;

    let mut prompt = Vec::new();
    if !a.no_bos {
        prompt.push(tokenizer.bos_id());
    }
    let encoded = tokenizer.encode(a.prompt.as_bytes()).map_err(|e| {
        anyhow::anyhow!(
            "cannot encode the prompt: {}",
            e.at(std::path::Path::new("--prompt"), 1)
        )
    })?;
    prompt.extend(encoded);
    if prompt.is_empty() {
        bail!("the prompt is empty and --no-bos leaves no token to start from");
    }

    let window = model
        .cfg
        .max_seq_len
        .min(prompt.len().saturating_add(a.max_tokens))
        .max(1);
    if prompt.len() > window {
        eprintln!(
            "note: the prompt has {} tokens; the model sees the last {window} (max_seq_len)",
            prompt.len()
        );
    }
    let opts = BuildOptions {
        output: ForwardOutput::Logits,
        ..BuildOptions::new(1, window)
    };
    let module = build_forward(&model.cfg, &opts)?;
    let func = module
        .functions
        .into_iter()
        .find(|f| f.name == "forward")
        .context("the model builder made no `forward` function")?;
    let mut logits_model = LogitsModel::new(func, &model.weights, Precision::F32)?;

    let decode = DecodeOptions {
        max_tokens: a.max_tokens,
        stop_token: Some(tokenizer.eos_id()),
        pad_token: tokenizer.eos_id(),
        candidates: tokenizer.vocab_size(),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(a.prompt.as_bytes())?;
    out.flush()?;
    let mut stream = TextStream::new(&tokenizer);
    let t0 = Instant::now();
    let generation = generate(&mut logits_model, &prompt, &decode, &mut sampler, |id| {
        let piece = stream.push(id)?;
        out.write_all(piece.as_bytes())?;
        out.flush()?;
        anyhow::Ok(())
    })?;
    let tail = stream.finish()?;
    writeln!(out, "{tail}")?;
    out.flush()?;
    let secs = t0.elapsed().as_secs_f64();
    let n = generation.tokens.len();
    eprintln!(
        "{n} tokens in {secs:.2} s ({:.1} tokens/s, window {window}, {}); stopped: {}",
        n as f64 / secs.max(1e-9),
        if config.temperature == 0.0 {
            "greedy".to_string()
        } else {
            format!(
                "temperature {} top-p {} seed {}",
                config.temperature, config.top_p, a.seed
            )
        },
        match generation.stop {
            StopReason::MaxTokens => "max tokens",
            StopReason::StopToken => "end of sequence",
        }
    );
    Ok(())
}

/// The tokenizer named by `spec`, else the model directory's (or the checkpoint root's)
/// `tokenizer.json`, else the byte-level one.
fn load_tokenizer(
    spec: Option<&str>,
    model_dir: &std::path::Path,
    given: &std::path::Path,
) -> Result<TextTokenizer> {
    if let Some(spec) = spec {
        return Ok(TextTokenizer::load(spec)?);
    }
    for dir in [model_dir, given] {
        let file = dir.join("tokenizer.json");
        if file.is_file() {
            return Ok(TextTokenizer::from_file(&file)?);
        }
    }
    Ok(TextTokenizer::byte())
}

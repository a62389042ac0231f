//! `llc-train sample`: generate text from a checkpoint with the KV-cache decoder (the
//! prefill and decode-step graphs compiled for this CPU, or on the interpreter), for one
//! prompt (streamed as it is drawn) or a file of prompts, in batches.

use super::decoder::{DecodeBackend, DecoderShape, build_decoder};
use super::model_dir::load_model_dir;
use crate::fsutil::write_atomic;
use anyhow::{Context, Result, bail};
use clap::Args;
use llc_trainer::data::{TextTokenizer, check_vocab};
use llc_trainer::generate::{
    BatchOptions, Completion, Sampler, SamplingConfig, TextStream, generate_batch,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Generate text from a checkpoint (or a Hugging Face Llama directory).
///
/// Decoding keeps a KV cache: a prefill graph runs the prompts (right-padded to the
/// longest), then a decode-step graph feeds one token per sequence at its own position.
/// Both are built from the checkpoint's config and, with the default backend, compiled
/// for this CPU. A prompt plus completion must fit the model's context (max_seq_len);
/// generation stops there ("context full").
///
/// Each prompt is encoded after a BOS token (as `data prepare` starts every document)
/// unless --no-bos is given. A completion stops after --max-tokens tokens or at the
/// tokenizer's EOS. Completion `i` (prompts in order, --num-samples each) draws with seed
/// `--seed + i`, so the same seed gives the same text at any --batch.
#[derive(Args, Debug)]
pub struct SampleArgs {
    /// A checkpoint written by `llc-train` (a `step_*` directory, or a root whose latest
    /// checkpoint is used) or a Hugging Face Llama directory.
    #[arg(long, value_name = "DIR")]
    pub checkpoint: PathBuf,
    /// Text to continue (ignored with --prompts).
    #[arg(long, default_value = "")]
    pub prompt: String,
    /// Prompts, one per line: a JSON object with a "prompt" string (JSONL), or the text
    /// itself.
    #[arg(long, value_name = "FILE")]
    pub prompts: Option<PathBuf>,
    /// Completions per prompt.
    #[arg(long, default_value_t = 1)]
    pub num_samples: usize,
    /// Sequences decoded at once.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Write one JSON object per completion here: {"prompt", "completion", "tokens",
    /// "logprobs"} (the file appears whole or not at all).
    #[arg(long, value_name = "OUT")]
    pub jsonl: Option<PathBuf>,
    /// New tokens to generate at most.
    #[arg(long, default_value_t = 200)]
    pub max_tokens: usize,
    /// Softmax temperature; 0 picks the most likely token every time (greedy).
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f64,
    /// Sample only from the smallest set of tokens whose probabilities reach this (0, 1].
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f64,
    /// Sample only from the k most likely tokens (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
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
    /// Where the decode graphs run.
    #[arg(long, value_enum, default_value_t = DecodeBackend::Auto)]
    pub backend: DecodeBackend,
}

/// One prompt as given and as token ids.
struct Prompt {
    text: String,
    ids: Vec<u32>,
}

/// Runs the command.
pub fn run(a: SampleArgs) -> Result<()> {
    let config = SamplingConfig {
        temperature: a.temperature,
        top_p: a.top_p,
        top_k: a.top_k,
    };
    Sampler::new(config, a.seed)?;
    if a.batch == 0 {
        bail!("--batch must be at least 1");
    }
    if a.num_samples == 0 {
        bail!("--num-samples must be at least 1");
    }
    let model = load_model_dir(&a.checkpoint)?;
    let tokenizer = load_tokenizer(a.tokenizer.as_deref(), &model.dir, &a.checkpoint)?;
    check_vocab(&tokenizer, model.cfg.vocab_size)
        .with_context(|| format!("tokenizer {}", tokenizer.describe()))?;

    let texts = match &a.prompts {
        Some(file) => read_prompts(file)?,
        None => vec![(a.prompt.clone(), PathBuf::from("--prompt"), 1)],
    };
    let ctx = model.cfg.max_seq_len;
    let mut prompts = Vec::with_capacity(texts.len());
    for (text, file, line) in texts {
        let place = if a.prompts.is_some() {
            format!("{}:{line}", file.display())
        } else {
            "--prompt".to_string()
        };
        let mut ids = Vec::new();
        if !a.no_bos {
            ids.push(tokenizer.bos_id());
        }
        let encoded = tokenizer.encode(text.as_bytes()).map_err(|e| {
            anyhow::anyhow!("cannot encode the prompt: {}", e.at(&file, line as u64))
        })?;
        ids.extend(encoded);
        if ids.is_empty() {
            bail!("the prompt at {place} is empty and --no-bos leaves no token to start from");
        }
        if ids.len() > ctx {
            bail!(
                "the prompt at {place} has {} tokens; the model's context (max_seq_len) is {ctx}",
                ids.len()
            );
        }
        prompts.push(Prompt { text, ids });
    }
    // Completion i continues prompt i / num_samples.
    let jobs: Vec<usize> = (0..prompts.len())
        .flat_map(|p| std::iter::repeat_n(p, a.num_samples))
        .collect();
    let longest = prompts.iter().map(|p| p.ids.len()).max().unwrap_or(1);
    let shape = DecoderShape {
        batch: a.batch.min(jobs.len()),
        prompt_len: longest,
        cache_len: ctx.min(longest.saturating_add(a.max_tokens)).max(longest),
    };
    let t_build = Instant::now();
    let mut decoder = build_decoder(&model.cfg, &model.weights, shape, a.backend)?;
    let build_secs = t_build.elapsed().as_secs_f64();

    let opts = BatchOptions {
        max_tokens: a.max_tokens,
        stop_token: Some(tokenizer.eos_id()),
        pad_token: tokenizer.eos_id(),
        candidates: tokenizer.vocab_size(),
    };
    let stream_one = jobs.len() == 1 && a.jsonl.is_none();
    let mut stdout = std::io::stdout().lock();
    let mut stream = TextStream::new(&tokenizer);
    if stream_one {
        stdout.write_all(prompts[0].text.as_bytes())?;
        stdout.flush()?;
    }
    let t0 = Instant::now();
    let mut completions: Vec<Completion> = Vec::with_capacity(jobs.len());
    for (chunk_no, chunk) in jobs.chunks(shape.batch).enumerate() {
        let first = chunk_no * shape.batch;
        let ids: Vec<Vec<u32>> = chunk.iter().map(|&p| prompts[p].ids.clone()).collect();
        let mut samplers = (0..chunk.len())
            .map(|i| Sampler::new(config, a.seed.wrapping_add((first + i) as u64)))
            .collect::<Result<Vec<_>, _>>()?;
        let done = generate_batch(
            decoder.model.as_mut(),
            &ids,
            &opts,
            &mut samplers,
            |_, id| {
                if stream_one {
                    let piece = stream.push(id)?;
                    stdout.write_all(piece.as_bytes())?;
                    stdout.flush()?;
                }
                anyhow::Ok(())
            },
        )?;
        completions.extend(done);
    }
    let secs = t0.elapsed().as_secs_f64();
    if stream_one {
        let tail = stream.finish()?;
        writeln!(stdout, "{tail}")?;
    } else if a.jsonl.is_none() {
        for (i, (c, &p)) in completions.iter().zip(&jobs).enumerate() {
            let text = tokenizer.decode(&c.tokens)?;
            writeln!(stdout, "--- completion {i} (prompt {p}) ---")?;
            writeln!(stdout, "{}{text}", prompts[p].text)?;
        }
    }
    stdout.flush()?;
    if let Some(out) = &a.jsonl {
        let mut text = String::new();
        for (c, &p) in completions.iter().zip(&jobs) {
            let line = serde_json::json!({
                "prompt": prompts[p].text,
                "completion": tokenizer.decode(&c.tokens)?,
                "tokens": c.tokens,
                "logprobs": c.logprobs,
            });
            text.push_str(&line.to_string());
            text.push('\n');
        }
        write_atomic(out, text.as_bytes())?;
    }
    let n: usize = completions.iter().map(|c| c.tokens.len()).sum();
    let mut stops: Vec<&str> = completions.iter().map(|c| c.stop.describe()).collect();
    stops.dedup();
    eprintln!(
        "{:.1} tokens/s ({n} tokens in {secs:.2} s; {} completions, batch {}, cache {}, {}; \
         decoder built in {build_secs:.2} s, {}); stopped: {}",
        n as f64 / secs.max(1e-9),
        completions.len(),
        shape.batch,
        shape.cache_len,
        if config.temperature == 0.0 {
            "greedy".to_string()
        } else {
            format!(
                "temperature {} top-p {} top-k {} seed {}",
                config.temperature, config.top_p, config.top_k, a.seed
            )
        },
        decoder.describe,
        stops.join(", ")
    );
    Ok(())
}

/// The prompts of `file` with their line numbers: a JSON object's "prompt", or the line
/// itself. Blank lines are skipped.
pub(crate) fn read_prompts(file: &Path) -> Result<Vec<(String, PathBuf, usize)>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the prompts file {}", file.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let place = format!("{}:{}", file.display(), i + 1);
        if line.trim().is_empty() {
            continue;
        }
        if line.trim_start().starts_with('{') {
            let v: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| anyhow::anyhow!("{place}:{}: invalid JSON: {e}", e.column()))?;
            let prompt = v
                .get("prompt")
                .and_then(|p| p.as_str())
                .with_context(|| format!("{place}: no \"prompt\" string in the object"))?;
            out.push((prompt.to_string(), file.to_path_buf(), i + 1));
        } else {
            out.push((line.to_string(), file.to_path_buf(), i + 1));
        }
    }
    if out.is_empty() {
        bail!("the prompts file {} holds no prompt", file.display());
    }
    Ok(out)
}

/// The tokenizer named by `spec`, else the model directory's (or the checkpoint root's)
/// `tokenizer.json`, else the byte-level one.
pub(crate) fn load_tokenizer(
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

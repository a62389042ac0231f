//! `llc-train rejection-sample`: one round of Llama 2's rejection sampling (§3.2.3). K
//! completions per prompt from the policy (batched KV-cache decoding), each scored by the
//! reward model; the best of each prompt is written as SFT data (`{"prompt", "answer"}`,
//! what `data sft` reads for `train --sft`), and the reward distribution is reported.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use llc_models::Head;
use llc_trainer::data::{TextTokenizer, check_vocab};
use llc_trainer::generate::{BatchOptions, Sampler, SamplingConfig};
use llc_trainer::reward::{RewardScorer, rejection_stats, rewards_function, sample_and_score};

use super::decoder::{DecodeBackend, DecoderShape, build_decoder, forward_model};
use super::model_dir::load_model_dir_as;
use super::sample::{load_tokenizer, read_prompts};
use crate::fsutil::write_atomic;

/// `llc-train rejection-sample`.
#[derive(clap::Args, Debug)]
pub struct RejectionArgs {
    /// The policy to sample from (a causal LM: checkpoint or Hugging Face directory).
    #[arg(long, value_name = "DIR")]
    pub policy: PathBuf,
    /// The reward model that scores the samples (`rm train`'s checkpoint).
    #[arg(long, value_name = "DIR")]
    pub rm: PathBuf,
    /// Prompts: JSONL objects with a "prompt", or one prompt per line.
    #[arg(long, value_name = "FILE")]
    pub prompts: PathBuf,
    /// Completions drawn per prompt.
    #[arg(short = 'k', long, default_value_t = 4)]
    pub k: usize,
    /// Where to write the best completion of each prompt as `{"prompt", "answer",
    /// "reward"}` lines (SFT data).
    #[arg(short, long, value_name = "FILE")]
    pub out: PathBuf,
    /// Also write every draw as `{"prompt", "completion", "reward", "best"}` lines.
    #[arg(long, value_name = "FILE")]
    pub all: Option<PathBuf>,
    /// New tokens per completion at most.
    #[arg(long, default_value_t = 64)]
    pub max_tokens: usize,
    /// Sampling temperature (the paper samples at T ≈ 1 for diversity).
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    /// Nucleus (top-p) sampling threshold (1 disables).
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f64,
    /// Sequences decoded at once.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Seed of completion `j` of prompt `i` is `seed + i*k + j`.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Tokenizer (default: the policy's, else bytes).
    #[arg(long)]
    pub tokenizer: Option<String>,
    /// Where the policy's decode graphs and the reward model's graph run.
    #[arg(long, value_enum, default_value_t = DecodeBackend::Auto)]
    pub backend: DecodeBackend,
}

/// Each prompt as the policy sees it (`BOS prompt`), refused when longer than `limit`
/// tokens (`what` has that context, for the message), with its file and line.
pub(crate) fn encode_prompts(
    tokenizer: &TextTokenizer,
    texts: &[(String, PathBuf, usize)],
    limit: usize,
    what: &str,
) -> Result<Vec<Vec<u32>>> {
    let mut prompts = Vec::with_capacity(texts.len());
    for (text, file, line) in texts {
        let mut ids = vec![tokenizer.bos_id()];
        ids.extend(tokenizer.encode(text.as_bytes()).map_err(|e| {
            anyhow::anyhow!("cannot encode the prompt: {}", e.at(file, *line as u64))
        })?);
        if ids.len() > limit {
            bail!(
                "the prompt at {}:{line} has {} tokens; {what} leaves room for {limit} prompt tokens",
                file.display(),
                ids.len()
            );
        }
        prompts.push(ids);
    }
    Ok(prompts)
}

/// Runs one round.
pub fn run(a: RejectionArgs) -> Result<()> {
    if a.k == 0 || a.batch == 0 {
        bail!("-k and --batch must be at least 1");
    }
    let sampling = SamplingConfig {
        temperature: a.temperature,
        top_p: a.top_p,
        top_k: 0,
    };
    Sampler::new(sampling, a.seed)?;
    let policy = load_model_dir_as(&a.policy, Head::CausalLm)
        .with_context(|| format!("--policy {}", a.policy.display()))?;
    let rm = load_model_dir_as(&a.rm, Head::Score)
        .with_context(|| format!("--rm {}", a.rm.display()))?;
    let tokenizer = load_tokenizer(a.tokenizer.as_deref(), &policy.dir, &a.policy)?;
    check_vocab(&tokenizer, policy.cfg.vocab_size)
        .with_context(|| format!("tokenizer {}", tokenizer.describe()))?;
    check_vocab(&tokenizer, rm.cfg.vocab_size)
        .with_context(|| format!("tokenizer {} for the reward model", tokenizer.describe()))?;
    let texts = read_prompts(&a.prompts)?;
    let ctx = policy.cfg.max_seq_len.min(rm.cfg.max_seq_len);
    // Room for at least one token and the closing EOS the reward is read at.
    let prompts = encode_prompts(
        &tokenizer,
        &texts,
        ctx - 2,
        "the context of the policy and reward model",
    )?;
    let longest = prompts.iter().map(Vec::len).max().unwrap_or(1);
    // Every scored sequence (prompt, completion, EOS) fits the reward model's context.
    let cache_len = (longest + a.max_tokens).min(ctx - 1);
    let shape = DecoderShape {
        batch: a.batch.min(prompts.len() * a.k),
        prompt_len: longest,
        cache_len,
    };
    let mut decoder = build_decoder(&policy.cfg, &policy.weights, shape, a.backend)?;
    let scratch = tempfile::Builder::new()
        .prefix("llc-rewards-")
        .tempdir()
        .context("cannot create a scratch directory for the reward model's graph")?;
    let mut scorer = RewardScorer::with_model(
        forward_model(
            rewards_function(&rm.cfg, a.batch, cache_len + 1)?,
            &rm.weights,
            a.backend.compiled(),
            &scratch.path().join("rewards"),
        )?,
        a.batch,
        cache_len + 1,
    );
    let opts = BatchOptions {
        max_tokens: a.max_tokens,
        stop_token: Some(tokenizer.eos_id()),
        pad_token: tokenizer.eos_id(),
        candidates: tokenizer.vocab_size(),
    };
    let t0 = std::time::Instant::now();
    let samples = sample_and_score(
        decoder.model.as_mut(),
        &mut scorer,
        &prompts,
        a.k,
        &opts,
        sampling,
        a.seed,
        tokenizer.eos_id(),
    )?;
    let secs = t0.elapsed().as_secs_f64();
    let mut best_lines = String::new();
    let mut all_lines = String::new();
    for ((text, _, _), s) in texts.iter().zip(&samples) {
        let best = s.best();
        for (j, c) in s.completions.iter().enumerate() {
            let completion = tokenizer.decode(&c.tokens)?;
            if j == best {
                let line = serde_json::json!({"prompt": text, "answer": completion, "reward": s.rewards[j]});
                best_lines.push_str(&line.to_string());
                best_lines.push('\n');
            }
            let line = serde_json::json!({
                "prompt": text, "completion": completion, "reward": s.rewards[j], "best": j == best,
            });
            all_lines.push_str(&line.to_string());
            all_lines.push('\n');
        }
    }
    write_atomic(&a.out, best_lines.as_bytes())?;
    if let Some(all) = &a.all {
        write_atomic(all, all_lines.as_bytes())?;
    }
    let st = rejection_stats(&samples);
    let tokens: usize = samples
        .iter()
        .flat_map(|s| s.completions.iter().map(|c| c.tokens.len()))
        .sum();
    println!(
        "rejection sampling: {} prompts x {} draws ({tokens} tokens in {secs:.1} s, {:.0} tokens/s; decoder {}, reward model {})",
        samples.len(),
        a.k,
        tokens as f64 / secs.max(1e-9),
        decoder.describe,
        scorer.describe()
    );
    let curve: Vec<String> = st
        .best_of_n
        .iter()
        .map(|(n, r)| format!("best of {n}: {r:.4}"))
        .collect();
    println!(
        "reward: mean {:.4}, best-of-{} mean {:.4}, gain {:+.4} ({})",
        st.mean,
        a.k,
        st.best_of_k_mean,
        st.gain,
        curve.join(", ")
    );
    println!(
        "kept the best of each prompt as SFT data in {}",
        a.out.display()
    );
    Ok(())
}

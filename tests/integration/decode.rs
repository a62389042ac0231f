//! KV-cache decoding against the full-window forward: greedy tokens from the compiled
//! prefill + decode-step plans (and from the same graphs on the interpreter) are exactly
//! the argmax of one full-window forward over the whole sequence on the interpreter, and
//! the logits agree at every position, for llama2-15m's shape and a grouped-query config;
//! ragged batches decode each sequence as it decodes alone; bad prompts are errors.

use crate::common::*;
use llc_codegen::{ArtifactOptions, Target, build_artifact};
use llc_ir::Function;
use llc_models::{
    BuildOptions, ForwardOutput, LlamaConfig, build_decode_step, build_forward, build_prefill,
};
use llc_passes::egraph::{EGraphOptions, optimize};
use llc_runtime::Precision;
use llc_runtime::interp::run_function;
use llc_runtime::plan_exec::PlanExecutor;
use llc_runtime::tensor::Tensor;
use llc_trainer::checkpoint::NamedTensor;
use llc_trainer::generate::{
    BatchOptions, Completion, GenerateError, InterpKv, KvModel, PlanKv, Sampler, SamplingConfig,
    StopReason, bind_params, generate_batch,
};

/// The decode functions, fused by the forward e-graph as `sample` builds them.
fn decode_functions(cfg: &LlamaConfig, b: usize, p: usize, s: usize) -> (Function, Function) {
    let fuse = |m: llc_ir::Module| {
        optimize(&m.functions[0], &EGraphOptions::forward())
            .unwrap()
            .0
    };
    (
        fuse(build_prefill(cfg, b, p).unwrap()),
        fuse(build_decode_step(cfg, b, s).unwrap()),
    )
}

/// The compiled CPU decoder (artifacts under `dir`).
fn compiled(
    cfg: &LlamaConfig,
    w: &[NamedTensor],
    (b, p, s): (usize, usize, usize),
    dir: &std::path::Path,
) -> PlanKv {
    let (prefill, step) = decode_functions(cfg, b, p, s);
    let opts = ArtifactOptions {
        target: Target::CpuNative,
        ..ArtifactOptions::default()
    };
    let load = |f: &Function| {
        let out = dir.join(&f.name);
        build_artifact(f, &opts, &out).unwrap();
        let exec = PlanExecutor::load(&out).unwrap();
        assert!(exec.is_native(), "the CPU artifact runs as native code");
        exec
    };
    let (pe, se) = (load(&prefill), load(&step));
    // The cache is written where it lives: no step copies an update back.
    assert!(
        !se.plan()
            .steps
            .iter()
            .any(|s| matches!(s, llc_ir::plan::Step::Copy { .. })),
        "the decode step updates its cache in place"
    );
    PlanKv::new(cfg, &prefill, &step, pe, se, w).unwrap()
}

fn interpreted(cfg: &LlamaConfig, w: &[NamedTensor], (b, p, s): (usize, usize, usize)) -> InterpKv {
    let (prefill, step) = decode_functions(cfg, b, p, s);
    InterpKv::new(cfg, prefill, step, w, Precision::F32).unwrap()
}

/// Logits `[n, V]` of one full-window forward (unfused, on the interpreter) over `ids`.
fn full_window_logits(cfg: &LlamaConfig, w: &[NamedTensor], ids: &[u32]) -> Vec<f32> {
    let opts = BuildOptions {
        output: ForwardOutput::Logits,
        ..BuildOptions::new(1, ids.len())
    };
    let f = build_forward(cfg, &opts).unwrap().functions.remove(0);
    let args: Vec<Tensor> = bind_params(&f, w, Precision::F32)
        .unwrap()
        .into_iter()
        .map(|slot| {
            slot.unwrap_or_else(|| {
                let t: Vec<i32> = ids.iter().map(|&t| t as i32).collect();
                Tensor::from_i32(vec![1, ids.len()], t).unwrap()
            })
        })
        .collect();
    run_function(&f, &args, Precision::F32).unwrap()[0].to_f32_vec()
}

/// A decoder that records the logits row of sequence 0 it returned at each position.
struct Recording<'a> {
    inner: &'a mut dyn KvModel,
    prompt_len: usize,
    rows: Vec<Vec<f32>>,
}

impl KvModel for Recording<'_> {
    fn batch(&self) -> usize {
        self.inner.batch()
    }
    fn prompt_len(&self) -> usize {
        self.inner.prompt_len()
    }
    fn cache_len(&self) -> usize {
        self.inner.cache_len()
    }
    fn vocab(&self) -> usize {
        self.inner.vocab()
    }
    fn prefill(&mut self, tokens: &[i32]) -> Result<Vec<f32>, GenerateError> {
        let out = self.inner.prefill(tokens)?;
        let v = self.vocab();
        for pos in 0..self.prompt_len {
            self.rows.push(out[pos * v..(pos + 1) * v].to_vec());
        }
        Ok(out)
    }
    fn set_weights(&mut self, weights: &[NamedTensor]) -> Result<(), GenerateError> {
        self.inner.set_weights(weights)
    }
    fn step(&mut self, tokens: &[i32], positions: &[i32]) -> Result<Vec<f32>, GenerateError> {
        let out = self.inner.step(tokens, positions)?;
        self.rows.push(out[..self.vocab()].to_vec());
        Ok(out)
    }
}

fn greedy(model: &mut dyn KvModel, prompts: &[Vec<u32>], max_tokens: usize) -> Vec<Completion> {
    let opts = BatchOptions {
        max_tokens,
        stop_token: None,
        pad_token: 0,
        candidates: model.vocab(),
    };
    let mut samplers: Vec<Sampler> = prompts
        .iter()
        .map(|_| Sampler::new(SamplingConfig::greedy(), 0).unwrap())
        .collect();
    generate_batch(model, prompts, &opts, &mut samplers, |_, _| {
        Ok::<(), GenerateError>(())
    })
    .unwrap()
}

/// Greedy decoding of `n` tokens after `prompt` equals the full-window argmax at every
/// position; returns (worst logit difference, smallest top-1 margin of the reference).
fn check_against_full_window(
    cfg: &LlamaConfig,
    w: &[NamedTensor],
    model: &mut dyn KvModel,
    prompt: &[u32],
    n: usize,
) -> (f64, f64) {
    let mut rec = Recording {
        inner: model,
        prompt_len: prompt.len(),
        rows: Vec::new(),
    };
    let c = greedy(&mut rec, &[prompt.to_vec()], n).remove(0);
    assert_eq!(c.stop, StopReason::MaxTokens);
    assert_eq!(c.tokens.len(), n);
    let mut seq = prompt.to_vec();
    seq.extend(&c.tokens);
    // The last token is never fed back, so the window ends one before it.
    let window = &seq[..seq.len() - 1];
    let reference = full_window_logits(cfg, w, window);
    let v = cfg.vocab_size;
    assert_eq!(rec.rows.len(), window.len());
    let (mut worst, mut margin) = (0.0f64, f64::INFINITY);
    for (pos, got) in rec.rows.iter().enumerate() {
        let want = &reference[pos * v..(pos + 1) * v];
        let scale = want.iter().fold(1.0f64, |m, &x| m.max(x.abs() as f64));
        for (a, b) in got.iter().zip(want) {
            worst = worst.max((*a as f64 - *b as f64).abs() / scale);
        }
        if pos + 1 >= prompt.len() {
            let next = seq[pos + 1];
            let best = llc_trainer::generate::argmax(want);
            assert_eq!(
                next, best,
                "position {pos}: decoded {next}, full window {best}"
            );
            let mut sorted: Vec<f32> = want.to_vec();
            sorted.sort_by(|a, b| b.total_cmp(a));
            margin = margin.min((sorted[0] - sorted[1]) as f64);
        }
    }
    assert!(
        worst < 1e-5,
        "logits differ by {worst:e} (relative to the row's max)"
    );
    (worst, margin)
}

fn scaled_weights(cfg: &LlamaConfig, seed: u64, gain: f32) -> Vec<NamedTensor> {
    // `gain` scales the matrices (1.0: the tests' usual weights); the smallest argmax
    // margin is printed with each check, to show it stands far above the logits' rounding.
    random_weights(cfg, seed)
        .into_iter()
        .map(|mut t| {
            if !t.name.ends_with("norm.weight") {
                t.data.iter_mut().for_each(|x| *x *= gain);
            }
            t
        })
        .collect()
}

fn gqa_config() -> LlamaConfig {
    LlamaConfig {
        dim: 64,
        n_layers: 2,
        n_heads: 8,
        n_kv_heads: 2,
        ffn_dim: 160,
        vocab_size: 258,
        max_seq_len: 256,
        norm_eps: 1e-5,
        rope_theta: 10000.0,
        tie_embeddings: false,
    }
}

#[test]
fn compiled_greedy_decoding_equals_the_full_window_forward_on_llama2_15m() {
    let cfg = LlamaConfig::preset("llama2-15m").unwrap().with_vocab(258);
    let w = scaled_weights(&cfg, 11, 1.0);
    let prompt = random_ids(7, 256, 3);
    let dir = tempfile::tempdir().unwrap();
    let mut model = compiled(&cfg, &w, (1, prompt.len(), 256), dir.path());
    let (worst, margin) = check_against_full_window(&cfg, &w, &mut model, &prompt, 200);
    eprintln!(
        "llama2-15m: 200 greedy tokens equal; worst logit diff {worst:.2e}, min margin {margin:.2e}"
    );
}

#[test]
fn greedy_decoding_equals_the_full_window_forward_with_grouped_query_attention() {
    let cfg = gqa_config();
    let w = scaled_weights(&cfg, 5, 2.0);
    let prompt = random_ids(5, 256, 9);
    let dir = tempfile::tempdir().unwrap();
    let mut model = compiled(&cfg, &w, (1, prompt.len(), 205), dir.path());
    let (worst, margin) = check_against_full_window(&cfg, &w, &mut model, &prompt, 200);
    eprintln!("GQA 8/2 compiled: worst {worst:.2e}, min margin {margin:.2e}");
    // The same graphs on the interpreter (the IR's own semantics).
    let mut interp = interpreted(&cfg, &w, (1, prompt.len(), 205));
    let (worst, _) = check_against_full_window(&cfg, &w, &mut interp, &prompt, 200);
    eprintln!("GQA 8/2 interpreter: worst {worst:.2e}");
}

#[test]
fn a_ragged_batch_decodes_each_sequence_as_it_decodes_alone() {
    let cfg = gqa_config();
    let w = scaled_weights(&cfg, 8, 2.0);
    let prompts = vec![
        random_ids(3, 256, 1),
        random_ids(9, 256, 2),
        random_ids(1, 256, 3),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut batched = compiled(&cfg, &w, (4, 9, 9 + 40), dir.path());
    let together = greedy(&mut batched, &prompts, 40);
    for (i, prompt) in prompts.iter().enumerate() {
        let alone_dir = tempfile::tempdir().unwrap();
        let mut alone = compiled(
            &cfg,
            &w,
            (1, prompt.len(), prompt.len() + 40),
            alone_dir.path(),
        );
        let one = greedy(&mut alone, std::slice::from_ref(prompt), 40).remove(0);
        assert_eq!(together[i].tokens, one.tokens, "sequence {i}");
        for (a, b) in together[i].logprobs.iter().zip(&one.logprobs) {
            assert!((a - b).abs() < 1e-4, "sequence {i}: logprob {a} vs {b}");
        }
    }
}

#[test]
fn the_cache_length_stops_a_sequence_and_bad_prompts_are_errors() {
    let cfg = gqa_config();
    let w = scaled_weights(&cfg, 8, 2.0);
    let mut model = interpreted(&cfg, &w, (2, 4, 6));
    // Prompt of 4 in a cache of 6: positions 4 and 5 can be fed, so 3 tokens come out.
    let c = greedy(&mut model, &[random_ids(4, 256, 1)], 50).remove(0);
    assert_eq!((c.tokens.len(), c.stop), (3, StopReason::ContextFull));
    let opts = BatchOptions {
        max_tokens: 4,
        stop_token: None,
        pad_token: 0,
        candidates: 258,
    };
    let mut one = vec![Sampler::new(SamplingConfig::greedy(), 0).unwrap()];
    let mut run = |prompts: &[Vec<u32>], samplers: &mut [Sampler]| {
        generate_batch(&mut model, prompts, &opts, samplers, |_, _| {
            Ok::<(), GenerateError>(())
        })
        .unwrap_err()
        .to_string()
    };
    assert!(run(&[vec![]], &mut one).contains("empty"));
    let e = run(&[vec![1; 5]], &mut one);
    assert!(e.contains("5 tokens") && e.contains("at most 4"), "{e}");
    let e = run(&[vec![1, 999]], &mut one);
    assert!(e.contains("999") && e.contains("0..258"), "{e}");
    let e = run(&[vec![1], vec![2], vec![3]], &mut one);
    assert!(e.contains("3 prompts") && e.contains("batch 2"), "{e}");
}

#[test]
fn sample_writes_jsonl_and_refuses_prompts_longer_than_the_context() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(258);
    let w = random_weights(&cfg, 3);
    save_checkpoint(dir.path(), &cfg, &w, 7);
    let prompts = dir.path().join("prompts.jsonl");
    std::fs::write(
        &prompts,
        "{\"prompt\": \"ab\"}\nhello\n\n{\"prompt\": \"\"}\n",
    )
    .unwrap();
    let out = dir.path().join("out.jsonl");
    let log = llc_train_log(&[
        "sample",
        "--checkpoint",
        s(dir.path()),
        "--prompts",
        s(&prompts),
        "--num-samples",
        "2",
        "--batch",
        "4",
        "--max-tokens",
        "5",
        "--jsonl",
        s(&out),
        "--seed",
        "3",
    ]);
    assert!(log.contains(" tokens/s"), "{log}");
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6, "3 prompts x 2 samples");
    assert_eq!(lines[0]["prompt"], "ab");
    assert_eq!(lines[2]["prompt"], "hello");
    for l in &lines {
        let (t, lp) = (
            l["tokens"].as_array().unwrap(),
            l["logprobs"].as_array().unwrap(),
        );
        assert_eq!(t.len(), lp.len());
        assert!(lp.iter().all(|x| x.as_f64().unwrap() <= 0.0));
    }
    // The same seed at batch 1 gives the same completions.
    let out1 = dir.path().join("out1.jsonl");
    llc_train_ok(&[
        "sample",
        "--checkpoint",
        s(dir.path()),
        "--prompts",
        s(&prompts),
        "--num-samples",
        "2",
        "--batch",
        "1",
        "--max-tokens",
        "5",
        "--jsonl",
        s(&out1),
        "--seed",
        "3",
    ]);
    let tokens = |t: &str| -> Vec<serde_json::Value> {
        t.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["tokens"].clone())
            .collect()
    };
    assert_eq!(
        tokens(&text),
        tokens(&std::fs::read_to_string(&out1).unwrap())
    );

    let long = "x".repeat(cfg.max_seq_len + 5);
    let bad = dir.path().join("bad.jsonl");
    let e = llc_train_err(&[
        "sample",
        "--checkpoint",
        s(dir.path()),
        "--prompt",
        &long,
        "--jsonl",
        s(&bad),
    ]);
    assert!(e.contains("70 tokens") && e.contains("64"), "{e}");
    assert!(!bad.exists(), "no partial output");
    std::fs::write(&prompts, "{\"prompt\": 3}\n").unwrap();
    let e = llc_train_err(&[
        "sample",
        "--checkpoint",
        s(dir.path()),
        "--prompts",
        s(&prompts),
    ]);
    assert!(
        e.contains("prompts.jsonl:1") && e.contains("\"prompt\""),
        "{e}"
    );
}

/// The prefill and decode-step artifacts of the demo model (llama2-15m, vocab 258; prompt
/// 16, cache 144 as `bench decode` builds them) compile to PTX and every entry assembles
/// with ptxas for sm_80 and sm_90 without spills (skipped, saying so, without ptxas).
#[test]
fn decode_artifacts_assemble_with_ptxas_for_sm_80_and_sm_90() {
    use llc_codegen::ptxas::{INSTALL_HINT, assemble, find_ptxas};
    let cfg = LlamaConfig::preset("llama2-15m").unwrap().with_vocab(258);
    let (prefill, step) = decode_functions(&cfg, 1, 16, 144);
    let tmp = tempfile::tempdir().unwrap();
    let ptxas = find_ptxas();
    if ptxas.is_none() {
        eprintln!("skipping the ptxas step (PTX is still generated): {INSTALL_HINT}");
    }
    for f in [&prefill, &step] {
        for target in Target::GPUS {
            let opts = ArtifactOptions {
                target,
                ..ArtifactOptions::default()
            };
            let dir = tmp.path().join(format!("{}-{target}", f.name));
            let report = build_artifact(f, &opts, &dir).unwrap();
            let ptx = std::fs::read_to_string(dir.join("kernels.ptx")).unwrap();
            assert_eq!(report.ptx_entries, ptx.matches(".entry ").count());
            let Some(ptxas) = &ptxas else { continue };
            let res = assemble(ptxas, &ptx, target).unwrap();
            assert_eq!(
                res.len(),
                report.ptx_entries,
                "@{} {target}: every entry assembled",
                f.name
            );
            for r in &res {
                assert_eq!(
                    (r.spill_store_bytes, r.spill_load_bytes),
                    (0, 0),
                    "@{} {target}: {} spills",
                    f.name,
                    r.name
                );
            }
            eprintln!(
                "@{} {target}: {} entries assembled by ptxas",
                f.name,
                res.len()
            );
        }
    }
}

/// `sample` and `bench decode` on a checkpoint whose config.json does not match its
/// tensors, on a non-causal-LM config and on one without an LM head: clear errors naming
/// the cause, never a panic.
#[test]
fn sample_and_bench_decode_refuse_mismatched_and_non_causal_lm_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(258);
    let w = random_weights(&cfg, 4);
    let both = |model: &std::path::Path, want: &[&str]| {
        let runs = [
            vec!["sample", "--checkpoint", s(model), "--prompt", "ab"],
            vec![
                "bench",
                "decode",
                "--checkpoint",
                s(model),
                "--no-reference",
                "--batch",
                "1",
                "--prompt-len",
                "2",
                "--tokens",
                "2",
            ],
        ];
        for args in runs {
            let e = llc_train_err(&args);
            assert!(!e.contains("panicked"), "{args:?}: {e}");
            for w in want {
                assert!(e.contains(w), "{args:?}: expected {w:?} in: {e}");
            }
        }
    };
    // A checkpoint whose config.json says another FFN width than its tensors have.
    let ckpt = save_checkpoint(&dir.path().join("mismatch"), &cfg, &w, 3);
    let other = LlamaConfig {
        ffn_dim: 40,
        ..cfg.clone()
    };
    std::fs::write(ckpt.join("config.json"), other.to_hf_config_json()).unwrap();
    both(
        &ckpt,
        &[
            "do not match its config.json",
            "feed_forward.w1.weight",
            "[48, 32]",
            "[40, 32]",
        ],
    );
    // A Hugging Face directory of a sequence classifier.
    let cls = dir.path().join("classifier");
    write_hf_dir(&cls, &cfg, &w);
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cls.join("config.json")).unwrap()).unwrap();
    json["architectures"] = serde_json::json!(["LlamaForSequenceClassification"]);
    std::fs::write(cls.join("config.json"), json.to_string()).unwrap();
    both(
        &cls,
        &[
            "reward model",
            "LlamaForSequenceClassification",
            "causal language model",
        ],
    );
    // A bare LlamaModel: untied, no lm_head.weight.
    let tied = LlamaConfig {
        tie_embeddings: true,
        ..cfg.clone()
    };
    let bare = dir.path().join("bare");
    write_hf_dir(&bare, &tied, &random_weights(&tied, 4));
    let mut json: serde_json::Value = serde_json::from_str(&cfg.to_hf_config_json()).unwrap();
    json["architectures"] = serde_json::json!(["LlamaModel"]);
    std::fs::write(bare.join("config.json"), json.to_string()).unwrap();
    both(
        &bare,
        &["no LM head", "lm_head.weight", "causal language model"],
    );
}

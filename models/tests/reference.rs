//! An independent plain-Rust f64 Llama 2 forward, written from the math with naive loops
//! and the same parameter names and layout as the builder (`[out, in]` matrices, Meta's
//! interleaved RoPE pairs). It is the numeric oracle for the model graph:
//!
//! - self-tests below check it against properties that follow from the math alone
//!   (softmax rows sum to 1, causality, RoPE relative positions, GQA = duplicated MHA,
//!   uniform logits give `ln V`, masks);
//! - `graph_matches_reference_*` run the built `forward` graph through a small test-only
//!   evaluator (`support/graph_eval.rs`) and compare.
//!
//! TO ENABLE once the CPU interpreter is merged (needs `llc-runtime` as a dev-dependency of
//! llc-models): run the same comparisons through
//! `llc_runtime::interp::run_function(f, &args, Precision::F64)` instead of
//! `support::graph_eval::run`; see `compare_graph` below, the one place that evaluates.

mod support;

use llc_ir::{DType, Function};
use llc_models::{BuildOptions, ForwardOutput, LlamaConfig, build_forward, param_names};
use std::collections::HashMap;
use support::graph_eval::{self, Tensor};

// ---------------------------------------------------------------- deterministic data

/// splitmix64: a tiny deterministic generator, so the tests need no RNG crate.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Token ids `[B][T]`.
type Batch = Vec<Vec<usize>>;

/// Parameters by name, row-major.
type Weights = HashMap<String, Vec<f64>>;

/// Random weights: matrices ~ U(-1,1)/sqrt(fan_in) (large enough that every block matters),
/// embeddings ~ U(-1,1), norm weights 1 + U(-0.2, 0.2) (not all ones, so a missing weight
/// multiply is caught).
fn random_weights(cfg: &LlamaConfig, seed: u64) -> Weights {
    let mut rng = Rng(seed);
    param_names(cfg)
        .into_iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let scale = if shape.len() == 1 {
                0.0
            } else if name.starts_with("tok_embeddings") {
                1.0
            } else {
                1.0 / (shape[1] as f64).sqrt()
            };
            let data = (0..n)
                .map(|_| {
                    if shape.len() == 1 {
                        1.0 + 0.2 * rng.uniform()
                    } else {
                        scale * rng.uniform()
                    }
                })
                .collect();
            (name, data)
        })
        .collect()
}

fn random_tokens(rng: &mut Rng, batch: usize, seq: usize, vocab: usize) -> Vec<Vec<usize>> {
    (0..batch)
        .map(|_| (0..seq).map(|_| rng.below(vocab)).collect())
        .collect()
}

// ---------------------------------------------------------------- the reference model

/// `y[o] = sum_i w[o][i] x[i]` for a `[out, in]` matrix.
fn linear(w: &[f64], x: &[f64], out: usize) -> Vec<f64> {
    let inp = x.len();
    assert_eq!(w.len(), out * inp);
    (0..out)
        .map(|o| (0..inp).map(|i| w[o * inp + i] * x[i]).sum())
        .collect()
}

fn rms_norm(x: &[f64], w: &[f64], eps: f64) -> Vec<f64> {
    let ms = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
    let inv = 1.0 / (ms + eps).sqrt();
    x.iter().zip(w).map(|(v, g)| v * inv * g).collect()
}

fn softmax(x: &[f64]) -> Vec<f64> {
    let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// Rotate one head vector at position `pos`: pair `(2i, 2i+1)` turns by
/// `pos * theta^(-2i/hd)`.
fn rope(x: &mut [f64], pos: usize, theta: f64) {
    let hd = x.len();
    for i in 0..hd / 2 {
        let angle = pos as f64 * theta.powf(-((2 * i) as f64) / hd as f64);
        let (s, c) = angle.sin_cos();
        let (e, o) = (x[2 * i], x[2 * i + 1]);
        x[2 * i] = e * c - o * s;
        x[2 * i + 1] = e * s + o * c;
    }
}

fn silu(a: f64) -> f64 {
    a / (1.0 + (-a).exp())
}

/// Logits `[T][V]` of one sequence.
fn forward_sequence(cfg: &LlamaConfig, w: &Weights, tokens: &[usize]) -> Vec<Vec<f64>> {
    let (d, hd, nh, nkv) = (cfg.dim, cfg.head_dim(), cfg.n_heads, cfg.n_kv_heads);
    let group = nh / nkv;
    let t_len = tokens.len();
    let emb = &w["tok_embeddings.weight"];
    let mut x: Vec<Vec<f64>> = tokens
        .iter()
        .map(|&t| emb[t * d..(t + 1) * d].to_vec())
        .collect();
    for l in 0..cfg.n_layers {
        let p = |s: &str| &w[&format!("layers.{l}.{s}.weight")];
        // Attention.
        let mut qs = Vec::new();
        let mut ks = Vec::new();
        let mut vs = Vec::new();
        for (t, xt) in x.iter().enumerate() {
            let xn = rms_norm(xt, p("attention_norm"), cfg.norm_eps);
            let mut q = linear(p("attention.wq"), &xn, nh * hd);
            let mut k = linear(p("attention.wk"), &xn, nkv * hd);
            for h in 0..nh {
                rope(&mut q[h * hd..(h + 1) * hd], t, cfg.rope_theta);
            }
            for h in 0..nkv {
                rope(&mut k[h * hd..(h + 1) * hd], t, cfg.rope_theta);
            }
            qs.push(q);
            ks.push(k);
            vs.push(linear(p("attention.wv"), &xn, nkv * hd));
        }
        for t in 0..t_len {
            let mut ctx = vec![0.0; nh * hd];
            for h in 0..nh {
                let kvh = h / group;
                let q = &qs[t][h * hd..(h + 1) * hd];
                // Only positions s <= t take part: the causal mask by construction.
                let scores: Vec<f64> = (0..=t)
                    .map(|s| {
                        let k = &ks[s][kvh * hd..(kvh + 1) * hd];
                        q.iter().zip(k).map(|(a, b)| a * b).sum::<f64>() / (hd as f64).sqrt()
                    })
                    .collect();
                let probs = softmax(&scores);
                for (s, pr) in probs.iter().enumerate() {
                    for j in 0..hd {
                        ctx[h * hd + j] += pr * vs[s][kvh * hd + j];
                    }
                }
            }
            let o = linear(p("attention.wo"), &ctx, d);
            for j in 0..d {
                x[t][j] += o[j];
            }
        }
        // SwiGLU feed-forward.
        for xt in x.iter_mut() {
            let xn = rms_norm(xt, p("ffn_norm"), cfg.norm_eps);
            let a = linear(p("feed_forward.w1"), &xn, cfg.ffn_dim);
            let b = linear(p("feed_forward.w3"), &xn, cfg.ffn_dim);
            let hidden: Vec<f64> = a.iter().zip(&b).map(|(a, b)| silu(*a) * b).collect();
            let o = linear(p("feed_forward.w2"), &hidden, d);
            for j in 0..d {
                xt[j] += o[j];
            }
        }
    }
    let head = if cfg.tie_embeddings {
        &w["tok_embeddings.weight"]
    } else {
        &w["output.weight"]
    };
    x.iter()
        .map(|xt| {
            linear(
                head,
                &rms_norm(xt, &w["norm.weight"], cfg.norm_eps),
                cfg.vocab_size,
            )
        })
        .collect()
}

/// Logits `[B][T][V]`.
fn forward(cfg: &LlamaConfig, w: &Weights, tokens: &[Vec<usize>]) -> Vec<Vec<Vec<f64>>> {
    tokens
        .iter()
        .map(|seq| forward_sequence(cfg, w, seq))
        .collect()
}

/// `logsumexp(logits) - logits[target]`.
fn nll(logits: &[f64], target: usize) -> f64 {
    let m = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let lse = m + logits.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
    lse - logits[target]
}

/// Mean token cross-entropy; with a mask, `sum(mask * nll) / max(sum(mask), 1)`.
fn loss(
    cfg: &LlamaConfig,
    w: &Weights,
    tokens: &[Vec<usize>],
    targets: &[Vec<usize>],
    mask: Option<&[Vec<f64>]>,
) -> f64 {
    let logits = forward(cfg, w, tokens);
    let (mut total, mut count) = (0.0, 0.0);
    for (b, seq) in logits.iter().enumerate() {
        for (t, row) in seq.iter().enumerate() {
            let m = mask.map_or(1.0, |m| m[b][t]);
            total += m * nll(row, targets[b][t]);
            count += m;
        }
    }
    match mask {
        Some(_) => total / f64::max(count, 1.0),
        None => total / count,
    }
}

// ---------------------------------------------------------------- self-tests

fn tiny() -> LlamaConfig {
    LlamaConfig::preset("tiny").unwrap()
}

#[test]
fn softmax_rows_sum_to_one_and_are_stable() {
    let mut rng = Rng(1);
    for scale in [1.0, 30.0, 1e4] {
        let row: Vec<f64> = (0..17).map(|_| scale * rng.uniform()).collect();
        let p = softmax(&row);
        assert!(p.iter().all(|v| v.is_finite() && *v >= 0.0));
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12, "scale {scale}");
        let argmax = (0..row.len())
            .max_by(|&a, &b| row[a].total_cmp(&row[b]))
            .unwrap();
        let pmax = (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
        assert_eq!(argmax, pmax);
    }
    assert_eq!(softmax(&[2.0, 2.0]), vec![0.5, 0.5]);
}

#[test]
fn rms_norm_gives_unit_rms_with_unit_weight() {
    let mut rng = Rng(2);
    let x: Vec<f64> = (0..64).map(|_| 5.0 * rng.uniform()).collect();
    let y = rms_norm(&x, &vec![1.0; 64], 0.0);
    let rms = (y.iter().map(|v| v * v).sum::<f64>() / 64.0).sqrt();
    assert!((rms - 1.0).abs() < 1e-12);
    let w: Vec<f64> = (0..64).map(|i| i as f64).collect();
    let yw = rms_norm(&x, &w, 0.0);
    assert!((yw[3] - 3.0 * y[3]).abs() < 1e-12);
}

#[test]
fn rope_scores_depend_only_on_relative_position() {
    let mut rng = Rng(3);
    let q: Vec<f64> = (0..16).map(|_| rng.uniform()).collect();
    let k: Vec<f64> = (0..16).map(|_| rng.uniform()).collect();
    let score = |tq: usize, tk: usize| {
        let (mut a, mut b) = (q.clone(), k.clone());
        rope(&mut a, tq, 10000.0);
        rope(&mut b, tk, 10000.0);
        a.iter().zip(&b).map(|(x, y)| x * y).sum::<f64>()
    };
    assert!((score(5, 2) - score(12, 9)).abs() < 1e-12);
    assert!(
        (score(5, 2) - score(2, 5)).abs() > 1e-6,
        "the offset's sign matters"
    );
    // A rotation keeps the norm; position 0 is the identity.
    let mut r = q.clone();
    rope(&mut r, 7, 10000.0);
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>();
    assert!((norm(&r) - norm(&q)).abs() < 1e-12);
    let mut z = q.clone();
    rope(&mut z, 0, 10000.0);
    assert_eq!(z, q);
    // Pair 0 turns by exactly the position (freq 1) in Meta's interleaved layout.
    let mut e = vec![0.0; 16];
    e[0] = 1.0;
    rope(&mut e, 1, 10000.0);
    assert!((e[0] - 1f64.cos()).abs() < 1e-15 && (e[1] - 1f64.sin()).abs() < 1e-15);
}

#[test]
fn outputs_are_causal() {
    let cfg = tiny();
    let w = random_weights(&cfg, 4);
    let mut rng = Rng(5);
    let tokens = random_tokens(&mut rng, 1, 8, cfg.vocab_size);
    let base = forward(&cfg, &w, &tokens);
    let mut changed = tokens.clone();
    changed[0][5] = (changed[0][5] + 1) % cfg.vocab_size;
    let after = forward(&cfg, &w, &changed);
    for t in 0..5 {
        assert_eq!(base[0][t], after[0][t], "position {t} saw a future token");
    }
    for t in 5..8 {
        assert_ne!(base[0][t], after[0][t], "position {t} ignores token 5");
    }
}

#[test]
fn grouped_query_attention_equals_mha_with_duplicated_kv_heads() {
    // tiny: 4 query heads share 2 KV heads (heads 0,1 -> KV 0; heads 2,3 -> KV 1).
    let gqa = tiny();
    let w = random_weights(&gqa, 6);
    let mha = LlamaConfig {
        n_kv_heads: gqa.n_heads,
        ..gqa.clone()
    };
    let (hd, d, group) = (gqa.head_dim(), gqa.dim, gqa.kv_group());
    let mut wm = w.clone();
    for l in 0..gqa.n_layers {
        for m in ["wk", "wv"] {
            let name = format!("layers.{l}.attention.{m}.weight");
            let small = &w[&name];
            let mut big = Vec::with_capacity(gqa.n_heads * hd * d);
            for h in 0..gqa.n_heads {
                let kvh = h / group;
                big.extend_from_slice(&small[kvh * hd * d..(kvh + 1) * hd * d]);
            }
            wm.insert(name, big);
        }
    }
    let mut rng = Rng(7);
    let tokens = random_tokens(&mut rng, 2, 6, gqa.vocab_size);
    let a = forward(&gqa, &w, &tokens);
    let b = forward(&mha, &wm, &tokens);
    for (x, y) in a
        .iter()
        .flatten()
        .flatten()
        .zip(b.iter().flatten().flatten())
    {
        assert!((x - y).abs() < 1e-12);
    }
}

#[test]
fn uniform_logits_give_log_vocab() {
    let cfg = tiny();
    let mut w = random_weights(&cfg, 8);
    w.insert("output.weight".into(), vec![0.0; cfg.vocab_size * cfg.dim]);
    let mut rng = Rng(9);
    let tokens = random_tokens(&mut rng, 2, 5, cfg.vocab_size);
    let targets = random_tokens(&mut rng, 2, 5, cfg.vocab_size);
    let l = loss(&cfg, &w, &tokens, &targets, None);
    assert!((l - (cfg.vocab_size as f64).ln()).abs() < 1e-12, "{l}");
}

#[test]
fn loss_masks_select_tokens() {
    let cfg = tiny();
    let w = random_weights(&cfg, 10);
    let mut rng = Rng(11);
    let tokens = random_tokens(&mut rng, 2, 4, cfg.vocab_size);
    let targets = random_tokens(&mut rng, 2, 4, cfg.vocab_size);
    let full = loss(&cfg, &w, &tokens, &targets, None);
    let ones = vec![vec![1.0; 4]; 2];
    assert!((loss(&cfg, &w, &tokens, &targets, Some(&ones)) - full).abs() < 1e-12);
    let logits = forward(&cfg, &w, &tokens);
    let mut only = vec![vec![0.0; 4]; 2];
    only[1][2] = 1.0;
    only[0][3] = 1.0;
    let expect = (nll(&logits[1][2], targets[1][2]) + nll(&logits[0][3], targets[0][3])) / 2.0;
    assert!((loss(&cfg, &w, &tokens, &targets, Some(&only)) - expect).abs() < 1e-12);
    let none = vec![vec![0.0; 4]; 2];
    assert_eq!(loss(&cfg, &w, &tokens, &targets, Some(&none)), 0.0);
    assert!(full > 0.0);
}

// ---------------------------------------------------------------- graph vs reference

fn tensor_of_tokens(tokens: &[Vec<usize>]) -> Tensor {
    let shape = vec![tokens.len(), tokens[0].len()];
    Tensor::new(shape, tokens.iter().flatten().map(|&t| t as f64).collect())
}

/// Evaluate the forward function. The one place that runs the graph: switch it to
/// `llc_runtime::interp::run_function(f, &args, Precision::F64)` once that exists.
fn compare_graph(f: &Function, args: &HashMap<String, Tensor>) -> Tensor {
    let mut out = graph_eval::run(f, args);
    assert_eq!(out.len(), 1);
    out.remove(0)
}

struct Case {
    cfg: LlamaConfig,
    batch: usize,
    seq: usize,
    seed: u64,
}

fn args_for(case: &Case, w: &Weights, rng: &mut Rng) -> (HashMap<String, Tensor>, Batch, Batch) {
    let mut args: HashMap<String, Tensor> = param_names(&case.cfg)
        .into_iter()
        .map(|(name, shape)| {
            let data = w[&name].clone();
            (name, Tensor::new(shape, data))
        })
        .collect();
    let tokens = random_tokens(rng, case.batch, case.seq, case.cfg.vocab_size);
    let targets = random_tokens(rng, case.batch, case.seq, case.cfg.vocab_size);
    args.insert("tokens".into(), tensor_of_tokens(&tokens));
    args.insert("targets".into(), tensor_of_tokens(&targets));
    (args, tokens, targets)
}

fn check_case(case: &Case) {
    let cfg = &case.cfg;
    let w = random_weights(cfg, case.seed);
    let mut rng = Rng(case.seed + 100);
    let (mut args, tokens, targets) = args_for(case, &w, &mut rng);

    // Logits.
    let mut opts = BuildOptions::new(case.batch, case.seq);
    opts.output = ForwardOutput::Logits;
    opts.dtype = DType::F64;
    let m = build_forward(cfg, &opts).unwrap();
    let got = compare_graph(m.function("forward").unwrap(), &args);
    let want: Vec<f64> = forward(cfg, &w, &tokens)
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    assert_eq!(got.shape, [case.batch, case.seq, cfg.vocab_size]);
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(scale > 0.1, "logits are not trivially small");
    for (i, (g, r)) in got.data.iter().zip(&want).enumerate() {
        assert!(
            (g - r).abs() <= 1e-10 * scale,
            "logit {i}: graph {g} vs reference {r}"
        );
    }

    // Loss.
    opts.output = ForwardOutput::Loss;
    let m = build_forward(cfg, &opts).unwrap();
    let got = compare_graph(m.function("forward").unwrap(), &args).data[0];
    let want = loss(cfg, &w, &tokens, &targets, None);
    assert!(
        (got - want).abs() < 1e-10 * want,
        "loss: graph {got} vs reference {want}"
    );

    // Masked loss (a ragged mask, like SFT answer spans).
    opts.loss_mask = true;
    let mask: Vec<Vec<f64>> = (0..case.batch)
        .map(|b| {
            (0..case.seq)
                .map(|t| if (t + b) % 3 == 0 { 0.0 } else { 1.0 })
                .collect()
        })
        .collect();
    args.insert(
        "loss_mask".into(),
        Tensor::new(
            vec![case.batch, case.seq],
            mask.iter().flatten().cloned().collect(),
        ),
    );
    let m = build_forward(cfg, &opts).unwrap();
    let got = compare_graph(m.function("forward").unwrap(), &args).data[0];
    let want = loss(cfg, &w, &tokens, &targets, Some(&mask));
    assert!(
        (got - want).abs() < 1e-10 * want,
        "masked loss: graph {got} vs reference {want}"
    );
    assert!(
        (want - loss(cfg, &w, &tokens, &targets, None)).abs() > 1e-6,
        "the mask matters"
    );
}

#[test]
fn graph_matches_reference_tiny_gqa() {
    check_case(&Case {
        cfg: tiny(),
        batch: 2,
        seq: 7,
        seed: 21,
    });
}

#[test]
fn graph_matches_reference_mha_tied_other_theta() {
    // Multi-head (no KV repeat), tied embeddings, a different RoPE base and eps.
    let cfg = LlamaConfig {
        n_kv_heads: 4,
        tie_embeddings: true,
        rope_theta: 500.0,
        norm_eps: 1e-3,
        ..tiny()
    };
    check_case(&Case {
        cfg,
        batch: 1,
        seq: 9,
        seed: 22,
    });
}

#[test]
fn graph_matches_reference_one_kv_head_three_layers() {
    // Multi-query attention (1 KV head for 4 query heads), 3 layers, odd vocab.
    let cfg = LlamaConfig {
        n_kv_heads: 1,
        n_layers: 3,
        vocab_size: 101,
        ffn_dim: 96,
        ..tiny()
    };
    check_case(&Case {
        cfg,
        batch: 3,
        seq: 5,
        seed: 23,
    });
}

#[test]
fn graph_matches_reference_stories15m_shape() {
    // llama2.c's stories15M with a byte-level vocabulary, short sequence.
    let cfg = LlamaConfig::preset("llama2-15m").unwrap().with_vocab(256);
    check_case(&Case {
        cfg,
        batch: 1,
        seq: 4,
        seed: 24,
    });
}

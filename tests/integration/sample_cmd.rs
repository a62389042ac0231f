//! `llc-train sample` and the fixed-window decoding it relies on, on tiny random models
//! (no Python needed).

use crate::common::*;
use llc_models::{BuildOptions, ForwardOutput, LlamaConfig, build_forward};
use llc_runtime::{Precision, Tensor, run_function};
use llc_trainer::checkpoint::NamedTensor;
use llc_trainer::data::TextTokenizer;
use llc_trainer::generate::{LogitsModel, argmax, bind_params};

/// Logits of the last position of `ids`, from a graph of exactly `ids.len()` tokens (no
/// padding involved).
fn exact_last_logits(cfg: &LlamaConfig, weights: &[NamedTensor], ids: &[u32]) -> Vec<f32> {
    let opts = BuildOptions {
        output: ForwardOutput::Logits,
        ..BuildOptions::new(1, ids.len())
    };
    let m = build_forward(cfg, &opts).unwrap();
    let f = m.function("forward").unwrap();
    let mut args = bind_params(f, weights, Precision::F32).unwrap();
    let tokens: Vec<i32> = ids.iter().map(|&t| t as i32).collect();
    *args.iter_mut().find(|a| a.is_none()).unwrap() =
        Some(Tensor::from_i32(vec![1, ids.len()], tokens).unwrap());
    let args: Vec<Tensor> = args.into_iter().map(Option::unwrap).collect();
    let logits = run_function(f, &args, Precision::F32).unwrap()[0].to_f32_vec();
    let v = cfg.vocab_size;
    logits[(ids.len() - 1) * v..].to_vec()
}

fn window_model(cfg: &LlamaConfig, weights: &[NamedTensor], window: usize) -> LogitsModel {
    let opts = BuildOptions {
        output: ForwardOutput::Logits,
        ..BuildOptions::new(1, window)
    };
    let m = build_forward(cfg, &opts).unwrap();
    let f = m.functions.into_iter().next().unwrap();
    LogitsModel::new(f, weights, Precision::F32).unwrap()
}

#[test]
fn right_padding_does_not_change_the_logits_of_a_causal_model() {
    let cfg = tiny_config(64);
    let w = random_weights(&cfg, 1);
    let ids = random_ids(10, 64, 2);
    let mut model = window_model(&cfg, &w, 10);
    let mut worst = 0.0f32;
    for n in 1..=10 {
        // Pad with different tokens: the result must not depend on them.
        let a = model.next_logits(&ids[..n], 0, 0).unwrap();
        let b = model.next_logits(&ids[..n], 63, 0).unwrap();
        assert_eq!(a, b, "prefix {n}: the padding token changed the logits");
        let exact = exact_last_logits(&cfg, &w, &ids[..n]);
        for (x, y) in a.iter().zip(&exact) {
            worst = worst.max((x - y).abs());
        }
    }
    assert!(
        worst < 1e-5,
        "padded vs exact-length logits differ by {worst}"
    );
}

/// Greedy continuation computed step by step with exact-length graphs.
fn reference_greedy(cfg: &LlamaConfig, w: &[NamedTensor], prompt: &[u32], n: usize) -> Vec<u32> {
    let mut seq = prompt.to_vec();
    for _ in 0..n {
        let logits = exact_last_logits(cfg, w, &seq);
        // The byte tokenizer's ids are 0..258: sample only those.
        seq.push(argmax(&logits[..258]));
    }
    seq[prompt.len()..].to_vec()
}

#[test]
fn greedy_sampling_from_a_checkpoint_matches_a_step_by_step_reference() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(260); // byte tokenizer (258 ids) + 2 padding rows
    let w = random_weights(&cfg, 3);
    save_checkpoint(dir.path(), &cfg, &w, 7);
    let args = [
        "sample",
        "--checkpoint",
        s(dir.path()),
        "--prompt",
        "ab",
        "--max-tokens",
        "6",
        "--temperature",
        "0",
    ];
    let out = llc_train(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let expected_ids = {
        let tok = TextTokenizer::byte();
        let mut prompt = vec![tok.bos_id()];
        prompt.extend(tok.encode(b"ab").unwrap());
        let ids = reference_greedy(&cfg, &w, &prompt, 6);
        let eos = ids.iter().position(|&t| t == tok.eos_id());
        let ids = &ids[..eos.unwrap_or(ids.len())];
        format!("ab{}\n", tok.decode(ids).unwrap())
    };
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected_ids);
    assert!(stderr.contains("greedy"), "{stderr}");
}

#[test]
fn seeded_sampling_is_reproducible_and_the_seed_matters() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(258);
    let w = random_weights(&cfg, 4);
    let step = save_checkpoint(dir.path(), &cfg, &w, 1);
    let run = |seed: &str| {
        llc_train_ok(&[
            "sample",
            "--checkpoint",
            s(&step),
            "--prompt",
            "Hello",
            "--max-tokens",
            "24",
            "--temperature",
            "1.5",
            "--top-p",
            "1",
            "--seed",
            seed,
        ])
    };
    let a = run("1");
    assert!(a.starts_with("Hello"), "{a:?}");
    assert_eq!(a, run("1"));
    assert_ne!(a, run("2"));
}

#[test]
fn sample_reports_bad_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let e = llc_train_err(&["sample", "--checkpoint", s(&missing), "--prompt", "x"]);
    assert!(e.contains("does not exist") && e.contains("nope"), "{e}");

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let e = llc_train_err(&["sample", "--checkpoint", s(&empty)]);
    assert!(e.contains("neither a config.json"), "{e}");

    // A model with fewer rows than the byte tokenizer's 258 ids.
    let cfg = tiny_config(64);
    let root = dir.path().join("small");
    save_checkpoint(&root, &cfg, &random_weights(&cfg, 5), 1);
    let e = llc_train_err(&["sample", "--checkpoint", s(&root), "--prompt", "x"]);
    assert!(e.contains("258") && e.contains("64"), "{e}");

    let cfg = tiny_config(258);
    let root = dir.path().join("ok");
    save_checkpoint(&root, &cfg, &random_weights(&cfg, 5), 1);
    for (flag, value, what) in [
        ("--temperature", "-1", "temperature"),
        ("--top-p", "0", "top_p"),
        ("--top-p", "1.5", "top_p"),
    ] {
        let arg = format!("{flag}={value}");
        let e = llc_train_err(&["sample", "--checkpoint", s(&root), &arg]);
        assert!(e.contains(what), "{flag} {value}: {e}");
    }
    let e = llc_train_err(&["sample", "--checkpoint", s(&root), "--no-bos"]);
    assert!(e.contains("empty"), "{e}");
}

#[test]
fn sample_uses_a_bpe_tokenizer_given_or_found_next_to_the_checkpoint() {
    use llc_trainer::data::{BpeTrainOptions, train_bpe_tokenizer};
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("corpus.txt");
    std::fs::write(
        &text,
        "the cat sat on the mat. the dog sat on the log. ".repeat(50),
    )
    .unwrap();
    let tok_file = dir.path().join("tokenizer.json");
    let opts = BpeTrainOptions {
        min_frequency: 2,
        show_progress: false,
    };
    train_bpe_tokenizer(&[text], 300, &tok_file, &opts).unwrap();
    let vocab = TextTokenizer::from_file(&tok_file).unwrap().vocab_size();

    let cfg = tiny_config(vocab);
    let root = dir.path().join("run");
    save_checkpoint(&root, &cfg, &random_weights(&cfg, 8), 2);
    let args = |extra: &[&str]| {
        let mut a = vec![
            "sample".to_string(),
            "--checkpoint".into(),
            s(&root).into(),
            "--prompt".into(),
            "the cat".into(),
            "--max-tokens".into(),
            "8".into(),
            "--seed".into(),
            "3".into(),
        ];
        a.extend(extra.iter().map(|x| x.to_string()));
        a
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        llc_train_ok(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let given = run(&["--tokenizer", s(&tok_file)]);
    assert!(given.starts_with("the cat"), "{given:?}");
    // Found next to the checkpoint when not given.
    std::fs::copy(&tok_file, root.join("tokenizer.json")).unwrap();
    assert_eq!(run(&[]), given);
    // A model with fewer rows than the tokenizer has ids.
    assert!(vocab > 258, "the BPE learned no merges: {vocab}");
    let small = tiny_config(258);
    let small_dir = dir.path().join("small");
    save_checkpoint(&small_dir, &small, &random_weights(&small, 8), 2);
    let e = llc_train_err(&[
        "sample",
        "--checkpoint",
        s(&small_dir),
        "--tokenizer",
        s(&tok_file),
    ]);
    assert!(e.contains(&vocab.to_string()) && e.contains("258"), "{e}");
}

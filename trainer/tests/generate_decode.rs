//! The decoding loop on small hand-built logits graphs: a bigram table (logits depend on
//! the token at each position) and a "first token" model (logits depend on the first
//! token of the window, which shows how the window slides).

use llc_ir::{Builder, DType, Function};
use llc_runtime::Precision;
use llc_trainer::checkpoint::NamedTensor;
use llc_trainer::generate::{
    DecodeOptions, GenerateError, LogitsModel, Sampler, SamplingConfig, StopReason, generate,
};

const V: usize = 10;

/// Greedy successor of `i` in the tables below.
fn succ(i: u32) -> u32 {
    (i * 3 + 1) % V as u32
}

/// A `[V, V]` table whose row `i` peaks at `succ(i)` (logit 5, others `0.1 * j`).
fn table() -> NamedTensor {
    let mut data = vec![0.0f32; V * V];
    for i in 0..V {
        for j in 0..V {
            data[i * V + j] = 0.1 * j as f32;
        }
        data[i * V + succ(i as u32) as usize] = 5.0;
    }
    NamedTensor::new("table", vec![V, V], data).unwrap()
}

/// `logits[0, t] = table[tokens[0, t]]`.
fn bigram(window: usize) -> Function {
    let mut f = Function::new("logits_fn");
    let mut b = Builder::new(&mut f);
    let table = b.param("table", DType::F32, &[V, V]).unwrap();
    let tokens = b.input("tokens", DType::I32, &[1, window]).unwrap();
    let logits = b.gather(table, tokens).unwrap();
    let logits = b.name(logits, "logits").unwrap();
    b.output(logits);
    f
}

/// `logits[0, t] = table[tokens[0, 0]]` for every `t`.
fn first_token(window: usize) -> Function {
    let mut f = Function::new("logits_fn");
    let mut b = Builder::new(&mut f);
    let table = b.param("table", DType::F32, &[V, V]).unwrap();
    let tokens = b.input("tokens", DType::I32, &[1, window]).unwrap();
    let first = b.slice(tokens, 1, 0, 1).unwrap();
    let row = b.gather(table, first).unwrap();
    let logits = b.broadcast(row, &[1, window, V]).unwrap();
    let logits = b.name(logits, "logits").unwrap();
    b.output(logits);
    f
}

fn opts(max_tokens: usize) -> DecodeOptions {
    DecodeOptions {
        max_tokens,
        stop_token: None,
        pad_token: 0,
        candidates: V,
    }
}

fn run(
    model: &mut LogitsModel,
    prompt: &[u32],
    o: &DecodeOptions,
    config: SamplingConfig,
    seed: u64,
) -> (Vec<u32>, StopReason, Vec<u32>) {
    let mut sampler = Sampler::new(config, seed).unwrap();
    let mut streamed = Vec::new();
    let g = generate::<GenerateError>(model, prompt, o, &mut sampler, |t| {
        streamed.push(t);
        Ok(())
    })
    .unwrap();
    (g.tokens, g.stop, streamed)
}

#[test]
fn greedy_follows_the_chain_and_streams_each_token() {
    let mut m = LogitsModel::new(bigram(8), &[table()], Precision::F32).unwrap();
    assert_eq!((m.window(), m.vocab()), (8, V));
    let (tokens, stop, streamed) = run(&mut m, &[2, 7], &opts(5), SamplingConfig::greedy(), 0);
    let mut expected = vec![];
    let mut last = 7;
    for _ in 0..5 {
        last = succ(last);
        expected.push(last);
    }
    assert_eq!(tokens, expected);
    assert_eq!(streamed, expected);
    assert_eq!(stop, StopReason::MaxTokens);
}

#[test]
fn the_window_slides_once_full() {
    // Window 3: the next token is succ(first token of the last 3), so the output tells
    // which token the window starts at.
    let mut m = LogitsModel::new(first_token(3), &[table()], Precision::F32).unwrap();
    let prompt = [4u32, 5, 6, 9];
    let (tokens, _, _) = run(&mut m, &prompt, &opts(7), SamplingConfig::greedy(), 0);
    let mut seq = prompt.to_vec();
    for _ in 0..7 {
        let start = seq.len().saturating_sub(3);
        seq.push(succ(seq[start]));
    }
    assert_eq!(tokens, seq[prompt.len()..]);
    // Not what a window that never slides (always token 0 of the prompt) would give.
    assert_ne!(tokens, vec![succ(4); 7]);
}

#[test]
fn stop_token_ends_without_being_emitted() {
    let mut m = LogitsModel::new(bigram(16), &[table()], Precision::F32).unwrap();
    // 1 -> 4 -> 3 -> 0 -> 1 ...: stop at 3.
    let o = DecodeOptions {
        stop_token: Some(3),
        ..opts(10)
    };
    let (tokens, stop, streamed) = run(&mut m, &[1], &o, SamplingConfig::greedy(), 0);
    assert_eq!(tokens, vec![4]);
    assert_eq!(streamed, vec![4]);
    assert_eq!(stop, StopReason::StopToken);
}

#[test]
fn candidates_restrict_the_ids_drawn() {
    let mut m = LogitsModel::new(bigram(4), &[table()], Precision::F32).unwrap();
    // succ(2) = 7 is not allowed with 5 candidates; the best of 0..5 is 4 (0.1 * 4).
    let o = DecodeOptions {
        candidates: 5,
        ..opts(1)
    };
    let (tokens, _, _) = run(&mut m, &[2], &o, SamplingConfig::greedy(), 0);
    assert_eq!(tokens, vec![4]);
    let mut sampled = LogitsModel::new(bigram(64), &[table()], Precision::F32).unwrap();
    let (tokens, _, _) = run(&mut sampled, &[0], &opts(0), SamplingConfig::default(), 1);
    assert!(tokens.is_empty());
    let o = DecodeOptions {
        candidates: 5,
        ..opts(60)
    };
    let (tokens, _, _) = run(&mut sampled, &[0], &o, cfg_hot(), 1);
    assert!(tokens.iter().all(|&t| t < 5), "{tokens:?}");
}

fn cfg_hot() -> SamplingConfig {
    SamplingConfig {
        temperature: 3.0,
        top_p: 1.0,
        top_k: 0,
    }
}

#[test]
fn seeded_sampling_is_deterministic() {
    let mut m = LogitsModel::new(bigram(32), &[table()], Precision::F32).unwrap();
    let a = run(&mut m, &[1], &opts(30), cfg_hot(), 42).0;
    let b = run(&mut m, &[1], &opts(30), cfg_hot(), 42).0;
    let c = run(&mut m, &[1], &opts(30), cfg_hot(), 43).0;
    assert_eq!(a, b);
    assert_ne!(a, c);
    // f64 runs pick the same tokens here (the distribution differs by rounding only).
    let mut m64 = LogitsModel::new(bigram(32), &[table()], Precision::F64).unwrap();
    assert_eq!(run(&mut m64, &[1], &opts(30), cfg_hot(), 42).0, a);
}

#[test]
fn callback_errors_stop_the_loop() {
    let mut m = LogitsModel::new(bigram(8), &[table()], Precision::F32).unwrap();
    let mut sampler = Sampler::new(SamplingConfig::greedy(), 0).unwrap();
    let mut calls = 0;
    let err = generate(&mut m, &[1], &opts(5), &mut sampler, |_| {
        calls += 1;
        if calls == 2 {
            Err(GenerateError::EmptyPrompt)
        } else {
            Ok(())
        }
    })
    .unwrap_err();
    assert!(matches!(err, GenerateError::EmptyPrompt));
    assert_eq!(calls, 2);
}

#[test]
fn bad_prompts_graphs_and_weights_are_clear_errors() {
    let mut m = LogitsModel::new(bigram(8), &[table()], Precision::F32).unwrap();
    let mut s = Sampler::new(SamplingConfig::greedy(), 0).unwrap();
    let mut go = |prompt: &[u32], o: DecodeOptions| {
        generate::<GenerateError>(&mut m, prompt, &o, &mut s, |_| Ok(()))
            .unwrap_err()
            .to_string()
    };
    assert!(go(&[], opts(1)).contains("empty"));
    let e = go(&[1, 2, 10], opts(1));
    assert!(
        e.contains("token 10 at position 2") && e.contains("0..10"),
        "{e}"
    );
    let e = go(
        &[1],
        DecodeOptions {
            pad_token: 99,
            ..opts(1)
        },
    );
    assert!(e.contains("token 99"), "{e}");
    let e = go(
        &[1],
        DecodeOptions {
            candidates: 11,
            ..opts(1)
        },
    );
    assert!(e.contains("candidates"), "{e}");

    let missing = LogitsModel::new(bigram(8), &[], Precision::F32)
        .err()
        .unwrap();
    assert!(
        missing
            .to_string()
            .contains("no weight for parameter table")
    );
    let wrong = NamedTensor::new("table", vec![V, 2], vec![0.0; 2 * V]).unwrap();
    let e = LogitsModel::new(bigram(8), &[wrong], Precision::F32)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("[10, 2]") && e.contains("[10, 10]"), "{e}");

    // A graph with a second input is not a logits graph.
    let mut f = bigram(8);
    Builder::new(&mut f)
        .input("targets", DType::I32, &[1, 8])
        .unwrap();
    let e = LogitsModel::new(f, &[table()], Precision::F32)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("%targets"), "{e}");
}

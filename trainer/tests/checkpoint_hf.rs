//! Hugging Face interop: the q/k RoPE permutation (round trips, and attention scores equal
//! under Meta's and Hugging Face's RoPE conventions), name mapping of a whole model, and
//! loading HF model directories (single file, sharded, bf16/f16) with clear errors.

use std::collections::HashMap;
use std::path::Path;

use llc_models::{LlamaConfig, ModelError};
use llc_trainer::checkpoint::{
    CheckpointError, NamedTensor, RopeLayout, from_hf, gradients_to_hf, load_hf_model_dir,
    param_specs, permute_rope_rows, read_model_config, to_hf, write_safetensors,
};
use proptest::prelude::*;
use safetensors::tensor::{Dtype, TensorView};

const CONFIG: &str = r#"{
  "architectures": ["LlamaForCausalLM"],
  "model_type": "llama",
  "vocab_size": 11,
  "hidden_size": 16,
  "intermediate_size": 12,
  "num_hidden_layers": 2,
  "num_attention_heads": 2,
  "num_key_value_heads": 1,
  "rms_norm_eps": 1e-5,
  "tie_word_embeddings": false,
  "torch_dtype": "float32"
}"#;

fn shape() -> LlamaConfig {
    read_model_config(CONFIG, Path::new("config.json")).unwrap()
}

/// Deterministic pseudo-random values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn random_params(cfg: &LlamaConfig) -> Vec<NamedTensor> {
    param_specs(cfg)
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let n = s.shape.iter().product();
            NamedTensor::new(s.name, s.shape, values(n, i as u64 + 1)).unwrap()
        })
        .collect()
}

proptest! {
    #[test]
    fn permutation_round_trips(heads in 1usize..5, half in 1usize..5, cols in 1usize..4, seed in 0u64..1000) {
        let hd = 2 * half;
        let t = NamedTensor::new("w", vec![heads * hd, cols], values(heads * hd * cols, seed)).unwrap();
        let hf = permute_rope_rows(&t, heads, hd, RopeLayout::MetaToHf).unwrap();
        let back = permute_rope_rows(&hf, heads, hd, RopeLayout::HfToMeta).unwrap();
        prop_assert_eq!(&back, &t);
        if hd > 2 {
            prop_assert_ne!(&hf.data, &t.data);
        }
    }
}

/// Rotates consecutive pairs (Meta): (x[2i], x[2i+1]) by angle pos * theta^(-2i/hd).
fn rope_meta(x: &mut [f64], pos: f64) {
    let hd = x.len();
    for i in 0..hd / 2 {
        let a = pos * 10000f64.powf(-((2 * i) as f64) / hd as f64);
        let (c, s) = (a.cos(), a.sin());
        let (x0, x1) = (x[2 * i], x[2 * i + 1]);
        x[2 * i] = x0 * c - x1 * s;
        x[2 * i + 1] = x0 * s + x1 * c;
    }
}

/// Rotates halves (Hugging Face): (x[i], x[i + hd/2]) by the same angles.
fn rope_hf(x: &mut [f64], pos: f64) {
    let hd = x.len();
    let h = hd / 2;
    for i in 0..h {
        let a = pos * 10000f64.powf(-((2 * i) as f64) / hd as f64);
        let (c, s) = (a.cos(), a.sin());
        let (x0, x1) = (x[i], x[i + h]);
        x[i] = x0 * c - x1 * s;
        x[i + h] = x0 * s + x1 * c;
    }
}

fn matvec(w: &NamedTensor, x: &[f64]) -> Vec<f64> {
    let cols = w.shape[1];
    (0..w.shape[0])
        .map(|r| (0..cols).map(|c| w.data[r * cols + c] as f64 * x[c]).sum())
        .collect()
}

#[test]
fn permuted_weights_give_equal_attention_scores() {
    // q/k from Meta weights with Meta RoPE must score exactly like q/k from the converted
    // weights with Hugging Face RoPE: that is what makes the conversion correct.
    let (heads, hd, d) = (3, 8, 5);
    let wq = NamedTensor::new(
        "layers.0.attention.wq.weight",
        vec![heads * hd, d],
        values(heads * hd * d, 7),
    )
    .unwrap();
    let wk = NamedTensor::new(
        "layers.0.attention.wk.weight",
        vec![heads * hd, d],
        values(heads * hd * d, 8),
    )
    .unwrap();
    let wq_hf = permute_rope_rows(&wq, heads, hd, RopeLayout::MetaToHf).unwrap();
    let wk_hf = permute_rope_rows(&wk, heads, hd, RopeLayout::MetaToHf).unwrap();
    let x1: Vec<f64> = values(d, 9).iter().map(|&v| v as f64).collect();
    let x2: Vec<f64> = values(d, 10).iter().map(|&v| v as f64).collect();
    let (p1, p2) = (3.0, 11.0);
    let (q_meta, k_meta) = (matvec(&wq, &x1), matvec(&wk, &x2));
    let (q_hf, k_hf) = (matvec(&wq_hf, &x1), matvec(&wk_hf, &x2));
    for h in 0..heads {
        let r = h * hd..(h + 1) * hd;
        let (mut qm, mut km) = (q_meta[r.clone()].to_vec(), k_meta[r.clone()].to_vec());
        let (mut qh, mut kh) = (q_hf[r.clone()].to_vec(), k_hf[r].to_vec());
        rope_meta(&mut qm, p1);
        rope_meta(&mut km, p2);
        rope_hf(&mut qh, p1);
        rope_hf(&mut kh, p2);
        let sm: f64 = qm.iter().zip(&km).map(|(a, b)| a * b).sum();
        let sh: f64 = qh.iter().zip(&kh).map(|(a, b)| a * b).sum();
        assert!((sm - sh).abs() < 1e-12, "head {h}: {sm} vs {sh}");
        // Without the permutation the scores differ: the test can fail.
        let mut wrong = q_meta[h * hd..(h + 1) * hd].to_vec();
        rope_hf(&mut wrong, p1);
        let sw: f64 = wrong.iter().zip(&kh).map(|(a, b)| a * b).sum();
        assert!((sw - sh).abs() > 1e-6);
    }
}

#[test]
fn whole_model_round_trips_through_hf_layout() {
    let s = shape();
    let params = random_params(&s);
    let hf = to_hf(&params, &s).unwrap();
    let names: Vec<&str> = hf.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names[0], "model.embed_tokens.weight");
    assert!(names.contains(&"model.layers.1.self_attn.k_proj.weight"));
    assert!(names.contains(&"model.layers.0.mlp.up_proj.weight"));
    assert_eq!(*names.last().unwrap(), "lm_head.weight");
    let by_name: HashMap<&str, &NamedTensor> = hf.iter().map(|t| (t.name.as_str(), t)).collect();
    // k uses the one KV head (8 rows of 16 columns): HF row 1 = Meta row 2, HF row 4 =
    // Meta row 1.
    let k_meta = &params[3];
    assert_eq!(k_meta.name, "layers.0.attention.wk.weight");
    assert_eq!(k_meta.shape, vec![8, 16]);
    let k_hf = by_name["model.layers.0.self_attn.k_proj.weight"];
    assert_eq!(&k_hf.data[16..32], &k_meta.data[32..48]);
    assert_eq!(&k_hf.data[64..80], &k_meta.data[16..32]);
    assert_ne!(k_hf.data, k_meta.data);
    // v is not permuted.
    assert_eq!(
        by_name["model.layers.0.self_attn.v_proj.weight"].data,
        params[4].data
    );
    assert_eq!(from_hf(hf, &s).unwrap(), params);
    // Gradients follow the same mapping.
    assert_eq!(
        gradients_to_hf(&params, &s).unwrap(),
        to_hf(&params, &s).unwrap()
    );
}

/// Writes tensors with a chosen dtype (bf16, f16 or f32) as Hugging Face would.
fn write_hf_file(path: &Path, tensors: &[NamedTensor], dtype: Dtype) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| match dtype {
            Dtype::BF16 => t
                .data
                .iter()
                .flat_map(|v| half::bf16::from_f32(*v).to_le_bytes())
                .collect(),
            Dtype::F16 => t
                .data
                .iter()
                .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
                .collect(),
            Dtype::F32 => t.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Dtype::I64 => t
                .data
                .iter()
                .flat_map(|v| (*v as i64).to_le_bytes())
                .collect(),
            other => panic!("test writes no {other:?}"),
        })
        .collect();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            (
                t.name.clone(),
                TensorView::new(dtype, t.shape.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

fn hf_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), CONFIG).unwrap();
    dir
}

#[test]
fn loads_bf16_single_file() {
    let s = shape();
    let params = random_params(&s);
    let dir = hf_dir();
    write_hf_file(
        &dir.path().join("model.safetensors"),
        &to_hf(&params, &s).unwrap(),
        Dtype::BF16,
    );
    let m = load_hf_model_dir(dir.path()).unwrap();
    assert_eq!(m.cfg, s);
    assert_eq!(m.params.len(), params.len());
    for (a, b) in m.params.iter().zip(&params) {
        assert_eq!((&a.name, &a.shape), (&b.name, &b.shape));
        for (x, y) in a.data.iter().zip(&b.data) {
            assert!(
                (x - y).abs() <= 1e-2 * y.abs().max(1e-3),
                "{}: {x} vs {y}",
                a.name
            );
        }
    }
}

#[test]
fn loads_sharded_f16_with_index() {
    let s = shape();
    let params = random_params(&s);
    let dir = hf_dir();
    let hf = to_hf(&params, &s).unwrap();
    let (a, b) = hf.split_at(hf.len() / 2);
    write_hf_file(
        &dir.path().join("model-00001-of-00002.safetensors"),
        a,
        Dtype::F16,
    );
    write_hf_file(
        &dir.path().join("model-00002-of-00002.safetensors"),
        b,
        Dtype::F16,
    );
    let map: serde_json::Map<String, serde_json::Value> = a
        .iter()
        .map(|t| (t.name.clone(), "model-00001-of-00002.safetensors".into()))
        .chain(
            b.iter()
                .map(|t| (t.name.clone(), "model-00002-of-00002.safetensors".into())),
        )
        .collect();
    let index = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": map});
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        index.to_string(),
    )
    .unwrap();
    let m = load_hf_model_dir(dir.path()).unwrap();
    let wq = m
        .params
        .iter()
        .find(|t| t.name == "layers.1.attention.wq.weight")
        .unwrap();
    let orig = params
        .iter()
        .find(|t| t.name == "layers.1.attention.wq.weight")
        .unwrap();
    for (x, y) in wq.data.iter().zip(&orig.data) {
        assert!((x - y).abs() < 1e-3);
    }

    // An index naming a tensor its shard lacks.
    let mut broken = index.clone();
    broken["weight_map"]["model.layers.0.self_attn.q_proj.weight"] =
        "model-00002-of-00002.safetensors".into();
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        broken.to_string(),
    )
    .unwrap();
    let err = load_hf_model_dir(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("model-00002-of-00002.safetensors: missing tensor model.layers.0.self_attn.q_proj.weight"),
        "{err}"
    );
}

#[test]
fn load_errors_name_file_and_tensor() {
    let s = shape();
    let params = random_params(&s);
    let hf = to_hf(&params, &s).unwrap();

    // Missing tensor.
    let dir = hf_dir();
    let file = dir.path().join("model.safetensors");
    let without: Vec<NamedTensor> = hf
        .iter()
        .filter(|t| t.name != "model.norm.weight")
        .cloned()
        .collect();
    write_safetensors(&file, &without, &[]).unwrap();
    let err = load_hf_model_dir(dir.path()).unwrap_err().to_string();
    assert_eq!(
        err,
        format!("{}: missing tensor norm.weight", file.display())
    );

    // Shape mismatch (names are ours after conversion).
    let mut bad = hf.clone();
    let i = bad
        .iter()
        .position(|t| t.name == "model.layers.1.mlp.down_proj.weight")
        .unwrap();
    bad[i] = NamedTensor::new(bad[i].name.clone(), vec![12, 16], bad[i].data.clone()).unwrap();
    write_safetensors(&file, &bad, &[]).unwrap();
    let err = load_hf_model_dir(dir.path()).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}: shape mismatch for layers.1.feed_forward.w2.weight: file has [12, 16] expected [16, 12]",
            file.display()
        )
    );

    // Unexpected tensor.
    let mut extra = hf.clone();
    extra.push(NamedTensor::new("model.layers.0.mystery.weight", vec![1], vec![0.0]).unwrap());
    write_safetensors(&file, &extra, &[]).unwrap();
    let err = load_hf_model_dir(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("unexpected tensor model.layers.0.mystery.weight"),
        "{err}"
    );

    // Wrong dtype.
    write_hf_file(&file, &hf, Dtype::I64);
    let err = load_hf_model_dir(dir.path()).unwrap_err().to_string();
    assert!(err.contains("has dtype I64"), "{err}");

    // No weights at all.
    std::fs::remove_file(&file).unwrap();
    let err = load_hf_model_dir(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("neither model.safetensors nor model.safetensors.index.json"),
        "{err}"
    );
}

#[test]
fn tied_embeddings_and_rotary_buffers() {
    let cfg = CONFIG.replace(
        "\"tie_word_embeddings\": false",
        "\"tie_word_embeddings\": true",
    );
    let s = read_model_config(&cfg, Path::new("config.json")).unwrap();
    assert!(s.tie_embeddings);
    // A tied model has no LM head of its own: the embedding is the only copy.
    let params = random_params(&s);
    assert!(!params.iter().any(|t| t.name == "output.weight"));
    let mut hf: Vec<NamedTensor> = to_hf(&params, &s).unwrap();
    assert!(!hf.iter().any(|t| t.name == "lm_head.weight"));
    // Some writers save the tied head anyway; it is the embedding and is dropped.
    let emb = hf
        .iter()
        .find(|t| t.name == "model.embed_tokens.weight")
        .unwrap()
        .clone();
    hf.push(NamedTensor {
        name: "lm_head.weight".into(),
        ..emb
    });
    hf.push(
        NamedTensor::new(
            "model.layers.0.self_attn.rotary_emb.inv_freq",
            vec![1],
            vec![1.0],
        )
        .unwrap(),
    );
    let back = from_hf(hf, &s).unwrap();
    assert_eq!(back.len(), params.len());
    for (b, p) in back.iter().zip(&params) {
        assert_eq!((&b.name, &b.data), (&p.name, &p.data));
    }
    assert!(!back.iter().any(|t| t.name.contains("inv_freq")));
}

#[test]
fn config_errors() {
    let p = Path::new("m/config.json");
    let err = read_model_config("{\"model_type\": \"llama\", \"hidden_size\": 8}", p)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "m/config.json: config.json field `num_attention_heads`: is missing"
    );
    // The error is typed: the path, and the model crate's error naming the field.
    match read_model_config("{\"hidden_size\": 8}", p).unwrap_err() {
        CheckpointError::ModelConfig {
            path,
            source: ModelError::HfField { field, .. },
        } => assert_eq!((path.as_path(), field.as_str()), (p, "model_type")),
        other => panic!("{other:?}"),
    }
    let err = read_model_config(&CONFIG.replace("\"llama\"", "\"gpt2\""), p)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("m/config.json: ") && err.contains("model_type") && err.contains("gpt2"),
        "{err}"
    );
    let err = read_model_config(
        &CONFIG.replace("\"num_key_value_heads\": 1", "\"num_key_value_heads\": 3"),
        p,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("num_key_value_heads") && err.contains("does not divide"),
        "{err}"
    );
    let err = read_model_config(
        &CONFIG.replace("\"num_attention_heads\": 2", "\"num_attention_heads\": 3"),
        p,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("num_attention_heads") && err.contains("does not divide"),
        "{err}"
    );
    let s = shape();
    assert_eq!((s.head_dim(), s.n_kv_heads), (8, 1));
    assert_eq!(param_specs(&s).len(), 2 + 2 * 9 + 1);
}

#[test]
fn param_specs_list_every_parameter_in_argument_order() {
    let s = shape();
    let names: Vec<String> = param_specs(&s).into_iter().map(|p| p.name).collect();
    let mut expected = vec!["tok_embeddings.weight".to_string()];
    for i in 0..2 {
        for p in [
            "attention_norm",
            "attention.wq",
            "attention.wk",
            "attention.wv",
            "attention.wo",
            "ffn_norm",
            "feed_forward.w1",
            "feed_forward.w2",
            "feed_forward.w3",
        ] {
            expected.push(format!("layers.{i}.{p}.weight"));
        }
    }
    expected.extend(["norm.weight".to_string(), "output.weight".to_string()]);
    assert_eq!(names, expected);
    let shapes: Vec<Vec<usize>> = param_specs(&s)[..10]
        .iter()
        .map(|p| p.shape.clone())
        .collect();
    assert_eq!(
        shapes,
        [
            vec![11, 16],
            vec![16],
            vec![16, 16],
            vec![8, 16],
            vec![8, 16],
            vec![16, 16],
            vec![16],
            vec![12, 16],
            vec![16, 12],
            vec![12, 16],
        ]
    );
}

#[test]
fn absurd_sizes_in_config_json_are_errors_naming_the_field() {
    let p = Path::new("config.json");
    let layers = CONFIG.replace(
        "\"num_hidden_layers\": 2",
        "\"num_hidden_layers\": 100000000000000000",
    );
    assert_ne!(layers, CONFIG, "the fixture names its layer count");
    let err = read_model_config(&layers, p).unwrap_err().to_string();
    assert!(
        err.contains("num_hidden_layers") && err.contains("limit"),
        "{err}"
    );
    let vocab = CONFIG.replace("\"vocab_size\": 11", "\"vocab_size\": 16777217");
    assert_ne!(vocab, CONFIG, "the fixture names its vocabulary size");
    let err = read_model_config(&vocab, p).unwrap_err().to_string();
    assert!(err.contains("vocab_size") && err.contains("limit"), "{err}");
    // An explicit head_dim other than hidden_size / num_attention_heads is refused.
    let head = CONFIG.replace(
        "\"num_attention_heads\"",
        "\"head_dim\": 9223372036854775806, \"num_attention_heads\"",
    );
    let err = read_model_config(&head, p).unwrap_err().to_string();
    assert!(err.contains("head_dim"), "{err}");
}

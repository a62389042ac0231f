//! No input file panics the runtime's readers: a seeded byte-mutation loop over valid
//! files (a safetensors file, a sharded Hugging Face model directory with its index, SFT
//! JSONL, a `tokenizer.json`, prepared token shards with their `dataset.json`). Every
//! mutant is read under `catch_unwind`: the reader returns `Ok` or an error whose message
//! names the file it read, and never panics. The writers (SFT and text preparation) leave
//! no output directory behind when they fail.
//!
//! Mutations: flip a bit, set a byte, insert or delete a run of bytes, truncate, duplicate
//! a slice, overwrite with a hostile token (huge, negative, fractional numbers, quotes,
//! brackets, invalid UTF-8), and for the 8-byte safetensors header length a random u64.
//! Case counts per target are in [`CASES`] (scaled by `LLC_FUZZ_SCALE`, default 1).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use llc_models::LlamaConfig;
use llc_trainer::checkpoint::{
    NamedTensor, load_hf_model_dir, param_specs, read_model_config, read_safetensors, to_hf,
    write_safetensors,
};
use llc_trainer::data::{
    BatchLoader, BpeTrainOptions, LoaderConfig, PrepareOptions, SftLayout, SftOptions,
    TextTokenizer, TokenDataset, prepare_sft_shards, prepare_shards, train_bpe_tokenizer,
};

/// Cases per target: safetensors, HF shards, SFT JSONL, tokenizer.json, token shards.
const CASES: [(&str, usize); 5] = [
    ("safetensors", 1500),
    ("shards", 600),
    ("sft", 120),
    ("tokenizer", 300),
    ("token_shards", 800),
];

fn cases(target: &str) -> usize {
    let scale: usize = std::env::var("LLC_FUZZ_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    CASES.iter().find(|(t, _)| *t == target).unwrap().1 * scale
}

/// splitmix64: a small seeded generator (reproducible cases, no dependency).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&[u8]] = &[
    b"18446744073709551615",
    b"18446744073709551616",
    b"99999999999999999999999",
    b"-1",
    b"-9223372036854775808",
    b"1e308",
    b"0.5",
    b"0",
    b"\"",
    b"[",
    b"]",
    b"{",
    b"}",
    b",",
    b":",
    b"null",
    b"\"F32\"",
    b"\"BF16\"",
    b"\"I64\"",
    b"\xff\xfe",
    b"\\u0000",
    b"model-00009-of-00002.safetensors",
    b"../x",
];

/// One random mutation of `bytes`.
fn mutate(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let rounds = 1 + rng.below(3);
    for _ in 0..rounds {
        let n = b.len();
        let at = rng.below(n + 1);
        match rng.below(8) {
            0 if n > 0 => {
                let i = rng.below(n);
                b[i] ^= 1 << rng.below(8);
            }
            1 if n > 0 => {
                let i = rng.below(n);
                b[i] = rng.next() as u8;
            }
            2 => {
                let k = 1 + rng.below(8);
                let ins: Vec<u8> = (0..k).map(|_| rng.next() as u8).collect();
                b.splice(at..at, ins);
            }
            3 if n > 0 => {
                let k = 1 + rng.below(16.min(n));
                let end = (at + k).min(n);
                b.drain(at.min(end)..end);
            }
            4 => b.truncate(at),
            5 if n > 0 => {
                let start = rng.below(n);
                let end = (start + 1 + rng.below(32)).min(n);
                let piece = b[start..end].to_vec();
                b.splice(at..at, piece);
            }
            _ => {
                let tok = TOKENS[rng.below(TOKENS.len())];
                // Replace a run of digits (or one byte) at a random place.
                let mut end = at;
                while end < n && b[end].is_ascii_digit() {
                    end += 1;
                }
                let end = if end == at { (at + 1).min(n) } else { end };
                b.splice(at..end, tok.iter().copied());
            }
        }
    }
    b
}

/// Runs `f` on a mutant; a panic fails the test with the case number and seed.
fn no_panic<T>(target: &str, case: usize, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{target} case {case}: the reader panicked: {msg}");
        }
    }
}

/// An error message names `file` (by its file name) and says something.
fn names_file(target: &str, case: usize, msg: &str, file: &Path) {
    let name = file.file_name().unwrap().to_string_lossy();
    assert!(
        msg.contains(name.as_ref()) && msg.len() > name.len() + 4,
        "{target} case {case}: error without the file {name}: {msg}"
    );
}

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

fn hf_params() -> (LlamaConfig, Vec<NamedTensor>) {
    let cfg = read_model_config(CONFIG, Path::new("config.json")).unwrap();
    let ours: Vec<NamedTensor> = param_specs(&cfg)
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let n: usize = s.shape.iter().product();
            let data = (0..n).map(|k| ((k * 7 + i) % 13) as f32 / 13.0).collect();
            NamedTensor::new(s.name, s.shape, data).unwrap()
        })
        .collect();
    let hf = to_hf(&ours, &cfg).unwrap();
    (cfg, hf)
}

#[test]
fn mutated_safetensors_files_never_panic_the_reader() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("model.safetensors");
    let (_, hf) = hf_params();
    write_safetensors(&good, &hf[..4], &[("format", "pt")]).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let path = dir.path().join("mutant.safetensors");
    let mut rng = Rng(1);
    let (mut ok, mut err) = (0, 0);
    for case in 0..cases("safetensors") {
        let m = match case % 4 {
            // The header length: a random u64, or off by a little.
            0 => {
                let mut m = bytes.clone();
                let len = if rng.below(2) == 0 {
                    rng.next()
                } else {
                    (header_len as u64)
                        .wrapping_add(rng.next() % 17)
                        .wrapping_sub(8)
                };
                m[..8].copy_from_slice(&len.to_le_bytes());
                m
            }
            // The JSON header (offsets, shapes, dtypes): keep the length field consistent.
            1 | 2 => {
                let header = mutate(&mut rng, &bytes[8..8 + header_len]);
                let mut m = (header.len() as u64).to_le_bytes().to_vec();
                m.extend_from_slice(&header);
                m.extend_from_slice(&bytes[8 + header_len..]);
                m
            }
            _ => mutate(&mut rng, &bytes),
        };
        std::fs::write(&path, &m).unwrap();
        match no_panic("safetensors", case, || read_safetensors(&path)) {
            Ok(c) => {
                ok += 1;
                for t in &c.tensors {
                    assert_eq!(t.data.len(), t.shape.iter().product::<usize>());
                }
            }
            Err(e) => {
                err += 1;
                names_file("safetensors", case, &e.to_string(), &path);
            }
        }
    }
    eprintln!("safetensors: {} cases, {ok} read, {err} errors", ok + err);
    assert!(err > ok, "most mutants are invalid");
}

#[test]
fn mutated_sharded_model_directories_never_panic_the_loader() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    std::fs::create_dir(&good).unwrap();
    let (_, hf) = hf_params();
    let half = hf.len() / 2;
    let files = [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ];
    write_safetensors(&good.join(files[0]), &hf[..half], &[("format", "pt")]).unwrap();
    write_safetensors(&good.join(files[1]), &hf[half..], &[("format", "pt")]).unwrap();
    let map: serde_json::Map<String, serde_json::Value> = hf
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.clone(), files[usize::from(i >= half)].into()))
        .collect();
    let index = serde_json::json!({"metadata": {}, "weight_map": map}).to_string();
    std::fs::write(good.join("model.safetensors.index.json"), &index).unwrap();
    std::fs::write(good.join("config.json"), CONFIG).unwrap();
    load_hf_model_dir(&good).unwrap();
    let names = [
        "model.safetensors.index.json",
        "config.json",
        files[0],
        files[1],
    ];
    let originals: Vec<Vec<u8>> = names
        .iter()
        .map(|n| std::fs::read(good.join(n)).unwrap())
        .collect();
    let mut rng = Rng(2);
    let (mut ok, mut err) = (0, 0);
    let case_dir = dir.path().join("case");
    for case in 0..cases("shards") {
        let _ = std::fs::remove_dir_all(&case_dir);
        std::fs::create_dir(&case_dir).unwrap();
        for (n, b) in names.iter().zip(&originals) {
            std::fs::write(case_dir.join(n), b).unwrap();
        }
        // Mostly the index (missing shards, a tensor in two shards, bad JSON); sometimes
        // a shard or the config; sometimes a shard is missing.
        let which = match rng.below(10) {
            0..=5 => 0,
            6 => 1,
            7 | 8 => 2 + rng.below(2),
            _ => {
                std::fs::remove_file(case_dir.join(files[rng.below(2)])).unwrap();
                4
            }
        };
        if which < 4 {
            let p = case_dir.join(names[which]);
            std::fs::write(&p, mutate(&mut rng, &originals[which])).unwrap();
        }
        match no_panic("shards", case, || load_hf_model_dir(&case_dir)) {
            Ok(m) => {
                ok += 1;
                assert_eq!(m.params.len(), param_specs(&m.cfg).len());
            }
            Err(e) => {
                err += 1;
                let msg = e.to_string();
                assert!(
                    msg.contains(case_dir.file_name().unwrap().to_str().unwrap()),
                    "shards case {case}: error without a path: {msg}"
                );
            }
        }
    }
    eprintln!("shards: {} cases, {ok} loaded, {err} errors", ok + err);

    // The two named failures: an index naming a missing shard, a tensor in two shards.
    let _ = std::fs::remove_dir_all(&case_dir);
    std::fs::create_dir(&case_dir).unwrap();
    for (n, b) in names.iter().zip(&originals) {
        std::fs::write(case_dir.join(n), b).unwrap();
    }
    let missing = index.replace(files[1], "model-00003-of-00002.safetensors");
    std::fs::write(case_dir.join(names[0]), &missing).unwrap();
    let e = load_hf_model_dir(&case_dir).unwrap_err().to_string();
    assert!(e.contains("model-00003-of-00002.safetensors"), "{e}");
    std::fs::write(case_dir.join(names[0]), &index).unwrap();
    write_safetensors(&case_dir.join(files[1]), &hf[half - 1..], &[]).unwrap();
    let e = load_hf_model_dir(&case_dir).unwrap_err().to_string();
    assert!(e.contains(&hf[half - 1].name), "{e}");
}

fn sft_opts(seq_len: usize) -> SftOptions {
    SftOptions {
        seq_len,
        layout: SftLayout::Packed,
        val_fraction: 0.1,
        shard_tokens: 300,
        show_progress: false,
        ..SftOptions::default()
    }
}

#[test]
fn mutated_sft_jsonl_never_panics_and_leaves_no_partial_output() {
    let dir = tempfile::tempdir().unwrap();
    let text: String = (0..40)
        .map(|i| format!("{{\"prompt\": \"question {i}?\", \"answer\": \"answer {i}\"}}\n"))
        .collect();
    let input = dir.path().join("sft.jsonl");
    let out = dir.path().join("out");
    let tok = TextTokenizer::byte();
    let mut rng = Rng(3);
    let (mut ok, mut err) = (0, 0);
    for case in 0..cases("sft") {
        std::fs::write(&input, mutate(&mut rng, text.as_bytes())).unwrap();
        let _ = std::fs::remove_dir_all(&out);
        let layout = if case % 2 == 0 {
            SftLayout::Packed
        } else {
            SftLayout::Padded
        };
        let opts = SftOptions {
            layout,
            ..sft_opts(64)
        };
        let r = no_panic("sft", case, || {
            prepare_sft_shards(&tok, std::slice::from_ref(&input), &out, &opts)
        });
        match r {
            Ok(_) => {
                ok += 1;
                assert!(out.join("dataset.json").is_file(), "sft case {case}");
            }
            Err(e) => {
                err += 1;
                let msg = e.to_string();
                assert!(
                    !out.exists(),
                    "sft case {case}: partial output after: {msg}"
                );
                let leftovers: Vec<_> = std::fs::read_dir(dir.path())
                    .unwrap()
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .filter(|n| n != "sft.jsonl")
                    .collect();
                assert!(leftovers.is_empty(), "sft case {case}: left {leftovers:?}");
                names_file("sft", case, &msg, &input);
            }
        }
    }
    eprintln!("sft: {} cases, {ok} prepared, {err} errors", ok + err);
    assert!(ok > 0 && err > 0);
}

#[test]
fn mutated_tokenizer_json_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.txt");
    let text = "the quick brown fox jumps over the lazy dog. ".repeat(40);
    std::fs::write(&corpus, &text).unwrap();
    let good = dir.path().join("good.json");
    let opts = BpeTrainOptions {
        show_progress: false,
        ..BpeTrainOptions::default()
    };
    train_bpe_tokenizer(std::slice::from_ref(&corpus), 290, &good, &opts).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let path = dir.path().join("tokenizer.json");
    let mut rng = Rng(4);
    let (mut ok, mut err) = (0, 0);
    for case in 0..cases("tokenizer") {
        std::fs::write(&path, mutate(&mut rng, &bytes)).unwrap();
        let r = no_panic("tokenizer", case, || {
            let t = TextTokenizer::from_file(&path)?;
            // Whatever loads must also encode and decode without panicking.
            if let Ok(ids) = t.encode(b"the lazy fox \xff") {
                let _ = t.decode(&ids);
            }
            let _ = t.decode(&[0, 1, 2, u32::MAX]);
            Ok::<_, llc_trainer::data::DataError>(t.vocab_size())
        });
        match r {
            Ok(_) => ok += 1,
            Err(e) => {
                err += 1;
                names_file("tokenizer", case, &e.to_string(), &path);
            }
        }
    }
    eprintln!(
        "tokenizer.json: {} cases, {ok} loaded, {err} errors",
        ok + err
    );
    assert!(err > 0);
}

#[test]
fn mutated_token_shards_never_panic_the_loader() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.txt");
    let text: String = (0..60)
        .map(|i| format!("document {i}: some text to tokenize.\n%\n"))
        .collect();
    std::fs::write(&corpus, &text).unwrap();
    let good = dir.path().join("good");
    let opts = PrepareOptions {
        val_fraction: 0.0,
        shard_tokens: 700,
        show_progress: false,
        ..PrepareOptions::default()
    };
    prepare_shards(&TextTokenizer::byte(), &[corpus], &good, &opts).unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&good)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    let case_dir = dir.path().join("case");
    let mut rng = Rng(5);
    let (mut ok, mut err) = (0, 0);
    for case in 0..cases("token_shards") {
        let _ = std::fs::remove_dir_all(&case_dir);
        std::fs::create_dir(&case_dir).unwrap();
        for f in &files {
            std::fs::copy(f, case_dir.join(f.file_name().unwrap())).unwrap();
        }
        let victim = case_dir.join(files[rng.below(files.len())].file_name().unwrap());
        let b = std::fs::read(&victim).unwrap();
        std::fs::write(&victim, mutate(&mut rng, &b)).unwrap();
        let r = no_panic("token_shards", case, || {
            let ds = TokenDataset::open_split(&case_dir, "train")?;
            let mut loader = BatchLoader::new(
                ds,
                LoaderConfig {
                    batch_size: 2,
                    seq_len: 16,
                    seed: case as u64,
                    shuffle: true,
                    vocab_limit: Some(258),
                },
            )?;
            for _ in 0..8 {
                loader.next_batch()?;
            }
            Ok::<_, llc_trainer::data::DataError>(())
        });
        match r {
            Ok(()) => ok += 1,
            Err(e) => {
                err += 1;
                let msg = e.to_string();
                assert!(
                    msg.contains("case") && msg.len() > 20,
                    "token_shards case {case}: error without a path: {msg}"
                );
            }
        }
    }
    eprintln!(
        "token shards: {} cases, {ok} loaded, {err} errors",
        ok + err
    );
    assert!(err > 0);
}

//! SFT preparation: JSONL parsing errors with file:line, loss masks aligned with targets in
//! packed and padded layouts, truncation, and the loader yielding masks.

use std::path::{Path, PathBuf};

use llc_trainer::data::sft::SftJsonlReader;
use llc_trainer::data::{
    BatchLoader, LoaderConfig, SftLayout, SftOptions, TextTokenizer, TokenDataset,
    prepare_sft_shards,
};

/// `n` examples: prompts in lowercase letters, answers in uppercase, so the byte-level ids
/// tell which part a token came from.
fn jsonl(n: usize) -> String {
    (0..n)
        .map(|i| {
            let prompt: String = (0..(3 + i % 5))
                .map(|k| (b'a' + ((i + k) % 26) as u8) as char)
                .collect();
            let answer: String = (0..(1 + i % 4))
                .map(|k| (b'A' + ((i * 7 + k) % 26) as u8) as char)
                .collect();
            format!("{{\"prompt\": \"{prompt}\", \"answer\": \"{answer}\"}}\n")
        })
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn opts(layout: SftLayout, seq_len: usize) -> SftOptions {
    SftOptions {
        seq_len,
        layout,
        val_fraction: 0.0,
        shard_tokens: 400,
        show_progress: false,
        ..SftOptions::default()
    }
}

/// Expected mask for a target given the input before it: answer letters count, and the
/// EOS right after an answer letter; BOS, prompt letters and EOS padding do not.
fn expected_mask(input: i32, target: i32) -> f32 {
    let upper = |t: i32| (b'A' as i32..=b'Z' as i32).contains(&t);
    if upper(target) || (target == 257 && upper(input)) {
        1.0
    } else {
        0.0
    }
}

#[test]
fn packed_masks_follow_answer_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "sft.jsonl", &jsonl(200));
    let out = dir.path().join("sft");
    let s = prepare_sft_shards(
        &TextTokenizer::byte(),
        &[input],
        &out,
        &opts(SftLayout::Packed, 16),
    )
    .unwrap();
    assert_eq!(s.documents, 200);
    assert!(s.train_shards.len() > 1 && s.train_shards.iter().all(|w| w.mask_path.is_some()));
    let ds = TokenDataset::open_split(&out, "train").unwrap();
    assert!(ds.has_mask());
    let mut l = BatchLoader::new(ds, LoaderConfig::sequential(2, 16)).unwrap();
    let mut ones = 0;
    for _ in 0..l.batches_per_epoch() {
        let b = l.next_batch().unwrap();
        let mask = b.loss_mask.unwrap();
        for ((x, t), m) in b.tokens.iter().zip(&b.targets).zip(&mask) {
            assert_eq!(*m, expected_mask(*x, *t), "input {x} target {t}");
        }
        ones += mask.iter().filter(|&&m| m == 1.0).count();
    }
    assert!(ones > 0);
}

#[test]
fn padded_rows_start_at_examples() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "sft.jsonl", &jsonl(50));
    let out = dir.path().join("sft");
    let s = prepare_sft_shards(
        &TextTokenizer::byte(),
        &[input],
        &out,
        &opts(SftLayout::Padded, 16),
    )
    .unwrap();
    // 400-token shards hold 25 examples of 16 tokens plus one trailing EOS.
    assert_eq!(s.train_shards.len(), 2);
    assert_eq!(s.train_shards[0].tokens, 401);
    let ds = TokenDataset::open_split(&out, "train").unwrap();
    let mut l = BatchLoader::new(ds, LoaderConfig::sequential(5, 16)).unwrap();
    assert_eq!(l.batches_per_epoch(), 10);
    for _ in 0..10 {
        let b = l.next_batch().unwrap();
        let mask = b.loss_mask.unwrap();
        for row in 0..5 {
            assert_eq!(b.tokens[row * 16], 256, "row {row} starts with BOS");
            let r = row * 16..row * 16 + 16;
            for i in r {
                assert_eq!(mask[i], expected_mask(b.tokens[i], b.targets[i]));
            }
        }
    }
}

#[test]
fn padded_too_long_errors_or_truncates() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "long.jsonl",
        "{\"prompt\": \"ab\", \"answer\": \"C\"}\n{\"prompt\": \"abcdefghij\", \"answer\": \"XYZ\"}\n",
    );
    let out = dir.path().join("o");
    let err = prepare_sft_shards(
        &TextTokenizer::byte(),
        std::slice::from_ref(&input),
        &out,
        &opts(SftLayout::Padded, 8),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        format!(
            "{}:2: example has 15 tokens, longer than seq_len 8 (use truncation or the packed layout)",
            input.display()
        )
    );
    let mut o = opts(SftLayout::Padded, 8);
    o.truncate = true;
    let s = prepare_sft_shards(&TextTokenizer::byte(), &[input], &out, &o).unwrap();
    assert_eq!(s.extra["truncated_examples"], 1);
    assert_eq!(s.train_tokens, 17);
}

#[test]
fn jsonl_errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = jsonl(16);
    text.push_str("{\"prompt\": \"q\"}\n");
    let p = write(dir.path(), "sft.jsonl", &text);
    let out = dir.path().join("o");
    let err = prepare_sft_shards(
        &TextTokenizer::byte(),
        std::slice::from_ref(&p),
        &out,
        &opts(SftLayout::Packed, 8),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(err, format!("{}:17: missing field \"answer\"", p.display()));
    assert!(
        !out.exists() || std::fs::read_dir(&out).unwrap().next().is_none(),
        "nothing written on failure"
    );

    let cases = [
        (
            "{\"prompt\": \"q\", \"answer\": 3}\n",
            ":1: field \"answer\" must be a string, found a number",
        ),
        ("[1, 2]\n", ":1: expected a JSON object"),
        ("\n\n{\"prompt\": \"q\", \"answer\": \n", ":3: invalid JSON"),
    ];
    for (body, want) in cases {
        let p = write(dir.path(), "case.jsonl", body);
        let err = SftJsonlReader::open(&p)
            .unwrap()
            .find_map(|r| r.err())
            .unwrap()
            .to_string();
        assert!(err.contains(want), "{err} does not contain {want}");
    }
}

#[test]
fn sft_val_split_gets_masks_too() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "sft.jsonl", &jsonl(100));
    let out = dir.path().join("sft");
    let mut o = opts(SftLayout::Packed, 16);
    o.val_fraction = 0.2;
    let s = prepare_sft_shards(&TextTokenizer::byte(), &[input], &out, &o).unwrap();
    assert!(s.val_tokens > 0);
    let val = TokenDataset::open_split(&out, "val").unwrap();
    assert!(val.has_mask());
    assert_eq!(val.total_tokens(), s.val_tokens);
}

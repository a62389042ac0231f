//! Tokenizers and text preparation: byte-level and trained BPE tokenizers, document
//! splitting, train/val shards, vocabulary checks, and failures that leave nothing behind.

use std::path::{Path, PathBuf};

use llc_trainer::data::text_docs::DocChunker;
use llc_trainer::data::{
    BpeTrainOptions, DocSplit, PrepareOptions, TextTokenizer, TokenDataset, check_vocab,
    prepare_shards, train_bpe_tokenizer,
};

const WORDS: [&str; 24] = [
    "the",
    "model",
    "learns",
    "tokens",
    "from",
    "text",
    "and",
    "a",
    "compiler",
    "builds",
    "kernels",
    "for",
    "every",
    "layer",
    "while",
    "gradients",
    "flow",
    "back",
    "through",
    "attention",
    "heads",
    "quickly",
    "slowly",
    "again",
];

/// Deterministic English-like text: `docs` paragraphs separated by blank lines.
fn generated_text(docs: usize, seed: u64) -> String {
    let mut s = seed;
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 33) as usize
    };
    let mut out = String::new();
    for d in 0..docs {
        if d > 0 {
            out.push('\n');
        }
        for _ in 0..(2 + next() % 3) {
            let n = 4 + next() % 8;
            let words: Vec<&str> = (0..n).map(|_| WORDS[next() % WORDS.len()]).collect();
            out.push_str(&words.join(" "));
            out.push_str(".\n");
        }
    }
    out
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn quiet(val_fraction: f64) -> PrepareOptions {
    PrepareOptions {
        val_fraction,
        shard_tokens: 1000,
        show_progress: false,
        ..PrepareOptions::default()
    }
}

fn read_split(dir: &Path, split: &str) -> Vec<u32> {
    let mut ds = TokenDataset::open_split(dir, split).unwrap();
    let mut all = Vec::new();
    let mut buf = Vec::new();
    for i in 0..ds.num_files() {
        let n = ds.file_len(i) as usize;
        ds.read_tokens(i, 0, n, &mut buf).unwrap();
        all.extend_from_slice(&buf);
    }
    all
}

#[test]
fn byte_prepare_writes_bos_before_each_document() {
    let dir = tempfile::tempdir().unwrap();
    let text = generated_text(30, 1);
    let input = write(dir.path(), "in.txt", &text);
    let out = dir.path().join("data");
    let tok = TextTokenizer::byte();
    let summary = prepare_shards(&tok, &[input], &out, &quiet(0.0)).unwrap();
    assert_eq!(summary.documents, 30);
    assert_eq!(summary.val_tokens, 0);
    let tokens = read_split(&out, "train");
    assert_eq!(tokens.iter().filter(|&&t| t == 256).count(), 30);
    assert_eq!(tokens[0], 256);
    // Documents are the paragraphs without their separating blank lines.
    let docs: Vec<String> = tokens
        .split(|&t| t == 256)
        .skip(1)
        .map(|d| tok.decode(d).unwrap())
        .collect();
    let expected: Vec<String> = text
        .split("\n\n")
        .map(|p| {
            let mut p = p.to_string();
            if !p.ends_with('\n') {
                p.push('\n');
            }
            p
        })
        .collect();
    assert_eq!(docs, expected);
    assert!(
        summary.train_shards.len() > 1,
        "1000-token shards roll over"
    );
    assert!(out.join("dataset.json").is_file());
    // Only shards and the summary remain: no staging directory.
    let stray: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

#[test]
fn val_fraction_is_respected_and_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "in.txt", &generated_text(400, 2));
    let tok = TextTokenizer::byte();
    let a = prepare_shards(
        &tok,
        std::slice::from_ref(&input),
        &dir.path().join("a"),
        &quiet(0.1),
    )
    .unwrap();
    let frac = a.val_tokens as f64 / (a.val_tokens + a.train_tokens) as f64;
    assert!((frac - 0.1).abs() < 0.01, "val fraction {frac}");
    assert_eq!(a.val_shards[0].path.file_name().unwrap(), "val_000000.bin");
    let b = prepare_shards(&tok, &[input], &dir.path().join("b"), &quiet(0.1)).unwrap();
    assert_eq!(
        read_split(&dir.path().join("a"), "val"),
        read_split(&dir.path().join("b"), "val")
    );
    assert_eq!(a.train_tokens, b.train_tokens);
}

#[test]
fn document_splits_and_chunk_bound() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "f.txt", "one\ntwo\n%\nthree\n\nfour\n%\n");
    let docs = |split: DocSplit, max: usize| -> Vec<(String, bool, u64)> {
        DocChunker::open(&p, split, max)
            .unwrap()
            .map(|c| {
                let c = c.unwrap();
                (
                    String::from_utf8(c.text).unwrap(),
                    c.doc_start,
                    c.first_line,
                )
            })
            .collect()
    };
    assert_eq!(
        docs(DocSplit::Delimiter("%".into()), 1 << 16),
        vec![
            ("one\ntwo\n".to_string(), true, 1),
            ("three\n\nfour\n".to_string(), true, 4)
        ]
    );
    assert_eq!(
        docs(DocSplit::BlankLine, 1 << 16),
        vec![
            ("one\ntwo\n%\nthree\n".to_string(), true, 1),
            ("four\n%\n".to_string(), true, 6)
        ]
    );
    assert_eq!(docs(DocSplit::Line, 1 << 16).len(), 6);
    assert_eq!(
        docs(DocSplit::Line, 1 << 16)[0],
        ("one".to_string(), true, 1)
    );
    // A 6-byte bound splits the one-document file into line-aligned chunks.
    let chunks = docs(DocSplit::File, 6);
    assert_eq!(chunks[0], ("one\n".to_string(), true, 1));
    assert_eq!(chunks[1], ("two\n%\n".to_string(), false, 2));
    assert!(chunks[1..].iter().all(|c| !c.1));
    let joined: String = chunks.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(joined, std::fs::read_to_string(&p).unwrap());
    assert!(DocSplit::parse("delim:%").is_ok());
    assert!(DocSplit::parse("sentences").is_err());
}

#[test]
fn bpe_trains_saves_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "corpus.txt", &generated_text(300, 3));
    let out = dir.path().join("tokenizer.json");
    let opts = BpeTrainOptions {
        show_progress: false,
        ..BpeTrainOptions::default()
    };
    let summary = train_bpe_tokenizer(std::slice::from_ref(&input), 320, &out, &opts).unwrap();
    assert_eq!(summary.vocab_size, 320);
    let tok = TextTokenizer::from_file(&out).unwrap();
    assert_eq!(tok.vocab_size(), 320);
    assert_eq!((tok.bos_id(), tok.eos_id()), (0, 1));
    let text = "the compiler builds kernels for every layer.\n";
    let ids = tok.encode(text.as_bytes()).unwrap();
    assert!(
        ids.len() < text.len() / 2,
        "merges compress text: {} ids",
        ids.len()
    );
    assert_eq!(tok.decode(&ids).unwrap(), text);
    // Unseen bytes still encode (byte-level alphabet), and decode back.
    let odd = "zébra ✓";
    assert_eq!(
        tok.decode(&tok.encode(odd.as_bytes()).unwrap()).unwrap(),
        odd
    );

    check_vocab(&tok, 320).unwrap();
    let err = check_vocab(&tok, 319).unwrap_err().to_string();
    assert!(
        err.contains("320 ids") && err.contains("vocab_size is 319"),
        "{err}"
    );

    // Prepare with the trained tokenizer: u16 shards, BOS = 0 at each document.
    let data = dir.path().join("data");
    let s = prepare_shards(&tok, &[input], &data, &quiet(0.0)).unwrap();
    assert_eq!(s.vocab_size, 320);
    let tokens = read_split(&data, "train");
    assert_eq!(
        tokens.iter().filter(|&&t| t == 0).count() as u64,
        s.documents
    );
    assert!(tokens.iter().all(|&t| t < 320));
}

#[test]
fn bpe_training_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let opts = BpeTrainOptions {
        show_progress: false,
        ..BpeTrainOptions::default()
    };
    let out = dir.path().join("tok.json");
    let missing = dir.path().join("missing.txt");
    let err = train_bpe_tokenizer(std::slice::from_ref(&missing), 300, &out, &opts)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.txt"), "{err}");
    let good = write(dir.path(), "good.txt", "hello\n");
    let err = train_bpe_tokenizer(std::slice::from_ref(&good), 100, &out, &opts)
        .unwrap_err()
        .to_string();
    assert!(err.contains("below the minimum 258"), "{err}");
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, b"fine\nbroken \xff here\n").unwrap();
    let err = train_bpe_tokenizer(&[good, bad], 300, &out, &opts)
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad.txt:2: invalid UTF-8"), "{err}");
    assert!(!out.exists(), "no tokenizer written on failure");
}

#[test]
fn failed_prepare_leaves_no_shards() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = write(dir.path(), "corpus.txt", &generated_text(100, 4));
    let opts = BpeTrainOptions {
        show_progress: false,
        ..BpeTrainOptions::default()
    };
    let tok_path = dir.path().join("tok.json");
    train_bpe_tokenizer(std::slice::from_ref(&corpus), 300, &tok_path, &opts).unwrap();
    let tok = TextTokenizer::from_file(&tok_path).unwrap();
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, b"ok line\n\nsecond doc\nthird \xc3( line\n").unwrap();
    let out = dir.path().join("data");
    let err = prepare_shards(&tok, &[corpus, bad.clone()], &out, &quiet(0.1))
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad.txt:3: invalid UTF-8"), "{err}");
    // Nothing half-written: not even the output directory the preparation created.
    assert!(!out.exists(), "{} was left behind", out.display());
    // A directory that was there before stays (empty).
    std::fs::create_dir(&out).unwrap();
    prepare_shards(&tok, &[bad], &out, &quiet(0.1)).unwrap_err();
    let left: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert!(left.is_empty(), "nothing half-written: {left:?}");
}

#[test]
fn existing_shards_need_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "in.txt", &generated_text(50, 5));
    let out = dir.path().join("data");
    let tok = TextTokenizer::byte();
    // Small shards first, then a rerun with bigger shards must not keep stale files.
    let mut small = quiet(0.0);
    small.shard_tokens = 200;
    let first = prepare_shards(&tok, std::slice::from_ref(&input), &out, &small).unwrap();
    assert!(first.train_shards.len() > 2);
    let err = prepare_shards(&tok, std::slice::from_ref(&input), &out, &quiet(0.0))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("already holds") && err.contains("train_000000.bin"),
        "{err}"
    );
    let mut over = quiet(0.0);
    over.overwrite = true;
    over.shard_tokens = 1_000_000;
    let second = prepare_shards(&tok, &[input], &out, &over).unwrap();
    assert_eq!(second.train_shards.len(), 1);
    let bins = std::fs::read_dir(&out)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".bin")
        })
        .count();
    assert_eq!(bins, 1, "stale shards removed");
    assert_eq!(read_split(&out, "train").len() as u64, first.train_tokens);
}

#[test]
fn tokenizer_file_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = TextTokenizer::load(dir.path().join("nope.json").to_str().unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nope.json") && err.contains("not found"),
        "{err}"
    );
    let junk = write(dir.path(), "junk.json", "{\"not\": \"a tokenizer\"}");
    let err = TextTokenizer::from_file(&junk).unwrap_err().to_string();
    assert!(
        err.starts_with("tokenizer loading") && err.contains("junk.json"),
        "{err}"
    );
    assert_eq!(TextTokenizer::load("byte").unwrap().vocab_size(), 258);
}

#[test]
fn fortunes_split_on_percent_lines() {
    let path = Path::new("/usr/share/games/fortunes/fortunes");
    if !path.is_file() {
        eprintln!(
            "skipping: {} not present (Debian package fortunes-min)",
            path.display()
        );
        return;
    }
    let text = std::fs::read(path).unwrap();
    let expected_docs = String::from_utf8_lossy(&text)
        .split("\n%\n")
        .filter(|d| !d.trim_matches(|c| c == '%' || c == '\n').is_empty())
        .count() as u64;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("data");
    let mut opts = quiet(0.1);
    opts.split = DocSplit::Delimiter("%".into());
    let s = prepare_shards(&TextTokenizer::byte(), &[path.to_path_buf()], &out, &opts).unwrap();
    assert_eq!(s.documents, expected_docs);
    assert!(s.val_tokens > 0 && s.train_tokens > s.val_tokens);
    assert_eq!(
        s.train_tokens + s.val_tokens,
        text.len() as u64 - count_percent_lines(&text) + s.documents
    );
}

/// Bytes taken by `%` separator lines (dropped by the delimiter split).
fn count_percent_lines(text: &[u8]) -> u64 {
    text.split_inclusive(|&b| b == b'\n')
        .filter(|l| l.strip_suffix(b"\n").unwrap_or(l) == b"%")
        .map(|l| l.len() as u64)
        .sum()
}

#[test]
#[ignore = "throughput measurement on ~32 MB of generated text (tens of seconds); run with --ignored --nocapture"]
fn throughput_of_training_and_preparing() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.txt");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
        let mut seed = 0;
        while f.get_ref().metadata().unwrap().len() < 32 << 20 {
            f.write_all(generated_text(500, seed).as_bytes()).unwrap();
            f.write_all(b"\n").unwrap();
            f.flush().unwrap();
            seed += 1;
        }
    }
    let mb = std::fs::metadata(&input).unwrap().len() as f64 / (1 << 20) as f64;
    let mut opts = quiet(0.01);
    opts.shard_tokens = 10_000_000;

    let t = std::time::Instant::now();
    let s = prepare_shards(
        &TextTokenizer::byte(),
        std::slice::from_ref(&input),
        &dir.path().join("byte"),
        &opts,
    )
    .unwrap();
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "byte prepare: {mb:.1} MB in {secs:.2}s = {:.1} MB/s, {} tokens",
        mb / secs,
        s.train_tokens + s.val_tokens
    );

    let tok_path = dir.path().join("tok.json");
    let bpe_opts = BpeTrainOptions {
        show_progress: false,
        ..BpeTrainOptions::default()
    };
    let t = std::time::Instant::now();
    train_bpe_tokenizer(std::slice::from_ref(&input), 4096, &tok_path, &bpe_opts).unwrap();
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "BPE train (vocab 4096): {mb:.1} MB in {secs:.2}s = {:.1} MB/s",
        mb / secs
    );

    let tok = TextTokenizer::from_file(&tok_path).unwrap();
    let t = std::time::Instant::now();
    let s = prepare_shards(&tok, &[input], &dir.path().join("bpe"), &opts).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let tokens = s.train_tokens + s.val_tokens;
    eprintln!(
        "BPE prepare: {mb:.1} MB in {secs:.2}s = {:.1} MB/s, {tokens} tokens ({:.2} bytes/token)",
        mb / secs,
        mb * (1 << 20) as f64 / tokens as f64
    );
}

//! Token shard writing and validation: the llm.c header, u16/u32 widths, rollover, raw
//! and text inputs, loss-mask pairing, and a clear error for every malformed file.

use std::path::{Path, PathBuf};

use llc_trainer::data::shard_format::{HEADER_BYTES, LLMC_U32_MAGIC};
use llc_trainer::data::{
    ShardSetWriter, TokenDataset, TokenFile, TokenFormat, TokenWidth, WrittenShard,
};

fn write_header(path: &Path, ints: &[i32], payload: &[u8]) {
    let mut bytes = vec![0u8; HEADER_BYTES];
    for (i, v) in ints.iter().enumerate() {
        bytes[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
    }
    bytes.extend_from_slice(payload);
    std::fs::write(path, bytes).unwrap();
}

fn write_split(
    dir: &Path,
    tokens: &[u32],
    width: TokenWidth,
    per_shard: usize,
) -> Vec<WrittenShard> {
    let mut w = ShardSetWriter::new(dir, "train", width, per_shard, false).unwrap();
    // Push in uneven pieces so rollover happens mid-push.
    for piece in tokens.chunks(7) {
        w.push(piece, None).unwrap();
    }
    w.finish().unwrap()
}

#[test]
fn u16_shards_roll_over_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let tokens: Vec<u32> = (0..250u32).map(|i| (i * 263) % 65536).collect();
    let shards = write_split(dir.path(), &tokens, TokenWidth::U16, 100);
    let names: Vec<String> = shards
        .iter()
        .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["train_000000.bin", "train_000001.bin", "train_000002.bin"]
    );
    assert_eq!(
        shards.iter().map(|s| s.tokens).collect::<Vec<_>>(),
        [100, 100, 50]
    );

    // Byte layout is llm.c's: magic, version 1, count, zeros, then u16 little endian.
    let raw = std::fs::read(&shards[2].path).unwrap();
    assert_eq!(raw.len(), HEADER_BYTES + 50 * 2);
    assert_eq!(&raw[0..4], &20240520i32.to_le_bytes());
    assert_eq!(&raw[4..8], &1i32.to_le_bytes());
    assert_eq!(&raw[8..12], &50i32.to_le_bytes());
    assert_eq!(
        &raw[HEADER_BYTES..HEADER_BYTES + 2],
        &(tokens[200] as u16).to_le_bytes()
    );

    let mut ds = TokenDataset::open_split(dir.path(), "train").unwrap();
    assert_eq!(ds.total_tokens(), 250);
    let mut all = Vec::new();
    let mut buf = Vec::new();
    for i in 0..ds.num_files() {
        let n = ds.file_len(i) as usize;
        ds.read_tokens(i, 0, n, &mut buf).unwrap();
        all.extend_from_slice(&buf);
    }
    assert_eq!(all, tokens);
    // No temp files left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
}

#[test]
fn u32_shards_hold_large_ids() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = vec![0, 65535, 65536, 100_000, u32::MAX];
    let shards = write_split(dir.path(), &tokens, TokenWidth::U32, 1000);
    let raw = std::fs::read(&shards[0].path).unwrap();
    assert_eq!(&raw[4..8], &2i32.to_le_bytes());
    let mut f = TokenFile::open_token_shard(&shards[0].path).unwrap();
    assert_eq!(f.read_all().unwrap(), tokens);
}

#[test]
fn u16_writer_rejects_large_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = ShardSetWriter::new(dir.path(), "train", TokenWidth::U16, 10, false).unwrap();
    let err = w.push(&[1, 70000], None).unwrap_err().to_string();
    assert!(err.contains("70000") && err.contains("u16"), "{err}");
}

#[test]
fn llmc_llama3_u32_shards_are_readable() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("llama3.bin");
    let payload: Vec<u8> = [7u32, 128_000]
        .iter()
        .flat_map(|t| t.to_le_bytes())
        .collect();
    write_header(&p, &[LLMC_U32_MAGIC, 7, 2], &payload);
    let mut f = TokenFile::open_token_shard(&p).unwrap();
    assert_eq!(f.read_all().unwrap(), vec![7, 128_000]);
}

#[test]
fn bad_magic_names_file_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("train_000001.bin");
    write_header(&p, &[12345, 1, 0], &[]);
    let err = TokenFile::open_token_shard(&p).unwrap_err().to_string();
    assert_eq!(
        err,
        format!("shard {}: bad magic 12345 (expected 20240520)", p.display())
    );
}

#[test]
fn truncated_shard_reports_both_counts() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.bin");
    write_header(&p, &[20240520, 1, 1000], &vec![0u8; 998 * 2]);
    let err = TokenFile::open_token_shard(&p).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "shard {}: truncated: header says 1000 tokens, file holds 998",
            p.display()
        )
    );
}

#[test]
fn trailing_data_and_short_header_and_version_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let long = dir.path().join("long.bin");
    write_header(&long, &[20240520, 1, 2], &[0u8; 6]);
    let err = TokenFile::open_token_shard(&long).unwrap_err().to_string();
    assert!(
        err.contains("header says 2 tokens, but file holds 3"),
        "{err}"
    );

    let short = dir.path().join("short.bin");
    std::fs::write(&short, [0u8; 100]).unwrap();
    let err = TokenFile::open_token_shard(&short).unwrap_err().to_string();
    assert!(
        err.contains("100 bytes, shorter than the 1024-byte header"),
        "{err}"
    );

    let ver = dir.path().join("ver.bin");
    write_header(&ver, &[20240520, 9, 0], &[]);
    let err = TokenFile::open_token_shard(&ver).unwrap_err().to_string();
    assert!(err.contains("unsupported version 9"), "{err}");

    let neg = dir.path().join("neg.bin");
    write_header(&neg, &[20240520, 1, -5], &[]);
    let err = TokenFile::open_token_shard(&neg).unwrap_err().to_string();
    assert!(err.contains("negative"), "{err}");
}

#[test]
fn missing_file_is_named() {
    let p = PathBuf::from("/nonexistent/dir/train_000000.bin");
    let err = TokenDataset::open(std::slice::from_ref(&p), TokenFormat::Shard)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("/nonexistent/dir/train_000000.bin:"),
        "{err}"
    );
}

#[test]
fn empty_directory_has_no_token_files() {
    let dir = tempfile::tempdir().unwrap();
    let err = TokenDataset::open_split(dir.path(), "val")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no token files") && err.contains("val_*.bin"),
        "{err}"
    );
}

#[test]
fn raw_and_text_formats() {
    let dir = tempfile::tempdir().unwrap();
    let p16 = dir.path().join("a.u16");
    std::fs::write(&p16, [1u8, 0, 2, 1]).unwrap();
    let mut f = TokenFile::open(&p16, TokenFormat::RawU16).unwrap();
    assert_eq!(f.read_all().unwrap(), vec![1, 258]);

    let p32 = dir.path().join("a.u32");
    std::fs::write(&p32, [1u8, 0, 0, 0, 0, 0, 1, 0]).unwrap();
    let mut f = TokenFile::open(&p32, TokenFormat::RawU32).unwrap();
    assert_eq!(f.read_all().unwrap(), vec![1, 65536]);

    let odd = dir.path().join("odd.u16");
    std::fs::write(&odd, [1u8, 2, 3]).unwrap();
    let err = TokenFile::open(&odd, TokenFormat::RawU16)
        .unwrap_err()
        .to_string();
    assert!(err.contains("3 bytes, not a multiple of 2"), "{err}");

    let txt = dir.path().join("a.txt");
    std::fs::write(&txt, "hé").unwrap();
    let mut f = TokenFile::open(&txt, TokenFormat::TextBytes).unwrap();
    assert_eq!(f.read_all().unwrap(), vec![104, 0xc3, 0xa9]);
    assert_eq!(TokenFormat::parse("raw-u32").unwrap(), TokenFormat::RawU32);
    assert!(TokenFormat::parse("csv").is_err());
}

#[test]
fn mask_shards_pair_and_mismatch_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = ShardSetWriter::new(dir.path(), "train", TokenWidth::U16, 4, true).unwrap();
    w.push(&[1, 2, 3, 4, 5, 6], Some(&[0, 0, 1, 1, 0, 1]))
        .unwrap();
    let shards = w.finish().unwrap();
    assert_eq!(shards.len(), 2);
    let mask_path = shards[0].mask_path.clone().unwrap();
    assert!(mask_path.ends_with("train_000000.mask.bin"));
    let mut m = TokenFile::open_mask_shard(&mask_path).unwrap();
    assert_eq!(m.read_all().unwrap(), vec![0, 0, 1, 1]);
    let ds = TokenDataset::open_split(dir.path(), "train").unwrap();
    assert!(ds.has_mask());
    // A mask file is not a token file.
    let err = TokenFile::open_token_shard(&mask_path)
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected token ids"), "{err}");

    // Replace the second mask with a shorter one.
    let m1 = shards[1].mask_path.clone().unwrap();
    write_header(&m1, &[20240520, 3, 1], &[1]);
    let err = TokenDataset::open_split(dir.path(), "train")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("holds 1 entries") && err.contains("holds 2"),
        "{err}"
    );

    // Remove it entirely: the split is half-masked.
    std::fs::remove_file(&m1).unwrap();
    let err = TokenDataset::open_split(dir.path(), "train")
        .unwrap_err()
        .to_string();
    assert!(err.contains("no loss-mask file"), "{err}");
}

#[test]
fn directory_with_both_splits_must_name_one() {
    let dir = tempfile::tempdir().unwrap();
    for prefix in ["train", "val"] {
        let mut w = ShardSetWriter::new(dir.path(), prefix, TokenWidth::U16, 10, false).unwrap();
        w.push(&[1, 2, 3], None).unwrap();
        w.finish().unwrap();
    }
    let err = TokenDataset::open(&[dir.path().to_path_buf()], TokenFormat::Shard)
        .unwrap_err()
        .to_string();
    assert!(err.contains("both train_ and val_ shards"), "{err}");
    assert_eq!(
        TokenDataset::open_split(dir.path(), "val")
            .unwrap()
            .total_tokens(),
        3
    );
    // A directory of one split opens whole.
    std::fs::remove_file(dir.path().join("val_000000.bin")).unwrap();
    let ds = TokenDataset::open(&[dir.path().to_path_buf()], TokenFormat::Shard).unwrap();
    assert_eq!(ds.num_files(), 1);
}

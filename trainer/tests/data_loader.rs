//! The batch loader: window contents, target shift, epoch order, seeded shuffling, exact
//! resume from a serialized position, and refusal of inconsistent resumes.

use std::collections::BTreeSet;
use std::path::Path;

use llc_trainer::data::{
    BatchLoader, LoaderConfig, LoaderPosition, ShardSetWriter, TokenDataset, TokenWidth,
};

/// Writes train shards whose token at global index i is i % 60000, `per_shard` per file.
fn make_split(dir: &Path, total: u32, per_shard: usize) {
    let mut w = ShardSetWriter::new(dir, "train", TokenWidth::U16, per_shard, false).unwrap();
    let tokens: Vec<u32> = (0..total).map(|i| i % 60000).collect();
    w.push(&tokens, None).unwrap();
    w.finish().unwrap();
}

fn loader(dir: &Path, cfg: LoaderConfig) -> BatchLoader {
    BatchLoader::new(TokenDataset::open_split(dir, "train").unwrap(), cfg).unwrap()
}

#[test]
fn sequential_windows_and_shifted_targets() {
    let dir = tempfile::tempdir().unwrap();
    // Two files of 100 tokens; B*T = 2*8 = 16 -> (100-1)/16 = 6 windows per file.
    make_split(dir.path(), 200, 100);
    let mut l = loader(dir.path(), LoaderConfig::sequential(2, 8));
    assert_eq!(l.batches_per_epoch(), 12);
    let b = l.next_batch().unwrap();
    assert_eq!(b.tokens, (0..16).collect::<Vec<i32>>());
    assert_eq!(b.targets, (1..17).collect::<Vec<i32>>());
    assert!(b.loss_mask.is_none());
    let b2 = l.next_batch().unwrap();
    assert_eq!(b2.tokens[0], 16);
    for _ in 2..6 {
        l.next_batch().unwrap();
    }
    // Seventh batch is the second file's first window (tokens 100..).
    let b7 = l.next_batch().unwrap();
    assert_eq!(b7.source, (1, 0));
    assert_eq!(b7.tokens[0], 100);
    for _ in 7..12 {
        l.next_batch().unwrap();
    }
    assert_eq!(l.position().epoch, 1);
    assert_eq!(l.next_batch().unwrap().tokens, b.tokens);
}

#[test]
fn shuffled_epochs_cover_every_window_once_and_depend_on_seed() {
    let dir = tempfile::tempdir().unwrap();
    make_split(dir.path(), 1000, 250);
    let cfg = |seed| LoaderConfig {
        batch_size: 2,
        seq_len: 10,
        seed,
        shuffle: true,
        vocab_limit: None,
    };
    let mut l = loader(dir.path(), cfg(7));
    let per_epoch = l.batches_per_epoch();
    assert_eq!(per_epoch, 4 * 12);
    let epoch0: Vec<i32> = (0..per_epoch)
        .map(|_| l.next_batch().unwrap().tokens[0])
        .collect();
    let epoch1: Vec<i32> = (0..per_epoch)
        .map(|_| l.next_batch().unwrap().tokens[0])
        .collect();
    let set0: BTreeSet<i32> = epoch0.iter().copied().collect();
    assert_eq!(set0.len() as u64, per_epoch, "each window once per epoch");
    assert_eq!(set0, epoch1.iter().copied().collect());
    assert_ne!(epoch0, epoch1, "epochs are reshuffled");
    let sorted: Vec<i32> = set0.iter().copied().collect();
    assert_ne!(epoch0, sorted, "order is shuffled");

    let mut same = loader(dir.path(), cfg(7));
    let again: Vec<i32> = (0..per_epoch)
        .map(|_| same.next_batch().unwrap().tokens[0])
        .collect();
    assert_eq!(epoch0, again, "same seed, same order");
    let mut other = loader(dir.path(), cfg(8));
    let diff: Vec<i32> = (0..per_epoch)
        .map(|_| other.next_batch().unwrap().tokens[0])
        .collect();
    assert_ne!(epoch0, diff, "another seed, another order");
}

#[test]
fn resume_from_serialized_position_replays_exactly() {
    let dir = tempfile::tempdir().unwrap();
    make_split(dir.path(), 3000, 700);
    let cfg = LoaderConfig {
        batch_size: 3,
        seq_len: 16,
        seed: 42,
        shuffle: true,
        vocab_limit: Some(60000),
    };
    let mut a = loader(dir.path(), cfg.clone());
    // Stop part-way through the second epoch.
    let stop = a.batches_per_epoch() + 5;
    for _ in 0..stop {
        a.next_batch().unwrap();
    }
    let json = serde_json::to_string(&a.position()).unwrap();
    let expected: Vec<_> = (0..80).map(|_| a.next_batch().unwrap()).collect();

    let pos: LoaderPosition = serde_json::from_str(&json).unwrap();
    assert_eq!(pos.epoch, 1);
    assert_eq!(pos.batches_served, stop);
    let mut b = loader(dir.path(), cfg);
    b.seek(&pos).unwrap();
    let got: Vec<_> = (0..80).map(|_| b.next_batch().unwrap()).collect();
    assert_eq!(got, expected);
}

#[test]
fn resume_with_other_shape_or_data_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    make_split(dir.path(), 500, 500);
    let mut a = loader(dir.path(), LoaderConfig::sequential(2, 8));
    a.next_batch().unwrap();
    let pos = a.position();

    let mut b = loader(dir.path(), LoaderConfig::sequential(4, 8));
    let err = b.seek(&pos).unwrap_err().to_string();
    assert_eq!(
        err,
        "cannot resume data loader: batch size was 2 when saved, is 4 now"
    );

    let other = tempfile::tempdir().unwrap();
    make_split(other.path(), 600, 500);
    let mut c = loader(other.path(), LoaderConfig::sequential(2, 8));
    let err = c.seek(&pos).unwrap_err().to_string();
    assert!(err.contains("dataset fingerprint"), "{err}");

    let mut bad = pos.clone();
    bad.window_cursor = 10_000;
    let mut d = loader(dir.path(), LoaderConfig::sequential(2, 8));
    let err = d.seek(&bad).unwrap_err().to_string();
    assert!(err.contains("window cursor 10000 is out of range"), "{err}");
}

#[test]
fn token_beyond_vocab_is_reported_with_file_and_index() {
    let dir = tempfile::tempdir().unwrap();
    make_split(dir.path(), 300, 300);
    let cfg = LoaderConfig {
        vocab_limit: Some(20),
        ..LoaderConfig::sequential(1, 8)
    };
    let mut l = loader(dir.path(), cfg);
    l.next_batch().unwrap(); // tokens 0..=8
    l.next_batch().unwrap(); // tokens 8..=16
    let err = l.next_batch().unwrap_err().to_string(); // tokens 16..=24: 20 is out of range
    assert!(
        err.contains(
            "train_000000.bin: token 20 at index 20 is out of range for vocabulary size 20"
        ),
        "{err}"
    );
}

#[test]
fn dataset_smaller_than_a_batch_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    make_split(dir.path(), 16, 100);
    let ds = TokenDataset::open_split(dir.path(), "train").unwrap();
    let err = BatchLoader::new(ds, LoaderConfig::sequential(2, 8))
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        "dataset has no file with at least 17 tokens (one batch of B*T+1); largest holds 16"
    );
}

#[test]
fn reset_restarts_validation_pass() {
    let dir = tempfile::tempdir().unwrap();
    make_split(dir.path(), 100, 100);
    let mut l = loader(dir.path(), LoaderConfig::sequential(1, 10));
    let first = l.next_batch().unwrap();
    l.next_batch().unwrap();
    l.reset();
    assert_eq!(l.next_batch().unwrap(), first);
}

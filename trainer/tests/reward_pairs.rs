//! Preference pairs for the reward model: parsing (ratings to margins, errors with
//! file:line and the field), tokenizing as `data sft` does, the ranking-loss batch
//! layout, the seeded order with its exact resume, and the held-out split.

use llc_models::{REWARD_PAD_ID, reward_inputs};
use llc_trainer::data::TextTokenizer;
use llc_trainer::reward::{
    PairLoader, Rating, encode_pairs, pair_batch, read_pairs, split_held_out,
};
use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const PAIRS: &str = r#"{"prompt": "Q: ", "chosen": "yes", "rejected": "no", "rating": "significantly better"}

{"prompt": "Q: ", "chosen": "ok", "rejected": "bad", "rating": "Slightly_Better"}
{"prompt": "Hi", "chosen": "there", "rejected": "you"}
{"prompt": "Hi", "chosen": "a", "rejected": "b", "rating": "unsure"}
{"prompt": "Hi", "chosen": "c", "rejected": "d", "rating": "better"}
"#;

#[test]
fn ratings_become_the_papers_margins_and_blank_lines_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let pairs = read_pairs(&write(dir.path(), "p.jsonl", PAIRS)).unwrap();
    let margins: Vec<f32> = pairs.iter().map(|p| p.margin).collect();
    assert_eq!(margins, [1.0, 1.0 / 3.0, 0.0, 0.0, 2.0 / 3.0]);
    assert_eq!(pairs[1].line, 3, "line numbers count the blank line");
    assert_eq!(pairs[0].chosen, "yes");
    assert_eq!(
        Rating::parse("negligibly-better"),
        Some(Rating::NegligiblyBetter)
    );
    assert_eq!(Rating::parse("much better"), None);
}

#[test]
fn malformed_pairs_name_the_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "{\"prompt\": \"a\", \"chosen\": \"b\"}\n",
            ":1:",
            "missing field \"rejected\"",
        ),
        (
            "\n{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": 3}\n",
            ":2:",
            "field \"rejected\" must be a string, found a number",
        ),
        (
            "{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\", \"rating\": \"great\"}\n",
            ":1:",
            "\"great\"; expected one of \"significantly better\"",
        ),
        (
            "{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\", \"rating\": 1}\n",
            ":1:",
            "field \"rating\" must be a string",
        ),
        (
            "[1, 2]\n",
            ":1:",
            "expected a JSON object with \"prompt\", \"chosen\" and \"rejected\", found an array",
        ),
        ("{\"prompt\": \n", ":1:", "invalid JSON"),
        ("\n\n", "", "no preference pair"),
    ];
    for (i, (text, at, says)) in cases.iter().enumerate() {
        let name = format!("bad{i}.jsonl");
        let path = write(dir.path(), &name, text);
        let e = read_pairs(&path).unwrap_err().to_string();
        assert!(e.contains(&format!("{name}{at}")), "case {i}: {e}");
        assert!(e.contains(says), "case {i}: {e}");
    }
}

#[test]
fn pairs_tokenize_as_sft_and_batch_chosen_rows_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "p.jsonl", PAIRS);
    let pairs = read_pairs(&path).unwrap();
    let tok = TextTokenizer::byte();
    let (enc, too_long) = encode_pairs(&tok, &pairs, 9, &path).unwrap();
    // The longest, "Hi" + "there", is 7 bytes + BOS + EOS = 9 tokens.
    assert_eq!(too_long, 0);
    let first = &enc[0].chosen;
    assert_eq!(first[0], tok.bos_id());
    assert_eq!(*first.last().unwrap(), tok.eos_id());
    assert_eq!(&first[1..first.len() - 1], b"Q: yes".map(u32::from));
    let (_, dropped) = encode_pairs(&tok, &pairs, 8, &path).unwrap();
    assert_eq!(dropped, 1, "only the 9-token pair is too long for 8");

    let b = pair_batch(&[&enc[0], &enc[3]], 8).unwrap();
    let tokens = b.get("tokens").unwrap();
    assert_eq!(tokens.shape(), [4, 8]);
    let rows: Vec<Vec<i32>> = tokens
        .as_i32()
        .unwrap()
        .to_vec()
        .chunks(8)
        .map(<[i32]>::to_vec)
        .collect();
    let expect = |ids: &[u32]| {
        let mut v: Vec<i32> = ids.iter().map(|&t| t as i32).collect();
        v.resize(8, REWARD_PAD_ID as i32);
        v
    };
    assert_eq!(rows[0], expect(&enc[0].chosen));
    assert_eq!(rows[1], expect(&enc[3].chosen));
    assert_eq!(rows[2], expect(&enc[0].rejected));
    assert_eq!(rows[3], expect(&enc[3].rejected));
    let pos = b
        .get(reward_inputs::REWARD_POS)
        .unwrap()
        .as_i32()
        .unwrap()
        .to_vec();
    let lens = [
        &enc[0].chosen,
        &enc[3].chosen,
        &enc[0].rejected,
        &enc[3].rejected,
    ]
    .map(|v| v.len() as i32 - 1);
    assert_eq!(pos, lens);
    assert_eq!(
        b.get(reward_inputs::MARGIN).unwrap().to_f32_vec(),
        [1.0, 0.0]
    );
}

fn encoded(n: usize) -> Vec<llc_trainer::reward::EncodedPair> {
    (0..n)
        .map(|i| llc_trainer::reward::EncodedPair {
            chosen: vec![1, 10 + i as u32, 2],
            rejected: vec![1, 200 + i as u32, 2],
            margin: 0.0,
            line: i as u64 + 1,
        })
        .collect()
}

fn first_tokens(l: &mut PairLoader, batches: usize) -> Vec<i32> {
    (0..batches)
        .flat_map(|_| {
            let t = l
                .next_batch()
                .unwrap()
                .get("tokens")
                .unwrap()
                .as_i32()
                .unwrap()
                .to_vec();
            t.chunks(3).map(|r| r[1]).collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn every_epoch_serves_each_pair_once_in_a_seeded_order_that_resumes_exactly() {
    let mut a = PairLoader::new(encoded(10), 3, 2, 7, true).unwrap();
    assert_eq!(a.batches_per_epoch(), 5);
    let epoch0 = first_tokens(&mut a, 5);
    let mut chosen: Vec<i32> = epoch0.chunks(4).flat_map(|c| c[..2].to_vec()).collect();
    chosen.sort();
    assert_eq!(chosen, (10..20).collect::<Vec<_>>());
    let epoch1 = first_tokens(&mut a, 5);
    assert_ne!(epoch0, epoch1, "each epoch draws a new order");

    // Resume mid-epoch: the same batches follow.
    let mut b = PairLoader::new(encoded(10), 3, 2, 7, true).unwrap();
    first_tokens(&mut b, 7);
    let pos = b.position();
    let rest_b = first_tokens(&mut b, 6);
    let mut c = PairLoader::new(encoded(10), 3, 2, 7, true).unwrap();
    c.seek(&pos).unwrap();
    assert_eq!(first_tokens(&mut c, 6), rest_b);

    // Other pairs, another seed or batch: refused.
    let mut other = PairLoader::new(encoded(12), 3, 2, 7, true).unwrap();
    let e = other.seek(&pos).unwrap_err().to_string();
    assert!(e.contains("pairs:10:") && e.contains("pairs:12:"), "{e}");
    let mut seed = PairLoader::new(encoded(10), 3, 2, 8, true).unwrap();
    let e = seed.seek(&pos).unwrap_err().to_string();
    assert!(e.contains("the seed was 7 when saved, is 8 now"), "{e}");
    assert!(PairLoader::new(encoded(1), 3, 2, 7, true).is_err());
}

#[test]
fn the_held_out_split_is_fixed_and_disjoint() {
    let (train, val) = split_held_out(encoded(20), 0.1);
    assert_eq!((train.len(), val.len()), (18, 2));
    let (train2, val2) = split_held_out(encoded(20), 0.1);
    assert_eq!((train, val.clone()), (train2, val2));
    assert!(val.iter().all(|v| v.line >= 1));
    let (_, none) = split_held_out(encoded(20), 0.0);
    assert!(none.is_empty());
    let (t, one) = split_held_out(encoded(3), 0.01);
    assert_eq!(
        (t.len(), one.len()),
        (2, 1),
        "a positive fraction holds out at least one"
    );
}

//! Reading `.ir` files as bytes: input that is not UTF-8 is an `invalid UTF-8` error at
//! the line and column of the first bad byte (what a tool prints as `file:line:col`), and
//! UTF-8 input reads exactly as the text parser reads it. Random bytes and byte-level
//! mutations of a valid module never panic.

use llc_ir::{IrError, Module, Span, parse_module, parse_module_bytes, print_module};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use std::cell::Cell;

const ALL_OPS: &str = include_str!("data/all_ops.ir");

/// 2000 cases per property, or `PROPTEST_CASES` to fuzz longer.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

/// Where the first invalid byte of `bytes` is, counted on the bytes themselves: lines
/// are `\n`-separated, and a column advances once per byte that starts a character (any
/// byte that is not a UTF-8 continuation byte `10xxxxxx`).
fn first_bad_byte(bytes: &[u8]) -> Option<Span> {
    let good = std::str::from_utf8(bytes).err()?.valid_up_to();
    let prefix = &bytes[..good];
    let line_start = prefix
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = 1 + prefix.iter().filter(|&&b| b == b'\n').count();
    let col = 1 + prefix[line_start..]
        .iter()
        .filter(|&&b| b & 0xC0 != 0x80)
        .count();
    Some(Span {
        line: line as u32,
        col: col as u32,
    })
}

/// A parse result in a comparable form: the printed module, or the error.
fn printed(r: Result<Module, IrError>) -> Result<String, IrError> {
    r.map(|m| print_module(&m))
}

/// How a case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    NotUtf8,
    Parsed,
    Rejected,
}

fn check(bytes: &[u8]) -> Result<Outcome, TestCaseError> {
    let got = printed(parse_module_bytes(bytes));
    match (std::str::from_utf8(bytes), first_bad_byte(bytes)) {
        (Err(_), Some(span)) => {
            prop_assert_eq!(
                got,
                Err(IrError::Parse {
                    span,
                    msg: "invalid UTF-8".into()
                })
            );
            Ok(Outcome::NotUtf8)
        }
        (Ok(text), None) => {
            let want = printed(parse_module(text));
            if let Err(e) = &got {
                prop_assert!(!e.to_string().trim().is_empty());
            }
            let outcome = if got.is_ok() {
                Outcome::Parsed
            } else {
                Outcome::Rejected
            };
            prop_assert_eq!(got, want);
            Ok(outcome)
        }
        (text, span) => Err(TestCaseError::fail(format!(
            "from_utf8 says {text:?} but the first bad byte is at {span:?}"
        ))),
    }
}

/// Run `check` on `cases()` inputs from `strategy`, print the outcomes and return
/// `[not UTF-8, parsed, rejected]`.
fn fuzz<S: Strategy>(name: &str, strategy: S, bytes: impl Fn(S::Value) -> Vec<u8>) -> [u32; 3] {
    let counts = [Cell::new(0u32), Cell::new(0u32), Cell::new(0u32)];
    let mut runner = TestRunner::new(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(cases())
    });
    let result = runner.run(&strategy, |v| {
        let i = match check(&bytes(v))? {
            Outcome::NotUtf8 => 0,
            Outcome::Parsed => 1,
            Outcome::Rejected => 2,
        };
        counts[i].set(counts[i].get() + 1);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    let [bad, ok, err] = counts.map(|c| c.get());
    println!(
        "{name}: {} cases, {bad} not UTF-8, {ok} parsed, {err} rejected by the parser",
        cases()
    );
    [bad, ok, err]
}

/// One byte-level edit: insert bytes, overwrite one byte, delete a range, cut the end.
#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, Vec<u8>),
    Overwrite(usize, u8),
    Delete(usize, usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    // Pieces that matter to a UTF-8 decoder: a lone continuation byte, truncated and
    // complete multi-byte sequences, an overlong encoding, a surrogate, bytes never valid.
    let pieces = prop::sample::select(vec![
        vec![0x80],
        vec![0xC3],
        vec![0xC3, 0xA9],
        vec![0xE2, 0x82],
        vec![0xE2, 0x82, 0xAC],
        vec![0xF0, 0x9F, 0x98, 0x80],
        vec![0xC0, 0xAF],
        vec![0xED, 0xA0, 0x80],
        vec![0xFF],
        vec![0xFE, 0xFF],
        b"\n".to_vec(),
        "é\n".as_bytes().to_vec(),
    ]);
    prop_oneof![
        (any::<usize>(), pieces).prop_map(|(a, p)| Edit::Insert(a, p)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..4))
            .prop_map(|(a, p)| Edit::Insert(a, p)),
        (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Edit::Overwrite(a, b)),
        (any::<usize>(), 1usize..30).prop_map(|(a, n)| Edit::Delete(a, n)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(mut v: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let at = |i: usize, len: usize| i % (len + 1);
        match e {
            Edit::Insert(a, p) => {
                let a = at(*a, v.len());
                v.splice(a..a, p.iter().copied());
            }
            Edit::Overwrite(a, b) => {
                if !v.is_empty() {
                    let a = *a % v.len();
                    v[a] = *b;
                }
            }
            Edit::Delete(a, n) => {
                let a = at(*a, v.len());
                let b = (a + n).min(v.len());
                v.drain(a..b);
            }
            Edit::Truncate(a) => {
                let a = at(*a, v.len());
                v.truncate(a);
            }
        }
    }
    v
}

#[test]
fn random_bytes_never_panic() {
    // Random bytes are almost never UTF-8 (the UTF-8 branch is covered by the mutations).
    let [bad, _, _] = fuzz(
        "random bytes",
        prop::collection::vec(any::<u8>(), 0..400),
        |v| v,
    );
    assert!(bad > 0);
}

#[test]
fn byte_mutations_of_a_valid_module_never_panic() {
    let [bad, ok, err] = fuzz(
        "byte mutations of all_ops.ir",
        prop::collection::vec(edit(), 1..4),
        |edits| apply(ALL_OPS.as_bytes().to_vec(), &edits),
    );
    // Every outcome occurs: an inserted newline still parses, a cut usually does not.
    assert!(
        bad > 0 && err > 0 && (ok > 0 || cases() < 500),
        "{bad} not UTF-8, {ok} parsed, {err} rejected"
    );
}

#[test]
fn invalid_utf8_is_located_at_the_first_bad_byte() {
    let err = |bytes: &[u8]| parse_module_bytes(bytes).unwrap_err().to_string();
    assert_eq!(err(b"\xff"), "1:1: invalid UTF-8");
    assert_eq!(err(b"func @f\n  %y = \xffexp"), "2:8: invalid UTF-8");
    // Columns count characters: `é` is one column, two bytes.
    assert_eq!(
        err("# é"
            .as_bytes()
            .iter()
            .chain(b"\xc3")
            .copied()
            .collect::<Vec<_>>()
            .as_slice()),
        "1:4: invalid UTF-8"
    );
    // A sequence cut off by the end of the file.
    assert_eq!(err(b"a\nb\n\xe2\x82"), "3:1: invalid UTF-8");
    // Only the first bad byte counts.
    assert_eq!(err(b"ab\n\x80\n\xff"), "2:1: invalid UTF-8");
}

#[test]
fn utf8_bytes_read_like_text() {
    assert_eq!(
        printed(parse_module_bytes(ALL_OPS.as_bytes())),
        Ok(ALL_OPS.to_string())
    );
    let broken = "func @f(input %x: f32[4]) {\n  %y = exq %x : f32[4]\n";
    assert_eq!(
        parse_module_bytes(broken.as_bytes())
            .unwrap_err()
            .to_string(),
        "2:8: unknown op `exq` (did you mean `exp`?)"
    );
}

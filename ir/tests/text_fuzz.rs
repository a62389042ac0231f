//! The parser never panics or hangs: random bytes, random token soup and mutations of a
//! valid module all give `Ok` or `Err`. Whatever does parse prints and re-parses to the
//! same text (printing is canonical even for inputs written by hand).

use llc_ir::{parse_module, parse_module_unverified, print_module};
use proptest::prelude::*;

const ALL_OPS: &str = include_str!("data/all_ops.ir");

/// 512 cases per property, or `PROPTEST_CASES` to fuzz longer.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

/// Parse `src` both ways; when it parses, check that printing is a fixed point.
fn check(src: &str) -> Result<(), TestCaseError> {
    if let Ok((m, _)) = parse_module_unverified(src) {
        let printed = print_module(&m);
        let (again, _) = parse_module_unverified(&printed).map_err(|e| {
            TestCaseError::fail(format!("printed text does not parse: {e}\n{printed}"))
        })?;
        prop_assert_eq!(print_module(&again), printed);
    }
    match parse_module(src) {
        Ok(m) => {
            let printed = print_module(&m);
            let again = parse_module(&printed)
                .map_err(|e| TestCaseError::fail(format!("printed text does not verify: {e}")))?;
            prop_assert_eq!(print_module(&again), printed);
        }
        Err(e) => {
            // Every error names a position inside (or just past) the input.
            let span = e.span().expect("parse errors carry a location");
            let lines = src.split('\n').count() as u32;
            prop_assert!(
                span.line >= 1 && span.line <= lines,
                "{} outside {} lines",
                e,
                lines
            );
            prop_assert!(span.col >= 1);
        }
    }
    Ok(())
}

/// Pieces that are meaningful to the lexer and parser, so random sequences get deep.
const SOUP: &[&str] = &[
    "func",
    "@f",
    "@g",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "=",
    "->",
    "-",
    "%a",
    "%b",
    "%x",
    "%\"q r\"",
    "%",
    "@",
    "param",
    "input",
    "state",
    "f32",
    "i32",
    "bool",
    "f64[]",
    "f32[4]",
    "f32[2,3]",
    "add",
    "exp",
    "matmul",
    "reduce_sum",
    "full",
    "iota",
    "concat",
    "transpose",
    "attention_grad",
    "return",
    "true",
    "false",
    "1e-5",
    "0",
    "3",
    "1.5",
    "99999999999999999999",
    "inf",
    "nan",
    "axis",
    "axes",
    "keep_dims",
    "value",
    "perm",
    "wrt",
    "q",
    "#c\n",
    "\n",
    "\"",
    "\\",
    "{axes = [0], keep_dims = true}",
    "é",
    "\t",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(SOUP), 0..80).prop_map(|v| v.join(" "))
}

/// One edit to a text: delete, duplicate or replace a byte range, or insert a piece.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Duplicate(usize, usize),
    Insert(usize, &'static str),
    Replace(usize, char),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1usize..20).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<usize>(), 1usize..80).prop_map(|(a, n)| Edit::Duplicate(a, n)),
        (any::<usize>(), prop::sample::select(SOUP)).prop_map(|(a, s)| Edit::Insert(a, s)),
        (any::<usize>(), any::<char>()).prop_map(|(a, c)| Edit::Replace(a, c)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

/// Clamp `i` into `s` and back to a character boundary.
fn boundary(s: &str, i: usize) -> usize {
    let mut i = i % (s.len() + 1);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(mut s: String, edits: &[Edit]) -> String {
    for e in edits {
        match *e {
            Edit::Delete(a, n) => {
                let a = boundary(&s, a);
                let b = boundary(&s, a + n);
                s.replace_range(a..b.max(a), "");
            }
            Edit::Duplicate(a, n) => {
                let a = boundary(&s, a);
                let b = boundary(&s, a + n).max(a);
                let piece = s[a..b].to_string();
                s.insert_str(b, &piece);
            }
            Edit::Insert(a, piece) => {
                let a = boundary(&s, a);
                s.insert_str(a, piece);
            }
            Edit::Replace(a, c) => {
                let a = boundary(&s, a);
                if let Some(old) = s[a..].chars().next() {
                    s.replace_range(a..a + old.len_utf8(), &c.to_string());
                }
            }
            Edit::Truncate(a) => {
                let a = boundary(&s, a);
                s.truncate(a);
            }
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        check(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn random_text_never_panics(s in "\\PC{0,300}") {
        check(&s)?;
    }

    #[test]
    fn token_soup_never_panics(s in soup()) {
        check(&s)?;
    }

    #[test]
    fn token_soup_in_a_function_body_never_panics(s in soup()) {
        check(&format!("func @f(param %a: f32[4], input %b: i32[2]) {{\n{s}\n}}\n"))?;
    }

    #[test]
    fn mutated_valid_modules_never_panic(edits in prop::collection::vec(edit(), 1..4)) {
        check(&apply(ALL_OPS.to_string(), &edits))?;
    }
}

#[test]
fn mutations_do_hit_both_outcomes() {
    // Guard against a fuzz target that only ever exercises one path: small edits to a
    // valid module sometimes still parse (e.g. duplicating a comment-free whitespace run)
    // and usually fail.
    let keep = apply(ALL_OPS.to_string(), &[Edit::Insert(0, "\n")]);
    assert!(parse_module(&keep).is_ok());
    let broken = apply(ALL_OPS.to_string(), &[Edit::Truncate(ALL_OPS.len() / 2)]);
    assert!(parse_module(&broken).is_err());
}

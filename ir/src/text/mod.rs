//! The `.ir` text format: a readable, MLIR-like spelling of a [`Module`], the currency of
//! every test and dump in the compiler. Printing is canonical and parsing is its inverse:
//! `print_module(&parse_module(t)?) == t` for every printed `t`.
//!
//! ```text
//! func @forward(param %tok_embeddings.weight: f32[256,64], input %tokens: i32[2,16]) {
//!   %x = gather %tok_embeddings.weight, %tokens : f32[2,16,64]
//!   %s = reduce_sum %x {axes = [2], keep_dims = true} : f32[2,16,1]
//!   %c = full {value = 1e-5} : f32[]
//!   return %s
//! }
//! ```
//!
//! ```
//! let text = "func @f(input %x: f32[4]) {\n  %y = exp %x : f32[4]\n  return %y\n}\n";
//! let m = llc_ir::parse_module(text)?;
//! assert_eq!(llc_ir::print_module(&m), text);
//! let err = llc_ir::parse_module("func @f(input %x: f32[4]) {\n  %y = exq %x : f32[4]\n")
//!     .unwrap_err();
//! assert_eq!(err.to_string(), "2:8: unknown op `exq` (did you mean `exp`?)");
//! # Ok::<(), llc_ir::IrError>(())
//! ```
//!
//! # Grammar
//!
//! ```text
//! module    := function+
//! function  := 'func' GLOBAL '(' [arg (',' arg)*] ')' '{' statement* return '}'
//! arg       := role VALUE ':' type
//! role      := 'param' | 'state' | 'input'
//! statement := VALUE '=' OP [VALUE (',' VALUE)*] [attrs] ':' type
//! attrs     := '{' [WORD '=' value (',' WORD '=' value)*] '}'
//! value     := scalar | '[' [scalar (',' scalar)*] ']'
//! scalar    := ['-'] (NUMBER | WORD)
//! return    := 'return' [result (',' result)*]
//! result    := VALUE ['->' VALUE]
//! type      := DTYPE '[' [NUMBER (',' NUMBER)*] ']'       e.g. f32[4,2048,4096], f32[]
//!
//! VALUE  := '%' NAME            GLOBAL := '@' NAME
//! NAME   := [A-Za-z0-9_.]+  |  '"' (char | '\"' | '\\' | '\u{' HEX+ '}')* '"'
//! WORD   := [A-Za-z_][A-Za-z0-9_]*
//! NUMBER := [0-9]+ ('.' [0-9]+)? ([eE] [+-]? [0-9]+)?
//! DTYPE  := 'f64' | 'f32' | 'bf16' | 'f16' | 'i32' | 'bool'
//! ```
//!
//! Whitespace (spaces, tabs, newlines) separates tokens and is otherwise insignificant;
//! `#` starts a comment that runs to the end of the line. A printed module has no header
//! comment: it starts with `func`. Functions are separated by one blank line.
//!
//! # Meaning
//!
//! - Arguments carry their role ([`crate::ArgRole`]) and declared type. Every statement
//!   defines one value; a value is used only after its definition, and names are unique
//!   within a function (names that are not plain identifiers are printed quoted).
//! - The op is spelled by [`crate::Op::name`]; operands follow in slot order. The `: type`
//!   is the node's declared type, always printed; the verifier checks it against the op's
//!   type rule.
//! - Every attribute of the op is printed, in the order of the variant's fields:
//!   `full {value}`, `iota {axis}`, `transpose {perm}`, `slice {axis, start, end}`,
//!   `concat {axis}`, `reduce_sum`/`reduce_max {axes, keep_dims}`,
//!   `matmul {transpose_lhs, transpose_rhs}`, `rms_norm`/`rms_norm_grad_x`/
//!   `rms_norm_grad_w {eps}`, `rope {theta, inverse}`, `attention {scale, causal}`,
//!   `attention_grad {scale, causal, wrt}` and `arg {role}` (only an argument node missing
//!   from the signature, which the verifier rejects, prints this way). Other ops print no
//!   braces. The parser accepts attributes in any order but requires each exactly once.
//! - Floats print as [`crate::Real`]'s shortest round-tripping form (`1e-5`, `0.125`,
//!   `1.0`), or `inf`, `-inf`, `nan` (a NaN's payload is not kept). Integer literals are
//!   accepted where a float is expected.
//! - `return` lists the results; `%r -> %w` marks `%r` as the next value of the param or
//!   state argument `%w` ([`crate::Output::updates`]). Lines longer than 100 characters
//!   (signatures, `return`) are printed one item per line.
//! - Values are printed in [`Function::topo_order`] order, which for a parsed function is
//!   the order of its statements.
//!
//! # Errors
//!
//! Every error is an [`IrError`] with a `line:column` (1-based, columns count characters):
//! [`IrError::Parse`] for syntax and names (`3:17: expected a type like f32[4,8], found
//! `]``, `unknown op `matmull` (did you mean `matmul`?)`, `undefined value %foo`), and the
//! verifier's [`IrError::Type`] / [`IrError::Structure`] located at the offending
//! statement. Malformed input never panics; parsing is linear in the input.

mod attrs;
mod lexer;
mod names;
mod parser;
mod printer;
mod suggest;

pub use printer::{print_function, print_module};

use crate::error::{IrError, Result};
use crate::graph::{Function, Module};
use crate::verify::{SpanMap, verify_function};

/// Parse and verify a module: the way every tool reads `.ir` text.
pub fn parse_module(src: &str) -> Result<Module> {
    let mut m = Module::new();
    for p in parser::parse(src)? {
        verify_function(&p.func, &p.spans).map_err(|e| match e.span() {
            Some(_) => e,
            None => e.with_span(p.return_span),
        })?;
        m.functions.push(p.func);
    }
    Ok(m)
}

/// Parse and verify a module from raw file bytes: like [`parse_module`], but bytes that
/// are not UTF-8 give an [`IrError::Parse`] `invalid UTF-8` at the line and column
/// (1-based, columns counting characters) of the first invalid byte, so a tool can print
/// `file:line:col: invalid UTF-8`.
pub fn parse_module_bytes(bytes: &[u8]) -> Result<Module> {
    parse_module(utf8(bytes)?)
}

/// `bytes` as text, or an `invalid UTF-8` error located at the first invalid byte.
fn utf8(bytes: &[u8]) -> Result<&str> {
    std::str::from_utf8(bytes).map_err(|e| {
        // The prefix before `valid_up_to` is valid UTF-8 by definition.
        let good = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default();
        let line_start = good.rfind('\n').map_or(0, |i| i + 1);
        let line = good.matches('\n').count() + 1;
        let col = good[line_start..].chars().count() + 1;
        IrError::Parse {
            span: crate::error::Span {
                line: u32::try_from(line).unwrap_or(u32::MAX),
                col: u32::try_from(col).unwrap_or(u32::MAX),
            },
            msg: "invalid UTF-8".into(),
        }
    })
}

/// Parse without verifying, returning where each function's values are defined (one
/// [`SpanMap`] per function, in order) so a caller can verify later and still point into
/// the text, or inspect a module the verifier would reject.
pub fn parse_module_unverified(src: &str) -> Result<(Module, Vec<SpanMap>)> {
    let mut m = Module::new();
    let mut spans = Vec::new();
    for p in parser::parse(src)? {
        m.functions.push(p.func);
        spans.push(p.spans);
    }
    Ok((m, spans))
}

/// Parse and verify text that holds exactly one function (tests and tools that work on a
/// single function).
pub fn parse_function(src: &str) -> Result<Function> {
    let mut m = parse_module(src)?;
    if m.functions.len() != 1 {
        return Err(IrError::Parse {
            span: crate::error::Span { line: 1, col: 1 },
            msg: format!("expected exactly one function, found {}", m.functions.len()),
        });
    }
    Ok(m.functions.remove(0))
}

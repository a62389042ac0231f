//! Recursive-descent parser for the `.ir` text format. It builds each function with
//! [`Function::add_arg`] / [`Function::insert`] / [`Function::add_output`] and records where
//! every value was defined, so that the verifier, run afterwards, can point into the file.
//!
//! The grammar has no nesting (lists hold only scalars), so the parser needs no recursion
//! limit; every loop consumes a token per turn, so it always terminates, in time linear in
//! the input.

use super::attrs::{RawAttr, RawScalar, RawValue, build_op, is_op_name, parse_uint};
use super::lexer::{Lexer, Tok, Token, truncate};
use super::names::spelled;
use super::suggest::{closest, did_you_mean};
use crate::dtype::{DType, TensorType, checked_numel};
use crate::error::{IrError, Result, Span};
use crate::graph::{Function, NodeId};
use crate::op::{ArgRole, Op};
use crate::verify::SpanMap;
use std::borrow::Cow;
use std::collections::HashMap;

/// A parsed, not yet verified function with the locations the verifier needs.
pub(crate) struct ParsedFunction {
    pub func: Function,
    /// Where each value is defined: the role keyword of an argument, the `%name` of a
    /// statement.
    pub spans: SpanMap,
    /// The `return` keyword, for function-level problems (no results).
    pub return_span: Span,
}

/// Parse a whole module (one or more functions) without verifying it.
pub(crate) fn parse(src: &str) -> Result<Vec<ParsedFunction>> {
    let mut lex = Lexer::new(src);
    let tok = lex.next_token()?;
    let mut p = Parser {
        lex,
        tok,
        op_names: Op::all_names(),
    };
    p.module()
}

struct Parser<'a> {
    lex: Lexer<'a>,
    /// The current (not yet consumed) token.
    tok: Token<'a>,
    op_names: Vec<&'static str>,
}

fn perr<T>(span: Span, msg: impl Into<String>) -> Result<T> {
    Err(IrError::Parse {
        span,
        msg: msg.into(),
    })
}

const DTYPES: &str = "f64, f32, bf16, f16, i32, bool";
const ROLES: [&str; 3] = ["param", "state", "input"];

impl<'a> Parser<'a> {
    /// Consume the current token and return it.
    fn bump(&mut self) -> Result<Token<'a>> {
        let next = self.lex.next_token()?;
        Ok(std::mem::replace(&mut self.tok, next))
    }

    /// Consume the current token if it is `t`.
    fn eat(&mut self, t: &Tok<'_>) -> Result<bool> {
        if self.tok.tok == *t {
            self.bump()?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// "expected WHAT, found X" at the current token (or "unexpected end of file: ...").
    fn expected<T>(&self, what: &str) -> Result<T> {
        self.expected_hint(what, "")
    }

    fn expected_hint<T>(&self, what: &str, hint: &str) -> Result<T> {
        let msg = if self.tok.tok == Tok::Eof {
            format!("unexpected end of file: expected {what}")
        } else {
            format!("expected {what}, found {}{hint}", self.tok.tok.describe())
        };
        perr(self.tok.span, msg)
    }

    fn expect(&mut self, t: Tok<'_>, what: &str) -> Result<Span> {
        if self.tok.tok == t {
            Ok(self.bump()?.span)
        } else {
            self.expected(what)
        }
    }

    /// [`Parser::expect`] with a message built only when it is needed (statements are
    /// many; formatting every message up front would dominate parse time).
    fn expect_with(&mut self, t: Tok<'_>, what: impl FnOnce() -> String) -> Result<Span> {
        if self.tok.tok == t {
            Ok(self.bump()?.span)
        } else {
            self.expected(&what())
        }
    }

    fn at_value(&self) -> bool {
        matches!(self.tok.tok, Tok::Value(_))
    }

    /// A `%name` token.
    fn value_name(&mut self, what: &str) -> Result<(Cow<'a, str>, Span)> {
        if !self.at_value() {
            return self.expected(what);
        }
        let t = self.bump()?;
        match t.tok {
            Tok::Value(n) => Ok((n, t.span)),
            _ => perr(t.span, format!("expected {what}")),
        }
    }

    fn module(&mut self) -> Result<Vec<ParsedFunction>> {
        let mut out = Vec::new();
        let mut seen: HashMap<String, Span> = HashMap::new();
        loop {
            match self.tok.tok {
                Tok::Word("func") => out.push(self.function(&mut seen)?),
                Tok::Eof if !out.is_empty() => return Ok(out),
                Tok::Eof => {
                    return self.expected("`func` (a module holds at least one function)");
                }
                Tok::Word(w) => return self.expected_hint("`func`", &did_you_mean(w, ["func"])),
                _ => return self.expected("`func`"),
            }
        }
    }

    fn function(&mut self, seen: &mut HashMap<String, Span>) -> Result<ParsedFunction> {
        let func_span = self.bump()?.span;
        let name = match &self.tok.tok {
            Tok::Global(n) => n.to_string(),
            _ => return self.expected("a function name like @forward"),
        };
        let shown = spelled(&name);
        if let Some(first) = seen.get(&name) {
            return perr(
                self.tok.span,
                format!("function @{shown} is defined twice (first at {first})"),
            );
        }
        seen.insert(name.clone(), func_span);
        self.bump()?;

        let mut f = Function::new(name);
        let mut spans = SpanMap::new();
        self.expect(Tok::LParen, "`(` to open the argument list")?;
        if !self.eat(&Tok::RParen)? {
            loop {
                self.argument(&mut f, &mut spans)?;
                if self.eat(&Tok::Comma)? {
                    continue;
                }
                if self.eat(&Tok::RParen)? {
                    break;
                }
                return self.expected("`,` or `)` after an argument");
            }
        }
        self.expect(
            Tok::LBrace,
            &format!("`{{` to open the body of func @{shown}"),
        )?;

        let close = format!("`}}` to close func @{shown} opened at {func_span}");
        let return_span = loop {
            match self.tok.tok {
                Tok::Value(_) => self.statement(&mut f, &mut spans)?,
                Tok::Word("return") => break self.ret(&mut f)?,
                Tok::RBrace => {
                    return perr(
                        self.tok.span,
                        format!("func @{shown} has no `return`: expected `return` before `}}`"),
                    );
                }
                Tok::Eof => return self.expected(&format!("`return` and {close}")),
                Tok::Word(w) => {
                    return self.expected_hint(
                        "a statement like `%x = op ...` or `return`",
                        &did_you_mean(w, ["return"]),
                    );
                }
                _ => return self.expected("a statement like `%x = op ...` or `return`"),
            }
        };
        self.expect(Tok::RBrace, &close)?;
        Ok(ParsedFunction {
            func: f,
            spans,
            return_span,
        })
    }

    /// Reject a name already defined in this function.
    fn check_fresh(&self, f: &Function, spans: &SpanMap, name: &str, at: Span) -> Result<()> {
        match f.by_name(name) {
            Some(prev) => {
                let first = spans
                    .get(&prev)
                    .map(|s| format!(" (first at {s})"))
                    .unwrap_or_default();
                perr(
                    at,
                    format!("value %{} is defined twice{first}", spelled(name)),
                )
            }
            None => Ok(()),
        }
    }

    /// `role %name: type`
    fn argument(&mut self, f: &mut Function, spans: &mut SpanMap) -> Result<()> {
        const WHAT: &str = "an argument role (`param`, `state` or `input`)";
        let span = self.tok.span;
        let role = match self.tok.tok {
            Tok::Word(w) => match ArgRole::from_name(w) {
                Some(r) => r,
                None => return self.expected_hint(WHAT, &did_you_mean(w, ROLES)),
            },
            _ => return self.expected(WHAT),
        };
        self.bump()?;
        let (name, name_span) = self.value_name("an argument name like %x")?;
        self.check_fresh(f, spans, &name, name_span)?;
        self.expect_with(Tok::Colon, || {
            format!("`:` and the type of %{}", spelled(&name))
        })?;
        let ty = self.ty()?;
        let id = f
            .add_arg(&name, role, ty)
            .map_err(|e| e.with_span(name_span))?;
        spans.insert(id, span);
        Ok(())
    }

    /// `%name = op %a, %b {k = v} : type`
    fn statement(&mut self, f: &mut Function, spans: &mut SpanMap) -> Result<()> {
        let (name, span) = self.value_name("a value like %x")?;
        self.check_fresh(f, spans, &name, span)?;
        self.expect_with(Tok::Equals, || format!("`=` after %{}", spelled(&name)))?;
        let op_span = self.tok.span;
        let op_name = match self.tok.tok {
            Tok::Word(w) if is_op_name(w, &self.op_names) => w,
            Tok::Word(w) => {
                return perr(
                    op_span,
                    format!(
                        "unknown op `{}`{}",
                        truncate(w),
                        did_you_mean(w, self.op_names.iter().copied())
                    ),
                );
            }
            _ => return self.expected("an op name like `add`"),
        };
        self.bump()?;

        let mut operands = Vec::new();
        if self.at_value() {
            loop {
                operands.push(self.operand(f)?);
                if !self.eat(&Tok::Comma)? {
                    break;
                }
                if !self.at_value() {
                    return self.expected("a value like %x after `,`");
                }
            }
        }
        let attrs = if self.tok.tok == Tok::LBrace {
            self.attributes()?
        } else {
            Vec::new()
        };
        let between = if self.at_value() {
            "`,` between operands or "
        } else {
            ""
        };
        self.expect_with(Tok::Colon, || {
            format!("{between}`:` and the result type of %{}", spelled(&name))
        })?;
        let ty = self.ty()?;
        let op = build_op(op_name, op_span, &attrs)?;
        let id = f
            .insert(&name, op, &operands, ty)
            .map_err(|e| e.with_span(span))?;
        spans.insert(id, span);
        Ok(())
    }

    /// A use of a defined value.
    fn operand(&mut self, f: &Function) -> Result<NodeId> {
        let (name, span) = self.value_name("a value like %x")?;
        match f.by_name(&name) {
            Some(id) => Ok(id),
            None => {
                let names = f.node_ids().map(|id| f.node(id).name.as_str());
                let hint = closest(&name, names)
                    .map(|c| format!(" (did you mean %{}?)", spelled(c)))
                    .unwrap_or_default();
                perr(
                    span,
                    format!("undefined value %{}{hint}", truncate(&spelled(&name))),
                )
            }
        }
    }

    /// `{k = v, ...}`; keys must be distinct.
    fn attributes(&mut self) -> Result<Vec<RawAttr<'a>>> {
        self.bump()?; // `{`
        let mut attrs: Vec<RawAttr<'a>> = Vec::new();
        let mut seen: HashMap<&'a str, Span> = HashMap::new();
        if self.eat(&Tok::RBrace)? {
            return Ok(attrs);
        }
        loop {
            let key_span = self.tok.span;
            let key = match self.tok.tok {
                Tok::Word(w) => w,
                _ => return self.expected("an attribute name like `axis`"),
            };
            if let Some(first) = seen.insert(key, key_span) {
                return perr(
                    key_span,
                    format!("attribute `{key}` is given twice (first at {first})"),
                );
            }
            self.bump()?;
            self.expect_with(Tok::Equals, || format!("`=` after attribute `{key}`"))?;
            let value = self.attr_value()?;
            attrs.push(RawAttr {
                key,
                key_span,
                value,
            });
            if self.eat(&Tok::Comma)? {
                continue;
            }
            if self.eat(&Tok::RBrace)? {
                return Ok(attrs);
            }
            return self.expected("`,` or `}` after an attribute");
        }
    }

    fn attr_value(&mut self) -> Result<RawValue<'a>> {
        if self.tok.tok != Tok::LBracket {
            let what = "an attribute value (a number, `true`, `false`, a word or a list)";
            return Ok(RawValue::Scalar(self.scalar(what)?));
        }
        let span = self.bump()?.span;
        let mut items = Vec::new();
        if !self.eat(&Tok::RBracket)? {
            loop {
                items.push(self.scalar("an integer")?);
                if self.eat(&Tok::Comma)? {
                    continue;
                }
                if self.eat(&Tok::RBracket)? {
                    break;
                }
                return self.expected("`,` or `]` in a list");
            }
        }
        Ok(RawValue::List { items, span })
    }

    /// `[-] (number | word)`
    fn scalar(&mut self, what: &str) -> Result<RawScalar<'a>> {
        let span = self.tok.span;
        let neg = self.eat(&Tok::Minus)?;
        let (is_number, text) = match self.tok.tok {
            Tok::Number(t) => (true, t),
            Tok::Word(w) => (false, w),
            _ if neg => return self.expected("a number or `inf` after `-`"),
            _ => return self.expected(what),
        };
        self.bump()?;
        Ok(RawScalar {
            neg,
            is_number,
            text,
            span,
        })
    }

    /// `dtype[d0,d1,...]`
    fn ty(&mut self) -> Result<TensorType> {
        let span = self.tok.span;
        let dtype = match self.tok.tok {
            Tok::Word(w) => match DType::from_name(w) {
                Some(d) => d,
                None => {
                    return perr(
                        span,
                        format!("unknown dtype `{}` (expected one of {DTYPES})", truncate(w)),
                    );
                }
            },
            _ => return self.expected("a type like f32[4,8]"),
        };
        self.bump()?;
        self.expect(
            Tok::LBracket,
            "`[` and the shape after the dtype, as in f32[4,8]",
        )?;
        let mut shape = Vec::new();
        if !self.eat(&Tok::RBracket)? {
            loop {
                let d = self.scalar("a dimension")?;
                shape.push(parse_uint(&d, &|| "dimension".to_string())?);
                if self.eat(&Tok::Comma)? {
                    continue;
                }
                if self.eat(&Tok::RBracket)? {
                    break;
                }
                return self.expected("`,` or `]` in a shape");
            }
        }
        let ty = TensorType::new(dtype, shape);
        if checked_numel(&ty.shape).is_none() {
            return perr(
                span,
                format!(
                    "type {} has more than 2^48 elements",
                    truncate(&ty.to_string())
                ),
            );
        }
        Ok(ty)
    }

    /// `return %a, %b -> %w, ...`; returns the span of `return`.
    fn ret(&mut self, f: &mut Function) -> Result<Span> {
        let span = self.bump()?.span;
        if self.at_value() {
            loop {
                let node = self.operand(f)?;
                let updates = if self.eat(&Tok::Arrow)? {
                    if !self.at_value() {
                        return self.expected("the argument this result updates, like %w");
                    }
                    Some(self.operand(f)?)
                } else {
                    None
                };
                f.add_output(node, updates);
                if !self.eat(&Tok::Comma)? {
                    break;
                }
                if !self.at_value() {
                    return self.expected("a value like %x after `,`");
                }
            }
        }
        Ok(span)
    }
}

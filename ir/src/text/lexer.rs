//! The `.ir` lexer: turns text into tokens, each with the line:column where it starts.
//! Whitespace and `#` comments are skipped; every malformed character sequence becomes an
//! [`IrError::Parse`] naming its position. One pass over the input, no backtracking.

use super::names::{is_name_char, spelled};
use crate::error::{IrError, Result, Span};
use std::borrow::Cow;

/// A token kind. Names after `%` / `@` are already unquoted.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok<'a> {
    /// A bare word: `[A-Za-z_][A-Za-z0-9_]*` (keywords, op names, dtypes, `true`, `inf`).
    Word(&'a str),
    /// An unsigned decimal literal: `12`, `0.125`, `1e-5`.
    Number(&'a str),
    /// `%name`: a value.
    Value(Cow<'a, str>),
    /// `@name`: a function.
    Global(Cow<'a, str>),
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Colon,
    Equals,
    Arrow,
    Minus,
    Eof,
}

impl Tok<'_> {
    /// How the token reads in an error message ("found `]`", "found end of file").
    pub(crate) fn describe(&self) -> String {
        let text: Cow<'_, str> = match self {
            Tok::Word(w) | Tok::Number(w) => Cow::Borrowed(w),
            Tok::Value(n) => Cow::Owned(format!("%{}", spelled(n))),
            Tok::Global(n) => Cow::Owned(format!("@{}", spelled(n))),
            Tok::LParen => "(".into(),
            Tok::RParen => ")".into(),
            Tok::LBrace => "{".into(),
            Tok::RBrace => "}".into(),
            Tok::LBracket => "[".into(),
            Tok::RBracket => "]".into(),
            Tok::Comma => ",".into(),
            Tok::Colon => ":".into(),
            Tok::Equals => "=".into(),
            Tok::Arrow => "->".into(),
            Tok::Minus => "-".into(),
            Tok::Eof => return "end of file".to_string(),
        };
        format!("`{}`", truncate(&text))
    }
}

/// Shorten very long token text in messages.
pub(crate) fn truncate(s: &str) -> Cow<'_, str> {
    const MAX: usize = 40;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => Cow::Owned(format!("{}...", &s[..i])),
        None => Cow::Borrowed(s),
    }
}

/// A token and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token<'a> {
    pub tok: Tok<'a>,
    pub span: Span,
}

/// Streaming lexer over one source text.
pub(crate) struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    line: u32,
    col: u32,
}

fn err<T>(span: Span, msg: impl Into<String>) -> Result<T> {
    Err(IrError::Parse {
        span,
        msg: msg.into(),
    })
}

/// A character as an error message shows it: printable ones in backquotes, others as
/// their code point.
fn show_char(c: char) -> String {
    if c.is_control() || c.is_whitespace() {
        format!("U+{:04X}", c as u32)
    } else {
        format!("`{c}`")
    }
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Lexer {
            src,
            pos: 0,
            line: 1,
            col: 1,
        }
    }

    fn here(&self) -> Span {
        Span {
            line: self.line,
            col: self.col,
        }
    }

    fn peek_byte(&self, ahead: usize) -> Option<u8> {
        self.src.as_bytes().get(self.pos + ahead).copied()
    }

    /// Consume one byte, keeping line and column (columns count characters).
    fn bump(&mut self) {
        let b = self.src.as_bytes()[self.pos];
        self.pos += 1;
        if b == b'\n' {
            self.line = self.line.saturating_add(1);
            self.col = 1;
        } else if b & 0xC0 != 0x80 {
            self.col = self.col.saturating_add(1);
        }
    }

    fn bump_while(&mut self, f: impl Fn(u8) -> bool) {
        while self.peek_byte(0).is_some_and(&f) {
            self.bump();
        }
    }

    fn skip_trivia(&mut self) {
        loop {
            match self.peek_byte(0) {
                Some(b' ' | b'\t' | b'\r' | b'\n') => self.bump(),
                Some(b'#') => self.bump_while(|b| b != b'\n'),
                _ => return,
            }
        }
    }

    /// The next token; `Tok::Eof` (repeatedly) at the end.
    pub(crate) fn next_token(&mut self) -> Result<Token<'a>> {
        self.skip_trivia();
        let span = self.here();
        let Some(b) = self.peek_byte(0) else {
            return Ok(Token {
                tok: Tok::Eof,
                span,
            });
        };
        let single = |t| Some(t);
        let punct = match b {
            b'(' => single(Tok::LParen),
            b')' => single(Tok::RParen),
            b'{' => single(Tok::LBrace),
            b'}' => single(Tok::RBrace),
            b'[' => single(Tok::LBracket),
            b']' => single(Tok::RBracket),
            b',' => single(Tok::Comma),
            b':' => single(Tok::Colon),
            b'=' => single(Tok::Equals),
            _ => None,
        };
        if let Some(tok) = punct {
            self.bump();
            return Ok(Token { tok, span });
        }
        let tok = match b {
            b'-' => {
                self.bump();
                if self.peek_byte(0) == Some(b'>') {
                    self.bump();
                    Tok::Arrow
                } else {
                    Tok::Minus
                }
            }
            b'%' | b'@' => {
                self.bump();
                let name = self.name(span, b as char)?;
                if b == b'%' {
                    Tok::Value(name)
                } else {
                    Tok::Global(name)
                }
            }
            b'0'..=b'9' => Tok::Number(self.number(span)?),
            b if b.is_ascii_alphabetic() || b == b'_' => {
                let start = self.pos;
                self.bump_while(|b| b.is_ascii_alphanumeric() || b == b'_');
                Tok::Word(&self.src[start..self.pos])
            }
            _ => {
                let c = self.src[self.pos..].chars().next().unwrap_or('\u{fffd}');
                return err(span, format!("unexpected character {}", show_char(c)));
            }
        };
        Ok(Token { tok, span })
    }

    /// The name after a `%` or `@` sigil: bare or quoted.
    fn name(&mut self, sigil_span: Span, sigil: char) -> Result<Cow<'a, str>> {
        match self.peek_byte(0) {
            Some(b'"') => self.quoted(sigil_span).map(Cow::Owned),
            Some(b) if is_name_char(b) => {
                let start = self.pos;
                self.bump_while(is_name_char);
                Ok(Cow::Borrowed(&self.src[start..self.pos]))
            }
            _ => err(
                sigil_span,
                format!("expected a name after `{sigil}` (letters, digits, `_`, `.`)"),
            ),
        }
    }

    /// A quoted name `"..."` with `\"`, `\\` and `\u{hex}` escapes, on one line.
    fn quoted(&mut self, start: Span) -> Result<String> {
        self.bump(); // opening quote
        let mut out = String::new();
        loop {
            let at = self.here();
            let Some(c) = self.src[self.pos..].chars().next() else {
                return err(start, "unterminated quoted name: expected a closing `\"`");
            };
            match c {
                '"' => {
                    self.bump();
                    return Ok(out);
                }
                '\n' => return err(start, "unterminated quoted name: expected a closing `\"`"),
                '\\' => {
                    self.bump();
                    match self.peek_byte(0) {
                        Some(b'"') => out.push('"'),
                        Some(b'\\') => out.push('\\'),
                        Some(b'u') if self.peek_byte(1) == Some(b'{') => {
                            self.bump();
                            self.bump();
                            let hex_start = self.pos;
                            self.bump_while(|b| b.is_ascii_hexdigit());
                            let hex = &self.src[hex_start..self.pos];
                            let ch = (hex.len() <= 6 && self.peek_byte(0) == Some(b'}'))
                                .then(|| u32::from_str_radix(hex, 16).ok())
                                .flatten()
                                .and_then(char::from_u32);
                            match ch {
                                Some(ch) => out.push(ch),
                                None => {
                                    return err(at, "invalid `\\u{...}` escape in quoted name");
                                }
                            }
                        }
                        _ => {
                            return err(
                                at,
                                "unknown escape in quoted name (use `\\\"`, `\\\\` or `\\u{...}`)",
                            );
                        }
                    }
                    self.bump();
                }
                _ => {
                    out.push(c);
                    for _ in 0..c.len_utf8() {
                        self.bump();
                    }
                }
            }
        }
    }

    /// `digits [. digits] [(e|E) [+|-] digits]`, not followed by a name character.
    fn number(&mut self, span: Span) -> Result<&'a str> {
        let start = self.pos;
        let digit = |b: u8| b.is_ascii_digit();
        self.bump_while(digit);
        if self.peek_byte(0) == Some(b'.') && self.peek_byte(1).is_some_and(digit) {
            self.bump();
            self.bump_while(digit);
        }
        if matches!(self.peek_byte(0), Some(b'e' | b'E')) {
            let sign = usize::from(matches!(self.peek_byte(1), Some(b'+' | b'-')));
            if self.peek_byte(1 + sign).is_some_and(digit) {
                for _ in 0..=sign {
                    self.bump();
                }
                self.bump_while(digit);
            }
        }
        if self.peek_byte(0).is_some_and(is_name_char) {
            self.bump_while(is_name_char);
            return err(
                span,
                format!(
                    "malformed number `{}`",
                    truncate(&self.src[start..self.pos])
                ),
            );
        }
        Ok(&self.src[start..self.pos])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<(Tok<'_>, u32, u32)> {
        let mut lx = Lexer::new(s);
        let mut v = Vec::new();
        loop {
            let t = lx.next_token().expect("lexes");
            if t.tok == Tok::Eof {
                return v;
            }
            v.push((t.tok, t.span.line, t.span.col));
        }
    }

    #[test]
    fn tokens_and_positions() {
        let t = toks("%a.0 = add %b, %\"x y\" # note\n  : f32[4,8] -> @f 1e-5 -2.5");
        assert_eq!(t[0], (Tok::Value("a.0".into()), 1, 1));
        assert_eq!(t[1], (Tok::Equals, 1, 6));
        assert_eq!(t[2], (Tok::Word("add"), 1, 8));
        assert_eq!(t[5], (Tok::Value("x y".into()), 1, 16));
        assert_eq!(t[6], (Tok::Colon, 2, 3));
        assert_eq!(t[7], (Tok::Word("f32"), 2, 5));
        assert_eq!(t[13], (Tok::Arrow, 2, 14));
        assert_eq!(t[14], (Tok::Global("f".into()), 2, 17));
        assert_eq!(t[15], (Tok::Number("1e-5"), 2, 20));
        assert_eq!(t[16], (Tok::Minus, 2, 25));
        assert_eq!(t[17], (Tok::Number("2.5"), 2, 26));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let t = toks("# é\n%\"é\" ,");
        assert_eq!(t[1], (Tok::Comma, 2, 6));
    }

    #[test]
    fn quoted_escapes() {
        let t = toks(r#"%"a\"b\\c\u{7}""#);
        assert_eq!(t[0].0, Tok::Value("a\"b\\c\u{7}".into()));
    }

    #[test]
    fn malformed_pieces() {
        let e = |s: &str| {
            let mut lx = Lexer::new(s);
            loop {
                match lx.next_token() {
                    Ok(t) if t.tok == Tok::Eof => panic!("no error in {s:?}"),
                    Ok(_) => {}
                    Err(e) => return e.to_string(),
                }
            }
        };
        assert_eq!(e("  $"), "1:3: unexpected character `$`");
        assert_eq!(e("\u{0}"), "1:1: unexpected character U+0000");
        assert_eq!(
            e("% x"),
            "1:1: expected a name after `%` (letters, digits, `_`, `.`)"
        );
        assert_eq!(e("12ab"), "1:1: malformed number `12ab`");
        assert_eq!(
            e("\n %\"abc"),
            "2:2: unterminated quoted name: expected a closing `\"`"
        );
        assert_eq!(
            e("%\"a\\q\""),
            "1:4: unknown escape in quoted name (use `\\\"`, `\\\\` or `\\u{...}`)"
        );
        assert_eq!(
            e("%\"\\u{110000}\""),
            "1:3: invalid `\\u{...}` escape in quoted name"
        );
    }
}

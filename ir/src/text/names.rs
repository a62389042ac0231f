//! Spelling of value and function names: bare when they are plain identifiers, quoted
//! otherwise, so that any name a pass or builder makes can be printed and read back.

/// Characters of a bare name after `%` or `@`.
pub(crate) fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'.'
}

/// Append `name` as it is written after `%` or `@`: bare (`layers.0.wq`) when every
/// character is a name character, else quoted (`"a b"`) with `\"`, `\\` and `\u{..}`
/// escapes for quotes, backslashes and control characters.
pub(crate) fn write_name(out: &mut String, name: &str) {
    if !name.is_empty() && name.bytes().all(is_name_char) {
        out.push_str(name);
        return;
    }
    out.push('"');
    for c in name.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `name` as written after `%` or `@`, as an owned string (for messages).
pub(crate) fn spelled(name: &str) -> String {
    let mut s = String::new();
    write_name(&mut s, name);
    s
}

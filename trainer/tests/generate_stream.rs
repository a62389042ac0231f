//! Streaming detokenization: text comes out as soon as it is final, never half a
//! character.

use llc_trainer::data::TextTokenizer;
use llc_trainer::generate::TextStream;

#[test]
fn byte_stream_holds_back_incomplete_utf8() {
    let tok = TextTokenizer::byte();
    let mut s = TextStream::new(&tok);
    let pieces: Vec<String> = "hé€!".bytes().map(|b| s.push(b as u32).unwrap()).collect();
    assert_eq!(pieces, ["h", "", "é", "", "", "€", "!"]);
    assert_eq!(s.text(), "hé€!");
    assert_eq!(s.finish().unwrap(), "");
}

#[test]
fn special_tokens_print_nothing_and_finish_flushes_a_dangling_byte() {
    let tok = TextTokenizer::byte();
    let mut s = TextStream::new(&tok);
    assert_eq!(s.push(tok.bos_id()).unwrap(), "");
    assert_eq!(s.push(b'a' as u32).unwrap(), "a");
    assert_eq!(s.push(0xE2).unwrap(), "");
    assert_eq!(s.finish().unwrap(), "\u{FFFD}");
    assert_eq!(s.text(), "a\u{FFFD}");
}

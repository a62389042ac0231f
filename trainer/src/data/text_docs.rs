//! Streams text files as documents, in bounded chunks of whole lines, so arbitrarily large
//! inputs are tokenized with bounded memory.
//!
//! A document boundary is chosen by [`DocSplit`]. Each document is emitted as one or more
//! [`DocChunk`]s of at most `max_chunk_bytes` (a single longer line is one chunk); the first
//! chunk of each document has `doc_start` set so the caller writes a BOS token before it.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{DataError, DataResult};

/// Where one document ends and the next begins.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DocSplit {
    /// Each input file is one document.
    File,
    /// Blank lines (only whitespace) separate documents; the blank lines are dropped.
    #[default]
    BlankLine,
    /// Each non-empty line is a document; its newline is dropped.
    Line,
    /// A line equal to this string (ignoring trailing whitespace) separates documents and
    /// is dropped, e.g. `%` for fortune files.
    Delimiter(String),
}

impl DocSplit {
    /// Parses the CLI spelling: `file`, `blank-line`, `line`, or `delim:STRING`.
    pub fn parse(s: &str) -> DataResult<Self> {
        match s {
            "file" => Ok(DocSplit::File),
            "blank-line" | "paragraph" => Ok(DocSplit::BlankLine),
            "line" => Ok(DocSplit::Line),
            _ => match s.strip_prefix("delim:") {
                Some(d) if !d.is_empty() => Ok(DocSplit::Delimiter(d.to_string())),
                _ => Err(DataError::InvalidOption(format!(
                    "unknown document split {s:?} (expected file, blank-line, line or delim:STRING)"
                ))),
            },
        }
    }
}

/// A piece of one document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocChunk {
    /// The text bytes (whole lines, newlines kept except in [`DocSplit::Line`]).
    pub text: Vec<u8>,
    /// True for the first chunk of a document.
    pub doc_start: bool,
    /// 1-based line number of the chunk's first line, for messages.
    pub first_line: u64,
}

/// Iterator over the chunks of one text file.
pub struct DocChunker {
    path: PathBuf,
    reader: BufReader<File>,
    split: DocSplit,
    max_chunk_bytes: usize,
    line_no: u64,
    pending: Vec<u8>,
    pending_first_line: u64,
    pending_doc_start: bool,
    next_doc_start: bool,
    line: Vec<u8>,
    done: bool,
}

impl DocChunker {
    /// Opens `path` for chunking.
    pub fn open(path: &Path, split: DocSplit, max_chunk_bytes: usize) -> DataResult<Self> {
        let file = File::open(path).map_err(|e| DataError::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(1 << 20, file),
            split,
            max_chunk_bytes: max_chunk_bytes.max(1),
            line_no: 0,
            pending: Vec::new(),
            pending_first_line: 0,
            pending_doc_start: true,
            next_doc_start: true,
            line: Vec::new(),
            done: false,
        })
    }

    /// The file being chunked.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn take_pending(&mut self) -> Option<DocChunk> {
        if self.pending.is_empty() {
            return None;
        }
        Some(DocChunk {
            text: std::mem::take(&mut self.pending),
            doc_start: self.pending_doc_start,
            first_line: self.pending_first_line,
        })
    }

    /// Ends the current document: whatever is pending is emitted, the next text starts one.
    fn end_document(&mut self) -> Option<DocChunk> {
        let out = self.take_pending();
        self.next_doc_start = true;
        out
    }

    fn append(&mut self, text: &[u8]) -> Option<DocChunk> {
        let mut out = None;
        if !self.pending.is_empty() && self.pending.len() + text.len() > self.max_chunk_bytes {
            out = self.take_pending();
        }
        if self.pending.is_empty() {
            self.pending_first_line = self.line_no;
            self.pending_doc_start = self.next_doc_start;
            self.next_doc_start = false;
        }
        self.pending.extend_from_slice(text);
        out
    }

    fn next_chunk(&mut self) -> DataResult<Option<DocChunk>> {
        loop {
            if self.done {
                return Ok(self.take_pending());
            }
            self.line.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.line)
                .map_err(|e| DataError::io(&self.path, e))?;
            if n == 0 {
                self.done = true;
                continue;
            }
            self.line_no += 1;
            let line = std::mem::take(&mut self.line);
            let blank = line.iter().all(|b| b.is_ascii_whitespace());
            let action = match &self.split {
                DocSplit::File => LineAction::Append,
                DocSplit::BlankLine if blank => LineAction::EndDocument,
                DocSplit::BlankLine => LineAction::Append,
                DocSplit::Line if blank => LineAction::Skip,
                DocSplit::Line => LineAction::WholeDocument,
                DocSplit::Delimiter(d) if trim_end_ascii(&line) == d.as_bytes() => {
                    LineAction::EndDocument
                }
                DocSplit::Delimiter(_) => LineAction::Append,
            };
            let emitted = match action {
                LineAction::Append => self.append(&line),
                LineAction::EndDocument => self.end_document(),
                LineAction::Skip => None,
                // Every line is a whole document: nothing is ever pending in this mode.
                LineAction::WholeDocument => Some(DocChunk {
                    text: strip_newline(&line).to_vec(),
                    doc_start: true,
                    first_line: self.line_no,
                }),
            };
            self.line = line;
            if let Some(chunk) = emitted {
                return Ok(Some(chunk));
            }
        }
    }
}

impl Iterator for DocChunker {
    type Item = DataResult<DocChunk>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_chunk().transpose()
    }
}

/// What one input line does to the document being built.
enum LineAction {
    Append,
    EndDocument,
    Skip,
    WholeDocument,
}

fn strip_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim_end_ascii(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &line[..end]
}

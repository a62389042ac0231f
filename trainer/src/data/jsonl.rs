//! One JSONL reader for every input file of objects (SFT examples, preference pairs,
//! prompts, responses to score): blank lines skipped, every error naming `file:line`.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::error::{DataError, DataResult};

/// One object of a JSONL file, with where it came from.
#[derive(Clone, Debug)]
pub struct JsonlObject {
    /// The file it was read from.
    pub path: PathBuf,
    /// 1-based line number.
    pub line: u64,
    /// The object's fields.
    pub fields: Map<String, Value>,
}

impl JsonlObject {
    /// An error about this line.
    pub fn err(&self, message: impl Into<String>) -> DataError {
        DataError::Jsonl {
            path: self.path.clone(),
            line: self.line,
            message: message.into(),
        }
    }

    /// The string field `name`; missing or another type (`null` included) is an error
    /// naming it.
    pub fn string(&self, name: &str) -> DataResult<String> {
        match self.fields.get(name) {
            None => Err(self.err(format!("missing field \"{name}\""))),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(self.err(format!(
                "field \"{name}\" must be a string, found {}",
                json_kind(other)
            ))),
        }
    }
}

/// The kind of a JSON value, for messages ("a number", "an array").
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads the objects of a JSONL file one line at a time; `expects` names the fields an
/// object should have, for the message when a line holds something else.
pub struct JsonlReader {
    path: PathBuf,
    reader: BufReader<File>,
    line: u64,
    bytes: u64,
    expects: &'static str,
}

impl JsonlReader {
    /// Opens `path`.
    pub fn open(path: &Path, expects: &'static str) -> DataResult<Self> {
        let f = File::open(path).map_err(|e| DataError::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            reader: BufReader::new(f),
            line: 0,
            bytes: 0,
            expects,
        })
    }

    /// Bytes consumed so far (for progress).
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// The next object, or `None` at the end of the file.
    pub fn next_object(&mut self) -> DataResult<Option<JsonlObject>> {
        loop {
            let mut buf = Vec::new();
            let n = self
                .reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| DataError::io(&self.path, e))?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            self.bytes += n as u64;
            let text = std::str::from_utf8(&buf).map_err(|source| DataError::InvalidUtf8 {
                path: self.path.clone(),
                line: self.line,
                source,
            })?;
            if text.trim().is_empty() {
                continue;
            }
            let err = |message: String| DataError::Jsonl {
                path: self.path.clone(),
                line: self.line,
                message,
            };
            let value: Value =
                serde_json::from_str(text).map_err(|e| err(format!("invalid JSON: {e}")))?;
            let Value::Object(fields) = value else {
                return Err(err(format!(
                    "expected a JSON object with {}, found {}",
                    self.expects,
                    json_kind(&value)
                )));
            };
            return Ok(Some(JsonlObject {
                path: self.path.clone(),
                line: self.line,
                fields,
            }));
        }
    }
}

impl Iterator for JsonlReader {
    type Item = DataResult<JsonlObject>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_object().transpose()
    }
}

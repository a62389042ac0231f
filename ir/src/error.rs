//! The IR crate's error type.

use thiserror::Error;

/// Where in a source text something was found (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub line: u32,
    pub col: u32,
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// Everything that can go wrong building, reading or checking IR.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum IrError {
    /// A node's operands or declared type break its op's type rule.
    #[error("{}%{node} = {op}: {msg}", loc_prefix(.span))]
    Type {
        node: String,
        op: String,
        msg: String,
        span: Option<Span>,
    },
    /// Structural problems: dangling operands, cycles, duplicate names, bad outputs.
    #[error("{}in @{func}: {msg}", loc_prefix(.span))]
    Structure {
        func: String,
        msg: String,
        span: Option<Span>,
    },
    /// A text-format syntax error.
    #[error("{span}: {msg}")]
    Parse { span: Span, msg: String },
    /// The JSON form could not be read.
    #[error("json: {0}")]
    Json(String),
    /// An execution plan (`plan.json`) could not be read, has another schema version, or
    /// does not hold together (a reference outside the arena, a missing buffer).
    #[error("plan.json: {0}")]
    Plan(String),
}

fn loc_prefix(span: &Option<Span>) -> String {
    match span {
        Some(s) => format!("{s}: "),
        None => String::new(),
    }
}

impl IrError {
    /// The source location, when the error came from text.
    pub fn span(&self) -> Option<Span> {
        match self {
            IrError::Type { span, .. } | IrError::Structure { span, .. } => *span,
            IrError::Parse { span, .. } => Some(*span),
            IrError::Json(_) | IrError::Plan(_) => None,
        }
    }

    /// Attach a source location (used when verifying a parsed module).
    pub fn with_span(mut self, s: Span) -> Self {
        match &mut self {
            IrError::Type { span, .. } | IrError::Structure { span, .. } => *span = Some(s),
            IrError::Parse { span, .. } => *span = s,
            IrError::Json(_) | IrError::Plan(_) => {}
        }
        self
    }
}

pub type Result<T, E = IrError> = std::result::Result<T, E>;

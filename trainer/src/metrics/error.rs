//! Errors of metrics logging and plotting, naming the file (and line).

use std::path::PathBuf;

/// Everything that can go wrong writing, reading or plotting metrics.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// An I/O error on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line that is not a metrics record (and not a cut-off last line).
    #[error("{}:{line}: invalid metrics record: {message}", path.display())]
    Parse {
        path: PathBuf,
        line: u64,
        message: String,
    },
    /// Nothing to plot.
    #[error("{}: no records with a loss value to plot", path.display())]
    Empty { path: PathBuf },
    /// A field asked for that no record of the log has.
    #[error("{}: no record has a numeric \"{field}\" to plot", path.display())]
    NoField { path: PathBuf, field: String },
    /// The plotting library failed.
    #[error("plotting {}: {message}", path.display())]
    Plot { path: PathBuf, message: String },
}

impl MetricsError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        MetricsError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias for metrics code.
pub type MetricsResult<T> = Result<T, MetricsError>;

//! File output that never leaves a partial file behind.

use anyhow::{Context, Result};
use std::path::Path;

/// Write `bytes` to `path` atomically ([`llc_ir::fsutil::write_atomic`]: temp file,
/// fsync, rename), with the path in the error.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    llc_ir::fsutil::write_atomic(path, bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

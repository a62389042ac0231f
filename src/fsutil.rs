//! File output that never leaves a partial file behind.

use anyhow::{Context, Result};
use std::path::Path;

/// Write `bytes` to `path` atomically (the checkpoint writer's temp file, fsync and
/// rename), with the path in the error.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    llc_runtime::checkpoint::atomic::write_atomic(path, bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

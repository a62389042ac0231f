//! Appends metrics as JSON lines, flushed after every line so a killed run loses at most
//! the line being written.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use llc_ir::fsutil::write_atomic;

use super::error::{MetricsError, MetricsResult};
use super::reader::read_metrics;
use super::record::MetricRecord;

/// An open metrics log.
pub struct MetricsWriter {
    path: PathBuf,
    file: File,
}

impl MetricsWriter {
    /// Starts a new log, replacing any file at `path` (parent directories are created).
    pub fn create(path: &Path) -> MetricsResult<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| MetricsError::io(parent, e))?;
        }
        let file = File::create(path).map_err(|e| MetricsError::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Opens a log for appending (creating it if absent). A last line cut off by a killed
    /// run is removed first, so new lines start on a line of their own.
    pub fn append(path: &Path) -> MetricsResult<Self> {
        if !path.exists() {
            return Self::create(path);
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| MetricsError::io(path, e))?;
        let keep = complete_prefix_len(&mut file).map_err(|e| MetricsError::io(path, e))?;
        file.set_len(keep).map_err(|e| MetricsError::io(path, e))?;
        file.seek(SeekFrom::End(0))
            .map_err(|e| MetricsError::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Opens a log for a run resumed from a checkpoint at `last_step`: records after that
    /// step (logged by the previous run after its last checkpoint, and about to be redone)
    /// are dropped with an atomic rewrite, then the log is opened for appending.
    pub fn resume(path: &Path, last_step: u64) -> MetricsResult<Self> {
        if path.exists() {
            let log = read_metrics(path)?;
            let kept: Vec<&MetricRecord> =
                log.records.iter().filter(|r| r.step <= last_step).collect();
            if kept.len() != log.records.len() || log.truncated_tail {
                let mut text = String::new();
                for r in kept {
                    text.push_str(&serde_json::to_string(r).expect("records serialize"));
                    text.push('\n');
                }
                write_atomic(path, text.as_bytes()).map_err(|e| MetricsError::io(path, e))?;
            }
        }
        Self::append(path)
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one record as a line and flushes it to the OS.
    pub fn write(&mut self, record: &MetricRecord) -> MetricsResult<()> {
        let mut line = serde_json::to_string(record).expect("records serialize");
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|_| self.file.flush())
            .map_err(|e| MetricsError::io(&self.path, e))
    }
}

/// Length of the file up to and including its last newline.
fn complete_prefix_len(file: &mut File) -> std::io::Result<u64> {
    let len = file.metadata()?.len();
    let mut pos = len;
    let mut buf = [0u8; 4096];
    while pos > 0 {
        let n = buf.len().min(pos as usize);
        pos -= n as u64;
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(pos + i as u64 + 1);
        }
    }
    Ok(0)
}

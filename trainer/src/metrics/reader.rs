//! Reads a metrics JSON-lines log, tolerating the cut-off last line a killed run leaves.

use std::path::Path;

use super::error::{MetricsError, MetricsResult};
use super::record::MetricRecord;

/// The records of a log.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricsLog {
    /// Records in file order.
    pub records: Vec<MetricRecord>,
    /// True when the last line was incomplete (no newline, not valid JSON) and skipped.
    pub truncated_tail: bool,
}

/// Reads `path`. Blank lines are skipped; an unparsable line is an error naming its line
/// number, unless it is the last line and lacks its newline (a write cut short).
pub fn read_metrics(path: &Path) -> MetricsResult<MetricsLog> {
    let text = std::fs::read(path).map_err(|e| MetricsError::io(path, e))?;
    let ends_with_newline = text.last() == Some(&b'\n');
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    let mut log = MetricsLog::default();
    for (i, raw) in lines.iter().enumerate() {
        let is_last = i + 1 == lines.len();
        if raw.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        match serde_json::from_slice::<MetricRecord>(raw) {
            Ok(r) => log.records.push(r),
            Err(_) if is_last && !ends_with_newline => log.truncated_tail = true,
            Err(e) => {
                return Err(MetricsError::Parse {
                    path: path.to_path_buf(),
                    line: i as u64 + 1,
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(log)
}

//! The metrics JSON-lines log: round trip, a run killed mid-line, appending after such a
//! kill, resuming from a checkpoint, and errors naming file:line.

use std::io::Write;

use llc_trainer::metrics::{MetricRecord, MetricsWriter, read_metrics};

fn record(step: u64) -> MetricRecord {
    MetricRecord {
        loss: Some(5.0 - step as f64 * 0.01),
        lr: Some(3e-4),
        grad_norm: Some(1.5),
        tokens_per_sec: Some(12345.0),
        elapsed: Some(step as f64 * 0.1),
        val_loss: step.is_multiple_of(10).then_some(4.5),
        ..MetricRecord::at_step(step)
    }
}

#[test]
fn records_round_trip_one_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run/metrics.jsonl");
    let mut w = MetricsWriter::create(&path).unwrap();
    let mut extra = record(3);
    extra.extra.insert("note".into(), "warmup".into());
    for r in [record(1), record(2), extra.clone()] {
        w.write(&r).unwrap();
    }
    // Flushed per line: readable while the writer is still open.
    let log = read_metrics(&path).unwrap();
    assert_eq!(log.records, vec![record(1), record(2), extra]);
    assert!(!log.truncated_tail);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 3);
    assert!(
        text.lines()
            .next()
            .unwrap()
            .starts_with("{\"step\":1,\"loss\":4.99")
    );
    assert!(
        !text.contains("val_loss\":null"),
        "absent values are omitted"
    );
}

#[test]
fn truncated_last_line_is_tolerated_and_repaired_on_append() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.jsonl");
    let mut w = MetricsWriter::create(&path).unwrap();
    for s in 1..=3 {
        w.write(&record(s)).unwrap();
    }
    drop(w);
    // A killed run: half a line, no newline.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"{\"step\":4,\"lo")
        .unwrap();
    let log = read_metrics(&path).unwrap();
    assert_eq!(log.records.len(), 3);
    assert!(log.truncated_tail);

    let mut w = MetricsWriter::append(&path).unwrap();
    w.write(&record(4)).unwrap();
    let log = read_metrics(&path).unwrap();
    assert_eq!(
        log.records.iter().map(|r| r.step).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert!(!log.truncated_tail);
}

#[test]
fn bad_line_in_the_middle_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.jsonl");
    std::fs::write(&path, "{\"step\":1}\n\n{\"step\":\"two\"}\n{\"step\":3}\n").unwrap();
    let err = read_metrics(&path).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}:3: invalid metrics record", path.display())),
        "{err}"
    );
    // A broken last line that does end with a newline was written whole: also an error.
    std::fs::write(&path, "{\"step\":1}\n{\"step\n").unwrap();
    assert!(read_metrics(&path).is_err());
}

#[test]
fn resume_drops_steps_after_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.jsonl");
    let mut w = MetricsWriter::create(&path).unwrap();
    for s in 1..=130 {
        w.write(&record(s)).unwrap();
    }
    drop(w);
    let mut w = MetricsWriter::resume(&path, 100).unwrap();
    w.write(&record(101)).unwrap();
    let steps: Vec<u64> = read_metrics(&path)
        .unwrap()
        .records
        .iter()
        .map(|r| r.step)
        .collect();
    assert_eq!(steps, (1..=101).collect::<Vec<_>>());
}

#[test]
fn missing_log_is_named() {
    let err = read_metrics(std::path::Path::new("/nonexistent/metrics.jsonl"))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("/nonexistent/metrics.jsonl:"), "{err}");
}

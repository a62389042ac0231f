//! Plotting: a PNG of the right size with drawn content, written atomically, from a log
//! with a cut-off last line; and a clear error when there is nothing to plot.

use std::path::Path;

use llc_trainer::metrics::plot::PLOT_SIZE;
use llc_trainer::metrics::{MetricRecord, MetricsWriter, plot_metrics, plot_runs};

/// Width and height from a PNG's IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    (w, h)
}

/// A cosine-decaying learning rate and a loss that falls with noise, as a run would log.
fn write_run(path: &Path, steps: u64) {
    let mut w = MetricsWriter::create(path).unwrap();
    for s in 0..steps {
        let warm = (s as f64 / 20.0).min(1.0);
        let lr = 3e-4
            * warm
            * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * s as f64 / steps as f64).cos()));
        let noise = ((s * 7919) % 13) as f64 / 13.0 - 0.5;
        let r = MetricRecord {
            loss: Some(2.0 + 3.5 * (-(s as f64) / 60.0).exp() + 0.1 * noise),
            lr: Some(lr),
            val_loss: s
                .is_multiple_of(25)
                .then(|| 2.1 + 3.4 * (-(s as f64) / 60.0).exp()),
            ..MetricRecord::at_step(s)
        };
        w.write(&r).unwrap();
    }
}

#[test]
fn plot_has_expected_size_and_content() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("demo-run");
    std::fs::create_dir(&run).unwrap();
    let log = run.join("metrics.jsonl");
    write_run(&log, 300);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"step\":300,"))
        .unwrap();
    let out = dir.path().join("loss.png");
    let s = plot_metrics(&log, &out).unwrap();
    assert_eq!((s.loss_points, s.val_points, s.lr_points), (300, 12, 300));
    assert!(s.truncated_tail);
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(png_size(&bytes), PLOT_SIZE);
    // A blank white image compresses to well under 10 KB; curves and text do not.
    assert!(bytes.len() > 20_000, "png is {} bytes", bytes.len());
    // Only the PNG is left in the directory: no temp files.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    // Different data draws a different picture.
    write_run(&log, 120);
    let out2 = dir.path().join("loss2.png");
    plot_metrics(&log, &out2).unwrap();
    assert_ne!(std::fs::read(&out2).unwrap(), bytes);
}

#[test]
fn nothing_to_plot_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("metrics.jsonl");
    std::fs::write(&log, "{\"step\":1,\"lr\":0.001}\n").unwrap();
    let out = dir.path().join("p.png");
    let err = plot_metrics(&log, &out).unwrap_err().to_string();
    assert_eq!(
        err,
        format!("{}: no records with a loss value to plot", log.display())
    );
    assert!(!out.exists());
}

#[test]
fn several_runs_share_one_plot_and_an_empty_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("f32"), dir.path().join("bf16"));
    for (d, steps) in [(&a, 120), (&b, 80)] {
        std::fs::create_dir(d).unwrap();
        write_run(&d.join("metrics.jsonl"), steps);
    }
    let out = dir.path().join("both.png");
    let s = plot_runs(&[&a.join("metrics.jsonl"), &b.join("metrics.jsonl")], &out).unwrap();
    assert_eq!(
        (s.loss_points, s.val_points, s.lr_points),
        (200, 5 + 4, 200)
    );
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(png_size(&bytes), PLOT_SIZE);
    assert!(bytes.len() > 20_000, "png is {} bytes", bytes.len());
    // a run with nothing to plot is an error naming its log, and nothing is written
    let empty = dir.path().join("blank");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("metrics.jsonl"), "").unwrap();
    let out2 = dir.path().join("none.png");
    let err = plot_runs(
        &[&a.join("metrics.jsonl"), &empty.join("metrics.jsonl")],
        &out2,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("blank/metrics.jsonl"), "{err}");
    assert!(!out2.exists());
}

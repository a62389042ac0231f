//! Renders a metrics log as a PNG: training and validation loss against step in the top
//! panel, the learning rate in the bottom one.
//!
//! Text uses DejaVu Sans embedded in the binary (crate `dejavu`) through plotters'
//! `ab_glyph` backend, so plotting needs no system fonts, fontconfig or FreeType.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::FontStyle;

use llc_ir::fsutil::{fsync_dir, parent_dir};

use super::error::{MetricsError, MetricsResult};
use super::reader::read_metrics;
use super::record::MetricRecord;

/// Image size in pixels.
pub const PLOT_SIZE: (u32, u32) = (1000, 720);
/// Font family name the embedded font is registered under.
const FONT: &str = "sans-serif";

/// What was drawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlotSummary {
    /// Points of the training loss series.
    pub loss_points: usize,
    /// Points of the validation loss series.
    pub val_points: usize,
    /// Points of the learning-rate series.
    pub lr_points: usize,
    /// Whether the log's last line was cut off (and skipped).
    pub truncated_tail: bool,
}

/// Reads `jsonl` and writes the plot to `out_png` (atomically).
pub fn plot_metrics(jsonl: &Path, out_png: &Path) -> MetricsResult<PlotSummary> {
    let log = read_metrics(jsonl)?;
    let title = jsonl
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| jsonl.display().to_string());
    let mut summary = plot_records(&log.records, &title, out_png).map_err(|e| match e {
        MetricsError::Empty { .. } => MetricsError::Empty {
            path: jsonl.to_path_buf(),
        },
        other => other,
    })?;
    summary.truncated_tail = log.truncated_tail;
    Ok(summary)
}

/// Plots records (see the module docs) under `title` to `out_png` (atomically).
pub fn plot_records(
    records: &[MetricRecord],
    title: &str,
    out_png: &Path,
) -> MetricsResult<PlotSummary> {
    let series = |f: fn(&MetricRecord) -> Option<f64>| -> Vec<(f64, f64)> {
        records
            .iter()
            .filter_map(|r| f(r).filter(|v| v.is_finite()).map(|v| (r.step as f64, v)))
            .collect()
    };
    let loss = series(|r| r.loss);
    let val = series(|r| r.val_loss);
    let lr = series(|r| r.lr);
    if loss.is_empty() && val.is_empty() {
        return Err(MetricsError::Empty {
            path: out_png.to_path_buf(),
        });
    }
    register_font();
    let dir = parent_dir(out_png);
    let tmp = tempfile::Builder::new()
        .prefix(".plot-")
        .suffix(".png")
        .tempfile_in(dir)
        .map_err(|e| MetricsError::io(dir, e))?;
    draw(tmp.path(), title, &loss, &val, &lr).map_err(|message| MetricsError::Plot {
        path: out_png.to_path_buf(),
        message,
    })?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| MetricsError::io(out_png, e))?;
    tmp.persist(out_png)
        .map_err(|e| MetricsError::io(out_png, e.error))?;
    fsync_dir(dir).map_err(|e| MetricsError::io(dir, e))?;
    Ok(PlotSummary {
        loss_points: loss.len(),
        val_points: val.len(),
        lr_points: lr.len(),
        truncated_tail: false,
    })
}

fn register_font() {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        // The embedded font is a valid TrueType file; failure would be a build defect.
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
            .map_err(|_| ())
            .expect("embedded DejaVu Sans parses");
    });
}

/// Range covering `values` with a margin, never empty.
fn padded_range(values: impl Iterator<Item = f64>, floor_zero: bool) -> std::ops::Range<f64> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let span = (hi - lo).max(hi.abs() * 1e-3).max(1e-12);
    let lo = if floor_zero {
        (lo - 0.05 * span).max(0.0)
    } else {
        lo - 0.05 * span
    };
    lo..hi + 0.05 * span
}

fn draw(
    path: &Path,
    title: &str,
    loss: &[(f64, f64)],
    val: &[(f64, f64)],
    lr: &[(f64, f64)],
) -> Result<(), String> {
    let e = |err: &dyn std::fmt::Display| err.to_string();
    let root = BitMapBackend::new(path, PLOT_SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let (top, bottom) = root.split_vertically(PLOT_SIZE.1 * 2 / 3);
    let steps = padded_range(loss.iter().chain(val).chain(lr).map(|p| p.0), true);
    let losses = padded_range(loss.iter().chain(val).map(|p| p.1), true);

    let mut chart = ChartBuilder::on(&top)
        .caption(format!("{title}: loss"), (FONT, 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(steps.clone(), losses)
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("loss")
        .label_style((FONT, 14))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.2}"))
        .draw()
        .map_err(|x| e(&x))?;
    if !loss.is_empty() {
        chart
            .draw_series(LineSeries::new(loss.iter().copied(), BLUE.stroke_width(2)))
            .map_err(|x| e(&x))?
            .label("train loss")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    }
    if !val.is_empty() {
        chart
            .draw_series(LineSeries::new(val.iter().copied(), RED.stroke_width(2)))
            .map_err(|x| e(&x))?
            .label("val loss")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
        chart
            .draw_series(val.iter().map(|&p| Circle::new(p, 4, RED.filled())))
            .map_err(|x| e(&x))?;
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|x| e(&x))?;

    let lrs = padded_range(lr.iter().map(|p| p.1), true);
    let mut lr_chart = ChartBuilder::on(&bottom)
        .caption("learning rate", (FONT, 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(steps, lrs)
        .map_err(|x| e(&x))?;
    lr_chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("lr")
        .label_style((FONT, 14))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| {
            if *v == 0.0 {
                "0".to_string()
            } else {
                format!("{v:.1e}")
            }
        })
        .draw()
        .map_err(|x| e(&x))?;
    if !lr.is_empty() {
        lr_chart
            .draw_series(LineSeries::new(lr.iter().copied(), GREEN.stroke_width(2)))
            .map_err(|x| e(&x))?;
    }
    root.present().map_err(|x| e(&x))?;
    Ok(())
}

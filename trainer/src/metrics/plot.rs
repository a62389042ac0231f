//! Renders metrics logs as a PNG: training and validation loss against step in the top
//! panel, the learning rate in the bottom one; several runs (f32 against bf16, say) share
//! the axes, one colour each.
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

/// Reads each run's log and writes them on one plot to `out_png` (atomically), each
/// labelled by the name of the directory its log is in.
pub fn plot_runs(jsonls: &[&Path], out_png: &Path) -> MetricsResult<PlotSummary> {
    let mut runs = Vec::with_capacity(jsonls.len());
    let mut truncated = false;
    for p in jsonls {
        let log = read_metrics(p)?;
        truncated |= log.truncated_tail;
        if !log
            .records
            .iter()
            .any(|r| r.loss.is_some() || r.val_loss.is_some())
        {
            return Err(MetricsError::Empty {
                path: p.to_path_buf(),
            });
        }
        runs.push((run_label(p), log.records));
    }
    let refs: Vec<(&str, &[MetricRecord])> = runs
        .iter()
        .map(|(l, r)| (l.as_str(), r.as_slice()))
        .collect();
    let title = runs
        .iter()
        .map(|(l, _)| l.as_str())
        .collect::<Vec<_>>()
        .join(" vs ");
    let mut summary = draw_runs(&refs, &title, out_png)?;
    summary.truncated_tail = truncated;
    Ok(summary)
}

/// The name a run goes by: its log's directory.
fn run_label(jsonl: &Path) -> String {
    jsonl
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| jsonl.display().to_string())
}

/// Plots records (see the module docs) under `title` to `out_png` (atomically).
pub fn plot_records(
    records: &[MetricRecord],
    title: &str,
    out_png: &Path,
) -> MetricsResult<PlotSummary> {
    draw_runs(&[("", records)], title, out_png)
}

/// One run's series.
struct Series {
    label: String,
    loss: Vec<(f64, f64)>,
    val: Vec<(f64, f64)>,
    lr: Vec<(f64, f64)>,
}

fn draw_runs(
    runs: &[(&str, &[MetricRecord])],
    title: &str,
    out_png: &Path,
) -> MetricsResult<PlotSummary> {
    let series: Vec<Series> = runs
        .iter()
        .map(|(label, records)| {
            let pick = |f: fn(&MetricRecord) -> Option<f64>| -> Vec<(f64, f64)> {
                records
                    .iter()
                    .filter_map(|r| f(r).filter(|v| v.is_finite()).map(|v| (r.step as f64, v)))
                    .collect()
            };
            Series {
                label: label.to_string(),
                loss: pick(|r| r.loss),
                val: pick(|r| r.val_loss),
                lr: pick(|r| r.lr),
            }
        })
        .collect();
    if series.iter().all(|s| s.loss.is_empty() && s.val.is_empty()) {
        return Err(MetricsError::Empty {
            path: out_png.to_path_buf(),
        });
    }
    write_png(out_png, |path| draw(path, title, &series))?;
    Ok(PlotSummary {
        loss_points: series.iter().map(|s| s.loss.len()).sum(),
        val_points: series.iter().map(|s| s.val.len()).sum(),
        lr_points: series.iter().map(|s| s.lr.len()).sum(),
        truncated_tail: false,
    })
}

/// Draws with `paint` into a temporary PNG next to `out_png`, then renames it there
/// (a reader never sees a half-drawn plot).
fn write_png(out_png: &Path, paint: impl FnOnce(&Path) -> Result<(), String>) -> MetricsResult<()> {
    register_font();
    let dir = parent_dir(out_png);
    let tmp = tempfile::Builder::new()
        .prefix(".plot-")
        .suffix(".png")
        .tempfile_in(dir)
        .map_err(|e| MetricsError::io(dir, e))?;
    paint(tmp.path()).map_err(|message| MetricsError::Plot {
        path: out_png.to_path_buf(),
        message,
    })?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| MetricsError::io(out_png, e))?;
    tmp.persist(out_png)
        .map_err(|e| MetricsError::io(out_png, e.error))?;
    fsync_dir(dir).map_err(|e| MetricsError::io(dir, e))
}

/// Plots the named fields of `jsonl`'s records (the log's own, `loss`, `lr`, ..., or a
/// trainer's extra ones such as PPO's `reward` and `kl`) against step, one panel each,
/// to `out_png` (atomically). Returns the points drawn per field; a field no record has
/// is an error naming it.
pub fn plot_fields(jsonl: &Path, fields: &[String], out_png: &Path) -> MetricsResult<Vec<usize>> {
    let log = read_metrics(jsonl)?;
    let title = run_label(jsonl);
    let mut panels = Vec::with_capacity(fields.len());
    for f in fields {
        let points: Vec<(f64, f64)> = log
            .records
            .iter()
            .filter_map(|r| {
                let v = serde_json::to_value(r).ok()?.get(f)?.as_f64()?;
                v.is_finite().then_some((r.step as f64, v))
            })
            .collect();
        if points.is_empty() {
            return Err(MetricsError::NoField {
                path: jsonl.to_path_buf(),
                field: f.clone(),
            });
        }
        panels.push((f.as_str(), points));
    }
    write_png(out_png, |path| draw_panels(path, &title, &panels))?;
    Ok(panels.iter().map(|(_, p)| p.len()).collect())
}

/// One panel per `(name, points)`, stacked, sharing the step axis.
fn draw_panels(path: &Path, title: &str, panels: &[(&str, Vec<(f64, f64)>)]) -> Result<(), String> {
    let e = |err: &dyn std::fmt::Display| err.to_string();
    let height = (260 * panels.len() as u32).max(PLOT_SIZE.1 / 2);
    let root = BitMapBackend::new(path, (PLOT_SIZE.0, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let steps = padded_range(panels.iter().flat_map(|(_, p)| p.iter().map(|q| q.0)), true);
    let areas = root.split_evenly((panels.len(), 1));
    for (i, ((name, points), area)) in panels.iter().zip(&areas).enumerate() {
        let ys = padded_range(points.iter().map(|q| q.1), false);
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{title}: {name}"), (FONT, 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(72)
            .build_cartesian_2d(steps.clone(), ys)
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc(*name)
            .label_style((FONT, 14))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| {
                if *v != 0.0 && v.abs() < 0.01 {
                    format!("{v:.1e}")
                } else {
                    format!("{v:.3}")
                }
            })
            .draw()
            .map_err(|x| e(&x))?;
        let colour = COLOURS[i % COLOURS.len()].0;
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(|x| e(&x))?;
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))
            .map_err(|x| e(&x))?;
    }
    root.present().map_err(|x| e(&x))?;
    Ok(())
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

/// Colours of the runs, in order: (train loss, validation loss, learning rate).
const COLOURS: [(RGBColor, RGBColor, RGBColor); 4] = [
    (BLUE, RED, GREEN),
    (
        RGBColor(255, 140, 0),
        RGBColor(128, 0, 128),
        RGBColor(0, 128, 128),
    ),
    (
        RGBColor(90, 90, 90),
        RGBColor(0, 0, 0),
        RGBColor(150, 150, 0),
    ),
    (
        RGBColor(0, 160, 220),
        RGBColor(200, 0, 120),
        RGBColor(100, 200, 0),
    ),
];

fn draw(path: &Path, title: &str, runs: &[Series]) -> Result<(), String> {
    let e = |err: &dyn std::fmt::Display| err.to_string();
    let root = BitMapBackend::new(path, PLOT_SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let (top, bottom) = root.split_vertically(PLOT_SIZE.1 * 2 / 3);
    let all = |f: fn(&Series) -> &Vec<(f64, f64)>| runs.iter().flat_map(move |s| f(s).iter());
    let steps = padded_range(
        all(|s| &s.loss)
            .chain(all(|s| &s.val))
            .chain(all(|s| &s.lr))
            .map(|p| p.0),
        true,
    );
    let losses = padded_range(all(|s| &s.loss).chain(all(|s| &s.val)).map(|p| p.1), true);

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
    for (i, run) in runs.iter().enumerate() {
        let (c_loss, c_val, _) = COLOURS[i % COLOURS.len()];
        let name = |what: &str| {
            if run.label.is_empty() {
                what.to_string()
            } else {
                format!("{} {what}", run.label)
            }
        };
        if !run.loss.is_empty() {
            chart
                .draw_series(LineSeries::new(
                    run.loss.iter().copied(),
                    c_loss.stroke_width(2),
                ))
                .map_err(|x| e(&x))?
                .label(name("train loss"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c_loss.stroke_width(2))
                });
        }
        if !run.val.is_empty() {
            chart
                .draw_series(LineSeries::new(
                    run.val.iter().copied(),
                    c_val.stroke_width(2),
                ))
                .map_err(|x| e(&x))?
                .label(name("val loss"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c_val.stroke_width(2))
                });
            chart
                .draw_series(run.val.iter().map(|&p| Circle::new(p, 4, c_val.filled())))
                .map_err(|x| e(&x))?;
        }
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|x| e(&x))?;

    let lrs = padded_range(all(|s| &s.lr).map(|p| p.1), true);
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
    for (i, run) in runs.iter().enumerate() {
        let (_, _, c_lr) = COLOURS[i % COLOURS.len()];
        if !run.lr.is_empty() {
            lr_chart
                .draw_series(LineSeries::new(
                    run.lr.iter().copied(),
                    c_lr.stroke_width(2),
                ))
                .map_err(|x| e(&x))?;
        }
    }
    root.present().map_err(|x| e(&x))?;
    Ok(())
}

//! `llc-train plot`: loss, validation loss and learning rate of a run (or of several on
//! one plot), or any fields of one run (`--fields reward,kl`), as a PNG.

use crate::cli::PlotArgs;
use anyhow::Result;
use llc_trainer::metrics::{plot_fields, plot_metrics, plot_runs};

pub fn run(a: PlotArgs) -> Result<()> {
    if !a.fields.is_empty() {
        let [one] = a.metrics.as_slice() else {
            anyhow::bail!("--fields plots one metrics log, got {}", a.metrics.len());
        };
        let points = plot_fields(one, &a.fields, &a.output)?;
        let drawn: Vec<String> = a
            .fields
            .iter()
            .zip(points)
            .map(|(f, n)| format!("{n} {f} points"))
            .collect();
        println!("wrote {} ({})", a.output.display(), drawn.join(", "));
        return Ok(());
    }
    let s = match a.metrics.as_slice() {
        [one] => plot_metrics(one, &a.output)?,
        many => plot_runs(
            &many.iter().map(|p| p.as_path()).collect::<Vec<_>>(),
            &a.output,
        )?,
    };
    println!(
        "wrote {} ({} loss points, {} val points{})",
        a.output.display(),
        s.loss_points,
        s.val_points,
        if s.truncated_tail {
            "; the log's cut-off last line was skipped"
        } else {
            ""
        }
    );
    Ok(())
}

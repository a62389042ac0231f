//! `llc-train plot`: loss, validation loss and learning rate of a run (or of several on
//! one plot), as a PNG.

use crate::cli::PlotArgs;
use anyhow::Result;
use llc_trainer::metrics::{plot_metrics, plot_runs};

pub fn run(a: PlotArgs) -> Result<()> {
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

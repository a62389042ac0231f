//! `llc-train plot`: loss, validation loss and learning rate of a run, as a PNG.

use crate::cli::PlotArgs;
use anyhow::Result;
use llc_runtime::metrics::plot_metrics;

pub fn run(a: PlotArgs) -> Result<()> {
    let s = plot_metrics(&a.metrics, &a.output)?;
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

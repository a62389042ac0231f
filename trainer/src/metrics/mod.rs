//! Training metrics: a JSON-lines log (one record per step, flushed per line, tolerant of a
//! run killed mid-line) and PNG plots of loss and learning rate.

pub mod error;
pub mod plot;
pub mod reader;
pub mod record;
pub mod writer;

pub use error::{MetricsError, MetricsResult};
pub use plot::{PlotSummary, plot_fields, plot_metrics, plot_records, plot_runs};
pub use reader::{MetricsLog, read_metrics};
pub use record::MetricRecord;
pub use writer::MetricsWriter;

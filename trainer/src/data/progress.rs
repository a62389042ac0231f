//! Progress bars for long data jobs: shown on a terminal, hidden when stderr is not one
//! (logs, CI) or when the caller asks for quiet.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A byte-count progress bar over `total` bytes; hidden unless `show` and stderr is a TTY.
pub fn byte_progress(total: u64, show: bool, message: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), draw_target(show));
    let style = ProgressStyle::with_template(
        "{msg} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
    )
    .expect("static progress template is valid");
    bar.set_style(style);
    bar.set_message(message.to_string());
    bar
}

fn draw_target(show: bool) -> ProgressDrawTarget {
    if show && std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

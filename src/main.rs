//! `llc-train`: compile Llama training steps and run them.

mod cli;
mod cmd;
mod fsutil;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    if let Err(e) = cmd::set_threads(cli.threads) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
    if let Err(e) = cmd::dispatch(cli) {
        eprintln!("error: {e}");
        let mut source = e.source();
        while let Some(s) = source {
            eprintln!("  caused by: {s}");
            source = s.source();
        }
        std::process::exit(1);
    }
}

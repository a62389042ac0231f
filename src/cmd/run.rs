//! `llc-train run`: evaluate a module on the CPU interpreter.

use crate::cli::RunArgs;
use anyhow::{Result, bail};

pub fn run(a: RunArgs) -> Result<()> {
    if a.backend != "cpu" {
        bail!(
            "backend `{}` is not available for `run` (use `cpu`)",
            a.backend
        );
    }
    let _module = super::read_module(&a.input)?;
    bail!("the CPU interpreter is not wired in yet")
}

//! The GPU architectures codegen emits PTX for.

use crate::error::CodegenError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A GPU architecture: the `chip` of the NVVM target and the `-arch` for ptxas.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Target {
    /// Ampere (A100).
    #[serde(rename = "sm_80")]
    Sm80,
    /// Hopper (H100/H200), the default.
    #[default]
    #[serde(rename = "sm_90")]
    Sm90,
}

impl Target {
    /// Every supported target, for tests that cover them all.
    pub const ALL: [Target; 2] = [Target::Sm80, Target::Sm90];

    /// The spelling used by `--target`, MLIR's `#nvvm.target` and ptxas (`sm_90`).
    pub fn name(self) -> &'static str {
        match self {
            Target::Sm80 => "sm_80",
            Target::Sm90 => "sm_90",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Target {
    type Err = CodegenError;

    fn from_str(s: &str) -> Result<Target, CodegenError> {
        Target::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| CodegenError::UnknownTarget(s.to_string()))
    }
}

//! The machines codegen emits code for: NVIDIA GPUs (PTX) and x86-64 CPUs (a shared
//! object of native code).

use crate::error::CodegenError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A compilation target: a GPU architecture (the `chip` of the NVVM target and the
/// `-arch` for ptxas) or a CPU (the build host's own model, or a named x86-64 level).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Target {
    /// Ampere (A100).
    Sm80,
    /// Hopper (H100/H200), the default.
    #[default]
    Sm90,
    /// The CPU this compiler runs on, with every feature it has (`--target cpu`).
    CpuNative,
    /// x86-64-v3: AVX2 and FMA (Haswell and later).
    X86_64V3,
    /// x86-64-v4: AVX-512 F/BW/CD/DQ/VL (Skylake-X and later).
    X86_64V4,
}

impl Target {
    /// Every supported target.
    pub const ALL: [Target; 5] = [
        Target::Sm80,
        Target::Sm90,
        Target::CpuNative,
        Target::X86_64V3,
        Target::X86_64V4,
    ];

    /// The GPU targets, for tests that assemble PTX for each.
    pub const GPUS: [Target; 2] = [Target::Sm80, Target::Sm90];

    /// The spelling used by `--target` and in `plan.json` (`sm_90`, `cpu`, `x86-64-v4`);
    /// for a GPU also MLIR's `#nvvm.target` chip and ptxas's `-arch`.
    pub fn name(self) -> &'static str {
        match self {
            Target::Sm80 => "sm_80",
            Target::Sm90 => "sm_90",
            Target::CpuNative => "cpu",
            Target::X86_64V3 => "x86-64-v3",
            Target::X86_64V4 => "x86-64-v4",
        }
    }

    /// How kernels are emitted for this target (vector width, parallel loops).
    pub(crate) fn flavor(self) -> crate::Flavor {
        if self.is_cpu() {
            crate::Flavor::Cpu
        } else {
            crate::Flavor::Gpu
        }
    }

    /// Whether this is a CPU target (native code rather than PTX).
    pub fn is_cpu(self) -> bool {
        matches!(
            self,
            Target::CpuNative | Target::X86_64V3 | Target::X86_64V4
        )
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

impl Serialize for Target {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Target, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

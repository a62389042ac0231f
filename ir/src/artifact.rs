//! The artifact directory's contract, shared by the compiler that writes it and the
//! runtimes that read it: file names, the description of native CPU code, and the CPU
//! features such code may require of a host.
//!
//! | file | what |
//! |---|---|
//! | [`PLAN_FILE`] | the execution plan ([`crate::plan::Plan`]) |
//! | [`KERNELS_IR_FILE`] | each distinct kernel's IR function (the plan executor's fallback, the oracle) |
//! | [`STEP_IR_FILE`] | the step as partitioned |
//! | [`PTX_FILE`] | GPU targets: every distinct kernel once, as PTX |
//! | [`NATIVE_LIB_FILE`] | CPU targets: every distinct kernel once, as a shared object |
//! | [`NATIVE_FILE`] | CPU targets: [`NativeCode`], what the shared object needs of the host |
//! | [`MLIR_FILE`] | the kernels' MLIR before lowering (on request) |
//! | [`REPORT_FILE`] | counts, memory, FLOPs and timings, for people |

use serde::{Deserialize, Serialize};

/// The execution plan.
pub const PLAN_FILE: &str = "plan.json";
/// The kernels' IR functions.
pub const KERNELS_IR_FILE: &str = "kernels.ir";
/// The partitioned step.
pub const STEP_IR_FILE: &str = "step.ir";
/// PTX of a GPU artifact.
pub const PTX_FILE: &str = "kernels.ptx";
/// The shared object of a CPU artifact.
pub const NATIVE_LIB_FILE: &str = "kernels.so";
/// The description of a CPU artifact's native code.
pub const NATIVE_FILE: &str = "native.json";
/// The kernels' MLIR before lowering.
pub const MLIR_FILE: &str = "kernels.mlir";
/// The human-readable report.
pub const REPORT_FILE: &str = "report.txt";

/// Declares [`X86_FEATURES`] and [`host_has`] from one list, so the features an artifact
/// may record and those a runtime can detect are the same.
macro_rules! x86_features {
    ($($name:tt),* $(,)?) => {
        /// The x86-64 features an artifact may require, in the spelling of LLVM's feature
        /// strings and of `std::is_x86_feature_detected!` (they agree on these). A runtime
        /// checks each required one on its host before loading the code. (AMX is not among
        /// them: generated kernels never use it, and GEMMs run in the runtime's library.)
        pub const X86_FEATURES: &[&str] = &[$($name),*];

        /// Whether this host has x86 feature `f` (a [`X86_FEATURES`] spelling).
        pub fn host_has(f: &str) -> bool {
            #[cfg(target_arch = "x86_64")]
            {
                match f {
                    $($name => std::is_x86_feature_detected!($name),)*
                    _ => false,
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            {
                let _ = f;
                false
            }
        }
    };
}

x86_features!(
    "sse2",
    "sse3",
    "ssse3",
    "sse4.1",
    "sse4.2",
    "popcnt",
    "avx",
    "avx2",
    "bmi1",
    "bmi2",
    "fma",
    "f16c",
    "lzcnt",
    "movbe",
    "avx512f",
    "avx512bw",
    "avx512cd",
    "avx512dq",
    "avx512vl",
    "avx512bf16",
    "avx512vnni",
);

/// The features of a named x86-64 micro-architecture level (psABI levels v2–v4),
/// restricted to [`X86_FEATURES`]; `None` for another name.
pub fn x86_level_features(level: &str) -> Option<Vec<&'static str>> {
    let v2 = ["sse2", "sse3", "ssse3", "sse4.1", "sse4.2", "popcnt"];
    let v3 = [
        "avx", "avx2", "bmi1", "bmi2", "fma", "f16c", "lzcnt", "movbe",
    ];
    let v4 = ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"];
    let mut out: Vec<&'static str> = Vec::new();
    match level {
        "x86-64-v2" => out.extend(v2),
        "x86-64-v3" => out.extend(v2.iter().chain(&v3)),
        "x86-64-v4" => out.extend(v2.iter().chain(&v3).chain(&v4)),
        _ => return None,
    }
    Some(out)
}

/// What a CPU artifact's native code is and needs (`native.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NativeCode {
    /// The target triple the code was compiled for (`x86_64-unknown-linux-gnu`).
    pub triple: String,
    /// The CPU it was tuned for: a named level (`x86-64-v4`) or the build host's model
    /// (`sapphirerapids`) for `--target cpu`.
    pub cpu: String,
    /// The features ([`X86_FEATURES`] spellings) the code may use; a host must have all.
    pub features: Vec<String>,
    /// The shared object, relative to the artifact directory ([`NATIVE_LIB_FILE`]).
    pub library: String,
    /// The symbol to call for entry `e` is `e` followed by this suffix; it has the C
    /// signature `void f(void **buffers, int64_t block_lo, int64_t block_hi)` and runs
    /// blocks `[block_lo, block_hi)` of the entry's grid (numbered `y · grid_x + x`),
    /// `buffers[i]` being the entry's parameter `i`.
    pub entry_suffix: String,
}

impl NativeCode {
    /// The required features this host lacks (empty when it can run the code). Only
    /// meaningful on x86-64; elsewhere every feature is missing.
    pub fn missing_features(&self) -> Vec<String> {
        self.features
            .iter()
            .filter(|f| !host_has(f))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_feature_is_detectable_and_levels_nest() {
        // sse2 is part of x86-64 itself
        assert!(cfg!(not(target_arch = "x86_64")) || host_has("sse2"));
        assert!(!host_has("no-such-feature"));
        let v3 = x86_level_features("x86-64-v3").unwrap();
        let v4 = x86_level_features("x86-64-v4").unwrap();
        assert!(v3.iter().all(|f| v4.contains(f)));
        assert!(v4.iter().all(|f| X86_FEATURES.contains(f)));
        assert!(x86_level_features("x86-64-v9").is_none());
    }
}

//! A CPU artifact's native kernels (`kernels.so`, described by `native.json`), loaded with
//! `dlopen` and run over the plan's arena: each launch's block range is split over the
//! threads of the current rayon pool (scatter kernels, whose blocks add into shared rows,
//! run on one thread so that sums are reproducible).

use crate::error::{Result, RuntimeError};
use llc_ir::artifact::{NATIVE_FILE, NativeCode};
use llc_ir::plan::{KernelClass, Plan};
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::Path;

/// `void entry(void **buffers, int64_t block_lo, int64_t block_hi)`.
type EntryFn = unsafe extern "C" fn(*const *mut u8, i64, i64);

/// The loaded shared object and its entries by name.
pub(crate) struct NativeKernels {
    /// Keeps the code mapped while `entries` point into it.
    _lib: libloading::Library,
    entries: HashMap<String, EntryFn>,
    /// What the code was compiled for (for messages and reports).
    pub code: NativeCode,
}

fn err(dir: &Path, msg: impl Into<String>) -> RuntimeError {
    RuntimeError::Plan(format!("artifact {}: {}", dir.display(), msg.into()))
}

/// Launches with fewer lanes (blocks times threads per block) run on the calling thread.
pub(crate) const INLINE_LANES: u64 = 1 << 13;

/// Buffer pointers for one launch, shareable across the threads that run its blocks
/// (blocks write disjoint elements).
struct Buffers(Vec<*mut u8>);
// SAFETY: the pointers are only dereferenced by the kernel, whose blocks touch disjoint
// output elements; the arena outlives the launch.
unsafe impl Send for Buffers {}
unsafe impl Sync for Buffers {}

impl Buffers {
    fn as_ptr(&self) -> *const *mut u8 {
        self.0.as_ptr()
    }
}

impl NativeKernels {
    /// Load `dir`'s native code for `plan`, refusing it before running anything when the
    /// plan is for another target or the host lacks a feature the code was compiled with.
    pub fn load(dir: &Path, plan: &Plan) -> Result<NativeKernels> {
        let path = dir.join(NATIVE_FILE);
        let text =
            std::fs::read_to_string(&path).map_err(|e| err(dir, format!("{NATIVE_FILE}: {e}")))?;
        let code: NativeCode =
            serde_json::from_str(&text).map_err(|e| err(dir, format!("{NATIVE_FILE}: {e}")))?;
        let arch = code.triple.split('-').next().unwrap_or("");
        if arch != std::env::consts::ARCH {
            return Err(err(
                dir,
                format!(
                    "compiled for {} ({}), but this host is {}",
                    code.triple,
                    code.cpu,
                    std::env::consts::ARCH
                ),
            ));
        }
        let missing = code.missing_features();
        if !missing.is_empty() {
            return Err(err(
                dir,
                format!(
                    "compiled for CPU {} (target {}), whose code may use {}; this host lacks {} (recompile with --target cpu here, or a lower --target such as x86-64-v3)",
                    code.cpu,
                    plan.target,
                    missing.join(", "),
                    if missing.len() == 1 { "it" } else { "them" }
                ),
            ));
        }
        let lib_path = dir.join(&code.library);
        // SAFETY: loading runs no initializers of ours beyond the C runtime's; the object
        // was produced by our code generator for this architecture and feature set.
        let lib = unsafe { libloading::Library::new(&lib_path) }
            .map_err(|e| err(dir, format!("{}: {e}", code.library)))?;
        let mut entries = HashMap::new();
        for k in &plan.kernels {
            for e in &k.entries {
                let sym = format!("{}{}", e.entry, code.entry_suffix);
                // SAFETY: every packed entry has the `EntryFn` signature (NativeCode docs).
                let f: EntryFn = unsafe {
                    *lib.get::<EntryFn>(sym.as_bytes()).map_err(|e| {
                        err(dir, format!("{} has no entry `{sym}`: {e}", code.library))
                    })?
                };
                entries.insert(e.entry.clone(), f);
            }
        }
        Ok(NativeKernels {
            _lib: lib,
            entries,
            code,
        })
    }

    /// Run `entry` over blocks `[0, blocks)` with `buffers` as its parameters; in
    /// parallel unless the kernel's class is `Scatter` or the launch is small (`lanes`,
    /// its blocks times their threads, under [`INLINE_LANES`]: handing it to the pool
    /// would cost more than running it, as for most launches of a decode step).
    ///
    /// # Safety
    /// Every pointer must point at a live buffer of the size the entry's parameter
    /// declares, and outputs must not overlap other parameters except as the plan allows.
    pub unsafe fn launch(
        &self,
        entry: &str,
        class: KernelClass,
        buffers: Vec<*mut u8>,
        blocks: u64,
        lanes: u64,
    ) -> Result<()> {
        let f = *self
            .entries
            .get(entry)
            .ok_or_else(|| RuntimeError::Plan(format!("no native entry `{entry}`")))?;
        let blocks = blocks as i64;
        let threads = rayon::current_num_threads() as i64;
        if class == KernelClass::Scatter || threads <= 1 || blocks <= 1 || lanes < INLINE_LANES {
            // SAFETY: the caller's contract.
            unsafe { f(buffers.as_ptr(), 0, blocks) };
            return Ok(());
        }
        let parts = threads.min(blocks);
        let b = Buffers(buffers);
        (0..parts).into_par_iter().for_each(|i| {
            let lo = blocks * i / parts;
            let hi = blocks * (i + 1) / parts;
            // SAFETY: the caller's contract; block ranges are disjoint.
            unsafe { f(b.as_ptr(), lo, hi) };
        });
        Ok(())
    }
}

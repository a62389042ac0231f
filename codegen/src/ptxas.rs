//! Assembling PTX with NVIDIA's `ptxas` to check generated kernels without a GPU: that
//! the PTX is valid for the target and how many registers and spills each kernel needs.
//!
//! `ptxas` comes from `pip install nvidia-cuda-nvcc==13.0.88` (no CUDA toolkit needed).
//! [`find_ptxas`] looks at `$LLC_PTXAS`, then Python's site-packages
//! (`nvidia/cu13/bin/ptxas`), then `PATH`.

use crate::error::{CodegenError, Result};
use crate::target::Target;
use llc_ir::fsutil::FsError;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How to get ptxas, for error messages.
pub const INSTALL_HINT: &str = "install it with `pip install nvidia-cuda-nvcc==13.0.88` (it lands in site-packages/nvidia/cu13/bin/ptxas) or point LLC_PTXAS at a ptxas binary";

/// Resource use of one kernel as `ptxas -v` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct KernelResources {
    /// The entry's name.
    pub name: String,
    /// Registers per thread.
    pub registers: u32,
    /// Local memory per thread for the call stack.
    pub stack_frame_bytes: u64,
    /// Bytes stored to local memory because registers ran out (should be 0).
    pub spill_store_bytes: u64,
    /// Bytes loaded back from such spills (should be 0).
    pub spill_load_bytes: u64,
    /// Static shared memory per block.
    pub shared_bytes: u64,
}

/// The ptxas binary, if one can be found.
pub fn find_ptxas() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("LLC_PTXAS") {
        return Some(PathBuf::from(p));
    }
    let site = Command::new("python3")
        .args(["-c", "import site;print(site.getsitepackages()[0])"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let Some(site) = site {
        let p = Path::new(&site).join("nvidia/cu13/bin/ptxas");
        if p.is_file() {
            return Some(p);
        }
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("ptxas"))
            .find(|p| p.is_file())
    })
}

/// Assemble `ptx` for `target` with `ptxas -v` and report every entry's resources.
pub fn assemble(ptxas: &Path, ptx: &str, target: Target) -> Result<Vec<KernelResources>> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let stem = format!(
        "llc-ptxas-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let dir = std::env::temp_dir();
    let ptx_path = dir.join(format!("{stem}.ptx"));
    let cubin_path = dir.join(format!("{stem}.cubin"));
    std::fs::write(&ptx_path, ptx)
        .map_err(|e| CodegenError::PtxasIo(FsError::new(&ptx_path, e)))?;
    let out = Command::new(ptxas)
        .arg("-v")
        .arg(format!("-arch={}", target.name()))
        .arg(&ptx_path)
        .arg("-o")
        .arg(&cubin_path)
        .output();
    let _ = std::fs::remove_file(&ptx_path);
    let _ = std::fs::remove_file(&cubin_path);
    let out = out.map_err(|e| {
        CodegenError::Ptxas(format!("running {}: {e}; {INSTALL_HINT}", ptxas.display()))
    })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(CodegenError::Ptxas(format!(
            "{} rejected the PTX for {target}:\n{text}",
            ptxas.display()
        )));
    }
    Ok(parse_report(&text))
}

/// Parse `ptxas -v` output into one record per entry function.
pub fn parse_report(text: &str) -> Vec<KernelResources> {
    let mut out: Vec<KernelResources> = Vec::new();
    let mut current: Option<usize> = None;
    let num = |s: &str, before: &str| -> Option<u64> {
        let i = s.find(before)?;
        s[..i].split_whitespace().last()?.parse().ok()
    };
    for line in text.lines() {
        if let Some(rest) = line.split("Compiling entry function '").nth(1) {
            let name = rest.split('\'').next().unwrap_or_default().to_string();
            out.push(KernelResources {
                name,
                ..Default::default()
            });
            current = Some(out.len() - 1);
        } else if let Some(rest) = line.split("Function properties for ").nth(1) {
            let name = rest.trim();
            current = out.iter().position(|k| k.name == name);
        } else if let Some(i) = current {
            let k = &mut out[i];
            if line.contains("bytes stack frame") {
                k.stack_frame_bytes = num(line, " bytes stack frame").unwrap_or(0);
                k.spill_store_bytes = num(line, " bytes spill stores").unwrap_or(0);
                k.spill_load_bytes = num(line, " bytes spill loads").unwrap_or(0);
            } else if line.contains("Used ") && line.contains(" registers") {
                k.registers = num(line, " registers").unwrap_or(0) as u32;
                k.shared_bytes = num(line, " bytes smem").unwrap_or(0);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_resources_per_entry() {
        let text = "ptxas info    : 0 bytes gmem\n\
ptxas info    : Compiling entry function 'ew' for 'sm_90'\n\
ptxas info    : Function properties for ew\n    \
8 bytes stack frame, 4 bytes spill stores, 12 bytes spill loads\n\
ptxas info    : Used 26 registers, used 1 barriers, 128 bytes smem\n\
ptxas info    : Compiling entry function 'row' for 'sm_90'\n\
ptxas info    : Function properties for row\n    \
0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n\
ptxas info    : Used 40 registers\n";
        let r = parse_report(text);
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[0],
            KernelResources {
                name: "ew".into(),
                registers: 26,
                stack_frame_bytes: 8,
                spill_store_bytes: 4,
                spill_load_bytes: 12,
                shared_bytes: 128,
            }
        );
        assert_eq!(r[1].registers, 40);
        assert_eq!(r[1].spill_load_bytes, 0);
    }
}

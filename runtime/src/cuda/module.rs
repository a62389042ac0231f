//! Loading the kernels into the driver (`kernels.ptx`, JIT-compiled for the device, or a
//! `kernels.cubin` assembled ahead of time) and looking up each kernel the plan launches.
//! The JIT's error log is captured, so a PTX the driver rejects is reported with the
//! line the driver complains about.

use super::device::driver_text;
use super::error::CudaError;
use cudarc::driver::sys;
use std::ffi::{CString, c_void};

/// A loaded PTX module and the functions looked up in it (unloaded on drop).
pub(crate) struct PtxModule {
    module: sys::CUmodule,
    /// One function per requested name, in request order.
    pub functions: Vec<sys::CUfunction>,
    /// Seconds the driver took to JIT-compile and load the module.
    pub load_seconds: f64,
}

const LOG_BYTES: usize = 16 * 1024;

impl PtxModule {
    /// Load `image` (PTX text or a cubin; `target` is for messages) and look up `names`.
    pub fn load(image: &[u8], target: &str, names: &[String]) -> Result<PtxModule, CudaError> {
        let is_elf = image.starts_with(b"\x7fELF");
        let image: Vec<u8> = if is_elf {
            image.to_vec()
        } else {
            CString::new(image)
                .map_err(|_| {
                    CudaError::Plan("kernels.ptx contains a NUL byte; it is not PTX text".into())
                })?
                .into_bytes_with_nul()
        };
        let what = if is_elf {
            "kernels.cubin"
        } else {
            "kernels.ptx"
        };
        let mut error_log = vec![0u8; LOG_BYTES];
        let mut options = [
            sys::CUjit_option::CU_JIT_ERROR_LOG_BUFFER,
            sys::CUjit_option::CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
        ];
        // The driver reads option values as pointer-sized words: a buffer pointer, then
        // its size stored in the word itself.
        let mut values = [
            error_log.as_mut_ptr() as *mut c_void,
            LOG_BYTES as *mut c_void,
        ];
        let mut module: sys::CUmodule = std::ptr::null_mut();
        let t = std::time::Instant::now();
        // SAFETY: NUL-terminated image; option arrays of equal length that outlive the call.
        let r = unsafe {
            sys::cuModuleLoadDataEx(
                &mut module,
                image.as_ptr() as *const c_void,
                options.len() as u32,
                options.as_mut_ptr(),
                values.as_mut_ptr(),
            )
        };
        let load_seconds = t.elapsed().as_secs_f64();
        if let Err(e) = r.result() {
            let log = String::from_utf8_lossy(&error_log)
                .trim_end_matches('\0')
                .trim()
                .to_string();
            let hint = match e.0 {
                sys::CUresult::CUDA_ERROR_UNSUPPORTED_PTX_VERSION => {
                    "; the driver is older than the PTX ISA version codegen emitted".to_string()
                }
                sys::CUresult::CUDA_ERROR_NO_BINARY_FOR_GPU
                | sys::CUresult::CUDA_ERROR_INVALID_PTX => {
                    format!("; the module was built for {target}")
                }
                _ => String::new(),
            };
            return Err(CudaError::Call {
                call: format!("cuModuleLoadDataEx({what})"),
                detail: if log.is_empty() {
                    format!("{}{hint}", driver_text(&e))
                } else {
                    format!("{}{hint}; JIT log: {log}", driver_text(&e))
                },
            });
        }
        let mut m = PtxModule {
            module,
            functions: Vec::with_capacity(names.len()),
            load_seconds,
        };
        for name in names {
            let c = CString::new(name.as_str())
                .map_err(|_| CudaError::Plan(format!("kernel name {name:?} contains a NUL")))?;
            let mut f: sys::CUfunction = std::ptr::null_mut();
            // SAFETY: loaded module, NUL-terminated name.
            unsafe { sys::cuModuleGetFunction(&mut f, m.module, c.as_ptr()) }
                .result()
                .map_err(|e| CudaError::Call {
                    call: format!("cuModuleGetFunction({name})"),
                    detail: driver_text(&e),
                })?;
            m.functions.push(f);
        }
        Ok(m)
    }

    /// Allow function `index` to use `bytes` of dynamic shared memory (needed above 48 KiB).
    pub fn allow_shared_memory(
        &self,
        index: usize,
        bytes: u32,
        name: &str,
    ) -> Result<(), CudaError> {
        // SAFETY: a function of this module.
        unsafe {
            sys::cuFuncSetAttribute(
                self.functions[index],
                sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                bytes as i32,
            )
        }
        .result()
        .map_err(|e| CudaError::Call {
            call: format!("cuFuncSetAttribute({name}, MAX_DYNAMIC_SHARED_SIZE_BYTES = {bytes})"),
            detail: driver_text(&e),
        })
    }
}

impl Drop for PtxModule {
    fn drop(&mut self) {
        // SAFETY: loaded by cuModuleLoadDataEx, unloaded once; its context outlives it.
        let _ = unsafe { sys::cuModuleUnload(self.module) };
    }
}

//! Finding a GPU: whether the driver loads, which devices there are, and what they can
//! do. [`cuda_available`] is what `--backend auto` asks; it never panics, and on a machine
//! without a driver it says so (`libcuda` is loaded at run time, so the same binary runs
//! everywhere).

use super::error::CudaError;
use super::program::DeviceLimits;

/// What the backend knows about a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    pub ordinal: usize,
    pub name: String,
    /// Compute capability `(major, minor)`, e.g. `(9, 0)` for an H100.
    pub compute_capability: (i32, i32),
    pub total_memory: u64,
    pub free_memory: u64,
    /// `cuDriverGetVersion`, e.g. 13000 for CUDA 13.0.
    pub driver_version: i32,
    pub multiprocessors: i32,
    pub limits: DeviceLimits,
}

impl DeviceInfo {
    /// The compile target of this device (`sm_90`).
    pub fn target(&self) -> String {
        format!(
            "sm_{}{}",
            self.compute_capability.0, self.compute_capability.1
        )
    }

    /// `cuda:0 (NVIDIA H100 80GB HBM3, sm_90)`: the backend name in logs.
    pub fn label(&self) -> String {
        format!("cuda:{} ({}, {})", self.ordinal, self.name, self.target())
    }
}

/// The first GPU, or why there is none: `NotBuilt` in a build without the `cuda`
/// feature, `NoDriver` when `libcuda` does not load, `NoDevice` when the driver sees no
/// GPU. See [`CudaError::is_unavailable`].
pub fn cuda_available() -> Result<DeviceInfo, CudaError> {
    device_info(0)
}

/// Information about device `ordinal` (see [`cuda_available`]).
pub fn device_info(ordinal: usize) -> Result<DeviceInfo, CudaError> {
    #[cfg(feature = "cuda")]
    {
        imp::catch("probing the GPU", || {
            let dev = imp::Device::open(ordinal)?;
            Ok(dev.info.clone())
        })
    }
    #[cfg(not(feature = "cuda"))]
    {
        let _ = ordinal;
        Err(CudaError::NotBuilt)
    }
}

#[cfg(feature = "cuda")]
pub(crate) use imp::{Device, catch, driver_text, drv};

#[cfg(feature = "cuda")]
mod imp {
    use super::{CudaError, DeviceInfo, DeviceLimits};
    use cudarc::driver::sys::CUdevice_attribute as Attr;
    use cudarc::driver::{CudaContext, CudaStream, DriverError, result, sys};
    use std::sync::Arc;

    /// A driver error as text: `CUDA_ERROR_OUT_OF_MEMORY (out of memory)`.
    pub(crate) fn driver_text(e: &DriverError) -> String {
        let name = e
            .error_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|_| format!("{:?}", e.0));
        match e.error_string() {
            Ok(s) => format!("{name} ({})", s.to_string_lossy()),
            Err(_) => name,
        }
    }

    /// Wrap a driver error with the call that failed.
    pub(crate) fn drv(call: &str) -> impl FnOnce(DriverError) -> CudaError + '_ {
        move |e| CudaError::Call {
            call: call.to_string(),
            detail: driver_text(&e),
        }
    }

    /// Run `f`, turning a panic inside the CUDA bindings (a missing symbol in an old
    /// driver, say) into an error.
    pub(crate) fn catch<T>(
        during: &str,
        f: impl FnOnce() -> Result<T, CudaError>,
    ) -> Result<T, CudaError> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            Ok(r) => r,
            Err(p) => {
                let message = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "(no message)".into());
                Err(CudaError::Panic {
                    during: during.to_string(),
                    message,
                })
            }
        }
    }

    /// An open device: its context, the one stream everything runs on, and its facts.
    pub(crate) struct Device {
        pub stream: Arc<CudaStream>,
        pub ctx: Arc<CudaContext>,
        pub info: DeviceInfo,
    }

    fn attr(ctx: &CudaContext, a: Attr) -> Result<i32, CudaError> {
        ctx.attribute(a).map_err(drv("cuDeviceGetAttribute"))
    }

    impl Device {
        /// Load the driver, open device `ordinal`'s primary context and a stream of our own
        /// (graph capture needs a stream other than the legacy default one).
        pub fn open(ordinal: usize) -> Result<Device, CudaError> {
            // SAFETY: only tries to dlopen libcuda; no function of it is called.
            if !unsafe { sys::is_culib_present() } {
                return Err(CudaError::NoDriver {
                    detail: "libcuda.so.1 (or libcuda.so) is not found by the dynamic loader"
                        .into(),
                });
            }
            if let Err(e) = result::init() {
                let detail = format!("cuInit: {}", driver_text(&e));
                return Err(match e.0 {
                    sys::CUresult::CUDA_ERROR_NO_DEVICE => CudaError::NoDevice { ordinal, detail },
                    _ => CudaError::NoDriver { detail },
                });
            }
            let count = result::device::get_count().map_err(drv("cuDeviceGetCount"))?;
            if ordinal >= count.max(0) as usize {
                return Err(CudaError::NoDevice {
                    ordinal,
                    detail: format!("the driver sees {count} device(s)"),
                });
            }
            let ctx = CudaContext::new(ordinal).map_err(|e| CudaError::NoDevice {
                ordinal,
                detail: format!("creating its context: {}", driver_text(&e)),
            })?;
            // One stream does everything and every buffer is raw arena memory, so cudarc's
            // per-slice events are not needed; they would also break graph capture.
            // SAFETY: no CudaSlice exists yet; all work is ordered on one stream.
            unsafe { ctx.disable_event_tracking() };
            let stream = ctx.new_stream().map_err(drv("cuStreamCreate"))?;
            let (free, total) = ctx.mem_get_info().map_err(drv("cuMemGetInfo"))?;
            let mut driver_version = 0;
            // SAFETY: writes one int.
            unsafe { sys::cuDriverGetVersion(&mut driver_version) }
                .result()
                .map_err(drv("cuDriverGetVersion"))?;
            let limits = DeviceLimits {
                max_threads_per_block: attr(&ctx, Attr::CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK)?
                    as u32,
                max_block: [
                    attr(&ctx, Attr::CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X)? as u32,
                    attr(&ctx, Attr::CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y)? as u32,
                    attr(&ctx, Attr::CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z)? as u32,
                ],
                max_grid: [
                    attr(&ctx, Attr::CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X)? as u32,
                    attr(&ctx, Attr::CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y)? as u32,
                    attr(&ctx, Attr::CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z)? as u32,
                ],
                max_shared_per_block_optin: attr(
                    &ctx,
                    Attr::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
                )? as u32,
            };
            let info = DeviceInfo {
                ordinal,
                name: ctx.name().map_err(drv("cuDeviceGetName"))?,
                compute_capability: ctx
                    .compute_capability()
                    .map_err(drv("cuDeviceGetAttribute"))?,
                total_memory: total as u64,
                free_memory: free as u64,
                driver_version,
                multiprocessors: attr(&ctx, Attr::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?,
                limits,
            };
            Ok(Device { stream, ctx, info })
        }

        /// Make the context current on the calling thread (every entry point does this).
        pub fn bind(&self) -> Result<(), CudaError> {
            self.ctx.bind_to_thread().map_err(drv("cuCtxSetCurrent"))
        }

        /// Free and total device memory now.
        pub fn memory(&self) -> Result<(u64, u64), CudaError> {
            let (f, t) = self.ctx.mem_get_info().map_err(drv("cuMemGetInfo"))?;
            Ok((f as u64, t as u64))
        }

        /// Wait for everything queued on the stream; `what` names the wait in errors.
        pub fn sync(&self, what: &str) -> Result<(), CudaError> {
            self.stream.synchronize().map_err(|e| CudaError::Call {
                call: what.to_string(),
                detail: driver_text(&e),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_answers_without_panicking() {
        match cuda_available() {
            Ok(info) => {
                assert!(!info.name.is_empty());
                assert!(info.compute_capability.0 >= 3, "{info:?}");
                assert!(info.total_memory >= info.free_memory);
                assert!(info.label().starts_with("cuda:0 ("));
            }
            Err(e) => {
                assert!(e.is_unavailable(), "an unusable GPU is not 'no GPU': {e}");
                eprintln!("no GPU here: {e}");
            }
        }
    }
}

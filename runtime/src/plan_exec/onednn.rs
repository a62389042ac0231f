//! oneDNN's GEMMs, loaded at run time (`libdnnl.so.2`, Debian's `libdnnl2`): on the CPUs
//! this project runs on they are ~1.5x faster in f32 than the portable fallback
//! (matrixmultiply) at the models' shapes, and they have the bf16 GEMMs with f32
//! accumulation that mixed precision needs. Loading at run time keeps the library
//! optional: without it (or with `LLC_GEMM=matrixmultiply`) GEMMs run on the fallback.

use std::ffi::c_char;
use std::sync::OnceLock;

/// `dnnl_sgemm`: row-major `C = alpha·op(A)·op(B) + beta·C`.
type SgemmFn = unsafe extern "C" fn(
    c_char,
    c_char,
    i64,
    i64,
    i64,
    f32,
    *const f32,
    i64,
    *const f32,
    i64,
    f32,
    *mut f32,
    i64,
) -> i32;

/// `dnnl_gemm_bf16bf16f32`: as `dnnl_sgemm` with bf16 `A` and `B` (bit patterns) and
/// an f32 `C`, accumulating in f32 (exported by oneDNN's library, not in its header).
type GemmBf16Fn = unsafe extern "C" fn(
    c_char,
    c_char,
    i64,
    i64,
    i64,
    f32,
    *const u16,
    i64,
    *const u16,
    i64,
    f32,
    *mut f32,
    i64,
) -> i32;

/// The loaded library.
pub(crate) struct OneDnn {
    _lib: libloading::Library,
    sgemm: SgemmFn,
    gemm_bf16: Option<GemmBf16Fn>,
}

/// Which library runs GEMMs in this process.
pub fn gemm_library() -> &'static str {
    if onednn().is_some() {
        "oneDNN"
    } else {
        "matrixmultiply"
    }
}

/// oneDNN, if it can be loaded and is not switched off.
pub(crate) fn onednn() -> Option<&'static OneDnn> {
    static LIB: OnceLock<Option<OneDnn>> = OnceLock::new();
    LIB.get_or_init(|| {
        if std::env::var("LLC_GEMM").is_ok_and(|v| v == "matrixmultiply") {
            return None;
        }
        // SAFETY: loading a system library whose initializers are its own; the symbol
        // has the C signature declared by oneDNN's dnnl.h.
        unsafe {
            let lib = ["libdnnl.so.2", "libdnnl.so"]
                .iter()
                .find_map(|n| libloading::Library::new(n).ok())?;
            let sgemm = *lib.get::<SgemmFn>(b"dnnl_sgemm").ok()?;
            let gemm_bf16 = lib
                .get::<GemmBf16Fn>(b"dnnl_gemm_bf16bf16f32")
                .ok()
                .map(|f| *f);
            Some(OneDnn {
                _lib: lib,
                sgemm,
                gemm_bf16,
            })
        }
    })
    .as_ref()
}

impl OneDnn {
    /// One row-major f32 product; `false` when oneDNN reports an error.
    ///
    /// # Safety
    /// The pointers must address matrices of the sizes the dimensions and leading
    /// dimensions describe, and C must not overlap A or B.
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn sgemm(
        &self,
        trans_a: bool,
        trans_b: bool,
        m: usize,
        n: usize,
        k: usize,
        alpha: f32,
        a: *const f32,
        lda: usize,
        b: *const f32,
        ldb: usize,
        beta: f32,
        c: *mut f32,
        ldc: usize,
    ) -> bool {
        let t = |x: bool| if x { b'T' } else { b'N' } as c_char;
        // SAFETY: the caller's contract.
        let status = unsafe {
            (self.sgemm)(
                t(trans_a),
                t(trans_b),
                m as i64,
                n as i64,
                k as i64,
                alpha,
                a,
                lda as i64,
                b,
                ldb as i64,
                beta,
                c,
                ldc as i64,
            )
        };
        status == 0
    }

    /// Does this library have the bf16 GEMM?
    pub(crate) fn has_bf16(&self) -> bool {
        self.gemm_bf16.is_some()
    }

    /// One row-major product of bf16 matrices into an f32 `C`, accumulated in f32;
    /// `false` when oneDNN reports an error or has no bf16 GEMM.
    ///
    /// # Safety
    /// As [`OneDnn::sgemm`].
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn gemm_bf16(
        &self,
        trans_a: bool,
        trans_b: bool,
        m: usize,
        n: usize,
        k: usize,
        alpha: f32,
        a: *const u16,
        lda: usize,
        b: *const u16,
        ldb: usize,
        beta: f32,
        c: *mut f32,
        ldc: usize,
    ) -> bool {
        let Some(f) = self.gemm_bf16 else {
            return false;
        };
        let t = |x: bool| if x { b'T' } else { b'N' } as c_char;
        // SAFETY: the caller's contract.
        let status = unsafe {
            f(
                t(trans_a),
                t(trans_b),
                m as i64,
                n as i64,
                k as i64,
                alpha,
                a,
                lda as i64,
                b,
                ldb as i64,
                beta,
                c,
                ldc as i64,
            )
        };
        status == 0
    }
}

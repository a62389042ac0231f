//! oneDNN's GEMMs, loaded at run time (`libdnnl.so.2`, Debian's `libdnnl2`): on the CPUs
//! this project runs on they are ~1.5x faster in f32 than the portable fallback
//! (matrixmultiply) at the models' shapes, and they have the bf16 GEMMs with f32
//! accumulation that mixed precision needs. Loading at run time keeps the library
//! optional: without it (or with `LLC_GEMM=matrixmultiply`) GEMMs run on the fallback.

use std::ffi::c_char;
use std::sync::OnceLock;

/// A row-major oneDNN GEMM, `C = alpha·op(A)·op(B) + beta·C` with an f32 `C` and f32
/// accumulation, over `A` and `B` of element type `T`: `dnnl_sgemm` (f32) and
/// `dnnl_gemm_bf16bf16f32` (bf16 bit patterns; exported by the library, not in its header).
type GemmFn<T> = unsafe extern "C" fn(
    c_char,
    c_char,
    i64,
    i64,
    i64,
    f32,
    *const T,
    i64,
    *const T,
    i64,
    f32,
    *mut f32,
    i64,
) -> i32;

/// An operand type oneDNN has a GEMM for: f32, and bf16 as its `u16` bit patterns.
pub(crate) trait Operand: Sized {
    /// The library's GEMM for this type, if it has one.
    fn entry(lib: &OneDnn) -> Option<GemmFn<Self>>;
}

impl Operand for f32 {
    fn entry(lib: &OneDnn) -> Option<GemmFn<f32>> {
        Some(lib.sgemm)
    }
}

impl Operand for u16 {
    fn entry(lib: &OneDnn) -> Option<GemmFn<u16>> {
        lib.gemm_bf16
    }
}

/// The loaded library.
pub(crate) struct OneDnn {
    _lib: libloading::Library,
    sgemm: GemmFn<f32>,
    gemm_bf16: Option<GemmFn<u16>>,
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
            let sgemm = *lib.get::<GemmFn<f32>>(b"dnnl_sgemm").ok()?;
            let gemm_bf16 = lib
                .get::<GemmFn<u16>>(b"dnnl_gemm_bf16bf16f32")
                .ok()
                .map(|f| *f)
                .filter(|&f| bf16_gemm_runs(f));
            Some(OneDnn {
                _lib: lib,
                sgemm,
                gemm_bf16,
            })
        }
    })
    .as_ref()
}

/// Whether oneDNN's bf16 GEMM runs on this CPU: it is exported everywhere but has no
/// implementation without AVX-512 (it returns an error status), so a 1×1×1 product tells.
fn bf16_gemm_runs(f: GemmFn<u16>) -> bool {
    let one = half::bf16::ONE.to_bits();
    let (a, b, mut c) = ([one], [one], [0f32]);
    // SAFETY: 1×1 matrices with leading dimension 1, C apart from A and B.
    let status = unsafe {
        f(
            b'N' as c_char,
            b'N' as c_char,
            1,
            1,
            1,
            1.0,
            a.as_ptr(),
            1,
            b.as_ptr(),
            1,
            0.0,
            c.as_mut_ptr(),
            1,
        )
    };
    status == 0 && c[0] == 1.0
}

impl OneDnn {
    /// Does this library have a bf16 GEMM that runs on this CPU?
    pub(crate) fn has_bf16(&self) -> bool {
        self.gemm_bf16.is_some()
    }

    /// One row-major product of `T` matrices into an f32 `C`, accumulated in f32;
    /// `false` when oneDNN reports an error or has no GEMM for `T`.
    ///
    /// # Safety
    /// The pointers must address matrices of the sizes the dimensions and leading
    /// dimensions describe, and C must not overlap A or B.
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn gemm<T: Operand>(
        &self,
        trans_a: bool,
        trans_b: bool,
        m: usize,
        n: usize,
        k: usize,
        alpha: f32,
        a: *const T,
        lda: usize,
        b: *const T,
        ldb: usize,
        beta: f32,
        c: *mut f32,
        ldc: usize,
    ) -> bool {
        let Some(f) = T::entry(self) else {
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

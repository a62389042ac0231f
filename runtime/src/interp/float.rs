//! The working float type of a run (f32 or f64): every float kernel is generic over it,
//! so one implementation serves ordinary runs and f64 gradient checks.

use crate::tensor::TensorData;
use std::fmt::Debug;
use std::ops::{Add, Div, Mul, Neg, Sub};

/// The arithmetic and library hooks the kernels need from a float type.
pub(crate) trait Float:
    Copy
    + Default
    + Send
    + Sync
    + PartialOrd
    + Debug
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    const ZERO: Self;
    const ONE: Self;
    const NEG_INFINITY: Self;

    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sqrt(self) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn tanh(self) -> Self;
    fn abs(self) -> Self;
    fn powf(self, e: Self) -> Self;
    fn is_nan(self) -> bool;
    /// Round to bfloat16 and back.
    fn round_bf16(self) -> Self;
    /// Round to IEEE half and back.
    fn round_f16(self) -> Self;

    /// Wrap a buffer of this type as tensor data.
    fn wrap(v: Vec<Self>) -> TensorData;
    /// View tensor data as this type, if it is stored so.
    fn view(d: &TensorData) -> Option<&[Self]>;

    /// `C = alpha * op(A) op(B) + beta * C` on raw strided matrices (matrixmultiply).
    ///
    /// # Safety
    /// Every element addressed by the dims and strides must lie inside the buffers; the
    /// safe wrapper [`crate::interp::matmul::gemm`] checks this.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}

macro_rules! impl_float {
    ($t:ty, $variant:ident, $gemm:path, $bf16:expr, $f16:expr) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;

            #[inline]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline]
            fn sin(self) -> Self {
                <$t>::sin(self)
            }
            #[inline]
            fn cos(self) -> Self {
                <$t>::cos(self)
            }
            #[inline]
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            #[inline]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline]
            fn powf(self, e: Self) -> Self {
                <$t>::powf(self, e)
            }
            #[inline]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            #[inline]
            fn round_bf16(self) -> Self {
                let f: fn($t) -> $t = $bf16;
                f(self)
            }
            #[inline]
            fn round_f16(self) -> Self {
                let f: fn($t) -> $t = $f16;
                f(self)
            }
            fn wrap(v: Vec<Self>) -> TensorData {
                TensorData::$variant(v)
            }
            fn view(d: &TensorData) -> Option<&[Self]> {
                match d {
                    TensorData::$variant(v) => Some(v),
                    _ => None,
                }
            }
            unsafe fn gemm_raw(
                m: usize,
                k: usize,
                n: usize,
                alpha: Self,
                a: *const Self,
                rsa: isize,
                csa: isize,
                b: *const Self,
                rsb: isize,
                csb: isize,
                beta: Self,
                c: *mut Self,
                rsc: isize,
                csc: isize,
            ) {
                // SAFETY: the caller guarantees every addressed element is in bounds.
                unsafe { $gemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
            }
        }
    };
}

impl_float!(
    f32,
    F32,
    matrixmultiply::sgemm,
    |x| half::bf16::from_f32(x).to_f32(),
    |x| half::f16::from_f32(x).to_f32()
);
impl_float!(
    f64,
    F64,
    matrixmultiply::dgemm,
    |x| half::bf16::from_f64(x).to_f64(),
    |x| half::f16::from_f64(x).to_f64()
);

/// Maximum that propagates NaN (a NaN on either side gives NaN), so a diverging value
/// is never hidden by a `max` or `reduce_max`.
#[inline]
pub(crate) fn nan_max<T: Float>(a: T, b: T) -> T {
    if a.is_nan() || b.is_nan() {
        return if a.is_nan() { a } else { b };
    }
    if a >= b { a } else { b }
}

/// Minimum that propagates NaN.
#[inline]
pub(crate) fn nan_min<T: Float>(a: T, b: T) -> T {
    if a.is_nan() || b.is_nan() {
        return if a.is_nan() { a } else { b };
    }
    if a <= b { a } else { b }
}

/// `1 / (1 + exp(-x))` (saturates to 0 or 1 without producing NaN).
#[inline]
pub(crate) fn sigmoid<T: Float>(x: T) -> T {
    T::ONE / (T::ONE + (-x).exp())
}

//! Dense host tensors: the values the CPU interpreter reads and writes, and what tests
//! build inputs from and compare outputs with.
//!
//! A [`Tensor`] is a shape plus a row-major buffer. Float values live in one of two
//! storage precisions ([`Precision`]); every float dtype of the IR (f64, f32, bf16, f16) is
//! held in the precision the interpreter runs in. Integers are `i32`, predicates `bool`.

mod compare;
mod random;

pub use compare::{check_close, max_abs_diff, max_rel_diff, rel_l2_diff};

use crate::error::{Result, RuntimeError};
use llc_ir::{DType, TensorType};

/// The precision every float value is computed and stored in: f32 for ordinary runs, f64
/// for gradient checks against finite differences.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Precision {
    /// Ordinary runs: the precision training uses.
    F32,
    /// Gradient checks and reference values.
    F64,
}

impl Precision {
    /// The IR dtype float values are stored as in this precision.
    pub fn dtype(self) -> DType {
        match self {
            Precision::F32 => DType::F32,
            Precision::F64 => DType::F64,
        }
    }
}

/// A tensor's row-major element buffer.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    /// Floats of an f32 run.
    F32(Vec<f32>),
    /// Floats of an f64 run.
    F64(Vec<f64>),
    /// Token ids and indices.
    I32(Vec<i32>),
    /// Masks and comparison results.
    Bool(Vec<bool>),
}

impl TensorData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::F64(v) => v.len(),
            TensorData::I32(v) => v.len(),
            TensorData::Bool(v) => v.len(),
        }
    }

    /// Whether the buffer holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The storage element type as an IR dtype.
    pub fn dtype(&self) -> DType {
        match self {
            TensorData::F32(_) => DType::F32,
            TensorData::F64(_) => DType::F64,
            TensorData::I32(_) => DType::I32,
            TensorData::Bool(_) => DType::Bool,
        }
    }
}

/// A dense row-major tensor. The shape always matches the buffer length.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: TensorData,
}

impl Tensor {
    /// A tensor from a shape and a buffer; fails when the lengths disagree.
    pub fn new(shape: impl Into<Vec<usize>>, data: TensorData) -> Result<Tensor> {
        let shape = shape.into();
        let expected: usize = shape.iter().product();
        if expected != data.len() {
            return Err(RuntimeError::DataLength {
                shape,
                expected,
                got: data.len(),
            });
        }
        Ok(Tensor { shape, data })
    }

    /// Build from parts the interpreter computed; the lengths agree by construction.
    pub(crate) fn from_parts(shape: Vec<usize>, data: TensorData) -> Tensor {
        debug_assert_eq!(
            shape.iter().product::<usize>(),
            data.len(),
            "tensor shape {shape:?} does not match its buffer"
        );
        Tensor { shape, data }
    }

    /// An f32 tensor.
    pub fn from_f32(shape: impl Into<Vec<usize>>, data: Vec<f32>) -> Result<Tensor> {
        Tensor::new(shape, TensorData::F32(data))
    }

    /// An f64 tensor.
    pub fn from_f64(shape: impl Into<Vec<usize>>, data: Vec<f64>) -> Result<Tensor> {
        Tensor::new(shape, TensorData::F64(data))
    }

    /// An i32 tensor (token ids, indices).
    pub fn from_i32(shape: impl Into<Vec<usize>>, data: Vec<i32>) -> Result<Tensor> {
        Tensor::new(shape, TensorData::I32(data))
    }

    /// A bool tensor (masks).
    pub fn from_bool(shape: impl Into<Vec<usize>>, data: Vec<bool>) -> Result<Tensor> {
        Tensor::new(shape, TensorData::Bool(data))
    }

    /// A float tensor in the given precision from f64 values (rounded for f32).
    pub fn from_f64_in(
        shape: impl Into<Vec<usize>>,
        data: Vec<f64>,
        precision: Precision,
    ) -> Result<Tensor> {
        match precision {
            Precision::F64 => Tensor::from_f64(shape, data),
            Precision::F32 => Tensor::from_f32(shape, data.into_iter().map(|v| v as f32).collect()),
        }
    }

    /// A rank-0 f32 tensor.
    pub fn scalar_f32(v: f32) -> Tensor {
        Tensor::from_parts(Vec::new(), TensorData::F32(vec![v]))
    }

    /// A rank-0 f64 tensor.
    pub fn scalar_f64(v: f64) -> Tensor {
        Tensor::from_parts(Vec::new(), TensorData::F64(vec![v]))
    }

    /// A rank-0 i32 tensor.
    pub fn scalar_i32(v: i32) -> Tensor {
        Tensor::from_parts(Vec::new(), TensorData::I32(vec![v]))
    }

    /// Every element equal to `value`, with storage chosen for `ty` in `precision`
    /// (floats in the working precision, i32 truncated toward zero, bool `value != 0`).
    pub fn full(ty: &TensorType, value: f64, precision: Precision) -> Tensor {
        let n = ty.numel();
        let data = match ty.dtype {
            DType::I32 => TensorData::I32(vec![value as i32; n]),
            DType::Bool => TensorData::Bool(vec![value != 0.0; n]),
            _ => match precision {
                Precision::F32 => TensorData::F32(vec![value as f32; n]),
                Precision::F64 => TensorData::F64(vec![value; n]),
            },
        };
        Tensor::from_parts(ty.shape.clone(), data)
    }

    /// Zeros of type `ty` (floats stored in `precision`).
    pub fn zeros(ty: &TensorType, precision: Precision) -> Tensor {
        Tensor::full(ty, 0.0, precision)
    }

    /// The dims, outermost first (empty for a scalar).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of dims.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements (1 for a scalar).
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The element buffer.
    pub fn data(&self) -> &TensorData {
        &self.data
    }

    /// Give up the buffer.
    pub fn into_data(self) -> TensorData {
        self.data
    }

    /// The storage element type as an IR dtype (f32 or f64 for every float).
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// Whether the elements are floats (in either precision).
    pub fn is_float(&self) -> bool {
        matches!(self.data, TensorData::F32(_) | TensorData::F64(_))
    }

    /// `dtype[d0,d1,...]`, the IR's spelling, for messages.
    pub fn type_string(&self) -> String {
        TensorType::new(self.dtype(), self.shape.clone()).to_string()
    }

    /// The elements, if stored as f32.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            TensorData::F32(v) => Some(v),
            _ => None,
        }
    }

    /// The elements, if stored as f64.
    pub fn as_f64(&self) -> Option<&[f64]> {
        match &self.data {
            TensorData::F64(v) => Some(v),
            _ => None,
        }
    }

    /// The elements, if stored as i32.
    pub fn as_i32(&self) -> Option<&[i32]> {
        match &self.data {
            TensorData::I32(v) => Some(v),
            _ => None,
        }
    }

    /// The elements, if stored as bool.
    pub fn as_bool(&self) -> Option<&[bool]> {
        match &self.data {
            TensorData::Bool(v) => Some(v),
            _ => None,
        }
    }

    /// Every element as f64 (bool as 0/1), for comparisons and printing.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match &self.data {
            TensorData::F32(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::F64(v) => v.clone(),
            TensorData::I32(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::Bool(v) => v.iter().map(|&x| x as u8 as f64).collect(),
        }
    }

    /// Every element as f32 (f64 rounded, bool as 0/1).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        match &self.data {
            TensorData::F32(v) => v.clone(),
            TensorData::F64(v) => v.iter().map(|&x| x as f32).collect(),
            TensorData::I32(v) => v.iter().map(|&x| x as f32).collect(),
            TensorData::Bool(v) => v.iter().map(|&x| x as u8 as f32).collect(),
        }
    }

    /// The same tensor with floats stored in `precision` (f64 to f32 rounds); integer and
    /// bool tensors are returned unchanged.
    pub fn to_precision(&self, precision: Precision) -> Tensor {
        let data = match (&self.data, precision) {
            (TensorData::F64(v), Precision::F32) => {
                TensorData::F32(v.iter().map(|&x| x as f32).collect())
            }
            (TensorData::F32(v), Precision::F64) => {
                TensorData::F64(v.iter().map(|&x| x as f64).collect())
            }
            (d, _) => d.clone(),
        };
        Tensor::from_parts(self.shape.clone(), data)
    }

    /// The same elements under another shape with the same element count.
    pub fn reshaped(self, shape: impl Into<Vec<usize>>) -> Result<Tensor> {
        Tensor::new(shape, self.data)
    }
}

//! Element types and static tensor types.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Element type of a tensor. Floats carry the training math; `I32` holds token ids and
/// indices; `Bool` is what comparisons produce and `select` consumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    F64,
    F32,
    BF16,
    F16,
    I32,
    Bool,
}

impl DType {
    /// All dtypes, in the order the text format lists them in errors.
    pub const ALL: [DType; 6] = [
        DType::F64,
        DType::F32,
        DType::BF16,
        DType::F16,
        DType::I32,
        DType::Bool,
    ];

    /// The spelling used by the text format.
    pub fn name(self) -> &'static str {
        match self {
            DType::F64 => "f64",
            DType::F32 => "f32",
            DType::BF16 => "bf16",
            DType::F16 => "f16",
            DType::I32 => "i32",
            DType::Bool => "bool",
        }
    }

    /// Inverse of [`DType::name`].
    pub fn from_name(s: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == s)
    }

    /// Float dtypes take part in differentiation and float math.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F64 | DType::F32 | DType::BF16 | DType::F16)
    }

    /// Bytes per element in device memory (bool is stored as one byte).
    pub fn size_bytes(self) -> usize {
        match self {
            DType::F64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::BF16 | DType::F16 => 2,
            DType::Bool => 1,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Largest element count a single tensor may have (2^48): far above any real model and
/// far below where index arithmetic overflows.
pub const MAX_ELEMENTS: u64 = 1 << 48;

/// Static type of every value: dtype and shape. A scalar has an empty shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TensorType {
    pub dtype: DType,
    pub shape: Vec<usize>,
}

impl TensorType {
    pub fn new(dtype: DType, shape: impl Into<Vec<usize>>) -> Self {
        TensorType {
            dtype,
            shape: shape.into(),
        }
    }

    /// A rank-0 tensor of `dtype`.
    pub fn scalar(dtype: DType) -> Self {
        TensorType {
            dtype,
            shape: Vec::new(),
        }
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements (1 for a scalar).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Bytes this tensor occupies when stored densely.
    pub fn size_bytes(&self) -> usize {
        self.numel() * self.dtype.size_bytes()
    }

    /// Same shape, other dtype.
    pub fn with_dtype(&self, dtype: DType) -> Self {
        TensorType {
            dtype,
            shape: self.shape.clone(),
        }
    }

    /// Bytes this tensor occupies when stored densely, or `None` when its element count
    /// is above [`MAX_ELEMENTS`] (for types read from untrusted files).
    pub fn checked_size_bytes(&self) -> Option<u64> {
        checked_numel(&self.shape)?.checked_mul(self.dtype.size_bytes() as u64)
    }

    /// Same dtype, other shape.
    pub fn with_shape(&self, shape: impl Into<Vec<usize>>) -> Self {
        TensorType {
            dtype: self.dtype,
            shape: shape.into(),
        }
    }
}

/// Checked element count: `None` when the product overflows [`MAX_ELEMENTS`].
pub fn checked_numel(shape: &[usize]) -> Option<u64> {
    let mut n: u64 = 1;
    for &d in shape {
        n = n.checked_mul(d as u64)?;
        if n > MAX_ELEMENTS {
            return None;
        }
    }
    Some(n)
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[", self.dtype)?;
        for (i, d) in self.shape.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

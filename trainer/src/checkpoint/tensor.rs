//! Plain named f32 tensors, the currency of checkpoint I/O (the runtime converts to and
//! from its own tensor type), and validation of a tensor set against a model's parameter
//! list.

use std::collections::HashMap;
use std::path::Path;

use super::error::{CheckpointError, CheckpointResult};

/// A named, row-major f32 tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// Parameter name (ours, Meta's naming, unless stated otherwise).
    pub name: String,
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values.
    pub data: Vec<f32>,
}

impl NamedTensor {
    /// Builds a tensor, checking the data length against the shape.
    pub fn new(
        name: impl Into<String>,
        shape: Vec<usize>,
        data: Vec<f32>,
    ) -> CheckpointResult<Self> {
        let name = name.into();
        let expected: usize = shape.iter().product();
        if expected != data.len() {
            return Err(CheckpointError::DataLength {
                name,
                shape,
                expected,
                got: data.len(),
            });
        }
        Ok(Self { name, shape, data })
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }
}

/// A parameter the model expects: name and shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamSpec {
    /// Parameter name (Meta naming).
    pub name: String,
    /// Expected shape.
    pub shape: Vec<usize>,
}

impl ParamSpec {
    /// Shorthand constructor.
    pub fn new(name: impl Into<String>, shape: Vec<usize>) -> Self {
        Self {
            name: name.into(),
            shape,
        }
    }
}

/// Checks that `tensors` holds exactly the parameters of `spec` with the right shapes and
/// returns them in `spec` order. `source` names the file in messages.
pub fn match_spec(
    tensors: Vec<NamedTensor>,
    spec: &[ParamSpec],
    source: &Path,
) -> CheckpointResult<Vec<NamedTensor>> {
    let mut by_name: HashMap<String, NamedTensor> = HashMap::with_capacity(tensors.len());
    for t in tensors {
        if by_name.contains_key(&t.name) {
            return Err(CheckpointError::DuplicateTensor {
                path: source.to_path_buf(),
                name: t.name,
            });
        }
        by_name.insert(t.name.clone(), t);
    }
    let mut out = Vec::with_capacity(spec.len());
    for p in spec {
        let t = by_name
            .remove(&p.name)
            .ok_or_else(|| CheckpointError::MissingTensor {
                path: source.to_path_buf(),
                name: p.name.clone(),
            })?;
        if t.shape != p.shape {
            return Err(CheckpointError::ShapeMismatch {
                path: source.to_path_buf(),
                name: p.name.clone(),
                file: t.shape,
                expected: p.shape.clone(),
            });
        }
        out.push(t);
    }
    if let Some(name) = by_name.keys().min() {
        return Err(CheckpointError::UnexpectedTensor {
            path: source.to_path_buf(),
            name: name.clone(),
        });
    }
    Ok(out)
}

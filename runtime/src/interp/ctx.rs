//! The node being evaluated, for error messages, and typed access to its operands.

use crate::error::RuntimeError;
use crate::interp::float::Float;
use crate::tensor::Tensor;
use llc_ir::Node;

/// Names the node in errors and checks operand element types.
pub(crate) struct Ctx<'a> {
    pub node: &'a Node,
}

impl<'a> Ctx<'a> {
    /// An error about this node.
    pub fn type_err(&self, msg: impl Into<String>) -> RuntimeError {
        RuntimeError::Type {
            node: self.node.name.clone(),
            op: self.node.op.name().to_string(),
            msg: msg.into(),
        }
    }

    /// An out-of-range index found at `flat` within an index tensor of `shape`.
    pub fn index_err(
        &self,
        index: i64,
        flat: usize,
        shape: &[usize],
        bound: usize,
    ) -> RuntimeError {
        RuntimeError::IndexOutOfRange {
            node: self.node.name.clone(),
            op: self.node.op.name().to_string(),
            index,
            position: unravel(flat, shape),
            bound,
        }
    }

    /// Operand `t` as floats of the working type.
    pub fn floats<'t, T: Float>(&self, t: &'t Tensor, what: &str) -> Result<&'t [T], RuntimeError> {
        T::view(t.data()).ok_or_else(|| {
            self.type_err(format!(
                "{what} must be a float tensor in the working precision, got {}",
                t.type_string()
            ))
        })
    }

    /// Operand `t` as i32.
    pub fn ints<'t>(&self, t: &'t Tensor, what: &str) -> Result<&'t [i32], RuntimeError> {
        t.as_i32()
            .ok_or_else(|| self.type_err(format!("{what} must be i32, got {}", t.type_string())))
    }

    /// Operand `t` as bool.
    pub fn bools<'t>(&self, t: &'t Tensor, what: &str) -> Result<&'t [bool], RuntimeError> {
        t.as_bool()
            .ok_or_else(|| self.type_err(format!("{what} must be bool, got {}", t.type_string())))
    }

    /// Check that every index lies in `0..bound`; the error names the first one that does
    /// not, with its position in the index tensor.
    pub fn check_indices(&self, idx: &Tensor, bound: usize) -> Result<(), RuntimeError> {
        let v = self.ints(idx, "indices")?;
        match v.iter().position(|&i| i < 0 || i as usize >= bound) {
            None => Ok(()),
            Some(p) => Err(self.index_err(v[p] as i64, p, idx.shape(), bound)),
        }
    }
}

/// Multi-index of flat position `flat` in a row-major tensor of `shape`.
pub(crate) fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut pos = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        if shape[d] > 0 {
            pos[d] = flat % shape[d];
            flat /= shape[d];
        }
    }
    pos
}

/// Row-major strides of `shape`.
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}

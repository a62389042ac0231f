//! Binding named weights (as checkpoints hold them) to a function's `param` arguments, so
//! a graph built from a config can run on weights loaded from disk.

use llc_ir::{ArgRole, Function};

use super::error::{GenerateError, GenerateResult};
use crate::checkpoint::NamedTensor;
use llc_runtime::tensor::{Precision, Tensor};

/// One slot per argument of `f`, in argument order: the weight named like each `param`
/// argument (converted to `precision`), `None` for every other argument (data inputs, to
/// be filled by the caller). Weights no parameter names are ignored (e.g. the copy of the
/// embedding a tied-embedding checkpoint loads as `output.weight`).
pub fn bind_params(
    f: &Function,
    weights: &[NamedTensor],
    precision: Precision,
) -> GenerateResult<Vec<Option<Tensor>>> {
    f.args()
        .iter()
        .map(|&a| {
            if f.arg_role(a) != Some(ArgRole::Param) {
                return Ok(None);
            }
            let name = &f.node(a).name;
            let w = weights.iter().find(|w| &w.name == name).ok_or_else(|| {
                GenerateError::MissingParam {
                    func: f.name.clone(),
                    name: name.clone(),
                }
            })?;
            let expected = &f.ty(a).shape;
            if &w.shape != expected {
                return Err(GenerateError::ParamShape {
                    func: f.name.clone(),
                    name: name.clone(),
                    expected: expected.clone(),
                    got: w.shape.clone(),
                });
            }
            let t = Tensor::from_f32(w.shape.clone(), w.data.clone())?;
            Ok(Some(t.to_precision(precision)))
        })
        .collect()
}

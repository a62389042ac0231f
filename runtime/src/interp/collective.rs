//! `all_reduce` through the run's [`Communicator`]: the operand is copied, summed over the
//! ranks in place, and for `mean` divided by the world size (on one rank both kinds return
//! the operand unchanged, bit for bit).

use crate::comm::Communicator;
use crate::error::Result;
use crate::interp::ctx::Ctx;
use crate::tensor::{Tensor, TensorData};
use llc_ir::CollectiveKind;

pub(crate) fn all_reduce(
    cx: &Ctx<'_>,
    kind: CollectiveKind,
    x: &Tensor,
    comm: &dyn Communicator,
) -> Result<Tensor> {
    let n = comm.world_size();
    let data = match x.data() {
        TensorData::F32(v) => {
            let mut v = v.clone();
            comm.all_reduce_sum_f32(&mut v)?;
            if kind == CollectiveKind::Mean && n > 1 {
                let inv = n as f32;
                v.iter_mut().for_each(|e| *e /= inv);
            }
            TensorData::F32(v)
        }
        TensorData::F64(v) => {
            let mut v = v.clone();
            comm.all_reduce_sum_f64(&mut v)?;
            if kind == CollectiveKind::Mean && n > 1 {
                let inv = n as f64;
                v.iter_mut().for_each(|e| *e /= inv);
            }
            TensorData::F64(v)
        }
        _ => {
            return Err(cx.type_err(format!(
                "all_reduce needs a float tensor, got {}",
                x.type_string()
            )));
        }
    };
    Tensor::new(x.shape().to_vec(), data)
}

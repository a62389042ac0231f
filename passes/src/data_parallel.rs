//! Data parallelism as IR: every rank runs the same step on its own share of the batch,
//! and this pass makes the ranks agree on the gradients before the optimizer sees them,
//! as PyTorch's DDP does.
//!
//! It runs after autodiff, on `forward_backward` (results `loss`, `grad.<p>`...), and
//! replaces each gradient result by its mean over the ranks, so clipping (the global norm)
//! and AdamW, lowered next, see the same averaged gradients on every rank and every rank
//! keeps identical parameters. The `loss` result is averaged too, so each rank reports
//! the loss of the whole global batch.
//!
//! Why the mean is exact: the loss is a mean over the batch's tokens, and every rank holds
//! the same number of tokens (`B * T`, the same `--batch` on every rank, no loss mask), so
//! `mean_r(mean over rank r's tokens) = mean over all N*B*T tokens`, and the same holds for
//! the gradients by linearity. With a loss mask the counts differ per rank and the mean of
//! means is not the global mean; the trainer refuses that combination.
//!
//! Bucketing: gradients are grouped, in reverse result order (the last layers' gradients
//! are the first the backward finishes, as in DDP), into buckets of at most
//! [`DataParallelOptions::bucket_bytes`] (default 25 MiB, DDP's `bucket_cap_mb`); a
//! tensor larger than a bucket gets a bucket of its own. Each bucket is flattened
//! (`reshape` to 1-D, `concat`), reduced by one `all_reduce {kind = mean}`, and cut back
//! (`slice`, `reshape`): few large messages instead of one per parameter. Buckets hold
//! one dtype each.
//!
//! On one rank (`world_size = 1`) the pass changes nothing.

use crate::error::{PassError, Result};
use llc_ir::{Builder, CollectiveKind, DType, Module, NodeId};

const PASS: &str = "data-parallel";

/// DDP's default bucket: 25 MiB.
pub const DEFAULT_BUCKET_BYTES: usize = 25 * 1024 * 1024;

/// What to reduce and how to group it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataParallelOptions {
    /// The function whose results are averaged (autodiff's output).
    pub function: String,
    /// Its loss result (averaged with the gradients).
    pub loss: String,
    /// Number of ranks the step will run on; 1 leaves the module unchanged.
    pub world_size: usize,
    /// Largest bucket in bytes (a larger single tensor is a bucket by itself).
    pub bucket_bytes: usize,
}

impl DataParallelOptions {
    /// Average `forward_backward`'s gradients over `world_size` ranks in 25 MiB buckets.
    pub fn new(world_size: usize) -> Self {
        DataParallelOptions {
            function: "forward_backward".into(),
            loss: "loss".into(),
            world_size,
            bucket_bytes: DEFAULT_BUCKET_BYTES,
        }
    }
}

/// What the pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DataParallelStats {
    /// Results averaged (gradients and the loss).
    pub reduced: usize,
    /// `all_reduce` ops inserted (one per bucket).
    pub buckets: usize,
    /// Bytes every rank sends into the all-reduces per step.
    pub bytes: usize,
}

/// Insert the bucketed gradient all-reduce into `opts.function` (see the module docs).
pub fn data_parallel(m: &mut Module, opts: &DataParallelOptions) -> Result<DataParallelStats> {
    if opts.world_size == 0 {
        return Err(PassError::InvalidConfig {
            pass: PASS,
            msg: "world_size must be at least 1".into(),
        });
    }
    if opts.bucket_bytes == 0 {
        return Err(PassError::InvalidConfig {
            pass: PASS,
            msg: "bucket_bytes must be positive".into(),
        });
    }
    let available = m
        .functions
        .iter()
        .map(|f| format!("@{}", f.name))
        .collect::<Vec<_>>()
        .join(", ");
    let f = m
        .function_mut(&opts.function)
        .ok_or_else(|| PassError::NoSuchFunction {
            pass: PASS,
            func: opts.function.clone(),
            available,
        })?;
    if opts.world_size == 1 {
        return Ok(DataParallelStats::default());
    }
    // The results to average, by output position: the loss and every gradient.
    let mut picked: Vec<usize> = Vec::new();
    for (i, o) in f.outputs().iter().enumerate() {
        let name = &f.node(o.node).name;
        if name == &opts.loss || name.starts_with("grad.") {
            picked.push(i);
        }
    }
    if !picked
        .iter()
        .any(|&i| f.node(f.outputs()[i].node).name == opts.loss)
    {
        return Err(PassError::NoSuchOutput {
            pass: PASS,
            func: f.name.clone(),
            name: opts.loss.clone(),
        });
    }
    // Buckets in reverse result order, one dtype each, up to bucket_bytes.
    let mut buckets: Vec<(DType, Vec<usize>, usize)> = Vec::new();
    for &i in picked.iter().rev() {
        let ty = f.ty(f.outputs()[i].node);
        if !ty.dtype.is_float() {
            return Err(PassError::InvalidConfig {
                pass: PASS,
                msg: format!(
                    "result %{} is {ty}: only float results can be averaged",
                    f.node(f.outputs()[i].node).name
                ),
            });
        }
        let bytes = ty.numel() * ty.dtype.size_bytes();
        match buckets
            .iter_mut()
            .rev()
            .find(|(d, _, _)| *d == ty.dtype)
            .filter(|(_, _, used)| used + bytes <= opts.bucket_bytes)
        {
            Some((_, members, used)) => {
                members.push(i);
                *used += bytes;
            }
            None => buckets.push((ty.dtype, vec![i], bytes)),
        }
    }
    let stats = DataParallelStats {
        reduced: picked.len(),
        buckets: buckets.len(),
        bytes: buckets.iter().map(|(_, _, b)| b).sum(),
    };
    let mut outputs = f.outputs().to_vec();
    let mut renames: Vec<(NodeId, NodeId)> = Vec::new();
    {
        let mut b = Builder::new(f);
        for (k, (_, members, _)) in buckets.iter().enumerate() {
            let values: Vec<NodeId> = members.iter().map(|&i| outputs[i].node).collect();
            let flat = values
                .iter()
                .map(|&v| {
                    let n = b.ty(v).numel();
                    b.reshape(v, &[n])
                })
                .collect::<llc_ir::Result<Vec<_>>>()?;
            let joined = if flat.len() == 1 {
                flat[0]
            } else {
                let c = b.concat(&flat, 0)?;
                b.name(c, &format!("dp.bucket{k}"))?
            };
            let reduced = b.all_reduce(joined, CollectiveKind::Mean)?;
            b.name(reduced, &format!("dp.bucket{k}.mean"))?;
            let mut offset = 0;
            for (&i, &v) in members.iter().zip(&values) {
                let shape = b.shape(v);
                let n: usize = shape.iter().product();
                let part = if members.len() == 1 {
                    reduced
                } else {
                    b.slice(reduced, 0, offset, offset + n)?
                };
                offset += n;
                let back = b.reshape(part, &shape)?;
                renames.push((v, back));
                outputs[i].node = back;
            }
        }
    }
    // The averaged values take over the result names (`grad.<p>`, `loss`) the optimizer
    // looks up; the rank-local values become `<name>.local`.
    for (old, new) in renames {
        let name = f.node(old).name.clone();
        let local = f.unique_name(&format!("{name}.local"));
        f.rename(old, &local)?;
        f.rename(new, &name)?;
    }
    f.set_outputs(outputs);
    Ok(stats)
}

//! The elementwise strategy: a grid-stride loop over the output elements.
//!
//! Thread `t` of `T` handles element groups `t, t + T, …`; a group is `width` (4 when the
//! element count allows) consecutive elements, loaded and stored as one 16-byte vector
//! wherever the index math proves the access contiguous and aligned. Consecutive threads
//! take consecutive groups, so every warp access is coalesced. Values that do not depend
//! on the element (scalar arguments such as a learning rate) are loaded once, before the
//! loop.

use crate::emit::flavor::{Dim, Flavor};
use crate::emit::kernel::Kernel;
use crate::error::Result;
use crate::index::{Ix, Var};
use llc_ir::NodeId;

/// Threads per block.
const BLOCK: usize = 256;
/// At most this many blocks; the grid-stride loop covers the rest.
const MAX_BLOCKS: usize = 2048;
/// Elements per CPU block: enough work to amortize handing a block range to a core,
/// small enough that a large tensor splits over every core.
const CPU_CHUNK_ELEMS: usize = 16384;

/// Set up a grid-stride launch over `groups` element groups, evaluate ahead of the loop
/// what `roots` need that does not vary per group, and run `body` once per group (with
/// [`Var::Group`] bound).
pub(crate) fn grid_loop(
    k: &mut Kernel,
    groups: usize,
    roots: &[(NodeId, Ix)],
    body: impl FnOnce(&mut Kernel) -> Result<()>,
) -> Result<()> {
    if k.flavor == Flavor::Cpu {
        return chunk_loop(k, groups, roots, body);
    }
    let block = k.block_shape(BLOCK as u32, 1);
    let grid = groups.div_ceil(BLOCK).clamp(1, MAX_BLOCKS);
    k.set_launch([grid, 1], block)?;
    let tid = k.thread_id(Dim::X);
    let bid = k.block_id(Dim::X);
    let bdim = k.block_dim(Dim::X);
    let gdim = k.grid_dim(Dim::X);
    let first = k.fop("muli", &bid, &bdim);
    let first = k.fop("addi", &first, &tid);
    let step = k.fop("muli", &gdim, &bdim);
    k.hoist(roots, Var::Group)?;
    k.for_each(Var::Group, groups, &first, &step, body)
}

/// The CPU form of [`grid_loop`]: block `b` handles the contiguous groups
/// `[b·C, min((b+1)·C, groups))` with `C` = [`CPU_CHUNK_ELEMS`] / width, so a core walks
/// memory in order and the loop vectorizes.
fn chunk_loop(
    k: &mut Kernel,
    groups: usize,
    roots: &[(NodeId, Ix)],
    body: impl FnOnce(&mut Kernel) -> Result<()>,
) -> Result<()> {
    let chunk = (CPU_CHUNK_ELEMS / k.width.max(1)).max(1);
    k.set_launch([groups.div_ceil(chunk).max(1), 1], [1, 1, 1])?;
    let bid = k.block_id(Dim::X);
    let c = k.w.index(chunk as i64);
    let first = k.fop("muli", &bid, &c);
    let end = k.fop("addi", &first, &c);
    let total = k.w.index(groups as i64);
    let end = k.fop("minui", &end, &total);
    let one = k.w.index(1);
    k.hoist(roots, Var::Group)?;
    k.for_range(Var::Group, &first, &end, &one, body)
}

/// Emit an elementwise kernel over `n` elements per output.
pub(crate) fn emit(k: &mut Kernel, n: usize, width: usize) -> Result<()> {
    let group = Ix::var(Var::Group, n / width).scale(width as i64);
    let outputs: Vec<_> = k.f.outputs().iter().map(|o| o.node).collect();
    let roots: Vec<_> = outputs
        .iter()
        .flat_map(|&o| {
            let group = &group;
            (0..width).map(move |l| (o, group.add_konst(l as i64)))
        })
        .collect();
    grid_loop(k, n / width, &roots, |k| {
        // every output is computed before any is stored, so an output may share its
        // buffer with an input read at the same element
        let mut all = Vec::new();
        for &o in &outputs {
            let vals = (0..width)
                .map(|l| k.eval(o, &group.add_konst(l as i64)))
                .collect::<Result<Vec<_>>>()?;
            all.push(vals);
        }
        for (j, vals) in all.into_iter().enumerate() {
            k.store(k.output_param(j), &group, &vals)?;
        }
        Ok(())
    })
}

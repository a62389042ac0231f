//! GPU and CPU flavors of the same kernel.
//!
//! The strategies write kernels against a handful of parallel primitives (thread, block
//! and grid ids and sizes, block-wide reductions, barriers, shared memory). The GPU
//! flavor maps them to the `gpu` dialect inside a `gpu.func`. The CPU flavor makes a
//! `func.func` that runs the blocks `[block_lo, block_hi)` of the grid in turn (blocks
//! numbered `y · grid_x + x`), one thread per block: ids come from the block number or
//! are 0, sizes are 1, a block reduction of one thread is the value itself, barriers
//! vanish and shared memory is a stack buffer. Blocks write disjoint outputs (scatter's
//! atomic adds aside), so a runtime splits the block range over its cores. The generated
//! index math, loads, stores and arithmetic are the same text in both, so running the
//! CPU flavor checks them numerically on a machine without a GPU.

use crate::api::LaunchDims;
use crate::emit::kernel::Kernel;
use crate::emit::text::{Sty, Val};
use crate::error::Result;
use llc_ir::ReduceKind;

/// Which machine a kernel's text is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// A `gpu.func` in a `gpu.module`, lowered to PTX.
    Gpu,
    /// A `func.func` run by MLIR's execution engine, for numeric checks.
    Cpu,
}

impl Flavor {
    /// The widest group of consecutive elements one thread step handles: one 16-byte
    /// access on a GPU, one 512-bit vector on a CPU.
    pub(crate) fn lanes(self) -> usize {
        match self {
            Flavor::Gpu => 4,
            Flavor::Cpu => 16,
        }
    }

    /// The alignment a vector access of `bytes` may claim: the vector's size on a GPU
    /// (buffers are 16-byte aligned and vectors at most 16 bytes), the element's on a CPU
    /// (unaligned vector loads are cheap there, and views are only element-aligned).
    pub(crate) fn vector_alignment(self, bytes: usize, elem: usize) -> usize {
        match self {
            Flavor::Gpu => bytes,
            Flavor::Cpu => elem,
        }
    }
}

/// A launch dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Dim {
    X,
    Y,
}

impl Dim {
    fn name(self) -> &'static str {
        match self {
            Dim::X => "x",
            Dim::Y => "y",
        }
    }
}

impl Kernel<'_> {
    /// The block shape a strategy asks for, as this flavor runs it (1×1 on the CPU).
    pub(crate) fn block_shape(&self, x: u32, y: u32) -> [u32; 3] {
        match self.flavor {
            Flavor::Gpu => [x, y, 1],
            Flavor::Cpu => [1, 1, 1],
        }
    }

    /// Record the launch configuration (the CPU flavor loops over the grid); a grid
    /// beyond CUDA's limits (2^31 − 1 blocks in x, 65535 in y) is an error.
    pub(crate) fn set_launch(&mut self, grid: [usize; 2], block: [u32; 3]) -> Result<()> {
        if grid[0] > i32::MAX as usize || grid[1] > u16::MAX as usize {
            return Err(self.unsupported(format!(
                "a launch of {} × {} blocks exceeds CUDA's grid limits",
                grid[0], grid[1]
            )));
        }
        self.launch = LaunchDims {
            grid: [grid[0] as u32, grid[1] as u32, 1],
            block,
            shared_mem_bytes: 0,
        };
        Ok(())
    }

    fn hw(&mut self, op: &str, dim: Dim) -> Val {
        let key = format!("{op} {}", dim.name());
        if let Some(v) = self.hw.get(&key) {
            return v.clone();
        }
        let v = self.w.prelude_op(Sty::Index, &key);
        self.hw.insert(key, v.clone());
        v
    }

    /// This thread's index in its block.
    pub(crate) fn thread_id(&mut self, dim: Dim) -> Val {
        match self.flavor {
            Flavor::Gpu => self.hw("gpu.thread_id", dim),
            Flavor::Cpu => self.w.index(0),
        }
    }

    /// This block's index in the grid.
    pub(crate) fn block_id(&mut self, dim: Dim) -> Val {
        match self.flavor {
            Flavor::Gpu => self.hw("gpu.block_id", dim),
            Flavor::Cpu => Val {
                name: format!("%block_{}", dim.name()),
                ty: Sty::Index,
            },
        }
    }

    /// Threads per block.
    pub(crate) fn block_dim(&mut self, dim: Dim) -> Val {
        match self.flavor {
            Flavor::Gpu => self.hw("gpu.block_dim", dim),
            Flavor::Cpu => self.w.index(1),
        }
    }

    /// Blocks in the grid.
    pub(crate) fn grid_dim(&mut self, dim: Dim) -> Val {
        match self.flavor {
            Flavor::Gpu => self.hw("gpu.grid_dim", dim),
            Flavor::Cpu => {
                let g = self.launch.grid[if dim == Dim::X { 0 } else { 1 }];
                self.w.index(g as i64)
            }
        }
    }

    /// The reduction of `v` over every thread of the block (all threads get it).
    pub(crate) fn block_reduce(&mut self, kind: ReduceKind, v: Val) -> Val {
        match self.flavor {
            Flavor::Cpu => v,
            Flavor::Gpu => {
                let op = match (kind, v.ty.is_float()) {
                    (ReduceKind::Sum, _) => "add",
                    (ReduceKind::Max, true) => "maximumf",
                    (ReduceKind::Max, false) => "maxsi",
                };
                let t = v.ty.mlir();
                self.w.op(
                    v.ty,
                    &format!(
                        "gpu.all_reduce {op} {} uniform {{}} : ({t}) -> ({t})",
                        v.name
                    ),
                )
            }
        }
    }

    /// Wait until every thread of the block got here (shared memory is then visible).
    pub(crate) fn barrier(&mut self) {
        if self.flavor == Flavor::Gpu {
            self.w.line("gpu.barrier");
        }
    }

    /// A block-shared buffer of `len` elements of `ty`.
    pub(crate) fn shared(&mut self, len: usize, ty: Sty) -> (Val, String) {
        let mty = match self.flavor {
            Flavor::Gpu => format!("memref<{len}x{}, #gpu.address_space<workgroup>>", ty.mlir()),
            Flavor::Cpu => format!("memref<{len}x{}>", ty.mlir()),
        };
        let v = match self.flavor {
            Flavor::Gpu => {
                let name = format!("%shared{}", self.shared.len());
                self.shared.push(format!("{name} : {mty}"));
                Val {
                    name,
                    ty: Sty::Index,
                }
            }
            Flavor::Cpu => self
                .w
                .prelude_op(Sty::Index, &format!("memref.alloca() : {mty}")),
        };
        (v, mty)
    }

    /// The complete function text: signature, body and, for the CPU, the block loops.
    pub(crate) fn function_text(&mut self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|p| format!("{}: {}", p.name, p.mlir_type()))
            .collect();
        let params = params.join(", ");
        match self.flavor {
            Flavor::Gpu => {
                let wg = if self.shared.is_empty() {
                    String::new()
                } else {
                    format!(" workgroup({})", self.shared.join(", "))
                };
                let [bx, by, bz] = self.launch.block;
                format!(
                    "gpu.func @{}({params}){wg} kernel attributes {{known_block_size = array<i32: {bx}, {by}, {bz}>}} {{\n{}  gpu.return\n}}\n",
                    self.entry,
                    self.w.finish(1)
                )
            }
            Flavor::Cpu => {
                let gx = self.launch.grid[0];
                let one = self.w.index(1);
                let gx = self.w.index(gx as i64);
                let (prelude, body) = self.w.finish_parts(1, 2);
                format!(
                    "func.func @{}({params}, %block_lo: index, %block_hi: index) {{\n{prelude}  scf.for %block = %block_lo to %block_hi step {o} {{\n    %block_y = arith.divui %block, {gx} : index\n    %block_x = arith.remui %block, {gx} : index\n{body}  }}\n  return\n}}\n",
                    self.entry,
                    o = one.name,
                    gx = gx.name,
                )
            }
        }
    }
}

//! The result of partitioning: an ordered program of kernel launches and GEMM library
//! calls over named buffers, with views and placement constraints, before any address is
//! chosen (that is [`crate::memplan`]'s job).

use llc_ir::plan::KernelClass;
use llc_ir::{ArgRole, DType, Function, TensorType};

/// Index of a [`Value`] in [`Program::values`].
pub type ValueId = usize;

/// One tensor the program names.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    /// The IR value's name (or a generated one for packs).
    pub name: String,
    /// Its type.
    pub ty: TensorType,
    /// Where its bytes come from.
    pub kind: ValueKind,
}

/// Where a value's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// A function argument, in its role's persistent region.
    Arg(ArgRole),
    /// Written by exactly one step; lives in the activation region.
    Computed,
    /// The memory of `base` starting `byte_offset` bytes in (a reshape, a contiguous
    /// slice, a concat of adjacent buffers, a result computed in place). The bytes may
    /// run past `base` into the next members of its [`Program::blocks`] entry.
    View {
        /// The value whose memory this is.
        base: ValueId,
        /// Bytes from `base`'s start.
        byte_offset: usize,
    },
}

/// One distinct kernel: an IR function whose arguments are the buffers it reads and whose
/// results are the buffers it writes.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// Unique, derived from the class, the main op and the fingerprint.
    pub name: String,
    /// The class it was built for.
    pub class: KernelClass,
    /// Named `name`; arguments `in0..`, values `v0..` in topological order.
    pub func: Function,
    /// Structural hash of `func` (taken before it was named).
    pub fingerprint: u64,
}

/// A (batched) GEMM in row-major terms; see [`llc_ir::plan::GemmDesc`] for the meaning of
/// each field. Strides and leading dimensions are in elements.
#[derive(Clone, Debug, PartialEq)]
pub struct Gemm {
    /// Rows of `C`.
    pub m: usize,
    /// Columns of `C`.
    pub n: usize,
    /// Contracted dimension.
    pub k: usize,
    /// Independent products.
    pub batch: usize,
    /// `A` stored transposed.
    pub trans_a: bool,
    /// `B` stored transposed.
    pub trans_b: bool,
    /// Leading dimension of `A` as stored.
    pub lda: usize,
    /// Leading dimension of `B` as stored.
    pub ldb: usize,
    /// Leading dimension of `C`.
    pub ldc: usize,
    /// Batch stride of `A` (0: shared).
    pub stride_a: usize,
    /// Batch stride of `B` (0: shared).
    pub stride_b: usize,
    /// Batch stride of `C`.
    pub stride_c: usize,
    /// Element type.
    pub dtype: DType,
    /// The `A` operand.
    pub a: ValueId,
    /// The `B` operand.
    pub b: ValueId,
    /// The result.
    pub c: ValueId,
}

impl Gemm {
    /// Floating-point operations (two per multiply-add).
    pub fn flops(&self) -> u64 {
        2 * (self.m * self.n * self.k * self.batch) as u64
    }
}

/// Data movement that is not a view, as a library step (sizes in elements).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Move {
    /// For every index `i` of `shape`: `dst[dst_offset + i . dst_strides] =
    /// src[src_offset + i . src_strides]` (a transpose, a strided slice, a concat part).
    StridedCopy {
        /// Read from.
        src: ValueId,
        /// Written to.
        dst: ValueId,
        /// The index space copied.
        shape: Vec<usize>,
        /// First source element.
        src_offset: usize,
        /// Source elements per step of each index.
        src_strides: Vec<usize>,
        /// First destination element.
        dst_offset: usize,
        /// Destination elements per step of each index.
        dst_strides: Vec<usize>,
    },
    /// `out[i] = table[indices[i]]` (rows).
    Gather {
        /// The rows.
        table: ValueId,
        /// Row numbers (i32).
        indices: ValueId,
        /// The gathered rows.
        out: ValueId,
    },
    /// `out = 0; out[indices[i]] += updates[i]` (rows).
    ScatterAdd {
        /// Row numbers (i32).
        indices: ValueId,
        /// Rows to add.
        updates: ValueId,
        /// The summed table.
        out: ValueId,
    },
    /// `out = all_reduce(src)` over the ranks (a collective: always a library step).
    AllReduce {
        /// The rank's operand.
        src: ValueId,
        /// The combined value.
        out: ValueId,
        /// Sum or mean.
        kind: llc_ir::CollectiveKind,
    },
}

impl Move {
    fn reads(&self) -> [ValueId; 2] {
        match *self {
            Move::StridedCopy { src, .. } | Move::AllReduce { src, .. } => [src, src],
            Move::Gather { table, indices, .. } => [table, indices],
            Move::ScatterAdd {
                indices, updates, ..
            } => [indices, updates],
        }
    }

    fn writes(&self) -> ValueId {
        match *self {
            Move::StridedCopy { dst, .. } => dst,
            Move::Gather { out, .. }
            | Move::ScatterAdd { out, .. }
            | Move::AllReduce { out, .. } => out,
        }
    }
}

/// One step of the program.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Run `kernel` (an index into [`Program::kernels`]) reading `inputs` (in the
    /// kernel's argument order) and writing `outputs` (in its result order), with
    /// `scratch` buffers for values passed between its launches (see
    /// [`Program::attach_scratch`]).
    Kernel {
        /// Index into [`Program::kernels`].
        kernel: usize,
        /// Buffers read, in argument order.
        inputs: Vec<ValueId>,
        /// Buffers written, in result order.
        outputs: Vec<ValueId>,
        /// Scratch buffers, in the kernel's order.
        scratch: Vec<ValueId>,
    },
    /// One GEMM, or several writing the same output summed (a split contraction: the
    /// first with `beta = 0`, the others accumulating with `beta = 1`).
    Gemm(Vec<Gemm>),
    /// Data movement writing one value (several strided copies for a concat).
    Move(Vec<Move>),
    /// Copy `src` into `dst` (same size): writes back an update that is not computed in
    /// place. Always at the end of the program.
    Copy {
        /// The computed update.
        src: ValueId,
        /// The argument it replaces.
        dst: ValueId,
    },
}

impl Step {
    /// Values the step reads.
    pub fn reads(&self) -> Vec<ValueId> {
        let mut v: Vec<ValueId> = match self {
            Step::Kernel { inputs, .. } => inputs.clone(),
            Step::Gemm(gs) => gs.iter().flat_map(|g| [g.a, g.b]).collect(),
            Step::Move(ms) => ms.iter().flat_map(Move::reads).collect(),
            Step::Copy { src, .. } => vec![*src],
        };
        v.dedup();
        v
    }

    /// Values the step writes (scratch included).
    pub fn writes(&self) -> Vec<ValueId> {
        match self {
            Step::Kernel {
                outputs, scratch, ..
            } => outputs.iter().chain(scratch).copied().collect(),
            Step::Gemm(gs) => vec![gs[0].c],
            Step::Move(ms) => vec![ms[0].writes()],
            Step::Copy { dst, .. } => vec![*dst],
        }
    }
}

/// A function result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramOutput {
    /// The result's name.
    pub name: String,
    /// Its value.
    pub value: ValueId,
    /// The argument value this result is the next value of.
    pub updates: Option<ValueId>,
}

/// A partitioned function.
#[derive(Clone, Debug)]
pub struct Program {
    /// The function as partitioned (after attention lowering and packing), for printing
    /// as `step.ir` and for checking against the interpreter.
    pub func: Function,
    /// Every buffer and view the steps name.
    pub values: Vec<Value>,
    /// Distinct kernels, each once.
    pub kernels: Vec<Kernel>,
    /// Steps in a valid order (the function's topological order).
    pub steps: Vec<Step>,
    /// Placement constraints: each entry lists root values (arguments or computed
    /// values, never views) that must lie back to back, in this order, with no padding.
    /// A root is in at most one block.
    pub blocks: Vec<Vec<ValueId>>,
    /// The argument values, in the function's argument order.
    pub args: Vec<ValueId>,
    /// The results, in the function's result order.
    pub outputs: Vec<ProgramOutput>,
}

/// Counts for reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProgramCounts {
    /// Kernel steps.
    pub launches: usize,
    /// GEMM calls (a split contraction counts each part).
    pub gemms: usize,
    /// Data-movement steps (transposes, strided copies, gathers, scatter-adds).
    pub moves: usize,
    /// Final copies of updates not computed in place.
    pub copies: usize,
    /// Distinct kernels.
    pub distinct_kernels: usize,
    /// Launches by kernel class, in [`KernelClass`] order.
    pub launches_by_class: Vec<(KernelClass, usize)>,
    /// Values that are views (no bytes of their own).
    pub views: usize,
}

impl Program {
    /// Follow views to the value that owns the bytes: `(root, byte offset into it)`.
    pub fn root(&self, mut v: ValueId) -> (ValueId, usize) {
        let mut off = 0;
        while let ValueKind::View { base, byte_offset } = self.values[v].kind {
            off += byte_offset;
            v = base;
        }
        (v, off)
    }

    /// The step that writes each value, if any (arguments and views have none).
    pub fn producers(&self) -> Vec<Option<usize>> {
        let mut p = vec![None; self.values.len()];
        for (i, s) in self.steps.iter().enumerate() {
            if let Step::Copy { .. } = s {
                continue;
            }
            for w in s.writes() {
                p[w] = Some(i);
            }
        }
        p
    }

    /// Launch, GEMM, copy and view counts.
    pub fn counts(&self) -> ProgramCounts {
        let mut c = ProgramCounts {
            distinct_kernels: self.kernels.len(),
            ..Default::default()
        };
        let classes = [
            KernelClass::Elementwise,
            KernelClass::Row,
            KernelClass::Reduction,
            KernelClass::Scatter,
            KernelClass::Single,
        ];
        let mut by_class = vec![0usize; classes.len()];
        for s in &self.steps {
            match s {
                Step::Kernel { kernel, .. } => {
                    c.launches += 1;
                    let k = self.kernels[*kernel].class;
                    if let Some(i) = classes.iter().position(|&x| x == k) {
                        by_class[i] += 1;
                    }
                }
                Step::Gemm(gs) => c.gemms += gs.len(),
                Step::Move(_) => c.moves += 1,
                Step::Copy { .. } => c.copies += 1,
            }
        }
        c.launches_by_class = classes.into_iter().zip(by_class).collect();
        c.views = self
            .values
            .iter()
            .filter(|v| matches!(v.kind, ValueKind::View { .. }))
            .count();
        c
    }

    /// GEMM FLOPs plus one FLOP per element each kernel op produces: an estimate for
    /// reports.
    pub fn flops(&self) -> u64 {
        self.steps
            .iter()
            .map(|s| match s {
                Step::Gemm(gs) => gs.iter().map(Gemm::flops).sum(),
                Step::Kernel { kernel, .. } => {
                    let f = &self.kernels[*kernel].func;
                    f.node_ids()
                        .filter(|&n| !matches!(f.node(n).op, llc_ir::Op::Arg { .. }))
                        .map(|n| f.ty(n).numel() as u64)
                        .sum()
                }
                Step::Move(_) | Step::Copy { .. } => 0,
            })
            .sum()
    }

    /// Give every run of each kernel its scratch buffers: `scratch[k]` lists the types
    /// kernel `k` needs (codegen says; a kernel compiled to several launches passes
    /// partial results through them). Each run gets fresh values, alive only during it.
    pub fn attach_scratch(&mut self, scratch: &[Vec<TensorType>]) {
        let mut values = std::mem::take(&mut self.values);
        for (i, s) in self.steps.iter_mut().enumerate() {
            if let Step::Kernel {
                kernel,
                scratch: own,
                ..
            } = s
            {
                own.clear();
                for (j, ty) in scratch.get(*kernel).into_iter().flatten().enumerate() {
                    own.push(values.len());
                    values.push(Value {
                        name: format!("scratch.{i}.{j}"),
                        ty: ty.clone(),
                        kind: ValueKind::Computed,
                    });
                }
            }
        }
        self.values = values;
    }

    /// Bytes each step reads and writes, summed over steps: the traffic a step costs if
    /// nothing stays in cache.
    pub fn bytes_moved(&self) -> u64 {
        self.steps
            .iter()
            .map(|s| {
                s.reads()
                    .into_iter()
                    .chain(s.writes())
                    .map(|v| self.values[v].ty.size_bytes() as u64)
                    .sum::<u64>()
            })
            .sum()
    }
}

//! The execution plan of a compiled step (`plan.json`): one device arena, the buffers laid
//! out in it, and every step in order (kernel launches, GEMMs, copies). The CPU plan
//! executor and the CUDA runtime both run exactly this, so the schema is versioned and
//! everything a runtime needs is explicit (no layout is implied by names).
//!
//! Conventions:
//! - Offsets and sizes are in bytes from the start of the arena; every allocation starts
//!   at a multiple of [`Plan::alignment`] (views and packed members may not).
//! - Tensors are dense and row-major; `shape` and `dtype` say how to read a buffer.
//! - A kernel step names the kernel's IR function (`kernels.ir`): its inputs are the
//!   function's arguments, its outputs the function's results, in order. On the GPU it
//!   runs as one or more launches of PTX entries (`kernels.ptx`), each with its
//!   arguments resolved to buffers (inputs, outputs, and scratch buffers that pass values
//!   between the launches of one kernel).
//! - A GEMM is described in row-major terms (see [`GemmDesc`]); [`GemmDesc::column_major`]
//!   gives the equivalent column-major (cuBLAS) call.
//! - Data movement that is not a view (a transpose, a strided slice, a concat whose parts
//!   cannot be placed back to back, an embedding gather and its scatter-add gradient)
//!   runs inside kernels by default; a plan may instead describe it as library steps
//!   like GEMMs: [`Step::StridedCopy`], [`Step::Gather`], [`Step::ScatterAdd`].

use crate::dtype::{DType, TensorType};
use crate::error::IrError;
use crate::op::ArgRole;
use serde::{Deserialize, Serialize};

/// The schema version this crate writes and reads. Bump it on any incompatible change.
pub const PLAN_SCHEMA_VERSION: u32 = 1;

/// Every allocation in the arena starts at a multiple of this many bytes.
pub const PLAN_ALIGNMENT: u64 = 256;

/// A whole compiled step: what to allocate, where everything lives, what to run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// [`PLAN_SCHEMA_VERSION`] of the writer; readers refuse other versions.
    pub schema_version: u32,
    /// The IR function this plan executes (`step`).
    pub function: String,
    /// The GPU the kernels were compiled for (`sm_80`, `sm_90`).
    pub target: String,
    /// Alignment of every allocation, in bytes.
    pub alignment: u64,
    /// Size of the one device arena, in bytes.
    pub arena_bytes: u64,
    /// The arena's regions in address order: parameters, optimizer state and data inputs
    /// persist across steps; activations are reused within a step.
    pub regions: Vec<Region>,
    /// Every tensor the plan names: allocations, views into them and packs of them.
    pub buffers: Vec<Buffer>,
    /// Where each function argument lives, in argument order. A runtime writes parameters
    /// and state once (they persist), and the inputs before every step.
    pub args: Vec<ArgBinding>,
    /// Where each function result is after the step, in result order. Results that update
    /// an argument have been written back to that argument's buffer by the plan's own
    /// steps (in place or by a final copy), so the next step sees them.
    pub outputs: Vec<OutputBinding>,
    /// The distinct kernels (each once, however often it is launched).
    pub kernels: Vec<KernelDecl>,
    /// The steps, in execution order.
    pub steps: Vec<Step>,
    /// Totals for reports and sanity checks.
    pub stats: PlanStats,
}

/// What a region of the arena holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegionKind {
    /// Trainable parameters (persistent).
    Param,
    /// Optimizer moments and the step counter (persistent).
    State,
    /// Data inputs written before each step (tokens, targets).
    Input,
    /// Activations and temporaries: offsets are reused as values die.
    Activation,
}

impl RegionKind {
    /// The region that holds arguments of `role`.
    pub fn of_role(role: ArgRole) -> RegionKind {
        match role {
            ArgRole::Param => RegionKind::Param,
            ArgRole::State => RegionKind::State,
            ArgRole::Input => RegionKind::Input,
        }
    }

    /// Lower-case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            RegionKind::Param => "param",
            RegionKind::State => "state",
            RegionKind::Input => "input",
            RegionKind::Activation => "activation",
        }
    }
}

/// A contiguous part of the arena.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    /// What it holds.
    pub kind: RegionKind,
    /// Start, in bytes from the arena's start.
    pub offset: u64,
    /// Size in bytes (a multiple of the alignment).
    pub bytes: u64,
}

/// One tensor in the arena.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buffer {
    /// The IR value it holds (or a generated name for packs).
    pub name: String,
    /// Start, in bytes from the arena's start.
    pub offset: u64,
    /// Size in bytes (`shape`'s element count times `dtype`'s size).
    pub bytes: u64,
    /// Element type.
    pub dtype: DType,
    /// Dimensions, row-major.
    pub shape: Vec<usize>,
    /// The region the bytes lie in.
    pub region: RegionKind,
    /// For a view (reshape, contiguous slice, a concat of adjacent buffers, a pack of
    /// consecutive buffers, a result written in place): the index of the buffer whose
    /// memory it shares. `None` for an allocation of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_of: Option<u32>,
}

impl Buffer {
    /// The tensor type the buffer is read as.
    pub fn ty(&self) -> TensorType {
        TensorType::new(self.dtype, self.shape.clone())
    }
}

/// A reference from a step to a buffer: which buffer, and its bytes in the arena (copied
/// from the buffer so a runtime can launch without a lookup).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BufRef {
    /// Index into [`Plan::buffers`].
    pub buffer: u32,
    /// The buffer's offset in the arena.
    pub offset: u64,
    /// The buffer's size in bytes.
    pub bytes: u64,
}

/// Where a function argument lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgBinding {
    /// The argument's name in the IR function.
    pub name: String,
    /// Parameter, state or input.
    pub role: ArgRole,
    /// Index into [`Plan::buffers`].
    pub buffer: u32,
    /// Where its bytes start in the arena.
    pub offset: u64,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Where a function result is after the step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputBinding {
    /// The result's name (its value's name in the IR function).
    pub name: String,
    /// Index into [`Plan::buffers`].
    pub buffer: u32,
    /// Where its bytes start in the arena.
    pub offset: u64,
    /// Its size in bytes.
    pub bytes: u64,
    /// The argument this result is the next value of (a param or state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updates: Option<String>,
}

/// What a kernel does, by the class codegen emits it as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KernelClass {
    /// Same element count everywhere; elementwise ops (including rope and swiglu) over
    /// inputs read directly or through broadcast/reshape; several outputs allowed.
    Elementwise,
    /// Last-axis reductions (or a fused row op) with elementwise prologue and epilogue.
    Row,
    /// Other reductions: column sums, full reductions to a scalar.
    Reduction,
    /// A `scatter_add` (embedding gradient): zero the result, then add rows atomically.
    Scatter,
    /// An op in no class above (only when partitioning was told not to lower it, e.g.
    /// attention): the CPU executor runs it, codegen does not.
    Single,
}

impl KernelClass {
    /// Lower-case name used in kernel names and reports.
    pub fn name(self) -> &'static str {
        match self {
            KernelClass::Elementwise => "elementwise",
            KernelClass::Row => "row",
            KernelClass::Reduction => "reduction",
            KernelClass::Scatter => "scatter",
            KernelClass::Single => "single",
        }
    }
}

impl std::fmt::Display for KernelClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What one parameter of a kernel entry (PTX or native) is bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamRef {
    /// The kernel function's argument with this index.
    Input(usize),
    /// The kernel function's result with this index.
    Output(usize),
    /// The kernel's scratch buffer with this index.
    Scratch(usize),
}

/// One launch of a kernel, as compiled: which entry, how, and with which parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryDecl {
    /// The `.entry` symbol in `kernels.ptx`.
    pub entry: String,
    /// Grid, block and shared memory.
    #[serde(flatten)]
    pub dims: LaunchDims,
    /// What each entry parameter is bound to, in order.
    pub params: Vec<ParamRef>,
}

/// One distinct kernel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelDecl {
    /// The kernel's function name in `kernels.ir`.
    pub name: String,
    /// How codegen compiled it.
    pub class: KernelClass,
    /// Structural hash of its IR function (equal kernels have equal fingerprints).
    pub fingerprint: u64,
    /// Parameter types: the function's arguments, then its results.
    pub params: Vec<TensorType>,
    /// How many inputs come first in `params`.
    pub num_inputs: usize,
    /// Scratch buffers each run of the kernel needs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scratch: Vec<TensorType>,
    /// The launches that run it on the GPU, in order (empty in a CPU-only plan).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<EntryDecl>,
    /// How many steps run it.
    pub uses: usize,
}

/// Grid and block of a launch, and dynamic shared memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LaunchDims {
    /// Blocks in x, y, z.
    pub grid: [u32; 3],
    /// Threads per block in x, y, z.
    pub block: [u32; 3],
    /// Dynamic shared memory per block, in bytes.
    pub shared_mem_bytes: u32,
}

/// One launch of a PTX entry with its arguments resolved to buffers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Launch {
    /// The `.entry` symbol in `kernels.ptx`.
    pub entry: String,
    /// Grid, block and shared memory.
    #[serde(flatten)]
    pub dims: LaunchDims,
    /// One device pointer per entry parameter, in order.
    pub args: Vec<BufRef>,
}

/// One run of a kernel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelStep {
    /// The kernel's name (see [`Plan::kernels`] and `kernels.ir`).
    pub kernel: String,
    /// Buffers read, in the kernel function's argument order.
    pub inputs: Vec<BufRef>,
    /// Buffers written, in the kernel function's result order.
    pub outputs: Vec<BufRef>,
    /// Scratch buffers, in the kernel declaration's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scratch: Vec<BufRef>,
    /// The GPU launches, in order (empty in a CPU-only plan).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub launches: Vec<Launch>,
}

/// A (batched) matrix multiply, row-major:
/// `C[i] (m x n, leading dim ldc) = alpha * op(A[i]) * op(B[i]) + beta * C[i]` for batch
/// `i` in `0..batch`, where `A[i]` starts `i * stride_a` elements after `a`, and so on.
/// `op(X)` is `X` or its transpose: `A` is stored as `m x k` (or `k x m` when `trans_a`)
/// with leading dimension `lda`; `B` as `k x n` (or `n x k` when `trans_b`) with `ldb`.
/// A stride of 0 shares that operand across the batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GemmDesc {
    /// The IR value the GEMM computes (`C`).
    pub name: String,
    /// Rows of `C` and of `op(A)`.
    pub m: u64,
    /// Columns of `C` and of `op(B)`.
    pub n: u64,
    /// The contracted dimension.
    pub k: u64,
    /// Number of independent products.
    pub batch: u64,
    /// Whether `A` is stored transposed (`k x m`).
    pub trans_a: bool,
    /// Whether `B` is stored transposed (`n x k`).
    pub trans_b: bool,
    /// Leading dimension of `A` as stored, in elements.
    pub lda: u64,
    /// Leading dimension of `B` as stored, in elements.
    pub ldb: u64,
    /// Leading dimension of `C`, in elements.
    pub ldc: u64,
    /// Elements between consecutive batches of `A` (0: shared).
    pub stride_a: u64,
    /// Elements between consecutive batches of `B` (0: shared).
    pub stride_b: u64,
    /// Elements between consecutive batches of `C`.
    pub stride_c: u64,
    /// Element type of A, B and C.
    pub dtype: DType,
    /// Accumulation type.
    pub compute: DType,
    /// Scale of the product.
    pub alpha: f64,
    /// Scale of `C`'s previous contents (1 accumulates a split contraction).
    pub beta: f64,
    /// The `A` operand's buffer (the matrices start at its offset).
    pub a: BufRef,
    /// The `B` operand's buffer.
    pub b: BufRef,
    /// The result's buffer.
    pub c: BufRef,
}

/// The same GEMM as a column-major (cuBLAS/cuBLASLt) call: row-major `C = op(A) op(B)` is
/// column-major `C^T = op(B)^T op(A)^T`, so the operands swap and `m`/`n` swap; transpose
/// flags and leading dimensions carry over unchanged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnMajorGemm {
    /// Rows of the column-major result (the row-major `n`).
    pub m: u64,
    /// Columns of the column-major result (the row-major `m`).
    pub n: u64,
    /// The contracted dimension.
    pub k: u64,
    /// Transpose flag of the first operand (the row-major `trans_b`).
    pub trans_a: bool,
    /// Transpose flag of the second operand (the row-major `trans_a`).
    pub trans_b: bool,
    /// First operand (the row-major `B`).
    pub a: BufRef,
    /// Its leading dimension.
    pub lda: u64,
    /// Its batch stride.
    pub stride_a: u64,
    /// Second operand (the row-major `A`).
    pub b: BufRef,
    /// Its leading dimension.
    pub ldb: u64,
    /// Its batch stride.
    pub stride_b: u64,
    /// The result.
    pub c: BufRef,
    /// Its leading dimension.
    pub ldc: u64,
    /// Its batch stride.
    pub stride_c: u64,
    /// Number of independent products.
    pub batch: u64,
}

impl GemmDesc {
    /// The equivalent column-major call.
    pub fn column_major(&self) -> ColumnMajorGemm {
        ColumnMajorGemm {
            m: self.n,
            n: self.m,
            k: self.k,
            trans_a: self.trans_b,
            trans_b: self.trans_a,
            a: self.b,
            lda: self.ldb,
            stride_a: self.stride_b,
            b: self.a,
            ldb: self.lda,
            stride_b: self.stride_a,
            c: self.c,
            ldc: self.ldc,
            stride_c: self.stride_c,
            batch: self.batch,
        }
    }

    /// Multiply-adds times two (saturating at `u64::MAX`).
    pub fn flops(&self) -> u64 {
        [self.m, self.n, self.k, self.batch]
            .into_iter()
            .fold(2u64, u64::saturating_mul)
    }
}

/// One step of the plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    /// Run a kernel (one or more launches on the GPU).
    Kernel(KernelStep),
    /// A cuBLASLt-style GEMM.
    Gemm(GemmDesc),
    /// For every index `i` of `shape` (row-major order), element
    /// `src[src_offset + sum_k i_k * src_strides[k]]` is copied to
    /// `dst[dst_offset + sum_k i_k * dst_strides[k]]`; offsets and strides in elements of
    /// `dtype`. A transpose, a strided slice, one part of a concat.
    StridedCopy {
        /// Read from.
        src: BufRef,
        /// Written to.
        dst: BufRef,
        /// Element type of both.
        dtype: DType,
        /// The index space copied.
        shape: Vec<u64>,
        /// First source element.
        src_offset: u64,
        /// Source elements per step of each index.
        src_strides: Vec<u64>,
        /// First destination element.
        dst_offset: u64,
        /// Destination elements per step of each index.
        dst_strides: Vec<u64>,
    },
    /// `out[i, :] = table[indices[i], :]`: `indices` holds `count` i32 row numbers below
    /// `rows`; a row has `row_elems` elements of `dtype`.
    Gather {
        /// `rows x row_elems` elements.
        table: BufRef,
        /// `count` i32 row numbers.
        indices: BufRef,
        /// `count x row_elems` elements.
        out: BufRef,
        /// Element type of the table and the result.
        dtype: DType,
        /// Rows of the table.
        rows: u64,
        /// Rows gathered.
        count: u64,
        /// Elements per row.
        row_elems: u64,
    },
    /// `out = 0; out[indices[i], :] += updates[i, :]` (the gradient of a gather).
    ScatterAdd {
        /// `count` i32 row numbers.
        indices: BufRef,
        /// `count x row_elems` elements.
        updates: BufRef,
        /// `rows x row_elems` elements.
        out: BufRef,
        /// Element type of the updates and the result.
        dtype: DType,
        /// Rows of the result.
        rows: u64,
        /// Rows added.
        count: u64,
        /// Elements per row.
        row_elems: u64,
    },
    /// Set every byte of `dst` to `value`.
    Memset {
        /// The buffer to fill.
        dst: BufRef,
        /// The byte value.
        value: u8,
    },
    /// Copy `src` to `dst` (same size; used to write back an update that could not be
    /// computed in place).
    Copy {
        /// Read from.
        src: BufRef,
        /// Written to.
        dst: BufRef,
    },
    /// `dst = all_reduce(src)` over the data-parallel ranks (the IR's `all_reduce`): `src`
    /// copied to `dst` (unless they are the same bytes), summed over the ranks in place,
    /// divided by the world size for `mean`. Every rank runs the same plan, so every rank
    /// reaches its collectives in the same order.
    AllReduce {
        /// The rank's operand.
        src: BufRef,
        /// The combined result (the same size).
        dst: BufRef,
        /// Element type of both (f32).
        dtype: DType,
        /// How the ranks' values combine.
        op: crate::CollectiveKind,
    },
}

/// Totals of a plan, for reports.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanStats {
    /// Kernel steps.
    pub kernel_steps: usize,
    /// GPU launches of the kernel steps (a kernel may be several launches).
    pub launches: usize,
    /// GEMM calls.
    pub gemms: usize,
    /// Strided copies, gathers and scatter-adds issued as library steps.
    pub moves: usize,
    /// Distinct kernels.
    pub distinct_kernels: usize,
    /// Floating-point operations per step (GEMMs plus an estimate for kernels).
    pub flops: u64,
    /// Bytes read and written by all steps (each buffer reference counted once per step).
    pub bytes_moved: u64,
    /// Size of the parameter region.
    pub param_bytes: u64,
    /// Size of the optimizer-state region.
    pub state_bytes: u64,
    /// Size of the data-input region.
    pub input_bytes: u64,
    /// Peak of the activation region (its size).
    pub activation_bytes: u64,
    /// Sum of the sizes of every intermediate tensor the plan allocates, as if none
    /// shared memory: the denominator of the reuse factor.
    pub intermediate_sum_bytes: u64,
}

impl Plan {
    /// Parse `plan.json`, refusing other schema versions and plans that reference bytes
    /// outside the arena or buffers that do not exist.
    pub fn from_json(text: &str) -> Result<Plan, IrError> {
        #[derive(Deserialize)]
        struct VersionOnly {
            schema_version: u32,
        }
        let v: VersionOnly =
            serde_json::from_str(text).map_err(|e| IrError::Plan(e.to_string()))?;
        if v.schema_version != PLAN_SCHEMA_VERSION {
            return Err(IrError::Plan(format!(
                "schema version {}; this build reads version {PLAN_SCHEMA_VERSION}",
                v.schema_version
            )));
        }
        let plan: Plan = serde_json::from_str(text).map_err(|e| IrError::Plan(e.to_string()))?;
        plan.validate()?;
        Ok(plan)
    }

    /// Pretty JSON text of the plan.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a plan always serializes")
    }

    /// The result named `name`.
    pub fn output(&self, name: &str) -> Option<&OutputBinding> {
        self.outputs.iter().find(|o| o.name == name)
    }

    /// The argument named `name`.
    pub fn arg(&self, name: &str) -> Option<&ArgBinding> {
        self.args.iter().find(|a| a.name == name)
    }

    /// The kernel named `name`.
    pub fn kernel(&self, name: &str) -> Option<&KernelDecl> {
        self.kernels.iter().find(|k| k.name == name)
    }

    /// Check that every reference is in bounds and consistent with its buffer, and that
    /// every launch names a declared kernel with matching parameter sizes. All size and
    /// extent arithmetic is checked: a plan whose numbers overflow `u64` (or whose tensor
    /// types exceed [`crate::MAX_ELEMENTS`]) is an [`IrError::Plan`] naming the buffer,
    /// kernel or step and the field, never a panic; after `validate` succeeds, byte sizes
    /// and extents computed from the plan fit `u64`.
    pub fn validate(&self) -> Result<(), IrError> {
        let bad = |m: String| Err(IrError::Plan(m));
        if !self.alignment.is_power_of_two() {
            return bad(format!(
                "alignment {} is not a power of two",
                self.alignment
            ));
        }
        let mut region_end = 0u64;
        for (i, r) in self.regions.iter().enumerate() {
            let end = r.offset.checked_add(r.bytes);
            if r.offset < region_end || end.is_none_or(|e| e > self.arena_bytes) {
                return bad(format!(
                    "region {i} ({}, {} bytes at {}) overlaps the previous region or lies outside the {}-byte arena",
                    r.kind.name(),
                    r.bytes,
                    r.offset,
                    self.arena_bytes
                ));
            }
            region_end = end.unwrap_or(u64::MAX);
        }
        for (i, b) in self.buffers.iter().enumerate() {
            let Some(want) = b.ty().checked_size_bytes() else {
                return bad(format!(
                    "buffer {i} %{}: type {} has more than 2^48 elements",
                    b.name,
                    b.ty()
                ));
            };
            if b.bytes != want {
                return bad(format!(
                    "buffer {i} %{} is {} bytes but {}{:?} needs {want}",
                    b.name, b.bytes, b.dtype, b.shape
                ));
            }
            if b.offset
                .checked_add(b.bytes)
                .is_none_or(|e| e > self.arena_bytes)
            {
                return bad(format!(
                    "buffer {i} %{} ({} bytes at {}) lies outside the {}-byte arena",
                    b.name, b.bytes, b.offset, self.arena_bytes
                ));
            }
            if let Some(v) = b.view_of
                && v as usize >= self.buffers.len()
            {
                return bad(format!(
                    "buffer {i} %{} is a view of missing buffer {v}",
                    b.name
                ));
            }
        }
        let check_ref = |r: &BufRef, what: &str| -> Result<(), IrError> {
            let Some(b) = self.buffers.get(r.buffer as usize) else {
                return Err(IrError::Plan(format!(
                    "{what} refers to missing buffer {}",
                    r.buffer
                )));
            };
            if b.offset != r.offset || b.bytes != r.bytes {
                return Err(IrError::Plan(format!(
                    "{what} refers to %{} at {} ({} bytes), but the buffer is at {} ({} bytes)",
                    b.name, r.offset, r.bytes, b.offset, b.bytes
                )));
            }
            Ok(())
        };
        for a in &self.args {
            check_ref(
                &BufRef {
                    buffer: a.buffer,
                    offset: a.offset,
                    bytes: a.bytes,
                },
                &format!("argument %{}", a.name),
            )?;
        }
        for o in &self.outputs {
            check_ref(
                &BufRef {
                    buffer: o.buffer,
                    offset: o.offset,
                    bytes: o.bytes,
                },
                &format!("result %{}", o.name),
            )?;
            if let Some(u) = &o.updates
                && self.arg(u).is_none()
            {
                return bad(format!("result %{} updates unknown argument %{u}", o.name));
            }
        }
        for k in &self.kernels {
            if k.num_inputs > k.params.len() {
                return bad(format!(
                    "kernel {} has num_inputs {} but only {} parameters",
                    k.name,
                    k.num_inputs,
                    k.params.len()
                ));
            }
            for (j, t) in k.params.iter().chain(&k.scratch).enumerate() {
                if t.checked_size_bytes().is_none() {
                    return bad(format!(
                        "kernel {} parameter {j}: type {t} has more than 2^48 elements",
                        k.name
                    ));
                }
            }
        }
        for (i, s) in self.steps.iter().enumerate() {
            match s {
                Step::Kernel(l) => {
                    let Some(k) = self.kernel(&l.kernel) else {
                        return bad(format!("step {i} runs unknown kernel {}", l.kernel));
                    };
                    let refs: Vec<&BufRef> = l
                        .inputs
                        .iter()
                        .chain(&l.outputs)
                        .chain(&l.scratch)
                        .collect();
                    if l.inputs.len() != k.num_inputs
                        || l.inputs.len() + l.outputs.len() != k.params.len()
                        || l.scratch.len() != k.scratch.len()
                    {
                        return bad(format!(
                            "step {i} passes {} inputs, {} outputs and {} scratch buffers to {}, which takes {}, {} and {}",
                            l.inputs.len(),
                            l.outputs.len(),
                            l.scratch.len(),
                            k.name,
                            k.num_inputs,
                            k.params.len() - k.num_inputs,
                            k.scratch.len()
                        ));
                    }
                    let types = k.params.iter().chain(&k.scratch);
                    for (j, (r, p)) in refs.iter().zip(types).enumerate() {
                        check_ref(r, &format!("step {i} ({}) parameter {j}", k.name))?;
                        if r.bytes != p.size_bytes() as u64 {
                            return bad(format!(
                                "step {i} ({}) parameter {j} is {p} ({} bytes) but gets {} bytes",
                                k.name,
                                p.size_bytes(),
                                r.bytes
                            ));
                        }
                    }
                    if l.launches.len() != k.entries.len() {
                        return bad(format!(
                            "step {i} ({}) has {} launches, the kernel declares {}",
                            k.name,
                            l.launches.len(),
                            k.entries.len()
                        ));
                    }
                    for (launch, entry) in l.launches.iter().zip(&k.entries) {
                        let want: Vec<&BufRef> = entry
                            .params
                            .iter()
                            .map(|p| match *p {
                                ParamRef::Input(j) => l.inputs.get(j),
                                ParamRef::Output(j) => l.outputs.get(j),
                                ParamRef::Scratch(j) => l.scratch.get(j),
                            })
                            .collect::<Option<_>>()
                            .ok_or_else(|| {
                                IrError::Plan(format!(
                                    "kernel {} entry {} names a parameter the kernel does not have",
                                    k.name, entry.entry
                                ))
                            })?;
                        if launch.entry != entry.entry
                            || launch.dims != entry.dims
                            || launch.args.iter().collect::<Vec<_>>() != want
                        {
                            return bad(format!(
                                "step {i} ({}) launch of {} does not match the kernel's entry",
                                k.name, launch.entry
                            ));
                        }
                    }
                }
                Step::StridedCopy {
                    src,
                    dst,
                    dtype,
                    shape,
                    src_offset,
                    src_strides,
                    dst_offset,
                    dst_strides,
                } => {
                    check_ref(src, &format!("step {i} (strided copy source)"))?;
                    check_ref(dst, &format!("step {i} (strided copy destination)"))?;
                    if src_strides.len() != shape.len() || dst_strides.len() != shape.len() {
                        return bad(format!(
                            "step {i}: strided copy strides do not match its shape"
                        ));
                    }
                    let elem = dtype.size_bytes() as u64;
                    // Bytes up to and including the last element read or written, or None
                    // on overflow.
                    let extent = |off: u64, strides: &[u64]| {
                        shape
                            .iter()
                            .zip(strides)
                            .try_fold(off, |acc, (&n, &st)| {
                                acc.checked_add(n.saturating_sub(1).checked_mul(st)?)
                            })?
                            .checked_add(1)?
                            .checked_mul(elem)
                    };
                    if shape.contains(&0) {
                        continue;
                    }
                    for (what, field, r, off, st) in [
                        ("source", "src", src, *src_offset, src_strides),
                        ("destination", "dst", dst, *dst_offset, dst_strides),
                    ] {
                        match extent(off, st) {
                            None => {
                                return bad(format!(
                                    "step {i}: strided copy {what} extent overflows u64 ({field}_offset {off}, {field}_strides {st:?}, shape {shape:?})"
                                ));
                            }
                            Some(e) if e > r.bytes => {
                                return bad(format!(
                                    "step {i}: strided copy {what} reaches past its {}-byte buffer",
                                    r.bytes
                                ));
                            }
                            Some(_) => {}
                        }
                    }
                }
                Step::Gather {
                    table,
                    indices,
                    out,
                    dtype,
                    rows,
                    count,
                    row_elems,
                }
                | Step::ScatterAdd {
                    indices,
                    updates: table,
                    out,
                    dtype,
                    rows,
                    count,
                    row_elems,
                } => {
                    let gather = matches!(s, Step::Gather { .. });
                    let (tab, upd) = if gather { (table, out) } else { (out, table) };
                    for (r, w) in [(tab, "table"), (indices, "indices"), (upd, "rows")] {
                        check_ref(r, &format!("step {i} ({w})"))?;
                    }
                    let elem = dtype.size_bytes() as u64;
                    let bytes = |n: u64, field: &str| {
                        n.checked_mul(*row_elems)
                            .and_then(|x| x.checked_mul(elem))
                            .ok_or_else(|| {
                                IrError::Plan(format!(
                                    "step {i}: {field} {n} times row_elems {row_elems} overflows u64"
                                ))
                            })
                    };
                    let (tab_bytes, upd_bytes) = (bytes(*rows, "rows")?, bytes(*count, "count")?);
                    if tab.bytes != tab_bytes
                        || upd.bytes != upd_bytes
                        || Some(indices.bytes) != count.checked_mul(4)
                    {
                        return bad(format!(
                            "step {i}: a {} of {count} rows of {row_elems} elements from a {rows}-row table does not match its buffers",
                            if gather { "gather" } else { "scatter-add" }
                        ));
                    }
                }
                Step::Gemm(g) => {
                    let elem = g.dtype.size_bytes() as u64;
                    let (ra, ca) = if g.trans_a { (g.k, g.m) } else { (g.m, g.k) };
                    let (rb, cb) = if g.trans_b { (g.n, g.k) } else { (g.k, g.n) };
                    for (r, w, rows, cols, ld, stride) in [
                        (&g.a, "A", ra, ca, g.lda, g.stride_a),
                        (&g.b, "B", rb, cb, g.ldb, g.stride_b),
                        (&g.c, "C", g.m, g.n, g.ldc, g.stride_c),
                    ] {
                        check_ref(r, &format!("step {i} (gemm %{}) operand {w}", g.name))?;
                        let needed = g
                            .batch
                            .saturating_sub(1)
                            .checked_mul(stride)
                            .and_then(|x| x.checked_add(rows.saturating_sub(1).checked_mul(ld)?))
                            .and_then(|x| x.checked_add(cols))
                            .and_then(|x| x.checked_mul(elem));
                        let Some(needed) = needed else {
                            return bad(format!(
                                "step {i} (gemm %{}) operand {w}: {rows}x{cols} with leading dim {ld} and batch stride {stride} over {} batches overflows u64",
                                g.name, g.batch
                            ));
                        };
                        if ld < cols || needed > r.bytes {
                            return bad(format!(
                                "step {i} (gemm %{}) operand {w}: {rows}x{cols} with leading dim {ld} and batch stride {stride} over {} batches needs {needed} bytes, the buffer has {}",
                                g.name, g.batch, r.bytes
                            ));
                        }
                    }
                }
                Step::Memset { dst, .. } => check_ref(dst, &format!("step {i} (memset)"))?,
                Step::Copy { src, dst } => {
                    check_ref(src, &format!("step {i} (copy source)"))?;
                    check_ref(dst, &format!("step {i} (copy destination)"))?;
                    if src.bytes != dst.bytes {
                        return bad(format!(
                            "step {i} copies {} bytes into {} bytes",
                            src.bytes, dst.bytes
                        ));
                    }
                }
                Step::AllReduce {
                    src, dst, dtype, ..
                } => {
                    check_ref(src, &format!("step {i} (all_reduce operand)"))?;
                    check_ref(dst, &format!("step {i} (all_reduce result)"))?;
                    if *dtype != DType::F32 || src.bytes != dst.bytes {
                        return bad(format!(
                            "step {i}: an all_reduce of {} bytes of {dtype} into {} bytes (f32, equal sizes expected)",
                            src.bytes, dst.bytes
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buf(name: &str, offset: u64, shape: &[usize]) -> Buffer {
        Buffer {
            name: name.into(),
            offset,
            bytes: (shape.iter().product::<usize>() * 4) as u64,
            dtype: DType::F32,
            shape: shape.to_vec(),
            region: RegionKind::Activation,
            view_of: None,
        }
    }

    fn bref(plan: &Plan, i: u32) -> BufRef {
        let b = &plan.buffers[i as usize];
        BufRef {
            buffer: i,
            offset: b.offset,
            bytes: b.bytes,
        }
    }

    /// A 2x3 @ 3x4 GEMM followed by a 2x4 elementwise kernel.
    fn small_plan() -> Plan {
        let mut p = Plan {
            schema_version: PLAN_SCHEMA_VERSION,
            function: "step".into(),
            target: "sm_90".into(),
            alignment: PLAN_ALIGNMENT,
            arena_bytes: 1024,
            regions: vec![Region {
                kind: RegionKind::Activation,
                offset: 0,
                bytes: 1024,
            }],
            buffers: vec![
                buf("a", 0, &[2, 3]),
                buf("b", 256, &[3, 4]),
                buf("c", 512, &[2, 4]),
            ],
            args: vec![],
            outputs: vec![],
            kernels: vec![KernelDecl {
                name: "k".into(),
                class: KernelClass::Elementwise,
                fingerprint: 7,
                params: vec![TensorType::new(DType::F32, [2, 4]); 2],
                num_inputs: 1,
                scratch: vec![],
                entries: vec![EntryDecl {
                    entry: "k_entry".into(),
                    dims: LaunchDims {
                        grid: [1, 1, 1],
                        block: [128, 1, 1],
                        shared_mem_bytes: 0,
                    },
                    params: vec![ParamRef::Input(0), ParamRef::Output(0)],
                }],
                uses: 1,
            }],
            steps: vec![],
            stats: PlanStats::default(),
        };
        let (a, b, c) = (bref(&p, 0), bref(&p, 1), bref(&p, 2));
        p.steps.push(Step::Gemm(GemmDesc {
            name: "c".into(),
            m: 2,
            n: 4,
            k: 3,
            batch: 1,
            trans_a: false,
            trans_b: false,
            lda: 3,
            ldb: 4,
            ldc: 4,
            stride_a: 6,
            stride_b: 12,
            stride_c: 8,
            dtype: DType::F32,
            compute: DType::F32,
            alpha: 1.0,
            beta: 0.0,
            a,
            b,
            c,
        }));
        p.steps.push(Step::Kernel(KernelStep {
            kernel: "k".into(),
            inputs: vec![c],
            outputs: vec![c],
            scratch: vec![],
            launches: vec![Launch {
                entry: "k_entry".into(),
                dims: p.kernels[0].entries[0].dims,
                args: vec![c, c],
            }],
        }));
        p
    }

    #[test]
    fn json_round_trip_keeps_the_plan() {
        let p = small_plan();
        p.validate().unwrap();
        let text = p.to_json();
        assert!(text.contains("\"kind\": \"gemm\""), "{text}");
        assert!(
            text.contains("\"grid\""),
            "launch dims are flattened: {text}"
        );
        assert_eq!(Plan::from_json(&text).unwrap(), p);
    }

    #[test]
    fn other_schema_versions_are_refused() {
        let mut p = small_plan();
        p.schema_version = PLAN_SCHEMA_VERSION + 1;
        let err = Plan::from_json(&p.to_json()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "plan.json: schema version {}; this build reads version {}",
                PLAN_SCHEMA_VERSION + 1,
                PLAN_SCHEMA_VERSION
            )
        );
    }

    #[test]
    fn a_buffer_outside_the_arena_is_named() {
        let mut p = small_plan();
        p.buffers[2].offset = 1000;
        let err = p.validate().unwrap_err().to_string();
        assert!(
            err.contains("%c (32 bytes at 1000) lies outside the 1024-byte arena"),
            "{err}"
        );
    }

    #[test]
    fn a_gemm_reading_past_its_operand_is_refused() {
        let mut p = small_plan();
        if let Step::Gemm(g) = &mut p.steps[0] {
            g.lda = 4;
        }
        let err = p.validate().unwrap_err().to_string();
        assert!(err.contains("operand A: 2x3 with leading dim 4"), "{err}");
    }

    #[test]
    fn a_launch_with_the_wrong_parameter_size_is_refused() {
        let mut p = small_plan();
        let b = bref(&p, 1);
        if let Step::Kernel(l) = &mut p.steps[1] {
            l.inputs[0] = b;
        }
        let err = p.validate().unwrap_err().to_string();
        assert!(
            err.contains("parameter 0 is f32[2,4] (32 bytes) but gets 48 bytes"),
            "{err}"
        );
    }

    #[test]
    fn a_launch_must_match_its_kernel_entry() {
        let mut p = small_plan();
        let a = bref(&p, 0);
        if let Step::Kernel(l) = &mut p.steps[1] {
            l.launches[0].args[0] = a;
        }
        let err = p.validate().unwrap_err().to_string();
        assert!(err.contains("launch of k_entry does not match"), "{err}");
    }

    #[test]
    fn a_strided_copy_past_its_buffer_is_refused() {
        let mut p = small_plan();
        let (a, c) = (bref(&p, 0), bref(&p, 2));
        // Transpose a 2x3 into a 3x2: fine; with a source stride of 4 it reads past a.
        let copy = |src_strides: Vec<u64>| Step::StridedCopy {
            src: a,
            dst: c,
            dtype: DType::F32,
            shape: vec![3, 2],
            src_offset: 0,
            src_strides,
            dst_offset: 0,
            dst_strides: vec![2, 1],
        };
        p.steps.push(copy(vec![1, 3]));
        p.validate().unwrap();
        p.steps.push(copy(vec![1, 4]));
        let err = p.validate().unwrap_err().to_string();
        assert!(
            err.contains("strided copy source reaches past its 24-byte buffer"),
            "{err}"
        );
    }

    #[test]
    fn column_major_form_swaps_operands() {
        let p = small_plan();
        let Step::Gemm(g) = &p.steps[0] else {
            unreachable!()
        };
        let cm = g.column_major();
        assert_eq!((cm.m, cm.n, cm.k), (4, 2, 3));
        assert_eq!(cm.a, g.b);
        assert_eq!(cm.b, g.a);
        assert_eq!((cm.lda, cm.ldb, cm.ldc), (4, 3, 4));
        assert_eq!(g.flops(), 48);
    }
}

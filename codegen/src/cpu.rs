//! Running a kernel's generated code on the CPU, to check it numerically without a GPU.
//!
//! [`run_on_cpu`] plans the kernel exactly as [`crate::compile_kernels`] does and emits
//! every launch in the CPU flavor (see [`crate::Flavor`]): the same index math, loads,
//! stores, arithmetic and libdevice stand-ins, with the GPU's parallel primitives made
//! sequential. MLIR lowers the module to LLVM and its execution engine JIT-compiles and
//! runs the launches in order on host buffers. Agreement with the interpreter then checks
//! the generator's strategies, index math and op lowering; what only a GPU can check is
//! the `gpu` dialect's lowering (thread ids, `all_reduce`, shared memory, barriers) and
//! the NVVM approximations.

use crate::emit::flavor::Flavor;
use crate::emit::module_text;
use crate::emit::text::Sty;
use crate::error::{CodegenError, Result};
use crate::{ParamRef, mlir};
use llc_ir::{DType, Function, TensorType};
use melior::ExecutionEngine;
use std::collections::HashSet;

/// Host data of one buffer, in the dtype of the value it holds (16-bit floats as their
/// bit patterns).
#[derive(Clone, Debug, PartialEq)]
pub enum HostData {
    /// f32 values.
    F32(Vec<f32>),
    /// i32 values (token ids, targets).
    I32(Vec<i32>),
    /// Booleans (masks).
    Bool(Vec<bool>),
    /// bf16 or f16 bits.
    Half(Vec<u16>),
}

impl HostData {
    fn len(&self) -> usize {
        match self {
            HostData::F32(v) => v.len(),
            HostData::I32(v) => v.len(),
            HostData::Bool(v) => v.len(),
            HostData::Half(v) => v.len(),
        }
    }

    /// The values as f32 (bools as 0/1; 16-bit floats are returned as raw bits).
    pub fn to_f32(&self) -> Vec<f32> {
        match self {
            HostData::F32(v) => v.clone(),
            HostData::I32(v) => v.iter().map(|&x| x as f32).collect(),
            HostData::Bool(v) => v.iter().map(|&x| x as u8 as f32).collect(),
            HostData::Half(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }
}

/// A 16-byte-aligned byte buffer (kernels use aligned vector loads).
struct Aligned {
    words: Vec<u128>,
    bytes: usize,
}

impl Aligned {
    fn zeroed(bytes: usize) -> Aligned {
        Aligned {
            words: vec![0; bytes.div_ceil(16).max(1)],
            bytes,
        }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: the u128 storage is at least `bytes` long and any byte pattern is valid
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr() as *mut u8, self.bytes) }
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: as above, read-only
        unsafe { std::slice::from_raw_parts(self.words.as_ptr() as *const u8, self.bytes) }
    }

    fn from_host(ty: &TensorType, data: &HostData) -> Result<Aligned> {
        let bad = || {
            CodegenError::Cpu(format!(
                "a {} buffer cannot hold {} host values of that kind",
                ty,
                data.len()
            ))
        };
        if data.len() != ty.numel() {
            return Err(bad());
        }
        let storage = Sty::storage(ty.dtype).ok_or_else(bad)?;
        let mut a = Aligned::zeroed(ty.numel() * storage.bytes());
        let b = a.bytes_mut();
        match (data, ty.dtype) {
            (HostData::F32(v), DType::F32) => {
                for (c, x) in b.chunks_exact_mut(4).zip(v) {
                    c.copy_from_slice(&x.to_le_bytes());
                }
            }
            (HostData::I32(v), DType::I32) => {
                for (c, x) in b.chunks_exact_mut(4).zip(v) {
                    c.copy_from_slice(&x.to_le_bytes());
                }
            }
            (HostData::Bool(v), DType::Bool) => {
                for (c, &x) in b.iter_mut().zip(v) {
                    *c = x as u8;
                }
            }
            (HostData::Half(v), DType::BF16 | DType::F16) => {
                for (c, x) in b.chunks_exact_mut(2).zip(v) {
                    c.copy_from_slice(&x.to_le_bytes());
                }
            }
            _ => return Err(bad()),
        }
        Ok(a)
    }

    fn to_host(&self, ty: &TensorType) -> HostData {
        let b = self.bytes();
        match ty.dtype {
            DType::I32 => HostData::I32(
                b.chunks_exact(4)
                    .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")))
                    .collect(),
            ),
            DType::Bool => HostData::Bool(b.iter().map(|&x| x != 0).collect()),
            DType::BF16 | DType::F16 => HostData::Half(
                b.chunks_exact(2)
                    .map(|c| u16::from_le_bytes(c.try_into().expect("2 bytes")))
                    .collect(),
            ),
            _ => HostData::F32(
                b.chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                    .collect(),
            ),
        }
    }
}

/// Run kernel `f` on the CPU through its generated code; `args` in argument order.
/// Returns the outputs in order.
pub fn run_on_cpu(f: &Function, args: &[HostData]) -> Result<Vec<HostData>> {
    if args.len() != f.args().len() {
        return Err(CodegenError::Cpu(format!(
            "kernel `{}` takes {} arguments, got {}",
            f.name,
            f.args().len(),
            args.len()
        )));
    }
    let plan = crate::plan_kernel(&f.name, f, Flavor::Cpu)?;
    let (compiled, texts) = crate::emit_kernel(&f.name, &plan, Flavor::Cpu, &mut HashSet::new())?;
    let text = module_text(&texts, Flavor::Cpu, crate::Target::default());
    if let Ok(dir) = std::env::var("LLC_DUMP_CPU") {
        let _ = std::fs::write(format!("{dir}/{}.mlir", f.name), &text);
    }

    let mut inputs = Vec::new();
    for (&a, data) in f.args().iter().zip(args) {
        inputs.push(Aligned::from_host(f.ty(a), data)?);
    }
    let out_tys: Vec<TensorType> = f.outputs().iter().map(|o| f.ty(o.node).clone()).collect();
    let mut outputs: Vec<Aligned> = out_tys
        .iter()
        .map(|t| Aligned::zeroed(t.size_bytes()))
        .collect();
    let mut scratch: Vec<Aligned> = compiled
        .scratch
        .iter()
        .map(|t| Aligned::zeroed(t.size_bytes()))
        .collect();

    mlir::with_context(|ctx| -> Result<()> {
        let mut module = mlir::parse(ctx, &text)?;
        mlir::run_pipeline(ctx, &mut module, mlir::CPU_PIPELINE)?;
        let engine = ExecutionEngine::new(&module, 2, &[], false, false);
        for launch in &compiled.launches {
            let mut ptrs: Vec<*mut u8> = launch
                .params
                .iter()
                .map(|p| match *p {
                    ParamRef::Input(i) => inputs[i].words.as_mut_ptr() as *mut u8,
                    ParamRef::Output(j) => outputs[j].words.as_mut_ptr() as *mut u8,
                    ParamRef::Scratch(s) => scratch[s].words.as_mut_ptr() as *mut u8,
                })
                .collect();
            let mut range: [i64; 2] = [
                0,
                launch.launch.grid[0] as i64 * launch.launch.grid[1] as i64,
            ];
            let mut packed: Vec<*mut ()> = ptrs
                .iter_mut()
                .map(|p| p as *mut *mut u8 as *mut ())
                .chain(range.iter_mut().map(|r| r as *mut i64 as *mut ()))
                .collect();
            // The execution engine wraps every function `f` in `_mlir_f(void **args)`,
            // which unpacks one pointer per parameter (melior's `invoke_packed` wants a
            // C-interface wrapper, which bare-pointer functions do not get).
            let wrapper = engine.lookup(&format!("_mlir_{}", launch.entry));
            if wrapper.is_null() {
                return Err(CodegenError::Cpu(format!(
                    "the JIT has no entry `{}`",
                    launch.entry
                )));
            }
            // SAFETY: `_mlir_<entry>` has the signature `void(void **)`; every element of
            // `packed` points at a pointer to a live, 16-byte-aligned buffer of the size
            // its memref type declares (planned from the same types).
            unsafe {
                let f: extern "C" fn(*mut *mut ()) = std::mem::transmute(wrapper);
                f(packed.as_mut_ptr());
            }
        }
        Ok(())
    })?;
    Ok(outputs
        .iter()
        .zip(&out_tys)
        .map(|(b, t)| b.to_host(t))
        .collect())
}

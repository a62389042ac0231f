//! The MLIR side: one context per thread (dialects, passes and LLVM translations are
//! registered once), parsing and verifying generated text, running a pass pipeline and
//! reading the PTX out of the resulting `gpu.binary`.

use crate::error::{CodegenError, Result};
use melior::{
    Context,
    dialect::DialectRegistry,
    ir::{AttributeLike, BlockLike, Module, attribute::ArrayAttribute, operation::OperationLike},
    pass::PassManager,
    utility::{
        parse_pass_pipeline, register_all_dialects, register_all_llvm_translations,
        register_all_passes,
    },
};
use std::cell::RefCell;
use std::sync::Once;

thread_local! {
    /// Diagnostics MLIR reported on this thread since the last [`take_diagnostics`].
    static DIAGNOSTICS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    /// This thread's context, created on first use and kept for the thread's lifetime.
    static CONTEXT: &'static Context = new_context();
}

fn new_context() -> &'static Context {
    static PASSES: Once = Once::new();
    PASSES.call_once(register_all_passes);
    let registry = DialectRegistry::new();
    register_all_dialects(&registry);
    // one gpu.module is lowered as a whole, so a thread pool would only idle
    let ctx = Context::new_with_registry(&registry, false);
    ctx.load_all_available_dialects();
    register_all_llvm_translations(&ctx);
    ctx.attach_diagnostic_handler(|d| {
        DIAGNOSTICS.with(|v| v.borrow_mut().push(d.to_string()));
        true
    });
    Box::leak(Box::new(ctx))
}

/// Run `f` with this thread's MLIR context.
pub(crate) fn with_context<R>(f: impl FnOnce(&'static Context) -> R) -> R {
    CONTEXT.with(|c| f(c))
}

pub(crate) fn take_diagnostics() -> String {
    DIAGNOSTICS.with(|v| std::mem::take(&mut *v.borrow_mut()).join("\n"))
}

fn failure(stage: &str) -> CodegenError {
    let d = take_diagnostics();
    CodegenError::Mlir {
        stage: stage.to_string(),
        diagnostics: if d.is_empty() {
            "(no diagnostics)".to_string()
        } else {
            d
        },
    }
}

/// Parse and verify module text.
pub(crate) fn parse(ctx: &'static Context, text: &str) -> Result<Module<'static>> {
    take_diagnostics();
    let module = Module::parse(ctx, text).ok_or_else(|| failure("parsing"))?;
    if !module.as_operation().verify() {
        return Err(failure("verification"));
    }
    Ok(module)
}

/// Run a textual pass pipeline over `module`.
pub(crate) fn run_pipeline(
    ctx: &'static Context,
    module: &mut Module<'static>,
    pipeline: &str,
) -> Result<()> {
    take_diagnostics();
    let pm = PassManager::new(ctx);
    parse_pass_pipeline(pm.as_operation_pass_manager(), pipeline).map_err(|e| {
        CodegenError::Mlir {
            stage: "pipeline parsing".into(),
            diagnostics: e.to_string(),
        }
    })?;
    pm.run(module).map_err(|_| failure("lowering"))
}

/// The GPU pipeline: structured control flow to branches, `gpu`/`arith`/`math`/`memref`
/// /`vector` to NVVM with bare-pointer kernel parameters, then PTX for `target`.
/// The chip comes from the `gpu.module`'s `#nvvm.target`.
pub(crate) const GPU_PIPELINE: &str = "builtin.module(gpu.module(convert-scf-to-cf,convert-gpu-to-nvvm{use-bare-ptr-memref-call-conv=1},reconcile-unrealized-casts),gpu-module-to-binary{format=isa})";

/// The CPU pipeline: everything to the LLVM dialect, with bare-pointer function
/// parameters so the execution engine passes plain buffers. `arith-expand` with bf16
/// first: f32 → bf16 truncation becomes integer round-to-nearest-even, because on a CPU
/// without AVX512-BF16 LLVM would otherwise call `__truncsfbf2`, which Debian 12's libgcc
/// (GCC 12) does not have, and the kernels library would not load.
pub(crate) const CPU_PIPELINE: &str = "builtin.module(arith-expand{include-bf16=true},convert-scf-to-cf,convert-vector-to-llvm,finalize-memref-to-llvm,convert-arith-to-llvm,convert-func-to-llvm{use-bare-ptr-memref-call-conv=1},convert-cf-to-llvm,reconcile-unrealized-casts)";

/// The PTX text of the (single) `gpu.binary` in a lowered module.
pub(crate) fn extract_ptx(module: &Module<'static>) -> Result<String> {
    let body = module.body();
    let mut op = body.first_operation();
    while let Some(o) = op {
        if o.name().as_string_ref().as_str() == Ok("gpu.binary") {
            let objects = o
                .attribute("objects")
                .ok()
                .and_then(|a| ArrayAttribute::try_from(a).ok())
                .ok_or_else(|| failure("reading gpu.binary objects"))?;
            let obj = objects
                .element(0)
                .map_err(|_| failure("reading the gpu.binary object"))?;
            // SAFETY: `obj` is a #gpu.object attribute of the binary op, alive with the
            // module; the returned string ref points into the attribute's storage and is
            // copied out immediately.
            let bytes = unsafe {
                let s = mlir_sys::mlirGPUObjectAttrGetObject(obj.to_raw());
                std::slice::from_raw_parts(s.data as *const u8, s.length).to_vec()
            };
            return String::from_utf8(bytes).map_err(|e| CodegenError::Mlir {
                stage: "reading PTX".into(),
                diagnostics: e.to_string(),
            });
        }
        op = o.next_in_block();
    }
    Err(failure("finding the gpu.binary"))
}

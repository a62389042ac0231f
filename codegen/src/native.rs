//! Native code for a CPU target: the CPU-flavor module, lowered by MLIR to the LLVM
//! dialect, translated to LLVM IR, optimized at O3 for the target CPU (with 512-bit
//! vectors preferred where the CPU has AVX-512), emitted as a position-independent
//! object and linked into a shared object that a runtime loads with `dlopen` — no MLIR
//! or LLVM needed to run it.
//!
//! Everything up to the object runs in-process through LLVM's C API (LLVM is linked
//! into this crate with MLIR); the last step runs the system C compiler driver
//! (`cc -shared`, or `$LLC_CC`) as a linker.

use crate::error::{CodegenError, Result};
use crate::mlir;
use crate::target::Target;
use llc_ir::artifact::{NATIVE_LIB_FILE, NativeCode, X86_FEATURES, x86_level_features};
use llc_ir::fsutil::FsError;
use std::ffi::{CStr, CString, c_char, c_void};
use std::path::Path;
use std::sync::Once;

type LLVMContextRef = *mut c_void;
type LLVMModuleRef = *mut c_void;
type LLVMTargetRef = *mut c_void;
type LLVMTargetMachineRef = *mut c_void;
type LLVMTargetDataRef = *mut c_void;
type LLVMPassBuilderOptionsRef = *mut c_void;
type LLVMErrorRef = *mut c_void;
type LLVMMemoryBufferRef = *mut c_void;
type LLVMValueRef = *mut c_void;
type LLVMAttributeRef = *mut c_void;

const CODEGEN_OPT_AGGRESSIVE: u32 = 3;
const RELOC_PIC: u32 = 2;
const CODE_MODEL_DEFAULT: u32 = 0;
const OBJECT_FILE: u32 = 1;
const FUNCTION_INDEX: u32 = u32::MAX;

unsafe extern "C" {
    fn mlirTranslateModuleToLLVMIR(
        module: mlir_sys::MlirOperation,
        context: LLVMContextRef,
    ) -> LLVMModuleRef;
    fn LLVMContextCreate() -> LLVMContextRef;
    fn LLVMContextDispose(c: LLVMContextRef);
    fn LLVMDisposeModule(m: LLVMModuleRef);
    fn LLVMInitializeX86TargetInfo();
    fn LLVMInitializeX86Target();
    fn LLVMInitializeX86TargetMC();
    fn LLVMInitializeX86AsmPrinter();
    fn LLVMGetDefaultTargetTriple() -> *mut c_char;
    fn LLVMGetHostCPUName() -> *mut c_char;
    fn LLVMGetHostCPUFeatures() -> *mut c_char;
    fn LLVMDisposeMessage(m: *mut c_char);
    fn LLVMGetTargetFromTriple(
        triple: *const c_char,
        t: *mut LLVMTargetRef,
        err: *mut *mut c_char,
    ) -> i32;
    fn LLVMCreateTargetMachine(
        t: LLVMTargetRef,
        triple: *const c_char,
        cpu: *const c_char,
        features: *const c_char,
        level: u32,
        reloc: u32,
        code_model: u32,
    ) -> LLVMTargetMachineRef;
    fn LLVMDisposeTargetMachine(tm: LLVMTargetMachineRef);
    fn LLVMCreateTargetDataLayout(tm: LLVMTargetMachineRef) -> LLVMTargetDataRef;
    fn LLVMDisposeTargetData(d: LLVMTargetDataRef);
    fn LLVMSetModuleDataLayout(m: LLVMModuleRef, d: LLVMTargetDataRef);
    fn LLVMSetTarget(m: LLVMModuleRef, triple: *const c_char);
    fn LLVMCreatePassBuilderOptions() -> LLVMPassBuilderOptionsRef;
    fn LLVMDisposePassBuilderOptions(o: LLVMPassBuilderOptionsRef);
    fn LLVMRunPasses(
        m: LLVMModuleRef,
        passes: *const c_char,
        tm: LLVMTargetMachineRef,
        o: LLVMPassBuilderOptionsRef,
    ) -> LLVMErrorRef;
    fn LLVMGetErrorMessage(e: LLVMErrorRef) -> *mut c_char;
    fn LLVMDisposeErrorMessage(m: *mut c_char);
    fn LLVMTargetMachineEmitToMemoryBuffer(
        tm: LLVMTargetMachineRef,
        m: LLVMModuleRef,
        codegen: u32,
        err: *mut *mut c_char,
        out: *mut LLVMMemoryBufferRef,
    ) -> i32;
    fn LLVMGetBufferStart(b: LLVMMemoryBufferRef) -> *const c_char;
    fn LLVMGetBufferSize(b: LLVMMemoryBufferRef) -> usize;
    fn LLVMDisposeMemoryBuffer(b: LLVMMemoryBufferRef);
    fn LLVMPrintModuleToString(m: LLVMModuleRef) -> *mut c_char;
    fn LLVMGetFirstFunction(m: LLVMModuleRef) -> LLVMValueRef;
    fn LLVMGetNextFunction(f: LLVMValueRef) -> LLVMValueRef;
    fn LLVMCreateStringAttribute(
        c: LLVMContextRef,
        k: *const c_char,
        klen: u32,
        v: *const c_char,
        vlen: u32,
    ) -> LLVMAttributeRef;
    fn LLVMAddAttributeAtIndex(f: LLVMValueRef, idx: u32, a: LLVMAttributeRef);
}

fn fail(stage: &str, msg: impl Into<String>) -> CodegenError {
    CodegenError::Native {
        stage: stage.to_string(),
        msg: msg.into(),
    }
}

/// Take ownership of an LLVM-allocated message.
fn take_message(p: *mut c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: LLVM returned a NUL-terminated string that we own and free once.
    unsafe {
        let s = CStr::from_ptr(p).to_string_lossy().into_owned();
        LLVMDisposeMessage(p);
        s
    }
}

/// The CPU name and feature string LLVM is given for `target`, and the features (in
/// [`X86_FEATURES`] spelling) the artifact records as required.
fn cpu_of(target: Target) -> Result<(String, String, Vec<String>)> {
    match target {
        Target::CpuNative => {
            // SAFETY: both return owned, NUL-terminated strings.
            let cpu = take_message(unsafe { LLVMGetHostCPUName() });
            let feats = take_message(unsafe { LLVMGetHostCPUFeatures() });
            let mut required: Vec<String> = feats
                .split(',')
                .filter_map(|f| f.strip_prefix('+'))
                .filter(|f| X86_FEATURES.contains(f))
                .map(str::to_string)
                .collect();
            required.sort();
            Ok((cpu, feats, required))
        }
        Target::X86_64V3 | Target::X86_64V4 => {
            let level = target.name();
            let required = x86_level_features(level)
                .ok_or_else(|| fail("target", format!("unknown x86-64 level {level}")))?
                .into_iter()
                .map(str::to_string)
                .collect();
            Ok((level.to_string(), String::new(), required))
        }
        Target::Sm80 | Target::Sm90 => Err(fail(
            "target",
            format!("{target} is a GPU target, not a CPU one"),
        )),
    }
}

/// Compiled native code: the shared object's bytes and its description.
#[derive(Clone, Debug)]
pub struct NativeModule {
    /// What the code needs of a host (written as `native.json`).
    pub code: NativeCode,
    /// The shared object (written as `kernels.so`).
    pub library: Vec<u8>,
    /// The optimized LLVM IR, for dumps.
    pub llvm_ir: String,
}

/// Compile `text`, a CPU-flavor module whose entries are `entries` (name, buffer
/// parameters), to a shared object for `target`.
pub(crate) fn compile(
    text: &str,
    entries: &[(String, usize)],
    target: Target,
) -> Result<NativeModule> {
    static INIT: Once = Once::new();
    // SAFETY: LLVM's target initializers are idempotent registrations, run once.
    INIT.call_once(|| unsafe {
        LLVMInitializeX86TargetInfo();
        LLVMInitializeX86Target();
        LLVMInitializeX86TargetMC();
        LLVMInitializeX86AsmPrinter();
    });
    let (cpu, features, required) = cpu_of(target)?;
    let object = mlir::with_context(|ctx| -> Result<(Vec<u8>, String, String)> {
        let lowered = {
            let mut module = mlir::parse(ctx, text)?;
            mlir::run_pipeline(ctx, &mut module, mlir::CPU_PIPELINE)?;
            module.as_operation().to_string()
        };
        // the packed entries call the lowered (bare-pointer) entries, so they are added
        // to the LLVM-dialect module
        let end = lowered
            .rfind('}')
            .ok_or_else(|| fail("packing entries", "the lowered module has no body"))?;
        let mut with_packed = lowered[..end].to_string();
        for (entry, params) in entries {
            with_packed.push_str(&crate::emit::packed_entry(entry, *params));
        }
        with_packed.push_str("}\n");
        let module = mlir::parse(ctx, &with_packed)?;
        if let Ok(dir) = std::env::var("LLC_DUMP_NATIVE") {
            let _ = std::fs::write(
                format!("{dir}/lowered.mlir"),
                module.as_operation().to_string(),
            );
            let _ = std::fs::write(format!("{dir}/input.mlir"), text);
        }
        mlir::take_diagnostics();
        // SAFETY: every LLVM object created here is disposed of before returning; the
        // MLIR module outlives the translation, which copies what it needs.
        unsafe {
            let lctx = LLVMContextCreate();
            let m = mlirTranslateModuleToLLVMIR(module.as_operation().to_raw(), lctx);
            if m.is_null() {
                LLVMContextDispose(lctx);
                return Err(fail(
                    "translation to LLVM IR",
                    format!(
                        "MLIR could not translate the module: {}",
                        mlir::take_diagnostics()
                    ),
                ));
            }
            let r = optimize_and_emit(lctx, m, &cpu, &features);
            LLVMDisposeModule(m);
            LLVMContextDispose(lctx);
            r
        }
    })?;
    let (obj, triple, llvm_ir) = object;
    if let Ok(dir) = std::env::var("LLC_DUMP_NATIVE") {
        let _ = std::fs::write(format!("{dir}/kernels.ll"), &llvm_ir);
    }
    let library = link_shared(&obj)?;
    Ok(NativeModule {
        code: NativeCode {
            triple,
            cpu,
            features: required,
            library: NATIVE_LIB_FILE.to_string(),
            entry_suffix: crate::emit::packed_name(""),
        },
        library,
        llvm_ir,
    })
}

/// O3 for `cpu`, then an object file. Returns (object, triple, optimized IR).
///
/// # Safety
/// `lctx` and `m` must be a live LLVM context and a module in it.
unsafe fn optimize_and_emit(
    lctx: LLVMContextRef,
    m: LLVMModuleRef,
    cpu: &str,
    features: &str,
) -> Result<(Vec<u8>, String, String)> {
    unsafe {
        let triple = take_message(LLVMGetDefaultTargetTriple());
        let c_triple = CString::new(triple.clone()).expect("no NUL in a triple");
        let mut t: LLVMTargetRef = std::ptr::null_mut();
        let mut err: *mut c_char = std::ptr::null_mut();
        if LLVMGetTargetFromTriple(c_triple.as_ptr(), &mut t, &mut err) != 0 {
            return Err(fail("target lookup", take_message(err)));
        }
        let c_cpu = CString::new(cpu).expect("no NUL in a CPU name");
        let c_feat = CString::new(features).expect("no NUL in a feature string");
        let tm = LLVMCreateTargetMachine(
            t,
            c_triple.as_ptr(),
            c_cpu.as_ptr(),
            c_feat.as_ptr(),
            CODEGEN_OPT_AGGRESSIVE,
            RELOC_PIC,
            CODE_MODEL_DEFAULT,
        );
        if tm.is_null() {
            return Err(fail(
                "target machine",
                format!("LLVM has no target machine for {cpu}"),
            ));
        }
        let dl = LLVMCreateTargetDataLayout(tm);
        LLVMSetModuleDataLayout(m, dl);
        LLVMSetTarget(m, c_triple.as_ptr());
        // 512-bit vectors where the CPU has them (LLVM's tuning otherwise prefers 256)
        let (k, v) = ("prefer-vector-width", "512");
        let attr = LLVMCreateStringAttribute(
            lctx,
            k.as_ptr() as *const c_char,
            k.len() as u32,
            v.as_ptr() as *const c_char,
            v.len() as u32,
        );
        let mut f = LLVMGetFirstFunction(m);
        while !f.is_null() {
            LLVMAddAttributeAtIndex(f, FUNCTION_INDEX, attr);
            f = LLVMGetNextFunction(f);
        }
        let opts = LLVMCreatePassBuilderOptions();
        let passes = CString::new("default<O3>").expect("static");
        let e = LLVMRunPasses(m, passes.as_ptr(), tm, opts);
        LLVMDisposePassBuilderOptions(opts);
        if !e.is_null() {
            let p = LLVMGetErrorMessage(e);
            let msg = CStr::from_ptr(p).to_string_lossy().into_owned();
            LLVMDisposeErrorMessage(p);
            LLVMDisposeTargetData(dl);
            LLVMDisposeTargetMachine(tm);
            return Err(fail("LLVM optimization", msg));
        }
        let llvm_ir = take_message(LLVMPrintModuleToString(m));
        let mut buf: LLVMMemoryBufferRef = std::ptr::null_mut();
        let mut err: *mut c_char = std::ptr::null_mut();
        let failed = LLVMTargetMachineEmitToMemoryBuffer(tm, m, OBJECT_FILE, &mut err, &mut buf);
        LLVMDisposeTargetData(dl);
        LLVMDisposeTargetMachine(tm);
        if failed != 0 {
            return Err(fail("object emission", take_message(err)));
        }
        let obj = std::slice::from_raw_parts(
            LLVMGetBufferStart(buf) as *const u8,
            LLVMGetBufferSize(buf),
        )
        .to_vec();
        LLVMDisposeMemoryBuffer(buf);
        Ok((obj, triple, llvm_ir))
    }
}

/// Link an object file into a shared object with the system compiler driver.
fn link_shared(obj: &[u8]) -> Result<Vec<u8>> {
    let io = |p: &Path, e: std::io::Error| CodegenError::NativeIo {
        stage: "link",
        source: FsError::new(p, e),
    };
    let tmp = tempfile::tempdir().map_err(|e| io(&std::env::temp_dir(), e))?;
    let o = tmp.path().join("kernels.o");
    let so = tmp.path().join(NATIVE_LIB_FILE);
    std::fs::write(&o, obj).map_err(|e| io(&o, e))?;
    let cc = std::env::var("LLC_CC").unwrap_or_else(|_| "cc".to_string());
    let out = std::process::Command::new(&cc)
        .arg("-shared")
        .arg("-o")
        .arg(&so)
        .arg(&o)
        .arg("-lm")
        .output()
        .map_err(|e| {
            fail(
                "link",
                format!("cannot run `{cc}` to link the kernels' shared object ({e}); install a C compiler (build-essential) or set LLC_CC"),
            )
        })?;
    if out.status.success() {
        std::fs::read(&so).map_err(|e| io(&so, e))
    } else {
        Err(fail(
            "link",
            format!(
                "`{cc} -shared` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ))
    }
}

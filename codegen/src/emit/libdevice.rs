//! Stand-ins for the libdevice functions the `math` dialect lowers to.
//!
//! `convert-gpu-to-nvvm` turns `math.exp` into a call of `__nv_expf` (and likewise for
//! every `math` op, even `sqrt` and `absf`), which normally comes from the CUDA toolkit's
//! libdevice. Codegen defines the ones a module uses itself, in the LLVM dialect, on top
//! of NVVM intrinsics, so no toolkit is needed to compile. Accuracy (f32):
//!
//! | function | method | accuracy |
//! |---|---|---|
//! | `exp` | Cody–Waite reduction by `ln 2`, `ex2.approx` on the reduced argument, exact scaling by `2^j` | ~2 ulp over the whole range; 0 below −104, ∞ above 89 |
//! | `exp2` | `ex2.approx.ftz` | ~2 ulp (subnormal results flush to 0) |
//! | `log` | `lg2.approx · ln 2` | abs. error ~1.6e-7 (relative error grows near 1) |
//! | `sqrt` | `sqrt.rn` | correctly rounded |
//! | `rsqrt` | `rsqrt.approx` | ~2 ulp |
//! | `sin`, `cos` | reduction to `[−π, π]` by a 3-part `2π`, then `sin/cos.approx` | abs. error ~1e-6 for \|x\| up to ~1e5 |
//! | `tanh` | odd Taylor polynomial below 0.25, `(1 − e^{−2x})/(1 + e^{−2x})` above | ~3 ulp |
//! | `pow` | `ex2(b · lg2\|a\|)`, sign for odd integer `b` | relative error ~`\|b·log2 a\|·2^-22` |
//! | `abs` | `fabs` | exact |
//!
//! The CPU flavor uses the same definitions with each NVVM approximation replaced by the
//! exact LLVM intrinsic, so the CPU check exercises the reductions around them.

use crate::emit::flavor::Flavor;
use std::fmt::Write as _;

/// A math function kernels call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum MathFn {
    Exp,
    Exp2,
    Log,
    Sqrt,
    Rsqrt,
    Sin,
    Cos,
    Tanh,
    Pow,
    Abs,
}

impl MathFn {
    /// The `math` dialect op.
    pub(crate) fn op(self) -> &'static str {
        match self {
            MathFn::Exp => "math.exp",
            MathFn::Exp2 => "math.exp2",
            MathFn::Log => "math.log",
            MathFn::Sqrt => "math.sqrt",
            MathFn::Rsqrt => "math.rsqrt",
            MathFn::Sin => "math.sin",
            MathFn::Cos => "math.cos",
            MathFn::Tanh => "math.tanh",
            MathFn::Pow => "math.powf",
            MathFn::Abs => "math.absf",
        }
    }

    /// The libdevice symbol the op lowers to.
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            MathFn::Exp => "__nv_expf",
            MathFn::Exp2 => "__nv_exp2f",
            MathFn::Log => "__nv_logf",
            MathFn::Sqrt => "__nv_sqrtf",
            MathFn::Rsqrt => "__nv_rsqrtf",
            MathFn::Sin => "__nv_sinf",
            MathFn::Cos => "__nv_cosf",
            MathFn::Tanh => "__nv_tanhf",
            MathFn::Pow => "__nv_powf",
            MathFn::Abs => "__nv_fabsf",
        }
    }

    /// Number of f32 arguments.
    pub(crate) fn arity(self) -> usize {
        if self == MathFn::Pow { 2 } else { 1 }
    }

    /// Other functions this one's definition calls.
    fn deps(self) -> &'static [MathFn] {
        match self {
            MathFn::Tanh => &[MathFn::Exp],
            _ => &[],
        }
    }
}

/// Definitions of `used` and of what they call, for `flavor`, as `llvm.func` ops.
pub(crate) fn definitions(used: &[MathFn], flavor: Flavor, indent: usize) -> String {
    let mut all: Vec<MathFn> = used.to_vec();
    let mut i = 0;
    while i < all.len() {
        for &d in all[i].deps() {
            if !all.contains(&d) {
                all.push(d);
            }
        }
        i += 1;
    }
    all.sort_unstable();
    let pad = "  ".repeat(indent);
    let mut s = String::new();
    for f in all {
        for line in definition(f, flavor).lines() {
            let _ = writeln!(s, "{pad}{line}");
        }
    }
    s
}

/// A one-argument primitive: the NVVM approximation on the GPU, its exact LLVM
/// counterpart on the CPU.
fn prim(flavor: Flavor, nvvm: &str, exact: &str, x: &str) -> String {
    match flavor {
        Flavor::Gpu => format!("llvm.call_intrinsic \"{nvvm}\"({x}) : (f32) -> f32"),
        Flavor::Cpu => format!("llvm.intr.{exact}({x}) : (f32) -> f32"),
    }
}

fn ex2(flavor: Flavor, x: &str) -> String {
    prim(flavor, "llvm.nvvm.ex2.approx.ftz.f", "exp2", x)
}

fn lg2(flavor: Flavor, x: &str) -> String {
    prim(flavor, "llvm.nvvm.lg2.approx.f", "log2", x)
}

/// Intrinsics `convert-gpu-to-nvvm` marks illegal as LLVM dialect ops (it wants libdevice
/// calls for them); on the GPU they are spelled as `llvm.call_intrinsic` of the same
/// intrinsic, which NVPTX selects directly (`sqrt.rn`, `abs`, `cvt.rni`, `copysign`).
const NVVM_ILLEGAL: [&str; 4] = ["sqrt", "fabs", "roundeven", "copysign"];

fn definition(f: MathFn, flavor: Flavor) -> String {
    let text = definition_text(f, flavor);
    match flavor {
        Flavor::Cpu => text,
        Flavor::Gpu => NVVM_ILLEGAL.iter().fold(text, |t, name| {
            t.replace(
                &format!("llvm.intr.{name}("),
                &format!("llvm.call_intrinsic \"llvm.{name}.f32\"("),
            )
        }),
    }
}

fn definition_text(f: MathFn, flavor: Flavor) -> String {
    let head = |body: &str| {
        let args = if f.arity() == 2 {
            "%x: f32, %y: f32"
        } else {
            "%x: f32"
        };
        format!(
            "llvm.func internal @{}({args}) -> f32 {{\n{}}}\n",
            f.symbol(),
            body.lines()
                .map(|l| format!("  {}\n", l.trim()))
                .collect::<String>()
        )
    };
    let k = |name: &str, hex: &str| format!("{name} = llvm.mlir.constant({hex} : f32) : f32");
    match f {
        MathFn::Exp => head(&format!(
            "{}\n{}\n{}\n{}\n{}\n\
             %c = llvm.intr.maxnum(%x, %lo) : (f32, f32) -> f32\n\
             %cc = llvm.intr.minnum(%c, %hi) : (f32, f32) -> f32\n\
             %t = llvm.fmul %cc, %log2e : f32\n\
             %j = llvm.intr.roundeven(%t) : (f32) -> f32\n\
             %f1 = llvm.intr.fma(%j, %nln2hi, %x) : (f32, f32, f32) -> f32\n\
             %f = llvm.intr.fma(%j, %nln2lo, %f1) : (f32, f32, f32) -> f32\n\
             %ft = llvm.fmul %f, %log2e : f32\n\
             %e = {}\n\
             %ji = llvm.fptosi %j : f32 to i32\n\
             %one = llvm.mlir.constant(1 : i32) : i32\n\
             %bias = llvm.mlir.constant(127 : i32) : i32\n\
             %sh = llvm.mlir.constant(23 : i32) : i32\n\
             %h1 = llvm.ashr %ji, %one : i32\n\
             %h2 = llvm.sub %ji, %h1 : i32\n\
             %b1 = llvm.add %h1, %bias : i32\n\
             %b2 = llvm.add %h2, %bias : i32\n\
             %e1 = llvm.shl %b1, %sh : i32\n\
             %e2 = llvm.shl %b2, %sh : i32\n\
             %s1 = llvm.bitcast %e1 : i32 to f32\n\
             %s2 = llvm.bitcast %e2 : i32 to f32\n\
             %r1 = llvm.fmul %e, %s1 : f32\n\
             %r = llvm.fmul %r1, %s2 : f32\n\
             llvm.return %r : f32",
            k("%log2e", "0x3FB8AA3B"),
            k("%nln2hi", "0xBF317200"),
            k("%nln2lo", "0xB5BFBE8E"),
            k("%lo", "0xC2D00000"),
            k("%hi", "0x42B20000"),
            ex2(flavor, "%ft"),
        )),
        MathFn::Exp2 => head(&format!("%r = {}\nllvm.return %r : f32", ex2(flavor, "%x"))),
        MathFn::Log => head(&format!(
            "{}\n%l = {}\n%r = llvm.fmul %l, %ln2 : f32\nllvm.return %r : f32",
            k("%ln2", "0x3F317218"),
            lg2(flavor, "%x")
        )),
        MathFn::Sqrt => head("%r = llvm.intr.sqrt(%x) : (f32) -> f32\nllvm.return %r : f32"),
        MathFn::Abs => head("%r = llvm.intr.fabs(%x) : (f32) -> f32\nllvm.return %r : f32"),
        MathFn::Rsqrt => head(&match flavor {
            Flavor::Gpu => {
                "%r = llvm.call_intrinsic \"llvm.nvvm.rsqrt.approx.f\"(%x) : (f32) -> f32\n\
                            llvm.return %r : f32"
                    .to_string()
            }
            Flavor::Cpu => format!(
                "{}\n%s = llvm.intr.sqrt(%x) : (f32) -> f32\n%r = llvm.fdiv %one, %s : f32\nllvm.return %r : f32",
                k("%one", "0x3F800000")
            ),
        }),
        MathFn::Sin | MathFn::Cos => {
            let (nvvm, exact) = if f == MathFn::Sin {
                ("llvm.nvvm.sin.approx.f", "sin")
            } else {
                ("llvm.nvvm.cos.approx.f", "cos")
            };
            head(&format!(
                "{}\n{}\n{}\n{}\n\
                 %t = llvm.fmul %x, %inv2pi : f32\n\
                 %k = llvm.intr.roundeven(%t) : (f32) -> f32\n\
                 %r1 = llvm.intr.fma(%k, %n2pihi, %x) : (f32, f32, f32) -> f32\n\
                 %r2 = llvm.intr.fma(%k, %n2pimid, %r1) : (f32, f32, f32) -> f32\n\
                 %rr = llvm.intr.fma(%k, %n2pilo, %r2) : (f32, f32, f32) -> f32\n\
                 %r = {}\n\
                 llvm.return %r : f32",
                k("%inv2pi", "0x3E22F983"),
                k("%n2pihi", "0xC0C90000"),
                k("%n2pimid", "0xBAFDA000"),
                k("%n2pilo", "0xB4A22169"),
                prim(flavor, nvvm, exact, "%rr"),
            ))
        }
        MathFn::Tanh => head(&format!(
            "{}\n{}\n{}\n{}\n{}\n{}\n{}\n\
             %a = llvm.intr.fabs(%x) : (f32) -> f32\n\
             %x2 = llvm.fmul %x, %x : f32\n\
             %p1 = llvm.intr.fma(%x2, %c9, %c7) : (f32, f32, f32) -> f32\n\
             %p2 = llvm.intr.fma(%x2, %p1, %c5) : (f32, f32, f32) -> f32\n\
             %p3 = llvm.intr.fma(%x2, %p2, %c3) : (f32, f32, f32) -> f32\n\
             %p4 = llvm.fmul %x2, %p3 : f32\n\
             %small = llvm.intr.fma(%x, %p4, %x) : (f32, f32, f32) -> f32\n\
             %m2a = llvm.fmul %a, %m2 : f32\n\
             %t = llvm.call @__nv_expf(%m2a) : (f32) -> f32\n\
             %num = llvm.fsub %one, %t : f32\n\
             %den = llvm.fadd %one, %t : f32\n\
             %q = llvm.fdiv %num, %den : f32\n\
             %big = llvm.intr.copysign(%q, %x) : (f32, f32) -> f32\n\
             %is_small = llvm.fcmp \"olt\" %a, %quarter : f32\n\
             %r = llvm.select %is_small, %small, %big : i1, f32\n\
             llvm.return %r : f32",
            k("%one", "0x3F800000"),
            k("%m2", "0xC0000000"),
            k("%quarter", "0x3E800000"),
            // tanh x = x - x^3/3 + 2x^5/15 - 17x^7/315 + 62x^9/2835
            k("%c3", "0xBEAAAAAB"),
            k("%c5", "0x3E088889"),
            k("%c7", "0xBD5D0DD1"),
            k("%c9", "0x3CB327A4"),
        )),
        MathFn::Pow => head(&format!(
            "{}\n{}\n{}\n\
             %a = llvm.intr.fabs(%x) : (f32) -> f32\n\
             %l = {}\n\
             %yl = llvm.fmul %y, %l : f32\n\
             %m = {}\n\
             %yr = llvm.intr.roundeven(%y) : (f32) -> f32\n\
             %is_int = llvm.fcmp \"oeq\" %yr, %y : f32\n\
             %hy = llvm.fmul %y, %half : f32\n\
             %hyr = llvm.intr.roundeven(%hy) : (f32) -> f32\n\
             %is_even = llvm.fcmp \"oeq\" %hyr, %hy : f32\n\
             %neg = llvm.fneg %m : f32\n\
             %odd = llvm.select %is_even, %m, %neg : i1, f32\n\
             %nan = llvm.mlir.constant(0x7FC00000 : f32) : f32\n\
             %neg_base = llvm.select %is_int, %odd, %nan : i1, f32\n\
             %x_neg = llvm.fcmp \"olt\" %x, %zero : f32\n\
             %r1 = llvm.select %x_neg, %neg_base, %m : i1, f32\n\
             %y0 = llvm.fcmp \"oeq\" %y, %zero : f32\n\
             %x1 = llvm.fcmp \"oeq\" %x, %one : f32\n\
             %trivial = llvm.or %y0, %x1 : i1\n\
             %r = llvm.select %trivial, %one, %r1 : i1, f32\n\
             llvm.return %r : f32",
            k("%one", "0x3F800000"),
            k("%zero", "0x00000000"),
            k("%half", "0x3F000000"),
            lg2(flavor, "%a"),
            ex2(flavor, "%yl"),
        )),
    }
}

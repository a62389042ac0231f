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
//! The CPU flavor uses the same definitions with the NVVM approximations replaced by code
//! that LLVM inlines and vectorizes (a libm call in a loop would stop the vectorizer):
//!
//! | function | CPU method | accuracy |
//! |---|---|---|
//! | `exp2` (and `exp`, `pow`, `tanh` through it) | `2^j · p(f)`, `j = round(x)`, `f ∈ [−½, ½]`, Cephes' degree-6 polynomial | ~2 ulp; 0 below −150, ∞ above 128 |
//! | `sin`, `cos` | reduction by a 3-part `π/2` to `[−π/4, π/4]`, Cephes' polynomials, quadrant select | ~2 ulp for \|x\| up to ~8192 |
//! | `log` | LLVM's `log2` (a libm call) | correctly rounded |
//! | `rsqrt` | `1 / sqrt` | correctly rounded twice |

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
    let needs_exp2 = all
        .iter()
        .any(|f| matches!(f, MathFn::Exp | MathFn::Exp2 | MathFn::Pow));
    if flavor == Flavor::Cpu && needs_exp2 {
        for line in cpu_exp2_definition().lines() {
            let _ = writeln!(s, "{pad}{line}");
        }
    }
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
    match flavor {
        Flavor::Gpu => prim(flavor, "llvm.nvvm.ex2.approx.ftz.f", "exp2", x),
        Flavor::Cpu => format!("llvm.call @{CPU_EXP2}({x}) : (f32) -> f32"),
    }
}

/// `%name = llvm.mlir.constant(hex : f32)` lines, one per `(name, bit pattern)`.
fn f32_constants(consts: &[(&str, &str)]) -> String {
    consts
        .iter()
        .map(|(name, hex)| format!("  {name} = llvm.mlir.constant({hex} : f32) : f32\n"))
        .collect()
}

/// The CPU flavor's vectorizable `2^x`, defined once per module that needs it.
const CPU_EXP2: &str = "__llc_exp2f";

/// `2^x` on the CPU: clamp to [−150, 128], split `x = j + f` with `f ∈ [−½, ½]`,
/// `2^f ≈ 1 + f·p(f)` (Cephes exp2f), and scale by `2^j` in two exact steps so that
/// results down to the subnormals and up to ∞ come out right.
fn cpu_exp2_definition() -> String {
    let mut s = format!("llvm.func internal @{CPU_EXP2}(%x: f32) -> f32 {{\n");
    s.push_str(&f32_constants(&[
        ("%lo", "0xC3160000"),
        ("%hi", "0x43000000"),
        ("%p0", "0x3920FDDE"),
        ("%p1", "0x3AAF9F29"),
        ("%p2", "0x3C1D96A6"),
        ("%p3", "0x3D635774"),
        ("%p4", "0x3E75FDEE"),
        ("%p5", "0x3F317218"),
        ("%one", "0x3F800000"),
    ]));
    s.push_str(
        "  %c = llvm.intr.maxnum(%x, %lo) : (f32, f32) -> f32
  %cc = llvm.intr.minnum(%c, %hi) : (f32, f32) -> f32
  %j = llvm.intr.roundeven(%cc) : (f32) -> f32
  %f = llvm.fsub %cc, %j : f32
  %q1 = llvm.intr.fma(%p0, %f, %p1) : (f32, f32, f32) -> f32
  %q2 = llvm.intr.fma(%q1, %f, %p2) : (f32, f32, f32) -> f32
  %q3 = llvm.intr.fma(%q2, %f, %p3) : (f32, f32, f32) -> f32
  %q4 = llvm.intr.fma(%q3, %f, %p4) : (f32, f32, f32) -> f32
  %q5 = llvm.intr.fma(%q4, %f, %p5) : (f32, f32, f32) -> f32
  %e = llvm.intr.fma(%f, %q5, %one) : (f32, f32, f32) -> f32
  %ji = llvm.fptosi %j : f32 to i32
  %i1 = llvm.mlir.constant(1 : i32) : i32
  %bias = llvm.mlir.constant(127 : i32) : i32
  %sh = llvm.mlir.constant(23 : i32) : i32
  %h1 = llvm.ashr %ji, %i1 : i32
  %h2 = llvm.sub %ji, %h1 : i32
  %b1 = llvm.add %h1, %bias : i32
  %b2 = llvm.add %h2, %bias : i32
  %e1 = llvm.shl %b1, %sh : i32
  %e2 = llvm.shl %b2, %sh : i32
  %s1 = llvm.bitcast %e1 : i32 to f32
  %s2 = llvm.bitcast %e2 : i32 to f32
  %r1 = llvm.fmul %e, %s1 : f32
  %r = llvm.fmul %r1, %s2 : f32
  llvm.return %r : f32
}
",
    );
    s
}

/// `sin` or `cos` on the CPU: `x = k·π/2 + r` (3-part `π/2`), Cephes' sinf/cosf
/// polynomials on `r ∈ [−π/4, π/4]`, the quadrant `k mod 4` choosing and signing them.
fn cpu_sincos_definition(f: MathFn) -> String {
    let mut s = format!("llvm.func internal @{}(%x: f32) -> f32 {{\n", f.symbol());
    s.push_str(&f32_constants(&[
        ("%twoopi", "0x3F22F983"),
        ("%nhi", "0xBFC90000"),
        ("%nmid", "0xB9FDA000"),
        ("%nlo", "0xB3A22169"),
        ("%s1", "0xB94CA1F9"),
        ("%s2", "0x3C08839E"),
        ("%s3", "0xBE2AAAA3"),
        ("%c1", "0x37CCF5CE"),
        ("%c2", "0xBAB6061A"),
        ("%c3", "0x3D2AAAA5"),
        ("%mhalf", "0xBF000000"),
        ("%one", "0x3F800000"),
    ]));
    // sin: quadrant q picks (sin r, cos r, -sin r, -cos r); cos: (cos r, -sin r, -cos r, sin r)
    let (odd_pick, even_pick, flip) = if f == MathFn::Sin {
        ("%cs", "%sn", "%q")
    } else {
        ("%sn", "%cs", "%q1")
    };
    s.push_str(&format!(
        "  %t = llvm.fmul %x, %twoopi : f32
  %k = llvm.intr.roundeven(%t) : (f32) -> f32
  %r1 = llvm.intr.fma(%k, %nhi, %x) : (f32, f32, f32) -> f32
  %r2 = llvm.intr.fma(%k, %nmid, %r1) : (f32, f32, f32) -> f32
  %r = llvm.intr.fma(%k, %nlo, %r2) : (f32, f32, f32) -> f32
  %z = llvm.fmul %r, %r : f32
  %sp1 = llvm.intr.fma(%s1, %z, %s2) : (f32, f32, f32) -> f32
  %sp = llvm.intr.fma(%sp1, %z, %s3) : (f32, f32, f32) -> f32
  %rz = llvm.fmul %r, %z : f32
  %sn = llvm.intr.fma(%rz, %sp, %r) : (f32, f32, f32) -> f32
  %cp1 = llvm.intr.fma(%c1, %z, %c2) : (f32, f32, f32) -> f32
  %cp = llvm.intr.fma(%cp1, %z, %c3) : (f32, f32, f32) -> f32
  %zz = llvm.fmul %z, %z : f32
  %ct = llvm.intr.fma(%z, %mhalf, %one) : (f32, f32, f32) -> f32
  %cs = llvm.intr.fma(%zz, %cp, %ct) : (f32, f32, f32) -> f32
  %ki = llvm.fptosi %k : f32 to i32
  %i1 = llvm.mlir.constant(1 : i32) : i32
  %i2 = llvm.mlir.constant(2 : i32) : i32
  %i0 = llvm.mlir.constant(0 : i32) : i32
  %q = llvm.and %ki, %i2 : i32
  %kp1 = llvm.add %ki, %i1 : i32
  %q1 = llvm.and %kp1, %i2 : i32
  %oddb = llvm.and %ki, %i1 : i32
  %odd = llvm.icmp \"ne\" %oddb, %i0 : i32
  %base = llvm.select %odd, {odd_pick}, {even_pick} : i1, f32
  %neg = llvm.fneg %base : f32
  %flip = llvm.icmp \"ne\" {flip}, %i0 : i32
  %res = llvm.select %flip, %neg, %base : i1, f32
  llvm.return %res : f32
}}
"
    ));
    s
}

fn lg2(flavor: Flavor, x: &str) -> String {
    prim(flavor, "llvm.nvvm.lg2.approx.f", "log2", x)
}

/// Intrinsics `convert-gpu-to-nvvm` marks illegal as LLVM dialect ops (it wants libdevice
/// calls for them); on the GPU they are spelled as `llvm.call_intrinsic` of the same
/// intrinsic, which NVPTX selects directly (`sqrt.rn`, `abs`, `cvt.rni`, `copysign`).
const NVVM_ILLEGAL: [&str; 4] = ["sqrt", "fabs", "roundeven", "copysign"];

fn definition(f: MathFn, flavor: Flavor) -> String {
    if flavor == Flavor::Cpu && matches!(f, MathFn::Sin | MathFn::Cos) {
        return cpu_sincos_definition(f);
    }
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

//! Numeric checks: a kernel's generated code run on the CPU against the interpreter.

use llc_codegen::cpu::{HostData, run_on_cpu};
use llc_ir::Function;
use llc_runtime::tensor::check_close;
use llc_runtime::{Precision, Tensor, TensorData, run_function};

/// The interpreter's tensor as host data for the CPU run.
pub fn host(t: &Tensor) -> HostData {
    match t.data() {
        TensorData::F32(v) => HostData::F32(v.clone()),
        TensorData::F64(v) => HostData::F32(v.iter().map(|&x| x as f32).collect()),
        TensorData::I32(v) => HostData::I32(v.clone()),
        TensorData::Bool(v) => HostData::Bool(v.clone()),
    }
}

/// A CPU run's output as an interpreter tensor of `like`'s shape.
pub fn tensor(d: &HostData, like: &Tensor) -> Tensor {
    let shape = like.shape().to_vec();
    match d {
        HostData::F32(v) => Tensor::from_f32(shape, v.clone()),
        HostData::I32(v) => Tensor::from_i32(shape, v.clone()),
        HostData::Bool(v) => Tensor::from_bool(shape, v.clone()),
        HostData::Half(_) => panic!("16-bit outputs are compared by the caller"),
    }
    .expect("the output has its declared size")
}

/// Random arguments for `f` (seeded), with `fix` applied to them before use.
pub fn args_for(
    f: &Function,
    seed: u64,
    int_high: i32,
    fix: impl Fn(usize, &Tensor) -> Tensor,
) -> Vec<Tensor> {
    llc_runtime::random_args(f, seed, int_high, Precision::F32)
        .iter()
        .enumerate()
        .map(|(i, t)| fix(i, t))
        .collect()
}

/// Run `f` through codegen's CPU flavor and the interpreter on `args`; every output must
/// agree within `rtol`/`atol`. Returns the largest absolute difference seen.
pub fn agree(f: &Function, args: &[Tensor], rtol: f64, atol: f64) -> f64 {
    let want = run_function(f, args, Precision::F32).expect("the interpreter runs the kernel");
    let host_args: Vec<HostData> = args.iter().map(host).collect();
    let got = run_on_cpu(f, &host_args).unwrap_or_else(|e| panic!("CPU run of {}: {e}", f.name));
    assert_eq!(got.len(), want.len());
    let mut worst = 0.0f64;
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let g = tensor(g, w);
        if let Err(e) = check_close(&g, w, rtol, atol) {
            panic!("kernel {} output {i}: {e}", f.name);
        }
        worst = worst.max(llc_runtime::tensor::max_abs_diff(&g, w));
    }
    worst
}

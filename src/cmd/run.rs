//! `llc-train run`: evaluate a module on the CPU interpreter with seeded random weights
//! and tokens.

use crate::cli::RunArgs;
use anyhow::{Context, Result, bail};
use llc_ir::{ArgRole, DType};
use llc_runtime::{Precision, Tensor, init};
use rand::SeedableRng;
use std::time::Instant;

pub fn run(a: RunArgs) -> Result<()> {
    if a.backend != "cpu" {
        bail!(
            "backend `{}` is not available for `run` (use `cpu`)",
            a.backend
        );
    }
    let module = super::read_module(&a.input)?;
    let f = module
        .functions
        .first()
        .context("the module has no function")?;
    let vocab = init::vocab_size(f).unwrap_or(2);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.seed);
    let args: Vec<Tensor> = f
        .args()
        .iter()
        .map(|&id| {
            if let Some(t) = init::initial_value(f, id, a.seed, Precision::F32) {
                return t;
            }
            let ty = f.ty(id);
            match (ty.dtype, f.arg_role(id)) {
                (DType::I32, _) => Tensor::random_ints(ty.shape.clone(), 0..vocab as i32, &mut rng),
                (DType::Bool, _) => Tensor::random_bools(ty.shape.clone(), &mut rng),
                (_, Some(ArgRole::Input)) if f.node(id).name == "loss_mask" => {
                    Tensor::full(ty, 1.0, Precision::F32)
                }
                _ => Tensor::random_normal(ty.shape.clone(), 1.0, &mut rng),
            }
        })
        .collect();
    let t0 = Instant::now();
    let outputs = llc_runtime::run_function(f, &args, Precision::F32)
        .with_context(|| format!("running @{} on the CPU", f.name))?;
    let elapsed = t0.elapsed();
    for (o, t) in f.outputs().iter().zip(&outputs) {
        let name = &f.node(o.node).name;
        if t.numel() == 1 {
            println!("{name} = {:.6}", t.to_f64_vec()[0]);
        } else {
            let v = t.to_f64_vec();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            println!("{name}: {} (mean {mean:.6})", t.type_string());
        }
    }
    if f.output_by_name("loss").is_some() {
        println!(
            "(random init: a loss near ln(vocab) = {:.4} is expected)",
            (vocab as f64).ln()
        );
    }
    eprintln!("cpu interpreter: {:.1} ms", elapsed.as_secs_f64() * 1e3);
    Ok(())
}

use llc_models::{BuildOptions, LlamaConfig, build_forward};
use llc_passes::egraph::{EGraphOptions, optimize};
use llc_passes::{OptimizerConfig, build_step, differentiate};
use std::collections::BTreeMap;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let name = a.get(1).cloned().unwrap_or("tiny".into());
    let fused = a.iter().any(|x| x == "fused");
    let cfg = LlamaConfig::preset(&name).unwrap();
    let (b, t) = if a.iter().any(|x| x == "big") {
        (4, 2048)
    } else {
        (2, 16)
    };
    let m = build_forward(&cfg, &BuildOptions::new(b, t)).unwrap();
    let mut fwd = m.function("forward").unwrap().clone();
    let t0 = std::time::Instant::now();
    if fused {
        fwd = optimize(&fwd, &EGraphOptions::forward()).unwrap().0;
    }
    let (fb, _) = differentiate(&fwd, "loss", "forward_backward").unwrap();
    let (mut f, _) = build_step(&fb, &OptimizerConfig::default()).unwrap();
    if fused {
        f = optimize(&f, &EGraphOptions::step()).unwrap().0;
    }
    println!("pipeline {:?}", t0.elapsed());
    let mut h = BTreeMap::new();
    for n in f.node_ids() {
        *h.entry(f.node(n).op.name()).or_insert(0) += 1;
    }
    println!("{h:?}");
    if a.iter().any(|x| x == "print") {
        println!("{}", llc_ir::print_function(&f));
    }
    let t = std::time::Instant::now();
    let prog = llc_passes::partition::partition(&f, &Default::default()).unwrap();
    println!("partition {:?}", t.elapsed());
    println!("{:?}", prog.counts());
    for k in &prog.kernels {
        if let Err(e) = llc_passes::partition::check_kernel_class(&k.func, k.class) {
            println!("BAD {}: {e}", k.name);
        }
    }
    if a.iter().any(|x| x == "kernels") {
        for k in &prog.kernels {
            println!("{}", llc_ir::print_function(&k.func));
        }
    }
    if a.iter().any(|x| x == "single") {
        for k in &prog.kernels {
            if k.class == llc_ir::plan::KernelClass::Single {
                println!("{}", llc_ir::print_function(&k.func));
            }
        }
    }
    println!(
        "blocks {:?}",
        prog.blocks.iter().map(|b| b.len()).collect::<Vec<_>>()
    );
    if a.iter().any(|x| x == "blocks") {
        for b in &prog.blocks {
            println!(
                "{:?}",
                b.iter()
                    .map(|&v| prog.values[v].name.clone())
                    .collect::<Vec<_>>()
            );
        }
    }
    for s in &prog.steps {
        if let llc_passes::partition::Step::Copy { src, dst } = s {
            println!(
                "copy {} -> {}",
                prog.values[*src].name, prog.values[*dst].name
            );
        }
    }
    let t = std::time::Instant::now();
    let mp = llc_passes::memplan::plan_memory(&prog, &Default::default()).unwrap();
    println!("memplan {:?} {:#?}", t.elapsed(), mp.report);
}

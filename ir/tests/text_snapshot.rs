//! Snapshot of the printed form of a small builder-made module: the canonical layout
//! (signature, attribute order, float spelling, updates) is part of the format.

use llc_ir::{Builder, DType, Function, Module, parse_module, print_module};

fn tiny_module() -> Module {
    let mut fwd = Function::new("forward");
    let mut b = Builder::new(&mut fwd);
    let emb = b
        .param("tok_embeddings.weight", DType::F32, &[16, 8])
        .expect("arg");
    let norm = b.param("norm.weight", DType::F32, &[8]).expect("arg");
    let w1 = b.param("w1.weight", DType::F32, &[12, 8]).expect("arg");
    let w3 = b.param("w3.weight", DType::F32, &[12, 8]).expect("arg");
    let tokens = b.input("tokens", DType::I32, &[2, 4]).expect("arg");
    let targets = b.input("targets", DType::I32, &[2, 4]).expect("arg");
    let x = b.gather(emb, tokens).expect("gather");
    b.push_scope("ffn");
    let h = b.rms_norm(x, norm, 1e-5).expect("norm");
    let a = b.matmul_t(h, w1, false, true).expect("w1");
    let g = b.matmul_t(h, w3, false, true).expect("w3");
    let s = b.swiglu(a, g).expect("swiglu");
    b.pop_scope();
    let logits = b.reduce_max(s, &[2], true).expect("max");
    let logits = b.broadcast(logits, &[2, 4, 16]).expect("bcast");
    let nll = b.cross_entropy(logits, targets).expect("ce");
    let loss = b.mean(nll, &[0, 1], false).expect("mean");
    let loss = b.name(loss, "loss").expect("name");
    b.output(loss);

    let mut step = Function::new("sgd");
    let mut b = Builder::new(&mut step);
    let w = b.param("w", DType::F32, &[4]).expect("arg");
    let n = b.state("step", DType::F32, &[]).expect("arg");
    let g = b.input("grad", DType::F32, &[4]).expect("arg");
    let lr = b.mul_scalar(g, -0.125).expect("lr");
    let w2 = b.add(w, lr).expect("add");
    let w2 = b.name(w2, "w.next").expect("name");
    let n2 = b.add_scalar(n, 1.0).expect("inc");
    let n2 = b.name(n2, "step.next").expect("name");
    let big = b.scalar(f64::NEG_INFINITY, DType::F32).expect("inf");
    let clamp = b.max(n2, big).expect("max");
    b.output(clamp);
    b.output_update(w2, w);
    b.output_update(n2, n);

    Module {
        functions: vec![fwd, step],
    }
}

#[test]
fn tiny_module_prints_canonically() {
    let text = print_module(&tiny_module());
    insta::assert_snapshot!(text);
    let back = parse_module(&text).expect("the snapshot parses and verifies");
    assert_eq!(print_module(&back), text);
}

//! Scale: a transformer-shaped function of tens of thousands of nodes (the size of a
//! Llama forward graph; a training step is ~100k) prints and parses in linear time.
//! Timings are printed (`-- --nocapture`); only release builds assert a (loose) bound.

use llc_ir::{
    Builder, DType, Function, Module, NodeId, parse_module, parse_module_unverified, print_module,
    verify_function,
};
use std::time::Instant;

/// One pre-norm decoder layer at width `d` with `h` heads over `[b, t]` tokens.
fn layer(
    bld: &mut Builder<'_>,
    x: NodeId,
    i: usize,
    (b, t, d, h): (usize, usize, usize, usize),
) -> NodeId {
    let hd = d / h;
    let p = |bld: &mut Builder<'_>, name: &str, shape: &[usize]| {
        bld.param(&format!("layers.{i}.{name}"), DType::F32, shape)
            .expect("param")
    };
    let an = p(bld, "attention_norm.weight", &[d]);
    let wq = p(bld, "attention.wq.weight", &[d, d]);
    let wk = p(bld, "attention.wk.weight", &[d, d]);
    let wv = p(bld, "attention.wv.weight", &[d, d]);
    let wo = p(bld, "attention.wo.weight", &[d, d]);
    let fnorm = p(bld, "ffn_norm.weight", &[d]);
    let w1 = p(bld, "feed_forward.w1.weight", &[2 * d, d]);
    let w2 = p(bld, "feed_forward.w2.weight", &[d, 2 * d]);
    let w3 = p(bld, "feed_forward.w3.weight", &[2 * d, d]);
    bld.push_scope(format!("layers.{i}"));
    let run = |bld: &mut Builder<'_>| -> llc_ir::Result<NodeId> {
        let hx = bld.rms_norm(x, an, 1e-5)?;
        let mut heads = Vec::new();
        for w in [wq, wk, wv] {
            let y = bld.matmul_t(hx, w, false, true)?;
            let y = bld.reshape(y, &[b, t, h, hd])?;
            heads.push(y);
        }
        let q = bld.rope(heads[0], 10000.0, false)?;
        let k = bld.rope(heads[1], 10000.0, false)?;
        let q = bld.transpose(q, &[0, 2, 1, 3])?;
        let k = bld.transpose(k, &[0, 2, 1, 3])?;
        let v = bld.transpose(heads[2], &[0, 2, 1, 3])?;
        let a = bld.attention(q, k, v, 1.0 / (hd as f64).sqrt(), true)?;
        let a = bld.transpose(a, &[0, 2, 1, 3])?;
        let a = bld.reshape(a, &[b, t, d])?;
        let o = bld.matmul_t(a, wo, false, true)?;
        let x = bld.add(x, o)?;
        let hf = bld.rms_norm(x, fnorm, 1e-5)?;
        let g = bld.matmul_t(hf, w1, false, true)?;
        let u = bld.matmul_t(hf, w3, false, true)?;
        let s = bld.swiglu(g, u)?;
        let f = bld.matmul_t(s, w2, false, true)?;
        bld.add(x, f)
    };
    let out = run(bld).expect("well-typed layer");
    bld.pop_scope();
    out
}

/// A decoder stack with at least `nodes` nodes.
fn big_function(nodes: usize) -> Function {
    let dims = (2, 8, 16, 2);
    let mut f = Function::new("forward");
    let mut b = Builder::new(&mut f);
    let emb = b
        .param("tok_embeddings.weight", DType::F32, &[32, dims.2])
        .expect("emb");
    let tok = b
        .input("tokens", DType::I32, &[dims.0, dims.1])
        .expect("tok");
    let mut x = b.gather(emb, tok).expect("gather");
    let mut i = 0;
    while b.func.node_count() < nodes {
        x = layer(&mut b, x, i, dims);
        i += 1;
    }
    let loss = b.sum_all(x).expect("sum");
    b.output(loss);
    f
}

#[test]
fn large_function_round_trips_in_linear_time() {
    let n = if cfg!(debug_assertions) {
        50_000
    } else {
        100_000
    };
    let t0 = Instant::now();
    let f = big_function(n);
    let nodes = f.node_count();
    let m = Module { functions: vec![f] };
    let t_build = t0.elapsed();

    let t1 = Instant::now();
    let text = print_module(&m);
    let t_print = t1.elapsed();

    let t2 = Instant::now();
    let back = parse_module(&text).expect("parses and verifies");
    let t_parse = t2.elapsed();

    let t4 = Instant::now();
    let (unverified, spans) = parse_module_unverified(&text).expect("parses");
    let t_parse_only = t4.elapsed();
    let t5 = Instant::now();
    verify_function(&unverified.functions[0], &spans[0]).expect("verifies");
    let t_verify = t5.elapsed();

    let t3 = Instant::now();
    let again = print_module(&back);
    let t_reprint = t3.elapsed();

    assert_eq!(back.functions[0].node_count(), nodes);
    assert!(again == text, "reprinted text differs");
    eprintln!(
        "{nodes} nodes, {} lines, {:.1} MiB: build {t_build:?}, print {t_print:?}, parse+verify {t_parse:?} (parse {t_parse_only:?}, verify {t_verify:?}), reprint {t_reprint:?}",
        text.lines().count(),
        text.len() as f64 / (1 << 20) as f64
    );
    if !cfg!(debug_assertions) {
        let total = t_print + t_parse;
        assert!(
            total.as_secs_f64() < 5.0,
            "print + parse + verify of {nodes} nodes took {total:?}"
        );
    }
}

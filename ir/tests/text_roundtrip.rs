//! Round trips of the `.ir` text format: hand-written modules, every op, builder-made
//! functions and random well-typed functions all satisfy `print(parse(t)) == t`.

use llc_ir::{
    ArgRole, Builder, CmpOp, DType, Function, Module, NodeId, Op, TensorType, UnaryOp,
    parse_function, parse_module, parse_module_unverified, print_function, print_module,
};
use proptest::prelude::*;
use std::collections::BTreeSet;

const ALL_OPS: &str = include_str!("data/all_ops.ir");

#[test]
fn all_ops_module_round_trips() {
    let m = parse_module(ALL_OPS).expect("all_ops.ir parses and verifies");
    assert_eq!(print_module(&m), ALL_OPS);
}

#[test]
fn all_ops_module_uses_every_op() {
    let m = parse_module(ALL_OPS).expect("parses");
    let f = &m.functions[0];
    let used: BTreeSet<&str> = f.node_ids().map(|n| f.node(n).op.name()).collect();
    let missing: Vec<&str> = Op::all_names()
        .into_iter()
        .filter(|n| !used.contains(n))
        .collect();
    assert!(missing.is_empty(), "ops not covered: {missing:?}");
    for role in [ArgRole::Param, ArgRole::State, ArgRole::Input] {
        assert!(!f.args_with_role(role).is_empty(), "no {role:?} argument");
    }
}

#[test]
fn parsed_function_has_the_written_structure() {
    let f = parse_function(ALL_OPS).expect("parses");
    assert_eq!(f.name, "all_ops");
    assert_eq!(f.args().len(), 4);
    let both = f.by_name("both").expect("%both exists");
    let names: Vec<&str> = f
        .operands(both)
        .into_iter()
        .map(|o| f.node(o).name.as_str())
        .collect();
    assert_eq!(names, ["x", "neg", "abs"]);
    assert_eq!(f.node(both).op, Op::Concat { axis: 1 });
    assert_eq!(*f.ty(both), TensorType::new(DType::F32, [2, 9, 8]));
    let mask = f.by_name("mask").expect("%mask exists");
    match f.node(mask).op {
        Op::Full { value } => assert_eq!(value.0, f64::NEG_INFINITY),
        ref other => panic!("%mask is {other:?}"),
    }
    let outs: Vec<(String, Option<String>)> = f
        .outputs()
        .iter()
        .map(|o| {
            (
                f.node(o.node).name.clone(),
                o.updates.map(|u| f.node(u).name.clone()),
            )
        })
        .collect();
    assert_eq!(
        outs,
        [
            ("nll".to_string(), None),
            ("w.next".to_string(), Some("w".to_string())),
            ("step.next".to_string(), Some("step".to_string())),
        ]
    );
}

#[test]
fn several_functions_comments_and_free_layout() {
    let messy = "# a comment before everything\n\
        func @a(input %x: f32[2]) {   # trailing comment\n\
        %y=exp %x:f32[2]\n\
        return %y }\n\n\n\
        func @b(param %w: f32[ 2 , 3 ]) { %v = reduce_max %w {keep_dims = false, axes = [1]} : f32 [2]\n\
        return %v\n}";
    let m = parse_module(messy).expect("parses");
    let canonical = "func @a(input %x: f32[2]) {\n  %y = exp %x : f32[2]\n  return %y\n}\n\n\
        func @b(param %w: f32[2,3]) {\n  %v = reduce_max %w {axes = [1], keep_dims = false} : f32[2]\n  return %v\n}\n";
    assert_eq!(print_module(&m), canonical);
    assert_eq!(
        print_module(&parse_module(canonical).expect("parses")),
        canonical
    );
}

#[test]
fn integer_literals_are_accepted_for_floats() {
    let f = parse_function("func @f() {\n  %c = full {value = 2} : f32[]\n  return %c\n}\n")
        .expect("parses");
    assert!(print_function(&f).contains("full {value = 2.0}"));
}

#[test]
fn quoted_names_round_trip() {
    let mut f = Function::new("odd name");
    let mut b = Builder::new(&mut f);
    let x = b.input("x y", DType::F32, &[2]).expect("arg");
    let e = b.exp(x).expect("exp");
    b.name(e, "quote\"back\\slash\u{1}").expect("rename");
    b.output(e);
    let text = print_function(&f);
    assert_eq!(
        text,
        "func @\"odd name\"(input %\"x y\": f32[2]) {\n  %\"quote\\\"back\\\\slash\\u{1}\" = exp %\"x y\" : f32[2]\n  return %\"quote\\\"back\\\\slash\\u{1}\"\n}\n"
    );
    let g = parse_function(&text).expect("parses");
    assert_eq!(g.name, "odd name");
    assert!(g.by_name("quote\"back\\slash\u{1}").is_some());
    assert_eq!(print_function(&g), text);
}

#[test]
fn long_signatures_and_returns_wrap_one_item_per_line() {
    let mut f = Function::new("step");
    let mut b = Builder::new(&mut f);
    let mut outs = Vec::new();
    for i in 0..6 {
        let w = b
            .param(
                &format!("layers.{i}.attention.wq.weight"),
                DType::F32,
                &[8, 8],
            )
            .expect("arg");
        let n = b.neg(w).expect("neg");
        outs.push((n, w));
    }
    for (n, w) in outs {
        b.output_update(n, w);
    }
    let text = print_function(&f);
    assert!(text.starts_with("func @step(\n  param %layers.0.attention.wq.weight: f32[8,8],\n"));
    assert!(text.contains("  param %layers.5.attention.wq.weight: f32[8,8]\n) {\n"));
    assert!(text.contains("  return\n    %neg -> %layers.0.attention.wq.weight,\n"));
    assert!(text.ends_with("    %neg.5 -> %layers.5.attention.wq.weight\n}\n"));
    let g = parse_function(&text).expect("parses");
    assert_eq!(print_function(&g), text);
}

#[test]
fn unverified_parse_returns_spans_and_keeps_invalid_graphs() {
    // An `arg` node outside the signature prints and parses, and only the verifier
    // rejects it.
    let text = "func @f(input %x: f32[2]) {\n  %a = arg {role = param} : f32[2]\n  %y = add %x, %a : f32[2]\n  return %y\n}\n";
    let (m, spans) = parse_module_unverified(text).expect("parses");
    assert_eq!(print_module(&m), text);
    let f = &m.functions[0];
    let a = f.by_name("a").expect("%a");
    assert_eq!(spans[0][&a].to_string(), "2:3");
    assert_eq!(spans[0][&f.args()[0]].to_string(), "1:9");
    let err = parse_module(text).expect_err("the verifier rejects it");
    assert_eq!(
        err.to_string(),
        "2:3: in @f: %a is an argument node missing from the signature"
    );
}

#[test]
fn builder_function_prints_in_topological_order_and_round_trips() {
    let mut f = Function::new("mlp");
    let mut b = Builder::new(&mut f);
    let x = b.input("x", DType::F32, &[2, 4]).expect("x");
    let w1 = b.param("w1", DType::F32, &[4, 8]).expect("w1");
    let w2 = b.param("w2", DType::F32, &[8, 4]).expect("w2");
    b.push_scope("layer");
    let h = b.matmul(x, w1).expect("mm");
    let s = b.sigmoid(h).expect("sig");
    let g = b.mul(h, s).expect("mul");
    let y = b.matmul(g, w2).expect("mm2");
    b.pop_scope();
    let l = b.sum_all(y).expect("sum");
    let lr = b.scalar(0.01, DType::F32).expect("lr");
    let lrb = b.broadcast(lr, &[4, 8]).expect("bcast");
    let upd = b.mul(lrb, w1).expect("upd");
    let w1n = b.sub(w1, upd).expect("sub");
    b.output(l);
    b.output_update(w1n, w1);
    let text = print_function(&f);
    let g = parse_function(&text).expect("parses");
    assert_eq!(print_function(&g), text);
    assert_eq!(g.node_count(), f.node_count());
    assert!(text.contains("  %layer.matmul.1 = matmul %layer.mul, %w2"));
}

#[test]
fn printing_follows_topo_order_not_creation_order() {
    // Rewire a node to use a value made after it: the printer must still define every
    // value before its use.
    let mut f = Function::new("f");
    let x = f
        .add_arg("x", ArgRole::Input, TensorType::new(DType::F32, [3]))
        .expect("x");
    let a = f
        .add("a", Op::Unary { op: UnaryOp::Exp }, &[x], None)
        .expect("a");
    let b = f
        .add("b", Op::Unary { op: UnaryOp::Neg }, &[x], None)
        .expect("b");
    f.set_operand(a, 0, b);
    f.add_output(a, None);
    let text = print_function(&f);
    assert_eq!(
        text,
        "func @f(input %x: f32[3]) {\n  %b = neg %x : f32[3]\n  %a = exp %b : f32[3]\n  return %a\n}\n"
    );
    assert_eq!(
        print_function(&parse_function(&text).expect("parses")),
        text
    );
}

// ---------------------------------------------------------------- random functions

/// One random step: an op applied to earlier values `a`, `b` (both `[r, c]` f32) and the
/// `[c, c]` parameter `w`, giving another `[r, c]` f32 value.
fn random_step(
    bld: &mut Builder<'_>,
    (kind, bits, pick): (u8, u64, usize),
    a: NodeId,
    b: NodeId,
    w: NodeId,
    (r, c): (usize, usize),
) -> llc_ir::Result<NodeId> {
    let real = f64::from_bits(bits);
    match kind % 9 {
        0 => bld.unary(UnaryOp::ALL[pick % UnaryOp::ALL.len()], a),
        1 => bld.add(a, b),
        2 => bld.mul(a, b),
        3 => bld.matmul(a, w),
        4 => bld.full(real, TensorType::new(DType::F32, [r, c])),
        5 => {
            let s = bld.reduce_sum(a, &[1], true)?;
            bld.broadcast(s, &[r, c])
        }
        6 => {
            let wn = bld.reduce_max(w, &[0], false)?;
            bld.rms_norm(a, wn, real)
        }
        7 => bld.softmax(a),
        _ => {
            let s = bld.compare(CmpOp::ALL[pick % CmpOp::ALL.len()], a, b)?;
            bld.select(s, a, b)
        }
    }
}

/// A random well-typed function: a chain of `steps` over an input and a parameter.
fn build_random(steps: &[(u8, u64, usize)], dims: (usize, usize)) -> Module {
    let mut f = Function::new("random");
    let mut b = Builder::new(&mut f);
    let x = b.input("x", DType::F32, &[dims.0, dims.1]).expect("x");
    let w = b.param("w", DType::F32, &[dims.1, dims.1]).expect("w");
    let mut vals = vec![x];
    for &step in steps {
        let pick = step.2;
        let (a, bb) = (vals[pick % vals.len()], vals[(pick / 7) % vals.len()]);
        let v = random_step(&mut b, step, a, bb, w, dims).expect("well-typed step");
        vals.push(v);
    }
    let last = *vals.last().expect("nonempty");
    b.output(last);
    Module { functions: vec![f] }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_functions_round_trip(
        steps in prop::collection::vec((any::<u8>(), any::<u64>(), any::<usize>()), 1..40),
        r in 1usize..4,
        c in 1usize..5,
    ) {
        let m = build_random(&steps, (r, c));
        let text = print_module(&m);
        let back = parse_module(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(print_module(&back), text);
        // Same graph, not just same text: every node's op (bitwise floats, except NaN
        // payloads), operands and type agree.
        let (f, g) = (&m.functions[0], &back.functions[0]);
        prop_assert_eq!(f.node_count(), g.node_count());
        for n in f.node_ids() {
            let node = f.node(n);
            let other = g.by_name(&node.name).expect("same names");
            let nan = matches!(node.op, Op::Full { value } | Op::RmsNorm { eps: value } if value.0.is_nan());
            if !nan {
                prop_assert_eq!(&node.op, &g.node(other).op);
            }
            prop_assert_eq!(&node.ty, &g.node(other).ty);
            let a: Vec<&str> = f.operands(n).into_iter().map(|o| f.node(o).name.as_str()).collect();
            let b: Vec<&str> = g.operands(other).into_iter().map(|o| g.node(o).name.as_str()).collect();
            prop_assert_eq!(a, b);
        }
    }
}

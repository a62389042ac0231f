//! The optimizer's interface: bounds stop the search and still give a valid, equivalent
//! function; bad options and bad input give clear errors; the report says what happened.

mod egraph_common;

use egraph_common::{assert_same, count, forward};
use llc_ir::{ArgRole, DType, Function, Module, Op, TensorType};
use llc_passes::PassError;
use llc_passes::egraph::{EGraphOptions, RuleGroup, optimize, optimize_module};
use std::time::Duration;

#[test]
fn an_iteration_limit_stops_early_and_stays_equivalent() {
    let f = forward("tiny", 1, 8, DType::F64);
    let opts = EGraphOptions {
        iter_limit: 1,
        ..EGraphOptions::forward()
    };
    let (g, r) = optimize(&f, &opts).expect("optimizes");
    assert_eq!(r.iterations, 1);
    assert_eq!(r.stop_reason, "iteration limit (1)");
    // One iteration fuses what matches the input directly (RMSNorm, SwiGLU, softmax) but
    // not attention, whose pattern needs the fused softmax.
    assert_eq!(count(&g, "rms_norm"), 5);
    assert_eq!(count(&g, "attention"), 0);
    assert_same(&f, &g, 5, 256, 1e-10, 1e-10);
    let (full, r2) = optimize(&f, &EGraphOptions::forward()).expect("optimizes");
    assert_eq!(r2.stop_reason, "saturated");
    assert_eq!(count(&full, "attention"), 2);
}

#[test]
fn a_node_limit_stops_the_search() {
    let f = forward("tiny", 1, 8, DType::F64);
    let opts = EGraphOptions {
        node_limit: 100,
        ..EGraphOptions::forward()
    };
    let (g, r) = optimize(&f, &opts).expect("optimizes");
    assert_eq!(r.stop_reason, "e-node limit (100)");
    assert_same(&f, &g, 6, 256, 1e-10, 1e-10);
}

#[test]
fn bad_options_are_rejected() {
    let f = forward("tiny", 1, 4, DType::F32);
    for (opts, what) in [
        (
            EGraphOptions {
                iter_limit: 0,
                ..EGraphOptions::default()
            },
            "iter_limit",
        ),
        (
            EGraphOptions {
                node_limit: 0,
                ..EGraphOptions::default()
            },
            "node_limit",
        ),
        (
            EGraphOptions {
                time_limit: Duration::ZERO,
                ..EGraphOptions::default()
            },
            "time_limit",
        ),
    ] {
        let e = optimize(&f, &opts).expect_err("rejected");
        assert!(
            matches!(e, PassError::InvalidConfig { pass: "egraph", .. }),
            "{e}"
        );
        assert!(e.to_string().contains(what), "{e}");
    }
}

#[test]
fn invalid_input_is_an_error_naming_the_value() {
    // `%bad` claims an f32[3] result for an add of f32[2] operands.
    let mut f = Function::new("broken");
    let x = f
        .add_arg("x", ArgRole::Input, TensorType::new(DType::F32, [2]))
        .expect("arg");
    let bad = f
        .insert(
            "bad",
            Op::Binary {
                op: llc_ir::BinaryOp::Add,
            },
            &[x, x],
            TensorType::new(DType::F32, [3]),
        )
        .expect("inserted unchecked");
    f.add_output(bad, None);
    let e = optimize(&f, &EGraphOptions::default()).expect_err("rejected");
    assert!(matches!(e, PassError::Ir(_)), "{e:?}");
    assert!(e.to_string().contains("%bad"), "{e}");
}

#[test]
fn optimize_module_replaces_the_function_or_names_what_exists() {
    let f = forward("tiny", 1, 4, DType::F32);
    let mut m = Module::new();
    m.functions.push(f);
    let e = optimize_module(&mut m, "step", &EGraphOptions::forward()).expect_err("no @step");
    assert!(e.to_string().contains("@forward"), "{e}");
    let r = optimize_module(&mut m, "forward", &EGraphOptions::forward()).expect("runs");
    assert_eq!(m.functions.len(), 1);
    assert_eq!(count(&m.functions[0], "rms_norm"), 5);
    assert_eq!(r.fused("rms_norm"), 5);
}

#[test]
fn the_report_says_what_happened() {
    let f = forward("tiny", 1, 4, DType::F32);
    let (_, r) = optimize(&f, &EGraphOptions::groups(&[RuleGroup::Fusion])).expect("runs");
    let text = r.to_string();
    for want in [
        "egraph @forward [fusion]",
        "stopped: saturated",
        "rms-norm x5",
        "fused ops: ",
        "rms_norm x5",
        "est. cost",
        "on H100",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert!(r.cost_after.bytes < r.cost_before.bytes);
    assert!(r.nodes_after < r.nodes_before);
    assert!(r.enodes >= r.nodes_before / 2 && r.eclasses <= r.enodes);
}

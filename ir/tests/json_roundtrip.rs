//! The JSON form: text -> module -> JSON -> module -> text is the identity, floats keep
//! their bits (including infinities), and malformed JSON gives a clear error.

use llc_ir::{IrError, Op, from_json, parse_module, print_module, to_json};
use proptest::prelude::*;

const ALL_OPS: &str = include_str!("data/all_ops.ir");

#[test]
fn all_ops_text_json_text_is_identity() {
    let m = parse_module(ALL_OPS).expect("parses");
    let json = to_json(&m);
    let back = from_json(&json).expect("JSON reads back");
    assert_eq!(print_module(&back), ALL_OPS);
    // The JSON form is itself canonical.
    assert_eq!(to_json(&back), json);
}

#[test]
fn json_layout_mirrors_the_text() {
    let m = parse_module(
        "func @f(param %w: f32[2], input %x: f32[2]) {\n  %m = full {value = -inf} : f32[2]\n  %y = max %x, %m : f32[2]\n  %w.next = add %w, %y : f32[2]\n  return %y, %w.next -> %w\n}\n",
    )
    .expect("parses");
    let v: serde_json::Value = serde_json::from_str(&to_json(&m)).expect("valid JSON");
    let f = &v["functions"][0];
    assert_eq!(f["name"], "f");
    assert_eq!(
        f["args"][0],
        serde_json::json!({"name": "w", "role": "param", "type": {"dtype": "f32", "shape": [2]}})
    );
    assert_eq!(
        f["nodes"][0],
        serde_json::json!({"name": "m", "op": {"type": "full", "value": "-inf"}, "operands": [],
                           "type": {"dtype": "f32", "shape": [2]}})
    );
    assert_eq!(
        f["nodes"][1]["op"],
        serde_json::json!({"type": "binary", "op": "max"})
    );
    assert_eq!(f["nodes"][1]["operands"], serde_json::json!(["x", "m"]));
    assert_eq!(
        f["outputs"],
        serde_json::json!([{"name": "y"}, {"name": "w.next", "updates": "w"}])
    );
}

#[test]
fn a_float_that_needs_exact_parsing_keeps_its_bits() {
    // Without serde_json's `float_roundtrip` this value comes back one ulp off.
    let v = f64::from_bits(537179676387791020);
    let text = format!(
        "func @f() {{\n  %c = rms_norm_grad_w %c0, %c0 {{eps = {}}} : f32[1]\n  return %c\n}}\n",
        llc_ir::Real(v)
    )
    .replace("%c = ", "%c0 = full {value = 1.0} : f32[1]\n  %c = ");
    let m = parse_module(&text).expect("parses");
    let back = from_json(&to_json(&m)).expect("reads back");
    let f = &back.functions[0];
    assert_eq!(
        f.node(f.by_name("c").expect("%c")).op,
        Op::RmsNormGradW {
            eps: llc_ir::Real(v)
        }
    );
}

fn json_err(s: &str) -> String {
    match from_json(s) {
        Ok(_) => panic!("accepted {s}"),
        Err(e) => e.to_string(),
    }
}

const TY: &str = r#"{"dtype":"f32","shape":[2]}"#;

fn one_node(op: &str, operands: &str, outputs: &str) -> String {
    format!(
        r#"{{"functions":[{{"name":"f","args":[{{"name":"x","role":"input","type":{TY}}}],
            "nodes":[{{"name":"y","op":{op},"operands":{operands},"type":{TY}}}],
            "outputs":{outputs}}}]}}"#
    )
}

#[test]
fn malformed_json_is_reported() {
    assert_eq!(
        json_err("{\"functions\": [}"),
        "json: expected value at line 1 column 16"
    );
    assert_eq!(
        json_err(""),
        "json: EOF while parsing a value at line 1 column 0"
    );
    assert!(json_err(r#"{"functions":[],"extra":1}"#).starts_with("json: unknown field `extra`"));
}

#[test]
fn bad_modules_in_json_are_reported() {
    let ok = one_node(
        r#"{"type":"unary","op":"exp"}"#,
        r#"["x"]"#,
        r#"[{"name":"y"}]"#,
    );
    assert!(from_json(&ok).is_ok(), "baseline parses");
    assert_eq!(
        json_err(&one_node(
            r#"{"type":"unary","op":"exp"}"#,
            r#"["z"]"#,
            r#"[{"name":"y"}]"#
        )),
        "json: function @f: node %y uses undefined value %z (a node must come after its operands)"
    );
    assert_eq!(
        json_err(&one_node(
            r#"{"type":"unary","op":"exp"}"#,
            r#"["x"]"#,
            r#"[{"name":"q"}]"#
        )),
        "json: function @f: a result uses undefined value %q (a node must come after its operands)"
    );
    assert!(
        json_err(&one_node(
            r#"{"type":"relu"}"#,
            r#"["x"]"#,
            r#"[{"name":"y"}]"#
        ))
        .starts_with("json: function @f, node %y: op: unknown variant `relu`"),
    );
    assert_eq!(
        json_err(&one_node(
            r#"{"type":"full","value":"huge"}"#,
            "[]",
            r#"[{"name":"y"}]"#
        )),
        "json: function @f, node %y: attribute `value` must be a number, \"inf\", \"-inf\" or \"nan\", found \"huge\""
    );
    // Verified after reading: a type error names the node.
    assert_eq!(
        json_err(&one_node(
            r#"{"type":"binary","op":"add"}"#,
            r#"["x"]"#,
            r#"[{"name":"y"}]"#
        )),
        "%y = add: `add` takes 2 operands, got 1"
    );
    assert_eq!(
        json_err(&one_node(
            r#"{"type":"unary","op":"exp"}"#,
            r#"["x"]"#,
            r#"[{"name":"y","updates":"x"}]"#
        )),
        "in @f: result %y updates something that is not a param or state argument"
    );
}

#[test]
fn duplicate_functions_are_rejected() {
    let f = r#"{"name":"f","args":[{"name":"x","role":"input","type":{"dtype":"f32","shape":[]}}],"nodes":[],"outputs":[{"name":"x"}]}"#;
    let e = from_json(&format!(r#"{{"functions":[{f},{f}]}}"#)).expect_err("twice");
    assert!(matches!(e, IrError::Json(_)));
    assert_eq!(e.to_string(), "json: function @f is defined twice");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every float attribute keeps its exact bits through JSON (NaN stays NaN).
    #[test]
    fn float_attributes_keep_their_bits(bits in any::<u64>()) {
        let v = f64::from_bits(bits);
        let text = format!(
            "func @f() {{\n  %c = full {{value = {}}} : f32[]\n  return %c\n}}\n",
            llc_ir::Real(v)
        );
        let m = parse_module(&text).expect("parses");
        let back = from_json(&to_json(&m)).expect("reads back");
        let f = &back.functions[0];
        match f.node(f.by_name("c").expect("%c")).op {
            Op::Full { value } if v.is_nan() => prop_assert!(value.0.is_nan()),
            Op::Full { value } => prop_assert_eq!(value.0.to_bits(), bits),
            ref other => prop_assert!(false, "{other:?}"),
        }
        prop_assert_eq!(print_module(&back), text);
    }

    /// Arbitrary text never makes `from_json` panic.
    #[test]
    fn random_json_never_panics(s in "\\PC{0,200}") {
        let _ = from_json(&s);
    }
}

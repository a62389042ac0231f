//! Malformed `.ir` inputs: each is rejected with a specific message at a specific
//! line:column, never a panic.

use llc_ir::{IrError, Span, parse_module};

/// Parse `src`, expecting an error; return it.
fn fails(src: &str) -> IrError {
    match parse_module(src) {
        Ok(m) => panic!("parsed, expected an error:\n{}", llc_ir::print_module(&m)),
        Err(e) => e,
    }
}

/// Each case: the input, the full error text (`line:col: message`) and the error kind.
macro_rules! error_case {
    ($name:ident, $kind:ident, $src:expr, $line:expr, $col:expr, $msg:expr) => {
        #[test]
        fn $name() {
            let e = fails($src);
            assert!(matches!(e, IrError::$kind { .. }), "wrong kind: {e:?}");
            assert_eq!(
                e.span(),
                Some(Span {
                    line: $line,
                    col: $col
                })
            );
            assert_eq!(e.to_string(), format!("{}:{}: {}", $line, $col, $msg));
        }
    };
}

/// A one-argument function around `body` (statements and return, one per line).
fn func(body: &str) -> String {
    format!("func @f(param %a: f32[4], input %t: i32[2]) {{\n{body}\n}}\n")
}

// ---- lexical ----

error_case!(
    bad_character,
    Parse,
    &func("  %y = add %a, $a : f32[4]\n  return %y"),
    2,
    16,
    "unexpected character `$`"
);
error_case!(
    malformed_number_in_shape,
    Parse,
    &func("  %y = exp %a : f32[4x]\n  return %y"),
    2,
    21,
    "malformed number `4x`"
);
error_case!(
    unterminated_quoted_name,
    Parse,
    &func("  %\"y = exp %a : f32[4]\n  return %y"),
    2,
    3,
    "unterminated quoted name: expected a closing `\"`"
);
error_case!(
    non_ascii_columns_count_characters,
    Parse,
    "# héllo wörld\nfunc @f(param %a: f32[4]) {\n  %y = ëxp %a : f32[4]\n  return %y\n}\n",
    3,
    8,
    "unexpected character `ë`"
);

// ---- syntax ----

error_case!(
    empty_input,
    Parse,
    "  # only a comment\n",
    2,
    1,
    "unexpected end of file: expected `func` (a module holds at least one function)"
);
error_case!(
    misspelled_func_keyword,
    Parse,
    "fnuc @f() {\n  return\n}\n",
    1,
    1,
    "expected `func`, found `fnuc` (did you mean `func`?)"
);
error_case!(
    expected_type_found_bracket,
    Parse,
    &func("  %y = exp %a : ]\n  return %y"),
    2,
    17,
    "expected a type like f32[4,8], found `]`"
);
error_case!(
    missing_comma_between_operands,
    Parse,
    &func("  %y = add %a %a : f32[4]\n  return %y"),
    2,
    15,
    "expected `,` between operands or `:` and the result type of %y, found `%a`"
);
error_case!(
    missing_type_annotation,
    Parse,
    &func("  %y = exp %a\n  return %y"),
    3,
    3,
    "expected `:` and the result type of %y, found `return`"
);
error_case!(
    bad_argument_role,
    Parse,
    "func @f(parm %a: f32[4]) {\n  return %a\n}\n",
    1,
    9,
    "expected an argument role (`param`, `state` or `input`), found `parm` (did you mean `param`?)"
);
error_case!(
    misspelled_return,
    Parse,
    &func("  retrun %a"),
    2,
    3,
    "expected a statement like `%x = op ...` or `return`, found `retrun` (did you mean `return`?)"
);
error_case!(
    missing_return,
    Parse,
    &func("  %y = exp %a : f32[4]"),
    3,
    1,
    "func @f has no `return`: expected `return` before `}`"
);
error_case!(
    nested_list_in_attribute,
    Parse,
    &func("  %y = transpose %a {perm = [[0]]} : f32[4]\n  return %y"),
    2,
    30,
    "expected an integer, found `[`"
);

// ---- truncated files ----

error_case!(
    truncated_after_return,
    Parse,
    "func @f(param %a: f32[4]) {\n  return %a\n",
    3,
    1,
    "unexpected end of file: expected `}` to close func @f opened at 1:1"
);
error_case!(
    truncated_before_return,
    Parse,
    "\nfunc @g(param %a: f32[4]) {\n  %y = exp %a : f32[4]",
    3,
    23,
    "unexpected end of file: expected `return` and `}` to close func @g opened at 2:1"
);
error_case!(
    truncated_mid_statement,
    Parse,
    "func @f(param %a: f32[4]) {\n  %y = exp %a :",
    2,
    16,
    "unexpected end of file: expected a type like f32[4,8]"
);
error_case!(
    truncated_in_signature,
    Parse,
    "func @f(param %a: f32[4",
    1,
    24,
    "unexpected end of file: expected `,` or `]` in a shape"
);

// ---- names ----

error_case!(
    unknown_op_with_suggestion,
    Parse,
    &func(
        "  %y = matmull %a, %a {transpose_lhs = false, transpose_rhs = false} : f32[4]\n  return %y"
    ),
    2,
    8,
    "unknown op `matmull` (did you mean `matmul`?)"
);
error_case!(
    unknown_op_without_suggestion,
    Parse,
    &func("  %y = relu %a : f32[4]\n  return %y"),
    2,
    8,
    "unknown op `relu`"
);
error_case!(
    undefined_value,
    Parse,
    &func("  %y = exp %foo : f32[4]\n  return %y"),
    2,
    12,
    "undefined value %foo"
);
error_case!(
    undefined_value_with_suggestion,
    Parse,
    &func("  %y.next = exp %a : f32[4]\n  return %y.nxt"),
    3,
    10,
    "undefined value %y.nxt (did you mean %y.next?)"
);
error_case!(
    use_before_definition,
    Parse,
    &func("  %y = exp %z : f32[4]\n  %z = exp %a : f32[4]\n  return %y"),
    2,
    12,
    "undefined value %z"
);
error_case!(
    value_defined_twice,
    Parse,
    &func("  %y = exp %a : f32[4]\n  %y = neg %a : f32[4]\n  return %y"),
    3,
    3,
    "value %y is defined twice (first at 2:3)"
);
error_case!(
    argument_shadowed,
    Parse,
    &func("  %a = exp %a : f32[4]\n  return %a"),
    2,
    3,
    "value %a is defined twice (first at 1:9)"
);
error_case!(
    function_defined_twice,
    Parse,
    "func @f() {\n  return\n}\n\nfunc @f(param %a: f32[1]) {\n  return %a\n}\n",
    5,
    6,
    "function @f is defined twice (first at 1:1)"
);

// ---- types and dims ----

error_case!(
    unknown_dtype,
    Parse,
    &func("  %y = exp %a : f31[4]\n  return %y"),
    2,
    17,
    "unknown dtype `f31` (expected one of f64, f32, bf16, f16, i32, bool)"
);
error_case!(
    huge_dimension,
    Parse,
    "func @f(param %a: f32[99999999999999999999]) {\n  return %a\n}\n",
    1,
    23,
    "dimension 99999999999999999999 is too large"
);
error_case!(
    dimension_above_element_limit,
    Parse,
    "func @f(param %a: f32[281474976710657]) {\n  return %a\n}\n",
    1,
    23,
    "dimension 281474976710657 is too large (a tensor holds at most 2^48 elements)"
);
error_case!(
    too_many_elements,
    Parse,
    "func @f(param %a: f32[65536,65536,65536,2]) {\n  return %a\n}\n",
    1,
    19,
    "type f32[65536,65536,65536,2] has more than 2^48 elements"
);
error_case!(
    negative_dimension,
    Parse,
    "func @f(param %a: f32[4,-2]) {\n  return %a\n}\n",
    1,
    25,
    "dimension must be a non-negative integer, found `-2`"
);

// ---- attributes ----

error_case!(
    unknown_attribute_with_suggestion,
    Parse,
    &func("  %y = reduce_sum %a {axes = [0], keepdims = true} : f32[1]\n  return %y"),
    2,
    35,
    "unknown attribute `keepdims` for `reduce_sum` (did you mean `keep_dims`?)"
);
error_case!(
    attribute_on_op_without_attributes,
    Parse,
    &func("  %y = exp %a {fast = true} : f32[4]\n  return %y"),
    2,
    16,
    "unknown attribute `fast`: `exp` takes no attributes"
);
error_case!(
    missing_attribute,
    Parse,
    &func("  %y = reduce_sum %a {axes = [0]} : f32[1]\n  return %y"),
    2,
    8,
    "`reduce_sum` needs attribute `keep_dims` (`true` or `false`)"
);
error_case!(
    wrong_attribute_type,
    Parse,
    &func("  %y = reduce_sum %a {axes = [0], keep_dims = 1} : f32[1]\n  return %y"),
    2,
    47,
    "attribute `keep_dims` of `reduce_sum` must be `true` or `false`, found `1`"
);
error_case!(
    duplicate_attribute,
    Parse,
    &func("  %y = iota {axis = 0, axis = 0} : f32[4]\n  return %y"),
    2,
    24,
    "attribute `axis` is given twice (first at 2:14)"
);
error_case!(
    negative_integer_attribute,
    Parse,
    &func("  %y = iota {axis = -1} : f32[4]\n  return %y"),
    2,
    21,
    "attribute `axis` must be a non-negative integer, found `-1`"
);
error_case!(
    float_out_of_range,
    Parse,
    &func("  %y = full {value = 1e999} : f32[4]\n  return %y"),
    2,
    22,
    "float 1e999 is out of range (write `inf` for infinity)"
);
error_case!(
    bad_wrt_word,
    Parse,
    &func(
        "  %y = full {value = 1.0} : f32[1,1,1,2]\n  %g = attention_grad %y, %y, %y, %y {scale = 1.0, causal = false, wrt = x} : f32[1,1,1,2]\n  return %g"
    ),
    3,
    74,
    "attribute `wrt` of `attention_grad` must be one of `q`, `k`, `v`, found `x`"
);
error_case!(
    bad_collective_kind,
    Parse,
    &func("  %y = all_reduce %a {kind = max} : f32[4]\n  return %y"),
    2,
    30,
    "attribute `kind` of `all_reduce` must be one of `sum`, `mean`, found `max`"
);

// ---- verifier errors, located at the offending statement ----

error_case!(
    shape_mismatch,
    Type,
    "func @f(param %a: f32[4], param %b: f32[3]) {\n  %y = add %a, %b : f32[4]\n  return %y\n}\n",
    2,
    3,
    "%y = add: `add` needs operands of the same type, got f32[4] and f32[3]"
);
error_case!(
    declared_type_disagrees,
    Type,
    &func("  %s = reduce_sum %a {axes = [0], keep_dims = true} : f32[]\n  return %s"),
    2,
    3,
    "%s = reduce_sum: declared type f32[] does not match the inferred type f32[1]"
);
error_case!(
    wrong_dtype_indices,
    Type,
    "func @f(param %w: f32[8,4], input %i: f32[2]) {\n  %x = gather %w, %i : f32[2,4]\n  return %x\n}\n",
    2,
    3,
    "%x = gather: `gather` needs i32 indices, got f32[2]"
);
error_case!(
    wrong_dtype_declared,
    Type,
    &func("  %y = exp %a : f64[4]\n  return %y"),
    2,
    3,
    "%y = exp: declared type f64[4] does not match the inferred type f32[4]"
);
error_case!(
    wrong_operand_count,
    Type,
    &func("  %y = exp %a, %a : f32[4]\n  return %y"),
    2,
    3,
    "%y = exp: `exp` takes 1 operand, got 2"
);
error_case!(
    update_of_an_input,
    Structure,
    &func("  %y = neg %t : i32[2]\n  return %y -> %t"),
    2,
    3,
    "in @f: result %y updates something that is not a param or state argument"
);
error_case!(
    update_with_other_type,
    Structure,
    "func @f(param %a: f32[4]) {\n  %s = reduce_sum %a {axes = [0], keep_dims = true} : f32[1]\n  return %s -> %a\n}\n",
    2,
    3,
    "in @f: result %s: f32[1] cannot update %a: f32[4]"
);
error_case!(
    all_reduce_of_integers,
    Type,
    &func("  %y = all_reduce %t {kind = sum} : i32[2]\n  return %y"),
    2,
    3,
    "%y = all_reduce: `all_reduce` needs a float operand, got i32[2]"
);
error_case!(
    empty_return,
    Structure,
    "func @f(param %a: f32[4]) {\n  return\n}\n",
    2,
    3,
    "in @f: function returns nothing"
);

#[test]
fn long_tokens_are_shortened_in_messages() {
    let word = "x".repeat(10_000);
    let e = fails(&func(&format!("  %y = {word} %a : f32[4]\n  return %y")));
    let msg = e.to_string();
    assert!(msg.starts_with("2:8: unknown op `xxxx"), "{msg}");
    assert!(msg.ends_with("...`"), "{msg}");
    assert!(msg.len() < 100, "{msg}");
}

#[test]
fn deep_brackets_do_not_recurse() {
    // No part of the grammar nests, so a wall of brackets is a plain syntax error.
    let src = format!(
        "func @f(param %a: f32[4]) {{\n  %y = transpose %a {{perm = {}",
        "[".repeat(100_000)
    );
    let e = fails(&src);
    assert_eq!(e.to_string(), "2:30: expected an integer, found `[`");
}

//! No `plan.json` panics the reader: a valid plan with random numbers (huge, negative,
//! fractional, at the `u64` edge) put into its numeric fields reads back `Ok` or gives a
//! `plan.json:` error with a message. A plan that is accepted is safe to size: every
//! buffer's byte count and every GEMM's flop count computes without overflow.

use llc_ir::plan::{
    ArgBinding, BufRef, Buffer, EntryDecl, GemmDesc, KernelClass, KernelDecl, KernelStep, Launch,
    LaunchDims, OutputBinding, PLAN_ALIGNMENT, PLAN_SCHEMA_VERSION, ParamRef, Plan, PlanStats,
    Region, RegionKind, Step,
};
use llc_ir::{ArgRole, DType, IrError, TensorType};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::Value;
use std::cell::Cell;

/// 2000 cases per property, or `PROPTEST_CASES` to fuzz longer.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

fn buf(name: &str, offset: u64, dtype: DType, shape: &[usize], view_of: Option<u32>) -> Buffer {
    Buffer {
        name: name.into(),
        offset,
        bytes: TensorType::new(dtype, shape.to_vec()).size_bytes() as u64,
        dtype,
        shape: shape.to_vec(),
        region: RegionKind::Activation,
        view_of,
    }
}

fn bref(p: &Plan, i: u32) -> BufRef {
    let b = &p.buffers[i as usize];
    BufRef {
        buffer: i,
        offset: b.offset,
        bytes: b.bytes,
    }
}

/// A plan with every kind of step: a GEMM, a kernel with a scratch buffer, a strided copy
/// (a transpose), a gather and its scatter-add, a memset and a copy from a view.
fn valid_plan() -> Plan {
    let f32 = DType::F32;
    let mut p = Plan {
        schema_version: PLAN_SCHEMA_VERSION,
        function: "step".into(),
        target: "sm_90".into(),
        alignment: PLAN_ALIGNMENT,
        arena_bytes: 4096,
        regions: vec![
            Region {
                kind: RegionKind::Input,
                offset: 0,
                bytes: 256,
            },
            Region {
                kind: RegionKind::Activation,
                offset: 256,
                bytes: 3840,
            },
        ],
        buffers: vec![
            buf("a", 0, f32, &[2, 3], None),
            buf("b", 256, f32, &[3, 4], None),
            buf("c", 512, f32, &[2, 4], None),
            buf("table", 768, f32, &[5, 4], None),
            buf("idx", 1024, DType::I32, &[3], None),
            buf("rows", 1280, f32, &[3, 4], None),
            buf("t", 1536, f32, &[3, 2], None),
            buf("c.flat", 512, f32, &[8], Some(2)),
            buf("scratch", 1792, f32, &[4], None),
        ],
        args: vec![],
        outputs: vec![],
        kernels: vec![KernelDecl {
            name: "k".into(),
            class: KernelClass::Elementwise,
            fingerprint: 7,
            params: vec![TensorType::new(f32, [2, 4]); 2],
            num_inputs: 1,
            scratch: vec![TensorType::new(f32, [4])],
            entries: vec![EntryDecl {
                entry: "k_entry".into(),
                dims: LaunchDims {
                    grid: [1, 1, 1],
                    block: [128, 1, 1],
                    shared_mem_bytes: 0,
                },
                params: vec![
                    ParamRef::Input(0),
                    ParamRef::Output(0),
                    ParamRef::Scratch(0),
                ],
            }],
            uses: 1,
        }],
        steps: vec![],
        stats: PlanStats::default(),
    };
    let [a, b, c, table, idx, rows, t, flat, scratch] = std::array::from_fn(|i| bref(&p, i as u32));
    p.args = vec![ArgBinding {
        name: "a".into(),
        role: ArgRole::Input,
        buffer: 0,
        offset: a.offset,
        bytes: a.bytes,
    }];
    p.outputs = vec![OutputBinding {
        name: "c".into(),
        buffer: 2,
        offset: c.offset,
        bytes: c.bytes,
        updates: None,
    }];
    p.steps = vec![
        Step::Gemm(GemmDesc {
            name: "c".into(),
            m: 2,
            n: 4,
            k: 3,
            batch: 1,
            trans_a: false,
            trans_b: false,
            lda: 3,
            ldb: 4,
            ldc: 4,
            stride_a: 6,
            stride_b: 12,
            stride_c: 8,
            dtype: f32,
            compute: f32,
            alpha: 1.0,
            beta: 0.0,
            a,
            b,
            c,
        }),
        Step::Kernel(KernelStep {
            kernel: "k".into(),
            inputs: vec![c],
            outputs: vec![c],
            scratch: vec![scratch],
            launches: vec![Launch {
                entry: "k_entry".into(),
                dims: p.kernels[0].entries[0].dims,
                args: vec![c, c, scratch],
            }],
        }),
        Step::StridedCopy {
            src: a,
            dst: t,
            dtype: f32,
            shape: vec![3, 2],
            src_offset: 0,
            src_strides: vec![1, 3],
            dst_offset: 0,
            dst_strides: vec![2, 1],
        },
        Step::Gather {
            table,
            indices: idx,
            out: rows,
            dtype: f32,
            rows: 5,
            count: 3,
            row_elems: 4,
        },
        Step::ScatterAdd {
            indices: idx,
            updates: rows,
            out: table,
            dtype: f32,
            rows: 5,
            count: 3,
            row_elems: 4,
        },
        Step::Memset { dst: c, value: 0 },
        Step::Copy { src: flat, dst: c },
    ];
    p
}

/// The plan as a JSON value, and the JSON pointer of every number in it.
fn plan_numbers() -> (Value, Vec<String>) {
    fn walk(v: &Value, path: String, out: &mut Vec<String>) {
        match v {
            Value::Number(_) => out.push(path),
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, format!("{path}/{i}"), out);
                }
            }
            Value::Object(m) => {
                for (k, x) in m {
                    walk(x, format!("{path}/{k}"), out);
                }
            }
            _ => {}
        }
    }
    let v: Value = serde_json::from_str(&valid_plan().to_json()).expect("a plan is JSON");
    let mut paths = Vec::new();
    walk(&v, String::new(), &mut paths);
    (v, paths)
}

/// Numbers around the edges: small, powers of two, `u32`/`u64` extremes, negative,
/// fractional and huge floats.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0u64..600).prop_map(Value::from),
        (0u32..64).prop_map(|s| Value::from(1u64 << s)),
        (0u64..4).prop_map(|d| Value::from(u64::MAX - d)),
        (0u64..4).prop_map(|d| Value::from(u64::from(u32::MAX) - d + 1)),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(vec![0.5, -1.0, 1e300, 1.8446744073709552e19]).prop_map(Value::from),
    ]
}

/// How a case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accepted,
    Rejected,
}

/// An error is a `plan.json:` error with a message; an accepted plan can be sized.
fn check(text: &str) -> Result<Outcome, TestCaseError> {
    match Plan::from_json(text) {
        Err(e) => {
            prop_assert!(matches!(e, IrError::Plan(_)), "{:?}", e);
            let msg = e.to_string();
            prop_assert!(
                msg.starts_with("plan.json: ") && msg.len() > "plan.json: ".len(),
                "{}",
                msg
            );
            Ok(Outcome::Rejected)
        }
        Ok(p) => {
            for b in &p.buffers {
                prop_assert_eq!(b.ty().size_bytes() as u64, b.bytes);
            }
            for k in &p.kernels {
                for t in k.params.iter().chain(&k.scratch) {
                    let _ = t.size_bytes();
                }
            }
            for s in &p.steps {
                if let Step::Gemm(g) = s {
                    let _ = (g.flops(), g.column_major());
                }
            }
            let again = Plan::from_json(&p.to_json());
            prop_assert_eq!(again.as_ref(), Ok(&p));
            Ok(Outcome::Accepted)
        }
    }
}

/// Run `check` on `cases()` plans with random numbers written into random numeric
/// fields (`edits` per plan), print the outcomes and return `[accepted, rejected]`.
fn fuzz(name: &str, edits: std::ops::Range<usize>) -> [u32; 2] {
    let (base, paths) = plan_numbers();
    let strategy = prop::collection::vec((0..paths.len(), number()), edits);
    let counts = [Cell::new(0u32), Cell::new(0u32)];
    let mut runner = TestRunner::new(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(cases())
    });
    let result = runner.run(&strategy, |edits| {
        let mut v = base.clone();
        for (i, n) in edits {
            *v.pointer_mut(&paths[i]).expect("a path of the plan") = n;
        }
        let i = match check(&v.to_string())? {
            Outcome::Accepted => 0,
            Outcome::Rejected => 1,
        };
        counts[i].set(counts[i].get() + 1);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    let [ok, err] = counts.map(|c| c.get());
    println!(
        "{name}: {} cases over {} numeric fields, {ok} accepted, {err} rejected",
        cases(),
        paths.len()
    );
    [ok, err]
}

#[test]
fn the_base_plan_is_valid() {
    let p = valid_plan();
    p.validate().unwrap();
    assert_eq!(Plan::from_json(&p.to_json()).unwrap(), p);
    assert!(plan_numbers().1.len() > 100);
}

#[test]
fn one_random_number_never_panics() {
    let [ok, err] = fuzz("one numeric field", 1..2);
    // Some edits keep the plan valid (a fingerprint, alpha, a launch's grid), most break
    // it: both branches of `check` run.
    assert!(
        err > 0 && (ok > 0 || cases() < 500),
        "{ok} accepted, {err} rejected"
    );
}

#[test]
fn several_random_numbers_never_panic() {
    let [_, err] = fuzz("several numeric fields", 2..10);
    assert!(err > 0);
}

/// The message of the error `valid_plan()` changed by `edit` gives.
fn error_of(edit: impl FnOnce(&mut Plan)) -> String {
    let mut p = valid_plan();
    edit(&mut p);
    let err = Plan::from_json(&p.to_json()).expect_err("the plan should be rejected");
    assert!(matches!(err, IrError::Plan(_)), "{err:?}");
    err.to_string()
}

fn gemm(p: &mut Plan) -> &mut GemmDesc {
    match &mut p.steps[0] {
        Step::Gemm(g) => g,
        _ => unreachable!("step 0 is the GEMM"),
    }
}

#[test]
fn overflowing_numbers_are_errors_naming_where() {
    // Each of these overflowed u64 (a panic in debug builds, a wrapped check in release)
    // before the arithmetic was checked.
    let cases: Vec<(String, &str)> = vec![
        (
            error_of(|p| p.buffers[0].shape = vec![1 << 40, 1 << 40]),
            "buffer 0 %a: type f32[1099511627776,1099511627776] has more than 2^48 elements",
        ),
        (
            error_of(|p| p.kernels[0].params[0].shape = vec![usize::MAX, 2]),
            "kernel k parameter 0: type f32[18446744073709551615,2] has more than 2^48 elements",
        ),
        (
            error_of(|p| p.kernels[0].num_inputs = 5),
            "kernel k has num_inputs 5 but only 2 parameters",
        ),
        (
            error_of(|p| {
                let g = gemm(p);
                g.batch = 2;
                g.stride_a = u64::MAX;
            }),
            "step 0 (gemm %c) operand A: 2x3 with leading dim 3 and batch stride 18446744073709551615 over 2 batches overflows u64",
        ),
        (
            error_of(|p| {
                let g = gemm(p);
                g.batch = 3;
                g.stride_a = 0;
                g.stride_b = u64::MAX / 2;
            }),
            "operand B: 3x4 with leading dim 4 and batch stride 9223372036854775807 over 3 batches overflows u64",
        ),
        (
            error_of(|p| gemm(p).ldc = u64::MAX / 2),
            "operand C: 2x4 with leading dim 9223372036854775807",
        ),
        (
            error_of(|p| {
                if let Step::StridedCopy { src_strides, .. } = &mut p.steps[2] {
                    src_strides[0] = u64::MAX;
                }
            }),
            "step 2: strided copy source extent overflows u64 (src_offset 0, src_strides [18446744073709551615, 3]",
        ),
        (
            error_of(|p| {
                if let Step::StridedCopy { dst_offset, .. } = &mut p.steps[2] {
                    *dst_offset = u64::MAX;
                }
            }),
            "step 2: strided copy destination extent overflows u64 (dst_offset 18446744073709551615",
        ),
        (
            error_of(|p| {
                if let Step::Gather { row_elems, .. } = &mut p.steps[3] {
                    *row_elems = 1 << 62;
                }
            }),
            "step 3: rows 5 times row_elems 4611686018427387904 overflows u64",
        ),
        (
            error_of(|p| {
                if let Step::ScatterAdd { count, .. } = &mut p.steps[4] {
                    *count = u64::MAX / 2;
                }
            }),
            "step 4: count 9223372036854775807 times row_elems 4 overflows u64",
        ),
        (
            error_of(|p| p.regions[1].bytes = u64::MAX),
            "region 1 (activation, 18446744073709551615 bytes at 256) overlaps the previous region or lies outside the 4096-byte arena",
        ),
        (
            error_of(|p| p.regions[1].offset = 128),
            "region 1 (activation, 3840 bytes at 128) overlaps",
        ),
        (
            error_of(|p| p.alignment = 0),
            "alignment 0 is not a power of two",
        ),
    ];
    for (msg, wanted) in cases {
        assert!(msg.contains(wanted), "{msg}\n  does not contain\n{wanted}");
    }
}

#[test]
fn flops_saturate() {
    let mut p = valid_plan();
    let g = gemm(&mut p);
    assert_eq!(g.flops(), 48);
    g.m = u64::MAX;
    assert_eq!(g.flops(), u64::MAX);
}

//! The CPU plan executor on hand-written plans: each step kind against a direct
//! computation, that buffers really share the arena (a view sees its base's bytes), and
//! clear errors for bad plans and artifacts.

use llc_ir::plan::{
    ArgBinding, BufRef, Buffer, GemmDesc, KernelClass, KernelDecl, KernelStep, OutputBinding,
    PLAN_ALIGNMENT, PLAN_SCHEMA_VERSION, Plan, PlanStats, Region, RegionKind, Step,
};
use llc_ir::{ArgRole, Builder, DType, Function, TensorType};
use llc_runtime::{PlanExecutor, Tensor};

/// Buffers laid out one after another at aligned offsets.
struct Layout {
    buffers: Vec<Buffer>,
    end: u64,
}

impl Layout {
    fn new() -> Self {
        Layout {
            buffers: Vec::new(),
            end: 0,
        }
    }
    fn add(&mut self, name: &str, dtype: DType, shape: &[usize]) -> u32 {
        let bytes = TensorType::new(dtype, shape).size_bytes() as u64;
        self.buffers.push(Buffer {
            name: name.into(),
            offset: self.end,
            bytes,
            dtype,
            shape: shape.to_vec(),
            region: RegionKind::Activation,
            view_of: None,
        });
        self.end = (self.end + bytes).div_ceil(PLAN_ALIGNMENT) * PLAN_ALIGNMENT;
        (self.buffers.len() - 1) as u32
    }
    /// A view of buffer `base` with another type, `offset` bytes in.
    fn view(&mut self, name: &str, base: u32, offset: u64, dtype: DType, shape: &[usize]) -> u32 {
        let b = &self.buffers[base as usize];
        self.buffers.push(Buffer {
            name: name.into(),
            offset: b.offset + offset,
            bytes: TensorType::new(dtype, shape).size_bytes() as u64,
            dtype,
            shape: shape.to_vec(),
            region: b.region,
            view_of: Some(base),
        });
        (self.buffers.len() - 1) as u32
    }
    fn r(&self, i: u32) -> BufRef {
        BufRef {
            buffer: i,
            offset: self.buffers[i as usize].offset,
            bytes: self.buffers[i as usize].bytes,
        }
    }
}

/// A plan over `layout` whose inputs are `inputs` and results `outputs`.
fn plan(
    l: &Layout,
    inputs: &[u32],
    outputs: &[u32],
    kernels: Vec<KernelDecl>,
    steps: Vec<Step>,
) -> Plan {
    Plan {
        schema_version: PLAN_SCHEMA_VERSION,
        function: "test".into(),
        target: "cpu".into(),
        alignment: PLAN_ALIGNMENT,
        arena_bytes: l.end,
        regions: vec![Region {
            kind: RegionKind::Activation,
            offset: 0,
            bytes: l.end,
        }],
        buffers: l.buffers.clone(),
        args: inputs
            .iter()
            .map(|&i| ArgBinding {
                name: l.buffers[i as usize].name.clone(),
                role: ArgRole::Input,
                buffer: i,
                offset: l.buffers[i as usize].offset,
                bytes: l.buffers[i as usize].bytes,
            })
            .collect(),
        outputs: outputs
            .iter()
            .map(|&i| OutputBinding {
                name: l.buffers[i as usize].name.clone(),
                buffer: i,
                offset: l.buffers[i as usize].offset,
                bytes: l.buffers[i as usize].bytes,
                updates: None,
            })
            .collect(),
        kernels,
        steps,
        stats: PlanStats::default(),
    }
}

fn seq(n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|i| (i as f32 * 0.37).sin() * scale + i as f32 * 0.01)
        .collect()
}

/// `C[b] = op(A[b]) op(B[b])` by loops, row-major.
#[allow(clippy::too_many_arguments)]
fn naive(
    a: &[f32],
    b: &[f32],
    m: usize,
    n: usize,
    k: usize,
    batch: usize,
    ta: bool,
    tb: bool,
) -> Vec<f32> {
    let mut c = vec![0f32; batch * m * n];
    for bi in 0..batch {
        for i in 0..m {
            for j in 0..n {
                let mut s = 0f64;
                for l in 0..k {
                    let x = if ta {
                        a[bi * m * k + l * m + i]
                    } else {
                        a[bi * m * k + i * k + l]
                    };
                    let y = if tb {
                        b[bi * k * n + j * k + l]
                    } else {
                        b[bi * k * n + l * n + j]
                    };
                    s += f64::from(x) * f64::from(y);
                }
                c[bi * m * n + i * n + j] = s as f32;
            }
        }
    }
    c
}

#[test]
fn gemm_descriptors_follow_transposes_and_batch_strides() {
    let (m, n, k, batch) = (3, 5, 4, 2);
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let mut l = Layout::new();
        let a = l.add(
            "a",
            DType::F32,
            &[batch, if ta { k } else { m }, if ta { m } else { k }],
        );
        let b = l.add(
            "b",
            DType::F32,
            &[batch, if tb { n } else { k }, if tb { k } else { n }],
        );
        let c = l.add("c", DType::F32, &[batch, m, n]);
        let g = GemmDesc {
            name: "c".into(),
            m: m as u64,
            n: n as u64,
            k: k as u64,
            batch: batch as u64,
            trans_a: ta,
            trans_b: tb,
            lda: if ta { m } else { k } as u64,
            ldb: if tb { k } else { n } as u64,
            ldc: n as u64,
            stride_a: (m * k) as u64,
            stride_b: (k * n) as u64,
            stride_c: (m * n) as u64,
            dtype: DType::F32,
            compute: DType::F32,
            alpha: 1.0,
            beta: 0.0,
            a: l.r(a),
            b: l.r(b),
            c: l.r(c),
        };
        let p = plan(&l, &[a, b], &[c], vec![], vec![Step::Gemm(g)]);
        let mut ex = PlanExecutor::new(p, vec![]).unwrap();
        let (av, bv) = (seq(batch * m * k, 1.0), seq(batch * k * n, 0.5));
        ex.set_arg(
            "a",
            &Tensor::from_f32(l.buffers[a as usize].shape.clone(), av.clone()).unwrap(),
        )
        .unwrap();
        ex.set_arg(
            "b",
            &Tensor::from_f32(l.buffers[b as usize].shape.clone(), bv.clone()).unwrap(),
        )
        .unwrap();
        ex.run().unwrap();
        let got = ex.output("c").unwrap().to_f32_vec();
        let want = naive(&av, &bv, m, n, k, batch, ta, tb);
        for (x, y) in got.iter().zip(&want) {
            assert!((x - y).abs() < 1e-5, "ta {ta} tb {tb}: {x} vs {y}");
        }
    }
}

/// Matrix-vector shapes (a decode step at batch 1: one row against a weight matrix or
/// the cache), with contraction lengths that leave tails of every size, on one thread
/// and split over two.
#[test]
fn gemv_shapes_match_loops_on_one_and_two_threads() {
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        for (m, n, k, batch) in [
            (1, 864, 288, 1),
            (1, 258, 288, 1),
            (1, 288, 768, 1),
            (1, 144, 48, 6),
            (2, 37, 50, 3),
            (4, 17, 7, 1),
        ] {
            for tb in [false, true] {
                let mut l = Layout::new();
                let a = l.add("a", DType::F32, &[batch, m, k]);
                let b = l.add(
                    "b",
                    DType::F32,
                    &[batch, if tb { n } else { k }, if tb { k } else { n }],
                );
                let c = l.add("c", DType::F32, &[batch, m, n]);
                let g = GemmDesc {
                    name: "c".into(),
                    m: m as u64,
                    n: n as u64,
                    k: k as u64,
                    batch: batch as u64,
                    trans_a: false,
                    trans_b: tb,
                    lda: k as u64,
                    ldb: if tb { k } else { n } as u64,
                    ldc: n as u64,
                    stride_a: (m * k) as u64,
                    stride_b: (k * n) as u64,
                    stride_c: (m * n) as u64,
                    dtype: DType::F32,
                    compute: DType::F32,
                    alpha: 1.0,
                    beta: 0.0,
                    a: l.r(a),
                    b: l.r(b),
                    c: l.r(c),
                };
                let p = plan(&l, &[a, b], &[c], vec![], vec![Step::Gemm(g)]);
                let mut ex = PlanExecutor::new(p, vec![]).unwrap();
                let (av, bv) = (seq(batch * m * k, 1.0), seq(batch * k * n, 0.5));
                ex.set_arg("a", &Tensor::from_f32([batch, m, k], av.clone()).unwrap())
                    .unwrap();
                ex.set_arg(
                    "b",
                    &Tensor::from_f32(l.buffers[b as usize].shape.clone(), bv.clone()).unwrap(),
                )
                .unwrap();
                pool.install(|| ex.run()).unwrap();
                let got = ex.output("c").unwrap().to_f32_vec();
                let want = naive(&av, &bv, m, n, k, batch, false, tb);
                for (x, y) in got.iter().zip(&want) {
                    assert!(
                        (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                        "{m}x{n}x{k} x{batch} tb {tb}, {threads} threads: {x} vs {y}"
                    );
                }
            }
        }
    }
}

#[test]
fn an_accumulating_gemm_adds_to_its_output() {
    // C = A1 B1 + A2 B2 as two GEMMs, the second with beta = 1 (a split contraction).
    let mut l = Layout::new();
    let a = l.add("a", DType::F32, &[2, 6]);
    let b = l.add("b", DType::F32, &[6, 3]);
    let c = l.add("c", DType::F32, &[2, 3]);
    // A's halves are columns 0..3 and 3..6 (leading dim 6); B's are rows 0..3, 3..6.
    let a2 = l.view("a2", a, 3 * 4, DType::F32, &[9]);
    let b2 = l.view("b2", b, 9 * 4, DType::F32, &[3, 3]);
    let part = |a_ref: BufRef, b_ref: BufRef, beta: f64| GemmDesc {
        name: "c".into(),
        m: 2,
        n: 3,
        k: 3,
        batch: 1,
        trans_a: false,
        trans_b: false,
        lda: 6,
        ldb: 3,
        ldc: 3,
        stride_a: 0,
        stride_b: 0,
        stride_c: 0,
        dtype: DType::F32,
        compute: DType::F32,
        alpha: 1.0,
        beta,
        a: a_ref,
        b: b_ref,
        c: l.r(c),
    };
    let steps = vec![
        Step::Gemm(part(l.r(a), l.r(b), 0.0)),
        Step::Gemm(part(l.r(a2), l.r(b2), 1.0)),
    ];
    let p = plan(&l, &[a, b], &[c], vec![], steps);
    let mut ex = PlanExecutor::new(p, vec![]).unwrap();
    let (av, bv) = (seq(12, 1.0), seq(18, 1.0));
    ex.set_arg("a", &Tensor::from_f32([2, 6], av.clone()).unwrap())
        .unwrap();
    ex.set_arg("b", &Tensor::from_f32([6, 3], bv.clone()).unwrap())
        .unwrap();
    ex.run().unwrap();
    let got = ex.output("c").unwrap().to_f32_vec();
    let want = naive(&av, &bv, 2, 3, 6, 1, false, false);
    for (x, y) in got.iter().zip(&want) {
        assert!((x - y).abs() < 1e-5, "{x} vs {y}");
    }
}

#[test]
fn a_strided_copy_transposes() {
    let mut l = Layout::new();
    let x = l.add("x", DType::I32, &[2, 3, 4]);
    let y = l.add("y", DType::I32, &[2, 4, 3]);
    let step = Step::StridedCopy {
        src: l.r(x),
        dst: l.r(y),
        dtype: DType::I32,
        shape: vec![2, 4, 3],
        src_offset: 0,
        src_strides: vec![12, 1, 4],
        dst_offset: 0,
        dst_strides: vec![12, 3, 1],
    };
    let p = plan(&l, &[x], &[y], vec![], vec![step]);
    let mut ex = PlanExecutor::new(p, vec![]).unwrap();
    ex.set_arg(
        "x",
        &Tensor::from_i32([2, 3, 4], (0..24).collect()).unwrap(),
    )
    .unwrap();
    ex.run().unwrap();
    let got = ex.output("y").unwrap();
    let v = got.as_i32().unwrap();
    for b in 0..2 {
        for i in 0..4 {
            for j in 0..3 {
                assert_eq!(v[b * 12 + i * 3 + j], (b * 12 + j * 4 + i) as i32);
            }
        }
    }
}

#[test]
fn gather_and_scatter_add_move_rows() {
    let mut l = Layout::new();
    let table = l.add("table", DType::F32, &[4, 2]);
    let idx = l.add("idx", DType::I32, &[3]);
    let rows = l.add("rows", DType::F32, &[3, 2]);
    let back = l.add("back", DType::F32, &[4, 2]);
    let steps = vec![
        Step::Gather {
            table: l.r(table),
            indices: l.r(idx),
            out: l.r(rows),
            dtype: DType::F32,
            rows: 4,
            count: 3,
            row_elems: 2,
        },
        Step::ScatterAdd {
            indices: l.r(idx),
            updates: l.r(rows),
            out: l.r(back),
            dtype: DType::F32,
            rows: 4,
            count: 3,
            row_elems: 2,
        },
    ];
    let p = plan(&l, &[table, idx], &[rows, back], vec![], steps);
    let mut ex = PlanExecutor::new(p, vec![]).unwrap();
    ex.set_arg(
        "table",
        &Tensor::from_f32([4, 2], (0..8).map(|i| i as f32).collect()).unwrap(),
    )
    .unwrap();
    ex.set_arg("idx", &Tensor::from_i32([3], vec![2, 0, 2]).unwrap())
        .unwrap();
    ex.run().unwrap();
    assert_eq!(
        ex.output("rows").unwrap().to_f32_vec(),
        [4., 5., 0., 1., 4., 5.]
    );
    assert_eq!(
        ex.output("back").unwrap().to_f32_vec(),
        [0., 1., 0., 0., 8., 10., 0., 0.]
    );
    // An index outside the table is an error naming it, not a panic.
    ex.set_arg("idx", &Tensor::from_i32([3], vec![2, 7, 0]).unwrap())
        .unwrap();
    let err = ex.run().unwrap_err().to_string();
    assert!(
        err.contains("index 7 at position 1 is outside 0..4"),
        "{err}"
    );
}

/// `y = x * 2 + 1` as a kernel writing into a view: the view shares its base's bytes.
#[test]
fn kernels_read_and_write_arena_bytes() {
    let mut k = Function::new("k");
    let mut b = Builder::new(&mut k);
    let x = b.input("in0", DType::F32, &[6]).unwrap();
    let y = b.mul_scalar(x, 2.0).unwrap();
    let y = b.add_scalar(y, 1.0).unwrap();
    b.output(y);
    let mut l = Layout::new();
    let xb = l.add("x", DType::F32, &[6]);
    let yb = l.add("y", DType::F32, &[2, 3]);
    let flat = l.view("y_flat", yb, 0, DType::F32, &[6]);
    let decl = KernelDecl {
        name: "k".into(),
        class: KernelClass::Elementwise,
        fingerprint: 0,
        params: vec![TensorType::new(DType::F32, [6]); 2],
        num_inputs: 1,
        scratch: vec![],
        entries: vec![],
        uses: 1,
    };
    let step = Step::Kernel(KernelStep {
        kernel: "k".into(),
        inputs: vec![l.r(xb)],
        outputs: vec![l.r(flat)],
        scratch: vec![],
        launches: vec![],
    });
    let p = plan(&l, &[xb], &[yb], vec![decl.clone()], vec![step]);
    let mut ex = PlanExecutor::new(p.clone(), vec![k.clone()]).unwrap();
    ex.set_arg("x", &Tensor::from_f32([6], seq(6, 1.0)).unwrap())
        .unwrap();
    ex.run().unwrap();
    let got = ex.output("y").unwrap();
    assert_eq!(got.shape(), [2, 3]);
    for (g, x) in got.to_f32_vec().iter().zip(seq(6, 1.0)) {
        assert_eq!(*g, x * 2.0 + 1.0);
    }
    // A kernel whose IR function is missing, or has another signature, is refused.
    let err = PlanExecutor::new(p.clone(), vec![])
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("kernel k is declared by the plan but has no IR function"),
        "{err}"
    );
    let mut other = k.clone();
    other.name = "k".into();
    let mut bad = p;
    bad.kernels[0].params[1] = TensorType::new(DType::F32, [6]);
    bad.kernels[0].params[0] = TensorType::new(DType::I32, [6]);
    assert!(PlanExecutor::new(bad, vec![other]).is_err());
}

#[test]
fn loading_a_missing_or_stale_artifact_says_what_is_wrong() {
    let dir = std::env::temp_dir().join(format!("llc-plan-exec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let err = PlanExecutor::load(&dir).err().unwrap().to_string();
    assert!(err.contains("plan.json"), "{err}");
    let mut l = Layout::new();
    let x = l.add("x", DType::F32, &[2]);
    let mut p = plan(&l, &[x], &[x], vec![], vec![]);
    p.schema_version = PLAN_SCHEMA_VERSION + 7;
    std::fs::write(dir.join("plan.json"), p.to_json()).unwrap();
    std::fs::write(dir.join("kernels.ir"), "").unwrap();
    let err = PlanExecutor::load(&dir).err().unwrap().to_string();
    assert!(err.contains("schema version"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

//! Unusual but legal kernels: scalars, pass-through and repeated outputs, size-1 dims,
//! nested row reductions, reductions with work after them, split reductions of every
//! kind, 16-bit floats. Each runs on the CPU and must agree with the interpreter.

use crate::common;

use crate::common::check::{agree, args_for};
use llc_codegen::{KernelClass, Target};
use llc_ir::{Builder, DType, Function, NodeId, ReduceKind, TensorType};

fn build(name: &str, f: impl FnOnce(&mut Builder) -> llc_ir::Result<Vec<NodeId>>) -> Function {
    let mut func = Function::new(name);
    let mut b = Builder::new(&mut func);
    for o in f(&mut b).unwrap() {
        b.output(o);
    }
    llc_ir::verify_function(&func, &Default::default()).unwrap();
    func
}

fn check(f: &Function) {
    let args = args_for(f, 21, 5, |_, t| t.clone());
    agree(f, &args, 1e-5, 1e-5);
}

#[test]
fn scalars_pass_through_and_repeated_outputs() {
    check(&build("scalar", |b| {
        let x = b.input("x", DType::F32, &[])?;
        let y = b.input("y", DType::F32, &[])?;
        Ok(vec![b.mul(x, y)?])
    }));
    check(&build("pass", |b| {
        let x = b.input("x", DType::F32, &[6])?;
        let e = b.exp(x)?;
        Ok(vec![x, e, e])
    }));
}

#[test]
fn size_one_dims_and_broadcast_reshape_chains() {
    check(&build("chain", |b| {
        let x = b.input("x", DType::F32, &[1, 8])?;
        let y = b.input("y", DType::F32, &[3, 4, 8])?;
        let xb = b.broadcast(x, &[3, 4, 8])?;
        let s = b.add(xb, y)?;
        let r = b.reshape(s, &[12, 2, 4])?;
        let z = b.input("z", DType::F32, &[2, 1])?;
        let zb = b.broadcast(z, &[12, 2, 4])?;
        Ok(vec![b.mul(r, zb)?])
    }));
    // a reduction over size-1 axes only moves no data: it is a reshape
    check(&build("keep_all", |b| {
        let x = b.input("x", DType::F32, &[4, 1, 8])?;
        let s = b.reduce_sum(x, &[0, 1, 2], true)?;
        let m = b.reduce_max(x, &[1], false)?;
        Ok(vec![s, b.mul(s, s)?, m])
    }));
}

#[test]
fn iota_along_a_middle_axis_and_int_reductions() {
    check(&build("iota", |b| {
        let x = b.input("x", DType::F32, &[3, 5, 4])?;
        let i = b.iota(TensorType::new(DType::F32, vec![3, 5, 4]), 1)?;
        Ok(vec![b.add(x, i)?])
    }));
    check(&build("int_max", |b| {
        let t = b.input("t", DType::I32, &[6, 10])?;
        let m = b.reduce_max(t, &[1], false)?;
        let s = b.reduce_sum(t, &[0], false)?;
        let _ = s;
        Ok(vec![m])
    }));
}

#[test]
fn layer_norm_has_two_levels_of_row_reductions() {
    let f = build("layer_norm", |b| {
        let x = b.input("x", DType::F32, &[5, 24])?;
        let mean = b.mean(x, &[1], true)?;
        let mb = b.broadcast(mean, &[5, 24])?;
        let c = b.sub(x, mb)?;
        let sq = b.mul(c, c)?;
        let var = b.mean(sq, &[1], true)?;
        let var = b.add_scalar(var, 1e-5)?;
        let inv = b.rsqrt(var)?;
        let ib = b.broadcast(inv, &[5, 24])?;
        let y = b.mul(c, ib)?;
        let per_row = b.reshape(var, &[5])?;
        Ok(vec![y, per_row])
    });
    assert_eq!(Target::Sm90.kernel_class(&f).unwrap(), KernelClass::Row);
    check(&f);
}

#[test]
fn work_after_a_reduction_uses_other_arguments() {
    // column sums scaled by a per-column argument, then a square root
    let f = build("colsum_scaled", |b| {
        let x = b.input("x", DType::F32, &[9, 40])?;
        let s = b.input("s", DType::F32, &[40])?;
        let c = b.reduce_sum(x, &[0], false)?;
        let c = b.mul(c, c)?;
        let c = b.mul(c, s)?;
        Ok(vec![c, b.sqrt(c)?])
    });
    assert_eq!(
        Target::Sm90.kernel_class(&f).unwrap(),
        KernelClass::Reduction
    );
    let args = args_for(&f, 21, 0, |i, t| {
        let v = t
            .to_f32_vec()
            .iter()
            .map(|v| if i == 1 { v.abs() } else { *v })
            .collect();
        llc_runtime::Tensor::from_f32(t.shape().to_vec(), v).unwrap()
    });
    agree(&f, &args, 1e-5, 1e-5);
}

#[test]
fn split_reductions_of_every_kind() {
    // full sum with work after it, full max, few columns over many rows
    check(&build("norm", |b| {
        let g = b.input("g", DType::F32, &[300, 700])?;
        let sq = b.mul(g, g)?;
        let s = b.sum_all(sq)?;
        Ok(vec![b.sqrt(s)?])
    }));
    check(&build("max_all", |b| {
        let g = b.input("g", DType::F32, &[300, 700])?;
        Ok(vec![b.reduce_max(g, &[0, 1], false)?])
    }));
    check(&build("few_columns", |b| {
        let g = b.input("g", DType::F32, &[20000, 8])?;
        Ok(vec![b.reduce_sum(g, &[0], false)?])
    }));
    check(&build("columns_split", |b| {
        let g = b.input("g", DType::F32, &[20000, 40])?;
        Ok(vec![b.reduce_max(g, &[0], false)?])
    }));
    check(&common::reduce(&[3, 70000], &[1], ReduceKind::Sum, false));
}

#[test]
fn sixteen_bit_floats_are_stored_in_16_bits_and_computed_in_f32() {
    use llc_codegen::cpu::{HostData, run_on_cpu};
    let f = build("bf16", |b| {
        let x = b.input("x", DType::F32, &[4, 16])?;
        let h = b.cast(x, DType::BF16)?;
        let e = b.exp(h)?;
        let s = b.reduce_sum(e, &[1], true)?;
        let s = b.broadcast(s, &[4, 16])?;
        let y = b.div(e, s)?;
        let back = b.cast(h, DType::F32)?;
        Ok(vec![y, back])
    });
    let x: Vec<f32> = (0..64).map(|i| (i as f32 * 0.731).sin() * 3.0).collect();
    let out = run_on_cpu(&f, &[HostData::F32(x.clone())]).unwrap();
    let HostData::Half(y) = &out[0] else {
        panic!("bf16 output comes back as 16-bit data")
    };
    let back = out[1].to_f32();
    let bf =
        |v: f32| f32::from_bits(((v.to_bits() + 0x7fff + ((v.to_bits() >> 16) & 1)) >> 16) << 16);
    for r in 0..4 {
        let row: Vec<f64> = (0..16).map(|c| (bf(x[r * 16 + c]) as f64).exp()).collect();
        let sum: f64 = row.iter().sum();
        for c in 0..16 {
            assert_eq!(back[r * 16 + c], bf(x[r * 16 + c]), "cast rounds to bf16");
            let got = f32::from_bits((y[r * 16 + c] as u32) << 16) as f64;
            let want = row[c] / sum;
            assert!(
                (got - want).abs() <= want * 2f64.powi(-8),
                "{got} vs {want}"
            );
        }
    }
}

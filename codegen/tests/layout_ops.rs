//! Data movement in kernels (`transpose`, `slice`, `concat`, `gather`, `scatter_add`),
//! alone as the partitioner's single-op kernels and fused with arithmetic, checked on the
//! CPU against the interpreter.

use crate::common::check::{agree, args_for};
use llc_codegen::{KernelClass, Target};
use llc_ir::{Builder, DType, Function, NodeId};

fn build(name: &str, f: impl FnOnce(&mut Builder) -> llc_ir::Result<Vec<NodeId>>) -> Function {
    let mut func = Function::new(name);
    let mut b = Builder::new(&mut func);
    for o in f(&mut b).unwrap() {
        b.output(o);
    }
    llc_ir::verify_function(&func, &Default::default()).unwrap();
    func
}

fn check(f: &Function, int_high: i32) -> KernelClass {
    let args = args_for(f, 9, int_high, |_, t| t.clone());
    agree(f, &args, 1e-5, 1e-5);
    Target::Sm90.kernel_class(f).unwrap()
}

#[test]
fn transposes_of_heads_and_matrices() {
    // attention's [B, T, H, hd] -> [B, H, T, hd]: rows of hd stay contiguous
    let heads = build("heads", |b| {
        let x = b.input("x", DType::F32, &[2, 6, 3, 8])?;
        Ok(vec![b.transpose(x, &[0, 2, 1, 3])?])
    });
    assert_eq!(check(&heads, 0), KernelClass::Elementwise);
    check(
        &build("matrix", |b| {
            let x = b.input("x", DType::F32, &[5, 7])?;
            Ok(vec![b.transpose(x, &[1, 0])?])
        }),
        0,
    );
    // a transposed operand of a row kernel
    check(
        &build("softmax_t", |b| {
            let x = b.input("x", DType::F32, &[6, 4, 12])?;
            let t = b.transpose(x, &[1, 0, 2])?;
            Ok(vec![b.softmax(t)?])
        }),
        0,
    );
}

#[test]
fn slices_and_concatenations() {
    check(
        &build("slices", |b| {
            let x = b.input("x", DType::F32, &[4, 6, 10])?;
            let a = b.slice(x, 2, 3, 9)?;
            let a = b.slice(a, 1, 1, 4)?;
            let c = b.slice(x, 1, 2, 5)?;
            let c = b.slice(c, 2, 0, 6)?;
            Ok(vec![b.add(a, c)?])
        }),
        0,
    );
    // along the last axis with odd lengths (chosen per element) and along the first
    // (chosen per row, statically per lane group)
    check(
        &build("concat_last", |b| {
            let x = b.input("x", DType::F32, &[4, 3])?;
            let y = b.input("y", DType::F32, &[4, 5])?;
            let z = b.input("z", DType::F32, &[4, 1])?;
            Ok(vec![b.concat(&[x, y, z], 1)?])
        }),
        0,
    );
    check(
        &build("concat_first", |b| {
            let x = b.input("x", DType::F32, &[2, 8])?;
            let y = b.input("y", DType::F32, &[3, 8])?;
            let c = b.concat(&[x, y], 0)?;
            Ok(vec![b.exp(c)?])
        }),
        0,
    );
}

#[test]
fn embedding_gather_and_its_scatter_add() {
    let (v, d) = (11, 16);
    let gather = build("embed", |b| {
        let table = b.input("table", DType::F32, &[v, d])?;
        let tok = b.input("tokens", DType::I32, &[3, 5])?;
        let e = b.gather(table, tok)?;
        Ok(vec![b.mul_scalar(e, 2.0)?])
    });
    assert_eq!(check(&gather, v as i32), KernelClass::Elementwise);
    // few rows: many tokens add into the same row
    let scatter = build("embed_grad", |b| {
        let tok = b.input("tokens", DType::I32, &[3, 5])?;
        let g = b.input("g", DType::F32, &[3, 5, d])?;
        let g = b.mul_scalar(g, 0.5)?;
        Ok(vec![b.scatter_add(tok, g, v)?])
    });
    assert_eq!(check(&scatter, v as i32), KernelClass::Scatter);
    check(
        &build("scatter_i32", |b| {
            let tok = b.input("tokens", DType::I32, &[7])?;
            let g = b.input("g", DType::I32, &[7, 3])?;
            Ok(vec![b.scatter_add(tok, g, 4)?])
        }),
        4,
    );
}

#[test]
fn a_scatter_add_must_be_the_only_output() {
    let f = build("two", |b| {
        let tok = b.input("tokens", DType::I32, &[4])?;
        let g = b.input("g", DType::F32, &[4, 8])?;
        let s = b.scatter_add(tok, g, 6)?;
        Ok(vec![s, g])
    });
    let e = Target::Sm90.kernel_class(&f).unwrap_err().to_string();
    assert!(e.contains("only output"), "{e}");
}

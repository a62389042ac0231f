//! Tensors to and from the device encoding of a buffer's dtype (little-endian; bool as one
//! byte; bf16/f16 as IEEE halves): what is uploaded into and read back from the arena.

use super::error::CudaError;
use crate::tensor::{Tensor, TensorData};
use llc_ir::{DType, TensorType};

fn value_err(name: &str, detail: String) -> CudaError {
    CudaError::Value {
        name: name.to_string(),
        detail,
    }
}

/// The bytes of `t` stored as `ty` (shape must match exactly; floats convert between
/// float dtypes, integers and booleans must already have their dtype).
pub fn encode(name: &str, t: &Tensor, ty: &TensorType) -> Result<Vec<u8>, CudaError> {
    if t.shape() != ty.shape.as_slice() {
        return Err(value_err(
            name,
            format!("expected shape {ty}, got {}", t.type_string()),
        ));
    }
    let mut out = Vec::with_capacity(ty.size_bytes());
    match (ty.dtype, t.data()) {
        (DType::I32, TensorData::I32(v)) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
        (DType::Bool, TensorData::Bool(v)) => out.extend(v.iter().map(|&b| u8::from(b))),
        (DType::F32, TensorData::F32(v)) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
        (d, _) if d.is_float() && t.is_float() => {
            for x in t.to_f64_vec() {
                match d {
                    DType::F64 => out.extend(x.to_le_bytes()),
                    DType::F32 => out.extend((x as f32).to_le_bytes()),
                    DType::BF16 => out.extend(half::bf16::from_f64(x).to_le_bytes()),
                    _ => out.extend(half::f16::from_f64(x).to_le_bytes()),
                }
            }
        }
        (d, _) => {
            return Err(value_err(
                name,
                format!("cannot store a {} value as {d}", t.type_string()),
            ));
        }
    }
    Ok(out)
}

/// The tensor of type `ty` held in `raw` (floats come back as f32, the precision the
/// backend reports in; f64 buffers keep f64).
pub fn decode(name: &str, raw: &[u8], ty: &TensorType) -> Result<Tensor, CudaError> {
    if raw.len() != ty.size_bytes() {
        return Err(value_err(
            name,
            format!("{} bytes cannot hold {ty}", raw.len()),
        ));
    }
    let shape = ty.shape.clone();
    let t = match ty.dtype {
        DType::F32 => Tensor::from_f32(
            shape,
            raw.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        DType::F64 => Tensor::from_f64(
            shape,
            raw.chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("chunks of 8 bytes")))
                .collect(),
        ),
        DType::BF16 => Tensor::from_f32(
            shape,
            raw.chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
        ),
        DType::F16 => Tensor::from_f32(
            shape,
            raw.chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
        ),
        DType::I32 => Tensor::from_i32(
            shape,
            raw.chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        DType::Bool => Tensor::from_bool(shape, raw.iter().map(|&b| b != 0).collect()),
    };
    t.map_err(|e| value_err(name, e.to_string()))
}

/// The first element of a float or integer scalar buffer as f64 (NaN for an empty one).
pub fn decode_scalar(name: &str, raw: &[u8], dtype: DType) -> Result<f64, CudaError> {
    let n = raw.len() / dtype.size_bytes().max(1);
    let t = decode(
        name,
        &raw[..n * dtype.size_bytes()],
        &TensorType::new(dtype, [n]),
    )?;
    Ok(t.to_f64_vec().first().copied().unwrap_or(f64::NAN))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(d: DType, s: &[usize]) -> TensorType {
        TensorType::new(d, s)
    }

    #[test]
    fn every_dtype_round_trips() {
        let f = Tensor::from_f32([2, 2], vec![1.5, -2.0, 0.25, 3.0]).unwrap();
        for d in [DType::F32, DType::F64, DType::BF16, DType::F16] {
            let raw = encode("w", &f, &ty(d, &[2, 2])).unwrap();
            assert_eq!(raw.len(), 4 * d.size_bytes());
            let back = decode("w", &raw, &ty(d, &[2, 2])).unwrap();
            assert_eq!(back.to_f64_vec(), f.to_f64_vec(), "{d}");
        }
        let i = Tensor::from_i32([3], vec![7, -1, 31999]).unwrap();
        let raw = encode("tokens", &i, &ty(DType::I32, &[3])).unwrap();
        assert_eq!(&raw[..4], &7i32.to_le_bytes());
        assert_eq!(decode("tokens", &raw, &ty(DType::I32, &[3])).unwrap(), i);
        let b = Tensor::from_bool([2], vec![true, false]).unwrap();
        let raw = encode("mask", &b, &ty(DType::Bool, &[2])).unwrap();
        assert_eq!(raw, vec![1, 0]);
        assert_eq!(decode("mask", &raw, &ty(DType::Bool, &[2])).unwrap(), b);
    }

    #[test]
    fn bf16_rounds_to_nearest() {
        let t = Tensor::from_f32([1], vec![1.0 + 1.0 / 512.0]).unwrap();
        let raw = encode("x", &t, &ty(DType::BF16, &[1])).unwrap();
        let back = decode("x", &raw, &ty(DType::BF16, &[1])).unwrap();
        assert_eq!(back.to_f64_vec(), vec![1.0]);
    }

    #[test]
    fn wrong_shapes_and_types_name_the_value() {
        let t = Tensor::from_i32([2, 3], vec![0; 6]).unwrap();
        let e = encode("tokens", &t, &ty(DType::I32, &[2, 4])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "%tokens: expected shape i32[2,4], got i32[2,3]"
        );
        let e = encode("tokens", &t, &ty(DType::F32, &[2, 3])).unwrap_err();
        assert!(
            e.to_string()
                .contains("cannot store a i32[2,3] value as f32"),
            "{e}"
        );
        let e = decode("loss", &[0u8; 3], &ty(DType::F32, &[])).unwrap_err();
        assert!(e.to_string().contains("3 bytes cannot hold f32[]"), "{e}");
    }

    #[test]
    fn scalars_read_as_f64() {
        assert_eq!(
            decode_scalar("lr", &0.5f32.to_le_bytes(), DType::F32).unwrap(),
            0.5
        );
        assert_eq!(
            decode_scalar("step", &9i32.to_le_bytes(), DType::I32).unwrap(),
            9.0
        );
    }
}

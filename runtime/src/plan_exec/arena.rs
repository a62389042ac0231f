//! The one byte arena of a plan, and moving tensors in and out of it in each dtype's
//! device encoding (little-endian; bool as one byte; bf16/f16 as IEEE halves).

use crate::error::{Result, RuntimeError};
use crate::tensor::{Precision, Tensor, TensorData};
use llc_ir::plan::BufRef;
use llc_ir::{DType, TensorType};

/// The arena: every buffer of the plan lives in it at its offset.
pub(crate) struct Arena {
    pub bytes: Vec<u8>,
}

fn plan_err(msg: String) -> RuntimeError {
    RuntimeError::Plan(msg)
}

impl Arena {
    pub fn new(size: u64) -> Result<Arena> {
        let size = usize::try_from(size)
            .map_err(|_| plan_err(format!("arena of {size} bytes does not fit in memory")))?;
        Ok(Arena {
            bytes: vec![0u8; size],
        })
    }

    /// A pointer to the first byte of `r`, checked to lie inside the arena.
    pub fn ptr(&mut self, r: &BufRef) -> Result<*mut u8> {
        let range = self.range(r)?;
        // SAFETY: `range` is inside `bytes`.
        Ok(unsafe { self.bytes.as_mut_ptr().add(range.start) })
    }

    fn range(&self, r: &BufRef) -> Result<std::ops::Range<usize>> {
        let start = r.offset as usize;
        let end = start
            .checked_add(r.bytes as usize)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| {
                plan_err(format!(
                    "buffer {} ({} bytes at {}) lies outside the {}-byte arena",
                    r.buffer,
                    r.bytes,
                    r.offset,
                    self.bytes.len()
                ))
            })?;
        Ok(start..end)
    }

    /// Read the bytes of `r` as a tensor of type `ty` (floats in `precision`).
    pub fn read(&self, r: &BufRef, ty: &TensorType, precision: Precision) -> Result<Tensor> {
        if ty.size_bytes() as u64 != r.bytes {
            return Err(plan_err(format!(
                "buffer {} has {} bytes but is read as {ty}",
                r.buffer, r.bytes
            )));
        }
        let raw = &self.bytes[self.range(r)?];
        if ty.dtype == DType::F32 && precision == Precision::F32 {
            return Tensor::from_f32(ty.shape.clone(), f32s(raw));
        }
        let floats: Vec<f64> = match ty.dtype {
            DType::F64 => raw
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
            DType::F32 => raw
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes(c.try_into().expect("4 bytes"))))
                .collect(),
            DType::BF16 => raw
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f64())
                .collect(),
            DType::F16 => raw
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f64())
                .collect(),
            DType::I32 => {
                let v = raw
                    .chunks_exact(4)
                    .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")))
                    .collect();
                return Tensor::new(ty.shape.clone(), TensorData::I32(v));
            }
            DType::Bool => {
                let v = raw.iter().map(|&b| b != 0).collect();
                return Tensor::new(ty.shape.clone(), TensorData::Bool(v));
            }
        };
        Tensor::from_f64_in(ty.shape.clone(), floats, precision)
    }

    /// Write `t` into `r` encoded as `dtype`.
    pub fn write(&mut self, r: &BufRef, dtype: DType, t: &Tensor) -> Result<()> {
        let want = t.numel() * dtype.size_bytes();
        if want as u64 != r.bytes {
            return Err(plan_err(format!(
                "a {} value ({want} bytes as {dtype}) does not fit buffer {} of {} bytes",
                t.type_string(),
                r.buffer,
                r.bytes
            )));
        }
        let range = self.range(r)?;
        let out = &mut self.bytes[range];
        match (dtype, t.data()) {
            (DType::I32, TensorData::I32(v)) => {
                for (c, x) in out.chunks_exact_mut(4).zip(v) {
                    c.copy_from_slice(&x.to_le_bytes());
                }
            }
            (DType::Bool, TensorData::Bool(v)) => {
                for (c, x) in out.iter_mut().zip(v) {
                    *c = u8::from(*x);
                }
            }
            (DType::F32, TensorData::F32(v)) => {
                for (c, x) in out.chunks_exact_mut(4).zip(v) {
                    c.copy_from_slice(&x.to_le_bytes());
                }
            }
            (d, _) if d.is_float() && t.is_float() => {
                let v = t.to_f64_vec();
                let size = d.size_bytes();
                for (c, &x) in out.chunks_exact_mut(size).zip(&v) {
                    match d {
                        DType::F64 => c.copy_from_slice(&x.to_le_bytes()),
                        DType::F32 => c.copy_from_slice(&(x as f32).to_le_bytes()),
                        DType::BF16 => c.copy_from_slice(&half::bf16::from_f64(x).to_le_bytes()),
                        _ => c.copy_from_slice(&half::f16::from_f64(x).to_le_bytes()),
                    }
                }
            }
            (d, _) => {
                return Err(plan_err(format!(
                    "cannot store a {} value in buffer {} of dtype {d}",
                    t.type_string(),
                    r.buffer
                )));
            }
        }
        Ok(())
    }

    /// Copy `src`'s bytes over `dst`'s (the ranges may overlap).
    pub fn copy(&mut self, src: &BufRef, dst: &BufRef) -> Result<()> {
        let s = self.range(src)?;
        let d = self.range(dst)?;
        if s.len() != d.len() {
            return Err(plan_err(format!(
                "copy of {} bytes into {} bytes",
                s.len(),
                d.len()
            )));
        }
        self.bytes.copy_within(s, d.start);
        Ok(())
    }

    /// The bytes of `r`.
    pub fn raw(&self, r: &BufRef) -> Result<&[u8]> {
        let range = self.range(r)?;
        Ok(&self.bytes[range])
    }

    /// The bytes of `r`, writable.
    pub fn raw_mut(&mut self, r: &BufRef) -> Result<&mut [u8]> {
        let range = self.range(r)?;
        Ok(&mut self.bytes[range])
    }

    /// Set every byte of `dst` to `value`.
    pub fn fill(&mut self, dst: &BufRef, value: u8) -> Result<()> {
        let d = self.range(dst)?;
        self.bytes[d].fill(value);
        Ok(())
    }

    /// The floats of `r` (any float dtype) as f64.
    pub fn f64s(&self, r: &BufRef, dtype: DType) -> Result<Vec<f64>> {
        let n = r.bytes as usize / dtype.size_bytes().max(1);
        Ok(self
            .read(r, &TensorType::new(dtype, [n]), Precision::F64)?
            .to_f64_vec())
    }
}

fn f32s(raw: &[u8]) -> Vec<f32> {
    raw.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect()
}

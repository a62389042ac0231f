//! Reading and writing safetensors files of f32 tensors. Writing is atomic and streams
//! tensors to disk; reading converts F32, BF16, F16 and F64 to f32.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, View};

use super::error::{CheckpointError, CheckpointResult};
use super::tensor::NamedTensor;
use llc_ir::fsutil::AtomicFile;

/// A borrowed f32 tensor in the shape safetensors wants to serialize.
struct F32View<'a>(&'a NamedTensor);

impl View for F32View<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.0.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.0.data.iter().flat_map(|v| v.to_le_bytes()).collect())
    }
    fn data_len(&self) -> usize {
        self.0.data.len() * 4
    }
}

/// Writes `tensors` as F32 to `path` (temp file + fsync + rename). `metadata` lands in the
/// header's `__metadata__` (Hugging Face requires `"format": "pt"` for model files).
pub fn write_safetensors(
    path: &Path,
    tensors: &[NamedTensor],
    metadata: &[(&str, &str)],
) -> CheckpointResult<()> {
    let mut seen = std::collections::HashSet::new();
    for t in tensors {
        let expected: usize = t.shape.iter().product();
        if expected != t.data.len() {
            return Err(CheckpointError::DataLength {
                name: t.name.clone(),
                shape: t.shape.clone(),
                expected,
                got: t.data.len(),
            });
        }
        if !seen.insert(t.name.as_str()) {
            return Err(CheckpointError::DuplicateTensor {
                path: path.to_path_buf(),
                name: t.name.clone(),
            });
        }
    }
    let meta: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let file = AtomicFile::create(path).map_err(|e| CheckpointError::io(path, e))?;
    let views = tensors.iter().map(|t| (t.name.as_str(), F32View(t)));
    safetensors::serialize_to_file(views, Some(meta), file.temp_path()).map_err(|e| {
        CheckpointError::Safetensors {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    })?;
    file.commit().map_err(|e| CheckpointError::io(path, e))
}

/// A safetensors file read into memory, converted to f32, in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct SafetensorsContents {
    /// Tensors in the order of their data in the file.
    pub tensors: Vec<NamedTensor>,
    /// The `__metadata__` map (empty when absent).
    pub metadata: HashMap<String, String>,
}

/// Reads a safetensors file, converting every tensor to f32.
pub fn read_safetensors(path: &Path) -> CheckpointResult<SafetensorsContents> {
    let bytes = std::fs::read(path).map_err(|e| CheckpointError::io(path, e))?;
    let invalid = |e: safetensors::SafeTensorError| CheckpointError::Safetensors {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(invalid)?;
    let st = SafeTensors::deserialize(&bytes).map_err(invalid)?;
    let mut tensors = Vec::new();
    for name in header.offset_keys() {
        let view = st.tensor(&name).map_err(invalid)?;
        let data = to_f32(path, &name, view.dtype(), view.data())?;
        tensors.push(NamedTensor::new(name, view.shape().to_vec(), data)?);
    }
    Ok(SafetensorsContents {
        tensors,
        metadata: header.metadata().clone().unwrap_or_default(),
    })
}

/// Converts raw little-endian tensor bytes of a float dtype to f32.
fn to_f32(path: &Path, name: &str, dtype: Dtype, bytes: &[u8]) -> CheckpointResult<Vec<f32>> {
    Ok(match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|c| half::bf16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32())
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|c| half::f16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32())
            .collect(),
        Dtype::F64 => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
            .collect(),
        other => {
            return Err(CheckpointError::WrongDtype {
                path: path.to_path_buf(),
                name: name.to_string(),
                dtype: format!("{other:?}"),
            });
        }
    })
}

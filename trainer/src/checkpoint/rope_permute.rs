//! The row permutation between Meta's and Hugging Face's q/k projection weights.
//!
//! Meta's RoPE rotates interleaved pairs `(x[2i], x[2i+1])` of each head; Hugging Face's
//! rotates halves `(x[i], x[i + hd/2])`. Converting Meta weights to HF (transformers'
//! `convert_llama_weights_to_hf.py`, `permute`) reorders the rows of each head:
//! `HF = Meta.view(heads, hd/2, 2, cols).transpose(1, 2).reshape(heads*hd, cols)`, i.e.
//! HF row `h*hd + p*hd/2 + i` is Meta row `h*hd + 2*i + p`. q uses the query heads, k the
//! key/value heads. A gradient with respect to a weight permutes exactly like the weight.

use super::error::{CheckpointError, CheckpointResult};
use super::tensor::NamedTensor;

/// Direction of the permutation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeLayout {
    /// From Meta's interleaved layout to Hugging Face's halves.
    MetaToHf,
    /// From Hugging Face's halves back to Meta's interleaved layout.
    HfToMeta,
}

/// Permutes the rows of a `[heads*head_dim, cols]` (or `[heads*head_dim]`) tensor.
pub fn permute_rope_rows(
    t: &NamedTensor,
    heads: usize,
    head_dim: usize,
    direction: RopeLayout,
) -> CheckpointResult<NamedTensor> {
    let rows = t.shape.first().copied().unwrap_or(0);
    if head_dim == 0
        || !head_dim.is_multiple_of(2)
        || heads == 0
        || rows != heads * head_dim
        || t.shape.len() > 2
    {
        return Err(CheckpointError::HeadLayout {
            name: t.name.clone(),
            shape: t.shape.clone(),
            heads,
            head_dim,
        });
    }
    let cols = if t.shape.len() == 2 { t.shape[1] } else { 1 };
    let half = head_dim / 2;
    let mut out = vec![0f32; t.data.len()];
    for h in 0..heads {
        for i in 0..half {
            for p in 0..2 {
                let meta_row = h * head_dim + 2 * i + p;
                let hf_row = h * head_dim + p * half + i;
                let (src, dst) = match direction {
                    RopeLayout::MetaToHf => (meta_row, hf_row),
                    RopeLayout::HfToMeta => (hf_row, meta_row),
                };
                out[dst * cols..(dst + 1) * cols]
                    .copy_from_slice(&t.data[src * cols..(src + 1) * cols]);
            }
        }
    }
    Ok(NamedTensor {
        name: t.name.clone(),
        shape: t.shape.clone(),
        data: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(name: &str, data: Vec<f32>, cols: usize) -> NamedTensor {
        let n = data.len() / cols;
        NamedTensor::new(name, vec![n, cols], data).unwrap()
    }

    #[test]
    fn hand_computed_example() {
        // Two heads of dimension 4, one column: Meta pairs (a0,a1),(a2,a3) become halves
        // (a0,a2 | a1,a3).
        let t = rows("wq", vec![0., 1., 2., 3., 10., 11., 12., 13.], 1);
        let hf = permute_rope_rows(&t, 2, 4, RopeLayout::MetaToHf).unwrap();
        assert_eq!(hf.data, vec![0., 2., 1., 3., 10., 12., 11., 13.]);
        // head_dim 6: [0 1 2 3 4 5] -> [0 2 4 1 3 5]
        let t = rows("wk", (0..6).map(|x| x as f32).collect(), 1);
        let hf = permute_rope_rows(&t, 1, 6, RopeLayout::MetaToHf).unwrap();
        assert_eq!(hf.data, vec![0., 2., 4., 1., 3., 5.]);
        let back = permute_rope_rows(&hf, 1, 6, RopeLayout::HfToMeta).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn rows_move_whole() {
        let t = rows("wq", (0..8 * 3).map(|x| x as f32).collect(), 3);
        let hf = permute_rope_rows(&t, 2, 4, RopeLayout::MetaToHf).unwrap();
        // HF row 1 is Meta row 2: values 6, 7, 8.
        assert_eq!(&hf.data[3..6], &[6., 7., 8.]);
    }

    #[test]
    fn bad_layout_is_an_error() {
        let t = rows("layers.0.attention.wq.weight", vec![0.; 12], 2);
        let err = permute_rope_rows(&t, 2, 4, RopeLayout::MetaToHf)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("layers.0.attention.wq.weight") && err.contains("[6, 2]"),
            "{err}"
        );
        assert!(permute_rope_rows(&t, 2, 3, RopeLayout::MetaToHf).is_err());
    }
}

//! The plan's data-movement steps on the GPU: strided copies (transposes, strided slices,
//! concat parts), row gathers (embedding lookups) and row scatter-adds (their gradient).
//! They run as the runtime's own kernels (`kernels/moves.cu`, embedded as PTX), with the
//! step's descriptor passed by value. [`StridedDesc::apply`] and the other `*_on_host`
//! functions are line-for-line host versions of those kernels: tests check them against
//! the CPU plan executor, which pins down the descriptors the GPU receives.

use super::error::CudaError;
use llc_ir::DType;
use llc_ir::plan::LaunchDims;

/// The runtime's data-movement kernels (generated from `kernels/moves.cu`).
pub const MOVES_PTX: &str = include_str!("kernels/moves.ptx");

/// Most dimensions a strided copy may have (`LLC_MAX_RANK` in `moves.cu`).
pub const MAX_RANK: usize = 8;

/// A strided copy as `llc_strided_copy_*` takes it (the same layout as `StridedDesc` in
/// `moves.cu`): offsets and strides in elements.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StridedDesc {
    pub rank: u64,
    pub total: u64,
    pub src_offset: u64,
    pub dst_offset: u64,
    pub shape: [u64; MAX_RANK],
    pub src_strides: [u64; MAX_RANK],
    pub dst_strides: [u64; MAX_RANK],
}

impl StridedDesc {
    /// The descriptor of a plan strided copy, or why the kernel cannot run it.
    pub fn new(
        shape: &[u64],
        src_offset: u64,
        src_strides: &[u64],
        dst_offset: u64,
        dst_strides: &[u64],
    ) -> Result<StridedDesc, String> {
        if shape.len() > MAX_RANK {
            return Err(format!(
                "a strided copy of rank {} (the GPU kernel takes at most {MAX_RANK})",
                shape.len()
            ));
        }
        if src_strides.len() != shape.len() || dst_strides.len() != shape.len() {
            return Err("strides do not match the shape".into());
        }
        let mut d = StridedDesc {
            rank: shape.len() as u64,
            total: shape.iter().product(),
            src_offset,
            dst_offset,
            shape: [1; MAX_RANK],
            src_strides: [0; MAX_RANK],
            dst_strides: [0; MAX_RANK],
        };
        d.shape[..shape.len()].copy_from_slice(shape);
        d.src_strides[..shape.len()].copy_from_slice(src_strides);
        d.dst_strides[..shape.len()].copy_from_slice(dst_strides);
        Ok(d)
    }

    /// What `llc_strided_copy_{elem}` does, on host bytes: for each flat index, peel the
    /// row-major multi-index from the last dimension and move one element.
    pub fn apply(&self, src: &[u8], dst: &mut [u8], elem: usize) {
        for i in 0..self.total {
            let mut rem = i;
            let (mut s, mut t) = (self.src_offset, self.dst_offset);
            for k in (0..self.rank as usize).rev() {
                let n = self.shape[k];
                let idx = rem % n;
                rem /= n;
                s += idx * self.src_strides[k];
                t += idx * self.dst_strides[k];
            }
            let (s, t) = (s as usize * elem, t as usize * elem);
            dst[t..t + elem].copy_from_slice(&src[s..s + elem]);
        }
    }
}

/// What `llc_gather_{elem}` does, on host bytes (rows outside the table give zeros).
pub fn gather_on_host(
    table: &[u8],
    indices: &[i32],
    out: &mut [u8],
    rows: u64,
    row_elems: u64,
    elem: usize,
) {
    let row = row_elems as usize * elem;
    for (r, &t) in indices.iter().enumerate() {
        let dst = &mut out[r * row..(r + 1) * row];
        if t >= 0 && (t as u64) < rows {
            let t = t as usize;
            dst.copy_from_slice(&table[t * row..(t + 1) * row]);
        } else {
            dst.fill(0);
        }
    }
}

/// What a memset of `out` followed by `llc_scatter_add_f32` does, on host values.
pub fn scatter_add_on_host(
    indices: &[i32],
    updates: &[f32],
    out: &mut [f32],
    rows: u64,
    row_elems: u64,
) {
    out.fill(0.0);
    let n = row_elems as usize;
    for (r, &t) in indices.iter().enumerate() {
        if t >= 0 && (t as u64) < rows {
            let t = t as usize;
            for j in 0..n {
                out[t * n + j] += updates[r * n + j];
            }
        }
    }
}

/// The strided-copy entry for elements of `elem` bytes.
pub fn strided_copy_entry(elem: usize) -> Option<&'static str> {
    Some(match elem {
        1 => "llc_strided_copy_1",
        2 => "llc_strided_copy_2",
        4 => "llc_strided_copy_4",
        8 => "llc_strided_copy_8",
        _ => return None,
    })
}

/// The gather entry for elements of `elem` bytes.
pub fn gather_entry(elem: usize) -> Option<&'static str> {
    Some(match elem {
        1 => "llc_gather_1",
        2 => "llc_gather_2",
        4 => "llc_gather_4",
        8 => "llc_gather_8",
        _ => return None,
    })
}

/// The scatter-add entry for `dtype` (atomic adds exist for f32 and f64).
pub fn scatter_add_entry(dtype: DType) -> Result<&'static str, CudaError> {
    match dtype {
        DType::F32 => Ok("llc_scatter_add_f32"),
        DType::F64 => Ok("llc_scatter_add_f64"),
        d => Err(CudaError::Plan(format!(
            "a scatter-add of {d} is not supported on the GPU (f32, f64)"
        ))),
    }
}

/// Launch geometry of a move over `total` elements: 256-thread blocks, enough of them to
/// cover the elements once, at most 65535 (the kernels loop over the rest).
pub fn move_dims(total: u64) -> LaunchDims {
    LaunchDims {
        grid: [total.div_ceil(256).clamp(1, 65535) as u32, 1, 1],
        block: [256, 1, 1],
        shared_mem_bytes: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cuda::ptx::PtxInfo;

    #[test]
    fn the_embedded_module_has_every_entry_with_its_parameters() {
        let info = PtxInfo::parse(MOVES_PTX).unwrap();
        assert_eq!(
            info.version.as_deref(),
            Some("8.0"),
            "readable by CUDA 12+ drivers"
        );
        assert_eq!(info.target.as_deref(), Some("sm_80"));
        for e in [1, 2, 4, 8] {
            assert_eq!(info.entries[strided_copy_entry(e).unwrap()].params, 3);
            assert_eq!(info.entries[gather_entry(e).unwrap()].params, 6);
        }
        for d in [DType::F32, DType::F64] {
            assert_eq!(info.entries[scatter_add_entry(d).unwrap()].params, 6);
        }
        assert!(scatter_add_entry(DType::BF16).is_err());
        assert_eq!(strided_copy_entry(3), None);
        // The descriptor is passed by value: its size must match the PTX parameter.
        assert!(MOVES_PTX.contains(&format!(
            ".param .align 8 .b8 llc_strided_copy_4_param_2[{}]",
            size_of::<StridedDesc>()
        )));
    }

    #[test]
    fn a_transpose_descriptor_moves_every_element() {
        // src [2, 3] row-major, dst its transpose [3, 2]: iterate over the source shape.
        let d = StridedDesc::new(&[2, 3], 0, &[3, 1], 0, &[1, 2]).unwrap();
        let src: Vec<u8> = (0..6).collect();
        let mut dst = vec![0u8; 6];
        d.apply(&src, &mut dst, 1);
        assert_eq!(dst, vec![0, 3, 1, 4, 2, 5]);
        assert!(StridedDesc::new(&[1; 9], 0, &[1; 9], 0, &[1; 9]).is_err());
    }

    #[test]
    fn gathers_and_scatter_adds_follow_their_indices() {
        let table: Vec<u8> = (0..8).collect(); // 4 rows of 2 one-byte elements
        let mut out = vec![9u8; 6];
        gather_on_host(&table, &[3, 0, 7], &mut out, 4, 2, 1);
        assert_eq!(out, vec![6, 7, 0, 1, 0, 0]);
        let mut acc = vec![5.0f32; 4];
        scatter_add_on_host(&[1, 1, 0], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &mut acc, 2, 2);
        assert_eq!(acc, vec![5.0, 6.0, 4.0, 6.0]);
        assert_eq!(move_dims(1).grid, [1, 1, 1]);
        assert_eq!(move_dims(1 << 40).grid, [65535, 1, 1]);
    }
}

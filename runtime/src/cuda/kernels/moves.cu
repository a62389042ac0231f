// The runtime's own kernels for the plan's data-movement steps (llc_ir::plan::Step::
// StridedCopy, Gather, ScatterAdd); their CPU semantics are runtime/src/plan_exec/moves.rs.
// moves.ptx next to this file is generated from it by scripts/gen-moves-ptx.sh (nvcc from
// pip's nvidia-cuda-nvcc) and embedded in the runtime; regenerate it after any change.
//
// Every kernel is a grid-stride loop over the elements it writes; element types are
// moved as raw bits (1, 2, 4 or 8 bytes), so one kernel serves every dtype of that size.

typedef unsigned long long u64;

#define LLC_MAX_RANK 8

// Must match `StridedDesc` in runtime/src/cuda/moves.rs (#[repr(C)], u64 fields).
struct StridedDesc {
    u64 rank;
    u64 total;
    u64 src_offset;
    u64 dst_offset;
    u64 shape[LLC_MAX_RANK];
    u64 src_strides[LLC_MAX_RANK];
    u64 dst_strides[LLC_MAX_RANK];
};

__device__ __forceinline__ u64 first_index() {
    return (u64)blockIdx.x * (u64)blockDim.x + (u64)threadIdx.x;
}

__device__ __forceinline__ u64 stride_of_grid() {
    return (u64)gridDim.x * (u64)blockDim.x;
}

// dst[dst_offset + sum_k i_k dst_strides[k]] = src[src_offset + sum_k i_k src_strides[k]]
// for every row-major index i of shape.
template <typename T>
__device__ void strided_copy(const T* __restrict__ src, T* __restrict__ dst, const StridedDesc& d) {
    for (u64 i = first_index(); i < d.total; i += stride_of_grid()) {
        u64 rem = i;
        u64 s = d.src_offset;
        u64 t = d.dst_offset;
        for (int k = (int)d.rank - 1; k >= 0; --k) {
            u64 n = d.shape[k];
            u64 idx = rem % n;
            rem /= n;
            s += idx * d.src_strides[k];
            t += idx * d.dst_strides[k];
        }
        dst[t] = src[s];
    }
}

// out[r, j] = table[indices[r], j]; rows outside the table give zeros.
template <typename T>
__device__ void gather(const T* __restrict__ table, const int* __restrict__ indices, T* __restrict__ out,
                       u64 rows, u64 count, u64 row_elems) {
    u64 total = count * row_elems;
    for (u64 i = first_index(); i < total; i += stride_of_grid()) {
        u64 r = i / row_elems;
        u64 j = i - r * row_elems;
        int t = indices[r];
        out[i] = (t >= 0 && (u64)t < rows) ? table[(u64)t * row_elems + j] : (T)0;
    }
}

// out[indices[r], j] += updates[r, j] (out zeroed before); rows outside the table are skipped.
template <typename T>
__device__ void scatter_add(const int* __restrict__ indices, const T* __restrict__ updates, T* out,
                            u64 rows, u64 count, u64 row_elems) {
    u64 total = count * row_elems;
    for (u64 i = first_index(); i < total; i += stride_of_grid()) {
        u64 r = i / row_elems;
        u64 j = i - r * row_elems;
        int t = indices[r];
        if (t >= 0 && (u64)t < rows) {
            atomicAdd(&out[(u64)t * row_elems + j], updates[i]);
        }
    }
}

extern "C" {

__global__ void llc_strided_copy_1(const unsigned char* src, unsigned char* dst, StridedDesc d) {
    strided_copy(src, dst, d);
}
__global__ void llc_strided_copy_2(const unsigned short* src, unsigned short* dst, StridedDesc d) {
    strided_copy(src, dst, d);
}
__global__ void llc_strided_copy_4(const unsigned int* src, unsigned int* dst, StridedDesc d) {
    strided_copy(src, dst, d);
}
__global__ void llc_strided_copy_8(const u64* src, u64* dst, StridedDesc d) {
    strided_copy(src, dst, d);
}

__global__ void llc_gather_1(const unsigned char* table, const int* indices, unsigned char* out, u64 rows,
                             u64 count, u64 row_elems) {
    gather(table, indices, out, rows, count, row_elems);
}
__global__ void llc_gather_2(const unsigned short* table, const int* indices, unsigned short* out, u64 rows,
                             u64 count, u64 row_elems) {
    gather(table, indices, out, rows, count, row_elems);
}
__global__ void llc_gather_4(const unsigned int* table, const int* indices, unsigned int* out, u64 rows,
                             u64 count, u64 row_elems) {
    gather(table, indices, out, rows, count, row_elems);
}
__global__ void llc_gather_8(const u64* table, const int* indices, u64* out, u64 rows, u64 count,
                             u64 row_elems) {
    gather(table, indices, out, rows, count, row_elems);
}

__global__ void llc_scatter_add_f32(const int* indices, const float* updates, float* out, u64 rows, u64 count,
                                    u64 row_elems) {
    scatter_add(indices, updates, out, rows, count, row_elems);
}
__global__ void llc_scatter_add_f64(const int* indices, const double* updates, double* out, u64 rows,
                                    u64 count, u64 row_elems) {
    scatter_add(indices, updates, out, rows, count, row_elems);
}

}  // extern "C"

//! Tests of the CPU reference interpreter (one test binary, one module per topic).

mod bench;
mod common;
mod elementwise;
mod errors;
mod exec;
mod fused;
mod grads;
mod index;
mod layout;
mod matmul;
mod reduce;
mod tensor;

//! Text generation on the CPU interpreter: seeded sampling (temperature, top-p, greedy),
//! a fixed-window logits graph with weights bound to it, the decoding loop, and streaming
//! detokenization. `llc-train sample` is built from these.

pub mod bind;
pub mod decode;
pub mod error;
pub mod model;
pub mod sampler;
pub mod stream;

pub use bind::bind_params;
pub use decode::{DecodeOptions, Generation, StopReason, generate};
pub use error::{GenerateError, GenerateResult};
pub use model::LogitsModel;
pub use sampler::{Sampler, SamplingConfig, argmax, nucleus, softmax_with_temperature};
pub use stream::TextStream;

//! Text generation: seeded sampling (temperature, top-k, top-p, greedy), batched decoding
//! with a KV cache on the interpreter or a compiled plan, the fixed-window logits graph
//! (the full-window reference), and streaming detokenization. `llc-train sample` is built from these.

pub mod bind;
pub mod decode;
pub mod error;
pub mod kv;
pub mod model;
pub mod sampler;
pub mod stream;

pub use bind::bind_params;
pub use decode::{DecodeOptions, Generation, StopReason, generate};
pub use error::{GenerateError, GenerateResult};
pub use kv::{BatchOptions, Completion, InterpKv, KvModel, PlanKv, generate_batch};
pub use model::LogitsModel;
pub use sampler::{Sampler, SamplingConfig, argmax, nucleus, softmax_with_temperature};
pub use stream::TextStream;

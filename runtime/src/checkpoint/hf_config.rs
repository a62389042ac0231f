//! The facts of a Hugging Face Llama `config.json` that weight conversion needs: sizes,
//! head counts (for the RoPE permutation) and embedding tying; and the parameter list
//! (names and shapes, our naming) that such a model has.

use std::path::Path;

use llc_models::LlamaConfig;
use serde_json::Value;

use super::error::{CheckpointError, CheckpointResult};
use super::tensor::ParamSpec;

/// Sizes of a Llama model as read from `config.json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HfLlamaShape {
    /// `vocab_size`.
    pub vocab_size: usize,
    /// `hidden_size` (D).
    pub hidden_size: usize,
    /// `intermediate_size` (FFN width).
    pub intermediate_size: usize,
    /// `num_hidden_layers`.
    pub num_layers: usize,
    /// `num_attention_heads` (H).
    pub num_heads: usize,
    /// `num_key_value_heads` (KV; defaults to H).
    pub num_kv_heads: usize,
    /// `head_dim` (defaults to D / H).
    pub head_dim: usize,
    /// `tie_word_embeddings` (defaults to false): `lm_head` shares the embedding.
    pub tie_word_embeddings: bool,
}

impl HfLlamaShape {
    /// Parses a `config.json` text; `path` is for messages only.
    pub fn from_json(text: &str, path: &Path) -> CheckpointResult<Self> {
        let err = |message: String| CheckpointError::Config {
            path: path.to_path_buf(),
            message,
        };
        let v: Value = serde_json::from_str(text).map_err(|e| err(format!("invalid JSON: {e}")))?;
        if let Some(mt) = v.get("model_type").and_then(Value::as_str)
            && mt != "llama"
        {
            return Err(err(format!("model_type is {mt:?}, expected \"llama\"")));
        }
        let field = |name: &str| -> CheckpointResult<Option<usize>> {
            match v.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(x) => x
                    .as_u64()
                    .filter(|&n| n > 0)
                    .map(|n| Some(n as usize))
                    .ok_or_else(|| {
                        err(format!(
                            "field \"{name}\" must be a positive integer, found {x}"
                        ))
                    }),
            }
        };
        let need = |name: &str| -> CheckpointResult<usize> {
            field(name)?.ok_or_else(|| err(format!("missing field \"{name}\"")))
        };
        let hidden_size = need("hidden_size")?;
        let num_heads = need("num_attention_heads")?;
        let num_kv_heads = field("num_key_value_heads")?.unwrap_or(num_heads);
        let head_dim = match field("head_dim")? {
            Some(h) => h,
            None => {
                if hidden_size % num_heads != 0 {
                    return Err(err(format!(
                        "hidden_size {hidden_size} is not divisible by num_attention_heads {num_heads}"
                    )));
                }
                hidden_size / num_heads
            }
        };
        if num_heads % num_kv_heads != 0 {
            return Err(err(format!(
                "num_attention_heads {num_heads} is not a multiple of num_key_value_heads {num_kv_heads}"
            )));
        }
        if head_dim % 2 != 0 {
            return Err(err(format!("head_dim {head_dim} must be even for RoPE")));
        }
        let tie_word_embeddings = match v.get("tie_word_embeddings") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(x) => {
                return Err(err(format!(
                    "field \"tie_word_embeddings\" must be a boolean, found {x}"
                )));
            }
        };
        let shape = Self {
            vocab_size: need("vocab_size")?,
            hidden_size,
            intermediate_size: need("intermediate_size")?,
            num_layers: need("num_hidden_layers")?,
            num_heads,
            num_kv_heads,
            head_dim,
            tie_word_embeddings,
        };
        shape.check_sizes().map_err(err)?;
        Ok(shape)
    }

    /// The model crate's size limits ([`LlamaConfig`]'s `MAX_*`), so that nothing sized
    /// from a hostile `config.json` overflows or allocates without bound.
    fn check_sizes(&self) -> Result<(), String> {
        let over = |field: &str, v: usize, max: usize| {
            (v > max).then(|| format!("field \"{field}\" is {v}, above the limit of {max}"))
        };
        let checks = [
            over(
                "num_hidden_layers",
                self.num_layers,
                LlamaConfig::MAX_LAYERS,
            ),
            over("hidden_size", self.hidden_size, LlamaConfig::MAX_DIM),
            over(
                "intermediate_size",
                self.intermediate_size,
                LlamaConfig::MAX_FFN_DIM,
            ),
            over("vocab_size", self.vocab_size, LlamaConfig::MAX_VOCAB),
            over("num_attention_heads", self.num_heads, LlamaConfig::MAX_DIM),
            over("head_dim", self.head_dim, LlamaConfig::MAX_DIM),
        ];
        if let Some(e) = checks.into_iter().flatten().next() {
            return Err(e);
        }
        for (what, heads) in [
            ("num_attention_heads", self.num_heads),
            ("num_key_value_heads", self.num_kv_heads),
        ] {
            match heads.checked_mul(self.head_dim) {
                Some(q) if q <= LlamaConfig::MAX_DIM => {}
                _ => {
                    return Err(format!(
                        "field \"{what}\" ({heads}) times head_dim ({}) is above the limit of {}",
                        self.head_dim,
                        LlamaConfig::MAX_DIM
                    ));
                }
            }
        }
        Ok(())
    }

    /// Reads and parses `config.json` from a file.
    pub fn from_file(path: &Path) -> CheckpointResult<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| CheckpointError::io(path, e))?;
        Self::from_json(&text, path)
    }

    /// Every parameter of the model in our naming, with its shape, in a fixed order
    /// (embedding, layers, final norm, output head).
    pub fn param_specs(&self) -> Vec<ParamSpec> {
        let (d, f, v) = (self.hidden_size, self.intermediate_size, self.vocab_size);
        let q = self.num_heads * self.head_dim;
        let kv = self.num_kv_heads * self.head_dim;
        let mut out = vec![ParamSpec::new("tok_embeddings.weight", vec![v, d])];
        for i in 0..self.num_layers {
            let p = |s: &str, shape| ParamSpec::new(format!("layers.{i}.{s}"), shape);
            out.extend([
                p("attention_norm.weight", vec![d]),
                p("attention.wq.weight", vec![q, d]),
                p("attention.wk.weight", vec![kv, d]),
                p("attention.wv.weight", vec![kv, d]),
                p("attention.wo.weight", vec![d, q]),
                p("ffn_norm.weight", vec![d]),
                p("feed_forward.w1.weight", vec![f, d]),
                p("feed_forward.w3.weight", vec![f, d]),
                p("feed_forward.w2.weight", vec![d, f]),
            ]);
        }
        out.push(ParamSpec::new("norm.weight", vec![d]));
        if !self.tie_word_embeddings {
            out.push(ParamSpec::new("output.weight", vec![v, d]));
        }
        out
    }
}

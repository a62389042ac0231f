//! `trainer_state.json`: everything besides tensors that a resumed run needs to continue
//! exactly where the saved one stopped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::LoaderPosition;

use super::error::{CheckpointError, CheckpointResult};

/// Format version of `trainer_state.json` this build writes and reads.
pub const TRAINER_STATE_VERSION: u32 = 1;

/// The non-tensor state of a training run at a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// [`TRAINER_STATE_VERSION`] at save time.
    pub format_version: u32,
    /// `llc-train` version that wrote the checkpoint.
    pub llc_train_version: String,
    /// Optimizer steps completed (AdamW's bias correction uses it).
    pub step: u64,
    /// Training tokens consumed so far.
    pub tokens_seen: u64,
    /// Where the training batch loader stands.
    pub train_loader: Option<LoaderPosition>,
    /// Where the validation loader stands (usually reset each evaluation).
    pub val_loader: Option<LoaderPosition>,
    /// The trainer's random generator (dropout, sampling), exact state.
    pub rng: Option<ChaCha8Rng>,
    /// The metrics JSONL the run appends to.
    pub metrics_path: Option<PathBuf>,
    /// Data-parallel ranks the run trained on (`None` in checkpoints from before data
    /// parallelism: one rank). A resume must use the same number: each rank's share of
    /// the loader's batches depends on it.
    #[serde(default)]
    pub world_size: Option<u64>,
    /// Further values a trainer wants back (learning-rate schedule, flags...).
    #[serde(default)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl TrainerState {
    /// A state at `step` with this build's version and nothing else filled in.
    pub fn new(step: u64) -> Self {
        Self {
            format_version: TRAINER_STATE_VERSION,
            llc_train_version: env!("CARGO_PKG_VERSION").to_string(),
            step,
            tokens_seen: 0,
            train_loader: None,
            val_loader: None,
            rng: None,
            metrics_path: None,
            world_size: None,
            extra: BTreeMap::new(),
        }
    }

    /// Serializes as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("trainer state serializes")
    }

    /// Parses and checks the format version; `path` is for messages.
    pub fn from_json(text: &str, path: &Path) -> CheckpointResult<Self> {
        let state: TrainerState =
            serde_json::from_str(text).map_err(|e| CheckpointError::Json {
                path: path.to_path_buf(),
                message: format!("invalid trainer state: {e}"),
            })?;
        if state.format_version > TRAINER_STATE_VERSION {
            return Err(CheckpointError::Json {
                path: path.to_path_buf(),
                message: format!(
                    "format_version {} was written by a newer llc-train ({}); this build reads up to {}",
                    state.format_version, state.llc_train_version, TRAINER_STATE_VERSION
                ),
            });
        }
        Ok(state)
    }
}

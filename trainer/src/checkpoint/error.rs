//! Errors of checkpoint and Hugging Face weight I/O: each names the file and the tensor
//! (and shapes or dtypes) involved.

use std::path::PathBuf;

/// Everything that can go wrong saving, loading or converting checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// An I/O error on a named file or directory.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A safetensors file that could not be parsed or written.
    #[error("{}: invalid safetensors: {message}", path.display())]
    Safetensors { path: PathBuf, message: String },
    /// A tensor the model needs that the file lacks.
    #[error("{}: missing tensor {name}", path.display())]
    MissingTensor { path: PathBuf, name: String },
    /// A tensor in the file that the model does not have.
    #[error("{}: unexpected tensor {name} (not a parameter of this model)", path.display())]
    UnexpectedTensor { path: PathBuf, name: String },
    /// The same tensor twice (e.g. in two shards of a sharded checkpoint).
    #[error("{}: tensor {name} appears twice", path.display())]
    DuplicateTensor { path: PathBuf, name: String },
    /// A tensor whose shape differs from the model's.
    #[error("{}: shape mismatch for {name}: file has {file:?} expected {expected:?}", path.display())]
    ShapeMismatch {
        path: PathBuf,
        name: String,
        file: Vec<usize>,
        expected: Vec<usize>,
    },
    /// A tensor stored in a dtype we do not convert.
    #[error("{}: tensor {name} has dtype {dtype}; only F32, BF16, F16 and F64 can be loaded", path.display())]
    WrongDtype {
        path: PathBuf,
        name: String,
        dtype: String,
    },
    /// A tensor whose data length does not match its shape.
    #[error("tensor {name}: shape {shape:?} needs {expected} values, got {got}")]
    DataLength {
        name: String,
        shape: Vec<usize>,
        expected: usize,
        got: usize,
    },
    /// A parameter name with no Hugging Face (or Meta) counterpart.
    #[error("no {direction} name for parameter {name}")]
    UnknownName {
        name: String,
        direction: &'static str,
    },
    /// A q/k projection whose shape does not fit the head layout.
    #[error(
        "tensor {name}: shape {shape:?} does not fit {heads} heads of dimension {head_dim} (head_dim must be even)"
    )]
    HeadLayout {
        name: String,
        shape: Vec<usize>,
        heads: usize,
        head_dim: usize,
    },
    /// A `config.json` that is malformed or not a Llama config the model crate builds
    /// (the [`llc_models::ModelError`] names the field).
    #[error("{}: {source}", path.display())]
    ModelConfig {
        path: PathBuf,
        #[source]
        source: llc_models::ModelError,
    },
    /// A JSON file (trainer state, shard index) that could not be parsed.
    #[error("{}: {message}", path.display())]
    Json { path: PathBuf, message: String },
    /// No checkpoint where one was looked for.
    #[error("no checkpoint found in {} (expected step_* directories or a `latest` file)", path.display())]
    NoCheckpoint { path: PathBuf },
    /// A `latest` pointer naming a directory that is not there.
    #[error("{}: points to {target}, which is not a complete checkpoint directory", path.display())]
    DanglingLatest { path: PathBuf, target: String },
    /// An error about a tensor (its length, its head layout) found in the file `path`.
    #[error("{}: {source}", path.display())]
    InFile {
        path: PathBuf,
        source: Box<CheckpointError>,
    },
    /// A bad option (keep_last = 0, ...).
    #[error("invalid option: {0}")]
    InvalidOption(String),
}

impl CheckpointError {
    /// `self`, about a tensor read from the file `path`, with that file named: a name
    /// that is not a parameter becomes [`CheckpointError::UnexpectedTensor`], and errors
    /// that name only the tensor ([`CheckpointError::DataLength`],
    /// [`CheckpointError::HeadLayout`]) are wrapped in [`CheckpointError::InFile`].
    pub fn in_file(self, path: &std::path::Path) -> Self {
        match self {
            CheckpointError::UnknownName { name, .. } => CheckpointError::UnexpectedTensor {
                path: path.to_path_buf(),
                name,
            },
            e @ (CheckpointError::DataLength { .. } | CheckpointError::HeadLayout { .. }) => {
                CheckpointError::InFile {
                    path: path.to_path_buf(),
                    source: Box::new(e),
                }
            }
            other => other,
        }
    }

    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CheckpointError::Io {
            path: path.into(),
            source,
        }
    }
}

/// A failed step of an atomic directory replacement is an I/O error on its path.
impl From<llc_ir::fsutil::FsError> for CheckpointError {
    fn from(e: llc_ir::fsutil::FsError) -> Self {
        CheckpointError::io(e.path, e.source)
    }
}

/// Result alias for checkpoint code.
pub type CheckpointResult<T> = Result<T, CheckpointError>;

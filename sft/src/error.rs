//! Errors of the `sft` crate, split by who is at fault: the user's files or settings,
//! or a failure inside candle.

use std::path::PathBuf;

/// Every error the `sft` library returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SftError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A `config.json` (or adapter config) is not valid JSON or misses a field.
    #[error("{path}: invalid config: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A config value is outside what the model supports.
    #[error("invalid model config: {0}")]
    InvalidConfig(String),
    /// The checkpoint declares an architecture this crate does not implement.
    #[error("unsupported architecture `{0}` (supported: LlamaForCausalLM, Qwen2ForCausalLM)")]
    UnsupportedArchitecture(String),
    /// A weight the model needs is absent from the checkpoint.
    #[error("missing tensor `{0}` in the checkpoint")]
    MissingTensor(String),
    /// A weight in the checkpoint has a different shape from the one the config implies.
    #[error("tensor `{name}` has shape {actual:?}, expected {expected:?}")]
    TensorShape {
        /// The tensor's name.
        name: String,
        /// The shape the config implies.
        expected: Vec<usize>,
        /// The shape in the file.
        actual: Vec<usize>,
    },
    /// A GGUF file lacks a metadata key or holds a value of the wrong type.
    #[error("{path}: GGUF metadata: {message}")]
    Gguf {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A CUDA build found no usable CUDA driver.
    #[error("{0}")]
    NoCuda(String),
    /// A worker thread could not be started.
    #[error("cannot start a thread: {0}")]
    Thread(String),
    /// An argument to a library function is invalid (a shape, a setting, a NaN).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A checkpoint directory cannot be resumed from: it belongs to another run or is
    /// damaged.
    #[error("{path}: cannot resume: {message}")]
    Checkpoint {
        /// The checkpoint or output directory.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A data file could not be read, or (in strict mode) holds a bad record; prints
    /// `file:line: field: reason`.
    #[error(transparent)]
    Read(#[from] datasets::ReadError),
    /// A record was read but cannot be trained on (empty reply, empty loss mask, a
    /// prompt longer than the maximum); prints `file:line: field: reason`.
    #[error("{0}")]
    BadRecord(datasets::BadRecord),
    /// The model's tokenizer or chat template cannot be loaded.
    #[error("{path}: tokenizer: {message}")]
    Tokenizer {
        /// The model file or directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A path given as a model is neither a GGUF file nor a Hugging Face directory.
    #[error("{path} is neither a .gguf file nor a directory with config.json")]
    NotAModel {
        /// The path.
        path: PathBuf,
    },
    /// Teacher and student tokenizers differ, so their distributions are over
    /// different tokens.
    #[error(
        "the teacher's tokenizer differs from the student's at token id {id}: student {student_token}, teacher {teacher_token} (logit distillation needs one vocabulary)"
    )]
    VocabMismatch {
        /// First id where they differ.
        id: u32,
        /// The student's token at that id (quoted), or `(none)`.
        student_token: String,
        /// The teacher's token at that id (quoted), or `(none)`.
        teacher_token: String,
    },

    /// Rendering a plot failed.
    #[error("plot: {0}")]
    Plot(String),
    /// A tensor operation failed inside candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, SftError>;

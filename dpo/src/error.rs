//! Errors of the `dpo` crate: bad settings, data or files from the caller, or a
//! failure inside candle or the `sft` model code.

/// Every error the `dpo` library returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DpoError {
    /// A setting is outside its valid range (β, label smoothing, loss weights).
    #[error("invalid setting: {0}")]
    InvalidConfig(String),
    /// A loss name is not one this crate implements.
    #[error(
        "unknown loss type `{0}` (known: sigmoid, ipo, hinge, robust, cdpo, sigmoid_norm, sft)"
    )]
    UnknownLoss(String),
    /// Inputs disagree in shape or content (batch sizes, token counts, masks).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A preference pair cannot be trained on (strict mode); prints
    /// `file:line: field: reason`.
    #[error("{0}")]
    BadPair(datasets::BadRecord),
    /// A data file could not be read, or (strict mode) holds a malformed record.
    #[error(transparent)]
    Read(#[from] datasets::ReadError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A reference log-prob cache file exists but is unusable.
    #[error("{path}: reference log-prob cache: {message}")]
    Cache {
        /// The cache file.
        path: std::path::PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An output directory cannot be resumed: it belongs to another run.
    #[error("{path}: cannot resume: {message}")]
    Resume {
        /// The output directory.
        path: std::path::PathBuf,
        /// Why.
        message: String,
    },
    /// The model code in `sft` failed.
    #[error(transparent)]
    Sft(#[from] sft::SftError),
    /// A tensor operation failed inside candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, DpoError>;

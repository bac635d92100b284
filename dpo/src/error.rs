//! Errors of the `dpo` crate: bad settings or inputs from the caller, or a failure
//! inside candle or the `sft` model code.

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
    /// The model code in `sft` failed.
    #[error(transparent)]
    Sft(#[from] sft::SftError),
    /// A tensor operation failed inside candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, DpoError>;

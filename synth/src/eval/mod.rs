//! Evaluation: pass@k of a model on a benchmark, checked in the same sandbox with
//! the same limits as synth, and the comparison of two evals.
//!
//! [`run_eval`] samples `n` answers per problem from a [`crate::Teacher`] (an
//! OpenAI-compatible server or an in-process model) with the prompt of
//! [`prompt`], extracts and checks each, appends one line per finished problem to
//! `OUT/results.jsonl` ([`ProblemResult`]) and writes `summary.json` and
//! `summary.txt` ([`EvalSummary`]). Re-running resumes; `config.json` fingerprints
//! the settings ([`EvalConfig`]). [`pass_at_k`] is Chen et al.'s unbiased estimator;
//! [`compare`] gives the pass@1 difference of two runs with a paired bootstrap
//! interval. [`ModelSpec`] resolves what `--model` names, [`Bench`] the benchmark.

mod bench;
mod compare;
mod config;
mod error;
mod model;
mod pass_at_k;
pub mod prompt;
mod record;
mod runner;
mod summary;

pub use bench::Bench;
pub use compare::{CompareOptions, Comparison, compare, paired_bootstrap_ci};
pub use config::{EVAL_CONFIG_FORMAT, EvalConfig, EvalOptions, EvalPaths};
pub use error::EvalError;
pub use model::ModelSpec;
pub use pass_at_k::{mean, pass_at_k};
pub use prompt::EVAL_TEMPLATE_VERSION;
pub use record::{ProblemResult, RESULT_FORMAT, SampleResult};
pub use runner::{OnResult, run_eval};
pub use summary::{EvalSummary, SUMMARY_FORMAT, read_results};

//! Integration tests of logit distillation (`sft::kd`): one binary.

// A failed expectation in a test is a test failure: panicking is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod loss;
mod loss_errors;
mod loss_support;
mod loss_topk;
mod trainer;

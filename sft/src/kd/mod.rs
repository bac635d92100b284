//! Logit distillation: the student learns the teacher's token distributions on the
//! trained positions, not only its sampled answers (TRL's GKD, torchtune's
//! knowledge-distillation recipe).
//!
//! - [`loss`]: forward KL, reverse KL and generalized JSD on rows of logits, computed
//!   in chunks with a hand-written backward pass.
//! - [`loss_composed`]: the same losses from candle ops, unchunked (the reference).
//! - [`bench`]: peak memory and time, composed vs fused (`distill bench kd`).
//! - [`objective`]: the divergence mixed with cross-entropy as the trainer's
//!   objective, teacher logits from a frozen model or a [`topk_cache`].
//! - [`topk_cache`]: the teacher's top-k log-probs per trained position, one pass.
//! - [`on_policy`]: GKD's λ, steps on the student's own samples.
//! - [`init_student`]: a student cut from the teacher's own layers.
//! - [`vocab`]: the check that teacher and student share one vocabulary.
//! - [`run`]: a whole distillation run (`distill kd`) and the cache pass
//!   (`distill kd cache`).

pub mod bench;
pub mod init_student;
pub mod loss;
pub mod loss_composed;
pub mod objective;
pub mod on_policy;
pub mod run;
pub mod topk_cache;
pub mod vocab;

//! The shared-vocabulary check: logit distillation compares the teacher's and the
//! student's distributions token by token, so both tokenizers must give every id the
//! same token.

use crate::error::{Result, SftError};
use tokenizers::Tokenizer;

/// Every token of `tok` by id (added tokens included); `None` for an unused id.
fn tokens_by_id(tok: &Tokenizer) -> Vec<Option<String>> {
    let vocab = tok.get_vocab(true);
    let n = vocab.values().map(|&id| id as usize + 1).max().unwrap_or(0);
    let mut out = vec![None; n];
    for (token, id) in vocab {
        out[id as usize] = Some(token);
    }
    out
}

fn shown(t: Option<&Option<String>>) -> String {
    match t {
        Some(Some(s)) => format!("{s:?}"),
        _ => "(none)".into(),
    }
}

/// Checks that `student` and `teacher` map every id to the same token; the error
/// names the first id where they differ (a token missing on one side counts).
pub fn check_same_vocab(student: &Tokenizer, teacher: &Tokenizer) -> Result<()> {
    let s = tokens_by_id(student);
    let t = tokens_by_id(teacher);
    let n = s.len().max(t.len());
    for id in 0..n {
        if s.get(id).cloned().flatten() != t.get(id).cloned().flatten() {
            return Err(SftError::VocabMismatch {
                id: id as u32,
                student_token: shown(s.get(id)),
                teacher_token: shown(t.get(id)),
            });
        }
    }
    Ok(())
}

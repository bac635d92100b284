//! Assistant spans by prefix rendering: for each assistant message `i`, the
//! conversation before it rendered with the generation prompt must be a
//! prefix of the conversation through it; the difference is what the
//! assistant writes, including the template's end-of-turn marker. No marker
//! strings are searched for.

use std::ops::Range;

use serde_json::Map;

use super::template::{ChatTemplate, TemplateError};
use crate::records::{Message, Role};

impl ChatTemplate {
    /// The full rendering of `messages` and the byte range of every
    /// assistant turn in it (content plus end-of-turn text, header excluded).
    pub fn assistant_spans(
        &self,
        messages: &[Message],
    ) -> Result<(String, Vec<Range<usize>>), TemplateError> {
        self.assistant_spans_with(messages, &Map::new())
    }

    /// [`ChatTemplate::assistant_spans`] with extra template variables.
    pub fn assistant_spans_with(
        &self,
        messages: &[Message],
        extra: &Map<String, serde_json::Value>,
    ) -> Result<(String, Vec<Range<usize>>), TemplateError> {
        let full = self.render_with(messages, false, extra)?;
        let mut spans = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            if m.role != Role::Assistant {
                continue;
            }
            let before = self.render_with(&messages[..i], true, extra)?;
            let through = self.render_with(&messages[..=i], false, extra)?;
            if !through.starts_with(&before) {
                return Err(TemplateError::NotPrefixStable { index: i });
            }
            if !full.starts_with(&through) {
                return Err(TemplateError::NotPrefixStable { index: i + 1 });
            }
            spans.push(before.len()..through.len());
        }
        Ok((full, spans))
    }
}

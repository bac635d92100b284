//! The OpenAI teacher's extra request body (`--extra-body`): its fields reach the
//! server on every request and win over ours (as the OpenAI SDK's `extra_body` does),
//! they are part of the teacher's recorded model name, and they cannot replace the
//! model or the messages.

use crate::server::{Reply, ScriptServer};
use datasets::records::Message;
use serde_json::json;
use synth::teacher::{ChatRequest, SamplingParams, Teacher};
use synth::{OpenAiConfig, OpenAiTeacher};

fn config(url: String, extra: serde_json::Value) -> OpenAiConfig {
    let mut config = OpenAiConfig::new(url, "m");
    config.api_key_env = "DISTILL_TEST_NO_SUCH_KEY".into();
    config.extra_body = extra.as_object().cloned().unwrap();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_body_fields_reach_the_server_and_name_the_teacher() {
    let server = ScriptServer::start(|_| Reply::Answer("```python\nprint(1)\n```".into())).await;
    let request = ChatRequest {
        messages: vec![Message::user("[[x]] Say one.")],
        params: SamplingParams {
            temperature: 0.0,
            ..SamplingParams::default()
        },
    };

    let plain = OpenAiTeacher::new(config(server.url(), json!({}))).unwrap();
    assert_eq!(plain.model(), "m");
    plain.complete(&request).await.unwrap();

    let extra = json!({"repeat_penalty": 1.0, "top_k": 1, "temperature": 0.5});
    let tuned = OpenAiTeacher::new(config(server.url(), extra)).unwrap();
    let name = tuned.model();
    assert!(name.starts_with("m {"), "{name}");
    for field in [
        "\"repeat_penalty\":1.0",
        "\"top_k\":1",
        "\"temperature\":0.5",
    ] {
        assert!(name.contains(field), "{name} lacks {field}");
    }
    tuned.complete(&request).await.unwrap();

    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    let (before, after) = (&seen[0].body, &seen[1].body);
    assert_eq!(before["temperature"], 0.0);
    assert!(before.get("repeat_penalty").is_none());
    assert_eq!(after["model"], "m");
    assert_eq!(after["repeat_penalty"], 1.0);
    assert_eq!(after["top_k"], 1);
    assert_eq!(after["temperature"], 0.5);
    assert_eq!(after["messages"], before["messages"]);

    for key in ["model", "messages"] {
        let err = OpenAiTeacher::new(config(server.url(), json!({ key: "x" })))
            .err()
            .expect("refused");
        assert!(err.to_string().contains(&format!("`{key}`")), "{err}");
    }
}

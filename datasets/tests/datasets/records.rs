//! Records: exact JSON round trips, TRL shapes, and rejections with the
//! failing field named.

use datasets::FieldError;
use datasets::records::{
    Attempt, Case, DpoExample, DpoRecord, Format, JsonRecord, Message, Outcome, Problem,
    Provenance, SftExample, SftRecord, Status, Teacher, TestType, Usage,
};
use serde_json::{Map, Value, json};

fn roundtrip<T>(record: &T, expected_json: &str)
where
    T: JsonRecord + serde::Serialize + PartialEq + std::fmt::Debug,
{
    let text = serde_json::to_string(record).unwrap_or_default();
    assert_eq!(text, expected_json);
    match T::from_json_str(&text) {
        Ok(back) => assert_eq!(&back, record),
        Err(e) => panic!("{e}"),
    }
}

fn reject<T: JsonRecord + std::fmt::Debug>(text: &str) -> FieldError {
    match T::from_json_str(text) {
        Ok(r) => panic!("accepted {r:?}"),
        Err(e) => e,
    }
}

#[test]
fn problem_roundtrips_exactly() {
    let mut p = Problem::assert_style("demo/add", "Write add(a, b).", "assert add(1, 2) == 3\n");
    p.entry_point = Some("add".into());
    p.source = Some("demo".into());
    roundtrip(
        &p,
        r#"{"format":"problem.v1","id":"demo/add","prompt":"Write add(a, b).","tests":"assert add(1, 2) == 3\n","entry_point":"add","test_type":"assert","source":"demo"}"#,
    );
    let stdio = Problem {
        test_type: TestType::Stdio,
        cases: Some(vec![Case {
            input: "1 2\n".into(),
            output: "3\n".into(),
        }]),
        tests: String::new(),
        ..Problem::assert_style("demo/sum", "Read two ints, print the sum.", "")
    };
    roundtrip(
        &stdio,
        r#"{"format":"problem.v1","id":"demo/sum","prompt":"Read two ints, print the sum.","tests":"","test_type":"stdio","cases":[{"input":"1 2\n","output":"3\n"}]}"#,
    );
}

#[test]
fn attempt_roundtrips_exactly() {
    let mut params = Map::new();
    params.insert("temperature".into(), json!(0.8));
    let a = Attempt {
        format: Format::new(),
        problem_id: "demo/add".into(),
        sample: 2,
        turn: 1,
        messages: vec![Message::user("Write add.")],
        completion: "```python\ndef add(a, b): return a + b\n```".into(),
        code: Some("def add(a, b): return a + b\n".into()),
        outcome: Outcome {
            status: Status::OutputLimit,
            stdout: "x".into(),
            stderr: String::new(),
            exit_code: None,
            duration_ms: 56,
        },
        teacher: Teacher {
            model: "qwen".into(),
            params,
        },
        usage: Some(Usage {
            prompt_tokens: 10,
            completion_tokens: 20,
            total_tokens: None,
        }),
    };
    roundtrip(
        &a,
        r#"{"format":"attempt.v1","problem_id":"demo/add","sample":2,"turn":1,"messages":[{"role":"user","content":"Write add."}],"completion":"```python\ndef add(a, b): return a + b\n```","code":"def add(a, b): return a + b\n","outcome":{"status":"output_limit","stdout":"x","stderr":"","exit_code":null,"duration_ms":56},"teacher":{"model":"qwen","params":{"temperature":0.8}},"usage":{"prompt_tokens":10,"completion_tokens":20}}"#,
    );
}

#[test]
fn sft_and_dpo_roundtrip_exactly_with_provenance() {
    let mut sft = SftRecord::new(vec![
        Message::system("Be brief."),
        Message::user("Hi"),
        Message::assistant("Hello"),
    ]);
    sft.meta = Provenance {
        problem_id: Some("p1".into()),
        tool_version: Some("0.1.0".into()),
        ..Provenance::default()
    };
    sft.meta.extra.insert("custom".into(), json!([1, 2]));
    roundtrip(
        &sft,
        r#"{"format":"sft.v1","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}],"meta":{"problem_id":"p1","tool_version":"0.1.0","custom":[1,2]}}"#,
    );
    let dpo = DpoRecord::new(
        vec![Message::user("Sum?")],
        vec![Message::assistant("good")],
        vec![Message::assistant("bad")],
    );
    roundtrip(
        &dpo,
        r#"{"format":"dpo.v1","prompt":[{"role":"user","content":"Sum?"}],"chosen":[{"role":"assistant","content":"good"}],"rejected":[{"role":"assistant","content":"bad"}],"meta":{}}"#,
    );
}

#[test]
fn unknown_version_and_wrong_kind_are_named() {
    let e = reject::<SftRecord>(r#"{"format":"sft.v2","messages":[]}"#);
    assert_eq!(e.field, "format");
    assert_eq!(
        e.reason,
        "unsupported format version `sft.v2` (version 2); this build reads `sft.v1`"
    );
    let e = reject::<SftRecord>(r#"{"format":"dpo.v1","messages":[]}"#);
    assert_eq!(e.field, "format");
    assert!(
        e.reason.starts_with("this is a `dpo` record"),
        "{}",
        e.reason
    );
    let e = reject::<Problem>(r#"{"format":"problem","id":"x"}"#);
    assert_eq!(
        e.reason,
        "malformed format tag `problem`: expected `problem.v1`"
    );
    // The TRL-aware reader checks the tag the same way.
    let e = reject::<SftExample>(r#"{"format":"sft.v9","messages":[]}"#);
    assert_eq!(e.field, "format");
    assert!(e.reason.contains("`sft.v9`"));
}

#[test]
fn missing_fields_are_named_with_their_path() {
    let e = reject::<SftRecord>(r#"{"messages":[{"role":"assistant","content":"x"}]}"#);
    assert_eq!(e.to_string(), "format: required field is missing");
    let e =
        reject::<Problem>(r#"{"format":"problem.v1","id":"a","prompt":"p","test_type":"assert"}"#);
    assert_eq!(e.to_string(), "tests: required field is missing");
    let e = reject::<Attempt>(
        r#"{"format":"attempt.v1","problem_id":"p","sample":0,"turn":0,"messages":[{"role":"user","content":"q"}],"completion":"c","code":null,"outcome":{"status":"passed","stdout":"","stderr":"","exit_code":0},"teacher":{"model":"m"}}"#,
    );
    assert_eq!(
        e.to_string(),
        "outcome.duration_ms: required field is missing"
    );
}

#[test]
fn wrong_types_and_values_are_named_with_their_path() {
    let e = reject::<SftRecord>(
        r#"{"format":"sft.v1","messages":[{"role":"user","content":"q"},{"role":"robot","content":"a"}]}"#,
    );
    assert_eq!(e.field, "messages[1].role");
    assert!(
        e.reason.starts_with("unknown variant `robot`"),
        "{}",
        e.reason
    );
    let e = reject::<Problem>(
        r#"{"format":"problem.v1","id":"a","prompt":"p","tests":7,"test_type":"assert"}"#,
    );
    assert_eq!(e.field, "tests");
    assert_eq!(e.reason, "invalid type: integer `7`, expected a string");
    let e = reject::<Problem>(
        r#"{"format":"problem.v1","id":"a","prompt":"p","tests":"t","test_type":"assert","entrypoint":"f"}"#,
    );
    assert_eq!(e.field, "entrypoint");
    assert!(e.reason.starts_with("unknown field"), "{}", e.reason);
    let e = reject::<SftRecord>("[1, 2]");
    assert_eq!(e.field, "<record>");
    let e = reject::<SftRecord>(r#"{"format":"sft.v1","messages":[]} trailing"#);
    assert_eq!(e.field, "<json>");
}

#[test]
fn semantic_checks_reject_untrainable_records() {
    let e =
        reject::<SftRecord>(r#"{"format":"sft.v1","messages":[{"role":"user","content":"q"}]}"#);
    assert_eq!(e.field, "messages[0].role");
    let e = reject::<SftRecord>(
        r#"{"format":"sft.v1","messages":[{"role":"user","content":"q"},{"role":"system","content":"s"},{"role":"assistant","content":"a"}]}"#,
    );
    assert_eq!(e.field, "messages[1].role");
    assert_eq!(e.reason, "a system message may only be the first message");
    let e = reject::<DpoRecord>(
        r#"{"format":"dpo.v1","prompt":[{"role":"user","content":"q"}],"chosen":[{"role":"assistant","content":"a"}],"rejected":[{"role":"assistant","content":"a"}]}"#,
    );
    assert_eq!(e.field, "rejected");
    let e = reject::<DpoRecord>(
        r#"{"format":"dpo.v1","prompt":[{"role":"user","content":"q"}],"chosen":[{"role":"user","content":"a"}],"rejected":[{"role":"assistant","content":"b"}]}"#,
    );
    assert_eq!(e.field, "chosen[0].role");
    let e = reject::<Problem>(
        r#"{"format":"problem.v1","id":"a","prompt":"p","tests":"","test_type":"stdio"}"#,
    );
    assert_eq!(e.field, "cases");
}

fn parse<T: JsonRecord>(text: &str) -> T {
    match T::from_json_str(text) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn trl_sft_shapes_are_read() {
    let conv: SftExample = parse(
        r#"{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}],"id":7}"#,
    );
    assert_eq!(
        conv.to_sft_record(),
        Some(SftRecord::new(vec![
            Message::user("q"),
            Message::assistant("a")
        ]))
    );
    let pc: SftExample = parse(r#"{"prompt":"The sky is","completion":" blue."}"#);
    assert_eq!(
        pc,
        SftExample::PromptCompletion {
            prompt: "The sky is".into(),
            completion: " blue.".into()
        }
    );
    assert_eq!(pc.to_sft_record(), None);
    let cpc: SftExample = parse(
        r#"{"prompt":[{"role":"user","content":"q"}],"completion":[{"role":"assistant","content":"a"}]}"#,
    );
    assert_eq!(
        cpc.to_sft_record(),
        Some(SftRecord::new(vec![
            Message::user("q"),
            Message::assistant("a")
        ]))
    );
    let text: SftExample = parse(r#"{"text":"def f(): pass"}"#);
    assert_eq!(
        serde_json::to_string(&text).unwrap_or_default(),
        r#"{"text":"def f(): pass"}"#
    );
    let ours: SftExample = parse(
        r#"{"format":"sft.v1","messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}],"meta":{}}"#,
    );
    assert!(matches!(ours, SftExample::Distill(_)));
    let e = reject::<SftExample>(r#"{"question":"q"}"#);
    assert_eq!(e.field, "<record>");
    assert!(e.reason.contains("`messages`"), "{}", e.reason);
    let e = reject::<SftExample>(r#"{"prompt":"q"}"#);
    assert_eq!(e.to_string(), "completion: required field is missing");
}

#[test]
fn trl_preference_shapes_are_read() {
    let conv: DpoExample = parse(
        r#"{"prompt":[{"role":"user","content":"q"}],"chosen":[{"role":"assistant","content":"a"}],"rejected":[{"role":"assistant","content":"b"}]}"#,
    );
    assert!(matches!(conv, DpoExample::Conversational { .. }));
    let std: DpoExample = parse(r#"{"prompt":"q","chosen":"a","rejected":"b"}"#);
    assert_eq!(
        serde_json::to_string(&std).unwrap_or_default(),
        r#"{"prompt":"q","chosen":"a","rejected":"b"}"#
    );
    // Implicit prompt: the shared prefix becomes the prompt, as in TRL's
    // extract_prompt.
    let implicit: DpoExample = parse(
        r#"{"chosen":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}],"rejected":[{"role":"user","content":"q"},{"role":"assistant","content":"b"}]}"#,
    );
    assert_eq!(
        implicit.to_dpo_record(),
        Some(DpoRecord::new(
            vec![Message::user("q")],
            vec![Message::assistant("a")],
            vec![Message::assistant("b")]
        ))
    );
    let std_implicit: DpoExample = parse(r#"{"chosen":"qa","rejected":"qb"}"#);
    assert!(matches!(std_implicit, DpoExample::ImplicitStandard { .. }));
    let e = reject::<DpoExample>(r#"{"prompt":"q"}"#);
    assert_eq!(e.field, "<record>");
    let _: Value = json!(null);
}

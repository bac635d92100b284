//! The in-process teacher: the Qwen2.5-Coder-0.5B-Instruct GGUF from the setup cache
//! answering a real synth run on five easy problems (accepted answers pass again when
//! re-run in the sandbox), one request's sampling settings honoured, and a dequantized
//! load named apart from the quantized one.

use crate::harness::checker;
use datasets::records::{Message, Problem};
use std::sync::{Arc, OnceLock};
use synth::teacher::{ChatRequest, SamplingParams, Teacher};
use synth::{LocalTeacher, SynthOptions, run_synth};

/// The cached Qwen teacher, loaded once, one generation at a time (the test machine
/// has 2 cores and the sandbox needs them too).
fn qwen() -> Arc<LocalTeacher> {
    static CELL: OnceLock<Arc<LocalTeacher>> = OnceLock::new();
    Arc::clone(CELL.get_or_init(|| {
        let store =
            sandbox::artifacts::ArtifactStore::from_env(sandbox::artifacts::FetchMode::Offline);
        let path = store
            .file(&sandbox::artifacts::QWEN25_CODER_05B_GGUF)
            .expect("Qwen GGUF in the artifact cache (run `distill setup` or set DISTILL_CACHE)");
        Arc::new(LocalTeacher::load(&path, 1).expect("load the local teacher"))
    }))
}

fn easy(id: &str, prompt: &str, entry: &str, tests: &str) -> Problem {
    let mut p = Problem::assert_style(id, prompt, tests);
    p.entry_point = Some(entry.into());
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_qwen_teacher_passes_easy_problems_in_a_synth_run() {
    let problems = vec![
        easy(
            "easy/add",
            "Write a Python function `add(a, b)` that returns the sum of a and b.",
            "add",
            "assert add(1, 2) == 3\nassert add(-4, 4) == 0\n",
        ),
        easy(
            "easy/is_even",
            "Write a Python function `is_even(n)` that returns True when the integer n is even and False otherwise.",
            "is_even",
            "assert is_even(4)\nassert not is_even(7)\nassert is_even(0)\n",
        ),
        easy(
            "easy/maximum",
            "Write a Python function `maximum(xs)` that returns the largest number in the non-empty list xs.",
            "maximum",
            "assert maximum([3, 9, 2]) == 9\nassert maximum([-5]) == -5\n",
        ),
        easy(
            "easy/reverse",
            "Write a Python function `reverse(s)` that returns the string s reversed.",
            "reverse",
            "assert reverse('abc') == 'cba'\nassert reverse('') == ''\n",
        ),
        easy(
            "easy/count_a",
            "Write a Python function `count_a(s)` that returns how many times the letter 'a' occurs in the string s.",
            "count_a",
            "assert count_a('banana') == 3\nassert count_a('xyz') == 0\n",
        ),
    ];
    let options = SynthOptions {
        samples: 1,
        max_feedback: 0,
        accept: 1,
        params: SamplingParams {
            temperature: 0.0,
            max_tokens: 256,
            ..SamplingParams::default()
        },
        concurrency: 2,
        strip_demo_code: true,
        ..SynthOptions::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let teacher = qwen();
    let checker = checker();
    let report = run_synth(
        dir.path(),
        &problems,
        teacher.clone(),
        checker.clone(),
        &options,
    )
    .await
    .unwrap();
    eprintln!("{}", report.summary());
    assert_eq!(report.finished, 5, "{}", report.summary());
    assert!(report.accepted_problems >= 1, "{}", report.summary());
    assert!(report.tokens_out > 0, "usage is reported");
    assert!(teacher.stats().calls >= 5);
    // Every accepted answer passes its problem's tests again when its code is re-run
    // in the sandbox (the journal's `code` is what was checked).
    let attempts = std::fs::read_to_string(dir.path().join("attempts.jsonl")).unwrap();
    assert!(attempts.contains("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"));
    let mut rerun = 0;
    for line in attempts.lines() {
        let a: serde_json::Value = serde_json::from_str(line).unwrap();
        if a["outcome"]["status"] != "passed" {
            continue;
        }
        let problem = problems.iter().find(|p| p.id == a["problem_id"]).unwrap();
        let code = a["code"].as_str().unwrap();
        let verdict = checker.check(problem, code).await.unwrap();
        assert!(verdict.passed(), "{}: {verdict:?}", problem.id);
        rerun += 1;
    }
    assert_eq!(rerun as u64, report.sft_records);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_teacher_honours_seed_stop_and_max_tokens() {
    let teacher = qwen();
    let request = |params: SamplingParams| ChatRequest {
        messages: vec![Message::user(
            "Write a Python function `fib(n)` that returns the n-th Fibonacci number.",
        )],
        params,
    };
    let base = SamplingParams {
        temperature: 0.0,
        max_tokens: 12,
        seed: Some(3),
        stop: Vec::new(),
        ..SamplingParams::default()
    };
    let full = teacher.complete(&request(base.clone())).await.unwrap();
    eprintln!("{:?}", full);
    assert_eq!(full.finish_reason.as_deref(), Some("length"));
    let usage = full.usage.unwrap();
    assert_eq!(usage.completion_tokens, 12);
    assert!(usage.prompt_tokens > 10);

    // A stop string taken from the middle of the greedy answer: the answer is cut
    // right before its first occurrence.
    let chars: Vec<char> = full.content.chars().collect();
    assert!(chars.len() > 10, "{:?}", full.content);
    let stop: String = chars[6..9].iter().collect();
    let cut = full.content.find(&stop).unwrap();
    let stopped = teacher
        .complete(&request(SamplingParams {
            stop: vec![stop],
            ..base.clone()
        }))
        .await
        .unwrap();
    assert_eq!(stopped.finish_reason.as_deref(), Some("stop"));
    assert_eq!(stopped.content, full.content[..cut]);

    // Same seed at temperature 1: same answer.
    let hot = SamplingParams {
        temperature: 1.0,
        top_p: 0.95,
        ..base
    };
    let a = teacher.complete(&request(hot.clone())).await.unwrap();
    let b = teacher.complete(&request(hot)).await.unwrap();
    assert_eq!(a.content, b.content);
}

#[test]
fn a_dequantized_teacher_is_named_apart_from_the_quantized_one() {
    // Eval directories and cache keys carry the model name, so an f32 run of a GGUF
    // (the arithmetic its merged adapters use) must never resume a quantized run, nor
    // a run that prefills on the quantized blocks one that prefills in f32.
    let store = sandbox::artifacts::ArtifactStore::from_env(sandbox::artifacts::FetchMode::Offline);
    let path = store
        .file(&sandbox::artifacts::SMOLLM2_135M_GGUF)
        .expect("SmolLM2 GGUF in the artifact cache (run `distill setup`)");
    let name = |options: synth::teacher::local::LocalTeacherOptions| {
        LocalTeacher::load(&path, &options)
            .expect("load the GGUF")
            .model()
            .to_string()
    };
    let options = synth::teacher::local::LocalTeacherOptions::from(1);
    assert_eq!(name(options.clone()), "SmolLM2-135M-Instruct.Q4_1.gguf");
    let f32 = synth::teacher::local::LocalTeacherOptions {
        dequantize: true,
        ..options.clone()
    };
    assert_eq!(name(f32), "SmolLM2-135M-Instruct.Q4_1.gguf (f32)");
    let blocks_prefill = synth::teacher::local::LocalTeacherOptions {
        quantized_prefill: true,
        ..options
    };
    assert_eq!(
        name(blocks_prefill),
        "SmolLM2-135M-Instruct.Q4_1.gguf (quantized prefill)"
    );
}

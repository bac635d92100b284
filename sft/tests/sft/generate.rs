//! Generation: the KV-cache inference model against the training forward, the
//! quantized GGUF path against its dequantized f32 weights, sampling, stop strings and
//! budgets, and a behavioural check that the demo teacher solves HumanEval problems.

use crate::common::{errors, smollm2, values};
use candle_core::{Device, Tensor};
use sft::generate::{
    FinishReason, GenerateParams, Generator, InferenceModel, LoadOptions, Sampler, SamplingConfig,
    argmax,
};
use sft::{CausalLm, Config, ForwardCtx, LoraConfig, LoraTarget, TrainMode};
use std::path::PathBuf;
use std::sync::OnceLock;

fn cached(artifact: &sandbox::artifacts::FileArtifact) -> PathBuf {
    let store = sandbox::artifacts::ArtifactStore::from_env(sandbox::artifacts::FetchMode::Offline);
    store
        .file(artifact)
        .expect("model in the artifact cache (run `distill setup` or set DISTILL_CACHE)")
}

/// The SmolLM2 GGUF with its projections kept quantized (and f32 copies of them
/// for prompt prefill, the default), loaded once.
fn smol_quantized() -> &'static Generator {
    static CELL: OnceLock<Generator> = OnceLock::new();
    CELL.get_or_init(|| {
        sft::generate::load(&cached(&sandbox::artifacts::SMOLLM2_135M_GGUF)).expect("load")
    })
}

/// The SmolLM2 GGUF multiplied with its quantized blocks only, prefill included.
fn smol_blocks_only() -> &'static Generator {
    static CELL: OnceLock<Generator> = OnceLock::new();
    CELL.get_or_init(|| {
        let opts = LoadOptions {
            quantized_prefill: true,
            ..LoadOptions::default()
        };
        sft::generate::load_with(&cached(&sandbox::artifacts::SMOLLM2_135M_GGUF), &opts)
            .expect("load")
    })
}

/// Logits of the training forward on the whole sequence, `(seq, vocab)`.
fn full_logits(model: &CausalLm, ids: &[u32]) -> Tensor {
    let input = Tensor::new(ids, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    model
        .forward(&input, None, None, &mut ForwardCtx::eval())
        .unwrap()
        .squeeze(0)
        .unwrap()
}

/// Logits from a prefill of `prefill` tokens, then one token at a time through the
/// KV cache, `(seq, vocab)`. The cache starts small so that it has to grow.
fn cached_logits(model: &InferenceModel, ids: &[u32], prefill: usize) -> Tensor {
    let mut cache = model.new_cache(prefill + 1).unwrap();
    let mut rows = vec![model.forward(&ids[..prefill], &mut cache, true).unwrap()];
    for &id in &ids[prefill..] {
        rows.push(model.forward(&[id], &mut cache, false).unwrap());
    }
    assert_eq!(cache.len(), ids.len());
    Tensor::cat(&rows, 0).unwrap()
}

fn assert_cache_parity(lm: &CausalLm, ids: &[u32], prefill: usize, tol: f64) {
    let inf = InferenceModel::from_causal_lm(lm).unwrap();
    assert!(!inf.is_quantized());
    let expected = values(&full_logits(lm, ids));
    let actual = values(&cached_logits(&inf, ids, prefill));
    let (abs, rel) = errors(&actual, &expected);
    eprintln!("kv-cache parity: max abs {abs:.2e}, rel {rel:.2e}");
    // Relative to the largest logit: summation order differs between the fused
    // inference ops and the composed training ones, and between one-row and
    // whole-sequence matrix products (SmolLM2's logits reach ~30).
    assert!(
        rel < tol,
        "max |cached - full| / max |full| = {rel:e} >= {tol:e}"
    );
}

#[test]
fn kv_cache_decode_matches_full_forward_smollm2() {
    let (config, weights) = smollm2();
    let lm =
        CausalLm::from_weights(config.clone(), weights, &TrainMode::Frozen, &Device::Cpu).unwrap();
    // Arbitrary in-vocabulary ids; 6 prefilled, 10 decoded one by one.
    let ids: Vec<u32> = (0..16).map(|i| 1 + (i * 2971 + 17) % 49000).collect();
    assert_cache_parity(&lm, &ids, 6, 1e-4);
}

#[test]
fn kv_cache_decode_matches_full_forward_qwen2_with_biases() {
    let config: Config = serde_json::from_value(serde_json::json!({
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "vocab_size": 96,
        "hidden_size": 48,
        "intermediate_size": 80,
        "num_hidden_layers": 3,
        "num_attention_heads": 6,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "tie_word_embeddings": false
    }))
    .unwrap();
    assert!(config.qkv_bias());
    let mut lm = CausalLm::random(config, 7, &TrainMode::Frozen, &Device::Cpu).unwrap();
    // Random init leaves biases small; make them matter.
    for layer in &mut lm.layers {
        for p in [
            &mut layer.self_attn.q_proj,
            &mut layer.self_attn.k_proj,
            &mut layer.self_attn.v_proj,
        ] {
            let b = p.bias.as_ref().unwrap();
            p.bias = Some(Tensor::randn(0f32, 0.5, b.dims(), &Device::Cpu).unwrap());
        }
    }
    let ids: Vec<u32> = (0..20).map(|i| (i * 37 + 5) % 96).collect();
    assert_cache_parity(&lm, &ids, 7, 1e-4);
}

#[test]
fn kv_cache_matches_lora_model_with_llama3_rope_scaling() {
    let mut config = crate::common::tiny_config();
    config.rope_scaling = Some(
        serde_json::from_value(serde_json::json!({
            "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 8
        }))
        .unwrap(),
    );
    config.validate().unwrap();
    let lc = LoraConfig {
        rank: 4,
        alpha: 8.0,
        dropout: 0.0,
        targets: vec![LoraTarget::QProj, LoraTarget::VProj, LoraTarget::DownProj],
        seed: 3,
    };
    let lm = CausalLm::random(config, 11, &TrainMode::Lora(lc), &Device::Cpu).unwrap();
    // lora_B starts at zero; give it values so the merge is tested.
    for (name, var) in lm.trainable() {
        if name.contains("lora_B") {
            var.set(&Tensor::randn(0f32, 0.3, var.dims(), &Device::Cpu).unwrap())
                .unwrap();
        }
    }
    let ids: Vec<u32> = (0..24).map(|i| (i * 13 + 3) % 64).collect();
    // The unmerged forward (base + scale * B A x) is the reference.
    assert_cache_parity(&lm, &ids, 5, 1e-4);
}

/// A short chat with an answer, 35 SmolLM2 tokens.
const SUM_CHAT: &str = "<|im_start|>user\nWrite a Python function that returns the sum of a list of numbers.<|im_end|>\n<|im_start|>assistant\ndef total(numbers):\n    return sum(numbers)\n";

#[test]
fn quantized_gguf_tracks_its_dequantized_weights() {
    // The quantized path multiplies with quantized blocks (SmolLM2's Q4_1 matrices
    // re-encoded as Q8_0 at load, see `generate::load`), and candle's QMatMul also
    // quantizes each activation row to q8 (per 32 values) before the dot products,
    // as llama.cpp does; the f32 path multiplies the exactly dequantized weights
    // with exact activations. Logits therefore differ by those roundings compounded
    // over 30 layers: not bit-equal, but within several percent of the logit range,
    // and the argmax almost always agrees. This also checks the interleaved rotary
    // layout used for llama.cpp's permuted Q/K rows against the un-permuted f32
    // weights (a wrong layout gives errors of the order of the logits themselves).
    let (config, weights) = smollm2();
    let f32_model = InferenceModel::from_weights(config.clone(), weights, &Device::Cpu).unwrap();
    let q = smol_blocks_only();
    assert!(q.model.is_quantized());
    let text = SUM_CHAT;
    let ids = q.encode(text).unwrap();
    let n = ids.len();
    let a = cached_logits(&q.model, &ids, n / 2);
    let b = cached_logits(&f32_model, &ids, n / 2);
    let (abs, rel) = errors(&values(&a), &values(&b));
    let mut agree = 0;
    for i in 0..n {
        let ra: Vec<f32> = a.get(i).unwrap().to_vec1().unwrap();
        let rb: Vec<f32> = b.get(i).unwrap().to_vec1().unwrap();
        agree += usize::from(argmax(&ra) == argmax(&rb));
    }
    eprintln!(
        "quantized vs f32: {n} positions, argmax agree {agree}, max abs {abs:.3}, rel {rel:.4}"
    );
    // Measured: 34 or 35 of 35 argmaxes agree, max error 5.8% of the largest logit
    // (3.0% before the Q4_1 -> Q8_0 re-encoding, when Q4_1 ran candle's unquantized-
    // activation fallback). A wrong rotary layout gives errors near 100%.
    assert!(rel < 0.1, "relative logit error {rel}");
    assert!(agree * 10 >= n * 9, "argmax agrees on {agree} of {n}");
}

#[test]
fn dense_prefill_runs_prompts_on_the_dequantized_weights() {
    // By default a quantized GGUF model multiplies prompt chunks of 8+ rows with f32
    // copies of its layer projections (the file's blocks dequantized: the f32 model's
    // weights) and single decode rows with the blocks (the exact split is unit-tested
    // in `generate::model::prefill_tests`). On a prefilled prompt the only quantized
    // product left is then the LM head (SmolLM2's tied embedding, Q8_0 after
    // re-encoding, with q8 activations), so its logits sit much closer to the f32
    // model's than those of the blocks-only load, whose 30 layers all round their
    // activations to q8. Measured: 1.3% against 5.8% of the largest logit.
    let (config, weights) = smollm2();
    let f32_model = InferenceModel::from_weights(config.clone(), weights, &Device::Cpu).unwrap();
    let dense = smol_quantized();
    let blocks = smol_blocks_only();
    let ids = dense.encode(SUM_CHAT).unwrap();
    let prefill = |m: &InferenceModel, ids: &[u32]| {
        let mut cache = m.new_cache(ids.len()).unwrap();
        values(&m.forward(ids, &mut cache, true).unwrap())
    };
    let reference = prefill(&f32_model, &ids);
    let (_, rel_dense) = errors(&prefill(&dense.model, &ids), &reference);
    let (_, rel_blocks) = errors(&prefill(&blocks.model, &ids), &reference);
    eprintln!("prefill vs f32 model: dense copies rel {rel_dense:.5}, blocks rel {rel_blocks:.5}");
    assert!(
        rel_dense * 3.0 < rel_blocks,
        "dense prefill error {rel_dense} is not well below the blocks' {rel_blocks}"
    );
    // A one-token prompt is a decode-sized forward: both loads take the blocks.
    let one = &ids[..1];
    assert_eq!(prefill(&dense.model, one), prefill(&blocks.model, one));
}

#[test]
fn sampler_follows_hand_computed_distributions() {
    // logits ln(0.7), ln(0.2), ln(0.1): at temperature 1 the probabilities are
    // 0.7/0.2/0.1; with top_p 0.8 the nucleus is {0, 1} (0.7 < 0.8 <= 0.9), so
    // 0.7/0.9 and 0.2/0.9; at temperature 0.5 they are p^2 normalized:
    // 0.49/0.54, 0.04/0.54, 0.01/0.54.
    let logits = [0.7f32.ln(), 0.2f32.ln(), 0.1f32.ln()];
    let freq = |cfg: SamplingConfig| {
        let mut s = Sampler::new(cfg).unwrap();
        let mut counts = [0usize; 3];
        let n = 40_000;
        for _ in 0..n {
            counts[s.sample(&logits).unwrap() as usize] += 1;
        }
        counts.map(|c| c as f64 / n as f64)
    };
    let cases = [
        (1.0, 1.0, [0.7, 0.2, 0.1]),
        (1.0, 0.8, [0.7 / 0.9, 0.2 / 0.9, 0.0]),
        (0.5, 1.0, [0.49 / 0.54, 0.04 / 0.54, 0.01 / 0.54]),
    ];
    for (temperature, top_p, want) in cases {
        let got = freq(SamplingConfig {
            temperature,
            top_p,
            seed: 5,
        });
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g - w).abs() < 0.01,
                "t={temperature} p={top_p}: {got:?} vs {want:?}"
            );
        }
    }
    // A tiny nucleus is the argmax; temperature 0 is the argmax.
    let mut s = Sampler::new(SamplingConfig {
        temperature: 1.0,
        top_p: 0.01,
        seed: 1,
    })
    .unwrap();
    assert!((0..100).all(|_| s.sample(&[0.1, 2.0, 1.9]).unwrap() == 1));
    let mut g = Sampler::new(SamplingConfig::greedy()).unwrap();
    assert_eq!(g.sample(&[0.1, 2.0, 1.9]).unwrap(), 1);
    assert!(
        Sampler::new(SamplingConfig {
            temperature: -1.0,
            ..SamplingConfig::default()
        })
        .is_err()
    );
    assert!(
        Sampler::new(SamplingConfig {
            top_p: 0.0,
            ..SamplingConfig::default()
        })
        .is_err()
    );
}

fn user(text: &str) -> Vec<datasets::records::Message> {
    vec![datasets::records::Message::user(text)]
}

fn params(max_new_tokens: usize, temperature: f32, seed: u64) -> GenerateParams {
    GenerateParams {
        max_new_tokens,
        sampling: SamplingConfig {
            temperature,
            top_p: 1.0,
            seed,
        },
        stop: Vec::new(),
    }
}

#[test]
fn sampling_is_seeded_and_temperature_zero_is_greedy() {
    let g = smol_quantized();
    let msgs = user("Tell me a short story about a cat.");
    let a = g.chat(&msgs, &params(24, 1.0, 1)).unwrap();
    let b = g.chat(&msgs, &params(24, 1.0, 1)).unwrap();
    assert_eq!(a.text, b.text, "same seed, same text");
    assert_eq!(a.token_ids, b.token_ids);
    let others: Vec<Vec<u32>> = (2..5)
        .map(|s| g.chat(&msgs, &params(24, 1.0, s)).unwrap().token_ids)
        .collect();
    assert!(
        others.iter().any(|o| *o != a.token_ids),
        "different seeds at temperature 1 gave the same tokens"
    );

    // Temperature 0 ignores seed and top_p and equals a hand-rolled greedy loop
    // (prefill, then argmax fed back one token at a time). The loop runs the same
    // shapes as the generator on purpose: quantized products of one row and of many
    // rows take different kernels, whose rounding can flip near-tied argmaxes, so a
    // loop that recomputed the whole sequence would test the kernels, not greedy
    // decoding (the cache itself is checked exactly in f32 above).
    let mut greedy = params(12, 0.0, 99);
    greedy.sampling.top_p = 0.3;
    let out = g.chat(&msgs, &greedy).unwrap();
    let ids = g.encode(&g.render_chat(&msgs).unwrap()).unwrap();
    let prompt_len = ids.len();
    let mut cache = g.model.new_cache(prompt_len).unwrap();
    let mut input = ids.clone();
    let mut expected = Vec::new();
    for _ in 0..out.completion_tokens {
        let logits = g.model.forward(&input, &mut cache, false).unwrap();
        let next = argmax(&logits.squeeze(0).unwrap().to_vec1::<f32>().unwrap());
        if g.eos_ids.contains(&next) {
            break;
        }
        expected.push(next);
        input = vec![next];
    }
    assert_eq!(out.prompt_tokens, prompt_len);
    assert_eq!(out.token_ids, expected);
}

#[test]
fn stop_strings_and_token_budget() {
    let g = smol_quantized();
    let msgs = user("List the numbers from one to twenty, separated by commas.");
    let full = g.chat(&msgs, &params(40, 0.0, 0)).unwrap();
    eprintln!("greedy: {:?} ({:?})", full.text, full.finish_reason);
    assert!(full.completion_tokens <= 40);
    assert!(full.prefill_seconds > 0.0);

    // Budget: 5 tokens, finish reason `length`.
    let short = g.chat(&msgs, &params(5, 0.0, 0)).unwrap();
    assert_eq!(short.finish_reason, FinishReason::Length);
    assert_eq!(short.completion_tokens, 5);
    assert_eq!(short.token_ids, full.token_ids[..5]);

    // A stop string taken from the middle of the greedy text cuts the output right
    // before its first occurrence.
    let chars: Vec<char> = full.text.chars().collect();
    assert!(chars.len() > 12, "greedy text too short: {:?}", full.text);
    let stop: String = chars[8..11].iter().collect();
    let cut = full.text.find(&stop).unwrap();
    let mut p = params(40, 0.0, 0);
    p.stop = vec!["never-appears".into(), stop.clone()];
    let stopped = g.chat(&msgs, &p).unwrap();
    assert_eq!(stopped.finish_reason, FinishReason::Stop);
    assert_eq!(stopped.text, full.text[..cut], "stop {stop:?}");
    assert!(stopped.completion_tokens < full.completion_tokens);
}

#[test]
fn load_rejects_paths_that_are_not_models() {
    let dir = tempfile::tempdir().unwrap();
    let err = sft::generate::load(dir.path()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("neither a .gguf file nor a directory with config.json"),
        "{msg}"
    );
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "hi").unwrap();
    assert!(sft::generate::load(&file).is_err());
    // A dequantized GGUF load goes through the f32 path.
    let opts = LoadOptions {
        dequantize: true,
        ..LoadOptions::default()
    };
    let path = cached(&sandbox::artifacts::SMOLLM2_135M_GGUF);
    let g = sft::generate::load_with(&path, &opts).unwrap();
    assert!(!g.model.is_quantized());
    assert!(
        g.eos_ids
            .contains(&g.tokenizer.tokenizer.token_to_id("<|im_end|>").unwrap())
    );
}

#[test]
fn a_generation_kept_on_one_thread_writes_the_same_text() {
    // `on_one_thread` only moves the work (candle's pools split rows and columns,
    // never a sum), so sampling with the same seed must write the same tokens; two at
    // once, as the local teacher runs them, too.
    let g = smol_quantized();
    let msgs = user("Write a Python function that reverses a string.");
    let p = params(40, 0.7, 11);
    let pooled = g.chat(&msgs, &p).unwrap();
    let kept = sft::generate::on_one_thread(|| g.chat(&msgs, &p))
        .unwrap()
        .unwrap();
    assert_eq!(kept.token_ids, pooled.token_ids);
    let both: Vec<Vec<u32>> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    sft::generate::on_one_thread(|| g.chat(&msgs, &p))
                        .unwrap()
                        .unwrap()
                        .token_ids
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert_eq!(both, vec![pooled.token_ids.clone(), pooled.token_ids]);
}

#[test]
fn generator_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Generator>();
    check::<InferenceModel>();
}

/// The code of the first ```python fence (or any fence) in a chat answer.
fn first_fence(answer: &str) -> Option<String> {
    let start = answer.find("```")?;
    let rest = &answer[start + 3..];
    let body = &rest[rest.find('\n')? + 1..];
    Some(body[..body.find("```")?].to_string())
}

#[test]
fn qwen_coder_greedy_solves_humaneval_problems() {
    let g = sft::generate::load(&cached(&sandbox::artifacts::QWEN25_CODER_05B_GGUF)).unwrap();
    assert!(g.model.is_quantized());
    let tasks = datasets::bench::load_humaneval(cached(&sandbox::artifacts::HUMANEVAL)).unwrap();
    let sandbox = sandbox::Sandbox::open_default().expect("run `distill setup` first");
    for id in ["HumanEval/0", "HumanEval/2"] {
        let task = tasks.iter().find(|t| t.task_id == id).unwrap();
        let problem = task.to_problem();
        let msgs = vec![
            datasets::records::Message::system(
                "You are an expert Python programmer. Answer with one ```python code block.",
            ),
            datasets::records::Message::user(format!(
                "Complete this function and return the whole function in one ```python code block.\n\n{}",
                task.prompt
            )),
        ];
        let out = g
            .chat(
                &msgs,
                &GenerateParams {
                    max_new_tokens: 400,
                    ..GenerateParams::default()
                },
            )
            .unwrap();
        eprintln!(
            "{id}: {} prompt + {} completion tokens, prefill {:.2}s, {:.1} tok/s, {:?}",
            out.prompt_tokens,
            out.completion_tokens,
            out.prefill_seconds,
            out.tokens_per_second,
            out.finish_reason
        );
        let code = first_fence(&out.text).unwrap_or_else(|| panic!("no code in {:?}", out.text));
        let outcome = sandbox
            .run_blocking(sandbox::Job::new(problem.program(&code)))
            .unwrap();
        assert!(
            outcome.passed(),
            "{id} failed: {}\n{code}",
            outcome.summary()
        );
    }
}

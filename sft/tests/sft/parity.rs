//! Parity with PyTorch/transformers/PEFT on SmolLM2-135M loaded from its GGUF.
//! Expected numbers: `sft/fixtures/parity.json`, written by
//! `sft/fixtures/make_parity.py` (torch 2.15.0, transformers 5.24.0, f32, CPU, eager
//! attention). Tolerance: 1e-4 relative, norm-wise: max abs error over the compared
//! values divided by the largest reference value (of the logits compared; of the whole
//! gradient tensor). The fixture also holds the same run in f64; the tests print our
//! distance to it next to torch-f32's, to show both sit at f32 rounding level.

use crate::common::{errors, smollm2, values};
use candle_core::{Device, Tensor};
use serde::Deserialize;
use sft::{CausalLm, ForwardCtx, LoraConfig, LoraTarget, TrainMode};
use std::collections::HashMap;

#[derive(Deserialize)]
struct Fixture {
    batch: Batch,
    full: Run,
    lora_run: Run,
    full_f64: Run,
    lora_run_f64: Run,
}

#[derive(Deserialize)]
struct Batch {
    row0: Vec<u32>,
    row1: Vec<u32>,
    seg_a: Vec<u32>,
    seg_b: Vec<u32>,
    pad: u32,
    seq: usize,
    mask0: Vec<u32>,
    mask1: Vec<u32>,
    mask_a: Vec<u32>,
    mask_b: Vec<u32>,
    vocab_probe: Vec<u32>,
}

#[derive(Deserialize)]
struct Run {
    loss: f64,
    logits: Vec<RowLogits>,
    grads: HashMap<String, Grad>,
}

#[derive(Deserialize)]
struct RowLogits {
    lse: Vec<f64>,
    probe: Vec<Vec<f64>>,
    argmax: Vec<u32>,
}

#[derive(Deserialize)]
struct Grad {
    shape: Vec<usize>,
    norm: f64,
    max_abs: f64,
    slice: serde_json::Value,
}

const TOL: f64 = 1e-4;

fn fixture() -> Fixture {
    let text = include_str!("../../fixtures/parity.json");
    serde_json::from_str(text).expect("parity fixture")
}

/// The batch tensors: ids, attention mask, position ids, loss mask, all `(3, seq)`.
fn tensors(b: &Batch) -> (Tensor, Tensor, Tensor, Tensor) {
    let s = b.seq;
    let pad_n = s - b.row1.len();
    let row1: Vec<u32> = b
        .row1
        .iter()
        .copied()
        .chain(std::iter::repeat_n(b.pad, pad_n))
        .collect();
    let packed: Vec<u32> = b.seg_a.iter().chain(&b.seg_b).copied().collect();
    assert_eq!(b.row0.len(), s);
    assert_eq!(packed.len(), s);
    let ids = [b.row0.clone(), row1, packed].concat();
    let attn: Vec<u32> = [
        vec![1; s],
        [vec![1; b.row1.len()], vec![0; pad_n]].concat(),
        vec![1; s],
    ]
    .concat();
    let full: Vec<u32> = (0..s as u32).collect();
    let pos_packed: Vec<u32> = (0..b.seg_a.len() as u32)
        .chain(0..b.seg_b.len() as u32)
        .collect();
    let pos = [full.clone(), full, pos_packed].concat();
    let loss_mask = [
        b.mask0.clone(),
        [b.mask1.clone(), vec![0; pad_n]].concat(),
        [b.mask_a.clone(), b.mask_b.clone()].concat(),
    ]
    .concat();
    let dev = Device::Cpu;
    let t = |v: Vec<u32>| Tensor::from_vec(v, (3, s), &dev).expect("tensor");
    (t(ids), t(attn), t(pos), t(loss_mask))
}

/// Compares our logits at real positions with the reference's log-sum-exp, probed
/// vocabulary entries and argmax. Returns (max abs, max rel) over all of them.
fn check_logits(logits: &Tensor, b: &Batch, expected: &[RowLogits]) -> (f64, f64) {
    let lens = [b.seq, b.row1.len(), b.seq];
    let mut worst = (0f64, 0f64);
    for (row, exp) in expected.iter().enumerate() {
        let l = logits.get(row).unwrap().narrow(0, 0, lens[row]).unwrap();
        // (real, vocab)
        let lse: Vec<f64> = values(
            &l.to_dtype(candle_core::DType::F64)
                .unwrap()
                .exp()
                .unwrap()
                .sum(1)
                .unwrap()
                .log()
                .unwrap(),
        );
        let probe_ids = Tensor::new(b.vocab_probe.as_slice(), &Device::Cpu).unwrap();
        let probe = values(&l.index_select(&probe_ids, 1).unwrap());
        let flat: Vec<f64> = exp.probe.iter().flatten().copied().collect();
        let argmax: Vec<u32> = l.argmax(1).unwrap().to_vec1().unwrap();
        assert_eq!(argmax, exp.argmax, "argmax of row {row}");
        for (a, e) in [(lse, &exp.lse), (probe, &flat)] {
            let (abs, rel) = errors(&a, e);
            worst = (worst.0.max(abs), worst.1.max(rel));
        }
    }
    worst
}

fn check_grads(
    model: &CausalLm,
    grads: &candle_core::backprop::GradStore,
    expected: &HashMap<String, Grad>,
    f64_ref: &HashMap<String, Grad>,
) -> (f64, f64) {
    let by_name: HashMap<&str, &candle_core::Var> = model
        .trainable()
        .iter()
        .map(|(n, v)| (n.as_str(), v))
        .collect();
    let mut worst = (0f64, 0f64);
    assert!(!expected.is_empty());
    for (name, exp) in expected {
        let var = by_name
            .get(name.as_str())
            .unwrap_or_else(|| panic!("no trainable {name}"));
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        assert_eq!(g.dims(), exp.shape.as_slice(), "{name}");
        let norm = values(&g.sqr().unwrap().sum_all().unwrap())[0].sqrt();
        let rel_norm = (norm - exp.norm).abs() / exp.norm;
        assert!(
            rel_norm < TOL,
            "{name}: grad norm {norm} vs {} (rel {rel_norm:e})",
            exp.norm
        );
        let (ours, theirs): (Vec<f64>, Vec<f64>) = if g.rank() == 2 {
            let rows: Vec<Vec<f64>> = serde_json::from_value(exp.slice.clone()).unwrap();
            let (r, c) = (rows.len(), rows[0].len());
            (
                values(&g.narrow(0, 0, r).unwrap().narrow(1, 0, c).unwrap()),
                rows.concat(),
            )
        } else {
            let v: Vec<f64> = serde_json::from_value(exp.slice.clone()).unwrap();
            (values(&g.narrow(0, 0, v.len()).unwrap()), v)
        };
        let (abs, _) = errors(&ours, &theirs);
        let rel = abs / exp.max_abs;
        let (abs64, torch64) = match f64_ref.get(name) {
            Some(r) => {
                let t: Vec<f64> = if g.rank() == 2 {
                    serde_json::from_value::<Vec<Vec<f64>>>(r.slice.clone())
                        .unwrap()
                        .concat()
                } else {
                    serde_json::from_value(r.slice.clone()).unwrap()
                };
                (
                    errors(&ours, &t).0 / r.max_abs,
                    errors(&theirs, &t).0 / r.max_abs,
                )
            }
            None => (f64::NAN, f64::NAN),
        };
        eprintln!(
            "grad {name}: max abs {abs:.3e} rel {rel:.3e} (norm rel {rel_norm:.3e}); vs f64: ours {abs64:.3e}, torch-f32 {torch64:.3e}"
        );
        assert!(rel < TOL, "{name}: gradient slice rel error {rel:e}");
        worst = (worst.0.max(abs), worst.1.max(rel.max(rel_norm)));
    }
    worst
}

#[test]
fn full_model_logits_loss_and_gradients_match_transformers() {
    let fx = fixture();
    let (cfg, weights) = smollm2();
    let model =
        CausalLm::from_weights(cfg.clone(), weights, &TrainMode::Full, &Device::Cpu).unwrap();
    let (ids, attn, pos, loss_mask) = tensors(&fx.batch);
    let logits = model
        .forward(&ids, Some(&attn), Some(&pos), &mut ForwardCtx::eval())
        .unwrap();
    assert_eq!(logits.dims(), [3, fx.batch.seq, cfg.vocab_size]);
    let (abs, rel) = check_logits(&logits, &fx.batch, &fx.full.logits);
    let (abs64, rel64) = check_logits(&logits, &fx.batch, &fx.full_f64.logits);
    eprintln!("full logits: max abs {abs:.3e}, rel {rel:.3e}; vs f64 {abs64:.3e} / {rel64:.3e}");
    assert!(rel < TOL, "logits rel error {rel:e}");

    let loss = sft::loss::causal_lm_loss(&logits, &ids, &loss_mask)
        .unwrap()
        .mean()
        .unwrap();
    let l = f64::from(loss.to_scalar::<f32>().unwrap());
    let lrel = (l - fx.full.loss).abs() / fx.full.loss;
    eprintln!(
        "full loss {l} vs {} (rel {lrel:.3e}; f64 {})",
        fx.full.loss, fx.full_f64.loss
    );
    assert!(lrel < TOL);

    let grads = loss.backward().unwrap();
    let (gabs, grel) = check_grads(&model, &grads, &fx.full.grads, &fx.full_f64.grads);
    eprintln!("full grads: max abs {gabs:.3e}, rel {grel:.3e}");
}

/// `0.02 sin(0.37 i + 0.11 j + layer)` for A, `0.02 cos(0.23 i + 0.29 j + layer)` for
/// B, as `lora_init` in the Python script.
fn lora_value(layer: usize, rows: usize, cols: usize, a: bool) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows * cols);
    for i in 0..rows {
        for j in 0..cols {
            let x = if a {
                0.02 * (0.37 * i as f64 + 0.11 * j as f64 + layer as f64).sin()
            } else {
                0.02 * (0.23 * i as f64 + 0.29 * j as f64 + layer as f64).cos()
            };
            out.push(x as f32);
        }
    }
    out
}

#[test]
fn lora_logits_loss_and_gradients_match_peft() {
    let fx = fixture();
    let (cfg, weights) = smollm2();
    let lc = LoraConfig {
        rank: 4,
        alpha: 8.0,
        dropout: 0.0,
        targets: vec![LoraTarget::QProj, LoraTarget::VProj, LoraTarget::DownProj],
        seed: 0,
    };
    let model =
        CausalLm::from_weights(cfg.clone(), weights, &TrainMode::Lora(lc), &Device::Cpu).unwrap();
    for (name, var) in model.trainable() {
        let layer: usize = name.split('.').nth(2).unwrap().parse().unwrap();
        let (r, c) = var.as_tensor().dims2().unwrap();
        let v = lora_value(layer, r, c, name.contains("lora_A"));
        var.set(&Tensor::from_vec(v, (r, c), &Device::Cpu).unwrap())
            .unwrap();
    }
    let (ids, attn, pos, loss_mask) = tensors(&fx.batch);
    let logits = model
        .forward(&ids, Some(&attn), Some(&pos), &mut ForwardCtx::eval())
        .unwrap();
    let (abs, rel) = check_logits(&logits, &fx.batch, &fx.lora_run.logits);
    let (abs64, rel64) = check_logits(&logits, &fx.batch, &fx.lora_run_f64.logits);
    eprintln!("lora logits: max abs {abs:.3e}, rel {rel:.3e}; vs f64 {abs64:.3e} / {rel64:.3e}");
    assert!(rel < TOL, "logits rel error {rel:e}");
    let loss = sft::loss::causal_lm_loss(&logits, &ids, &loss_mask)
        .unwrap()
        .mean()
        .unwrap();
    let l = f64::from(loss.to_scalar::<f32>().unwrap());
    let lrel = (l - fx.lora_run.loss).abs() / fx.lora_run.loss;
    eprintln!(
        "lora loss {l} vs {} (rel {lrel:.3e}; f64 {})",
        fx.lora_run.loss, fx.lora_run_f64.loss
    );
    assert!(lrel < TOL);
    // the adapter changes the loss: the comparison is not vacuous
    assert!((fx.lora_run.loss - fx.full.loss).abs() > 1e-3);
    let grads = loss.backward().unwrap();
    let (gabs, grel) = check_grads(&model, &grads, &fx.lora_run.grads, &fx.lora_run_f64.grads);
    eprintln!("lora grads: max abs {gabs:.3e}, rel {grel:.3e}");
    // frozen base weights get no gradient
    for (name, w) in model.named_weights() {
        assert!(grads.get(&w).is_none(), "frozen {name} got a gradient");
    }
}

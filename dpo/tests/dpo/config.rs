//! Loss settings: parsing CLI-style lists, defaults, and rejection of bad values and
//! bad batches.

use candle_core::{Device, Tensor};
use dpo::{DpoError, LossKind, LossTerm, PairLogps, PreferenceLossConfig, preference_loss};

fn pairs(chosen_tokens: Vec<usize>) -> PairLogps {
    let t = |v: &[f64]| Tensor::new(v, &Device::Cpu).unwrap();
    PairLogps {
        policy_chosen: t(&[-3.0, -5.0]),
        policy_rejected: t(&[-4.0, -2.0]),
        ref_chosen: t(&[-3.5, -4.0]),
        ref_rejected: t(&[-3.0, -2.5]),
        chosen_tokens,
        rejected_tokens: vec![2, 3],
    }
}

#[test]
fn parses_names_and_weights_like_the_cli() {
    let terms = LossTerm::parse_list("sigmoid, sft", Some("1,0.2")).unwrap();
    assert_eq!(
        terms,
        vec![
            LossTerm {
                kind: LossKind::Sigmoid,
                weight: 1.0
            },
            LossTerm {
                kind: LossKind::Sft,
                weight: 0.2
            },
        ]
    );
    assert_eq!(terms, PreferenceLossConfig::llama3().terms);
    let all = LossTerm::parse_list("sigmoid,ipo,hinge,robust,cdpo,sigmoid_norm,sft", None).unwrap();
    assert_eq!(
        all.iter().map(|t| t.kind).collect::<Vec<_>>(),
        LossKind::ALL
    );
    assert!(all.iter().all(|t| t.weight == 1.0));
    assert!(matches!(
        LossTerm::parse_list("sigmoid,dpo", None),
        Err(DpoError::UnknownLoss(n)) if n == "dpo"
    ));
    assert!(matches!(
        LossTerm::parse_list("sigmoid,sft", Some("1")),
        Err(DpoError::InvalidConfig(_))
    ));
    assert!(matches!(
        LossTerm::parse_list("sigmoid", Some("x")),
        Err(DpoError::InvalidConfig(_))
    ));
}

#[test]
fn defaults_are_trl_defaults_and_serde_uses_trl_names() {
    let d = PreferenceLossConfig::default();
    assert_eq!(d.beta, 0.1);
    assert_eq!(d.label_smoothing, 0.0);
    assert_eq!(
        d.terms,
        vec![LossTerm {
            kind: LossKind::Sigmoid,
            weight: 1.0
        }]
    );
    let cfg: PreferenceLossConfig = serde_json::from_str(
        r#"{"beta": 0.5, "terms": [{"kind": "sigmoid_norm", "weight": 2.0}]}"#,
    )
    .unwrap();
    assert_eq!(cfg.beta, 0.5);
    assert_eq!(cfg.terms[0].kind, LossKind::SigmoidNorm);
}

#[test]
fn rejects_bad_settings() {
    let base = PreferenceLossConfig::default();
    let lp = pairs(vec![2, 3]);
    let bad = [
        PreferenceLossConfig {
            beta: 0.0,
            ..base.clone()
        },
        PreferenceLossConfig {
            beta: f64::NAN,
            ..base.clone()
        },
        PreferenceLossConfig {
            label_smoothing: -0.1,
            ..base.clone()
        },
        PreferenceLossConfig {
            label_smoothing: 0.6,
            ..base.clone()
        },
        PreferenceLossConfig {
            terms: vec![],
            ..base.clone()
        },
        PreferenceLossConfig {
            terms: vec![LossTerm {
                kind: LossKind::Sigmoid,
                weight: -1.0,
            }],
            ..base.clone()
        },
        PreferenceLossConfig {
            label_smoothing: 0.5,
            terms: vec![LossTerm {
                kind: LossKind::Robust,
                weight: 1.0,
            }],
            ..base.clone()
        },
    ];
    for cfg in bad {
        assert!(
            matches!(preference_loss(&cfg, &lp), Err(DpoError::InvalidConfig(_))),
            "{cfg:?} accepted"
        );
    }
}

#[test]
fn rejects_empty_completions_and_mismatched_batches() {
    let cfg = PreferenceLossConfig::llama3();
    assert!(matches!(
        preference_loss(&cfg, &pairs(vec![2, 0])),
        Err(DpoError::InvalidInput(m)) if m.contains("pair 1")
    ));
    assert!(matches!(
        preference_loss(&cfg, &pairs(vec![2])),
        Err(DpoError::InvalidInput(_))
    ));
    let mut lp = pairs(vec![2, 3]);
    lp.ref_rejected = Tensor::new(&[-1.0f64], &Device::Cpu).unwrap();
    assert!(matches!(
        preference_loss(&cfg, &lp),
        Err(DpoError::InvalidInput(_))
    ));
}

#[test]
fn reference_log_probs_get_no_gradient() {
    let cfg = PreferenceLossConfig::llama3();
    let mut lp = pairs(vec![2, 3]);
    let r = candle_core::Var::new(&[-3.5f64, -4.0], &Device::Cpu).unwrap();
    lp.ref_chosen = r.as_tensor().clone();
    let out = preference_loss(&cfg, &lp).unwrap();
    let grads = out.loss.backward().unwrap();
    assert!(grads.get(r.as_tensor()).is_none());
}

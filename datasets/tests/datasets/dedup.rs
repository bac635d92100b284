//! Dedup and decontamination: normalization, a planted-duplicate corpus with
//! recall/precision, MinHash estimates against exact Jaccard, and n-gram
//! decontamination of planted benchmark solutions.

use std::collections::{HashMap, HashSet};

use datasets::bench::BenchmarkText;
use datasets::decontam::{Decontaminator, words};
use datasets::dedup::synthetic::{SyntheticOptions, corpus};
use datasets::dedup::{
    Decision, DedupConfig, MinHasher, canonical_tokens, dedup, estimate_jaccard, exact_key,
    extract_code, tokenize,
};

#[test]
fn exact_key_ignores_whitespace_and_comments_only() {
    let a = "def f(x):\n    return x + 1  # add one\n";
    let b = "def f( x ) :\n\treturn x+1\n\n# trailing comment\n";
    let renamed = "def f(y):\n    return y + 1\n";
    let other_literal = "def f(x):\n    return x + 2\n";
    let hash_in_string = "def f(x):\n    return '#' + x\n";
    let hash_comment = "def f(x):\n    return '' + x\n";
    assert_eq!(exact_key(a), exact_key(b));
    assert_ne!(exact_key(a), exact_key(renamed));
    assert_ne!(exact_key(a), exact_key(other_literal));
    assert_ne!(exact_key(hash_in_string), exact_key(hash_comment));
}

#[test]
fn lexer_keeps_strings_whole_and_drops_comments() {
    let toks: Vec<&str> = tokenize("s = r'a # b' + \"\"\"x\ny\"\"\"  # c\nz **= 2")
        .iter()
        .map(|t| t.text)
        .collect();
    assert_eq!(
        toks,
        [
            "s",
            "=",
            "r'a # b'",
            "+",
            "\"\"\"x\ny\"\"\"",
            "z",
            "**=",
            "2"
        ]
    );
}

#[test]
fn canonical_tokens_are_invariant_under_consistent_renaming() {
    let a = "def area(w, h):\n    s = w * h\n    return abs(s)\n";
    let b = "def size(width, height):\n    out = width * height\n    return abs(out)\n";
    // A different operator or builtin is a different stream.
    let c = "def size(width, height):\n    out = width + height\n    return abs(out)\n";
    let d = "def size(width, height):\n    out = width * height\n    return int(out)\n";
    assert_eq!(canonical_tokens(a, true), canonical_tokens(b, true));
    assert_ne!(canonical_tokens(a, true), canonical_tokens(c, true));
    assert_ne!(canonical_tokens(a, true), canonical_tokens(d, true));
    assert_ne!(canonical_tokens(a, false), canonical_tokens(b, false));
    // Attribute names are kept: `.append` vs `.extend` differ.
    assert_ne!(
        canonical_tokens("x.append(y)", true),
        canonical_tokens("x.extend(y)", true)
    );
}

#[test]
fn extract_code_takes_fenced_blocks() {
    let text = "Here:\n```python\ndef f():\n    pass\n```\nand\n```\nx = 1\n```\ndone";
    assert_eq!(extract_code(text), "def f():\n    pass\n\nx = 1\n");
    assert_eq!(extract_code("x = 1"), "x = 1");
}

fn exact_jaccard(a: &[u64], b: &[u64]) -> f64 {
    let a: HashSet<_> = a.iter().collect();
    let b: HashSet<_> = b.iter().collect();
    a.intersection(&b).count() as f64 / a.union(&b).count() as f64
}

#[test]
fn minhash_estimates_jaccard_within_four_standard_errors() {
    // Sets {0..100} and {50..150} of shingle hashes: exact Jaccard 50/150 = 1/3.
    // With 256 functions the standard error is sqrt(J(1-J)/256) = 0.0295.
    let h = MinHasher::new(256, 5, 1);
    let a: Vec<u64> = (0..100u64).map(|x| x.wrapping_mul(0x9e37_79b9)).collect();
    let b: Vec<u64> = (50..150u64).map(|x| x.wrapping_mul(0x9e37_79b9)).collect();
    assert!((exact_jaccard(&a, &b) - 1.0 / 3.0).abs() < 1e-12);
    let est = estimate_jaccard(&h.signature(&a), &h.signature(&b));
    assert!((est - 1.0 / 3.0).abs() < 4.0 * 0.0295, "estimate {est}");
    // Identical sets give identical signatures; disjoint sets almost never collide.
    assert_eq!(estimate_jaccard(&h.signature(&a), &h.signature(&a)), 1.0);
    let c: Vec<u64> = (1000..1100u64)
        .map(|x| x.wrapping_mul(0x9e37_79b9))
        .collect();
    assert!(estimate_jaccard(&h.signature(&a), &h.signature(&c)) < 0.05);
}

#[test]
fn dedup_decisions_name_the_matched_record() {
    let items = [
        (
            "a",
            "def f(x):\n    y = x * 3 + 7\n    for i in range(10):\n        y += i * 2\n    return y\n",
        ),
        (
            "b",
            "def f(x):\n  y = x*3+7  # same\n  for i in range(10):\n    y += i*2\n  return y\n",
        ),
        (
            "c",
            "def g(v):\n    w = v * 3 + 7\n    for k in range(10):\n        w += k * 2\n    return w\n",
        ),
        (
            "d",
            "def h(s):\n    return ''.join(reversed(s.split(',')))\n",
        ),
    ];
    let out = match dedup(items, DedupConfig::default()) {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(out[0].decision, Decision::Keep);
    assert_eq!(out[1].decision, Decision::ExactDuplicate { of: "a".into() });
    // c is a renaming of a: identical canonical stream, so every signature
    // entry agrees (similarity exactly 1).
    assert_eq!(
        out[2].decision,
        Decision::NearDuplicate {
            of: "a".into(),
            similarity: 1.0
        }
    );
    assert_eq!(out[3].decision, Decision::Keep);
    let json = serde_json::to_string(&out[2]).unwrap_or_default();
    assert_eq!(
        json,
        r#"{"id":"c","decision":"near_duplicate","of":"a","similarity":1.0}"#
    );
}

#[test]
fn bad_config_is_rejected() {
    let bad = DedupConfig {
        threshold: 1.5,
        ..DedupConfig::default()
    };
    assert!(dedup([("a", "x")], bad).is_err());
}

/// Acceptance 4: 10,000 generated records, 2,000 of them planted copies
/// (renamed, reformatted, half with one small edit). A flagged record is
/// correct when the record it matched belongs to its own cluster; every
/// record but the first of its cluster (in file order) should be flagged.
#[test]
fn planted_near_duplicates_recall_and_precision_at_default_threshold() {
    let data = corpus(SyntheticOptions {
        records: 10_000,
        dup_fraction: 0.2,
        edit_probability: 0.5,
        seed: 2024,
    });
    assert_eq!(data.len(), 10_000);
    let cluster: HashMap<&str, usize> = data.iter().map(|r| (r.id.as_str(), r.cluster)).collect();
    let mut seen = HashSet::new();
    let expected = data.iter().filter(|r| !seen.insert(r.cluster)).count();
    assert!(expected >= 1_900, "only {expected} planted duplicates");

    let out = match dedup(
        data.iter().map(|r| (r.id.as_str(), r.code.as_str())),
        DedupConfig::default(),
    ) {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    };
    let mut flagged = 0;
    let mut correct = 0;
    for (r, res) in data.iter().zip(&out) {
        if let Some(of) = res.decision.matched() {
            flagged += 1;
            if cluster.get(of) == Some(&r.cluster) {
                correct += 1;
            }
        }
    }
    let recall = correct as f64 / expected as f64;
    let precision = correct as f64 / flagged as f64;
    eprintln!(
        "expected {expected} flagged {flagged} correct {correct} recall {recall:.4} precision {precision:.4}"
    );
    assert!(recall >= 0.95, "recall {recall}");
    assert!(precision >= 0.95, "precision {precision}");
}

fn bench(task: &str, text: &str) -> BenchmarkText {
    BenchmarkText {
        benchmark: "humaneval".into(),
        task_id: task.into(),
        text: text.into(),
    }
}

#[test]
fn words_split_on_punctuation_and_ignore_whitespace() {
    assert_eq!(
        words("def f(x):\n\treturn x**2 # é"),
        [
            "def", "f", "(", "x", ")", ":", "return", "x", "*", "*", "2", "#", "é"
        ]
    );
}

#[test]
fn decontamination_flags_planted_benchmark_solutions() {
    // Two tasks written for this test in HumanEval's layout (prompt + solution).
    let t0 = "def running_max(xs: list) -> list:\n    \"\"\"Return the running maximum of xs.\n    >>> running_max([1, 3, 2])\n    [1, 3, 3]\n    \"\"\"\n    out, best = [], None\n    for x in xs:\n        best = x if best is None or x > best else best\n        out.append(best)\n    return out\n";
    let t1 = "def count_vowels(s: str) -> int:\n    \"\"\"Count vowels in s.\n    >>> count_vowels('banana')\n    3\n    \"\"\"\n    return sum(1 for c in s.lower() if c in 'aeiou')\n";
    let d = Decontaminator::new(vec![bench("T/0", t0), bench("T/1", t1)], 13);
    // Planted: solution of T/0 reindented inside an answer.
    let planted = "Sure!\n```python\ndef running_max(xs: list) -> list:\n  out, best = [], None\n  for x in xs:\n    best = x if best is None or x > best else best\n    out.append(best)\n  return out\n```";
    let hit = d.check(planted);
    let hit = match hit {
        Some(h) => h,
        None => panic!("planted solution not flagged"),
    };
    assert_eq!(hit.task_id, "T/0");
    assert_eq!(hit.benchmark, "humaneval");
    // The first 13 tokens of the planted copy are `def running_max ( xs : list
    // ) - > list : out ,`; they appear in t0 only if the docstring is skipped,
    // so the first shared 13-gram starts later: it is the first window of
    // the planted text that lies wholly in t0's solution.
    assert_eq!(hit.ngram, "out , best = [ ] , None for x in xs :");
    assert!(hit.matched_ngrams >= 10);
    // The docstring example of T/1 quoted in a question is flagged too.
    let quoted = "How do I make count_vowels(s: str) -> int:\n \"\"\"Count vowels in s.\n >>> count_vowels('banana')";
    assert_eq!(d.check(quoted).map(|c| c.task_id), Some("T/1".into()));
    // Clean code sharing only a signature-sized run is not flagged.
    let clean =
        "def count_vowels(s: str) -> int:\n    return len([c for c in s if c in 'AEIOUaeiou'])\n";
    assert_eq!(d.check(clean), None);
}

#[test]
fn bench_dedup_reports_consistent_counts() {
    let r = match datasets::dedup::bench_dedup(2_000, DedupConfig::default(), 2) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(r.records, 2_000);
    // 10% planted: round(2000 * 0.1) = 200 copies.
    assert_eq!(r.planted, 200);
    // Copies of one original count once each; a few copies may share an
    // original, and recall is below 1, so flagged is close to but at most
    // the planted count plus rare false positives.
    assert!(
        r.duplicates >= 180 && r.duplicates <= 210,
        "{}",
        r.duplicates
    );
    assert!(r.records_per_s > 0.0 && r.seconds > 0.0);
}

#[test]
fn default_humaneval_index_reads_the_gzip_file() {
    let dir = super::tempdir();
    let path = dir.path().join("HumanEval.jsonl.gz");
    let task = serde_json::json!({
        "task_id": "X/0",
        "prompt": "def triple_sum(a: int, b: int, c: int) -> int:\n    \"\"\"Sum of three.\"\"\"\n",
        "entry_point": "triple_sum",
        "canonical_solution": "    return a + b + c\n",
        "test": "def check(candidate):\n    assert candidate(1, 2, 3) == 6\n",
    });
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = std::io::Write::write_all(&mut enc, format!("{task}\n").as_bytes());
    if let Err(e) = std::fs::write(&path, enc.finish().unwrap_or_default()) {
        panic!("{e}");
    }
    let d = match Decontaminator::humaneval(&path) {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let copy = "def triple_sum(a: int, b: int, c: int) -> int:\n    return a + b + c";
    assert_eq!(d.check(copy).map(|c| c.task_id), Some("X/0".into()));
}

#[test]
fn synthetic_corpus_is_written_as_id_code_lines() {
    use datasets::dedup::synthetic::write_jsonl;
    use datasets::jsonl::{ReadOptions, read_all};
    let data = corpus(SyntheticOptions {
        records: 3,
        dup_fraction: 0.0,
        edit_probability: 0.0,
        seed: 1,
    });
    let dir = super::tempdir();
    let path = dir.path().join("corpus.jsonl");
    if let Err(e) = write_jsonl(&path, &data) {
        panic!("{e}");
    }
    let lines = match read_all::<serde_json::Value>(&path, ReadOptions::default()) {
        Ok((lines, _)) => lines,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2].record["id"], "rec-2");
    assert_eq!(lines[2].record["code"], data[2].code.as_str());
}

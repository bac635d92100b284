//! A deterministic generator of synthetic Python functions with planted near
//! duplicates, for the dedup tests and `bench_dedup`.
//!
//! Originals are random functions (5–12 statements from 15 templates with
//! random constants, names and strings). A planted duplicate copies an
//! original, renames every local name consistently, re-renders it in another
//! style (indent width, spacing, blank lines, `#` comments), and, with the
//! given probability, makes one small edit (change a constant, drop a
//! statement, or repeat a statement). The ground truth is the cluster (the
//! original's index) of every record.

use std::path::Path;

use serde::Serialize;

use crate::error::WriteError;
use crate::jsonl::JsonlWriter;
use crate::rng::SplitMix64;

/// One generated record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticRecord {
    /// `rec-<n>`.
    pub id: String,
    /// Python source.
    pub code: String,
    /// Index (into the original, unshuffled numbering) of the original this
    /// record was made from; equal to its own number for originals.
    pub cluster: usize,
    /// Whether this record is a planted copy.
    pub planted: bool,
}

/// Generator settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyntheticOptions {
    /// Total records.
    pub records: usize,
    /// Fraction of records that are planted duplicates.
    pub dup_fraction: f64,
    /// Probability that a duplicate also gets one small edit.
    pub edit_probability: f64,
    /// Seed.
    pub seed: u64,
}

#[derive(Debug, Clone)]
enum Tok {
    Lit(String),
    Var(usize),
}

#[derive(Debug, Clone)]
struct Line {
    level: usize,
    toks: Vec<Tok>,
    block: bool,
}

#[derive(Debug, Clone)]
struct Func {
    lines: Vec<Line>,
    vars: usize,
}

const SIMPLE: [&str; 12] = [
    "{n} = {a} {op} {c}",
    "{n} = {a} {op} {b}",
    "{n} = abs ( {a} - {b} ) + {c}",
    "{n} = max ( {a} , {b} , {c} )",
    "{n} = len ( str ( {a} ) ) {op} {c}",
    "{n} = [ {i} {op} {c} for {i} in range ( {c} ) ]",
    "{n} = sum ( {i} * {c} for {i} in range ( {a} % {c} + 1 ) )",
    "print ( {a} , {w} )",
    "{n} = {w} * ( {a} % {c} )",
    "{a} = {a} {op} {c}",
    "{n} = {a} if {a} {cmp} {b} else {b} {op} {c}",
    "assert {a} != {c} , {w}",
];
const BLOCKS: [&str; 3] = [
    "if {a} {cmp} {c} :",
    "for {i} in range ( {c} ) :",
    "while {a} > {c} :",
];
const OPS: [&str; 5] = ["+", "-", "*", "//", "%"];
const CMPS: [&str; 6] = ["<", ">", "<=", ">=", "==", "!="];
const WORDS: [&str; 32] = [
    "alpha", "beta", "gamma", "delta", "apple", "river", "stone", "cloud", "amber", "cedar",
    "ember", "frost", "grove", "harbor", "iris", "jade", "kite", "lumen", "maple", "nova", "opal",
    "pine", "quartz", "raven", "sage", "tide", "umber", "vale", "willow", "xenon", "yarrow",
    "zephyr",
];
const NAMES: [&str; 40] = [
    "total", "count", "idx", "value", "result", "acc", "item", "num", "data", "size", "limit",
    "step", "offset", "delta_v", "left", "right", "low", "high", "mid", "key", "val", "cur",
    "prev", "nxt", "tmp", "buf", "head", "tail", "score", "rate", "width", "height", "depth",
    "level", "flag", "mask", "seed_v", "base", "span", "unit",
];

fn statement(
    rng: &mut SplitMix64,
    template: &str,
    scope: &mut Vec<usize>,
    vars: &mut usize,
) -> Vec<Tok> {
    let a = *rng.pick(scope).unwrap_or(&1);
    let b = *rng.pick(scope).unwrap_or(&1);
    let mut new_var = None;
    let mut loop_var = None;
    let mut toks = Vec::new();
    for part in template.split(' ') {
        let tok = match part {
            "{a}" => Tok::Var(a),
            "{b}" => Tok::Var(b),
            "{n}" => Tok::Var(*new_var.get_or_insert_with(|| {
                *vars += 1;
                *vars - 1
            })),
            "{i}" => Tok::Var(*loop_var.get_or_insert_with(|| {
                *vars += 1;
                *vars - 1
            })),
            "{c}" => Tok::Lit(rng.range(2, 999).to_string()),
            "{w}" => Tok::Lit(format!("\"{}\"", rng.pick(&WORDS).unwrap_or(&"x"))),
            "{op}" => Tok::Lit((*rng.pick(&OPS).unwrap_or(&"+")).to_string()),
            "{cmp}" => Tok::Lit((*rng.pick(&CMPS).unwrap_or(&"<")).to_string()),
            lit => Tok::Lit(lit.to_string()),
        };
        toks.push(tok);
    }
    scope.extend(new_var);
    scope.extend(loop_var);
    toks
}

fn function(rng: &mut SplitMix64) -> Func {
    let params = rng.range(1, 3);
    let mut vars = 1 + params;
    let mut scope: Vec<usize> = (1..=params).collect();
    let mut header = vec![Tok::Lit("def".into()), Tok::Var(0), Tok::Lit("(".into())];
    for p in 1..=params {
        if p > 1 {
            header.push(Tok::Lit(",".into()));
        }
        header.push(Tok::Var(p));
    }
    header.extend([Tok::Lit(")".into()), Tok::Lit(":".into())]);
    let mut lines = vec![Line {
        level: 0,
        toks: header,
        block: true,
    }];
    for _ in 0..rng.range(5, 12) {
        if rng.chance(0.25) {
            let t = *rng.pick(&BLOCKS).unwrap_or(&BLOCKS[0]);
            let toks = statement(rng, t, &mut scope, &mut vars);
            lines.push(Line {
                level: 1,
                toks,
                block: true,
            });
            for _ in 0..rng.range(1, 2) {
                let t = *rng.pick(&SIMPLE[..4]).unwrap_or(&SIMPLE[0]);
                let toks = statement(rng, t, &mut scope, &mut vars);
                lines.push(Line {
                    level: 2,
                    toks,
                    block: false,
                });
            }
        } else {
            let t = *rng.pick(&SIMPLE).unwrap_or(&SIMPLE[0]);
            let toks = statement(rng, t, &mut scope, &mut vars);
            lines.push(Line {
                level: 1,
                toks,
                block: false,
            });
        }
    }
    let last = *scope.last().unwrap_or(&1);
    lines.push(Line {
        level: 1,
        toks: vec![Tok::Lit("return".into()), Tok::Var(last)],
        block: false,
    });
    Func { lines, vars }
}

fn names(rng: &mut SplitMix64, n: usize, suffix: &str) -> Vec<String> {
    let mut pool: Vec<usize> = (0..NAMES.len()).collect();
    for i in (1..pool.len()).rev() {
        pool.swap(i, rng.below(i + 1));
    }
    (0..n)
        .map(|i| {
            let base = NAMES[pool[i % NAMES.len()]];
            if i == 0 {
                format!("fn_{base}{suffix}")
            } else {
                format!("{base}{}{suffix}", i / NAMES.len())
            }
        })
        .collect()
}

fn word_like(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '"')
}

fn render(rng: &mut SplitMix64, f: &Func, names: &[String]) -> String {
    let indent = *rng
        .pick(&["    ", "  ", "\t", "        "])
        .unwrap_or(&"    ");
    let tight = rng.chance(0.5);
    let comments = rng.chance(0.5);
    let blank = rng.chance(0.5);
    let mut out = String::new();
    for line in &f.lines {
        out.push_str(&indent.repeat(line.level));
        let mut prev: Option<String> = None;
        for t in &line.toks {
            let s = match t {
                Tok::Lit(s) => s.clone(),
                Tok::Var(v) => names.get(*v).cloned().unwrap_or_else(|| format!("x{v}")),
            };
            if let Some(p) = &prev
                && (!tight || (word_like(p) && word_like(&s)))
            {
                out.push(' ');
            }
            out.push_str(&s);
            prev = Some(s);
        }
        if comments && rng.chance(0.3) {
            out.push_str("  # ");
            out.push_str(rng.pick(&WORDS).unwrap_or(&"note"));
        }
        out.push('\n');
        if blank && !line.block && rng.chance(0.2) {
            out.push('\n');
        }
    }
    out
}

fn edit(rng: &mut SplitMix64, f: &mut Func) {
    let body: Vec<usize> = (1..f.lines.len().saturating_sub(1))
        .filter(|&i| !f.lines[i].block)
        .collect();
    let Some(&target) = rng.pick(&body) else {
        return;
    };
    match rng.below(3) {
        0 => {
            for t in f.lines[target].toks.iter_mut() {
                if let Tok::Lit(s) = t
                    && s.parse::<u32>().is_ok()
                {
                    *s = rng.range(1000, 1999).to_string();
                    return;
                }
            }
        }
        1 => {
            f.lines.remove(target);
        }
        _ => {
            let copy = f.lines[target].clone();
            f.lines.insert(target, copy);
        }
    }
}

/// Generates a corpus (see the module doc); records are shuffled, so a copy
/// may come before its original.
pub fn corpus(opts: SyntheticOptions) -> Vec<SyntheticRecord> {
    let mut rng = SplitMix64::new(opts.seed);
    let dups = ((opts.records as f64) * opts.dup_fraction).round() as usize;
    let originals = opts.records.saturating_sub(dups).max(1);
    let funcs: Vec<Func> = (0..originals).map(|_| function(&mut rng)).collect();
    let mut out: Vec<SyntheticRecord> = funcs
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let n = names(&mut rng, f.vars, "");
            SyntheticRecord {
                id: String::new(),
                code: render(&mut rng, f, &n),
                cluster: i,
                planted: false,
            }
        })
        .collect();
    for _ in 0..dups.min(opts.records) {
        let src = rng.below(originals);
        let mut f = funcs[src].clone();
        if rng.chance(opts.edit_probability) {
            edit(&mut rng, &mut f);
        }
        let suffix = format!("_{}", rng.range(1, 9));
        let n = names(&mut rng, f.vars, &suffix);
        out.push(SyntheticRecord {
            id: String::new(),
            code: render(&mut rng, &f, &n),
            cluster: src,
            planted: true,
        });
    }
    out.truncate(opts.records);
    for i in (1..out.len()).rev() {
        out.swap(i, rng.below(i + 1));
    }
    for (i, r) in out.iter_mut().enumerate() {
        r.id = format!("rec-{i}");
    }
    out
}

#[derive(Serialize)]
struct CorpusLine<'a> {
    id: &'a str,
    code: &'a str,
}

/// Appends `records` to a JSONL file as `{"id", "code"}` lines, the input of
/// `scripts/datasketch_dedup.py` (the Python baseline of `bench dedup`).
pub fn write_jsonl(path: impl AsRef<Path>, records: &[SyntheticRecord]) -> Result<(), WriteError> {
    let mut w = JsonlWriter::<CorpusLine<'_>>::append(path)?;
    for r in records {
        w.write(&CorpusLine {
            id: &r.id,
            code: &r.code,
        })?;
    }
    w.finish()
}

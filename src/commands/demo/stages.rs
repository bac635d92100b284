//! The demo's stages, in order, each a thin call into a library: synth (teacher +
//! sandbox), sft, the SFT student's own answers (on-policy rejections), dpo, eval of
//! every student, the optional ablation, the report.
//! A finished stage is recorded in `demo.json` with what it reported and is skipped
//! on a re-run; an unfinished one resumes through its library's own resume.

use super::plan::Plan;
use super::report::{ModelScore, ReportInputs, write_report};
use super::state::State;
use crate::commands::progress::{JournalWatch, count_lines, progress_bar};
use anyhow::{Context, bail};
use datasets::jsonl::{JsonlReader, JsonlWriter, ReadOptions};
use datasets::records::{Message, Problem, SftRecord};
use sandbox::Limits;
use sandbox::artifacts::{
    ArtifactStore, FetchMode, HUMANEVAL, QWEN25_CODER_05B_GGUF, SMOLLM2_135M_GGUF,
};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use synth::cross_pairs::{ChosenAnswer, CrossPairOptions, cross_pairs};
use synth::eval::{Bench, EvalOptions, run_eval};
use synth::teacher::local::{LocalTeacher, LocalTeacherOptions};
use synth::{Checker, SamplingParams, SynthOptions, Teacher};

/// Subdirectories the stages write (removed by `--force`).
pub const STAGE_DIRS: [&str; 6] = ["synth", "sft", "student", "dpo", "eval", "ablation"];

/// Every stage, in the order the demo runs them.
const STAGE_ORDER: [&str; 10] = [
    "synth",
    "sft",
    "student-synth",
    "dpo",
    "eval-base",
    "eval-sft",
    "eval-dpo",
    "ablation-data",
    "ablation-sft",
    "eval-unverified",
];

/// Students evaluated, in report order: (stage name, label).
const STUDENTS: [(&str, &str); 3] = [
    ("eval-base", "base"),
    ("eval-sft", "sft"),
    ("eval-dpo", "sft+dpo"),
];

/// A demo run: where it writes, the resolved models, and the stages' state.
pub struct Demo {
    out: PathBuf,
    state: State,
    teacher: PathBuf,
    student: PathBuf,
    humaneval: PathBuf,
    runtime: tokio::runtime::Runtime,
    checker: Option<Arc<Checker>>,
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Demo {
    /// Resolves (fetching and verifying when missing) the runtime, the teacher, the
    /// student and HumanEval.
    pub fn prepare(
        out: PathBuf,
        state: State,
        teacher: Option<PathBuf>,
        student: Option<PathBuf>,
    ) -> anyhow::Result<Demo> {
        let started = Instant::now();
        println!("[setup] runtime, teacher, student and HumanEval (fetched once, verified)");
        let store = ArtifactStore::from_env(FetchMode::Online);
        sandbox::runtime::provision(&store).context("preparing the sandbox runtime")?;
        let teacher = match teacher {
            Some(p) => p,
            None => store.file(&QWEN25_CODER_05B_GGUF)?,
        };
        let student = match student {
            Some(p) => p,
            None => store.file(&SMOLLM2_135M_GGUF)?,
        };
        let humaneval = store.file(&HUMANEVAL)?;
        println!(
            "[setup] done in {:.0}s: teacher {}, student {}",
            started.elapsed().as_secs_f64(),
            teacher.display(),
            student.display()
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        Ok(Demo {
            out,
            state,
            teacher,
            student,
            humaneval,
            runtime,
            checker: None,
        })
    }

    fn plan(&self) -> &Plan {
        &self.state.plan
    }

    fn checker(&mut self) -> anyhow::Result<Arc<Checker>> {
        if let Some(c) = &self.checker {
            return Ok(c.clone());
        }
        let c = Arc::new(Checker::open(None, Limits::default())?);
        self.checker = Some(c.clone());
        Ok(c)
    }

    /// Runs `f` as stage `name` unless it already finished; records its summary with
    /// its wall time.
    fn stage(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut Demo) -> anyhow::Result<Value>,
    ) -> anyhow::Result<Value> {
        if let Some(v) = self.state.finished(name) {
            println!("[{name}] already done, skipped");
            return Ok(v.clone());
        }
        println!("[{name}] running");
        let started = Instant::now();
        let mut summary = f(self).with_context(|| format!("demo stage `{name}`"))?;
        let secs = started.elapsed().as_secs_f64();
        if let Value::Object(m) = &mut summary {
            m.insert("seconds".into(), json!(secs));
        }
        self.state.finish(name, summary.clone())?;
        println!("[{name}] done in {secs:.0}s");
        Ok(summary)
    }

    /// Every stage, then the report.
    pub fn run(&mut self) -> anyhow::Result<()> {
        let synth = self.stage("synth", Demo::synth)?;
        let sft = self.stage("sft", Demo::sft)?;
        let student = self.stage("student-synth", Demo::student_synth)?;
        let dpo = self.stage("dpo", Demo::dpo)?;
        let adapters = [
            None,
            sft.get("adapter")
                .and_then(Value::as_str)
                .map(PathBuf::from),
            dpo.get("adapter")
                .and_then(Value::as_str)
                .map(PathBuf::from),
        ];
        let mut scores = Vec::new();
        for ((stage, label), adapter) in STUDENTS.iter().zip(adapters) {
            let Some(adapter) = adapter
                .map(Some)
                .or_else(|| (*stage == "eval-base").then_some(None))
            else {
                continue;
            };
            let v = self.stage(stage, |d| d.eval(label, adapter.as_deref()))?;
            scores.push(score(label, &v));
        }
        if self.plan().ablation {
            self.stage("ablation-data", Demo::ablation_data)?;
            let abl = self.stage("ablation-sft", Demo::ablation_sft)?;
            if let Some(adapter) = abl.get("adapter").and_then(Value::as_str) {
                let adapter = PathBuf::from(adapter);
                let v = self.stage("eval-unverified", |d| {
                    d.eval("unverified sft", Some(&adapter))
                })?;
                scores.push(score("unverified sft", &v));
            }
        }
        self.report(&synth, &sft, &student, &dpo, scores)
    }

    /// The bundled problems of the plan, easiest first (the synth stage's problems).
    fn problems(&self) -> anyhow::Result<Vec<Problem>> {
        let mut all = datasets::bundled::problems().context("loading the bundled problems")?;
        // Easy problems first (stable within a level), so a small run still yields
        // verified answers from a small teacher.
        all.sort_by_key(difficulty_rank);
        Ok(all.into_iter().take(self.plan().problems).collect())
    }

    /// The teacher's sampling settings (also used for the student's own answers).
    fn sampling(&self) -> SamplingParams {
        let plan = self.plan();
        SamplingParams {
            temperature: plan.teacher_temperature,
            top_p: 0.95,
            max_tokens: plan.teacher_max_tokens,
            seed: Some(plan.seed),
            stop: Vec::new(),
        }
    }

    /// Synth on the bundled problems with the in-process teacher.
    fn synth(&mut self) -> anyhow::Result<Value> {
        let plan = self.plan().clone();
        let problems = self.problems()?;
        let dir = self.out.join("synth");
        std::fs::create_dir_all(&dir)?;
        write_problems(&self.out.join("problems.jsonl"), &problems)?;
        let teacher: Arc<dyn Teacher> = Arc::new(LocalTeacher::load(
            &self.teacher,
            &LocalTeacherOptions {
                concurrency: cores(),
                ..LocalTeacherOptions::default()
            },
        )?);
        let options = SynthOptions {
            samples: plan.samples,
            max_feedback: plan.max_feedback,
            accept: 1,
            params: self.sampling(),
            concurrency: 2 * cores(),
            strip_demo_code: true,
            ..SynthOptions::default()
        };
        println!(
            "  teacher {} on {} bundled problems, {} sample(s), up to {} feedback turn(s)",
            self.teacher.display(),
            problems.len(),
            plan.samples,
            plan.max_feedback
        );
        let report = self.run_synth(&dir, &problems, teacher, &options)?;
        Ok(serde_json::to_value(&report)?)
    }

    /// One synth run in `dir` with a progress line per finished problem; prints its
    /// summary.
    fn run_synth(
        &mut self,
        dir: &Path,
        problems: &[Problem],
        model: Arc<dyn Teacher>,
        options: &SynthOptions,
    ) -> anyhow::Result<synth::Report> {
        let checker = self.checker()?;
        let watch = JournalWatch::start(dir, problems.len() as u64);
        let report = self
            .runtime
            .block_on(synth::run_synth(dir, problems, model, checker, options));
        watch.stop();
        let report = report?;
        println!("{}", indent(&report.summary()));
        Ok(report)
    }

    /// LoRA SFT of the student on the verified answers.
    fn sft(&mut self) -> anyhow::Result<Value> {
        let data = self.out.join("synth").join("sft.jsonl");
        self.finetune(&data, &self.out.join("sft"))
    }

    fn finetune(&self, data: &Path, out: &Path) -> anyhow::Result<Value> {
        let plan = self.plan();
        let records = count_lines(data)?;
        if records == 0 {
            println!("  no training records in {}: skipped", data.display());
            return Ok(json!({ "skipped": "no verified answers to train on" }));
        }
        let cfg = sft::FinetuneConfig {
            model: self.student.clone(),
            data: data.to_path_buf(),
            out: out.to_path_buf(),
            lora_rank: plan.lora_rank,
            lora_alpha: 2.0 * plan.lora_rank as f64,
            epochs: plan.sft_epochs,
            lr: plan.sft_lr,
            batch_size: 4,
            warmup_steps: 2,
            seed: plan.seed,
            save_every: 10,
            eval_every: 5,
            eval_fraction: 0.1,
            ..sft::FinetuneConfig::default()
        };
        let bar = progress_bar();
        let summary = sft::finetune(&cfg, |p| match p {
            sft::Progress::Start {
                start_step,
                total_steps,
                train_examples,
                eval_examples,
                ..
            } => {
                bar.set_length(total_steps);
                bar.set_position(start_step);
                bar.println(format!(
                    "  {train_examples} examples ({eval_examples} held out), {total_steps} steps"
                ));
            }
            sft::Progress::StartEval(e) => {
                bar.println(format!(
                    "  held-out loss before training {:.4}",
                    e.eval_loss
                ));
            }
            sft::Progress::Step(m) => {
                bar.set_position(m.step);
                bar.set_message(format!("loss {:.4}", m.loss));
            }
        })?;
        bar.finish_and_clear();
        let Some(adapter) = summary.output else {
            bail!("SFT stopped before the end; run the demo again to resume");
        };
        let last = summary
            .last
            .as_ref()
            .map(serde_json::to_value)
            .transpose()?;
        Ok(json!({
            "adapter": adapter,
            "steps": summary.step,
            "train_examples": summary.train_examples,
            "eval_examples": summary.eval_examples,
            "start_eval": summary.start_eval,
            "last": last,
        }))
    }

    /// The SFT student answers the same problems with the teacher's prompt and sampling
    /// settings, checked in the sandbox; each of its failures is paired with a verified
    /// teacher answer to the same problem (`student/onpolicy.jsonl`).
    fn student_synth(&mut self) -> anyhow::Result<Value> {
        let plan = self.plan().clone();
        let Some(adapter) = self.sft_adapter() else {
            println!("  SFT did not train (no verified answers): skipped");
            return Ok(json!({ "skipped": "SFT did not run" }));
        };
        if plan.student_samples == 0 {
            return Ok(json!({ "skipped": "no student samples in this plan" }));
        }
        let problems = self.problems()?;
        let dir = self.out.join("student");
        std::fs::create_dir_all(&dir)?;
        let student: Arc<dyn Teacher> = Arc::new(LocalTeacher::load(
            &self.student,
            &LocalTeacherOptions {
                adapter: Some(adapter),
                concurrency: cores(),
                ..LocalTeacherOptions::default()
            },
        )?);
        let options = SynthOptions {
            samples: plan.student_samples,
            max_feedback: 0,
            accept: plan.student_samples,
            params: self.sampling(),
            concurrency: 2 * cores(),
            strip_demo_code: true,
            ..SynthOptions::default()
        };
        println!(
            "  SFT student on the same {} problems, {} sample(s) each",
            problems.len(),
            plan.student_samples
        );
        let report = self.run_synth(&dir, &problems, student, &options)?;

        let chosen: Vec<ChosenAnswer> = JsonlReader::<SftRecord>::open(
            self.out.join("synth").join("sft.jsonl"),
            ReadOptions::default(),
        )?
        .map(|item| {
            item.map(|r| ChosenAnswer {
                line: r.line,
                record: r.record,
            })
        })
        .collect::<Result<_, _>>()?;
        let attempts = synth::run::journal::read_attempts(&dir.join("attempts.jsonl"))?;
        let pairs = cross_pairs(
            &chosen,
            &attempts,
            CrossPairOptions {
                per_problem: None,
                rejected: synth::DpoRejected::AnyFailure,
                strip_demo_code: true,
            },
        );
        let path = dir.join("onpolicy.jsonl");
        synth::run::write_jsonl(&path, &pairs.pairs)?;
        println!(
            "  {} on-policy pairs (a verified teacher answer against a failed student answer)",
            pairs.pairs.len()
        );
        Ok(json!({
            "first_try_pass_rate": report.first_try_pass_rate,
            "attempts": report.attempts,
            "onpolicy_pairs": pairs.pairs.len(),
            "path": path,
        }))
    }

    /// The SFT stage's adapter, if it trained one.
    fn sft_adapter(&self) -> Option<PathBuf> {
        self.state
            .finished("sft")
            .and_then(|v| v.get("adapter"))
            .and_then(Value::as_str)
            .map(PathBuf::from)
    }

    /// DPO from the SFT adapter on the teacher's (failed, passed) pairs and the
    /// on-policy pairs (teacher's verified answer, student's failed answer).
    fn dpo(&mut self) -> anyhow::Result<Value> {
        let plan = self.plan().clone();
        let Some(adapter) = self.sft_adapter() else {
            println!("  SFT did not train (no verified answers): skipped");
            return Ok(json!({ "skipped": "SFT did not run" }));
        };
        let data = self.dpo_data()?;
        let pairs = count_lines(&data)?;
        if pairs < 2 {
            println!("  {pairs} preference pair(s): too few for DPO, skipped");
            return Ok(json!({ "skipped": format!("only {pairs} preference pair(s)") }));
        }
        // Four pairs per optimizer step, two per forward pass: a pass over four long
        // pairs needs about 12 GB on the CPU.
        let (batch, grad_accum) = (2usize, 2usize);
        let per_epoch = pairs.div_ceil(batch * grad_accum) as u64;
        let cfg = dpo::DpoConfig {
            model: self.student.clone(),
            adapter: Some(adapter),
            data,
            out: self.out.join("dpo"),
            beta: plan.dpo_beta,
            loss: vec![dpo::LossKind::Sigmoid, dpo::LossKind::Sft],
            loss_weights: vec![1.0, 0.2],
            epochs: plan.dpo_steps.div_ceil(per_epoch).max(1),
            batch_size: batch,
            grad_accum,
            lr: plan.dpo_lr,
            mask_format_tokens: true,
            seed: plan.seed,
            save_every: 10,
            eval_every: 5,
            eval_fraction: 0.1,
            lenient: true,
            ..dpo::DpoConfig::default()
        };
        let bar = progress_bar();
        let summary = dpo::train_dpo(&cfg, |p| match p {
            dpo::Progress::Start { total_steps, .. } => bar.set_length(total_steps),
            dpo::Progress::Step(m) => {
                bar.set_position(m.base.step);
                bar.set_message(format!("loss {:.4}", m.base.loss));
            }
            _ => {}
        })?;
        bar.finish_and_clear();
        let Some(out) = summary.output else {
            bail!("DPO stopped before the end; run the demo again to resume");
        };
        let last = summary.steps.last().map(serde_json::to_value).transpose()?;
        Ok(json!({
            "adapter": out,
            "steps": summary.step,
            "train_pairs": summary.train_pairs,
            "skipped_pairs": summary.skipped.len(),
            "last": last,
        }))
    }

    /// `dpo/pairs.jsonl`: the teacher's own pairs, then the on-policy ones (rewritten
    /// identically on a resume, so the reference cache still matches).
    fn dpo_data(&self) -> anyhow::Result<PathBuf> {
        let dir = self.out.join("dpo");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("pairs.jsonl");
        let mut bytes = Vec::new();
        for part in [
            self.out.join("synth").join("dpo.jsonl"),
            self.out.join("student").join("onpolicy.jsonl"),
        ] {
            match std::fs::read(&part) {
                Ok(b) => bytes.extend_from_slice(&b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("reading {}", part.display())),
            }
        }
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// HumanEval pass@1 (greedy) of the student with `adapter`.
    fn eval(&mut self, label: &str, adapter: Option<&Path>) -> anyhow::Result<Value> {
        let plan = self.plan().clone();
        let problems = Bench::HumanEval.load_file(&self.humaneval)?;
        let teacher: Arc<dyn Teacher> = Arc::new(LocalTeacher::load(
            &self.student,
            &LocalTeacherOptions {
                adapter: adapter.map(Path::to_path_buf),
                concurrency: cores(),
                ..LocalTeacherOptions::default()
            },
        )?);
        let options = EvalOptions {
            params: SamplingParams {
                temperature: 0.0,
                top_p: 1.0,
                max_tokens: plan.eval_max_tokens,
                seed: Some(plan.seed),
                stop: Vec::new(),
            },
            limit: Some(plan.eval_problems),
            concurrency: cores(),
            ..EvalOptions::default()
        };
        let dir = self.out.join("eval").join(label.replace([' ', '+'], "-"));
        println!(
            "  {label}: {} HumanEval problems, greedy",
            plan.eval_problems.min(problems.len())
        );
        let checker = self.checker()?;
        let bar = progress_bar();
        bar.set_length(plan.eval_problems.min(problems.len()) as u64);
        let on_result = |r: &synth::eval::ProblemResult| {
            bar.inc(1);
            bar.set_message(r.problem_id.clone());
        };
        let summary = self.runtime.block_on(run_eval(
            &dir,
            &problems,
            teacher,
            checker,
            &options,
            Some(&on_result),
        ))?;
        bar.finish_and_clear();
        println!("{}", indent(&summary.table()));
        Ok(serde_json::to_value(&summary)?)
    }

    /// As many unverified first answers of the teacher as there are verified SFT
    /// records, as SFT data.
    fn ablation_data(&mut self) -> anyhow::Result<Value> {
        let run = synth::run::RunPaths::new(self.out.join("synth"));
        let verified = count_lines(&run.sft())?;
        let attempts = synth::run::journal::read_attempts(&run.attempts())?;
        let dir = self.out.join("ablation");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("unverified_sft.jsonl");
        let _ = std::fs::remove_file(&path);
        let mut writer = JsonlWriter::<SftRecord>::append(&path)?;
        let mut written = 0usize;
        let mut passed = 0usize;
        for a in attempts.iter().filter(|a| a.turn == 0) {
            if written == verified {
                break;
            }
            let mut messages: Vec<Message> = a.messages.clone();
            messages.push(Message::assistant(a.completion.clone()));
            writer.write(&SftRecord::new(messages))?;
            written += 1;
            if a.outcome.status == datasets::records::Status::Passed {
                passed += 1;
            }
        }
        writer.finish()?;
        println!("  {written} unverified first answers ({passed} of them happen to pass)");
        Ok(json!({ "records": written, "passing": passed, "path": path }))
    }

    fn ablation_sft(&mut self) -> anyhow::Result<Value> {
        let data = self.out.join("ablation").join("unverified_sft.jsonl");
        self.finetune(&data, &self.out.join("ablation").join("sft"))
    }

    fn report(
        &mut self,
        synth: &Value,
        sft: &Value,
        student: &Value,
        dpo: &Value,
        scores: Vec<ModelScore>,
    ) -> anyhow::Result<()> {
        let synth: synth::Report =
            serde_json::from_value(synth.clone()).context("the synth stage's report")?;
        for (dir, v) in [("sft", sft), ("dpo", dpo)] {
            if v.get("adapter").is_some() {
                sft::plot::plot_run(&self.out.join(dir))
                    .with_context(|| format!("plotting {dir}/metrics.jsonl"))?;
            }
        }
        let stage_seconds = STAGE_ORDER
            .iter()
            .filter_map(|k| {
                let secs = self.state.finished(k)?.get("seconds")?.as_f64()?;
                Some((k.to_string(), secs))
            })
            .collect();
        let name = |p: &Path| {
            p.file_name()
                .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into())
        };
        let inputs = ReportInputs {
            plan: self.plan(),
            synth: &synth,
            teacher: name(&self.teacher),
            student: name(&self.student),
            sft_last: sft.get("last").cloned().filter(|v| !v.is_null()),
            sft_skipped: sft
                .get("skipped")
                .and_then(Value::as_str)
                .map(str::to_string),
            onpolicy_pairs: student.get("onpolicy_pairs").and_then(Value::as_u64),
            student_pass_rate: student.get("first_try_pass_rate").and_then(Value::as_f64),
            dpo_last: dpo.get("last").cloned().filter(|v| !v.is_null()),
            dpo_skipped: dpo
                .get("skipped")
                .and_then(Value::as_str)
                .map(str::to_string),
            scores,
            stage_seconds,
        };
        write_report(&self.out, &inputs)
    }
}

/// 0 for `meta.difficulty` "easy", 1 for "medium", 2 for "hard" or unknown.
fn difficulty_rank(p: &Problem) -> u8 {
    match p
        .meta
        .as_ref()
        .and_then(|m| m.get("difficulty"))
        .and_then(Value::as_str)
    {
        Some("easy") => 0,
        Some("medium") => 1,
        _ => 2,
    }
}

/// The pass@1 row of a finished eval stage.
fn score(label: &str, v: &Value) -> ModelScore {
    let pass_at_1 = v
        .get("pass_at_k")
        .and_then(|m| m.get("1"))
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let problems = v.get("finished").and_then(Value::as_u64).unwrap_or(0);
    let solved = v
        .pointer("/outcomes/passed")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    ModelScore {
        name: label.to_string(),
        pass_at_1,
        solved,
        problems,
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn write_problems(path: &Path, problems: &[Problem]) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(path);
    let mut w = JsonlWriter::<Problem>::append(path)?;
    for p in problems {
        w.write(p)?;
    }
    w.finish()?;
    Ok(())
}

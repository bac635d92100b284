//! `distill data decontaminate FILE --out CLEAN.jsonl`: drop records sharing n-grams
//! with benchmark problems (HumanEval prompts and solutions by default).

use super::{FilterFiles, read_sft, record_id};
use datasets::decontam::{DecontamResult, Decontaminator};
use datasets::jsonl::JsonlWriter;
use datasets::records::SftRecord;
use sandbox::artifacts::{ArtifactStore, FetchMode, HUMANEVAL};
use std::process::ExitCode;

/// Arguments of `distill data decontaminate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    files: FilterFiles,
}

pub fn execute(args: Args) -> anyhow::Result<ExitCode> {
    let humaneval = ArtifactStore::from_env(FetchMode::Online).file(&HUMANEVAL)?;
    let index = Decontaminator::humaneval(&humaneval)?;
    let files = &args.files;
    let (records, _) = read_sft(&files.input, files.lenient)?;
    let mut clean = JsonlWriter::<SftRecord>::append(&files.out)?;
    let mut report = files.report_writer::<DecontamResult>()?;
    let mut flagged = 0;
    for (line, record) in &records {
        let text: Vec<&str> = record.messages.iter().map(|m| m.content.as_str()).collect();
        let contamination = index.check(&text.join("\n"));
        match &contamination {
            None => clean.write(record)?,
            Some(hit) => {
                flagged += 1;
                eprintln!(
                    "{}:{line}: matches {} {} on {:?}",
                    files.input.display(),
                    hit.benchmark,
                    hit.task_id,
                    hit.ngram
                );
            }
        }
        if let Some(report) = report.as_mut() {
            report.write(&DecontamResult {
                id: record_id(&files.input, *line, record),
                contamination,
            })?;
        }
    }
    clean.finish()?;
    if let Some(report) = report {
        report.finish()?;
    }
    println!(
        "{} records: {flagged} contaminated, {} clean",
        records.len(),
        records.len() - flagged
    );
    Ok(ExitCode::SUCCESS)
}

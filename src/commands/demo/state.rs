//! `RUN/demo.json`: the plan the run was started with and which stages finished,
//! written atomically after every stage so a killed demo resumes at the first
//! unfinished stage (and each stage resumes inside itself).

use super::plan::Plan;
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// File name of the state inside the run directory.
pub const STATE_FILE: &str = "demo.json";

/// The run's plan and the summaries of finished stages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    /// Settings the run was started with.
    pub plan: Plan,
    /// Finished stages by name, with what each reported.
    pub done: BTreeMap<String, Value>,
    #[serde(skip)]
    path: PathBuf,
}

impl State {
    /// Opens `dir/demo.json`, or starts a new one. A run started with another plan is
    /// an error unless `force` (which starts over in the same directory).
    pub fn open(dir: &Path, plan: &Plan, force: bool) -> anyhow::Result<State> {
        let path = dir.join(STATE_FILE);
        if path.exists() && !force {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let mut state: State = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a demo state file", path.display()))?;
            if &state.plan != plan {
                bail!(
                    "{} was started with other settings (preset {}, ablation {}); use another --out or --force to start over",
                    dir.display(),
                    state.plan.preset,
                    state.plan.ablation
                );
            }
            state.path = path;
            return Ok(state);
        }
        if force && dir.exists() {
            for sub in super::stages::STAGE_DIRS {
                let p = dir.join(sub);
                if p.exists() {
                    std::fs::remove_dir_all(&p)
                        .with_context(|| format!("removing {}", p.display()))?;
                }
            }
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let state = State {
            plan: plan.clone(),
            done: BTreeMap::new(),
            path,
        };
        state.save()?;
        Ok(state)
    }

    /// What a finished stage reported, if it finished.
    pub fn finished(&self, stage: &str) -> Option<&Value> {
        self.done.get(stage)
    }

    /// Records `stage` as finished with `summary` and saves the file.
    pub fn finish(&mut self, stage: &str, summary: Value) -> anyhow::Result<()> {
        self.done.insert(stage.to_string(), summary);
        self.save()
    }

    fn save(&self) -> anyhow::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path)
            .with_context(|| format!("writing {}", self.path.display()))?;
        Ok(())
    }
}

//! The sweep folder and the loop that runs its trials. State lives in
//! files so that a sweep killed at any point resumes where it stopped:
//! `trials.json` (every trial's state, rewritten atomically under
//! `trials.lock`), and `trials/<id>/`, a normal training run folder each,
//! whose `last.ckpt` lets an interrupted trial continue from its last epoch.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::leaderboard::write_leaderboard;
use super::space::{trials, Trial};
use super::spec::{Objective, SweepSpec};
use crate::error::{Error, Result};
use crate::interrupt;
use crate::train::cnn::{last_checkpoint, train, TrainRequest, TrainSummary};
use crate::train::device::DeviceChoice;
use crate::train::folds::{train_folds, FoldsRequest, FoldsSummary};
use crate::util::{atomic_write_str, utc_timestamp};

/// Where a trial stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrialState {
    Pending,
    Running,
    Done,
    /// Stopped at a rung by ASHA or the median rule.
    Pruned,
    Failed,
}

impl TrialState {
    pub fn as_str(self) -> &'static str {
        match self {
            TrialState::Pending => "pending",
            TrialState::Running => "running",
            TrialState::Done => "done",
            TrialState::Pruned => "pruned",
            TrialState::Failed => "failed",
        }
    }
}

/// A trial and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    #[serde(flatten)]
    pub trial: Trial,
    pub state: TrialState,
    /// Epochs trained so far.
    pub epochs: Option<usize>,
    /// The objective at the best epoch.
    pub metric: Option<f64>,
    pub wall_seconds: Option<f64>,
    pub error: Option<String>,
    /// `host:pid` of the process running or last running the trial.
    #[serde(default)]
    pub owner: Option<String>,
    /// The objective at each rung reached (early stopping only).
    #[serde(default)]
    pub rungs: Vec<RungResult>,
}

/// A trial's objective (best so far) at a rung, and the decision there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RungResult {
    pub epoch: usize,
    pub metric: f64,
    /// `None` until the earlier trials have reached the rung too.
    pub passed: Option<bool>,
}

/// What became of a claimed trial this time.
enum Outcome {
    Done(Box<TrainSummary>),
    /// A k-fold trial (`[sweep] folds`).
    Folds(Box<FoldsSummary>),
    Pruned {
        epochs: usize,
        metric: Option<f64>,
    },
    /// Waiting on an earlier trial that nobody runs: handed back.
    Paused,
}

/// `trials.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialTable {
    pub metric: Objective,
    pub trials: Vec<TrialRecord>,
}

/// An open sweep folder.
#[derive(Debug, Clone)]
pub struct SweepDir {
    pub dir: PathBuf,
    pub spec: SweepSpec,
}

/// Options of `sweep run` / `sweep resume`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub device: DeviceChoice,
    /// Extra `--set` overrides for every trial (after the point's values).
    pub overrides: Vec<String>,
    pub quiet: bool,
}

impl SweepDir {
    /// Make the sweep folder (`runs/sweeps/<name>/<UTC time>/` unless
    /// `dir`): the resolved spec, the trial table, the folder per trial.
    pub fn create(spec: SweepSpec, dir: Option<&Path>, overrides: &[String]) -> Result<Self> {
        let dir = match dir {
            Some(d) => d.to_path_buf(),
            None => Path::new("runs/sweeps")
                .join(&spec.sweep.name)
                .join(utc_timestamp()),
        };
        if dir.join("trials.json").exists() {
            return Err(Error::InvalidArgument(format!(
                "{} already holds a sweep: use `soundclass sweep resume {}`",
                dir.display(),
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir.join("trials")).map_err(|e| Error::io(&dir, e))?;
        let saved = SavedSpec {
            spec: spec.clone(),
            overrides: overrides.to_vec(),
        };
        let text = toml::to_string_pretty(&saved).map_err(|e| Error::ConfigValue {
            key: "sweep".into(),
            reason: e.to_string(),
        })?;
        atomic_write_str(&dir.join("sweep.toml"), &text)?;
        let table = TrialTable {
            metric: spec.sweep.metric,
            trials: trials(&spec)
                .into_iter()
                .map(|trial| TrialRecord {
                    trial,
                    state: TrialState::Pending,
                    epochs: None,
                    metric: None,
                    wall_seconds: None,
                    error: None,
                    owner: None,
                    rungs: Vec::new(),
                })
                .collect(),
        };
        let sweep = Self { dir, spec };
        sweep.write_table(&table)?;
        Ok(sweep)
    }

    /// Open an existing sweep folder; returns it and the overrides it was
    /// started with.
    pub fn open(dir: &Path) -> Result<(Self, Vec<String>)> {
        let path = dir.join("sweep.toml");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let saved: SavedSpec = toml::from_str(&text).map_err(|e| Error::ConfigSyntax {
            path: path.clone(),
            reason: e.message().to_string(),
        })?;
        Ok((
            Self {
                dir: dir.to_path_buf(),
                spec: saved.spec,
            },
            saved.overrides,
        ))
    }

    pub fn read_table(&self) -> Result<TrialTable> {
        let path = self.dir.join("trials.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_str(&text).map_err(|e| Error::Manifest {
            path,
            reason: format!("not a trial table: {e}"),
        })
    }

    fn write_table(&self, table: &TrialTable) -> Result<()> {
        let text = serde_json::to_string_pretty(table).expect("trial table serializes");
        atomic_write_str(&self.dir.join("trials.json"), &text)
    }

    /// Read, change and write the trial table under the sweep's lock, so
    /// that two processes never take the same trial.
    fn update<T>(&self, change: impl FnOnce(&mut TrialTable) -> T) -> Result<T> {
        let lock_path = self.dir.join("trials.lock");
        let lock = File::create(&lock_path).map_err(|e| Error::io(&lock_path, e))?;
        lock.lock().map_err(|e| Error::io(&lock_path, e))?;
        let mut table = self.read_table()?;
        let out = change(&mut table);
        self.write_table(&table)?;
        Ok(out)
    }

    pub fn trial_dir(&self, trial: &Trial) -> PathBuf {
        self.dir.join("trials").join(&trial.id)
    }

    /// Make trials whose process is gone pending again (they continue from
    /// their checkpoint), and failed ones too with `retry_failed`. Only
    /// owners on this host can be checked; the rest are left as they are.
    pub fn recover(&self, retry_failed: bool) -> Result<usize> {
        let host = host_name();
        self.update(|table| {
            let mut recovered = 0;
            for record in &mut table.trials {
                let stale = record.state == TrialState::Running
                    && record
                        .owner
                        .as_deref()
                        .is_none_or(|o| owner_is_gone(o, &host));
                let retry = retry_failed && record.state == TrialState::Failed;
                if stale || retry {
                    record.state = TrialState::Pending;
                    record.error = None;
                    recovered += 1;
                }
            }
            recovered
        })
    }

    /// Take pending trials one at a time and run them until none is left;
    /// any number of these loops (processes, cluster jobs) may share the
    /// folder. The leaderboard is rewritten after every trial.
    /// A stop request (SIGTERM, Ctrl-C) ends the loop once the running
    /// trial has saved its progress; the trial goes back to `pending`, so
    /// a requeued job or `sweep resume` continues it.
    pub fn work(&self, options: &RunOptions) -> Result<()> {
        loop {
            interrupt::check(|| "between trials, none running".into())?;
            let Some(trial) = self.claim()? else {
                return Ok(());
            };
            let started = Instant::now();
            let outcome = self.run_trial(&trial, options);
            let metric = self.spec.sweep.metric;
            self.update_record(&trial.id, |record| {
                let before = record.wall_seconds.unwrap_or(0.0);
                record.wall_seconds = Some(before + started.elapsed().as_secs_f64());
                match &outcome {
                    Ok(Outcome::Done(summary)) => {
                        record.state = TrialState::Done;
                        record.epochs = Some(summary.epochs_run);
                        record.metric = objective_value(summary, metric);
                    }
                    Ok(Outcome::Folds(folds)) => {
                        record.state = TrialState::Done;
                        record.epochs = folds.results.iter().filter_map(|r| r.best_epoch).max();
                        record.metric = Some(folds_objective(folds, metric));
                    }
                    Ok(Outcome::Pruned { epochs, metric }) => {
                        record.state = TrialState::Pruned;
                        record.epochs = Some(*epochs);
                        record.metric = *metric;
                    }
                    Ok(Outcome::Paused) | Err(Error::Interrupted { .. }) => {
                        record.state = TrialState::Pending;
                        record.owner = None;
                    }
                    Err(e) => {
                        record.state = TrialState::Failed;
                        record.error = Some(e.to_string());
                    }
                }
            })?;
            match outcome {
                Err(e @ Error::Interrupted { .. }) => return Err(e),
                Err(e) => eprintln!("trial {} failed: {e}", trial.id),
                Ok(_) => {}
            }
            write_leaderboard(self, &self.read_table()?)?;
        }
    }

    /// Change one trial's record under the lock.
    fn update_record(&self, id: &str, change: impl FnOnce(&mut TrialRecord)) -> Result<()> {
        self.update(|table| {
            let record = table
                .trials
                .iter_mut()
                .find(|r| r.trial.id == id)
                .expect("claimed trial is in the table");
            change(record);
        })
    }

    /// The table and leaderboard once every worker is done.
    pub fn finish(&self) -> Result<TrialTable> {
        let table = self.read_table()?;
        write_leaderboard(self, &table)?;
        Ok(table)
    }

    /// Mark the first pending trial running and return it.
    fn claim(&self) -> Result<Option<Trial>> {
        let owner = this_owner();
        self.update(|table| {
            let record = table
                .trials
                .iter_mut()
                .find(|r| r.state == TrialState::Pending)?;
            record.state = TrialState::Running;
            record.owner = Some(owner);
            Some(record.trial.clone())
        })
    }

    fn run_trial(&self, trial: &Trial, options: &RunOptions) -> Result<Outcome> {
        let mut sets = trial.overrides();
        sets.extend(options.overrides.iter().cloned());
        let mut config = self.spec.base_config(&[], &sets)?;
        config.experiment.name = format!("{}/{}", self.spec.sweep.name, trial.id);
        // Trials decode the corpus once between them.
        config
            .training
            .audio_cache
            .get_or_insert_with(|| self.dir.join("audio_cache"));
        if !options.quiet {
            eprintln!("trial {} ({})", trial.id, describe(&trial.values));
        }
        if let Some(folds) = self.spec.sweep.folds {
            let summary = train_folds(FoldsRequest {
                config,
                device: options.device,
                run_dir: Some(self.trial_dir(trial)),
                folds,
                quiet: options.quiet,
            })?;
            return Ok(Outcome::Folds(Box::new(summary)));
        }
        let Some(stopping) = self.spec.sweep.early_stopping.clone() else {
            let summary = self.train_until(trial, &config, None, options)?;
            return Ok(Outcome::Done(Box::new(summary)));
        };
        for rung in stopping.rungs(config.training.epochs) {
            let recorded = self
                .record_of(&trial.id)?
                .rungs
                .into_iter()
                .find(|r| r.epoch == rung);
            let metric = match recorded {
                Some(RungResult {
                    passed: Some(true), ..
                }) => continue,
                Some(result) => result.metric,
                None => {
                    let summary = self.train_until(trial, &config, Some(rung), options)?;
                    if summary.stopped_early {
                        return Ok(Outcome::Done(Box::new(summary)));
                    }
                    let metric =
                        objective_value(&summary, self.spec.sweep.metric).ok_or_else(|| {
                            Error::InvalidArgument(format!(
                                "trial {}: no validation metric at epoch {rung} (empty val split?)",
                                trial.id
                            ))
                        })?;
                    self.update_record(&trial.id, |r| {
                        r.epochs = Some(rung);
                        r.rungs.push(RungResult {
                            epoch: rung,
                            metric,
                            passed: None,
                        });
                    })?;
                    metric
                }
            };
            let Some(earlier) = self.wait_for_rung(trial, rung)? else {
                return Ok(Outcome::Paused);
            };
            let passed = stopping.passes(self.spec.mode(), metric, &earlier);
            self.update_record(&trial.id, |r| {
                if let Some(result) = r.rungs.iter_mut().find(|x| x.epoch == rung) {
                    result.passed = Some(passed);
                }
            })?;
            if !passed {
                if !options.quiet {
                    eprintln!("trial {} pruned at epoch {rung}", trial.id);
                }
                return Ok(Outcome::Pruned {
                    epochs: rung,
                    metric: Some(metric),
                });
            }
        }
        let summary = self.train_until(trial, &config, None, options)?;
        Ok(Outcome::Done(Box::new(summary)))
    }

    /// Train (or continue) a trial until `stop_after` epochs in total, or
    /// to the end.
    fn train_until(
        &self,
        trial: &Trial,
        config: &crate::config::Config,
        stop_after: Option<usize>,
        options: &RunOptions,
    ) -> Result<TrainSummary> {
        let run_dir = self.trial_dir(trial);
        let resume = last_checkpoint(&run_dir).exists();
        train(TrainRequest {
            config: config.clone(),
            device: options.device,
            run_dir: Some(run_dir.clone()),
            resume: resume.then_some(run_dir),
            quiet: options.quiet,
            stop_after_epochs: stop_after,
        })
    }

    fn record_of(&self, id: &str) -> Result<TrialRecord> {
        let table = self.read_table()?;
        Ok(table
            .trials
            .into_iter()
            .find(|r| r.trial.id == id)
            .expect("trial is in the table"))
    }

    /// The objective at `rung` of every earlier trial that reaches it, once
    /// all of them have got there or stopped before it. `None` when an
    /// earlier trial waits for a process (it is handed back instead).
    fn wait_for_rung(&self, trial: &Trial, rung: usize) -> Result<Option<Vec<f64>>> {
        loop {
            let table = self.read_table()?;
            let position = table
                .trials
                .iter()
                .position(|r| r.trial.id == trial.id)
                .expect("trial is in the table");
            let mut values = Vec::new();
            let mut blocked = false;
            let mut orphaned = false;
            for record in &table.trials[..position] {
                if let Some(result) = record.rungs.iter().find(|r| r.epoch == rung) {
                    values.push(result.metric);
                    continue;
                }
                match record.state {
                    TrialState::Done | TrialState::Pruned | TrialState::Failed => {}
                    TrialState::Pending => orphaned = true,
                    TrialState::Running => {
                        let gone = record
                            .owner
                            .as_deref()
                            .is_none_or(|o| owner_is_gone(o, &host_name()));
                        orphaned |= gone;
                        blocked = true;
                    }
                }
            }
            if orphaned {
                self.recover(false)?;
                return Ok(None);
            }
            interrupt::check(|| {
                format!(
                    "trial {} is saved at epoch {rung} (its rung); it continues from there",
                    trial.id
                )
            })?;
            if !blocked {
                return Ok(Some(values));
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

/// This machine's name, for trial owners.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// True when `owner` (`host:pid`) is a process of this host that has ended.
/// Whether the process that owns a trial is known to be gone: on this host
/// by its pid; elsewhere only for a Slurm task, by its job (a previous run
/// of this very task, or a job that Slurm no longer runs).
pub(super) fn owner_is_gone(owner: &str, host: &str) -> bool {
    let (process, task) = match owner.split_once(SLURM_OWNER) {
        Some((process, task)) => (process, Some(task)),
        None => (owner, None),
    };
    match (process.rsplit_once(':'), task) {
        (Some((h, pid)), _) if h == host => !Path::new("/proc").join(pid).exists(),
        (_, Some(task)) => {
            let job = task.split(' ').next().unwrap_or(task);
            slurm_task().is_some_and(|mine| mine == task) || !super::slurm::job_is_running(job)
        }
        _ => false,
    }
}

/// Separates the Slurm task in a trial's owner.
const SLURM_OWNER: &str = " slurm job ";

/// This process's Slurm task, `<job id> step <step>.<rank>` (a requeued
/// array task comes back with the same), when it runs under Slurm.
fn slurm_task() -> Option<String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let job = var("SLURM_JOB_ID")?;
    let step = var("SLURM_STEP_ID").unwrap_or_else(|| "batch".into());
    let rank = var("SLURM_PROCID").unwrap_or_else(|| "0".into());
    Some(format!("{job} step {step}.{rank}"))
}

/// `host:pid`, and the Slurm task when run under Slurm.
fn this_owner() -> String {
    let process = format!("{}:{}", host_name(), std::process::id());
    match slurm_task() {
        Some(task) => format!("{process}{SLURM_OWNER}{task}"),
        None => process,
    }
}

/// `sweep.toml`: the resolved spec and the command line's overrides.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SavedSpec {
    spec: SweepSpec,
    overrides: Vec<String>,
}

/// The objective of a finished training: its model's val metrics (the
/// weight average's, else the best epoch's).
pub fn objective_value(summary: &TrainSummary, metric: Objective) -> Option<f64> {
    let best = summary.final_val()?;
    Some(match metric {
        Objective::ValAccuracy => best.accuracy,
        Objective::ValMacroF1 => best.macro_f1,
        Objective::ValBalancedAccuracy => best.balanced_accuracy,
        Objective::ValLoss => best.loss,
    })
}

/// The objective of a k-fold trial: the folds' mean of the metric.
pub fn folds_objective(folds: &FoldsSummary, metric: Objective) -> f64 {
    let values: Vec<f64> = folds
        .results
        .iter()
        .map(|r| match metric {
            Objective::ValAccuracy => r.accuracy,
            Objective::ValMacroF1 => r.macro_f1,
            Objective::ValBalancedAccuracy => r.balanced_accuracy,
            Objective::ValLoss => r.loss,
        })
        .collect();
    crate::util::mean_std(&values).0
}

/// `key=value, key=value` of a point, for tables and messages.
pub fn describe(values: &[(String, toml::Value)]) -> String {
    values
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

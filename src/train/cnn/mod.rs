//! CNN training and evaluation: `soundclass train` and `soundclass evaluate`.
//!
//! One epoch: a loader thread crops clips from memory (and, off-GPU,
//! computes their log-Mel) and draws augmentation while the device runs the
//! previous step; the model trains on log-Mel with SpecAugment masks and
//! mixup; validation runs on fixed crops or sliding windows; then the epoch
//! is checkpointed (atomically: `last.ckpt` always, `best.ckpt` when the
//! monitored metric improves), `metrics.csv` is rewritten and TensorBoard
//! gets its scalars. With `training.average_last_epochs`, `last.ckpt` also
//! carries the running mean of the last epochs' weights, which becomes the
//! run's model (`average.ckpt`) at the end. A stop request (Ctrl-C, SIGTERM) is honoured between
//! two steps: `last.ckpt` then holds the epoch's progress, and `--resume`
//! finishes that epoch as an uninterrupted run would have.
//!
//! The steps live in their own files: [`setup`] (manifest, device, front
//! end, decoded clips), [`epoch`] (training steps and the end of an epoch),
//! [`evaluate`] (validation, test, `evaluate`), [`logging`] (run files and
//! TensorBoard).

mod epoch;
mod evaluate;
mod logging;
mod setup;

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use serde::Serialize;

use crate::data::spectrograms::{report_skipped, SkippedClip};
use crate::error::{Error, Result};
use crate::interrupt;
use crate::train::device::DeviceChoice;
use crate::train::metrics::SplitMetrics;
use crate::train::prior::ClassPrior;
use crate::train::run_folder;
use crate::util::atomic_write_str;

use epoch::Trainer;
pub use evaluate::{evaluate_run, host_values, EvalOutcome};
pub use logging::{epoch_scalars, hparams_of, peak_rss_mb};
use setup::Setup;

use crate::config::Config;

/// What `soundclass train` was asked to do.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    pub config: Config,
    pub device: DeviceChoice,
    /// Exactly this run folder (`--run-dir`).
    pub run_dir: Option<PathBuf>,
    /// Continue this run from its last checkpoint (`--resume`).
    pub resume: Option<PathBuf>,
    pub quiet: bool,
    /// End this session after this many epochs in total, checkpointed as
    /// usual, so `--resume` continues it (time-sliced or preemptible jobs).
    pub stop_after_epochs: Option<usize>,
}

/// What a finished training run reports (`summary.json`).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TrainSummary {
    pub run_dir: PathBuf,
    pub device: String,
    pub arch: String,
    pub parameters: usize,
    pub classes: Vec<String>,
    pub train_clips: usize,
    pub val_clips: usize,
    pub epochs_run: usize,
    pub stopped_early: bool,
    pub monitor: String,
    pub best_epoch: Option<usize>,
    pub best_val: Option<SplitMetrics>,
    /// The weight average of the last epochs (`training.average_last_epochs`),
    /// which is then the run's model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average: Option<AverageSummary>,
    pub test: Option<SplitMetrics>,
    pub skipped_clips: Vec<SkippedClip>,
    pub train_seconds: f64,
    pub train_clips_per_second: f64,
    /// Seconds this session spent before its first step: reading the
    /// manifest, decoding (or reading cached) audio, building the model.
    pub startup_seconds: f64,
    /// Whether the decoded audio came from `training.audio_cache`.
    pub audio_cache_hit: bool,
    pub peak_rss_mb: Option<f64>,
}

/// The averaged model of a run (`summary.json`'s `average`).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct AverageSummary {
    /// First averaged epoch (1-based).
    pub first_epoch: usize,
    /// Epoch-end weights in the average.
    pub epochs: usize,
    pub val: Option<SplitMetrics>,
}

impl TrainSummary {
    /// Val metrics of the run's model: the weight average's when there is
    /// one, else the best epoch's.
    pub fn final_val(&self) -> Option<&SplitMetrics> {
        self.average
            .as_ref()
            .and_then(|a| a.val.as_ref())
            .or(self.best_val.as_ref())
    }
}

/// Paths inside a run folder.
pub fn last_checkpoint(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoints").join("last.ckpt")
}

pub fn best_checkpoint(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoints").join("best.ckpt")
}

pub fn average_checkpoint(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoints").join("average.ckpt")
}

/// The checkpoint that is the run's model: the weight average when the
/// run made one, else the best epoch's.
pub fn model_checkpoint(run_dir: &Path) -> PathBuf {
    let average = average_checkpoint(run_dir);
    if average.is_file() {
        average
    } else {
        best_checkpoint(run_dir)
    }
}

/// Train as `request` says; returns the summary also written to
/// `summary.json`. A stop request ends it with [`Error::Interrupted`]
/// once the progress is saved.
pub fn train(request: TrainRequest) -> Result<TrainSummary> {
    let started = Instant::now();
    let config = &request.config;
    let say = |text: &str| {
        if !request.quiet {
            eprintln!("{text}");
        }
    };
    let (mut setup, run_dir) = open_run(&request)?;
    say(&format!("device: {}", setup.device.description));
    say(&format!("front end: {}", setup.frontend.describe()));
    say(&format!("run folder: {}", run_dir.display()));
    // A resumed run that is asked to stop before it starts has nothing new
    // to save: its checkpoint stands.
    if request.resume.is_some() {
        interrupt::check(|| {
            format!(
                "before resuming; {} is unchanged",
                last_checkpoint(&run_dir).display()
            )
        })?;
    }
    let data = load_data(&mut setup, &request, &run_dir)?;
    // A stop requested while the clips were decoding takes effect after
    // the first step, so that there is a checkpoint to resume from.
    let mut trainer = Trainer::start(&setup, config, &run_dir, &request, &data.train)?;
    let startup_seconds = started.elapsed().as_secs_f64();
    say(&format!(
        "ready to train after {startup_seconds:.1} s ({})",
        data.source
    ));
    let session_end = request
        .stop_after_epochs
        .unwrap_or(config.training.epochs)
        .min(config.training.epochs);
    run_epochs(&mut trainer, &data, session_end, &run_dir)?;
    if trainer.state.stopped_early {
        say(&format!(
            "early stop: {} did not improve for {} epochs",
            config.training.monitor, config.training.patience
        ));
    }
    let finished = Finished {
        average: trainer.finish_average(&data.val)?,
        test: trainer.test_best(&data.test)?,
        startup_seconds,
    };
    let summary = summarise(&trainer, finished, config, &setup, &data, &run_dir);
    let json = serde_json::to_string_pretty(&summary)
        .map_err(|e| Error::InvalidArgument(e.to_string()))?;
    atomic_write_str(&run_dir.join("summary.json"), &json)?;
    trainer.log_hparams(&summary)?;
    Ok(summary)
}

/// Manifest, device and front end, then the run folder (a new one, or the
/// resumed run's with its config rewritten): a bad request leaves no empty
/// run folder.
fn open_run(request: &TrainRequest) -> Result<(Setup, PathBuf)> {
    let config = &request.config;
    let setup = Setup::new(config, None, request.device)?;
    let run_dir = match &request.resume {
        Some(dir) => {
            config.write_resolved(&dir.join("config.toml"))?;
            dir.clone()
        }
        None => run_folder(config, request.run_dir.as_deref())?,
    };
    Ok((setup, run_dir))
}

/// The decoded splits (skipped clips reported and listed in the run
/// folder), the run's info and the training class prior, which sets the
/// prior correction of every later evaluation.
fn load_data(setup: &mut Setup, request: &TrainRequest, run_dir: &Path) -> Result<setup::Splits> {
    let config = &request.config;
    let data = setup.load_splits(config, request.quiet)?;
    report_skipped(&data.skipped);
    logging::write_skipped(run_dir, &data.skipped)?;
    if data.train.len() < 2 {
        return Err(Error::Manifest {
            path: setup.manifest_path.clone(),
            reason: format!(
                "need at least 2 readable train clips, found {}",
                data.train.len()
            ),
        });
    }
    logging::write_run_info(run_dir, config, setup, request.resume.is_some())?;
    let prior =
        ClassPrior::from_labels(&setup.classes, &data.train.labels, &config.training.sampler);
    prior.save(run_dir)?;
    setup.prior_factors = config.training.prior_correction.then(|| prior.correction());
    Ok(data)
}

/// Epochs until `session_end` or an early stop, each checkpointed; a stop
/// request between two epochs ends the session with the last one saved.
fn run_epochs(
    trainer: &mut Trainer,
    data: &setup::Splits,
    session_end: usize,
    run_dir: &Path,
) -> Result<()> {
    while trainer.state.epoch < session_end && !trainer.state.stopped_early {
        let progress = trainer.train_epoch(&data.train)?;
        trainer.finish_epoch(progress, &data.val)?;
        if trainer.state.epoch < session_end && !trainer.state.stopped_early {
            interrupt::check(|| {
                format!(
                    "epoch {} is saved in {}; `--resume` continues with the next",
                    trainer.state.epoch,
                    last_checkpoint(run_dir).display()
                )
            })?;
        }
    }
    Ok(())
}

/// What a session measures after its last epoch, for its summary.
struct Finished {
    average: Option<AverageSummary>,
    test: Option<SplitMetrics>,
    startup_seconds: f64,
}

/// The summary of a finished session: the trainer's state and the
/// measurements after its last epoch.
fn summarise(
    trainer: &Trainer,
    finished: Finished,
    config: &Config,
    setup: &Setup,
    data: &setup::Splits,
    run_dir: &Path,
) -> TrainSummary {
    let state = &trainer.state;
    let best_val = state
        .best_epoch
        .and_then(|e| state.history.get(e - 1))
        .and_then(|r| r.val.clone());
    let clips_per_second: f64 = state
        .history
        .iter()
        .map(|r| r.train_clips_per_second)
        .sum::<f64>()
        / state.history.len().max(1) as f64;
    TrainSummary {
        run_dir: run_dir.to_path_buf(),
        device: setup.device.description.clone(),
        arch: config.model.arch.clone(),
        parameters: trainer.model.num_params(),
        classes: setup.classes.clone(),
        train_clips: data.train.len(),
        val_clips: data.val.len(),
        epochs_run: state.epoch,
        stopped_early: state.stopped_early,
        monitor: config.training.monitor.clone(),
        best_epoch: state.best_epoch,
        best_val,
        average: finished.average,
        test: finished.test,
        skipped_clips: data.skipped.clone(),
        train_seconds: state.train_seconds,
        train_clips_per_second: clips_per_second,
        startup_seconds: finished.startup_seconds,
        audio_cache_hit: data.cache_hit,
        peak_rss_mb: peak_rss_mb(),
    }
}

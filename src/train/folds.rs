//! Grouped k-fold cross-validation of a CNN recipe (`train --folds K`):
//! the manifest's train and val clips are pooled and cut into K folds that
//! keep every source whole (`source_package`, else the clip's parent
//! folder) and balance classes; fold i trains on the other folds and
//! validates on fold i. The result is the mean ± std of the folds' best
//! validation metrics, a less noisy objective than one fixed val split.
//! Test clips stay out.
//!
//! Each fold is an ordinary run folder (`RUN/fold-<i>/`): running the same
//! command on the same `--run-dir` again skips finished folds and resumes
//! the one that was interrupted.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::data::{stratified_group_folds, Clip, Manifest, Split};
use crate::error::{Error, Result};
use crate::features::clip_group;
use crate::train::cnn::{last_checkpoint, train, TrainRequest, TrainSummary};
use crate::train::device::DeviceChoice;
use crate::train::run_folder;
use crate::util::{atomic_write_str, mean_std};

/// What `train --folds K` was asked to do.
#[derive(Debug, Clone)]
pub struct FoldsRequest {
    pub config: Config,
    pub device: DeviceChoice,
    pub run_dir: Option<PathBuf>,
    pub folds: usize,
    pub quiet: bool,
}

/// One fold's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FoldResult {
    pub fold: usize,
    pub run_dir: PathBuf,
    pub train_clips: usize,
    pub val_clips: usize,
    /// Sources (groups) in the fold's val split.
    pub val_groups: usize,
    pub best_epoch: Option<usize>,
    pub accuracy: f64,
    pub balanced_accuracy: f64,
    pub macro_f1: f64,
    pub loss: f64,
}

/// `folds.json`: every fold and the mean ± sample std over folds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FoldsSummary {
    pub run_dir: PathBuf,
    pub folds: usize,
    pub grouped_by: String,
    pub results: Vec<FoldResult>,
    pub accuracy_mean: f64,
    pub accuracy_std: f64,
    pub macro_f1_mean: f64,
    pub macro_f1_std: f64,
    pub balanced_accuracy_mean: f64,
    pub loss_mean: f64,
}

/// The pooled train + val clips (absolute paths), each one's source and
/// fold, and what the sources are.
struct Pooled {
    manifest: Manifest,
    groups: Vec<String>,
    folds: Vec<usize>,
    grouped_by: &'static str,
}

impl Pooled {
    /// Sources among fold `fold`'s clips.
    fn sources_in(&self, fold: usize) -> usize {
        let sources: BTreeSet<&str> = self
            .groups
            .iter()
            .zip(&self.folds)
            .filter(|(_, &f)| f == fold)
            .map(|(g, _)| g.as_str())
            .collect();
        sources.len()
    }
}

fn assign_folds(config: &Config, k: usize) -> Result<Pooled> {
    let path = config
        .data
        .manifest
        .as_deref()
        .ok_or_else(|| Error::ConfigValue {
            key: "data.manifest".into(),
            reason: "k-fold training needs a manifest".into(),
        })?;
    let manifest = Manifest::load(path)?;
    let grouped_by = if manifest.extra_columns.iter().any(|c| c == "source_package") {
        "source_package"
    } else {
        "parent folder"
    };
    let classes = &config.data.classes;
    let mut pooled = Manifest::new(manifest.root.clone(), manifest.extra_columns.clone());
    let (mut labels, mut groups) = (Vec::new(), Vec::new());
    for clip in &manifest.clips {
        let Some(label) = classes.iter().position(|c| *c == clip.label) else {
            continue;
        };
        if clip.split == Split::Test {
            continue;
        }
        groups.push(clip_group(&manifest, clip));
        labels.push(label);
        pooled.clips.push(Clip {
            path: manifest.resolve(clip).display().to_string(),
            ..clip.clone()
        });
    }
    let distinct = groups.iter().collect::<BTreeSet<_>>().len();
    if distinct < k {
        return Err(Error::InvalidArgument(format!(
            "--folds {k}: {} has only {distinct} sources ({grouped_by}) in its train and val \
             splits; each fold needs at least one",
            path.display()
        )));
    }
    let group_refs: Vec<&str> = groups.iter().map(String::as_str).collect();
    let folds = stratified_group_folds(&labels, &group_refs, k, config.training.seed);
    Ok(Pooled {
        manifest: pooled,
        groups,
        folds,
        grouped_by,
    })
}

/// Trains every fold (skipping finished ones, resuming an interrupted one)
/// and writes `folds.json` and `folds.csv` into the run folder.
pub fn train_folds(request: FoldsRequest) -> Result<FoldsSummary> {
    let k = request.folds;
    if k < 2 {
        return Err(Error::InvalidArgument(format!(
            "--folds {k}: use at least 2"
        )));
    }
    let run_dir = run_folder(&request.config, request.run_dir.as_deref())?;
    let pooled = assign_folds(&request.config, k)?;
    let mut results = Vec::with_capacity(k);
    for fold in 0..k {
        let dir = run_dir.join(format!("fold-{fold}"));
        let summary = train_fold(&request, &pooled, fold, &dir)?;
        results.push(fold_result(fold, &dir, &summary, pooled.sources_in(fold))?);
        if !request.quiet {
            let r = results.last().expect("just pushed");
            eprintln!(
                "fold {}/{k}: val accuracy {:.4}, macro-F1 {:.4} ({} clips from {} sources)",
                fold + 1,
                r.accuracy,
                r.macro_f1,
                r.val_clips,
                r.val_groups
            );
        }
    }
    let summary = summarise(run_dir, pooled.grouped_by.to_string(), results);
    write_summary(&summary)?;
    Ok(summary)
}

fn train_fold(
    request: &FoldsRequest,
    pooled: &Pooled,
    fold: usize,
    dir: &Path,
) -> Result<TrainSummary> {
    let summary_path = dir.join("summary.json");
    if let Ok(text) = std::fs::read_to_string(&summary_path) {
        if let Ok(summary) = serde_json::from_str::<TrainSummary>(&text) {
            return Ok(summary);
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut manifest = pooled.manifest.clone();
    for (clip, &f) in manifest.clips.iter_mut().zip(&pooled.folds) {
        clip.split = if f == fold { Split::Val } else { Split::Train };
    }
    let manifest_path = dir.join("fold-manifest.csv");
    manifest.write(&manifest_path)?;
    let mut config = request.config.clone();
    config.data.manifest = Some(manifest_path);
    config.experiment.name = format!("{}/fold-{fold}", request.config.experiment.name);
    let resume = last_checkpoint(dir).exists();
    train(TrainRequest {
        config,
        device: request.device,
        run_dir: Some(dir.to_path_buf()),
        resume: resume.then(|| dir.to_path_buf()),
        quiet: request.quiet,
        stop_after_epochs: None,
    })
}

fn fold_result(fold: usize, dir: &Path, s: &TrainSummary, val_groups: usize) -> Result<FoldResult> {
    let best = s.final_val().ok_or_else(|| {
        Error::InvalidArgument(format!(
            "fold {fold}: no validation metrics in {}",
            dir.display()
        ))
    })?;
    Ok(FoldResult {
        fold,
        run_dir: dir.to_path_buf(),
        train_clips: s.train_clips,
        val_clips: s.val_clips,
        val_groups,
        best_epoch: s.best_epoch,
        accuracy: best.accuracy,
        balanced_accuracy: best.balanced_accuracy,
        macro_f1: best.macro_f1,
        loss: best.loss,
    })
}

fn summarise(run_dir: PathBuf, grouped_by: String, results: Vec<FoldResult>) -> FoldsSummary {
    let stat = |f: fn(&FoldResult) -> f64| mean_std(&results.iter().map(f).collect::<Vec<_>>());
    let (accuracy_mean, accuracy_std) = stat(|r| r.accuracy);
    let (macro_f1_mean, macro_f1_std) = stat(|r| r.macro_f1);
    FoldsSummary {
        run_dir,
        folds: results.len(),
        grouped_by,
        accuracy_mean,
        accuracy_std,
        macro_f1_mean,
        macro_f1_std,
        balanced_accuracy_mean: stat(|r| r.balanced_accuracy).0,
        loss_mean: stat(|r| r.loss).0,
        results,
    }
}

fn write_summary(summary: &FoldsSummary) -> Result<()> {
    let json = serde_json::to_string_pretty(summary)
        .map_err(|e| Error::InvalidArgument(format!("serialising folds.json: {e}")))?;
    atomic_write_str(&summary.run_dir.join("folds.json"), &json)?;
    let mut csv = String::from(
        "fold,val_clips,val_groups,best_epoch,accuracy,balanced_accuracy,macro_f1,loss\n",
    );
    for r in &summary.results {
        csv += &format!(
            "{},{},{},{},{},{},{},{}\n",
            r.fold,
            r.val_clips,
            r.val_groups,
            r.best_epoch.map_or(String::new(), |e| e.to_string()),
            r.accuracy,
            r.balanced_accuracy,
            r.macro_f1,
            r.loss
        );
    }
    atomic_write_str(&summary.run_dir.join("folds.csv"), &csv)
}

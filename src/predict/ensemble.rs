//! Ensembles: several models, CNN runs and baseline models mixed, whose
//! class probabilities are averaged per file. Weights are equal, given, or
//! fitted on the val split alone (the lowest log-loss on the simplex), so
//! that a test split never chooses them.
//!
//! Each member reads files with its own front end and windows; on a
//! manifest split it reads them as its own `evaluate` does (the middle
//! `training.cache_seconds` for a CNN, `features.clip_seconds` for a
//! baseline), so a one-member ensemble reproduces that member's accuracy.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{predict_files, FileResult, LoadedModel, Outcome, PredictOptions, Prediction};
use crate::data::{Manifest, Split};
use crate::error::{Error, Result};
use crate::model::argmax;
use crate::train::device::DeviceChoice;
use crate::train::metrics::{mean_log_loss, SplitMetrics};

/// Loaded members with their weights (summing to 1).
pub struct Ensemble {
    pub paths: Vec<PathBuf>,
    pub members: Vec<LoadedModel>,
    pub weights: Vec<f64>,
}

/// How an ensemble's weights are chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum Weights {
    Equal,
    Given(Vec<f64>),
    /// Fitted on the val split of the evaluation manifest.
    FitOnVal,
}

impl std::str::FromStr for Weights {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim() {
            "equal" => Ok(Self::Equal),
            "val" => Ok(Self::FitOnVal),
            list => list
                .split(',')
                .map(|w| {
                    w.trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|w| w.is_finite() && *w >= 0.0)
                        .ok_or_else(|| format!("`{w}` is not a weight >= 0"))
                })
                .collect::<std::result::Result<Vec<_>, _>>()
                .map(Self::Given)
                .map_err(|e| format!("{e}: use `equal`, `val` or numbers like `2,1,1`")),
        }
    }
}

impl Ensemble {
    /// Loads every model; their classes must be the same, in the same order.
    pub fn load(paths: &[PathBuf], device: DeviceChoice) -> Result<Self> {
        let members = paths
            .iter()
            .map(|p| LoadedModel::load(p, device))
            .collect::<Result<Vec<_>>>()?;
        let first = members
            .first()
            .ok_or_else(|| Error::InvalidArgument("--model: give at least one model".into()))?;
        for (path, member) in paths.iter().zip(&members).skip(1) {
            if member.classes() != first.classes() {
                return Err(Error::InvalidArgument(format!(
                    "--model {}: its classes {:?} differ from {}'s {:?}; an ensemble needs the same classes in the same order",
                    path.display(),
                    member.classes(),
                    paths[0].display(),
                    first.classes()
                )));
            }
        }
        let n = members.len();
        Ok(Self {
            paths: paths.to_vec(),
            members,
            weights: vec![1.0 / n as f64; n],
        })
    }

    pub fn classes(&self) -> &[String] {
        self.members[0].classes()
    }

    /// Sets (and normalises) given weights, one per member.
    pub fn set_weights(&mut self, weights: &[f64]) -> Result<()> {
        let total: f64 = weights.iter().sum();
        if weights.len() != self.members.len() || total.is_nan() || total <= 0.0 {
            return Err(Error::InvalidArgument(format!(
                "--weights: {} weights for {} models, summing to {total}; give one weight >= 0 per \
                 --model, not all zero",
                weights.len(),
                self.members.len()
            )));
        }
        self.weights = weights.iter().map(|w| w / total).collect();
        Ok(())
    }

    /// Every member's results for `files`, `options_for` choosing each
    /// member's window options.
    pub fn member_results(
        &self,
        files: &[PathBuf],
        options_for: &dyn Fn(&LoadedModel) -> PredictOptions,
        on_file: &(dyn Fn() + Sync),
    ) -> Result<Vec<Vec<FileResult>>> {
        self.members
            .iter()
            .map(|m| predict_files(m, files, &options_for(m), on_file))
            .collect()
    }

    /// The weighted average of the members' results, file by file.
    pub fn predict(
        &self,
        files: &[PathBuf],
        options: &PredictOptions,
        on_file: &(dyn Fn() + Sync),
    ) -> Result<Vec<FileResult>> {
        let per_member = self.member_results(files, &|_| options.clone(), on_file)?;
        Ok(combine(&per_member, &self.weights, self.classes()))
    }
}

/// The middle seconds a member's own evaluation reads of each clip.
pub fn evaluation_options(member: &LoadedModel) -> PredictOptions {
    let config = member.config();
    PredictOptions {
        middle_seconds: Some(match member {
            LoadedModel::Cnn(_) => config.training.cache_seconds,
            LoadedModel::Baseline(_) => config.features.clip_seconds,
        }),
        ..PredictOptions::default()
    }
}

/// Averages the members' predictions of each file with `weights`. A file
/// any member failed on fails with that member's error. Windows are kept
/// when every member cut the same ones (a timeline), else left out.
pub fn combine(
    per_member: &[Vec<FileResult>],
    weights: &[f64],
    classes: &[String],
) -> Vec<FileResult> {
    let files = per_member[0].len();
    (0..files)
        .map(|f| {
            let results: Vec<&FileResult> = per_member.iter().map(|m| &m[f]).collect();
            let path = results[0].path.clone();
            if let Some(error) = results.iter().find_map(|r| r.error()) {
                return FileResult {
                    path,
                    outcome: Outcome::Failed {
                        error: error.to_string(),
                    },
                };
            }
            let predictions: Vec<&Prediction> =
                results.iter().filter_map(|r| r.prediction()).collect();
            FileResult {
                path,
                outcome: Outcome::Predicted(average(&predictions, weights, classes)),
            }
        })
        .collect()
}

fn weighted(rows: &[&[f32]], weights: &[f64]) -> Vec<f32> {
    let mut out = vec![0.0f64; rows[0].len()];
    for (row, w) in rows.iter().zip(weights) {
        for (o, &p) in out.iter_mut().zip(row.iter()) {
            *o += w * p as f64;
        }
    }
    out.into_iter().map(|v| v as f32).collect()
}

fn average(predictions: &[&Prediction], weights: &[f64], classes: &[String]) -> Prediction {
    let rows: Vec<&[f32]> = predictions
        .iter()
        .map(|p| p.probabilities.as_slice())
        .collect();
    let probabilities = weighted(&rows, weights);
    let best = argmax(&probabilities);
    let first = predictions[0];
    let same_windows = predictions.iter().all(|p| {
        p.windows.len() == first.windows.len()
            && p.windows
                .iter()
                .zip(&first.windows)
                .all(|(a, b)| (a.start, a.end) == (b.start, b.end))
    });
    let windows = if same_windows {
        (0..first.windows.len())
            .map(|w| {
                let rows: Vec<&[f32]> = predictions
                    .iter()
                    .map(|p| p.windows[w].probabilities.as_slice())
                    .collect();
                super::WindowPrediction {
                    start: first.windows[w].start,
                    end: first.windows[w].end,
                    probabilities: weighted(&rows, weights),
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    Prediction {
        label: classes[best].clone(),
        probability: probabilities[best],
        probabilities,
        duration_seconds: first.duration_seconds,
        windows,
    }
}

fn mixed(per_member: &[Vec<Vec<f32>>], weights: &[f64]) -> Vec<Vec<f32>> {
    (0..per_member[0].len())
        .map(|c| {
            let rows: Vec<&[f32]> = per_member.iter().map(|m| m[c].as_slice()).collect();
            weighted(&rows, weights)
        })
        .collect()
}

/// Weights on the simplex with the lowest log-loss of the mixture on
/// `labels`: from equal weights, moves of weight between two members in
/// shrinking steps while the loss falls. Deterministic.
pub fn fit_weights(per_member: &[Vec<Vec<f32>>], labels: &[usize]) -> Vec<f64> {
    let n = per_member.len();
    let mut weights = vec![1.0 / n as f64; n];
    let mut best = mean_log_loss(&mixed(per_member, &weights), labels);
    for step in [0.2f64, 0.1, 0.05, 0.02, 0.01] {
        loop {
            let mut improved = false;
            for to in 0..n {
                for from in (0..n).filter(|&f| f != to) {
                    let moved = step.min(weights[from]);
                    if moved <= 0.0 {
                        continue;
                    }
                    let mut trial = weights.clone();
                    trial[from] -= moved;
                    trial[to] += moved;
                    let loss = mean_log_loss(&mixed(per_member, &trial), labels);
                    if loss < best - 1e-12 {
                        (weights, best, improved) = (trial, loss, true);
                    }
                }
            }
            if !improved {
                break;
            }
        }
    }
    weights
}

/// A member's line in an ensemble report.
#[derive(Debug, Clone, Serialize)]
pub struct MemberReport {
    pub model: PathBuf,
    pub kind: &'static str,
    pub weight: f64,
    #[serde(flatten)]
    pub metrics: SplitMetrics,
}

/// What `evaluate --model A --model B ...` writes.
#[derive(Debug, Clone, Serialize)]
pub struct EnsembleReport {
    pub split: String,
    pub manifest: PathBuf,
    /// `equal`, `given` or `fitted on val (N clips)`.
    pub weights_from: String,
    pub members: Vec<MemberReport>,
    #[serde(flatten)]
    pub metrics: SplitMetrics,
    /// Clips left out because a member could not read them.
    pub skipped: Vec<FileResult>,
}

/// A split of a manifest as files and class indices; clips of other
/// classes are left out.
fn split_files(
    manifest: &Manifest,
    split: Split,
    classes: &[String],
) -> (Vec<PathBuf>, Vec<usize>) {
    manifest
        .clips
        .iter()
        .filter(|c| c.split == split)
        .filter_map(|c| {
            let label = classes.iter().position(|k| *k == c.label)?;
            Some((manifest.resolve(c), label))
        })
        .unzip()
}

/// Class probabilities of clips, one row per clip.
type Rows = Vec<Vec<f32>>;

/// Every member's probabilities on the clips all of them could read, the
/// clips' labels, and the results of the clips left out.
fn probabilities_on(
    ensemble: &Ensemble,
    manifest: &Manifest,
    split: Split,
) -> Result<(Vec<Rows>, Vec<usize>, Vec<FileResult>)> {
    let (files, labels) = split_files(manifest, split, ensemble.classes());
    if files.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "the manifest has no `{}` clips of the models' classes",
            split.as_str()
        )));
    }
    let per_member = ensemble.member_results(&files, &evaluation_options, &|| {})?;
    let combined = combine(&per_member, &ensemble.weights, ensemble.classes());
    let readable: Vec<usize> = (0..files.len())
        .filter(|&f| combined[f].prediction().is_some())
        .collect();
    let skipped = combined
        .into_iter()
        .filter(|r| r.prediction().is_none())
        .collect();
    let probabilities = per_member
        .iter()
        .map(|results| {
            readable
                .iter()
                .map(|&f| {
                    results[f]
                        .prediction()
                        .map(|p| p.probabilities.clone())
                        .unwrap_or_default()
                })
                .collect()
        })
        .collect();
    let labels = readable.iter().map(|&f| labels[f]).collect();
    Ok((probabilities, labels, skipped))
}

/// Evaluates `ensemble` on `split` of `manifest_path`, choosing weights as
/// `weights` says (fitted ones on the val split only).
pub fn evaluate_ensemble(
    ensemble: &mut Ensemble,
    manifest_path: &Path,
    split: Split,
    weights: &Weights,
) -> Result<EnsembleReport> {
    let manifest = Manifest::load(manifest_path)?;
    // The members' predictions do not depend on the weights: the val pass
    // that fits them serves as the evaluation when the split is val.
    let mut evaluated = None;
    let weights_from = match weights {
        Weights::Equal => "equal".to_string(),
        Weights::Given(w) => {
            ensemble.set_weights(w)?;
            "given".to_string()
        }
        Weights::FitOnVal => {
            let val = probabilities_on(ensemble, &manifest, Split::Val)?;
            ensemble.set_weights(&fit_weights(&val.0, &val.1))?;
            let from = format!("fitted on val ({} clips)", val.1.len());
            if split == Split::Val {
                evaluated = Some(val);
            }
            from
        }
    };
    let (per_member, labels, skipped) = match evaluated {
        Some(val) => val,
        None => probabilities_on(ensemble, &manifest, split)?,
    };
    let classes = ensemble.classes().to_vec();
    let members = ensemble
        .paths
        .iter()
        .zip(&ensemble.members)
        .zip(&per_member)
        .zip(&ensemble.weights)
        .map(|(((path, member), probabilities), &weight)| MemberReport {
            model: path.clone(),
            kind: member.kind(),
            weight,
            metrics: SplitMetrics::from_probabilities(&classes, probabilities, &labels),
        })
        .collect();
    let mixture = mixed(&per_member, &ensemble.weights);
    let metrics = SplitMetrics::from_probabilities(&classes, &mixture, &labels);
    Ok(EnsembleReport {
        split: split.as_str().to_string(),
        manifest: manifest_path.to_path_buf(),
        weights_from,
        members,
        metrics,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitted_weights_favour_the_better_member() {
        // Member 0 is right with 0.8, member 1 always says uniform.
        let labels: Vec<usize> = (0..40).map(|i| i % 2).collect();
        let good: Vec<Vec<f32>> = labels
            .iter()
            .map(|&l| {
                if l == 0 {
                    vec![0.8, 0.2]
                } else {
                    vec![0.2, 0.8]
                }
            })
            .collect();
        let flat = vec![vec![0.5f32, 0.5]; 40];
        let weights = fit_weights(&[good.clone(), flat.clone()], &labels);
        assert!(weights[0] > 0.99, "{weights:?}");
        assert!((weights.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let equal = mean_log_loss(&mixed(&[good.clone(), flat.clone()], &[0.5, 0.5]), &labels);
        let fitted = mean_log_loss(&mixed(&[good, flat], &weights), &labels);
        assert!(fitted < equal);
    }

    #[test]
    fn complementary_members_share_the_weight() {
        // Each member is sure and right on half the clips, unsure elsewhere.
        let labels: Vec<usize> = (0..40).map(|i| i % 2).collect();
        let member = |knows: usize| -> Vec<Vec<f32>> {
            (0..40)
                .map(|i| {
                    let l = labels[i];
                    if i % 4 / 2 == knows {
                        if l == 0 {
                            vec![0.95, 0.05]
                        } else {
                            vec![0.05, 0.95]
                        }
                    } else {
                        vec![0.5, 0.5]
                    }
                })
                .collect()
        };
        let weights = fit_weights(&[member(0), member(1)], &labels);
        assert!((weights[0] - 0.5).abs() < 0.05, "{weights:?}");
    }

    #[test]
    fn weights_parse_and_refuse_nonsense() {
        assert_eq!("equal".parse::<Weights>(), Ok(Weights::Equal));
        assert_eq!("val".parse::<Weights>(), Ok(Weights::FitOnVal));
        assert_eq!(
            "2, 1".parse::<Weights>(),
            Ok(Weights::Given(vec![2.0, 1.0]))
        );
        assert!("1,-1".parse::<Weights>().is_err());
        assert!("best".parse::<Weights>().is_err());
    }

    #[test]
    fn combining_averages_probabilities_and_keeps_shared_windows() {
        let result = |p: Vec<f32>, start: f64| FileResult {
            path: PathBuf::from("a.wav"),
            outcome: Outcome::Predicted(Prediction {
                label: String::new(),
                probability: 0.0,
                probabilities: p.clone(),
                duration_seconds: 3.0,
                windows: vec![super::super::WindowPrediction {
                    start,
                    end: start + 1.0,
                    probabilities: p,
                }],
            }),
        };
        let classes = vec!["a".to_string(), "b".to_string()];
        let same = combine(
            &[
                vec![result(vec![0.9, 0.1], 0.0)],
                vec![result(vec![0.3, 0.7], 0.0)],
            ],
            &[0.25, 0.75],
            &classes,
        );
        let p = same[0].prediction().unwrap();
        assert!((p.probabilities[0] - 0.45).abs() < 1e-6);
        assert_eq!(p.label, "b");
        assert_eq!(p.windows.len(), 1);
        let other = combine(
            &[
                vec![result(vec![0.9, 0.1], 0.0)],
                vec![result(vec![0.3, 0.7], 0.5)],
            ],
            &[0.5, 0.5],
            &classes,
        );
        assert!(other[0].prediction().unwrap().windows.is_empty());
        let failed = FileResult {
            path: PathBuf::from("a.wav"),
            outcome: Outcome::Failed {
                error: "unreadable".into(),
            },
        };
        let one_failed = combine(
            &[vec![result(vec![0.9, 0.1], 0.0)], vec![failed]],
            &[0.5, 0.5],
            &classes,
        );
        assert_eq!(one_failed[0].error(), Some("unreadable"));
    }
}

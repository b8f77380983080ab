//! The class prior a sampler trains under, and the correction back to the
//! data's own at inference.
//!
//! A model trained on balanced or square-root sampled batches learns class
//! probabilities under the sampled prior, so it names the classes the
//! sampler favours (the rare ones) too often on data distributed like the
//! training set. Bayes' rule undoes that: multiply each probability by
//! `natural / sampled` for its class and renormalise, which is adding
//! `log(natural / sampled)` to the logits (logit adjustment, Menon et al.
//! 2021). Training writes the train split's class counts and the sampler to
//! `class_prior.json` in the run folder, so `evaluate`, `predict` and
//! `serve` apply the same correction without the manifest;
//! `training.prior_correction` says whether they do.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::train::clips::Sampler;
use crate::util::atomic_write_str;

/// The train split's class counts and the sampler that drew from them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassPrior {
    pub classes: Vec<String>,
    /// Readable train clips per class, in `classes` order.
    pub train_clips: Vec<usize>,
    /// `training.sampler`: `shuffle`, `balanced` or `sqrt`.
    pub sampler: String,
}

/// Where a run keeps its [`ClassPrior`].
pub fn prior_path(run_dir: &Path) -> PathBuf {
    run_dir.join("class_prior.json")
}

impl ClassPrior {
    /// From the train clips' label indices.
    pub fn from_labels(classes: &[String], labels: &[usize], sampler: &str) -> Self {
        let mut train_clips = vec![0; classes.len()];
        for &label in labels {
            train_clips[label] += 1;
        }
        Self {
            classes: classes.to_vec(),
            train_clips,
            sampler: sampler.to_string(),
        }
    }

    /// Class frequencies of the train split.
    pub fn natural(&self) -> Vec<f64> {
        self.drawn_by(Sampler::Shuffle)
    }

    /// Class frequencies of the batches the sampler draws (classes without
    /// train clips are never drawn).
    pub fn sampled(&self) -> Vec<f64> {
        self.drawn_by(Sampler::from_name(&self.sampler))
    }

    fn drawn_by(&self, sampler: Sampler) -> Vec<f64> {
        let weights: Vec<f64> = self
            .train_clips
            .iter()
            .map(|&n| sampler.class_weight(n))
            .collect();
        let total: f64 = weights.iter().sum();
        if total > 0.0 {
            weights.iter().map(|w| w / total).collect()
        } else {
            weights
        }
    }

    /// Per-class factors `natural / sampled` that move probabilities from
    /// the sampled prior to the data's (1 for a class never drawn).
    pub fn correction(&self) -> Vec<f32> {
        self.natural()
            .iter()
            .zip(self.sampled())
            .map(|(&n, s)| if s > 0.0 { (n / s) as f32 } else { 1.0 })
            .collect()
    }

    pub fn save(&self, run_dir: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        atomic_write_str(&prior_path(run_dir), &json)
    }

    /// The run's prior, checked against the classes its model outputs.
    pub fn load(run_dir: &Path, classes: &[String]) -> Result<Self> {
        let path = prior_path(run_dir);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::ConfigValue {
            key: "training.prior_correction".into(),
            reason: format!(
                "needs {} (written by training since this option exists; \
                 a run trained before has none): {e}",
                path.display()
            ),
        })?;
        let prior: Self = serde_json::from_str(&text).map_err(|e| Error::ConfigValue {
            key: "training.prior_correction".into(),
            reason: format!("{}: {e}", path.display()),
        })?;
        if prior.classes != classes || prior.train_clips.len() != classes.len() {
            return Err(Error::ConfigValue {
                key: "training.prior_correction".into(),
                reason: format!(
                    "{} lists classes {:?}, the model outputs {classes:?}",
                    path.display(),
                    prior.classes
                ),
            });
        }
        Ok(prior)
    }
}

/// The correction factors a run's config asks for: `None` unless
/// `training.prior_correction` is set.
pub fn run_correction(
    run_dir: &Path,
    enabled: bool,
    classes: &[String],
) -> Result<Option<Vec<f32>>> {
    if !enabled {
        return Ok(None);
    }
    Ok(Some(ClassPrior::load(run_dir, classes)?.correction()))
}

/// Multiply each row of `rows` (`[n x k]` class probabilities, row-major)
/// by `factors` and renormalise it.
pub fn correct_rows(rows: &mut [f32], factors: &[f32]) {
    for row in rows.chunks_mut(factors.len()) {
        let mut total = 0.0;
        for (p, &f) in row.iter_mut().zip(factors) {
            *p *= f;
            total += *p;
        }
        if total > 0.0 {
            row.iter_mut().for_each(|p| *p /= total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prior(sampler: &str) -> ClassPrior {
        let classes: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        // 9, 4 and 1 clips: square roots 3, 2, 1.
        let labels: Vec<usize> = [vec![0; 9], vec![1; 4], vec![2; 1]].concat();
        ClassPrior::from_labels(&classes, &labels, sampler)
    }

    #[test]
    fn sampled_priors_follow_the_sampler() {
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12);
        assert!(close(
            &prior("sqrt").sampled(),
            &[0.5, 2.0 / 6.0, 1.0 / 6.0]
        ));
        assert!(close(&prior("balanced").sampled(), &[1.0 / 3.0; 3]));
        assert!(close(
            &prior("shuffle").sampled(),
            &[9.0 / 14.0, 4.0 / 14.0, 1.0 / 14.0]
        ));
        assert_eq!(prior("shuffle").correction(), vec![1.0; 3]);
    }

    #[test]
    fn correction_undoes_the_sampled_prior() {
        // A model that learned only the sampled prior (an uninformative
        // input) answers with it; corrected, it answers with the data's.
        for sampler in ["sqrt", "balanced"] {
            let p = prior(sampler);
            let mut rows: Vec<f32> = p.sampled().iter().map(|&v| v as f32).collect();
            correct_rows(&mut rows, &p.correction());
            for (got, want) in rows.iter().zip(p.natural()) {
                assert!((*got as f64 - want).abs() < 1e-6, "{sampler}: {rows:?}");
            }
        }
        // A row that favours the rare class: the correction can flip it.
        let p = prior("balanced");
        let mut row = vec![0.3, 0.3, 0.4];
        correct_rows(&mut row, &p.correction());
        assert!(row[0] > row[2], "{row:?}");
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn saved_priors_load_and_are_checked_against_the_classes() {
        let dir = tempfile::tempdir().unwrap();
        let p = prior("sqrt");
        p.save(dir.path()).unwrap();
        assert_eq!(ClassPrior::load(dir.path(), &p.classes).unwrap(), p);
        let other: Vec<String> = ["a", "b", "d"].map(String::from).to_vec();
        let err = ClassPrior::load(dir.path(), &other)
            .unwrap_err()
            .to_string();
        assert!(err.contains("training.prior_correction"), "{err}");
        assert!(err.contains("class_prior.json"), "{err}");
        let empty = tempfile::tempdir().unwrap();
        let err = run_correction(empty.path(), true, &p.classes)
            .unwrap_err()
            .to_string();
        assert!(err.contains("class_prior.json"), "{err}");
        assert_eq!(
            run_correction(empty.path(), false, &p.classes).unwrap(),
            None
        );
    }
}

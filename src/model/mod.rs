//! Models. The classic classifiers on hand-made features (gradient-boosted
//! trees, random forest, logistic regression, AdaBoost) share one
//! [`Classifier`] type that saves to JSON with its scaler, classes and
//! feature names, so a reloaded model predicts identically.

pub mod adaboost;
pub mod binning;
pub mod cnn;
pub mod gbdt;
pub mod logistic;
pub mod tree;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::util::atomic_write_str;

pub use adaboost::{AdaBoost, BaseParams};
pub use binning::{BinCuts, BinnedMatrix};
pub use gbdt::{EvalSet, Gbdt, GbdtParams};
pub use logistic::LogisticRegression;
pub use tree::{ForestParams, RandomForest, Tree, TreeParams};

/// In-place softmax.
pub fn softmax(values: &mut [f64]) {
    let max = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let mut total = 0.0;
    for v in values.iter_mut() {
        *v = (*v - max).exp();
        total += *v;
    }
    values.iter_mut().for_each(|v| *v /= total);
}

/// Index of the largest value (the first on ties).
pub fn argmax<T: num_traits::Float>(values: &[T]) -> usize {
    values
        .iter()
        .enumerate()
        .fold((0, T::neg_infinity()), |(bi, bv), (i, &v)| {
            if v > bv {
                (i, v)
            } else {
                (bi, bv)
            }
        })
        .0
}

/// Per-feature standardisation, fitted on training rows only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
}

impl Standardizer {
    /// Mean and population standard deviation of each column (constant
    /// columns keep scale 1, as scikit-learn's StandardScaler).
    pub fn fit(x: &[f64], n: usize, d: usize) -> Self {
        let mut mean = vec![0.0; d];
        for i in 0..n {
            for f in 0..d {
                mean[f] += x[i * d + f];
            }
        }
        mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
        let mut var = vec![0.0; d];
        for i in 0..n {
            for f in 0..d {
                var[f] += (x[i * d + f] - mean[f]).powi(2);
            }
        }
        let scale = var
            .iter()
            .map(|v| {
                let s = (v / n.max(1) as f64).sqrt();
                if s > 1e-12 {
                    s
                } else {
                    1.0
                }
            })
            .collect();
        Self { mean, scale }
    }

    pub fn transform(&self, x: &[f64]) -> Vec<f64> {
        let d = self.mean.len();
        x.iter()
            .enumerate()
            .map(|(j, v)| (v - self.mean[j % d]) / self.scale[j % d])
            .collect()
    }
}

/// One of the classic classifiers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Classifier {
    Gbdt(Gbdt),
    RandomForest(RandomForest),
    LogisticRegression(LogisticRegression),
    AdaBoost(AdaBoost),
}

impl Classifier {
    /// Class probabilities of one standardised row.
    pub fn predict_proba(&self, x: &[f64]) -> Vec<f64> {
        match self {
            Classifier::Gbdt(m) => m.predict_proba(x),
            Classifier::RandomForest(m) => m.predict_proba(x),
            Classifier::LogisticRegression(m) => m.predict_proba(x),
            Classifier::AdaBoost(m) => m.predict_proba(x),
        }
    }
}

/// A fitted model as saved in a run folder: everything needed to predict
/// from a raw feature row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedModel {
    pub name: String,
    /// Hyperparameters as `key=value` pairs.
    pub params: Vec<(String, String)>,
    pub classes: Vec<String>,
    pub feature_names: Vec<String>,
    pub scaler: Standardizer,
    pub model: Classifier,
}

impl SavedModel {
    /// Predicted class index of each raw (unscaled) row, row-major.
    pub fn predict(&self, x: &[f64]) -> Vec<usize> {
        let d = self.feature_names.len();
        x.chunks(d)
            .map(|row| argmax(&self.predict_proba(row)))
            .collect()
    }

    /// Class probabilities of one raw (unscaled) row.
    pub fn predict_proba(&self, row: &[f64]) -> Vec<f64> {
        self.model.predict_proba(&self.scaler.transform(row))
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_string(self)
            .map_err(|e| Error::InvalidArgument(format!("cannot serialise model: {e}")))?;
        atomic_write_str(path, &json)
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| Error::Model {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }
}

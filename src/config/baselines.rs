//! `[baselines]`: the feature-based models, their hyperparameter grids and
//! the grouped cross-validation that picks from them.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Model names `baselines.models` accepts.
pub const BASELINE_MODELS: [&str; 5] = [
    "gbdt",
    "random_forest",
    "logistic_regression",
    "adaboost_tree",
    "adaboost_forest",
];

/// Features tried per split in a random-forest tree.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum MaxFeatures {
    Sqrt,
    Log2,
    All,
    Fraction(f64),
}

impl MaxFeatures {
    /// `sqrt`, `log2`, `all` or a fraction in (0, 1].
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "sqrt" => Some(Self::Sqrt),
            "log2" => Some(Self::Log2),
            "all" => Some(Self::All),
            other => other
                .parse::<f64>()
                .ok()
                .filter(|f| *f > 0.0 && *f <= 1.0)
                .map(Self::Fraction),
        }
    }

    /// How many of `n_features` to try (at least one), as scikit-learn counts.
    pub fn count(self, n_features: usize) -> usize {
        let n = n_features as f64;
        let k = match self {
            Self::Sqrt => n.sqrt().floor(),
            Self::Log2 => n.log2().floor(),
            Self::All => n,
            Self::Fraction(f) => (f * n).floor(),
        };
        (k as usize).clamp(1, n_features.max(1))
    }
}

/// `[baselines]`: the models, their grids and the cross-validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BaselinesConfig {
    /// Cross-validation folds for grid search (stratified, grouped).
    pub cv_folds: usize,
    /// Seed of fold assignment and of every randomised model.
    pub seed: u64,
    /// Which models run, in this order: `gbdt`, `random_forest`,
    /// `logistic_regression`, `adaboost_tree`, `adaboost_forest`.
    pub models: Vec<String>,
    /// Worker threads (0: all cores).
    pub threads: usize,
    pub gbdt: GbdtGrid,
    pub random_forest: ForestGrid,
    pub logistic_regression: LogisticGrid,
    pub adaboost_tree: AdaBoostTreeGrid,
    pub adaboost_forest: AdaBoostForestGrid,
}

impl Default for BaselinesConfig {
    fn default() -> Self {
        Self {
            cv_folds: 5,
            seed: 42,
            models: [
                "gbdt",
                "random_forest",
                "logistic_regression",
                "adaboost_tree",
                "adaboost_forest",
            ]
            .map(String::from)
            .to_vec(),
            threads: 0,
            gbdt: GbdtGrid::default(),
            random_forest: ForestGrid::default(),
            logistic_regression: LogisticGrid::default(),
            adaboost_tree: AdaBoostTreeGrid::default(),
            adaboost_forest: AdaBoostForestGrid::default(),
        }
    }
}

/// Gradient-boosted trees (XGBoost's `hist` names in brackets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GbdtGrid {
    /// Boosting rounds (`n_estimators`); one tree per class per round.
    pub n_estimators: Vec<usize>,
    /// Depth of each tree (`max_depth`).
    pub max_depth: Vec<usize>,
    /// Shrinkage (`learning_rate`, eta).
    pub learning_rate: Vec<f64>,
    /// Row subsampling per round (`subsample`).
    pub subsample: Vec<f64>,
    /// Column subsampling per tree (`colsample_bytree`).
    pub colsample: Vec<f64>,
    /// L2 penalty on leaf weights (`reg_lambda`).
    pub l2: Vec<f64>,
    /// Minimum hessian sum in a child (`min_child_weight`).
    pub min_child_weight: Vec<f64>,
    /// Histogram bins per feature (`max_bin`).
    pub max_bins: usize,
    /// Stop when validation loss has not improved for this many rounds
    /// (refit on train only, against the val split; 0 disables).
    pub early_stopping_rounds: usize,
}

impl Default for GbdtGrid {
    fn default() -> Self {
        Self {
            n_estimators: vec![300],
            max_depth: vec![3, 6],
            learning_rate: vec![0.05, 0.1],
            subsample: vec![0.8],
            colsample: vec![0.8],
            l2: vec![1.0],
            min_child_weight: vec![1.0],
            max_bins: 256,
            early_stopping_rounds: 30,
        }
    }
}

/// Random forest of Gini trees on bootstrap samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForestGrid {
    pub n_estimators: Vec<usize>,
    /// Maximum tree depth; 0 grows until leaves are pure.
    pub max_depth: Vec<usize>,
    /// Features tried per split: `sqrt`, `log2`, `all` or a fraction like `0.3`.
    pub max_features: Vec<String>,
    pub min_samples_leaf: Vec<usize>,
}

impl Default for ForestGrid {
    fn default() -> Self {
        Self {
            n_estimators: vec![300],
            max_depth: vec![0],
            max_features: vec!["sqrt".into(), "log2".into()],
            min_samples_leaf: vec![1, 3],
        }
    }
}

/// Multinomial logistic regression with an L2 penalty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogisticGrid {
    /// Inverse regularisation strength, as scikit-learn's `C`.
    pub c: Vec<f64>,
    /// Iteration cap of the L-BFGS solver.
    pub max_iter: usize,
}

impl Default for LogisticGrid {
    fn default() -> Self {
        Self {
            c: vec![0.01, 0.1, 1.0, 10.0],
            max_iter: 1000,
        }
    }
}

/// AdaBoost (SAMME) over shallow decision trees (depth 1: stumps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaBoostTreeGrid {
    pub n_estimators: Vec<usize>,
    pub learning_rate: Vec<f64>,
    pub max_depth: Vec<usize>,
}

impl Default for AdaBoostTreeGrid {
    fn default() -> Self {
        Self {
            n_estimators: vec![100, 300],
            learning_rate: vec![0.5, 1.0],
            max_depth: vec![1, 3],
        }
    }
}

/// AdaBoost (SAMME) whose base learner is a small random forest, as the
/// seed study ran it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaBoostForestGrid {
    pub n_estimators: Vec<usize>,
    pub learning_rate: Vec<f64>,
    /// Trees in each base forest.
    pub forest_trees: Vec<usize>,
    /// Depth of the base forests' trees (0: unlimited).
    pub forest_max_depth: Vec<usize>,
    pub max_features: Vec<String>,
}

impl Default for AdaBoostForestGrid {
    fn default() -> Self {
        Self {
            n_estimators: vec![10, 30],
            learning_rate: vec![1.0],
            forest_trees: vec![20],
            forest_max_depth: vec![6],
            max_features: vec!["sqrt".into()],
        }
    }
}

impl BaselinesConfig {
    /// Range checks that types alone cannot express; errors name the key
    /// under `baselines.`.
    pub fn validate(&self) -> Result<()> {
        if self.cv_folds < 2 {
            return bad("cv_folds", "must be at least 2");
        }
        if let Some(model) = self
            .models
            .iter()
            .find(|m| !BASELINE_MODELS.contains(&m.as_str()))
        {
            let known = BASELINE_MODELS.join(", ");
            return bad(
                "models",
                &format!("unknown model `{model}` (known: {known})"),
            );
        }
        let grids: [(&str, Vec<Rule>, bool); 5] = [
            ("gbdt", self.gbdt.rules(), self.gbdt.has_empty_list()),
            (
                "random_forest",
                self.random_forest.rules(),
                self.random_forest.has_empty_list(),
            ),
            (
                "logistic_regression",
                self.logistic_regression.rules(),
                self.logistic_regression.c.is_empty(),
            ),
            (
                "adaboost_tree",
                self.adaboost_tree.rules(),
                self.adaboost_tree.has_empty_list(),
            ),
            (
                "adaboost_forest",
                self.adaboost_forest.rules(),
                self.adaboost_forest.has_empty_list(),
            ),
        ];
        for (model, rules, empty_list) in grids {
            if let Some((key, _, what)) = rules.into_iter().find(|(_, holds, _)| !holds) {
                return bad(
                    &format!("{model}.{key}"),
                    &format!("every value must be {what}"),
                );
            }
            if empty_list && self.models.iter().any(|m| m == model) {
                return bad(model, "every grid list needs at least one value");
            }
        }
        Ok(())
    }
}

/// A grid key, whether its values keep the rule, and the rule in words.
type Rule = (&'static str, bool, &'static str);

fn bad(key: &str, reason: &str) -> Result<()> {
    Err(Error::ConfigValue {
        key: format!("baselines.{key}"),
        reason: reason.into(),
    })
}

fn positive(values: &[f64]) -> bool {
    values.iter().all(|v| *v > 0.0 && v.is_finite())
}

fn non_negative(values: &[f64]) -> bool {
    values.iter().all(|v| *v >= 0.0)
}

fn fraction(values: &[f64]) -> bool {
    values.iter().all(|v| *v > 0.0 && *v <= 1.0)
}

fn nonzero(values: &[usize]) -> bool {
    values.iter().all(|v| *v > 0)
}

fn max_features(values: &[String]) -> bool {
    values.iter().all(|m| MaxFeatures::parse(m).is_some())
}

const MAX_FEATURES_RULE: &str = "`sqrt`, `log2`, `all` or a fraction in (0, 1]";

impl GbdtGrid {
    fn rules(&self) -> Vec<Rule> {
        vec![
            ("n_estimators", nonzero(&self.n_estimators), "positive"),
            ("max_depth", nonzero(&self.max_depth), "positive"),
            ("learning_rate", positive(&self.learning_rate), "positive"),
            ("subsample", fraction(&self.subsample), "in (0, 1]"),
            ("colsample", fraction(&self.colsample), "in (0, 1]"),
            ("l2", non_negative(&self.l2), ">= 0"),
            (
                "min_child_weight",
                non_negative(&self.min_child_weight),
                ">= 0",
            ),
            (
                "max_bins",
                (2..=256).contains(&self.max_bins),
                "between 2 and 256",
            ),
        ]
    }

    fn has_empty_list(&self) -> bool {
        self.n_estimators.is_empty()
            || self.max_depth.is_empty()
            || self.learning_rate.is_empty()
            || self.subsample.is_empty()
            || self.colsample.is_empty()
            || self.l2.is_empty()
            || self.min_child_weight.is_empty()
    }
}

impl ForestGrid {
    fn rules(&self) -> Vec<Rule> {
        vec![
            ("n_estimators", nonzero(&self.n_estimators), "positive"),
            (
                "min_samples_leaf",
                nonzero(&self.min_samples_leaf),
                "positive",
            ),
            (
                "max_features",
                max_features(&self.max_features),
                MAX_FEATURES_RULE,
            ),
        ]
    }

    fn has_empty_list(&self) -> bool {
        self.n_estimators.is_empty()
            || self.max_depth.is_empty()
            || self.max_features.is_empty()
            || self.min_samples_leaf.is_empty()
    }
}

impl LogisticGrid {
    fn rules(&self) -> Vec<Rule> {
        vec![
            ("c", positive(&self.c), "positive"),
            ("max_iter", self.max_iter > 0, "positive"),
        ]
    }
}

impl AdaBoostTreeGrid {
    fn rules(&self) -> Vec<Rule> {
        vec![
            ("n_estimators", nonzero(&self.n_estimators), "positive"),
            ("learning_rate", positive(&self.learning_rate), "positive"),
            ("max_depth", nonzero(&self.max_depth), "positive"),
        ]
    }

    fn has_empty_list(&self) -> bool {
        self.n_estimators.is_empty() || self.learning_rate.is_empty() || self.max_depth.is_empty()
    }
}

impl AdaBoostForestGrid {
    fn rules(&self) -> Vec<Rule> {
        vec![
            ("n_estimators", nonzero(&self.n_estimators), "positive"),
            ("learning_rate", positive(&self.learning_rate), "positive"),
            ("forest_trees", nonzero(&self.forest_trees), "positive"),
            (
                "max_features",
                max_features(&self.max_features),
                MAX_FEATURES_RULE,
            ),
        ]
    }

    fn has_empty_list(&self) -> bool {
        self.n_estimators.is_empty()
            || self.learning_rate.is_empty()
            || self.forest_trees.is_empty()
            || self.forest_max_depth.is_empty()
            || self.max_features.is_empty()
    }
}

//! AdaBoost with the multiclass SAMME update, over weighted decision trees
//! (depth 1 gives stumps) or over small random forests, as the seed study
//! ran it with scikit-learn.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::argmax;
use super::binning::BinnedMatrix;
use super::tree::{fit_gini_tree, ForestParams, RandomForest, Tree, TreeParams};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum BaseLearner {
    Tree(Tree),
    Forest(RandomForest),
}

impl BaseLearner {
    fn predict(&self, x: &[f64]) -> usize {
        match self {
            BaseLearner::Tree(tree) => argmax(tree.leaf(x)),
            BaseLearner::Forest(forest) => argmax(&forest.predict_proba(x)),
        }
    }
}

/// Which base learner each boosting round fits.
#[derive(Debug, Clone, Copy)]
pub enum BaseParams {
    Tree(TreeParams),
    Forest(ForestParams),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdaBoost {
    pub n_classes: usize,
    pub learners: Vec<(f64, BaseLearner)>,
}

impl AdaBoost {
    /// SAMME: after each round, misclassified rows gain weight by
    /// `exp(alpha)`, `alpha = lr * (ln((1 - err) / err) + ln(K - 1))`.
    /// Boosting stops early when a learner is perfect or no better than
    /// chance, as scikit-learn does.
    #[allow(clippy::too_many_arguments)]
    pub fn fit(
        data: &BinnedMatrix,
        x: &[f64],
        y: &[usize],
        n_classes: usize,
        n_estimators: usize,
        learning_rate: f64,
        base: BaseParams,
        seed: u64,
    ) -> Self {
        let n = data.n;
        let d = data.cuts.n_features();
        let k = n_classes as f64;
        let mut weights = vec![1.0 / n as f64; n];
        let mut learners = Vec::new();
        for round in 0..n_estimators {
            let round_seed = seed.wrapping_add(round as u64);
            let learner = match base {
                BaseParams::Tree(params) => {
                    let mut rng = ChaCha8Rng::seed_from_u64(round_seed);
                    BaseLearner::Tree(fit_gini_tree(
                        data, y, n_classes, &weights, params, &mut rng,
                    ))
                }
                BaseParams::Forest(params) => BaseLearner::Forest(RandomForest::fit(
                    data,
                    y,
                    n_classes,
                    Some(&weights),
                    params,
                    round_seed,
                )),
            };
            let wrong: Vec<bool> = (0..n)
                .map(|i| learner.predict(&x[i * d..(i + 1) * d]) != y[i])
                .collect();
            let total: f64 = weights.iter().sum();
            let error = wrong
                .iter()
                .zip(&weights)
                .filter(|(w, _)| **w)
                .map(|(_, wt)| wt)
                .sum::<f64>()
                / total;
            if error <= 0.0 {
                learners.push((1.0, learner));
                break;
            }
            if error >= 1.0 - 1.0 / k {
                if learners.is_empty() {
                    learners.push((1.0, learner));
                }
                break;
            }
            let alpha = learning_rate * (((1.0 - error) / error).ln() + (k - 1.0).ln());
            for (w, &miss) in weights.iter_mut().zip(&wrong) {
                if miss && *w > 0.0 {
                    *w *= alpha.exp();
                }
            }
            let total: f64 = weights.iter().sum();
            weights.iter_mut().for_each(|w| *w /= total);
            learners.push((alpha, learner));
        }
        Self {
            n_classes,
            learners,
        }
    }

    /// Class scores: each learner's weight on the class it votes for,
    /// normalised to sum to one.
    pub fn predict_proba(&self, x: &[f64]) -> Vec<f64> {
        let mut votes = vec![0.0f64; self.n_classes];
        for (alpha, learner) in &self.learners {
            votes[learner.predict(x)] += alpha;
        }
        let total: f64 = votes.iter().sum();
        if total > 0.0 {
            votes.iter_mut().for_each(|v| *v /= total);
        }
        votes
    }
}

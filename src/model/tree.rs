//! Decision trees on binned features: Gini classification trees with sample
//! weights (random forest, AdaBoost) and the tree type the gradient booster
//! grows. Splits are found on histograms but stored as raw thresholds, so a
//! fitted tree predicts on unbinned rows.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::binning::BinnedMatrix;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Node {
    /// Rows with `x[feature] <= threshold` go left.
    Split {
        feature: u32,
        threshold: f64,
        left: u32,
        right: u32,
    },
    /// Class probabilities (classification) or one weight (boosting).
    Leaf(Vec<f64>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

impl Tree {
    /// Turn leaf `node` into a split of `rows` on binned `column` at `bin`
    /// (rows with bin <= `bin` go left) with `threshold` in feature units;
    /// returns the left child's index (the right one follows it) and the
    /// rows of each side.
    pub fn split_node(
        &mut self,
        node: usize,
        feature: usize,
        threshold: f64,
        column: &[u16],
        bin: usize,
        rows: &[u32],
    ) -> (usize, Vec<u32>, Vec<u32>) {
        let (left_rows, right_rows): (Vec<u32>, Vec<u32>) = rows
            .iter()
            .partition(|&&i| column[i as usize] as usize <= bin);
        let left = self.nodes.len();
        self.nodes.push(Node::Leaf(Vec::new()));
        self.nodes.push(Node::Leaf(Vec::new()));
        self.nodes[node] = Node::Split {
            feature: feature as u32,
            threshold,
            left: left as u32,
            right: left as u32 + 1,
        };
        (left, left_rows, right_rows)
    }

    /// The leaf value `x` (one row) lands in.
    pub fn leaf(&self, x: &[f64]) -> &[f64] {
        let mut i = 0usize;
        loop {
            match &self.nodes[i] {
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    i = if x[*feature as usize] <= *threshold {
                        *left as usize
                    } else {
                        *right as usize
                    }
                }
                Node::Leaf(value) => return value,
            }
        }
    }
}

/// Growth limits of a classification tree.
#[derive(Debug, Clone, Copy)]
pub struct TreeParams {
    /// 0: no limit.
    pub max_depth: usize,
    pub min_samples_leaf: usize,
    /// Features tried per split.
    pub max_features: usize,
}

struct Pending {
    node: usize,
    rows: Vec<u32>,
    depth: usize,
}

/// Grow a Gini tree on the rows with positive weight.
pub fn fit_gini_tree(
    data: &BinnedMatrix,
    y: &[usize],
    n_classes: usize,
    weights: &[f64],
    params: TreeParams,
    rng: &mut ChaCha8Rng,
) -> Tree {
    let d = data.cuts.n_features();
    let rows: Vec<u32> = (0..data.n as u32)
        .filter(|&i| weights[i as usize] > 0.0)
        .collect();
    let mut tree = Tree {
        nodes: vec![Node::Leaf(Vec::new())],
    };
    let mut stack = vec![Pending {
        node: 0,
        rows,
        depth: 0,
    }];
    let mut features: Vec<usize> = (0..d).collect();
    let max_bins = data.cuts.max_bins();
    let mut hist_w = vec![0.0f64; max_bins * n_classes];
    let mut hist_n = vec![0u32; max_bins];
    let mut sorted: Vec<(u16, u32)> = Vec::new();
    while let Some(Pending { node, rows, depth }) = stack.pop() {
        let mut totals = vec![0.0f64; n_classes];
        for &i in &rows {
            totals[y[i as usize]] += weights[i as usize];
        }
        let total: f64 = totals.iter().sum();
        let pure = totals.iter().filter(|&&w| w > 0.0).count() <= 1;
        let depth_done = params.max_depth > 0 && depth >= params.max_depth;
        let best = if pure || depth_done || rows.len() < 2 * params.min_samples_leaf {
            None
        } else {
            features.shuffle(rng);
            best_gini_split(
                data,
                y,
                weights,
                &rows,
                &features,
                params,
                &totals,
                (&mut hist_w, &mut hist_n, &mut sorted),
            )
        };
        let Some((feature, bin, next_bin)) = best else {
            let value = if total > 0.0 {
                totals.iter().map(|w| w / total).collect()
            } else {
                vec![1.0 / n_classes as f64; n_classes]
            };
            tree.nodes[node] = Node::Leaf(value);
            continue;
        };
        let threshold = data.cuts.threshold_between(feature, bin, next_bin);
        let (left, left_rows, right_rows) =
            tree.split_node(node, feature, threshold, data.column(feature), bin, &rows);
        stack.push(Pending {
            node: left + 1,
            rows: right_rows,
            depth: depth + 1,
        });
        stack.push(Pending {
            node: left,
            rows: left_rows,
            depth: depth + 1,
        });
    }
    tree
}

/// Best `(feature, bin, next bin present)` by weighted Gini decrease. As scikit-learn does,
/// features are drawn until `max_features` have been looked at and at
/// least one of them could be split. A node with fewer rows than a
/// feature has bins is scanned in sorted order; a larger one through a
/// per-bin histogram: both visit the same candidate splits.
#[allow(clippy::too_many_arguments)]
fn best_gini_split(
    data: &BinnedMatrix,
    y: &[usize],
    weights: &[f64],
    rows: &[u32],
    features: &[usize],
    params: TreeParams,
    totals: &[f64],
    (hist_w, hist_n, sorted): (&mut [f64], &mut [u32], &mut Vec<(u16, u32)>),
) -> Option<(usize, usize, usize)> {
    let k = totals.len();
    let total: f64 = totals.iter().sum();
    // Maximising sum(wl^2)/WL + sum(wr^2)/WR minimises the weighted Gini.
    // Like scikit-learn (min_impurity_decrease 0), an impure node is split
    // even when no split lowers its impurity: a later split may.
    let mut best: Option<(f64, usize, usize, usize)> = None;
    let mut left = vec![0.0f64; k];
    let consider = |left: &[f64],
                    left_n: usize,
                    (f, b, next): (usize, usize, usize),
                    best: &mut Option<(f64, usize, usize, usize)>| {
        let right_n = rows.len() - left_n;
        if left_n < params.min_samples_leaf || right_n < params.min_samples_leaf {
            return;
        }
        let wl: f64 = left.iter().sum();
        let wr = total - wl;
        if wl <= 0.0 || wr <= 0.0 {
            return;
        }
        let score = left.iter().map(|w| w * w).sum::<f64>() / wl
            + totals
                .iter()
                .zip(left)
                .map(|(t, l)| (t - l) * (t - l))
                .sum::<f64>()
                / wr;
        if best.is_none_or(|(s, _, _, _)| score > s) {
            *best = Some((score, f, b, next));
        }
    };
    for (visited, &f) in features.iter().enumerate() {
        if visited >= params.max_features && best.is_some() {
            break;
        }
        let n_bins = data.cuts.n_bins(f);
        if n_bins < 2 {
            continue;
        }
        let column = data.column(f);
        left.fill(0.0);
        let mut left_n = 0usize;
        if rows.len() < n_bins {
            sorted.clear();
            sorted.extend(rows.iter().map(|&i| (column[i as usize], i)));
            sorted.sort_unstable();
            for (j, &(b, i)) in sorted.iter().enumerate() {
                left[y[i as usize]] += weights[i as usize];
                left_n += 1;
                if let Some(&(next, _)) = sorted.get(j + 1) {
                    if next != b {
                        consider(&left, left_n, (f, b as usize, next as usize), &mut best);
                    }
                }
            }
        } else {
            hist_w[..n_bins * k].fill(0.0);
            hist_n[..n_bins].fill(0);
            for &i in rows {
                let b = column[i as usize] as usize;
                hist_w[b * k + y[i as usize]] += weights[i as usize];
                hist_n[b] += 1;
            }
            // Empty bins give the same partition as their predecessor.
            let present: Vec<usize> = (0..n_bins).filter(|&b| hist_n[b] > 0).collect();
            for pair in present.windows(2) {
                let (b, next) = (pair[0], pair[1]);
                left_n += hist_n[b] as usize;
                for c in 0..k {
                    left[c] += hist_w[b * k + c];
                }
                consider(&left, left_n, (f, b, next), &mut best);
            }
        }
    }
    best.map(|(_, f, b, next)| (f, b, next))
}

/// Random forest: Gini trees on bootstrap samples, probabilities averaged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomForest {
    pub n_classes: usize,
    pub trees: Vec<Tree>,
}

#[derive(Debug, Clone, Copy)]
pub struct ForestParams {
    pub n_trees: usize,
    pub tree: TreeParams,
    pub bootstrap: bool,
}

impl RandomForest {
    /// Fit on `data` with optional per-row weights (AdaBoost's), trees in
    /// parallel, tree `t` seeded from `seed` and `t` so results do not
    /// depend on thread count.
    pub fn fit(
        data: &BinnedMatrix,
        y: &[usize],
        n_classes: usize,
        sample_weight: Option<&[f64]>,
        params: ForestParams,
        seed: u64,
    ) -> Self {
        let n = data.n;
        let trees = (0..params.n_trees)
            .into_par_iter()
            .map(|t| {
                let mut rng = ChaCha8Rng::seed_from_u64(
                    seed.wrapping_mul(0x9E37_79B9).wrapping_add(t as u64),
                );
                // With row weights (AdaBoost's), the bootstrap draws rows in
                // proportion to them and the tree sees only the counts, as
                // scikit-learn >= 1.6 does; without bootstrap the weights
                // go to the tree as they are.
                let weights = match (params.bootstrap, sample_weight) {
                    (true, sw) => {
                        let mut counts = vec![0.0f64; n];
                        let cumulative: Option<Vec<f64>> = sw.map(|sw| {
                            sw.iter()
                                .scan(0.0, |acc, w| {
                                    *acc += w.max(0.0);
                                    Some(*acc)
                                })
                                .collect()
                        });
                        for _ in 0..n {
                            let i = match &cumulative {
                                Some(c) => {
                                    let total = c.last().copied().unwrap_or(0.0);
                                    let u = rng.random::<f64>() * total;
                                    c.partition_point(|&v| v <= u).min(n - 1)
                                }
                                None => rng.random_range(0..n),
                            };
                            counts[i] += 1.0;
                        }
                        counts
                    }
                    (false, Some(sw)) => sw.to_vec(),
                    (false, None) => vec![1.0; n],
                };
                fit_gini_tree(data, y, n_classes, &weights, params.tree, &mut rng)
            })
            .collect();
        Self { n_classes, trees }
    }

    pub fn predict_proba(&self, x: &[f64]) -> Vec<f64> {
        let mut p = vec![0.0; self.n_classes];
        for tree in &self.trees {
            for (a, b) in p.iter_mut().zip(tree.leaf(x)) {
                *a += b;
            }
        }
        let n = self.trees.len().max(1) as f64;
        p.iter_mut().for_each(|v| *v /= n);
        p
    }
}

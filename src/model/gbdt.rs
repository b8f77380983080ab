//! Gradient-boosted trees for multiclass softmax, XGBoost-style: one
//! regression tree per class per round on the softmax gradients and
//! hessians, histogram split finding, shrinkage, depth limit, row and column
//! subsampling, L2 on leaf weights, `min_child_weight`, and early stopping
//! on a validation set's log-loss.

use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::binning::BinnedMatrix;
use super::softmax;
use super::tree::{Node, Tree};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GbdtParams {
    pub n_rounds: usize,
    pub max_depth: usize,
    pub learning_rate: f64,
    pub subsample: f64,
    pub colsample: f64,
    pub l2: f64,
    pub min_child_weight: f64,
    pub max_bins: usize,
    /// 0 disables early stopping.
    pub early_stopping_rounds: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gbdt {
    pub n_classes: usize,
    /// `rounds[r][c]`: the tree of class `c` in round `r` (shrinkage
    /// already applied to its leaves).
    pub rounds: Vec<Vec<Tree>>,
    /// Total split gain per feature.
    pub gain: Vec<f64>,
    /// Splits per feature.
    pub splits: Vec<u32>,
    /// Validation log-loss per round, when early stopping ran.
    pub eval_logloss: Vec<f64>,
}

/// A validation set for early stopping: raw rows (row-major) and labels.
pub struct EvalSet<'a> {
    pub x: &'a [f64],
    pub y: &'a [usize],
}

struct GrowContext<'a> {
    data: &'a BinnedMatrix,
    grad: &'a [f64],
    hess: &'a [f64],
    params: &'a GbdtParams,
}

impl Gbdt {
    /// Fit on `data` (the binned form of the row-major `x`, `d` columns).
    pub fn fit(
        data: &BinnedMatrix,
        x: &[f64],
        y: &[usize],
        n_classes: usize,
        params: GbdtParams,
        eval: Option<EvalSet>,
        seed: u64,
    ) -> Self {
        let n = data.n;
        let d = data.cuts.n_features();
        let k = n_classes;
        let mut scores = vec![0.0f64; n * k];
        let mut model = Gbdt {
            n_classes,
            rounds: Vec::new(),
            gain: vec![0.0; d],
            splits: vec![0; d],
            eval_logloss: Vec::new(),
        };
        let n_eval = eval.as_ref().map(|e| e.y.len()).unwrap_or(0);
        let mut eval_scores = vec![0.0f64; n_eval * k];
        let (mut best_loss, mut best_round) = (f64::INFINITY, 0usize);
        let row_count = ((params.subsample * n as f64).round() as usize).clamp(1, n);
        let col_count = ((params.colsample * d as f64).round() as usize).clamp(1, d);
        for round in 0..params.n_rounds {
            // One RNG per round, drawn in a fixed order (rows, then each
            // class's column seed), so a fit is reproducible for its seed.
            let mut rng = ChaCha8Rng::seed_from_u64(
                seed ^ (round as u64).wrapping_mul(0x2545_F491_4F6C_DD1D),
            );
            let rows = sample_rows(&mut rng, n, row_count);
            let (grad, hess) = softmax_gradients(&scores, y, k);
            let class_seeds: Vec<u64> = (0..k).map(|_| rng.random()).collect();
            let trees = (0..k)
                .into_par_iter()
                .map(|c| {
                    let context = GrowContext {
                        data,
                        grad: &grad[c * n..(c + 1) * n],
                        hess: &hess[c * n..(c + 1) * n],
                        params: &params,
                    };
                    let features = sample_columns(class_seeds[c], d, col_count);
                    grow_tree(&context, rows.clone(), &features)
                })
                .collect::<Vec<_>>();
            let mut round_trees = Vec::with_capacity(k);
            for (c, (tree, splits)) in trees.into_iter().enumerate() {
                for (f, gain) in splits {
                    model.gain[f] += gain;
                    model.splits[f] += 1;
                }
                add_tree_scores(&tree, c, (x, d), k, &mut scores);
                if let Some(e) = &eval {
                    add_tree_scores(&tree, c, (e.x, d), k, &mut eval_scores);
                }
                round_trees.push(tree);
            }
            model.rounds.push(round_trees);
            if let Some(e) = &eval {
                let loss = log_loss(&eval_scores, e.y, k);
                model.eval_logloss.push(loss);
                if loss < best_loss {
                    (best_loss, best_round) = (loss, round);
                } else if params.early_stopping_rounds > 0
                    && round - best_round >= params.early_stopping_rounds
                {
                    break;
                }
            }
        }
        if eval.is_some() && params.early_stopping_rounds > 0 {
            model.rounds.truncate(best_round + 1);
        }
        model
    }

    pub fn predict_proba(&self, x: &[f64]) -> Vec<f64> {
        let mut scores = vec![0.0f64; self.n_classes];
        for round in &self.rounds {
            for (s, tree) in scores.iter_mut().zip(round) {
                *s += tree.leaf(x)[0];
            }
        }
        softmax(&mut scores);
        scores
    }

    /// Average gain per split of each feature (XGBoost's `gain` importance).
    pub fn importance(&self) -> Vec<f64> {
        self.gain
            .iter()
            .zip(&self.splits)
            .map(|(g, &s)| if s > 0 { g / s as f64 } else { 0.0 })
            .collect()
    }
}

/// The rows one round's trees see: a sample without replacement when
/// `subsample` < 1, in ascending order.
fn sample_rows(rng: &mut ChaCha8Rng, n: usize, row_count: usize) -> Vec<u32> {
    let mut rows: Vec<u32> = if row_count < n {
        sample(rng, n, row_count)
            .into_iter()
            .map(|i| i as u32)
            .collect()
    } else {
        (0..n as u32).collect()
    };
    rows.sort_unstable();
    rows
}

/// The columns one class's tree may split on (`colsample`), ascending.
fn sample_columns(class_seed: u64, d: usize, col_count: usize) -> Vec<usize> {
    let mut class_rng = ChaCha8Rng::seed_from_u64(class_seed);
    let mut features: Vec<usize> = if col_count < d {
        sample(&mut class_rng, d, col_count).into_iter().collect()
    } else {
        (0..d).collect()
    };
    features.sort_unstable();
    features
}

/// Softmax cross-entropy gradients and hessians of the current scores
/// (row-major, `k` per row), laid out class by class: `[c * n + i]`.
fn softmax_gradients(scores: &[f64], y: &[usize], k: usize) -> (Vec<f64>, Vec<f64>) {
    let n = y.len();
    let mut grad = vec![0.0f64; k * n];
    let mut hess = vec![0.0f64; k * n];
    let mut probabilities = vec![0.0f64; k];
    for i in 0..n {
        probabilities.copy_from_slice(&scores[i * k..(i + 1) * k]);
        softmax(&mut probabilities);
        for c in 0..k {
            let p = probabilities[c];
            grad[c * n + i] = p - if y[i] == c { 1.0 } else { 0.0 };
            hess[c * n + i] = (2.0 * p * (1.0 - p)).max(1e-16);
        }
    }
    (grad, hess)
}

/// Adds class `c`'s new tree to the scores (`k` per row) of `rows`, a
/// row-major matrix of `d` columns.
fn add_tree_scores(tree: &Tree, c: usize, rows: (&[f64], usize), k: usize, scores: &mut [f64]) {
    let (x, d) = rows;
    for (i, row) in x.chunks_exact(d).enumerate() {
        scores[i * k + c] += tree.leaf(row)[0];
    }
}

fn log_loss(scores: &[f64], y: &[usize], k: usize) -> f64 {
    let mut p = vec![0.0; k];
    let mut total = 0.0;
    for (i, &label) in y.iter().enumerate() {
        p.copy_from_slice(&scores[i * k..(i + 1) * k]);
        softmax(&mut p);
        total -= p[label].max(1e-15).ln();
    }
    total / y.len().max(1) as f64
}

/// Gradient and hessian sums per bin of every candidate feature:
/// `[features.len()][256]`.
type Histograms = Vec<[f64; 2]>;

fn build_histograms(ctx: &GrowContext, rows: &[u32], features: &[usize]) -> Histograms {
    let mut hist = vec![[0.0f64; 2]; features.len() * 256];
    for (slot, &f) in features.iter().enumerate() {
        let column = ctx.data.column(f);
        let h = &mut hist[slot * 256..(slot + 1) * 256];
        for &i in rows {
            let cell = &mut h[column[i as usize] as usize];
            cell[0] += ctx.grad[i as usize];
            cell[1] += ctx.hess[i as usize];
        }
    }
    hist
}

/// One depth-wise regression tree. Each node's histograms come from its
/// parent: the smaller child is built from its rows and the larger one is
/// the parent minus the smaller (LightGBM's subtraction trick), which
/// halves the work per level. Returns the tree and its splits'
/// `(feature, gain)`.
fn grow_tree(ctx: &GrowContext, rows: Vec<u32>, features: &[usize]) -> (Tree, Vec<(usize, f64)>) {
    let p = ctx.params;
    let mut tree = Tree {
        nodes: vec![Node::Leaf(Vec::new())],
    };
    let mut splits = Vec::new();
    let root_hist = build_histograms(ctx, &rows, features);
    let mut level = vec![(0usize, rows, root_hist)];
    for depth in 0..=p.max_depth {
        let mut next = Vec::new();
        for (node, rows, hist) in level {
            let (g, h) = rows.iter().fold((0.0, 0.0), |(g, h), &i| {
                (g + ctx.grad[i as usize], h + ctx.hess[i as usize])
            });
            let split = if depth < p.max_depth {
                best_split(ctx, features, &hist, g, h)
            } else {
                None
            };
            let Some((slot, bin, gain)) = split else {
                let weight = -g / (h + p.l2) * p.learning_rate;
                tree.nodes[node] = Node::Leaf(vec![weight]);
                continue;
            };
            let feature = features[slot];
            let threshold = ctx.data.cuts.threshold(feature, bin);
            let (left, left_rows, right_rows) = tree.split_node(
                node,
                feature,
                threshold,
                ctx.data.column(feature),
                bin,
                &rows,
            );
            splits.push((feature, gain));
            if depth + 1 < p.max_depth {
                let left_is_small = left_rows.len() <= right_rows.len();
                let small = build_histograms(
                    ctx,
                    if left_is_small {
                        &left_rows
                    } else {
                        &right_rows
                    },
                    features,
                );
                let mut large = hist;
                for (l, s) in large.iter_mut().zip(&small) {
                    l[0] -= s[0];
                    l[1] -= s[1];
                }
                let (left_hist, right_hist) = if left_is_small {
                    (small, large)
                } else {
                    (large, small)
                };
                next.push((left, left_rows, left_hist));
                next.push((left + 1, right_rows, right_hist));
            } else {
                // Children at the depth limit become leaves: no histograms.
                next.push((left, left_rows, Vec::new()));
                next.push((left + 1, right_rows, Vec::new()));
            }
        }
        if next.is_empty() {
            break;
        }
        level = next;
    }
    (tree, splits)
}

/// Best `(feature slot, bin, gain)` with both children above
/// `min_child_weight`.
fn best_split(
    ctx: &GrowContext,
    features: &[usize],
    hist: &Histograms,
    g: f64,
    h: f64,
) -> Option<(usize, usize, f64)> {
    let p = ctx.params;
    if h < 2.0 * p.min_child_weight {
        return None;
    }
    let parent = g * g / (h + p.l2);
    let mut best: Option<(usize, usize, f64)> = None;
    for (slot, &f) in features.iter().enumerate() {
        let n_bins = ctx.data.cuts.n_bins(f);
        if n_bins < 2 {
            continue;
        }
        let (mut gl, mut hl) = (0.0, 0.0);
        for (b, cell) in hist[slot * 256..slot * 256 + n_bins - 1].iter().enumerate() {
            // Subtraction leaves rounding dust in empty bins.
            if cell[1] <= 1e-12 {
                continue;
            }
            gl += cell[0];
            hl += cell[1];
            let (gr, hr) = (g - gl, h - hl);
            if hl < p.min_child_weight {
                continue;
            }
            if hr < p.min_child_weight {
                break;
            }
            let gain = gl * gl / (hl + p.l2) + gr * gr / (hr + p.l2) - parent;
            if gain > 1e-6 && best.is_none_or(|(_, _, g)| gain > g) {
                best = Some((slot, b, gain));
            }
        }
    }
    best
}

//! Multinomial logistic regression with an L2 penalty, fitted by L-BFGS:
//! the objective scikit-learn's `LogisticRegression(C=...)` minimises,
//! `C * sum(cross-entropy) + ||W||^2 / 2` (intercepts not penalised), which
//! is smooth and convex, so L-BFGS converges on standardised features.

use serde::{Deserialize, Serialize};

use super::softmax;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticRegression {
    pub n_classes: usize,
    pub n_features: usize,
    /// `[k][d + 1]`, the intercept last.
    pub coefficients: Vec<f64>,
    pub iterations: usize,
    pub converged: bool,
}

impl LogisticRegression {
    pub fn fit(
        x: &[f64],
        y: &[usize],
        n: usize,
        d: usize,
        k: usize,
        c: f64,
        max_iter: usize,
    ) -> Self {
        let dim = k * (d + 1);
        let objective = |w: &[f64], grad: &mut [f64]| -> f64 {
            grad.fill(0.0);
            let mut loss = 0.0;
            let mut p = vec![0.0f64; k];
            for i in 0..n {
                let row = &x[i * d..(i + 1) * d];
                for (class, value) in p.iter_mut().enumerate() {
                    let coef = &w[class * (d + 1)..(class + 1) * (d + 1)];
                    *value = coef[d] + coef[..d].iter().zip(row).map(|(a, b)| a * b).sum::<f64>();
                }
                let max = p.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let log_sum = max + p.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
                loss += log_sum - p[y[i]];
                softmax(&mut p);
                for class in 0..k {
                    let residual = p[class] - if y[i] == class { 1.0 } else { 0.0 };
                    let g = &mut grad[class * (d + 1)..(class + 1) * (d + 1)];
                    for (gj, xj) in g[..d].iter_mut().zip(row) {
                        *gj += residual * xj;
                    }
                    g[d] += residual;
                }
            }
            // Scaled by 1/(C n) so the tolerance does not depend on n.
            let scale = 1.0 / n.max(1) as f64;
            let penalty = 1.0 / (c * n.max(1) as f64);
            let mut total = loss * scale;
            for class in 0..k {
                for j in 0..=d {
                    let idx = class * (d + 1) + j;
                    grad[idx] *= scale;
                    if j < d {
                        total += 0.5 * penalty * w[idx] * w[idx];
                        grad[idx] += penalty * w[idx];
                    }
                }
            }
            total
        };
        let (coefficients, iterations, converged) =
            lbfgs(objective, vec![0.0; dim], max_iter, 1e-6);
        Self {
            n_classes: k,
            n_features: d,
            coefficients,
            iterations,
            converged,
        }
    }

    pub fn predict_proba(&self, x: &[f64]) -> Vec<f64> {
        let d = self.n_features;
        let mut p: Vec<f64> = (0..self.n_classes)
            .map(|class| {
                let coef = &self.coefficients[class * (d + 1)..(class + 1) * (d + 1)];
                coef[d] + coef[..d].iter().zip(x).map(|(a, b)| a * b).sum::<f64>()
            })
            .collect();
        softmax(&mut p);
        p
    }
}

/// Limited-memory BFGS (10 pairs) with a backtracking Armijo line search.
/// Stops when the largest gradient component is below `tolerance`.
fn lbfgs<F>(mut f: F, mut w: Vec<f64>, max_iter: usize, tolerance: f64) -> (Vec<f64>, usize, bool)
where
    F: FnMut(&[f64], &mut [f64]) -> f64,
{
    const MEMORY: usize = 10;
    let dim = w.len();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let mut grad = vec![0.0; dim];
    let mut value = f(&w, &mut grad);
    let mut history: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> = Default::default();
    let mut new_grad = vec![0.0; dim];
    for iteration in 0..max_iter {
        if grad.iter().fold(0.0f64, |m, g| m.max(g.abs())) < tolerance {
            return (w, iteration, true);
        }
        // Two-loop recursion for the search direction.
        let mut q = grad.clone();
        let mut alphas = Vec::with_capacity(history.len());
        for (s, y, rho) in history.iter().rev() {
            let a = rho * dot(s, &q);
            q.iter_mut().zip(y).for_each(|(qi, yi)| *qi -= a * yi);
            alphas.push(a);
        }
        if let Some((s, y, _)) = history.back() {
            let gamma = dot(s, y) / dot(y, y);
            q.iter_mut().for_each(|qi| *qi *= gamma);
        }
        for ((s, y, rho), a) in history.iter().zip(alphas.iter().rev()) {
            let b = rho * dot(y, &q);
            q.iter_mut().zip(s).for_each(|(qi, si)| *qi += (a - b) * si);
        }
        let mut direction: Vec<f64> = q.iter().map(|v| -v).collect();
        let mut slope = dot(&grad, &direction);
        if slope >= 0.0 {
            // Not a descent direction (numerical trouble): restart.
            history.clear();
            direction = grad.iter().map(|g| -g).collect();
            slope = dot(&grad, &direction);
        }
        let mut step = if history.is_empty() {
            1.0 / grad.iter().map(|g| g * g).sum::<f64>().sqrt().max(1.0)
        } else {
            1.0
        };
        let mut candidate = vec![0.0; dim];
        let mut accepted = false;
        for _ in 0..50 {
            for j in 0..dim {
                candidate[j] = w[j] + step * direction[j];
            }
            let new_value = f(&candidate, &mut new_grad);
            if new_value <= value + 1e-4 * step * slope {
                let s: Vec<f64> = (0..dim).map(|j| candidate[j] - w[j]).collect();
                let y: Vec<f64> = (0..dim).map(|j| new_grad[j] - grad[j]).collect();
                let sy = dot(&s, &y);
                if sy > 1e-12 {
                    if history.len() == MEMORY {
                        history.pop_front();
                    }
                    history.push_back((s, y, 1.0 / sy));
                }
                std::mem::swap(&mut w, &mut candidate);
                std::mem::swap(&mut grad, &mut new_grad);
                let improvement = value - new_value;
                value = new_value;
                accepted = true;
                if improvement.abs() <= 1e-14 * value.abs().max(1.0) {
                    return (w, iteration + 1, true);
                }
                break;
            }
            step *= 0.5;
        }
        if !accepted {
            return (w, iteration + 1, false);
        }
    }
    (w, max_iter, false)
}

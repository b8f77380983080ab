//! Feature quantisation for split finding: each feature's values are mapped
//! to at most `max_bins` bins at quantile cut points, so a split search
//! scans bins instead of sorting rows (as XGBoost's `hist` and LightGBM do).
//! With `max_bins` at least the number of distinct values every value gets
//! its own bin, and splits are exactly those of a sorting tree learner
//! (scikit-learn's), which AdaBoost needs: its weights concentrate on a few
//! rows that coarse bins cannot isolate.

use serde::{Deserialize, Serialize};

/// Most bins a feature can have (bins are stored as `u16`).
pub const MAX_BINS: usize = 1 << 16;

/// Cut points of every feature: a value `x` falls in bin `b` when
/// `cuts[b - 1] < x <= cuts[b]`, so "bin <= b" is "x <= cuts[b]" and a
/// split on bins is a threshold on raw values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinCuts {
    pub cuts: Vec<Vec<f64>>,
    /// Per feature, the distinct values when each has its own bin (empty
    /// when bins are quantiles): lets a node split halfway between the
    /// values it actually holds.
    #[serde(default)]
    pub values: Vec<Vec<f64>>,
}

impl BinCuts {
    /// Quantile cut points of `x` (`n` rows, `d` columns, row-major).
    pub fn fit(x: &[f64], n: usize, d: usize, max_bins: usize) -> Self {
        let max_bins = max_bins.clamp(2, MAX_BINS);
        let mut values = Vec::with_capacity(d);
        let cuts = (0..d)
            .map(|f| {
                let mut column: Vec<f64> = (0..n).map(|i| x[i * d + f]).collect();
                column.sort_by(f64::total_cmp);
                column.dedup();
                if column.len() <= max_bins {
                    // Few distinct values: cut halfway between neighbours.
                    let cuts = column.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect();
                    values.push(column);
                    cuts
                } else {
                    values.push(Vec::new());
                    let mut cuts: Vec<f64> = (1..max_bins)
                        .map(|b| {
                            let position = b as f64 * (column.len() - 1) as f64 / max_bins as f64;
                            let i = position.floor() as usize;
                            0.5 * (column[i] + column[i + 1])
                        })
                        .collect();
                    cuts.dedup();
                    cuts
                }
            })
            .collect();
        Self { cuts, values }
    }

    pub fn n_features(&self) -> usize {
        self.cuts.len()
    }

    /// Bins of feature `f` (one more than its cut points).
    pub fn n_bins(&self, f: usize) -> usize {
        self.cuts[f].len() + 1
    }

    pub fn bin(&self, f: usize, value: f64) -> u16 {
        self.cuts[f].partition_point(|&c| c < value) as u16
    }

    /// The largest bin count over features.
    pub fn max_bins(&self) -> usize {
        (0..self.n_features())
            .map(|f| self.n_bins(f))
            .max()
            .unwrap_or(1)
    }

    /// The raw threshold equivalent to "bin <= b".
    pub fn threshold(&self, f: usize, b: usize) -> f64 {
        self.cuts[f][b]
    }

    /// The threshold between bin `b` and the next bin a node holds,
    /// `next`: halfway between their values when bins are exact (as a
    /// sorting tree learner places it), else the cut after `b`.
    pub fn threshold_between(&self, f: usize, b: usize, next: usize) -> f64 {
        match self.values.get(f) {
            Some(values) if next < values.len() => 0.5 * (values[b] + values[next]),
            _ => self.cuts[f][b],
        }
    }

    /// Bin every value: column-major `[d][n]`, so a histogram over one
    /// feature reads one contiguous column.
    pub fn transform(&self, x: &[f64], n: usize) -> Vec<u16> {
        let d = self.n_features();
        let mut bins = vec![0u16; n * d];
        for f in 0..d {
            for i in 0..n {
                bins[f * n + i] = self.bin(f, x[i * d + f]);
            }
        }
        bins
    }
}

/// A binned training matrix.
#[derive(Debug, Clone)]
pub struct BinnedMatrix {
    pub cuts: BinCuts,
    /// Column-major `[d][n]`.
    pub bins: Vec<u16>,
    pub n: usize,
}

impl BinnedMatrix {
    pub fn new(x: &[f64], n: usize, d: usize, max_bins: usize) -> Self {
        let cuts = BinCuts::fit(x, n, d, max_bins);
        let bins = cuts.transform(x, n);
        Self { cuts, bins, n }
    }

    pub fn column(&self, f: usize) -> &[u16] {
        &self.bins[f * self.n..(f + 1) * self.n]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_agree_with_thresholds() {
        let x: Vec<f64> = (0..1000)
            .map(|i| ((i * 7919) % 1000) as f64 * 0.37)
            .collect();
        let cuts = BinCuts::fit(&x, 1000, 1, 16);
        assert_eq!(cuts.n_bins(0), 16);
        for &v in &x {
            let b = cuts.bin(0, v) as usize;
            if b < cuts.cuts[0].len() {
                assert!(v <= cuts.threshold(0, b));
            }
            if b > 0 {
                assert!(v > cuts.threshold(0, b - 1));
            }
        }
    }
}

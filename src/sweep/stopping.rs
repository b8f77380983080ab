//! Stopping unpromising trials early: ASHA (asynchronous successive
//! halving, as Ray Tune's AsyncHyperBand decides it) and the median
//! stopping rule. A trial is trained to each rung, its objective there (the
//! best so far) is recorded, and it goes on only if it compares well with
//! the trials before it in the sweep's order that reached the same rung.
//! Comparing with earlier trials only, and waiting for them to reach the
//! rung, makes every decision the same whether trials run in one process,
//! in several workers or as cluster jobs.

use serde::{Deserialize, Serialize};

use super::spec::Mode;

/// `[sweep.early_stopping]` of a spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum EarlyStopping {
    /// Rungs at `grace_epochs × reduction^k`; a trial passes a rung if it
    /// is in the top `1/reduction` of the trials recorded there.
    Asha { grace_epochs: usize, reduction: f64 },
    /// Rungs every `interval` epochs from `grace_epochs` on; a trial stops
    /// when it is worse than the median of the earlier trials there.
    Median {
        grace_epochs: usize,
        #[serde(default)]
        interval: Option<usize>,
    },
}

impl EarlyStopping {
    /// Problems with the settings, for the spec check.
    pub fn check(&self) -> Result<(), String> {
        match self {
            EarlyStopping::Asha {
                grace_epochs,
                reduction,
            } => {
                if *grace_epochs == 0 {
                    return Err("grace_epochs must be at least 1".into());
                }
                if !(reduction.is_finite() && *reduction >= 2.0) {
                    return Err("reduction must be at least 2".into());
                }
            }
            EarlyStopping::Median {
                grace_epochs,
                interval,
            } => {
                if *grace_epochs == 0 || *interval == Some(0) {
                    return Err("grace_epochs and interval must be at least 1".into());
                }
            }
        }
        Ok(())
    }

    /// Epochs (before the last) at which trials of `epochs` are judged.
    pub fn rungs(&self, epochs: usize) -> Vec<usize> {
        let mut rungs = Vec::new();
        match self {
            EarlyStopping::Asha {
                grace_epochs,
                reduction,
            } => {
                let mut rung = *grace_epochs as f64;
                while (rung.round() as usize) < epochs {
                    let epoch = rung.round() as usize;
                    if rungs.last() != Some(&epoch) {
                        rungs.push(epoch);
                    }
                    rung *= reduction;
                }
            }
            EarlyStopping::Median {
                grace_epochs,
                interval,
            } => {
                let step = interval.unwrap_or(*grace_epochs);
                rungs.extend((*grace_epochs..epochs).step_by(step));
            }
        }
        rungs
    }

    /// Whether a trial with `own` at a rung goes on, given the values of
    /// the earlier trials recorded at that rung.
    pub fn passes(&self, mode: Mode, own: f64, earlier: &[f64]) -> bool {
        // Written for "higher is better"; a minimised objective is negated.
        let sign = if mode == Mode::Max { 1.0 } else { -1.0 };
        let own = sign * own;
        let mut others: Vec<f64> = earlier.iter().map(|v| sign * v).collect();
        match self {
            EarlyStopping::Asha { reduction, .. } => {
                others.push(own);
                own >= percentile(&mut others, 1.0 - 1.0 / reduction)
            }
            EarlyStopping::Median { .. } => {
                others.is_empty() || own >= percentile(&mut others, 0.5)
            }
        }
    }
}

/// The `q` quantile (0..=1) with linear interpolation (numpy's default).
pub fn percentile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let position = q * (values.len() - 1) as f64;
    let (lo, hi) = (position.floor() as usize, position.ceil() as usize);
    values[lo] + (values[hi] - values[lo]) * (position - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASHA: EarlyStopping = EarlyStopping::Asha {
        grace_epochs: 1,
        reduction: 3.0,
    };

    #[test]
    fn rungs_grow_geometrically_or_evenly() {
        assert_eq!(ASHA.rungs(30), [1, 3, 9, 27]);
        assert_eq!(ASHA.rungs(27), [1, 3, 9]);
        let asha2 = EarlyStopping::Asha {
            grace_epochs: 2,
            reduction: 2.0,
        };
        assert_eq!(asha2.rungs(10), [2, 4, 8]);
        let median = EarlyStopping::Median {
            grace_epochs: 2,
            interval: Some(3),
        };
        assert_eq!(median.rungs(10), [2, 5, 8]);
    }

    /// A hand-worked example: six trials reach rung 1 in order with
    /// accuracies 0.50, 0.40, 0.70, 0.60, 0.30, 0.65 (reduction 3).
    #[test]
    fn asha_decisions_match_the_hand_worked_example() {
        let values = [0.50, 0.40, 0.70, 0.60, 0.30, 0.65];
        let decisions: Vec<bool> = (0..values.len())
            .map(|k| ASHA.passes(Mode::Max, values[k], &values[..k]))
            .collect();
        // t0 alone: cutoff = 0.50, passes. t1: {0.5, 0.4}, 2/3 quantile at
        // position 0.667 -> 0.467, 0.40 fails. t2: {0.4, 0.5, 0.7} ->
        // position 1.333 -> 0.567, passes. t3: {0.4, 0.5, 0.6, 0.7} ->
        // position 2 -> 0.60, passes (ties go on). t4: 0.30 is the lowest,
        // fails. t5: {0.3, 0.4, 0.5, 0.6, 0.65, 0.7} -> position 3.333 ->
        // 0.6167, passes.
        assert_eq!(decisions, [true, false, true, true, false, true]);
        // For a loss the same ranks, mirrored.
        let losses: Vec<f64> = values.iter().map(|v| 1.0 - v).collect();
        let mirrored: Vec<bool> = (0..losses.len())
            .map(|k| ASHA.passes(Mode::Min, losses[k], &losses[..k]))
            .collect();
        assert_eq!(mirrored, decisions);
    }

    #[test]
    fn median_rule_stops_below_the_median_of_earlier_trials() {
        let median = EarlyStopping::Median {
            grace_epochs: 1,
            interval: None,
        };
        assert!(median.passes(Mode::Max, 0.1, &[]));
        assert!(median.passes(Mode::Max, 0.5, &[0.4, 0.5, 0.9]));
        assert!(!median.passes(Mode::Max, 0.45, &[0.4, 0.5, 0.9]));
        // Even count: the median is the mean of the middle two.
        assert!(!median.passes(Mode::Max, 0.59, &[0.4, 0.6, 0.6, 0.9]));
        assert!(!median.passes(Mode::Min, 0.8, &[0.4, 0.5, 0.9]));
    }
}

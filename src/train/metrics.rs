//! Classification metrics from a confusion matrix, as scikit-learn defines
//! them (`accuracy_score`, `balanced_accuracy_score`, `f1_score(average=
//! "macro")` with zero_division=0).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::argmax;
use crate::util::open_csv;

/// Precision, recall and F1 of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub class: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

/// Everything one evaluation of a split reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitMetrics {
    pub clips: usize,
    /// Mean cross-entropy of the predictions (no label smoothing).
    pub loss: f64,
    pub accuracy: f64,
    pub balanced_accuracy: f64,
    pub macro_f1: f64,
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
}

/// Mean cross-entropy of class-probability rows (one per clip) against
/// `labels`, probabilities floored at 1e-12.
pub fn mean_log_loss<R: AsRef<[f32]>>(rows: &[R], labels: &[usize]) -> f64 {
    let total: f64 = rows
        .iter()
        .zip(labels)
        .map(|(row, &label)| -(row.as_ref()[label] as f64).max(1e-12).ln())
        .sum();
    total / labels.len().max(1) as f64
}

impl SplitMetrics {
    /// Metrics of class-probability rows (one per clip): each clip's
    /// argmax against `labels`, and the mean log-loss.
    pub fn from_probabilities<R: AsRef<[f32]>>(
        classes: &[String],
        rows: &[R],
        labels: &[usize],
    ) -> Self {
        let predicted: Vec<usize> = rows.iter().map(|r| argmax(r.as_ref())).collect();
        Self::from_predictions(classes, labels, &predicted, mean_log_loss(rows, labels))
    }

    /// Metrics of `predicted` against `labels`, with `loss` already averaged.
    pub fn from_predictions(
        classes: &[String],
        labels: &[usize],
        predicted: &[usize],
        loss: f64,
    ) -> Self {
        let k = classes.len();
        let mut confusion = vec![vec![0usize; k]; k];
        for (&truth, &guess) in labels.iter().zip(predicted) {
            confusion[truth][guess] += 1;
        }
        Self::from_confusion(classes, confusion, loss)
    }

    pub fn from_confusion(classes: &[String], confusion: Vec<Vec<usize>>, loss: f64) -> Self {
        let k = classes.len();
        let total: usize = confusion.iter().flatten().sum();
        let correct: usize = (0..k).map(|c| confusion[c][c]).sum();
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let per_class: Vec<ClassMetrics> = (0..k)
            .map(|c| {
                let support: usize = confusion[c].iter().sum();
                let predicted: usize = confusion.iter().map(|row| row[c]).sum();
                let precision = ratio(confusion[c][c], predicted);
                let recall = ratio(confusion[c][c], support);
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                ClassMetrics {
                    class: classes[c].clone(),
                    precision,
                    recall,
                    f1,
                    support,
                }
            })
            .collect();
        // Classes absent from the labels do not count in balanced accuracy
        // (scikit-learn warns and drops them); they do count in macro-F1.
        let present: Vec<&ClassMetrics> = per_class.iter().filter(|m| m.support > 0).collect();
        let balanced_accuracy = if present.is_empty() {
            0.0
        } else {
            present.iter().map(|m| m.recall).sum::<f64>() / present.len() as f64
        };
        let macro_f1 = if k == 0 {
            0.0
        } else {
            per_class.iter().map(|m| m.f1).sum::<f64>() / k as f64
        };
        Self {
            clips: total,
            loss,
            accuracy: ratio(correct, total),
            balanced_accuracy,
            macro_f1,
            per_class,
            confusion,
        }
    }
}

/// One row of a run's `metrics.csv` (written by training after every
/// epoch; read by sweep plots and reports).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsRow {
    pub epoch: usize,
    /// `train` (running metrics over augmented batches) or `val`.
    pub split: String,
    pub loss: f64,
    pub accuracy: f64,
    pub macro_f1: f64,
}

/// The rows of `metrics.csv`, columns found by name; a bad number is an
/// error naming the file and line.
pub fn read_metrics_csv(path: &Path) -> Result<Vec<MetricsRow>> {
    let (mut reader, header, lines) = open_csv(path, true)?;
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| Error::Csv {
                path: path.to_path_buf(),
                line: 1,
                reason: format!("no `{name}` column"),
            })
    };
    let (epoch, split, loss, accuracy, macro_f1) = (
        column("epoch")?,
        column("split")?,
        column("loss")?,
        column("accuracy")?,
        column("macro_f1")?,
    );
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| lines.error(e))?;
        let line = lines.line(record.position());
        let number = |i: usize| -> Result<f64> {
            record
                .get(i)
                .unwrap_or("")
                .trim()
                .parse::<f64>()
                .map_err(|_| Error::Csv {
                    path: path.to_path_buf(),
                    line,
                    reason: format!("`{}` is not a number", record.get(i).unwrap_or("")),
                })
        };
        rows.push(MetricsRow {
            epoch: number(epoch)? as usize,
            split: record.get(split).unwrap_or("").to_string(),
            loss: number(loss)?,
            accuracy: number(accuracy)?,
            macro_f1: number(macro_f1)?,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_scikit_learn_on_a_small_case() {
        // y_true = [0,0,0,1,1,2], y_pred = [0,0,1,1,2,2]; scikit-learn gives
        // accuracy 4/6, balanced (2/3 + 1/2 + 1)/3, macro-F1 mean of
        // (0.8, 0.5, 0.6667).
        let classes: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let m =
            SplitMetrics::from_predictions(&classes, &[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 2, 2], 0.5);
        assert!((m.accuracy - 4.0 / 6.0).abs() < 1e-12);
        assert!((m.balanced_accuracy - (2.0 / 3.0 + 0.5 + 1.0) / 3.0).abs() < 1e-12);
        let f1 = (0.8 + 0.5 + 2.0 / 3.0) / 3.0;
        assert!((m.macro_f1 - f1).abs() < 1e-12, "{}", m.macro_f1);
        assert_eq!(m.confusion[0], vec![2, 1, 0]);
        assert_eq!(m.per_class[2].support, 1);
    }

    #[test]
    fn absent_classes_give_zero_not_nan() {
        let classes: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        let m = SplitMetrics::from_predictions(&classes, &[0, 0], &[0, 0], 0.1);
        assert_eq!(m.accuracy, 1.0);
        assert_eq!(m.balanced_accuracy, 1.0);
        assert_eq!(m.macro_f1, 0.5);
        assert!(m.per_class.iter().all(|c| c.f1.is_finite()));
    }
}

//! What a sweep found: points ranked by their mean objective over repeats
//! (with the seeds' standard deviation, since seed noise here is several
//! points), and the marginal effect of every swept parameter.

use std::collections::BTreeMap;

use serde::Serialize;

use super::plots::write_plots;
use super::run::{SweepDir, TrialRecord, TrialState, TrialTable};
use super::spec::Mode;
use crate::error::Result;
use crate::util::{atomic_write, atomic_write_str};

/// One point of the space with its repeats' results.
#[derive(Debug, Clone, Serialize)]
pub struct PointResult {
    pub rank: usize,
    pub point: usize,
    pub values: Vec<(String, String)>,
    pub mean: f64,
    /// Sample standard deviation over repeats (0 for one repeat).
    pub std: f64,
    /// Finished repeats.
    pub count: usize,
    pub failed: usize,
    /// Repeats stopped at a rung (not in the mean).
    pub pruned: usize,
}

/// Mean ± std of the objective over every finished trial with one value
/// of one parameter.
#[derive(Debug, Clone, Serialize)]
pub struct Marginal {
    pub parameter: String,
    pub value: String,
    pub mean: f64,
    pub std: f64,
    pub count: usize,
}

/// A parameter value as people read it: strings without TOML's quotes.
pub(super) fn plain(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub use crate::util::mean_std;

/// The finished and failed trials of one point.
#[derive(Default)]
struct PointTally {
    values: Vec<(String, String)>,
    metrics: Vec<f64>,
    failed: usize,
    pruned: usize,
}

/// Points with at least one finished trial, best first.
pub fn rank_points(table: &TrialTable, mode: Mode) -> Vec<PointResult> {
    let mut by_point: BTreeMap<usize, PointTally> = BTreeMap::new();
    for record in &table.trials {
        let tally = by_point.entry(record.trial.point).or_default();
        if tally.values.is_empty() {
            tally.values = record
                .trial
                .values
                .iter()
                .map(|(k, v)| (k.clone(), plain(v)))
                .collect();
        }
        match (record.state, record.metric) {
            (TrialState::Done, Some(m)) => tally.metrics.push(m),
            (TrialState::Failed, _) => tally.failed += 1,
            (TrialState::Pruned, _) => tally.pruned += 1,
            _ => {}
        }
    }
    let mut points: Vec<PointResult> = by_point
        .into_iter()
        .filter(|(_, tally)| !tally.metrics.is_empty())
        .map(|(point, tally)| {
            let (mean, std) = mean_std(&tally.metrics);
            PointResult {
                rank: 0,
                point,
                values: tally.values,
                mean,
                std,
                count: tally.metrics.len(),
                failed: tally.failed,
                pruned: tally.pruned,
            }
        })
        .collect();
    points.sort_by(|a, b| {
        let order = a.mean.total_cmp(&b.mean);
        match mode {
            Mode::Max => order.reverse(),
            Mode::Min => order,
        }
    });
    for (i, p) in points.iter_mut().enumerate() {
        p.rank = i + 1;
    }
    points
}

/// Per parameter and value, the objective over every finished trial.
pub fn marginals(table: &TrialTable) -> Vec<Marginal> {
    grouped(table, |record| {
        record.metric.filter(|_| record.state == TrialState::Done)
    })
}

/// Per parameter and value, the objective at rung `epoch` over every trial
/// that reached it, pruned ones included: with early stopping, the one
/// comparison in which every value had the same training budget.
pub fn marginals_at_rung(table: &TrialTable, epoch: usize) -> Vec<Marginal> {
    grouped(table, |record| {
        record
            .rungs
            .iter()
            .find(|r| r.epoch == epoch)
            .map(|r| r.metric)
    })
}

/// The rung epochs some trial has reached, in order.
fn rungs_reached(table: &TrialTable) -> Vec<usize> {
    let mut epochs: Vec<usize> = table
        .trials
        .iter()
        .flat_map(|r| r.rungs.iter().map(|x| x.epoch))
        .collect();
    epochs.sort_unstable();
    epochs.dedup();
    epochs
}

/// Mean ± std of `metric_of` per (parameter, value), over trials that have it.
fn grouped(table: &TrialTable, metric_of: impl Fn(&TrialRecord) -> Option<f64>) -> Vec<Marginal> {
    let mut groups: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for record in &table.trials {
        let Some(metric) = metric_of(record) else {
            continue;
        };
        for (key, value) in &record.trial.values {
            groups
                .entry((key.clone(), plain(value)))
                .or_default()
                .push(metric);
        }
    }
    groups
        .into_iter()
        .map(|((parameter, value), metrics)| {
            let (mean, std) = mean_std(&metrics);
            Marginal {
                parameter,
                value,
                mean,
                std,
                count: metrics.len(),
            }
        })
        .collect()
}

/// `leaderboard.csv` and `leaderboard.md` in the sweep folder.
pub fn write_leaderboard(sweep: &SweepDir, table: &TrialTable) -> Result<()> {
    let points = rank_points(table, sweep.spec.mode());
    let csv_path = sweep.dir.join("leaderboard.csv");
    atomic_write(&csv_path, |w| {
        let mut out = csv::Writer::from_writer(w);
        let keys: Vec<&String> = sweep.spec.parameters.keys().collect();
        let mut header = vec!["rank", "point"];
        header.extend(keys.iter().map(|k| k.as_str()));
        header.extend(["mean", "std", "count", "failed", "pruned"]);
        out.write_record(&header)?;
        for p in &points {
            let mut row = vec![p.rank.to_string(), p.point.to_string()];
            row.extend(p.values.iter().map(|(_, v)| v.clone()));
            row.extend([
                p.mean.to_string(),
                p.std.to_string(),
                p.count.to_string(),
                p.failed.to_string(),
                p.pruned.to_string(),
            ]);
            out.write_record(&row)?;
        }
        out.flush()
    })?;
    // Plots are a view of the table: a failure to draw is said, and the
    // sweep goes on.
    let plots = write_plots(sweep, table).unwrap_or_else(|e| {
        eprintln!("warning: sweep plots not drawn: {e}");
        Vec::new()
    });
    let mut md = markdown(sweep, table, &points);
    if !plots.is_empty() {
        md += "\n## Plots\n\n";
        for plot in plots {
            let name = plot.file_stem().unwrap_or_default().to_string_lossy();
            md += &format!("![{name}]({})\n\n", plot.display());
        }
    }
    atomic_write_str(&sweep.dir.join("leaderboard.md"), &md)
}

fn markdown(sweep: &SweepDir, table: &TrialTable, points: &[PointResult]) -> String {
    let metric = sweep.spec.sweep.metric.as_str();
    let count = |state: TrialState| table.trials.iter().filter(|r| r.state == state).count();
    let mut md = format!(
        "# Sweep `{}`: {metric} ({:?} is better)\n\n{} trials: {} done, {} pruned, {} failed, {} pending or running.\n\n",
        sweep.spec.sweep.name,
        sweep.spec.mode(),
        table.trials.len(),
        count(TrialState::Done),
        count(TrialState::Pruned),
        count(TrialState::Failed),
        count(TrialState::Pending) + count(TrialState::Running),
    );
    md += &format!(
        "Points are ranked by the mean over finished repeats; pruned repeats are counted apart.\n\n\
         | rank | point | {metric} (mean ± std) | repeats | pruned |\n|---:|---|---:|---:|---:|\n"
    );
    for p in points {
        let point: Vec<String> = p.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let point = point.join(", ");
        md += &format!(
            "| {} | {point} | {:.4} ± {:.4} | {} | {} |\n",
            p.rank, p.mean, p.std, p.count, p.pruned
        );
    }
    md += &format!(
        "\n## Marginal effects\n\nFinished trials only.\n\n{}",
        marginal_table(metric, &marginals(table))
    );
    for epoch in rungs_reached(table) {
        md += &format!(
            "\n### At the rung of epoch {epoch}\n\nEvery trial that reached it, pruned ones included (the same budget for every value).\n\n{}",
            marginal_table(metric, &marginals_at_rung(table, epoch))
        );
    }
    md
}

fn marginal_table(metric: &str, rows: &[Marginal]) -> String {
    let mut md =
        format!("| parameter | value | {metric} (mean ± std) | trials |\n|---|---|---:|---:|\n");
    for m in rows {
        md += &format!(
            "| {} | {} | {:.4} ± {:.4} | {} |\n",
            m.parameter, m.value, m.mean, m.std, m.count
        );
    }
    md
}

/// The run folders of a sweep's `k` best finished trials by its objective
/// (for `evaluate --sweep DIR --top K` ensembles).
pub fn top_trials(dir: &std::path::Path, k: usize) -> Result<Vec<std::path::PathBuf>> {
    let (sweep, _) = SweepDir::open(dir)?;
    let table = sweep.read_table()?;
    let mut done: Vec<(&TrialRecord, f64)> = table
        .trials
        .iter()
        .filter(|r| r.state == TrialState::Done)
        .filter_map(|r| r.metric.map(|m| (r, m)))
        .collect();
    let sign = match sweep.spec.mode() {
        Mode::Max => -1.0,
        Mode::Min => 1.0,
    };
    done.sort_by(|a, b| (sign * a.1).total_cmp(&(sign * b.1)));
    if done.is_empty() || k == 0 {
        return Err(crate::error::Error::InvalidArgument(format!(
            "--sweep {}: no finished trial to take (or --top 0)",
            dir.display()
        )));
    }
    Ok(done
        .iter()
        .take(k)
        .map(|(r, _)| sweep.trial_dir(&r.trial))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::run::TrialRecord;
    use crate::sweep::spec::Objective;
    use crate::sweep::Trial;

    fn record(point: usize, state: TrialState, metric: Option<f64>) -> TrialRecord {
        TrialRecord {
            trial: Trial {
                id: String::new(),
                point,
                repeat: 0,
                seed: 0,
                values: vec![(
                    "model.dropout".into(),
                    toml::Value::Float(point as f64 / 10.0),
                )],
            },
            state,
            epochs: None,
            metric,
            wall_seconds: None,
            error: None,
            owner: None,
            rungs: Vec::new(),
        }
    }

    #[test]
    fn points_rank_by_mean_with_sample_std() {
        let table = TrialTable {
            metric: Objective::ValLoss,
            trials: vec![
                record(0, TrialState::Done, Some(0.5)),
                record(0, TrialState::Done, Some(0.7)),
                record(1, TrialState::Done, Some(0.4)),
                record(1, TrialState::Failed, None),
                record(2, TrialState::Pending, None),
            ],
        };
        let min = rank_points(&table, Mode::Min);
        assert_eq!(min.len(), 2, "a point with no finished trial has no rank");
        assert_eq!((min[0].point, min[0].count, min[0].failed), (1, 1, 1));
        assert!((min[1].mean - 0.6).abs() < 1e-12);
        // Sample std of 0.5 and 0.7.
        assert!((min[1].std - 0.02f64.sqrt()).abs() < 1e-12);
        assert_eq!(rank_points(&table, Mode::Max)[0].point, 0);
        let effects = marginals(&table);
        assert_eq!(effects.len(), 2);
        assert_eq!((effects[0].value.as_str(), effects[0].count), ("0.0", 2));
    }

    #[test]
    fn rung_effects_count_pruned_trials() {
        let mut pruned = record(0, TrialState::Pruned, Some(0.2));
        pruned.rungs.push(crate::sweep::run::RungResult {
            epoch: 1,
            metric: 0.2,
            passed: Some(false),
        });
        let mut done = record(1, TrialState::Done, Some(0.9));
        done.rungs.push(crate::sweep::run::RungResult {
            epoch: 1,
            metric: 0.6,
            passed: Some(true),
        });
        let table = TrialTable {
            metric: Objective::ValAccuracy,
            trials: vec![pruned, done],
        };
        assert_eq!(rungs_reached(&table), [1]);
        let at_rung = marginals_at_rung(&table, 1);
        let values: Vec<(String, f64)> =
            at_rung.iter().map(|m| (m.value.clone(), m.mean)).collect();
        assert_eq!(values, [("0.0".to_string(), 0.2), ("0.1".to_string(), 0.6)]);
        assert_eq!(marginals(&table).len(), 1, "finished trials only");
    }
}

//! The sweep's pictures, redrawn with the leaderboard: the objective
//! against every swept parameter (one dot per trial, pruned ones hollow at
//! the rung where they stopped, the mean ± std of the finished ones as a
//! bar), and the validation curves of the best trials.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::leaderboard::{mean_std, plain};
use super::run::{SweepDir, TrialRecord, TrialState, TrialTable};
use super::spec::{Mode, Objective};
use crate::error::Result;
use crate::plot::{plot_error, render_chart, ChartArea};
use crate::train::metrics::{read_metrics_csv, MetricsRow};

const WIDTH: u32 = 900;
const HEIGHT: u32 = 560;
/// Trials whose learning curves are drawn.
const BEST_CURVES: usize = 6;

/// Draw into an RGB buffer with `draw`, then write it as a PNG.
fn render(path: &Path, draw: impl FnOnce(&ChartArea) -> Result<()>) -> Result<()> {
    render_chart(path, WIDTH, HEIGHT, draw)
}

/// The PNGs of a sweep, in `SWEEP_DIR/plots/`; returns their paths
/// relative to the sweep folder (for leaderboard.md).
pub fn write_plots(sweep: &SweepDir, table: &TrialTable) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let metric = sweep.spec.sweep.metric;
    for key in sweep.spec.parameters.keys() {
        let name =
            PathBuf::from("plots").join(format!("{metric}_by_{key}.png", metric = metric.as_str()));
        if metric_by_parameter(&sweep.dir.join(&name), key, metric.as_str(), table)? {
            written.push(name);
        }
    }
    let curves = PathBuf::from("plots").join("learning_curves.png");
    let best = best_trials(table, sweep.spec.mode());
    if !best.is_empty() {
        learning_curves(sweep, &sweep.dir.join(&curves), metric, &best)?;
        written.push(curves);
    }
    Ok(written)
}

/// One trial's dot: (category index, objective, finished?).
type Dot = (usize, f64, bool);

/// Objective against the values of `key`; false when no trial has a value
/// yet (nothing drawn).
fn metric_by_parameter(path: &Path, key: &str, metric: &str, table: &TrialTable) -> Result<bool> {
    let (categories, dots) = dots_by_value(key, table);
    if dots.is_empty() {
        return Ok(false);
    }
    let (categories, dots) = in_value_order(categories, dots);
    let (lo, hi) = padded_range(dots.iter().map(|d| d.1));
    let n = categories.len();
    render(path, |root| {
        let e = |err: &dyn std::fmt::Display| plot_error(path, err);
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let mut chart = ChartBuilder::on(root)
            .caption(format!("{metric} by {key}"), ("sans-serif", 24))
            .margin(16)
            // Room under the axis title for the legend line.
            .margin_bottom(40)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), lo..hi)
            .map_err(|x| e(&x))?;
        let names = categories.clone();
        let label = move |x: &f64| {
            let i = x.round();
            if (x - i).abs() < 1e-9 && i >= 0.0 && (i as usize) < names.len() {
                short_label(&names[i as usize])
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n.max(2) * 2 + 1)
            .x_label_formatter(&label)
            .x_desc(key)
            .y_desc(metric)
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 18))
            .draw()
            .map_err(|x| e(&x))?;
        let accent = RGBColor(31, 119, 180);
        let pruned = RGBColor(214, 39, 40);
        let offsets = side_by_side(&dots, n);
        chart
            .draw_series(dots.iter().zip(&offsets).map(|(&(i, y, done), dx)| {
                let style = if done {
                    accent.filled()
                } else {
                    pruned.stroke_width(2)
                };
                Circle::new((i as f64 + dx, y), 5, style)
            }))
            .map_err(|x| e(&x))?;
        for (x, mean, std) in mean_bars(&dots, n) {
            let bar = [(x, mean - std), (x, mean + std)];
            let tick = [(x - 0.06, mean), (x + 0.06, mean)];
            chart
                .draw_series([
                    PathElement::new(bar.to_vec(), BLACK.stroke_width(2)),
                    PathElement::new(tick.to_vec(), BLACK.stroke_width(3)),
                ])
                .map_err(|x| e(&x))?;
        }
        root.draw(&Text::new(
            "filled: finished trials; hollow red: pruned at a rung; black: mean ± std of finished",
            (16, HEIGHT as i32 - 26),
            ("sans-serif", 15).into_font().color(&RGBColor(90, 90, 90)),
        ))
        .map_err(|x| e(&x))?;
        Ok(())
    })?;
    Ok(true)
}

/// The trials that set `key`, as dots (value index, metric, finished)
/// over the distinct values it took; trials without a finite metric are
/// left out.
fn dots_by_value(key: &str, table: &TrialTable) -> (Vec<String>, Vec<Dot>) {
    let mut categories: Vec<String> = Vec::new();
    let mut dots: Vec<Dot> = Vec::new();
    for record in &table.trials {
        let Some((_, value)) = record.trial.values.iter().find(|(k, _)| k == key) else {
            continue;
        };
        let value = plain(value);
        let index = match categories.iter().position(|c| *c == value) {
            Some(i) => i,
            None => {
                categories.push(value);
                categories.len() - 1
            }
        };
        if let Some(dot) = dot_of(record, index) {
            dots.push(dot);
        }
    }
    dots.retain(|d| d.1.is_finite());
    if dots.is_empty() {
        return (categories, dots);
    }
    in_value_order(categories, dots)
}

/// Horizontal offsets that set repeats of a value side by side, not on
/// top of each other.
fn side_by_side(dots: &[Dot], n: usize) -> Vec<f64> {
    let mut seen = vec![0usize; n];
    dots.iter()
        .map(|&(i, _, _)| {
            seen[i] += 1;
            ((seen[i] - 1) % 7) as f64 * 0.04 - 0.12
        })
        .collect()
}

/// Mean ± std of each value's finished trials: (x, mean, std), beside the
/// value's dots.
fn mean_bars(dots: &[Dot], n: usize) -> Vec<(f64, f64, f64)> {
    (0..n)
        .filter_map(|i| {
            let finished: Vec<f64> = dots
                .iter()
                .filter(|d| d.0 == i && d.2)
                .map(|d| d.1)
                .collect();
            if finished.is_empty() {
                return None;
            }
            let (mean, std) = mean_std(&finished);
            Some((i as f64 + 0.25, mean, std))
        })
        .collect()
}

/// Categories sorted by value when every value is a number (first-seen
/// order otherwise), with the dots' indices following them.
fn in_value_order(categories: Vec<String>, dots: Vec<Dot>) -> (Vec<String>, Vec<Dot>) {
    let numbers: Option<Vec<f64>> = categories.iter().map(|c| c.parse().ok()).collect();
    let Some(numbers) = numbers else {
        return (categories, dots);
    };
    let mut order: Vec<usize> = (0..categories.len()).collect();
    order.sort_by(|&a, &b| numbers[a].total_cmp(&numbers[b]));
    let mut rank = vec![0; order.len()];
    for (position, &old) in order.iter().enumerate() {
        rank[old] = position;
    }
    let sorted = order.iter().map(|&i| categories[i].clone()).collect();
    let dots = dots
        .into_iter()
        .map(|(i, y, done)| (rank[i], y, done))
        .collect();
    (sorted, dots)
}

/// A trial's dot: finished trials at their objective, pruned ones at their
/// last rung's value.
fn dot_of(record: &TrialRecord, index: usize) -> Option<Dot> {
    match record.state {
        TrialState::Done => record.metric.map(|m| (index, m, true)),
        TrialState::Pruned => record
            .metric
            .or_else(|| record.rungs.last().map(|r| r.metric))
            .map(|m| (index, m, false)),
        _ => None,
    }
}

/// The finished trials with the best objective, best first.
fn best_trials(table: &TrialTable, mode: Mode) -> Vec<&TrialRecord> {
    let mut done: Vec<&TrialRecord> = table
        .trials
        .iter()
        .filter(|r| r.state == TrialState::Done && r.metric.is_some())
        .collect();
    done.sort_by(|a, b| {
        let (a, b) = (a.metric.unwrap_or(0.0), b.metric.unwrap_or(0.0));
        match mode {
            Mode::Max => b.total_cmp(&a),
            Mode::Min => a.total_cmp(&b),
        }
    });
    done.truncate(BEST_CURVES);
    done
}

/// `[(epoch, value)]` of the validation column that matches `metric`,
/// from a trial's metrics.csv (none while it is missing or unreadable).
fn val_curve(run_dir: &Path, metric: Objective) -> Vec<(f64, f64)> {
    let value = |row: &MetricsRow| match metric {
        Objective::ValLoss => row.loss,
        Objective::ValMacroF1 => row.macro_f1,
        // metrics.csv has no balanced accuracy: plain accuracy stands in,
        // and the axis says so.
        Objective::ValAccuracy | Objective::ValBalancedAccuracy => row.accuracy,
    };
    read_metrics_csv(&run_dir.join("metrics.csv"))
        .unwrap_or_default()
        .iter()
        .filter(|row| row.split == "val")
        .map(|row| (row.epoch as f64, value(row)))
        .collect()
}

fn learning_curves(
    sweep: &SweepDir,
    path: &Path,
    metric: Objective,
    best: &[&TrialRecord],
) -> Result<()> {
    let curves: Vec<(String, Vec<(f64, f64)>)> = best
        .iter()
        .map(|r| {
            let values: Vec<String> = r
                .trial
                .values
                .iter()
                .map(|(k, v)| format!("{}={}", short_key(k), short_label(&plain(v))))
                .collect();
            let label = format!("{} {}", r.trial.id, values.join(" "));
            (
                label,
                val_curve(&sweep.dir.join("trials").join(&r.trial.id), metric),
            )
        })
        .filter(|(_, c)| !c.is_empty())
        .collect();
    let epochs = curves
        .iter()
        .flat_map(|(_, c)| c.iter().map(|p| p.0))
        .fold(1.0f64, f64::max);
    let (lo, hi) = padded_range(
        curves
            .iter()
            .flat_map(|(_, c)| c.iter().map(|p| p.1))
            .filter(|v| v.is_finite()),
    );
    let y_name = match metric {
        Objective::ValLoss => "val loss",
        Objective::ValMacroF1 => "val macro-F1",
        Objective::ValBalancedAccuracy => "val accuracy (not balanced)",
        Objective::ValAccuracy => "val accuracy",
    };
    render(path, |root| {
        let e = |err: &dyn std::fmt::Display| plot_error(path, err);
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("{y_name} per epoch: the {} best trials", curves.len()),
                ("sans-serif", 24),
            )
            .margin(16)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(1.0f64..epochs.max(2.0), lo..hi)
            .map_err(|x| e(&x))?;
        let last_epoch = epochs.max(2.0) as usize;
        chart
            .configure_mesh()
            .x_labels(last_epoch.min(15))
            .x_label_formatter(&|x: &f64| format!("{x:.0}"))
            .x_desc("epoch")
            .y_desc(y_name)
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 18))
            .draw()
            .map_err(|x| e(&x))?;
        for (i, (label, curve)) in curves.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    curve.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(|x| e(&x))?
                .label(label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|x| e(&x))?;
        Ok(())
    })
}

/// A value short enough for an axis label or legend: an inline table of
/// overrides (a sweep parameter naming a section) cut after 28 characters.
fn short_label(value: &str) -> String {
    const MAX: usize = 28;
    if value.chars().count() <= MAX {
        return value.to_string();
    }
    let cut: String = value.chars().take(MAX - 1).collect();
    format!("{cut}…")
}

/// `model.init.conv` -> `init.conv`: the last two parts, enough in a legend.
fn short_key(key: &str) -> String {
    let parts: Vec<&str> = key.split('.').collect();
    parts[parts.len().saturating_sub(2)..].join(".")
}

/// The range of `values` with 8% room above and below (a flat range gets
/// some room too).
fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.08).max(0.01);
    (lo - pad, hi + pad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_have_room_and_keys_shorten() {
        let (lo, hi) = padded_range([0.5, 0.9].into_iter());
        assert!(lo < 0.5 && hi > 0.9);
        let (lo, hi) = padded_range([0.7].into_iter());
        assert!(lo < 0.7 && hi > 0.7);
        assert_eq!(padded_range(std::iter::empty()), (0.0, 1.0));
        assert_eq!(short_key("model.init.conv"), "init.conv");
        assert_eq!(short_key("lr"), "lr");
    }

    #[test]
    fn numeric_values_are_plotted_in_order() {
        let categories = vec!["0.01".to_string(), "0.0001".into(), "0.001".into()];
        let dots = vec![(0, 0.5, true), (1, 0.6, true), (2, 0.7, false)];
        let (sorted, dots) = in_value_order(categories, dots);
        assert_eq!(sorted, ["0.0001", "0.001", "0.01"]);
        assert_eq!(dots, [(2, 0.5, true), (0, 0.6, true), (1, 0.7, false)]);
        let words = vec!["b".to_string(), "a".into()];
        let (kept, _) = in_value_order(words.clone(), Vec::new());
        assert_eq!(kept, words, "names keep the sweep's order");
    }
}

//! The report's charts (plotters, bundled font): the study's model
//! comparison as grouped bars, and learning curves.

use std::path::Path;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::sources::ModelEntry;
use crate::error::Result;
use crate::plot::{plot_error, render_chart, ChartArea};
use crate::train::metrics::MetricsRow;

/// Bar colours of train, val, test (and other data sets).
const SPLIT_COLOURS: [RGBColor; 4] = [
    RGBColor(120, 144, 156),
    RGBColor(33, 113, 181),
    RGBColor(230, 85, 13),
    RGBColor(49, 163, 84),
];

/// Train accuracy over augmented batches (not a clean evaluation).
const AUGMENTED_TRAIN: RGBColor = RGBColor(199, 206, 210);

/// The accuracy bars of one model: (split label, accuracy).
fn bars_of(model: &ModelEntry) -> Vec<(String, f64)> {
    let mut bars = Vec::new();
    if let Some((accuracy, clean)) = model.train_accuracy {
        let label = if clean {
            "train"
        } else {
            "train (augmented batches)"
        };
        bars.push((label.to_string(), accuracy));
    }
    bars.extend(
        model
            .splits
            .iter()
            .map(|s| (s.split.clone(), s.metrics.accuracy)),
    );
    bars
}

/// Where a bar goes in its model's group: both kinds of train accuracy
/// share the first slot (a model has one or the other), then val, test,
/// other data sets.
fn slot_name(label: &str) -> String {
    if label.starts_with("train") {
        "train".to_string()
    } else {
        label.to_string()
    }
}

/// The bar labels in slot order, and the slots, over all models' bars.
fn bar_layout(groups: &[Vec<(String, f64)>]) -> (Vec<String>, Vec<String>) {
    let mut series: Vec<String> = Vec::new();
    let mut slots: Vec<String> = Vec::new();
    for bars in groups {
        for (label, _) in bars {
            if !series.contains(label) {
                series.push(label.clone());
            }
            if !slots.contains(&slot_name(label)) {
                slots.push(slot_name(label));
            }
        }
    }
    series.sort_by_key(|l| slots.iter().position(|s| *s == slot_name(l)));
    (series, slots)
}

/// Grouped bars: train / val / test accuracy of every model, the value
/// printed on each bar.
pub fn comparison_chart(path: &Path, models: &[ModelEntry]) -> Result<()> {
    let groups: Vec<Vec<(String, f64)>> = models.iter().map(bars_of).collect();
    let (series, slots) = bar_layout(&groups);
    let width = (220 * models.len() as u32 + 200).clamp(900, 2400);
    let height = 620;
    render_chart(path, width, height, |root| {
        let e = |err: &dyn std::fmt::Display| plot_error(path, err);
        let mut chart = ChartBuilder::on(root)
            .caption("Accuracy per model and split", ("sans-serif", 26))
            .margin(20)
            .x_label_area_size(80)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0f64..models.len() as f64, 0.0f64..1.17)
            .map_err(|x| e(&x))?;
        draw_accuracy_axes(&mut chart).map_err(|x| e(&x))?;
        let slot = 0.8 / slots.len().max(1) as f64;
        for label in &series {
            let s = slots
                .iter()
                .position(|x| *x == slot_name(label))
                .unwrap_or(0);
            let colour = if label.starts_with("train (") {
                AUGMENTED_TRAIN
            } else {
                SPLIT_COLOURS[s.min(SPLIT_COLOURS.len() - 1)]
            };
            let rects = series_bars(&groups, label, slot, s);
            draw_bar_series(&mut chart, &rects, slot, label, colour).map_err(|x| e(&x))?;
        }
        draw_model_names(root, &chart, models).map_err(|x| e(&x))?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperMiddle)
            .label_font(("sans-serif", 15))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(|x| e(&x))?;
        Ok(())
    })
}

/// The comparison chart's plotting area: model slots on x, accuracy on y.
type BarChart<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The error plotters reports while drawing on a bitmap.
type DrawError<'b> = DrawingAreaErrorKind<<BitMapBackend<'b> as DrawingBackend>::ErrorType>;

/// The y axis (accuracy, no ticks in the legend band above 1.0) and its grid.
fn draw_accuracy_axes<'b>(chart: &mut BarChart<'_, 'b>) -> std::result::Result<(), DrawError<'b>> {
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc("accuracy")
        .y_labels(12)
        // The band above 1.0 holds the legend: no ticks there.
        .y_label_formatter(&|y: &f64| {
            if *y > 1.0 + 1e-9 {
                String::new()
            } else {
                format!("{y:.1}")
            }
        })
        .light_line_style(RGBColor(238, 238, 238))
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()
}

/// One series' bars: (left edge, accuracy) for every model that has the
/// series `label`, in slot `s` of width `slot` within the model's group.
fn series_bars(groups: &[Vec<(String, f64)>], label: &str, slot: f64, s: usize) -> Vec<(f64, f64)> {
    groups
        .iter()
        .enumerate()
        .filter_map(|(m, bars)| {
            bars.iter()
                .find(|(l, _)| l == label)
                .map(|(_, a)| (m as f64 + 0.1 + slot * s as f64, *a))
        })
        .collect()
}

/// One series' bars, its legend entry and each bar's value above it.
fn draw_bar_series<'b>(
    chart: &mut BarChart<'_, 'b>,
    rects: &[(f64, f64)],
    slot: f64,
    label: &str,
    colour: RGBColor,
) -> std::result::Result<(), DrawError<'b>> {
    chart
        .draw_series(
            rects
                .iter()
                .map(|&(x, a)| Rectangle::new([(x, 0.0), (x + slot * 0.92, a)], colour.filled())),
        )?
        .label(label.to_string())
        .legend(move |(x, y)| Rectangle::new([(x, y - 7), (x + 16, y + 7)], colour.filled()));
    chart.draw_series(rects.iter().map(|&(x, a)| {
        Text::new(
            format!("{:.3}", a),
            (x + slot * 0.46, a + 0.012),
            TextStyle::from(("sans-serif", 14).into_font())
                .pos(Pos::new(HPos::Center, VPos::Bottom)),
        )
    }))?;
    Ok(())
}

/// Model names under their groups, a line per few words (plotters draws
/// one line per text element).
fn draw_model_names<'b>(
    root: &ChartArea<'b>,
    chart: &BarChart<'_, 'b>,
    models: &[ModelEntry],
) -> std::result::Result<(), DrawError<'b>> {
    for (m, model) in models.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(m as f64 + 0.5, 0.0));
        for (i, line) in wrap(&model.name, 24).lines().enumerate() {
            root.draw(&Text::new(
                line.to_string(),
                (x, y + 12 + 20 * i as i32),
                TextStyle::from(("sans-serif", 16).into_font())
                    .pos(Pos::new(HPos::Center, VPos::Top)),
            ))?;
        }
    }
    Ok(())
}

/// Break a long model name onto lines of about `width` characters.
fn wrap(text: &str, width: usize) -> String {
    let mut lines = vec![String::new()];
    for word in text.split(' ') {
        let line = lines.last_mut().expect("one line");
        if !line.is_empty() && line.len() + word.len() + 1 > width {
            lines.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines.join("\n")
}

/// Loss and accuracy per epoch, train and val, side by side.
pub fn learning_curves(path: &Path, title: &str, points: &[MetricsRow]) -> Result<()> {
    render_chart(path, 1200, 480, |root| {
        let e = |err: &dyn std::fmt::Display| plot_error(path, err);
        let root = root.titled(title, ("sans-serif", 24)).map_err(|x| e(&x))?;
        let panels = root.split_evenly((1, 2));
        let epochs = points.iter().map(|p| p.epoch).max().unwrap_or(1).max(2) as f64;
        for (panel, (name, value)) in panels.iter().zip([
            ("loss", (|p: &MetricsRow| p.loss) as fn(&MetricsRow) -> f64),
            ("accuracy", |p: &MetricsRow| p.accuracy),
        ]) {
            let values: Vec<f64> = points.iter().map(value).filter(|v| v.is_finite()).collect();
            let hi = values.iter().copied().fold(0.0f64, f64::max);
            let y_range = if name == "accuracy" {
                0.0..1.02
            } else {
                0.0..(hi * 1.08).max(0.1)
            };
            let mut chart = ChartBuilder::on(panel)
                .margin(14)
                .x_label_area_size(48)
                .y_label_area_size(60)
                .build_cartesian_2d(1.0..epochs, y_range)
                .map_err(|x| e(&x))?;
            chart
                .configure_mesh()
                .x_labels((epochs as usize).min(15))
                .x_label_formatter(&|x: &f64| format!("{x:.0}"))
                .x_desc("epoch")
                .y_desc(name)
                .label_style(("sans-serif", 15))
                .axis_desc_style(("sans-serif", 17))
                .draw()
                .map_err(|x| e(&x))?;
            for (split, colour) in [("train", SPLIT_COLOURS[0]), ("val", SPLIT_COLOURS[1])] {
                let line: Vec<(f64, f64)> = points
                    .iter()
                    .filter(|p| p.split == split)
                    .map(|p| (p.epoch as f64, value(p)))
                    .filter(|(_, v)| v.is_finite())
                    .collect();
                if line.is_empty() {
                    continue;
                }
                chart
                    .draw_series(LineSeries::new(line.clone(), colour.stroke_width(3)))
                    .map_err(|x| e(&x))?
                    .label(if split == "train" {
                        "train (augmented batches)"
                    } else {
                        split
                    })
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(3))
                    });
                chart
                    .draw_series(line.iter().map(|&p| Circle::new(p, 3, colour.filled())))
                    .map_err(|x| e(&x))?;
            }
            chart
                .configure_series_labels()
                .position(if name == "loss" {
                    SeriesLabelPosition::UpperRight
                } else {
                    SeriesLabelPosition::LowerRight
                })
                .label_font(("sans-serif", 15))
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK)
                .draw()
                .map_err(|x| e(&x))?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_wrap_at_words() {
        assert_eq!(wrap("gbdt (baselines run)", 8), "gbdt\n(baselines\nrun)");
        assert_eq!(wrap("cnn", 8), "cnn");
    }
}

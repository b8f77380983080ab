//! `soundclass report`: one page over CNN runs, baseline runs and sweeps,
//! as the study ended: the model comparison chart, a table of accuracy,
//! balanced accuracy and macro-F1 per model and split, confusion matrices,
//! per-class precision/recall/F1, learning curves, and a sweep's
//! leaderboard and plots. `index.html` opens from disk (images beside it in
//! `img/`); `report.md` carries the same content.

pub mod charts;
mod page;
pub mod sources;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::plot::confusion_matrix_png;
pub use sources::{load_inputs, Inputs, ModelEntry, SweepEntry};

/// What `report` wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReportOutput {
    pub html: PathBuf,
    pub markdown: PathBuf,
    pub images: Vec<PathBuf>,
    pub models: usize,
    pub sweeps: usize,
}

/// An image of the report: its file under `img/` and what it shows.
#[derive(Debug, Clone)]
pub struct Figure {
    pub file: String,
    pub caption: String,
}

/// Figures of one model.
#[derive(Debug, Clone, Default)]
pub struct ModelFigures {
    pub confusions: Vec<Figure>,
    pub curves: Option<Figure>,
}

/// Build the report of `inputs` in `out`.
pub fn build_report(inputs: &[PathBuf], out: &Path) -> Result<ReportOutput> {
    let loaded = load_inputs(inputs)?;
    let img = out.join("img");
    std::fs::create_dir_all(&img).map_err(|e| Error::io(&img, e))?;
    let mut images = Vec::new();
    let comparison = (!loaded.models.is_empty())
        .then(|| -> Result<Figure> {
            let file = "img/comparison.png".to_string();
            charts::comparison_chart(&out.join(&file), &loaded.models)?;
            images.push(out.join(&file));
            Ok(Figure {
                file,
                caption: "Accuracy of every model on every split".into(),
            })
        })
        .transpose()?;
    let mut figures = Vec::new();
    let mut used = Vec::new();
    for model in &loaded.models {
        let slug = unique_slug(&model.name, &mut used);
        let f = model_figures(model, &slug, out)?;
        images.extend(f.confusions.iter().map(|c| out.join(&c.file)));
        images.extend(f.curves.iter().map(|c| out.join(&c.file)));
        figures.push(f);
    }
    let mut sweep_plots = Vec::new();
    for sweep in &loaded.sweeps {
        let slug = unique_slug(&format!("sweep {}", sweep.name), &mut used);
        let mut plots = Vec::new();
        for plot in &sweep.plots {
            let name = plot.file_name().unwrap_or_default().to_string_lossy();
            let file = format!("img/{slug}-{name}");
            std::fs::copy(plot, out.join(&file)).map_err(|e| Error::io(plot, e))?;
            images.push(out.join(&file));
            plots.push(Figure {
                file,
                caption: name.trim_end_matches(".png").replace('_', " "),
            });
        }
        sweep_plots.push(plots);
    }
    let content = page::Content {
        models: &loaded.models,
        sweeps: &loaded.sweeps,
        comparison: comparison.as_ref(),
        figures: &figures,
        sweep_plots: &sweep_plots,
        inputs,
    };
    let html = out.join("index.html");
    let markdown = out.join("report.md");
    crate::util::atomic_write_str(&html, &page::html(&content))?;
    crate::util::atomic_write_str(&markdown, &page::markdown(&content))?;
    Ok(ReportOutput {
        html,
        markdown,
        images,
        models: loaded.models.len(),
        sweeps: loaded.sweeps.len(),
    })
}

/// Confusion matrices of every split, and the learning curves.
fn model_figures(model: &ModelEntry, slug: &str, out: &Path) -> Result<ModelFigures> {
    let mut figures = ModelFigures::default();
    for split in &model.splits {
        let file = format!("img/{slug}-confusion-{}.png", slugify(&split.split));
        confusion_matrix_png(
            &out.join(&file),
            &format!(
                "{}, {}: accuracy {:.1}%",
                model.name,
                split.split,
                100.0 * split.metrics.accuracy
            ),
            &model.classes,
            &split.metrics.confusion,
        )?;
        figures.confusions.push(Figure {
            file,
            caption: format!("{}: confusion matrix ({})", model.name, split.split),
        });
    }
    if !model.curves.is_empty() {
        let file = format!("img/{slug}-curves.png");
        charts::learning_curves(
            &out.join(&file),
            &format!("{}: learning curves", model.name),
            &model.curves,
        )?;
        figures.curves = Some(Figure {
            file,
            caption: format!("{}: loss and accuracy per epoch", model.name),
        });
    }
    Ok(figures)
}

/// Lower-case letters, digits and `-` only.
pub fn slugify(text: &str) -> String {
    let mut slug = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_matches('-').to_string()
}

fn unique_slug(text: &str, used: &mut Vec<String>) -> String {
    let base = slugify(text);
    let mut slug = base.clone();
    let mut n = 2;
    while used.contains(&slug) {
        slug = format!("{base}-{n}");
        n += 1;
    }
    used.push(slug.clone());
    slug
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_file_names_and_unique() {
        assert_eq!(slugify("gbdt (baselines/2026)"), "gbdt-baselines-2026");
        let mut used = Vec::new();
        assert_eq!(unique_slug("a b", &mut used), "a-b");
        assert_eq!(unique_slug("a-b", &mut used), "a-b-2");
    }
}

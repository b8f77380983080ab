//! What a report is made of, read from the folders `train`, `baseline`
//! and `sweep` write: every model's metrics per split, learning curves,
//! and a sweep's leaderboard and plots.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::train::metrics::{read_metrics_csv, MetricsRow, SplitMetrics};
use crate::util::open_csv;

/// A model's result on one split.
#[derive(Debug, Clone)]
pub struct SplitResult {
    /// `val`, `test`, or `<manifest>-test` for another data set.
    pub split: String,
    pub metrics: SplitMetrics,
    /// The file it was read from (shown in the report).
    pub source: PathBuf,
}

/// A CNN run or one baseline model.
#[derive(Debug, Clone)]
pub struct ModelEntry {
    pub name: String,
    /// `CNN` or `baseline`.
    pub kind: &'static str,
    pub folder: PathBuf,
    pub classes: Vec<String>,
    /// Train accuracy, and whether it is a clean evaluation (else the
    /// running accuracy over augmented training batches).
    pub train_accuracy: Option<(f64, bool)>,
    pub splits: Vec<SplitResult>,
    pub curves: Vec<MetricsRow>,
    /// Settings worth a line: architecture, chosen hyperparameters.
    pub details: String,
}

impl ModelEntry {
    pub fn split(&self, name: &str) -> Option<&SplitResult> {
        self.splits.iter().find(|s| s.split == name)
    }
}

/// A sweep folder's own summary.
#[derive(Debug, Clone)]
pub struct SweepEntry {
    pub name: String,
    pub folder: PathBuf,
    pub leaderboard: String,
    pub plots: Vec<PathBuf>,
}

/// Everything the inputs hold.
#[derive(Debug, Default)]
pub struct Inputs {
    pub models: Vec<ModelEntry>,
    pub sweeps: Vec<SweepEntry>,
}

/// Read each input folder by what it is: a sweep (`trials.json`), a
/// baseline run (`results.csv`) or a CNN run (`config.toml` with
/// `metrics.csv` or `summary.json`).
pub fn load_inputs(paths: &[PathBuf]) -> Result<Inputs> {
    let mut inputs = Inputs::default();
    for path in paths {
        if path.join("trials.json").is_file() {
            let (sweep, best) = load_sweep(path)?;
            inputs.sweeps.push(sweep);
            inputs.models.extend(best);
        } else if path.join("results.csv").is_file() {
            inputs.models.extend(load_baselines(path)?);
        } else if path.join("config.toml").is_file()
            && (path.join("metrics.csv").is_file() || path.join("summary.json").is_file())
        {
            inputs.models.push(load_cnn_run(path, None)?);
        } else {
            return Err(Error::InvalidArgument(format!(
                "{}: not a CNN run, baseline run or sweep folder (no trials.json, results.csv, \
                 or config.toml with metrics.csv)",
                path.display()
            )));
        }
    }
    if inputs.models.is_empty() && inputs.sweeps.is_empty() {
        return Err(Error::InvalidArgument("nothing to report".into()));
    }
    Ok(inputs)
}

fn folder_name(path: &Path) -> String {
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    canonical
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::manifest(path, format!("not readable: {e}")))
}

/// A CNN run's `summary.json`, the fields the report shows.
#[derive(Deserialize)]
struct RunSummary {
    arch: String,
    classes: Vec<String>,
    best_epoch: Option<usize>,
    best_val: Option<SplitMetrics>,
    test: Option<SplitMetrics>,
    parameters: usize,
}

/// A CNN run: `eval-*.json` files first, else the summary's best val and
/// test; `name` overrides the folder's name.
pub fn load_cnn_run(run: &Path, name: Option<String>) -> Result<ModelEntry> {
    let summary_path = run.join("summary.json");
    let summary: Option<RunSummary> = summary_path
        .is_file()
        .then(|| read_json(&summary_path))
        .transpose()?;
    let curves = if run.join("metrics.csv").is_file() {
        read_metrics_csv(&run.join("metrics.csv"))?
    } else {
        Vec::new()
    };
    let (mut splits, eval_classes) = eval_file_results(run)?;
    if let Some(s) = &summary {
        // The summary's figures only for splits no eval file covers.
        for (split, metrics) in [("val", &s.best_val), ("test", &s.test)] {
            if let (Some(m), false) = (metrics, splits.iter().any(|r| r.split == split)) {
                splits.push(SplitResult {
                    split: split.into(),
                    metrics: m.clone(),
                    source: summary_path.clone(),
                });
            }
        }
    }
    let best_epoch = summary.as_ref().and_then(|s| s.best_epoch);
    let train_accuracy = match splits.iter().position(|s| s.split == "train") {
        Some(i) => Some((splits.remove(i).metrics.accuracy, true)),
        None => best_epoch
            .and_then(|e| curves.iter().find(|p| p.epoch == e && p.split == "train"))
            .map(|p| (p.accuracy, false)),
    };
    splits.sort_by_key(|s| split_order(&s.split));
    let details = match &summary {
        Some(s) => format!(
            "{} ({} parameters), best epoch {}",
            s.arch,
            s.parameters,
            best_epoch.map_or("-".into(), |e| e.to_string())
        ),
        None => "no summary.json (run unfinished)".into(),
    };
    let classes = match &summary {
        Some(s) if !s.classes.is_empty() => s.classes.clone(),
        _ => eval_classes,
    };
    Ok(ModelEntry {
        name: name.unwrap_or_else(|| folder_name(run)),
        kind: "CNN",
        folder: run.to_path_buf(),
        classes,
        train_accuracy,
        splits,
        curves,
        details,
    })
}

/// The run's `eval-<split>.json` (or `eval-<manifest>-<split>.json`, on
/// another set) files in name order, labelled by what follows `eval-`,
/// with the classes of the first.
fn eval_file_results(run: &Path) -> Result<(Vec<SplitResult>, Vec<String>)> {
    #[derive(Deserialize)]
    struct EvalFile {
        classes: Vec<String>,
        #[serde(flatten)]
        metrics: SplitMetrics,
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(run)
        .map_err(|e| Error::io(run, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with("eval-") && name.ends_with(".json")
        })
        .collect();
    paths.sort();
    let mut classes = Vec::new();
    let mut splits = Vec::new();
    for path in paths {
        let eval: EvalFile = read_json(&path)?;
        if classes.is_empty() {
            classes = eval.classes;
        }
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        splits.push(SplitResult {
            split: stem.trim_start_matches("eval-").to_string(),
            metrics: eval.metrics,
            source: path.clone(),
        });
    }
    Ok((splits, classes))
}

fn split_order(split: &str) -> (usize, String) {
    let rank = match split {
        "train" => 0,
        "val" => 1,
        "test" => 2,
        _ => 3,
    };
    (rank, split.to_string())
}

/// Every model of a baseline run: results.csv, and the confusion matrix
/// CSVs of its val and test splits.
fn load_baselines(run: &Path) -> Result<Vec<ModelEntry>> {
    let results = run.join("results.csv");
    let (mut reader, header, lines) = open_csv(&results, true)?;
    let column = |name: &str| header.iter().position(|h| h == name);
    let (Some(model), Some(params), Some(train)) = (
        column("model"),
        column("best_params"),
        column("train_accuracy"),
    ) else {
        return Err(Error::Csv {
            path: results.clone(),
            line: 1,
            reason: "expected model, best_params and train_accuracy columns".into(),
        });
    };
    let run_name = folder_name(run);
    let mut entries = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| lines.error(e))?;
        let name = record.get(model).unwrap_or("").to_string();
        let mut splits = Vec::new();
        let mut classes = Vec::new();
        for split in ["val", "test"] {
            let path = run.join(format!("confusion_{name}_{split}.csv"));
            if path.is_file() {
                let (c, confusion) = read_confusion(&path)?;
                classes = c;
                splits.push(SplitResult {
                    split: split.into(),
                    metrics: SplitMetrics::from_confusion(&classes, confusion, f64::NAN),
                    source: path,
                });
            }
        }
        entries.push(ModelEntry {
            name: format!("{name} ({run_name})"),
            kind: "baseline",
            folder: run.to_path_buf(),
            classes,
            train_accuracy: record
                .get(train)
                .and_then(|v| v.trim().parse().ok())
                .map(|a| (a, true)),
            splits,
            curves: Vec::new(),
            details: record.get(params).unwrap_or("").to_string(),
        });
    }
    Ok(entries)
}

/// `confusion_<model>_<split>.csv`: classes and `[true][predicted]` counts.
fn read_confusion(path: &Path) -> Result<(Vec<String>, Vec<Vec<usize>>)> {
    let (mut reader, header, lines) = open_csv(path, true)?;
    let classes: Vec<String> = header.iter().skip(1).cloned().collect();
    let mut counts = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| lines.error(e))?;
        let line = lines.line(record.position());
        let row = record
            .iter()
            .skip(1)
            .map(|v| v.trim().parse::<usize>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::Csv {
                path: path.to_path_buf(),
                line,
                reason: format!("a count is not a whole number ({e})"),
            })?;
        if row.len() != classes.len() {
            return Err(Error::Csv {
                path: path.to_path_buf(),
                line,
                reason: format!("{} counts for {} classes", row.len(), classes.len()),
            });
        }
        counts.push(row);
    }
    if counts.len() != classes.len() {
        return Err(Error::manifest(path, "not a square confusion matrix"));
    }
    Ok((classes, counts))
}

/// A sweep: its leaderboard, plots, and its best finished trial as a model.
fn load_sweep(dir: &Path) -> Result<(SweepEntry, Option<ModelEntry>)> {
    let leaderboard_path = dir.join("leaderboard.md");
    let leaderboard = std::fs::read_to_string(&leaderboard_path).unwrap_or_else(|_| {
        "(no leaderboard.md yet: run `soundclass sweep status` on the folder)".into()
    });
    let mut plots: Vec<PathBuf> = std::fs::read_dir(dir.join("plots"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "png"))
                .collect()
        })
        .unwrap_or_default();
    plots.sort();
    // Sweep sessions live in <sweep>/<session>: name both.
    let name = match dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => format!("{}/{}", folder_name(parent), folder_name(dir)),
        None => folder_name(dir),
    };
    let best = best_trial(dir)?.map(|trial| {
        let label = format!("{name} best trial {}", folder_name(&trial));
        load_cnn_run(&trial, Some(label))
    });
    Ok((
        SweepEntry {
            name,
            folder: dir.to_path_buf(),
            leaderboard,
            plots,
        },
        best.transpose()?,
    ))
}

/// The finished trial with the best validation accuracy.
fn best_trial(dir: &Path) -> Result<Option<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(dir.join("trials")) else {
        return Ok(None);
    };
    let mut best: Option<(f64, PathBuf)> = None;
    for trial in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        #[derive(Deserialize)]
        struct Average {
            val: Option<SplitMetrics>,
        }
        #[derive(Deserialize)]
        struct Summary {
            best_val: Option<SplitMetrics>,
            average: Option<Average>,
        }
        let summary = trial.join("summary.json");
        let Ok(s) = read_json::<Summary>(&summary) else {
            continue;
        };
        // The trial's model: its weight average when it made one.
        if let Some(v) = s.average.and_then(|a| a.val).or(s.best_val) {
            if best.as_ref().is_none_or(|(a, _)| v.accuracy > *a) {
                best = Some((v.accuracy, trial));
            }
        }
    }
    Ok(best.map(|(_, p)| p))
}

//! Validation and test: class probabilities averaged over each clip's
//! evaluation crops, the metrics they give, and `soundclass evaluate`.

use std::path::{Path, PathBuf};

use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor};
use serde::Serialize;

use super::model_checkpoint;
use super::setup::Setup;
use crate::config::Config;
use crate::data::spectrograms::report_skipped;
use crate::data::Split;
use crate::error::{Error, Result};
use crate::model::cnn::SoundCnn;
use crate::plot::confusion_matrix_png;
use crate::train::checkpoint;
use crate::train::clips::{eval_crops, ClipSet};
use crate::train::device::DeviceChoice;
use crate::train::frontend::HostInput;
use crate::train::metrics::SplitMetrics;
use crate::train::prior::{correct_rows, run_correction};
use crate::util::atomic_write_str;

/// The values of `tensor`, row-major, on the host (`what` names it in errors).
pub fn host_values<const D: usize>(tensor: Tensor<D>, what: &str) -> Result<Vec<f32>> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| Error::InvalidArgument(format!("reading {what}: {e:?}")))
}

/// Class probabilities of every clip in `clips` (averaged over its
/// evaluation windows) and the metrics they give.
pub(super) fn evaluate_set(
    model: &SoundCnn,
    clips: &ClipSet,
    setup: &Setup,
    config: &Config,
    device: &Device,
) -> Result<SplitMetrics> {
    let probabilities = predict_set(model, clips, setup, config, device)?;
    let rows: Vec<&[f32]> = probabilities.chunks(setup.classes.len()).collect();
    Ok(SplitMetrics::from_probabilities(
        &setup.classes,
        &rows,
        &clips.labels,
    ))
}

/// `[clips x classes]` probabilities, row-major.
fn predict_set(
    model: &SoundCnn,
    clips: &ClipSet,
    setup: &Setup,
    config: &Config,
    device: &Device,
) -> Result<Vec<f32>> {
    let k = setup.classes.len();
    let hop = (config.training.eval_mode == "windows").then(|| {
        ((config.training.eval_hop_seconds * config.audio.sample_rate as f64).round() as usize)
            .max(1)
    });
    let pad = config.audio.pad;
    // (clip, crop) pairs, evaluated in batches of the training batch size.
    let mut owners = Vec::new();
    let mut crops = Vec::new();
    for (i, audio) in clips.audio.iter().enumerate() {
        for crop in eval_crops(audio, setup.crop_samples, pad, hop) {
            owners.push(i);
            crops.push(crop);
        }
    }
    let mut sums = vec![0.0f32; clips.len() * k];
    let mut counts = vec![0usize; clips.len()];
    let host_mel = setup.frontend.host_part();
    let batch = config.training.batch_size.max(1);
    let windows = crops.len();
    let mut start = 0;
    let mut crops = crops.into_iter();
    while start < windows {
        let chunk: Vec<Vec<f32>> = crops.by_ref().take(batch).collect();
        let n = chunk.len();
        let input = HostInput::prepare(chunk, host_mel.as_deref())?;
        let x = setup.frontend.to_device(input, device)?;
        let mut values = host_values(softmax(model.forward(x), 1), "probabilities")?;
        if let Some(factors) = &setup.prior_factors {
            correct_rows(&mut values, factors);
        }
        for (j, row) in values.chunks(k).enumerate() {
            let owner = owners[start + j];
            counts[owner] += 1;
            for (c, &p) in row.iter().enumerate() {
                sums[owner * k + c] += p;
            }
        }
        start += n;
    }
    for (i, &count) in counts.iter().enumerate() {
        for value in &mut sums[i * k..(i + 1) * k] {
            *value /= count.max(1) as f32;
        }
    }
    Ok(sums)
}

/// What `soundclass evaluate` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct EvalOutcome {
    #[serde(flatten)]
    pub metrics: SplitMetrics,
    /// The JSON report (its confusion-matrix PNG lies beside it).
    pub report: PathBuf,
}

/// `soundclass evaluate`: the model (weight average, else best checkpoint)
/// of `run_dir` on `split` of `manifest` (default: the run's own). Results
/// on the run's own manifest go to `eval-<split>.json` and
/// `confusion_<split>.png`; on another
/// manifest to `eval-<manifest stem>-<split>.json` and its PNG, so they
/// never overwrite the run's own; `out` names the JSON explicitly.
pub fn evaluate_run(
    run_dir: &Path,
    manifest: Option<&Path>,
    split: Split,
    device: DeviceChoice,
    quiet: bool,
    out: Option<&Path>,
) -> Result<EvalOutcome> {
    let config = Config::load(Some(&run_dir.join("config.toml")), &[])?;
    let mut setup = Setup::new(&config, manifest, device)?;
    setup.prior_factors =
        run_correction(run_dir, config.training.prior_correction, &setup.classes)?;
    let (clips, skipped, _) = setup.load_split(&config, split, quiet)?;
    report_skipped(&skipped);
    if clips.is_empty() {
        return Err(Error::Manifest {
            path: setup.manifest_path.clone(),
            reason: format!("no readable `{}` clips to evaluate", split.as_str()),
        });
    }
    let path = model_checkpoint(run_dir);
    let ckpt = checkpoint::load(&path)?;
    let inner = setup.device.device.clone();
    let model = ckpt.load_model(&path, setup.new_model(&config, &inner)?)?;
    let metrics = evaluate_set(&model, &clips, &setup, &config, &inner)?;
    let own = config
        .data
        .manifest
        .as_deref()
        .is_some_and(|m| same_file(m, &setup.manifest_path));
    let split_name = split.as_str();
    let (report, png) = match out {
        Some(path) => (path.to_path_buf(), path.with_extension("png")),
        None if own => (
            run_dir.join(format!("eval-{split_name}.json")),
            run_dir.join(format!("confusion_{split_name}.png")),
        ),
        None => {
            let tag = file_tag(&setup.manifest_path);
            (
                run_dir.join(format!("eval-{tag}-{split_name}.json")),
                run_dir.join(format!("confusion_{tag}_{split_name}.png")),
            )
        }
    };
    let written = EvalFiles {
        json: &report,
        png: &png,
        manifest: &setup.manifest_path,
    };
    write_eval_files(&written, split_name, &setup.classes, &metrics, &path)?;
    Ok(EvalOutcome { metrics, report })
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// A file name part from a manifest's name: its stem, with anything but
/// letters, digits, `-` and `_` replaced.
fn file_tag(manifest: &Path) -> String {
    let stem = manifest
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "manifest".into());
    stem.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Where one evaluation's files go.
struct EvalFiles<'a> {
    json: &'a Path,
    png: &'a Path,
    manifest: &'a Path,
}

/// The run's own evaluation of `split` (training's test pass).
pub(super) fn write_eval_report(
    run_dir: &Path,
    split: &str,
    classes: &[String],
    metrics: &SplitMetrics,
    checkpoint: &Path,
    manifest: &Path,
) -> Result<()> {
    let files = EvalFiles {
        json: &run_dir.join(format!("eval-{split}.json")),
        png: &run_dir.join(format!("confusion_{split}.png")),
        manifest,
    };
    write_eval_files(&files, split, classes, metrics, checkpoint)
}

fn write_eval_files(
    files: &EvalFiles,
    split: &str,
    classes: &[String],
    metrics: &SplitMetrics,
    checkpoint: &Path,
) -> Result<()> {
    #[derive(Serialize)]
    struct Report<'a> {
        split: &'a str,
        manifest: &'a Path,
        checkpoint: &'a Path,
        classes: &'a [String],
        #[serde(flatten)]
        metrics: &'a SplitMetrics,
    }
    let report = Report {
        split,
        manifest: files.manifest,
        checkpoint,
        classes,
        metrics,
    };
    let json =
        serde_json::to_string_pretty(&report).map_err(|e| Error::InvalidArgument(e.to_string()))?;
    atomic_write_str(files.json, &json)?;
    confusion_matrix_png(
        files.png,
        &format!(
            "{split}: accuracy {:.1}%, macro-F1 {:.3}",
            100.0 * metrics.accuracy,
            metrics.macro_f1
        ),
        classes,
        &metrics.confusion,
    )
}

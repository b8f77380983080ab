//! Validation and test: class probabilities averaged over each clip's
//! evaluation crops, the metrics they give, and `soundclass evaluate`.

use std::path::Path;

use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor};
use serde::Serialize;

use super::best_checkpoint;
use super::setup::Setup;
use crate::config::Config;
use crate::data::spectrograms::report_skipped;
use crate::data::Split;
use crate::error::{Error, Result};
use crate::model::argmax;
use crate::model::cnn::SoundCnn;
use crate::plot::confusion_matrix_png;
use crate::train::checkpoint;
use crate::train::clips::{eval_crops, ClipSet};
use crate::train::device::DeviceChoice;
use crate::train::frontend::HostInput;
use crate::train::metrics::SplitMetrics;
use crate::util::atomic_write_str;

/// The values of `tensor`, row-major, on the host (`what` names it in errors).
pub(super) fn host_values<const D: usize>(tensor: Tensor<D>, what: &str) -> Result<Vec<f32>> {
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
    let k = setup.classes.len();
    let mut loss = 0.0;
    let mut predicted = Vec::with_capacity(clips.len());
    for (i, &label) in clips.labels.iter().enumerate() {
        let row = &probabilities[i * k..(i + 1) * k];
        loss -= (row[label] as f64).max(1e-12).ln();
        predicted.push(argmax(row));
    }
    Ok(SplitMetrics::from_predictions(
        &setup.classes,
        &clips.labels,
        &predicted,
        loss / clips.len().max(1) as f64,
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
        let values = host_values(softmax(model.forward(x), 1), "probabilities")?;
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

/// `soundclass evaluate`: the best checkpoint of `run_dir` on `split` of
/// `manifest` (default: the run's own), writing `eval-<split>.json` and a
/// confusion-matrix PNG.
pub fn evaluate_run(
    run_dir: &Path,
    manifest: Option<&Path>,
    split: Split,
    device: DeviceChoice,
    quiet: bool,
) -> Result<SplitMetrics> {
    let config = Config::load(Some(&run_dir.join("config.toml")), &[])?;
    let setup = Setup::new(&config, manifest, device)?;
    let (clips, skipped, _) = setup.load_split(&config, split, quiet)?;
    report_skipped(&skipped);
    if clips.is_empty() {
        return Err(Error::Manifest {
            path: setup.manifest_path.clone(),
            reason: format!("no readable `{}` clips to evaluate", split.as_str()),
        });
    }
    let path = best_checkpoint(run_dir);
    let ckpt = checkpoint::load(&path)?;
    let inner = setup.device.device.clone();
    let model = ckpt.load_model(&path, setup.new_model(&config, &inner)?)?;
    let metrics = evaluate_set(&model, &clips, &setup, &config, &inner)?;
    write_eval_report(run_dir, split.as_str(), &setup.classes, &metrics, &path)?;
    Ok(metrics)
}

pub(super) fn write_eval_report(
    run_dir: &Path,
    split: &str,
    classes: &[String],
    metrics: &SplitMetrics,
    checkpoint: &Path,
) -> Result<()> {
    #[derive(Serialize)]
    struct Report<'a> {
        split: &'a str,
        checkpoint: &'a Path,
        classes: &'a [String],
        #[serde(flatten)]
        metrics: &'a SplitMetrics,
    }
    let report = Report {
        split,
        checkpoint,
        classes,
        metrics,
    };
    let json =
        serde_json::to_string_pretty(&report).map_err(|e| Error::InvalidArgument(e.to_string()))?;
    atomic_write_str(&run_dir.join(format!("eval-{split}.json")), &json)?;
    confusion_matrix_png(
        &run_dir.join(format!("confusion_{split}.png")),
        &format!(
            "{split}: accuracy {:.1}%, macro-F1 {:.3}",
            100.0 * metrics.accuracy,
            metrics.macro_f1
        ),
        classes,
        &metrics.confusion,
    )
}

//! What a run writes besides checkpoints: `skipped.csv`, `metrics.csv`,
//! `run.json`, log-Mel examples, the console's epoch line and TensorBoard
//! (scalars, images, HParams).

use std::path::Path;

use super::setup::Setup;
use crate::config::Config;
use crate::data::spectrograms::SkippedClip;
use crate::dsp::{write_spectrogram_png, MelSpectrogram};
use crate::error::{Error, Result};
use crate::train::checkpoint::EpochRecord;
use crate::train::clips::{eval_crops, ClipSet};
use crate::train::tensorboard::{EventWriter, HParamValue};
use crate::util::{atomic_write_str, utc_timestamp};

pub(super) fn write_skipped(run_dir: &Path, skipped: &[SkippedClip]) -> Result<()> {
    crate::util::atomic_write(&run_dir.join("skipped.csv"), |w| {
        let mut writer = csv::Writer::from_writer(w);
        writer.write_record(["path", "error"])?;
        for clip in skipped {
            writer.write_record([clip.path.to_string_lossy().as_ref(), clip.error.as_str()])?;
        }
        writer.flush()
    })
}

/// `metrics.csv`, rewritten whole from the history after every epoch.
pub(super) fn write_metrics_csv(run_dir: &Path, history: &[EpochRecord]) -> Result<()> {
    let mut text = String::from("epoch,split,loss,accuracy,macro_f1,lr,clips_per_s\n");
    for r in history {
        text.push_str(&format!(
            "{},train,{:.6},{:.6},{:.6},{:.6e},{:.2}\n",
            r.epoch,
            r.train_loss,
            r.train_accuracy,
            r.train_macro_f1,
            r.lr,
            r.train_clips_per_second
        ));
        if let Some(val) = &r.val {
            text.push_str(&format!(
                "{},val,{:.6},{:.6},{:.6},{:.6e},{:.2}\n",
                r.epoch, val.loss, val.accuracy, val.macro_f1, r.lr, r.val_clips_per_second
            ));
        }
    }
    atomic_write_str(&run_dir.join("metrics.csv"), &text)
}

pub(super) fn tb_error(events: &EventWriter, e: std::io::Error) -> Error {
    Error::io(events.path(), e)
}

/// The per-epoch TensorBoard scalars of `r`: (tag, value), logged at step
/// `r.epoch`.
pub fn epoch_scalars(r: &EpochRecord) -> Vec<(&'static str, f64)> {
    let mut scalars: Vec<(&'static str, f64)> = vec![
        ("loss/train", r.train_loss),
        ("accuracy/train", r.train_accuracy),
        ("macro_f1/train", r.train_macro_f1),
        ("lr", r.lr),
        ("throughput/train_clips_per_s", r.train_clips_per_second),
    ];
    if let Some(val) = &r.val {
        scalars.extend([
            ("loss/val", val.loss),
            ("accuracy/val", val.accuracy),
            ("macro_f1/val", val.macro_f1),
            ("balanced_accuracy/val", val.balanced_accuracy),
            ("throughput/val_clips_per_s", r.val_clips_per_second),
        ]);
    }
    scalars
}

pub(super) fn log_epoch(events: &mut EventWriter, r: &EpochRecord) -> Result<()> {
    let epoch = r.epoch as i64;
    for (tag, value) in epoch_scalars(r) {
        events
            .add_scalar(tag, value as f32, epoch)
            .map_err(|e| tb_error(events, e))?;
    }
    for &(s, loss) in &r.step_losses {
        events
            .add_scalar("loss/train_step", loss as f32, s as i64)
            .map_err(|e| tb_error(events, e))?;
    }
    events.flush().map_err(|e| tb_error(events, e))
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let w = u32::from_be_bytes(bytes.get(16..20)?.try_into().ok()?);
    let h = u32::from_be_bytes(bytes.get(20..24)?.try_into().ok()?);
    Some((w, h))
}

pub(super) fn add_png(events: &mut EventWriter, tag: &str, path: &Path, step: i64) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let (w, h) = png_size(&bytes).unwrap_or((0, 0));
    events
        .add_image(tag, &bytes, w, h, 3, step)
        .map_err(|e| tb_error(events, e))
}

/// Log-Mel images of the first train clip of each class (centre crops, the
/// CPU path), as PNGs in `examples/` and in TensorBoard.
pub(super) fn log_mel_examples(
    run_dir: &Path,
    events: &mut EventWriter,
    config: &Config,
    train: &ClipSet,
    setup: &Setup,
) -> Result<()> {
    let mel = MelSpectrogram::new(&config.spectrogram, config.audio.sample_rate);
    for (class_index, class) in setup.classes.iter().enumerate() {
        let Some(i) = train.labels.iter().position(|&l| l == class_index) else {
            continue;
        };
        let crop = &eval_crops(&train.audio[i], setup.crop_samples, config.audio.pad, None)[0];
        let spec = mel.compute(crop)?;
        let path = run_dir.join("examples").join(format!("{class}.png"));
        write_spectrogram_png(&path, &spec)?;
        add_png(events, &format!("log_mel/{class}"), &path, 0)?;
    }
    Ok(())
}

/// The hyperparameters a run reports to TensorBoard's HParams dashboard.
pub fn hparams_of(config: &Config) -> Vec<(String, HParamValue)> {
    let text = |s: &str| HParamValue::String(s.to_string());
    let number = HParamValue::Number;
    let mut values = vec![
        ("model.arch".into(), text(&config.model.arch)),
        ("model.width".into(), number(config.model.width as f64)),
        ("model.blocks".into(), number(config.model.blocks as f64)),
        ("model.dropout".into(), number(config.model.dropout)),
        ("model.init.conv".into(), text(&config.model.init.conv)),
        ("model.init.linear".into(), text(&config.model.init.linear)),
        ("optim.kind".into(), text(&config.optim.kind)),
        (
            "optim.weight_decay".into(),
            number(config.optim.weight_decay),
        ),
        ("training.lr".into(), number(config.training.lr)),
        (
            "training.batch_size".into(),
            number(config.training.batch_size as f64),
        ),
        (
            "training.epochs".into(),
            number(config.training.epochs as f64),
        ),
        ("training.seed".into(), number(config.training.seed as f64)),
        (
            "training.average_last_epochs".into(),
            number(config.training.average_last_epochs as f64),
        ),
        (
            "training.label_smoothing".into(),
            number(config.training.label_smoothing),
        ),
        (
            "augment.mixup_alpha".into(),
            number(config.augment.mixup_alpha),
        ),
        (
            "augment.mixstyle_prob".into(),
            number(config.augment.mixstyle_prob),
        ),
        (
            "augment.time_masks".into(),
            number(config.augment.time_masks as f64),
        ),
        (
            "augment.freq_masks".into(),
            number(config.augment.freq_masks as f64),
        ),
        (
            "audio.clip_seconds".into(),
            number(config.audio.clip_seconds),
        ),
    ];
    values.extend(
        config
            .augment
            .waveform_probabilities()
            .into_iter()
            .map(|(key, p)| (format!("augment.{key}"), number(p))),
    );
    values
}

pub(super) fn epoch_line(r: &EpochRecord, improved: bool) -> String {
    let val = match &r.val {
        Some(v) => format!(
            "val loss {:.4} acc {:.3} F1 {:.3}",
            v.loss, v.accuracy, v.macro_f1
        ),
        None => "no val split".into(),
    };
    format!(
        "epoch {:>3}: train loss {:.4} acc {:.3} | {val} | lr {:.2e} | {:.1} clips/s{}",
        r.epoch,
        r.train_loss,
        r.train_accuracy,
        r.lr,
        r.train_clips_per_second,
        if improved { " *" } else { "" }
    )
}

/// `run.json`: what produced this run.
pub(super) fn write_run_info(
    run_dir: &Path,
    config: &Config,
    setup: &Setup,
    resumed: bool,
) -> Result<()> {
    let manifest_bytes =
        std::fs::read(&setup.manifest_path).map_err(|e| Error::io(&setup.manifest_path, e))?;
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let info = serde_json::json!({
        "started_utc": utc_timestamp(),
        "soundclass_version": env!("CARGO_PKG_VERSION"),
        "git_sha": git(&["rev-parse", "HEAD"]),
        "git_dirty": git(&["status", "--porcelain", "--untracked-files=no"]).map(|s| !s.is_empty()),
        "manifest": setup.manifest_path,
        "manifest_xxh3": format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&manifest_bytes)),
        "device": setup.device.description,
        "device_kind": setup.device.name,
        // The GPU a sweep worker was given (`sweep run --devices`).
        "gpu_index": std::env::var(crate::gpu::GPU_INDEX_VAR).ok(),
        "cuda_visible_devices": std::env::var("CUDA_VISIBLE_DEVICES").ok(),
        "front_end": setup.frontend.describe(),
        "resumed": resumed,
        "experiment": config.experiment.name,
        "argv": std::env::args().collect::<Vec<_>>(),
    });
    let name = if resumed {
        format!("run-resumed-{}.json", utc_timestamp())
    } else {
        "run.json".to_string()
    };
    atomic_write_str(
        &run_dir.join(name),
        &serde_json::to_string_pretty(&info).unwrap_or_default(),
    )
}

/// Peak resident memory of this process (Linux), in MiB.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

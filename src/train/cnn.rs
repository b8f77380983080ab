//! CNN training and evaluation: `soundclass train` and `soundclass evaluate`.
//!
//! One epoch: a loader thread crops clips from memory (and, off-GPU,
//! computes their log-Mel) and draws augmentation while the device runs the
//! previous step; the model trains on log-Mel with SpecAugment masks and
//! mixup; validation runs on fixed crops or sliding windows; then the epoch
//! is checkpointed (atomically: `last.ckpt` always, `best.ckpt` when the
//! monitored metric improves), `metrics.csv` is rewritten and TensorBoard
//! gets its scalars.

use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor, TensorData};
use serde::Serialize;

use crate::audio::fit_length;
use crate::config::Config;
use crate::data::spectrograms::{report_skipped, SkippedClip};
use crate::data::{Manifest, Split};
use crate::dsp::{write_spectrogram_png, MelSpectrogram};
use crate::error::{Error, Result};
use crate::model::argmax;
use crate::model::cnn::SoundCnn;
use crate::plot::confusion_matrix_png;
use crate::train::checkpoint::{self, EpochRecord, TrainState};
use crate::train::clips::{epoch_order, epoch_rng, eval_crops, stream, ClipSet};
use crate::train::device::{DeviceChoice, TrainDevice};
use crate::train::frontend::{
    apply_augment, soft_cross_entropy, soft_targets, AugmentDraw, HostInput, MelFrontend,
};
use crate::train::metrics::SplitMetrics;
use crate::train::optim::{build_optimizer, learning_rate};
use crate::train::run_folder;
use crate::train::tensorboard::{EventWriter, HParamValue};
use crate::util::{atomic_write_str, progress_bar, utc_timestamp};

/// What `soundclass train` was asked to do.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    pub config: Config,
    pub device: DeviceChoice,
    /// Exactly this run folder (`--run-dir`).
    pub run_dir: Option<PathBuf>,
    /// Continue this run from its last checkpoint (`--resume`).
    pub resume: Option<PathBuf>,
    pub quiet: bool,
    /// End this session after this many epochs in total, checkpointed as
    /// usual, so `--resume` continues it (time-sliced or preemptible jobs).
    pub stop_after_epochs: Option<usize>,
}

/// What a finished training run reports (`summary.json`).
#[derive(Debug, Clone, Serialize)]
pub struct TrainSummary {
    pub run_dir: PathBuf,
    pub device: String,
    pub arch: String,
    pub parameters: usize,
    pub classes: Vec<String>,
    pub train_clips: usize,
    pub val_clips: usize,
    pub epochs_run: usize,
    pub stopped_early: bool,
    pub monitor: String,
    pub best_epoch: Option<usize>,
    pub best_val: Option<SplitMetrics>,
    pub test: Option<SplitMetrics>,
    pub skipped_clips: Vec<SkippedClip>,
    pub train_seconds: f64,
    pub train_clips_per_second: f64,
    pub peak_rss_mb: Option<f64>,
}

/// Paths inside a run folder.
pub fn last_checkpoint(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoints").join("last.ckpt")
}

pub fn best_checkpoint(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoints").join("best.ckpt")
}

/// Everything shared by training and evaluation: manifest, classes, the
/// device and the log-Mel front end.
struct Setup {
    manifest: Manifest,
    manifest_path: PathBuf,
    classes: Vec<String>,
    device: TrainDevice,
    frontend: MelFrontend,
    crop_samples: usize,
    n_mels: usize,
}

impl Setup {
    fn new(
        config: &Config,
        manifest_override: Option<&Path>,
        device: DeviceChoice,
    ) -> Result<Self> {
        let manifest_path = match manifest_override {
            Some(path) => path.to_path_buf(),
            None => config
                .data
                .manifest
                .clone()
                .ok_or_else(|| Error::ConfigValue {
                    key: "data.manifest".into(),
                    reason: "training needs a manifest (set data.manifest or pass --manifest)"
                        .into(),
                })?,
        };
        let manifest = Manifest::load(&manifest_path)?;
        let classes = if config.data.classes.is_empty() {
            manifest.labels()
        } else {
            config.data.classes.clone()
        };
        if classes.len() < 2 {
            return Err(Error::ConfigValue {
                key: "data.classes".into(),
                reason: format!("need at least 2 classes, got {classes:?}"),
            });
        }
        if config.audio.clip_seconds <= 0.0 {
            return Err(Error::ConfigValue {
                key: "audio.clip_seconds".into(),
                reason: "CNN training needs a fixed crop length (> 0 seconds)".into(),
            });
        }
        let device = TrainDevice::select(device)?;
        let frontend = MelFrontend::new(
            &config.spectrogram,
            config.audio.sample_rate,
            device.wgpu.then_some(&device.device),
        )?;
        let crop_samples =
            (config.audio.clip_seconds * config.audio.sample_rate as f64).round() as usize;
        Ok(Self {
            manifest,
            manifest_path,
            classes,
            device,
            frontend,
            crop_samples,
            n_mels: config.spectrogram.n_mels,
        })
    }

    fn load_split(
        &self,
        config: &Config,
        split: Split,
        quiet: bool,
    ) -> Result<(ClipSet, Vec<SkippedClip>)> {
        ClipSet::load(
            &self.manifest,
            &self.manifest_path,
            split,
            &self.classes,
            config.audio.sample_rate,
            config.training.cache_seconds,
            quiet,
        )
    }

    fn new_model(&self, config: &Config, device: &Device) -> Result<SoundCnn> {
        SoundCnn::new(&config.model, self.n_mels, self.classes.len(), device)
    }
}

/// One prepared training batch, as the loader thread sends it.
struct PreparedBatch {
    input: HostInput,
    labels: Vec<usize>,
    targets: Vec<f32>,
    augment: AugmentDraw,
}

/// Train as `request` says; returns the summary also written to
/// `summary.json`.
pub fn train(request: TrainRequest) -> Result<TrainSummary> {
    let config = &request.config;
    // Manifest and device first: a bad request leaves no empty run folder.
    let setup = Setup::new(config, None, request.device)?;
    let run_dir = match &request.resume {
        Some(dir) => {
            config.write_resolved(&dir.join("config.toml"))?;
            dir.clone()
        }
        None => run_folder(config, request.run_dir.as_deref())?,
    };
    let say = |text: &str| {
        if !request.quiet {
            eprintln!("{text}");
        }
    };
    say(&format!("device: {}", setup.device.description));
    say(&format!("front end: {}", setup.frontend.describe()));
    say(&format!("run folder: {}", run_dir.display()));

    let (train_set, mut skipped) = setup.load_split(config, Split::Train, request.quiet)?;
    let (val_set, val_skipped) = setup.load_split(config, Split::Val, request.quiet)?;
    let (test_set, test_skipped) = setup.load_split(config, Split::Test, request.quiet)?;
    skipped.extend(val_skipped);
    skipped.extend(test_skipped);
    report_skipped(&skipped);
    write_skipped(&run_dir, &skipped)?;
    if train_set.len() < 2 {
        return Err(Error::Manifest {
            path: setup.manifest_path.clone(),
            reason: format!(
                "need at least 2 readable train clips, found {}",
                train_set.len()
            ),
        });
    }
    write_run_info(&run_dir, config, &setup, &request)?;

    let inner = setup.device.device.clone();
    let device = inner.clone().autodiff();
    device.seed(config.training.seed);
    let mut model = setup.new_model(config, &device)?;
    let mut optimizer = build_optimizer(&config.optim, &config.training);
    let mut state = TrainState::new();
    if request.resume.is_some() {
        let path = last_checkpoint(&run_dir);
        let ckpt = checkpoint::load(&path)?;
        model = ckpt.load_model(&path, model)?;
        optimizer = ckpt.load_optimizer(&path, optimizer)?;
        state = ckpt.state;
        say(&format!(
            "resuming after epoch {} (step {})",
            state.epoch, state.step
        ));
    }

    let mut events = EventWriter::create(&run_dir.join("tensorboard"))
        .map_err(|e| Error::io(run_dir.join("tensorboard"), e))?;
    if state.epoch == 0 {
        // The config as saved in the run folder (paths made absolute).
        let saved = run_dir.join("config.toml");
        let text = std::fs::read_to_string(&saved).map_err(|e| Error::io(&saved, e))?;
        events
            .add_text("config", &format!("```toml\n{text}\n```"), 0)
            .map_err(|e| tb_error(&events, e))?;
        log_mel_examples(&run_dir, &mut events, config, &train_set, &setup)?;
    }

    let t = &config.training;
    let batch = t.batch_size.min(train_set.len());
    let steps_per_epoch = train_set.len() / batch;
    let balanced = t.sampler == "balanced";
    let n_classes = setup.classes.len();
    let host_mel = setup.frontend.host_part();
    let crop_samples = setup.crop_samples;
    let frames = setup.frontend.n_frames(crop_samples)?;

    let session_end = request.stop_after_epochs.unwrap_or(t.epochs).min(t.epochs);
    while state.epoch < session_end && !state.stopped_early {
        let epoch = state.epoch;
        let epoch_started = Instant::now();
        // Dropout draws per epoch: a resumed run draws what an uninterrupted one would.
        device.seed(
            t.seed
                .wrapping_mul(1_000_003)
                .wrapping_add(epoch as u64 + 1),
        );
        let order = epoch_order(
            &train_set.labels,
            n_classes,
            balanced,
            &mut epoch_rng(t.seed, epoch, stream::ORDER),
        );
        let bar = progress_bar(
            steps_per_epoch as u64,
            &format!("epoch {}", epoch + 1),
            request.quiet,
        );
        let mut loss_sum = 0.0;
        let mut seen = 0usize;
        let mut predicted = Vec::with_capacity(order.len());
        let mut truth = Vec::with_capacity(order.len());
        let mut step_losses = Vec::new();
        let mut pending_loss = (0.0, 0usize);
        let mut lr = learning_rate(t, state.step, steps_per_epoch);
        std::thread::scope(|scope| -> Result<()> {
            let (sender, receiver) = sync_channel::<Result<PreparedBatch>>(t.prefetch.max(1));
            let train_set = &train_set;
            let order = &order;
            let host_mel = host_mel.clone();
            scope.spawn(move || {
                let mut crops_rng = epoch_rng(t.seed, epoch, stream::CROPS);
                let mut augment_rng = epoch_rng(t.seed, epoch, stream::AUGMENT);
                for indices in order.chunks_exact(batch) {
                    let crops: Vec<Vec<f32>> = indices
                        .iter()
                        .map(|&i| {
                            fit_length(
                                &train_set.audio[i],
                                crop_samples,
                                config.audio.crop,
                                config.audio.pad,
                                &mut crops_rng,
                            )
                        })
                        .collect();
                    let labels: Vec<usize> = indices.iter().map(|&i| train_set.labels[i]).collect();
                    let prepared = AugmentDraw::draw(
                        &config.augment,
                        batch,
                        frames,
                        setup.n_mels,
                        &mut augment_rng,
                    )
                    .and_then(|augment| {
                        let input = HostInput::prepare(crops, host_mel.as_deref())?;
                        let targets = soft_targets(
                            &labels,
                            n_classes,
                            t.label_smoothing,
                            augment.mixup.as_ref(),
                        );
                        Ok(PreparedBatch {
                            input,
                            labels,
                            targets,
                            augment,
                        })
                    });
                    let failed = prepared.is_err();
                    if sender.send(prepared).is_err() || failed {
                        return;
                    }
                }
            });
            for prepared in receiver {
                let prepared = prepared?;
                let clips = prepared.labels.len();
                let x = setup.frontend.to_device(prepared.input, &inner)?.autodiff();
                let x = apply_augment(x, &prepared.augment);
                let targets = Tensor::<2>::from_data(
                    TensorData::new(prepared.targets, [clips, n_classes]),
                    &device,
                );
                let logits = model.forward(x);
                let loss = soft_cross_entropy(logits.clone(), targets);
                let loss_value = loss.clone().into_scalar::<f32>() as f64;
                if !loss_value.is_finite() {
                    return Err(Error::InvalidArgument(format!(
                        "training diverged: loss is {loss_value} at epoch {} step {} \
                         (lower training.lr or set training.grad_clip_norm)",
                        epoch + 1,
                        state.step + 1
                    )));
                }
                let logits_host = host_values(logits.inner(), "logits")?;
                predicted.extend(logits_host.chunks(n_classes).map(argmax));
                truth.extend_from_slice(&prepared.labels);
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                lr = learning_rate(t, state.step, steps_per_epoch);
                model = optimizer.step(lr, model.clone(), grads);
                state.step += 1;
                loss_sum += loss_value * clips as f64;
                seen += clips;
                pending_loss.0 += loss_value;
                pending_loss.1 += 1;
                if pending_loss.1 >= t.log_every_steps.max(1) {
                    step_losses.push((state.step, pending_loss.0 / pending_loss.1 as f64));
                    pending_loss = (0.0, 0);
                }
                bar.inc(1);
            }
            Ok(())
        })?;
        bar.finish_and_clear();
        if pending_loss.1 > 0 {
            step_losses.push((state.step, pending_loss.0 / pending_loss.1 as f64));
        }
        let train_seconds = epoch_started.elapsed().as_secs_f64();
        let train_metrics = SplitMetrics::from_predictions(
            &setup.classes,
            &truth,
            &predicted,
            loss_sum / seen.max(1) as f64,
        );

        let val_started = Instant::now();
        let val = if val_set.is_empty() {
            None
        } else {
            Some(evaluate_set(
                &model.valid(),
                &val_set,
                &setup,
                config,
                &inner,
            )?)
        };
        let val_seconds = val_started.elapsed().as_secs_f64();
        let record = EpochRecord {
            epoch: epoch + 1,
            train_loss: train_metrics.loss,
            train_accuracy: train_metrics.accuracy,
            train_macro_f1: train_metrics.macro_f1,
            lr,
            train_clips_per_second: seen as f64 / train_seconds.max(1e-9),
            val: val.clone(),
            val_clips_per_second: val_set.len() as f64 / val_seconds.max(1e-9),
            step_losses,
        };
        let monitored = monitored_value(&t.monitor, &record);
        let improved = match (monitored, state.best_value) {
            (Some(value), Some(best)) => {
                if t.monitor == "val_loss" {
                    value < best
                } else {
                    value > best
                }
            }
            (Some(_), None) => true,
            // No val split: the last epoch is the best one.
            (None, _) => true,
        };
        state.epoch = epoch + 1;
        state.train_seconds += epoch_started.elapsed().as_secs_f64();
        if improved {
            state.best_epoch = Some(epoch + 1);
            state.best_value = monitored;
            state.epochs_without_improvement = 0;
        } else {
            state.epochs_without_improvement += 1;
        }
        state.stopped_early = t.patience > 0 && state.epochs_without_improvement >= t.patience;
        state.history.push(record.clone());
        // Best first: if a crash hits between the two writes, `last` still
        // names the epoch before, and resuming redoes this one.
        if improved {
            checkpoint::save(&best_checkpoint(&run_dir), &state, &model, None)?;
        }
        checkpoint::save(&last_checkpoint(&run_dir), &state, &model, Some(&optimizer))?;
        write_metrics_csv(&run_dir, &state.history)?;
        log_epoch(&mut events, &record)?;
        if improved {
            if let Some(val) = &val {
                let png = run_dir.join("confusion_val_best.png");
                confusion_matrix_png(
                    &png,
                    &format!(
                        "val, epoch {}: accuracy {:.1}%",
                        epoch + 1,
                        100.0 * val.accuracy
                    ),
                    &setup.classes,
                    &val.confusion,
                )?;
                add_png(&mut events, "confusion/val", &png, (epoch + 1) as i64)?;
            }
        }
        say(&epoch_line(&record, improved));
    }
    if state.stopped_early {
        say(&format!(
            "early stop: {} did not improve for {} epochs",
            t.monitor, t.patience
        ));
    }

    // The best checkpoint answers for the run: test metrics come from it.
    let test = if test_set.is_empty() {
        None
    } else {
        let best_path = best_checkpoint(&run_dir);
        let best = checkpoint::load(&best_path)?;
        let best_model = best.load_model(&best_path, setup.new_model(config, &inner)?)?;
        let metrics = evaluate_set(&best_model, &test_set, &setup, config, &inner)?;
        write_eval_report(&run_dir, "test", &setup.classes, &metrics, &best_path)?;
        Some(metrics)
    };
    let best_val = state
        .best_epoch
        .and_then(|e| state.history.get(e - 1))
        .and_then(|r| r.val.clone());
    let train_clips_total: f64 = state
        .history
        .iter()
        .map(|r| r.train_clips_per_second)
        .sum::<f64>();
    let summary = TrainSummary {
        run_dir: run_dir.clone(),
        device: setup.device.description.clone(),
        arch: config.model.arch.clone(),
        parameters: model.num_params(),
        classes: setup.classes.clone(),
        train_clips: train_set.len(),
        val_clips: val_set.len(),
        epochs_run: state.epoch,
        stopped_early: state.stopped_early,
        monitor: t.monitor.clone(),
        best_epoch: state.best_epoch,
        best_val: best_val.clone(),
        test: test.clone(),
        skipped_clips: skipped,
        train_seconds: state.train_seconds,
        train_clips_per_second: train_clips_total / state.history.len().max(1) as f64,
        peak_rss_mb: peak_rss_mb(),
    };
    let json = serde_json::to_string_pretty(&summary)
        .map_err(|e| Error::InvalidArgument(e.to_string()))?;
    atomic_write_str(&run_dir.join("summary.json"), &json)?;
    let mut metrics = Vec::new();
    if let Some(val) = &best_val {
        metrics.push(("hparam/val_accuracy".to_string(), val.accuracy));
        metrics.push(("hparam/val_macro_f1".to_string(), val.macro_f1));
        metrics.push(("hparam/val_loss".to_string(), val.loss));
    }
    if let Some(test) = &test {
        metrics.push(("hparam/test_accuracy".to_string(), test.accuracy));
    }
    events
        .add_hparams(&hparams_of(config), &metrics, state.step as i64)
        .map_err(|e| tb_error(&events, e))?;
    Ok(summary)
}

fn monitored_value(monitor: &str, record: &EpochRecord) -> Option<f64> {
    let val = record.val.as_ref()?;
    Some(match monitor {
        "val_loss" => val.loss,
        "val_macro_f1" => val.macro_f1,
        _ => val.accuracy,
    })
}

/// The values of `tensor`, row-major, on the host (`what` names it in errors).
fn host_values<const D: usize>(tensor: Tensor<D>, what: &str) -> Result<Vec<f32>> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| Error::InvalidArgument(format!("reading {what}: {e:?}")))
}

/// Class probabilities of every clip in `clips` (averaged over its
/// evaluation windows) and the metrics they give.
fn evaluate_set(
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
    let (clips, skipped) = setup.load_split(&config, split, quiet)?;
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

fn write_eval_report(
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

fn write_skipped(run_dir: &Path, skipped: &[SkippedClip]) -> Result<()> {
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
fn write_metrics_csv(run_dir: &Path, history: &[EpochRecord]) -> Result<()> {
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

fn tb_error(events: &EventWriter, e: std::io::Error) -> Error {
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

fn log_epoch(events: &mut EventWriter, r: &EpochRecord) -> Result<()> {
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

fn add_png(events: &mut EventWriter, tag: &str, path: &Path, step: i64) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let (w, h) = png_size(&bytes).unwrap_or((0, 0));
    events
        .add_image(tag, &bytes, w, h, 3, step)
        .map_err(|e| tb_error(events, e))
}

/// Log-Mel images of the first train clip of each class (centre crops, the
/// CPU path), as PNGs in `examples/` and in TensorBoard.
fn log_mel_examples(
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
    vec![
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
            "training.label_smoothing".into(),
            number(config.training.label_smoothing),
        ),
        (
            "augment.mixup_alpha".into(),
            number(config.augment.mixup_alpha),
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
    ]
}

fn epoch_line(r: &EpochRecord, improved: bool) -> String {
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
fn write_run_info(
    run_dir: &Path,
    config: &Config,
    setup: &Setup,
    request: &TrainRequest,
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
        "front_end": setup.frontend.describe(),
        "resumed": request.resume.is_some(),
        "experiment": config.experiment.name,
        "argv": std::env::args().collect::<Vec<_>>(),
    });
    let name = if request.resume.is_some() {
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

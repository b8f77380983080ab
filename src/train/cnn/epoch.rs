//! The training loop's parts: starting (or resuming) a model, one epoch of
//! optimizer steps fed by a loader thread, and the end of an epoch
//! (validation, checkpoints, logs).

use std::path::Path;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::time::Instant;

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};

use super::evaluate::{evaluate_set, host_values, write_eval_report};
use super::logging::{
    add_png, epoch_line, hparams_of, log_epoch, log_mel_examples, tb_error, write_metrics_csv,
};
use super::setup::Setup;
use super::{
    average_checkpoint, best_checkpoint, last_checkpoint, model_checkpoint, AverageSummary,
    TrainRequest, TrainSummary,
};
use crate::audio::fit_length;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::interrupt::{self, StopRequest};
use crate::model::argmax;
use crate::model::cnn::SoundCnn;
use crate::plot::confusion_matrix_png;
use crate::train::average::{first_averaged_epoch, fold_in};
use crate::train::checkpoint::{self, EpochRecord, PartialEpoch, TrainState};
use crate::train::clips::{epoch_order, epoch_rng, stream, ClipSet, Sampler};
use crate::train::frontend::{
    apply_augment, soft_cross_entropy, soft_targets, AugmentDraw, HostInput,
};
use crate::train::metrics::SplitMetrics;
use crate::train::optim::{build_optimizer, learning_rate};
use crate::train::tensorboard::EventWriter;
use crate::train::wave_augment::WaveDraw;
use crate::util::progress_bar;

/// One prepared training batch, as the loader thread sends it.
struct PreparedBatch {
    input: HostInput,
    labels: Vec<usize>,
    targets: Vec<f32>,
    augment: AugmentDraw,
}

/// A model in training with everything its steps and epochs update.
pub(super) struct Trainer<'a> {
    setup: &'a Setup,
    config: &'a Config,
    run_dir: &'a Path,
    quiet: bool,
    /// The device without autodiff (inputs, evaluation) and with it.
    inner: Device,
    device: Device,
    pub model: SoundCnn,
    optimizer: ModuleOptimizer,
    /// The running mean of epoch-end weights (`training.average_last_epochs`),
    /// without autodiff; `None` before its first epoch.
    average: Option<SoundCnn>,
    pub state: TrainState,
    events: EventWriter,
}

impl<'a> Trainer<'a> {
    /// A new model, or the one in `last.ckpt` when resuming; TensorBoard
    /// gets the config and log-Mel examples at the start of a new run.
    pub fn start(
        setup: &'a Setup,
        config: &'a Config,
        run_dir: &'a Path,
        request: &TrainRequest,
        train_set: &ClipSet,
    ) -> Result<Self> {
        let inner = setup.device.device.clone();
        let device = inner.clone().autodiff();
        device.seed(config.training.seed);
        let mut model = setup.new_model(config, &device)?;
        let mut optimizer = build_optimizer(&config.optim, &config.training);
        let mut state = TrainState::new();
        let mut average = None;
        if request.resume.is_some() {
            let path = last_checkpoint(run_dir);
            let ckpt = checkpoint::load(&path)?;
            model = ckpt.load_model(&path, model)?;
            optimizer = ckpt.load_optimizer(&path, optimizer)?;
            average = ckpt.load_average(&path, setup.new_model(config, &inner)?)?;
            state = ckpt.state;
            if !request.quiet {
                let within = state.partial.as_ref().map_or(String::new(), |p| {
                    format!(", {} steps into epoch {}", p.steps, state.epoch + 1)
                });
                eprintln!(
                    "resuming after epoch {} (step {}{within})",
                    state.epoch, state.step
                );
            }
        }
        let tb_dir = run_dir.join("tensorboard");
        let mut events = EventWriter::create(&tb_dir).map_err(|e| Error::io(&tb_dir, e))?;
        if state.epoch == 0 && state.partial.is_none() {
            // The config as saved in the run folder (paths made absolute).
            let saved = run_dir.join("config.toml");
            let text = std::fs::read_to_string(&saved).map_err(|e| Error::io(&saved, e))?;
            events
                .add_text("config", &format!("```toml\n{text}\n```"), 0)
                .map_err(|e| tb_error(&events, e))?;
            log_mel_examples(run_dir, &mut events, config, train_set, setup)?;
        }
        Ok(Self {
            setup,
            config,
            run_dir,
            quiet: request.quiet,
            inner,
            device,
            model,
            optimizer,
            average,
            state,
            events,
        })
    }

    fn say(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    /// The optimizer steps of epoch `state.epoch + 1` (continuing a saved
    /// partial epoch), returning what its record is made of. On a stop
    /// request the progress goes into `last.ckpt` and this returns
    /// [`Error::Interrupted`].
    pub fn train_epoch(&mut self, train_set: &ClipSet) -> Result<PartialEpoch> {
        let t = &self.config.training;
        let epoch = self.state.epoch;
        let batch = t.batch_size.min(train_set.len());
        let steps_per_epoch = train_set.len() / batch;
        let mut progress = self.state.partial.take().unwrap_or_else(|| PartialEpoch {
            lr: learning_rate(t, self.state.step, steps_per_epoch),
            batch,
            steps_per_epoch,
            ..PartialEpoch::default()
        });
        // 0: saved before these were recorded; nothing to compare.
        let recorded = progress.steps_per_epoch != 0;
        if recorded && (progress.batch, progress.steps_per_epoch) != (batch, steps_per_epoch) {
            return Err(Error::ConfigValue {
                key: "training.batch_size".into(),
                reason: format!(
                    "epoch {} was saved part-way with batches of {} ({} per epoch); resuming it \
                     with batches of {batch} ({steps_per_epoch} per epoch) would mix two epochs' \
                     data: resume with the run's own config",
                    epoch + 1,
                    progress.batch,
                    progress.steps_per_epoch
                ),
            });
        }
        progress.batch = batch;
        progress.steps_per_epoch = steps_per_epoch;
        let order = epoch_order(
            &train_set.labels,
            self.setup.classes.len(),
            Sampler::from_name(&t.sampler),
            &mut epoch_rng(t.seed, epoch, stream::ORDER),
        );
        let bar = progress_bar(
            steps_per_epoch as u64,
            &format!("epoch {}", epoch + 1),
            self.quiet,
        );
        bar.set_position(progress.steps as u64);
        let loader = Loader {
            setup: self.setup,
            config: self.config,
            clips: train_set,
            order: &order,
            batch,
            epoch,
            skip: progress.steps,
        };
        let started = Instant::now();
        let seconds_before = progress.seconds;
        std::thread::scope(|scope| -> Result<()> {
            let (sender, receiver) = sync_channel::<Result<PreparedBatch>>(t.prefetch.max(1));
            scope.spawn(move || loader.run(sender));
            for prepared in receiver {
                self.step(prepared?, &mut progress, steps_per_epoch)?;
                progress.seconds = seconds_before + started.elapsed().as_secs_f64();
                bar.inc(1);
                if progress.steps < steps_per_epoch {
                    if let Some(request) = interrupt::requested() {
                        // Leaving the loop drops the receiver: the loader stops.
                        bar.abandon();
                        return Err(self.save_partial(progress.clone(), steps_per_epoch, request));
                    }
                }
            }
            Ok(())
        })?;
        bar.finish_and_clear();
        Ok(progress)
    }

    /// One optimizer step on `prepared`, accounted in `progress`.
    fn step(
        &mut self,
        prepared: PreparedBatch,
        progress: &mut PartialEpoch,
        steps_per_epoch: usize,
    ) -> Result<()> {
        let t = &self.config.training;
        let n_classes = self.setup.classes.len();
        let clips = prepared.labels.len();
        // Dropout draws per step: a run resumed mid-epoch draws what an
        // uninterrupted one would.
        self.device.seed(step_seed(t.seed, self.state.step));
        let x = self
            .setup
            .frontend
            .to_device(prepared.input, &self.inner)?
            .autodiff();
        let x = apply_augment(x, &prepared.augment);
        let targets = Tensor::<2>::from_data(
            TensorData::new(prepared.targets, [clips, n_classes]),
            &self.device,
        );
        let logits = self.model.forward(x);
        let loss = soft_cross_entropy(logits.clone(), targets);
        let loss_value = loss.clone().into_scalar::<f32>() as f64;
        if !loss_value.is_finite() {
            return Err(Error::InvalidArgument(format!(
                "training diverged: loss is {loss_value} at epoch {} step {} \
                 (lower training.lr or set training.grad_clip_norm)",
                self.state.epoch + 1,
                self.state.step + 1
            )));
        }
        let logits_host = host_values(logits.inner(), "logits")?;
        progress
            .predicted
            .extend(logits_host.chunks(n_classes).map(argmax));
        progress.truth.extend_from_slice(&prepared.labels);
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        progress.lr = learning_rate(t, self.state.step, steps_per_epoch);
        self.model = self.optimizer.step(progress.lr, self.model.clone(), grads);
        self.state.step += 1;
        progress.steps += 1;
        progress.loss_sum += loss_value * clips as f64;
        progress.seen += clips;
        progress.pending_loss.0 += loss_value;
        progress.pending_loss.1 += 1;
        if progress.pending_loss.1 >= t.log_every_steps.max(1) {
            progress.log_pending_loss(self.state.step);
        }
        Ok(())
    }

    /// `last.ckpt` with the epoch's progress; the error to stop with.
    fn save_partial(
        &mut self,
        progress: PartialEpoch,
        steps_per_epoch: usize,
        request: StopRequest,
    ) -> Error {
        let steps = progress.steps;
        self.state.partial = Some(progress);
        let path = last_checkpoint(self.run_dir);
        let saved = checkpoint::save(
            &path,
            &self.state,
            &self.model,
            Some(&self.optimizer),
            self.average.as_ref(),
        );
        self.state.partial = None;
        if let Err(e) = saved {
            return e;
        }
        request.error(format!(
            "epoch {} saved after step {steps} of {steps_per_epoch} in {}; `--resume` continues from there",
            self.state.epoch + 1,
            path.display()
        ))
    }

    /// Validation, the epoch's record, checkpoints, `metrics.csv`,
    /// TensorBoard and the console line.
    pub fn finish_epoch(&mut self, mut progress: PartialEpoch, val_set: &ClipSet) -> Result<()> {
        let epoch = self.state.epoch + 1;
        progress.log_pending_loss(self.state.step);
        let train_metrics = SplitMetrics::from_predictions(
            &self.setup.classes,
            &progress.truth,
            &progress.predicted,
            progress.loss_sum / progress.seen.max(1) as f64,
        );
        let val_started = Instant::now();
        let val = if val_set.is_empty() {
            None
        } else {
            let model = self.model.valid();
            Some(evaluate_set(
                &model,
                val_set,
                self.setup,
                self.config,
                &self.inner,
            )?)
        };
        let val_seconds = val_started.elapsed().as_secs_f64();
        let record = EpochRecord {
            epoch,
            train_loss: train_metrics.loss,
            train_accuracy: train_metrics.accuracy,
            train_macro_f1: train_metrics.macro_f1,
            lr: progress.lr,
            train_clips_per_second: progress.seen as f64 / progress.seconds.max(1e-9),
            val: val.clone(),
            val_clips_per_second: val_set.len() as f64 / val_seconds.max(1e-9),
            step_losses: progress.step_losses,
        };
        let improved = self.record_epoch(&record, progress.seconds + val_seconds);
        self.fold_into_average();
        // Best first: if a crash hits between the two writes, `last` still
        // names the epoch before, and resuming redoes this one.
        if improved {
            checkpoint::save(
                &best_checkpoint(self.run_dir),
                &self.state,
                &self.model,
                None,
                None,
            )?;
        }
        let last = last_checkpoint(self.run_dir);
        checkpoint::save(
            &last,
            &self.state,
            &self.model,
            Some(&self.optimizer),
            self.average.as_ref(),
        )?;
        write_metrics_csv(self.run_dir, &self.state.history)?;
        log_epoch(&mut self.events, &record)?;
        if let (true, Some(val)) = (improved, &val) {
            let png = self.run_dir.join("confusion_val_best.png");
            let title = format!("val, epoch {epoch}: accuracy {:.1}%", 100.0 * val.accuracy);
            confusion_matrix_png(&png, &title, &self.setup.classes, &val.confusion)?;
            add_png(&mut self.events, "confusion/val", &png, epoch as i64)?;
        }
        self.say(&epoch_line(&record, improved));
        Ok(())
    }

    /// Folds this epoch's weights into the running average when the epoch
    /// is inside the averaging window.
    fn fold_into_average(&mut self) {
        let t = &self.config.training;
        let Some(first) = first_averaged_epoch(t.epochs, t.average_last_epochs) else {
            return;
        };
        if self.state.epoch < first {
            return;
        }
        self.state.averaged_epochs += 1;
        self.average = Some(fold_in(
            self.average.take(),
            &self.model,
            self.state.averaged_epochs,
        ));
    }

    /// The averaged model's val metrics, once training has ended (the last
    /// epoch, or an early stop inside the window): saved as
    /// `average.ckpt`, with `eval-val.json` and its confusion matrix.
    pub fn finish_average(&mut self, val_set: &ClipSet) -> Result<Option<AverageSummary>> {
        let t = &self.config.training;
        let ended = self.state.epoch >= t.epochs || self.state.stopped_early;
        let (Some(average), true) = (&self.average, ended) else {
            return Ok(None);
        };
        let path = average_checkpoint(self.run_dir);
        checkpoint::save(&path, &self.state, average, None, None)?;
        let first_epoch = self.state.epoch + 1 - self.state.averaged_epochs;
        let mut summary = AverageSummary {
            first_epoch,
            epochs: self.state.averaged_epochs,
            val: None,
        };
        if val_set.is_empty() {
            return Ok(Some(summary));
        }
        let val = evaluate_set(average, val_set, self.setup, self.config, &self.inner)?;
        let classes = &self.setup.classes;
        write_eval_report(
            self.run_dir,
            "val",
            classes,
            &val,
            &path,
            &self.setup.manifest_path,
        )?;
        let step = self.state.step as i64;
        for (tag, value) in [
            ("average/val_accuracy", val.accuracy),
            ("average/val_macro_f1", val.macro_f1),
            ("average/val_loss", val.loss),
        ] {
            self.events
                .add_scalar(tag, value as f32, step)
                .map_err(|e| tb_error(&self.events, e))?;
        }
        self.say(&format!(
            "weights of epochs {first_epoch}-{} averaged: val accuracy {:.3}, macro-F1 {:.3}, loss {:.4}",
            self.state.epoch, val.accuracy, val.macro_f1, val.loss
        ));
        summary.val = Some(val);
        Ok(Some(summary))
    }

    /// Adds `record` to the state; returns whether the monitored metric
    /// improved (early stopping counts the epochs since it last did).
    fn record_epoch(&mut self, record: &EpochRecord, seconds: f64) -> bool {
        let t = &self.config.training;
        let monitored = monitored_value(&t.monitor, record);
        let improved = match (monitored, self.state.best_value) {
            (Some(value), Some(best)) if t.monitor == "val_loss" => value < best,
            (Some(value), Some(best)) => value > best,
            (Some(_), None) => true,
            // No val split: the last epoch is the best one.
            (None, _) => true,
        };
        let state = &mut self.state;
        state.epoch = record.epoch;
        state.train_seconds += seconds;
        if improved {
            state.best_epoch = Some(record.epoch);
            state.best_value = monitored;
            state.epochs_without_improvement = 0;
        } else {
            state.epochs_without_improvement += 1;
        }
        state.stopped_early = t.patience > 0 && state.epochs_without_improvement >= t.patience;
        state.history.push(record.clone());
        improved
    }

    /// Test metrics of the run's model (the weight average, else the best
    /// checkpoint; `eval-test.json`), if there is a test split.
    pub fn test_best(&self, test_set: &ClipSet) -> Result<Option<SplitMetrics>> {
        if test_set.is_empty() {
            return Ok(None);
        }
        let path = model_checkpoint(self.run_dir);
        let best = checkpoint::load(&path)?;
        let model = self.setup.new_model(self.config, &self.inner)?;
        let model = best.load_model(&path, model)?;
        let metrics = evaluate_set(&model, test_set, self.setup, self.config, &self.inner)?;
        write_eval_report(
            self.run_dir,
            "test",
            &self.setup.classes,
            &metrics,
            &path,
            &self.setup.manifest_path,
        )?;
        Ok(Some(metrics))
    }

    /// The run's HParams session: its hyperparameters with the best val
    /// metrics and the test accuracy.
    pub fn log_hparams(&mut self, summary: &TrainSummary) -> Result<()> {
        let mut metrics = Vec::new();
        if let Some(val) = summary.final_val() {
            metrics.push(("hparam/val_accuracy".to_string(), val.accuracy));
            metrics.push(("hparam/val_macro_f1".to_string(), val.macro_f1));
            metrics.push(("hparam/val_loss".to_string(), val.loss));
        }
        if let Some(test) = &summary.test {
            metrics.push(("hparam/test_accuracy".to_string(), test.accuracy));
        }
        let step = self.state.step as i64;
        self.events
            .add_hparams(&hparams_of(self.config), &metrics, step)
            .map_err(|e| tb_error(&self.events, e))
    }
}

/// The backend seed of optimizer step `step`: mixed (splitmix64), because
/// some backends derive their random streams from the seed in ways that
/// make consecutive seeds draw alike.
fn step_seed(seed: u64, step: usize) -> u64 {
    let mut z = seed ^ (step as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn monitored_value(monitor: &str, record: &EpochRecord) -> Option<f64> {
    let val = record.val.as_ref()?;
    Some(match monitor {
        "val_loss" => val.loss,
        "val_macro_f1" => val.macro_f1,
        _ => val.accuracy,
    })
}

/// The loader thread's job: crops, augmentation draws and (off-GPU)
/// log-Mel of each batch of an epoch, in order.
struct Loader<'a> {
    setup: &'a Setup,
    config: &'a Config,
    clips: &'a ClipSet,
    order: &'a [usize],
    batch: usize,
    epoch: usize,
    /// Batches already trained on (a resumed partial epoch): their random
    /// draws are made again, so later batches get the same ones, but
    /// nothing is computed or sent.
    skip: usize,
}

impl Loader<'_> {
    fn run(self, sender: SyncSender<Result<PreparedBatch>>) {
        let t = &self.config.training;
        let n_classes = self.setup.classes.len();
        let frames = match self.setup.frontend.n_frames(self.setup.crop_samples) {
            Ok(frames) => frames,
            Err(e) => {
                let _ = sender.send(Err(e));
                return;
            }
        };
        let host_mel = self.setup.frontend.host_part();
        let mut crops_rng = epoch_rng(t.seed, self.epoch, stream::CROPS);
        let mut augment_rng = epoch_rng(t.seed, self.epoch, stream::AUGMENT);
        let mut wave_rng = epoch_rng(t.seed, self.epoch, stream::WAVE);
        let waveform = self.config.augment.any_waveform();
        let rate = self.config.audio.sample_rate;
        for (index, indices) in self.order.chunks_exact(self.batch).enumerate() {
            let mut crops: Vec<Vec<f32>> = indices
                .iter()
                .map(|&i| {
                    fit_length(
                        &self.clips.audio[i],
                        self.setup.crop_samples,
                        self.config.audio.crop,
                        self.config.audio.pad,
                        &mut crops_rng,
                    )
                })
                .collect();
            let augment = AugmentDraw::draw(
                &self.config.augment,
                self.batch,
                frames,
                self.setup.n_mels,
                &mut augment_rng,
            );
            let wave = waveform.then(|| {
                WaveDraw::draw(
                    &self.config.augment,
                    indices.len(),
                    self.clips.len(),
                    &mut wave_rng,
                )
            });
            if index < self.skip {
                continue;
            }
            let labels: Vec<usize> = indices.iter().map(|&i| self.clips.labels[i]).collect();
            let prepared = augment.and_then(|augment| {
                if let Some(wave) = &wave {
                    wave.apply(&mut crops, rate, &self.clips.audio)?;
                }
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
    }
}

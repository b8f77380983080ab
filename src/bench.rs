//! `soundclass bench …`: throughput measurements. Benchmarks report; they
//! never assert a speed.

use std::path::Path;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use crate::audio::{fit_length, ClipLoader, CropPolicy, PadPolicy};
use crate::config::Config;
use crate::data::spectrograms::MelEngine;
use crate::data::Manifest;
use crate::dsp::MelSpectrogram;
use crate::error::{Error, Result};
use crate::gpu::GpuMel;
use crate::model::cnn::SoundCnn;
use crate::train::device::{DeviceChoice, TrainDevice};
use crate::train::optim::build_optimizer;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::tensor::{Distribution, Int, Tensor, TensorData};

/// One measured path.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    pub path: String,
    pub clips: usize,
    pub seconds_of_audio: f64,
    pub wall_seconds: f64,
    /// Seconds of audio per wall second.
    pub realtime_factor: f64,
    pub clips_per_second: f64,
}

impl BenchRow {
    pub fn new(path: &str, clips: usize, clip_seconds: f64, wall: f64) -> Self {
        Self {
            path: path.into(),
            clips,
            seconds_of_audio: clips as f64 * clip_seconds,
            wall_seconds: wall,
            realtime_factor: clips as f64 * clip_seconds / wall,
            clips_per_second: clips as f64 / wall,
        }
    }
}

/// A rayon pool of one thread, for the "1 thread" rows.
fn single_thread_pool() -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| Error::InvalidArgument(format!("thread pool: {e}")))
}

/// Bench input: `clips` waveforms of `seconds` at the config's rate, taken
/// cyclically from `manifest` (first `seconds` of each, loop-padded), or
/// seeded white noise without a manifest. `scripts/bench_mel_python.py`
/// builds the same input.
pub fn bench_clips(
    config: &Config,
    manifest: Option<&Path>,
    clips: usize,
    seconds: f64,
) -> Result<Vec<Vec<f32>>> {
    if clips == 0 || seconds <= 0.0 {
        return Err(Error::InvalidArgument(
            "--clips and --seconds must be positive".into(),
        ));
    }
    let rate = config.audio.sample_rate;
    let len = (seconds * rate as f64).round() as usize;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let Some(path) = manifest else {
        return Ok((0..clips)
            .map(|_| (0..len).map(|_| rng.random_range(-0.5f32..0.5)).collect())
            .collect());
    };
    let manifest = Manifest::load(path)?;
    if manifest.clips.is_empty() {
        return Err(Error::manifest(path, "no clips"));
    }
    let mut audio = config.audio.clone();
    audio.clip_seconds = 0.0;
    let loader = ClipLoader::new(audio);
    let distinct: Vec<Vec<f32>> = manifest
        .clips
        .par_iter()
        .take(clips)
        .map(|c| loader.load_full(&manifest.resolve(c)))
        .collect::<Result<_>>()?;
    Ok((0..clips)
        .map(|i| {
            fit_length(
                &distinct[i % distinct.len()],
                len,
                CropPolicy::Start,
                PadPolicy::Loop,
                &mut rng,
            )
        })
        .collect())
}

/// Time `engine` over `clips` (after one warm-up batch), in batches.
pub fn time_engine(
    name: &str,
    engine: &dyn MelEngine,
    clips: &[Vec<f32>],
    batch: usize,
    clip_seconds: f64,
) -> Result<BenchRow> {
    let warm = &clips[..batch.min(clips.len())];
    for r in engine.compute_batch(warm) {
        r?;
    }
    let started = Instant::now();
    for chunk in clips.chunks(batch) {
        for r in engine.compute_batch(chunk) {
            r?;
        }
    }
    Ok(BenchRow::new(
        name,
        clips.len(),
        clip_seconds,
        started.elapsed().as_secs_f64(),
    ))
}

/// CPU rows: one thread, then all threads.
pub fn bench_mel_cpu(
    config: &Config,
    clips: &[Vec<f32>],
    clip_seconds: f64,
) -> Result<Vec<BenchRow>> {
    let engine = MelSpectrogram::new(&config.spectrogram, config.audio.sample_rate);
    let single = single_thread_pool()?;
    let one = single.install(|| time_engine("cpu, 1 thread", &engine, clips, 64, clip_seconds))?;
    let all = time_engine(
        &format!("cpu, {} threads", rayon::current_num_threads()),
        &engine,
        clips,
        64,
        clip_seconds,
    )?;
    Ok(vec![one, all])
}

/// Hand-made feature extraction (all 84 features) on prepared clips: one
/// thread, then all threads. Decoding is not included; `soundclass
/// features --no-cache` times the whole path.
pub fn bench_features(
    config: &Config,
    clips: &[Vec<f32>],
    clip_seconds: f64,
) -> Result<Vec<BenchRow>> {
    let extractor = crate::features::FeatureExtractor::new(config.features.sample_rate);
    let run = |label: String| -> Result<BenchRow> {
        let started = Instant::now();
        clips
            .par_iter()
            .map(|clip| extractor.frame_features(clip).map(|f| f.summary().len()))
            .collect::<Result<Vec<_>>>()?;
        Ok(BenchRow::new(
            &label,
            clips.len(),
            clip_seconds,
            started.elapsed().as_secs_f64(),
        ))
    };
    let single = single_thread_pool()?;
    let one = single.install(|| run("features, 1 thread".into()))?;
    let all = run(format!(
        "features, {} threads",
        rayon::current_num_threads()
    ))?;
    Ok(vec![one, all])
}

/// Fit time of the gradient booster on a feature table's train split
/// (standardised), `trees` rounds of depth `depth`, learning rate 0.1, no
/// subsampling, 256 bins, no early stopping: the settings
/// `scripts/baselines_reference.py --timing` gives XGBoost. One untimed
/// warm-up fit, then `repeats` timed fits; returns their wall seconds.
pub fn bench_gbdt(
    table: &crate::features::FeatureTable,
    trees: usize,
    depth: usize,
    repeats: usize,
) -> Result<Vec<f64>> {
    use crate::model::{BinnedMatrix, Gbdt, GbdtParams, Standardizer};
    let mut labels: Vec<&str> = table.rows.iter().map(|r| r.label.as_str()).collect();
    labels.sort_unstable();
    labels.dedup();
    let train: Vec<&crate::features::FeatureRow> =
        table.rows.iter().filter(|r| r.split == "train").collect();
    if train.is_empty() {
        return Err(Error::InvalidArgument(
            "the feature table has no train rows".into(),
        ));
    }
    let d = table.names.len();
    let raw: Vec<f64> = train
        .iter()
        .flat_map(|r| r.values.iter().copied())
        .collect();
    let y: Vec<usize> = train
        .iter()
        .map(|r| labels.iter().position(|l| *l == r.label).unwrap_or(0))
        .collect();
    let x = Standardizer::fit(&raw, y.len(), d).transform(&raw);
    let params = GbdtParams {
        n_rounds: trees,
        max_depth: depth,
        learning_rate: 0.1,
        subsample: 1.0,
        colsample: 1.0,
        l2: 1.0,
        min_child_weight: 1.0,
        max_bins: 256,
        early_stopping_rounds: 0,
    };
    let fit = || {
        let started = Instant::now();
        // Binning is part of the fit, as it is in XGBoost's.
        let binned = BinnedMatrix::new(&x, y.len(), d, params.max_bins);
        let model = Gbdt::fit(&binned, &x, &y, labels.len(), params, None, 0);
        let seconds = started.elapsed().as_secs_f64();
        (seconds, model.rounds.len())
    };
    fit();
    Ok((0..repeats).map(|_| fit().0).collect())
}

/// GPU rows: kernels with host transfer both ways, and kernels alone on
/// waveforms already on the device (synchronised by reading back one value).
pub fn bench_mel_gpu(gpu: &GpuMel, clips: &[Vec<f32>], clip_seconds: f64) -> Result<Vec<BenchRow>> {
    let batch = 64;
    let with_transfer = time_engine(
        &format!("{}, with transfer", gpu.name()),
        gpu,
        clips,
        batch,
        clip_seconds,
    )?;
    let on_device = time_on_device(
        &format!("{}, on device", gpu.name()),
        clips,
        batch,
        clip_seconds,
        gpu.device(),
        |b| gpu.forward(b),
    )?;
    Ok(vec![with_transfer, on_device])
}

/// The same log-Mel written with Burn's own tensor ops and `burn::signal`'s
/// STFT (reflect-padded), on `device`: `[clips, samples]` to dB
/// `[clips, frames, n_mels]`. A cross-check and a baseline for our kernels.
pub fn burn_signal_mel(config: &Config, waveforms: Tensor<2>) -> Tensor<3> {
    let spec = &config.spectrogram;
    let device = waveforms.device();
    let win = if spec.win_length == 0 {
        spec.n_fft
    } else {
        spec.win_length
    };
    let window = burn::signal::hann_window(win, true, &device);
    let options = burn::signal::StftOptions {
        n_fft: spec.n_fft,
        hop_length: spec.hop_length,
        win_length: Some(win),
        center: spec.center,
        onesided: true,
    };
    let complex = burn::signal::stft(waveforms, Some(window), options); // [B, T, F, 2]
    let power: Tensor<3> = complex.powf_scalar(2.0).sum_dim(3).squeeze_dim(3);
    let bank = MelSpectrogram::new(spec, config.audio.sample_rate)
        .bank()
        .to_dense();
    let n_bins = 1 + spec.n_fft / 2;
    let bank = Tensor::<2>::from_data(TensorData::new(bank, [spec.n_mels, n_bins]), &device);
    let mel = power.matmul(bank.transpose().unsqueeze::<3>());
    let db = mel.clamp_min(spec.amin as f32).log() * (10.0 / std::f32::consts::LN_10);
    match spec.top_db {
        Some(top) => {
            let peak = db.clone().max_dim(2).max_dim(1);
            db.max_pair(peak - top as f32)
        }
        None => db,
    }
}

/// Time [`burn_signal_mel`] on `gpu`'s device, waveforms already there.
pub fn bench_burn_signal(
    config: &Config,
    device: &burn::tensor::Device,
    clips: &[Vec<f32>],
    clip_seconds: f64,
) -> Result<BenchRow> {
    if !config.spectrogram.n_fft.is_power_of_two() {
        return Err(Error::InvalidArgument(
            "burn::signal's STFT needs a power-of-two n_fft".into(),
        ));
    }
    // Burn's generic ops keep several [batch, frames, bins] intermediates
    // alive: small batches stay inside lavapipe's buffer limit.
    time_on_device(
        "burn::signal STFT + tensor ops, on device",
        clips,
        8,
        clip_seconds,
        device,
        |b| Ok(burn_signal_mel(config, b)),
    )
}

/// Upload `clips` in batches to `device`, run `f` once to warm up (kernel
/// compilation), then time it over every batch. The device queue is
/// drained by reading back the sum of the last output.
fn time_on_device<F>(
    name: &str,
    clips: &[Vec<f32>],
    batch: usize,
    clip_seconds: f64,
    device: &burn::tensor::Device,
    f: F,
) -> Result<BenchRow>
where
    F: Fn(Tensor<2>) -> Result<Tensor<3>>,
{
    let len = clips[0].len();
    let batches: Vec<Tensor<2>> = clips
        .chunks(batch)
        .map(|chunk| {
            let flat: Vec<f32> = chunk.iter().flatten().copied().collect();
            Tensor::<2>::from_data(TensorData::new(flat, [chunk.len(), len]), device)
        })
        .collect();
    let sync = |t: Tensor<3>| {
        t.sum()
            .try_into_data()
            .map(|_| ())
            .map_err(|e| Error::Gpu(format!("{name}: {e:?}")))
    };
    sync(f(batches[0].clone())?)?;
    let started = Instant::now();
    let mut last = None;
    for b in &batches {
        last = Some(f(b.clone())?);
    }
    if let Some(t) = last {
        sync(t)?;
    }
    Ok(BenchRow::new(
        name,
        clips.len(),
        clip_seconds,
        started.elapsed().as_secs_f64(),
    ))
}

/// Plain-text table of bench rows.
pub fn format_bench_table(rows: &[BenchRow]) -> String {
    let mut out = format!(
        "{:<44} {:>7} {:>10} {:>12} {:>10}\n",
        "path", "clips", "wall_s", "audio_s/s", "clips/s"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<44} {:>7} {:>10.3} {:>12.1} {:>10.1}\n",
            r.path, r.clips, r.wall_seconds, r.realtime_factor, r.clips_per_second
        ));
    }
    out
}

/// What `soundclass bench train` measured.
#[derive(Debug, Clone, Serialize)]
pub struct TrainBench {
    pub arch: String,
    pub device: String,
    pub parameters: usize,
    pub batch_size: usize,
    pub frames: usize,
    pub n_mels: usize,
    pub steps: usize,
    pub median_step_ms: f64,
    pub clips_per_second: f64,
}

/// Training-step throughput of `config.model` on random log-Mel input of
/// the config's shape (`audio.clip_seconds` of audio, `training.batch_size`
/// clips): forward, cross-entropy, backward and the optimizer step, timed
/// per step after 3 warm-up steps (each step ends by reading the loss, so
/// GPU work is included).
pub fn bench_train(config: &Config, device: DeviceChoice, steps: usize) -> Result<TrainBench> {
    let selected = TrainDevice::select(device)?;
    let device = selected.device.clone().autodiff();
    device.seed(config.training.seed);
    let rate = config.audio.sample_rate;
    let samples = (config.audio.clip_seconds * rate as f64).round() as usize;
    let frames = MelSpectrogram::new(&config.spectrogram, rate)
        .stft()
        .n_frames(samples)?;
    let (batch, mels, classes) = (config.training.batch_size, config.spectrogram.n_mels, 4);
    let mut model = SoundCnn::new(&config.model, mels, classes, &device)?;
    let mut optimizer = build_optimizer(&config.optim, &config.training);
    let x = Tensor::<3>::random(
        [batch, frames, mels],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let labels: Vec<i64> = (0..batch as i64).map(|i| i % classes as i64).collect();
    let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [batch]), &device);
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut times = Vec::new();
    for step in 0..steps.max(1) + 3 {
        let started = Instant::now();
        let loss = loss_fn.forward(model.forward(x.clone()), y.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(config.training.lr, model, grads);
        // Reading a parameter forces the step to finish on asynchronous devices.
        let _ = loss.into_scalar::<f32>();
        if step >= 3 {
            times.push(started.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    Ok(TrainBench {
        arch: config.model.arch.clone(),
        device: selected.description,
        parameters: model.num_params(),
        batch_size: batch,
        frames,
        n_mels: mels,
        steps: times.len(),
        median_step_ms: 1e3 * median,
        clips_per_second: batch as f64 / median,
    })
}

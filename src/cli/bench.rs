//! `soundclass bench`: throughput of the training step, the log-Mel
//! paths, the hand-made features and the gradient-boosting fit, each beside
//! the reference tool's script in `scripts/`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

use super::{mel_engine, print_json, ConfigArgs, DeviceArg};
use crate::bench;
use crate::config::Config;
use crate::error::Result;
use crate::features::FeatureTable;
use crate::gpu::{wgpu_device, GpuApi, GpuMel};
use crate::train::device::DeviceChoice;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Gradient-boosting fit time on a feature table's train split (the
    /// settings of `scripts/baselines_reference.py --timing`).
    Gbdt {
        #[arg(long)]
        features: PathBuf,
        #[arg(long, default_value_t = 300)]
        trees: usize,
        #[arg(long, default_value_t = 6)]
        depth: usize,
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        #[arg(long)]
        json: bool,
    },
    /// Hand-made feature throughput (84 features per clip), 1 and all threads.
    Features {
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(long, default_value_t = 64)]
        clips: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Take the clips from this manifest (cyclically) instead of noise.
        #[arg(long)]
        manifest: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// CNN training throughput (forward + backward + optimizer step) on
    /// random log-Mel input of the config's shape; compare with
    /// `scripts/torch_reference.py`.
    Train {
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
        device: DeviceChoice,
        /// Timed steps (after 3 warm-up steps).
        #[arg(long, default_value_t = 20)]
        steps: usize,
        #[arg(long)]
        json: bool,
    },
    /// Log-Mel throughput: CPU 1 thread, CPU all threads, GPU kernels.
    Mel {
        #[command(flatten)]
        config: ConfigArgs,
        /// GPU device to time besides the CPU (`cpu` times the CPU only).
        #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
        device: DeviceArg,
        #[arg(long, default_value_t = 256)]
        clips: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Take the clips from this manifest (cyclically) instead of noise.
        #[arg(long)]
        manifest: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

pub fn execute(command: BenchCommand) -> Result<ExitCode> {
    match command {
        BenchCommand::Train {
            config,
            device,
            steps,
            json,
        } => train_step(config.load()?, device, steps, json),
        BenchCommand::Gbdt {
            features,
            trees,
            depth,
            repeats,
            json,
        } => gbdt(&features, trees, depth, repeats, json),
        BenchCommand::Features {
            config,
            clips,
            seconds,
            manifest,
            json,
        } => features(config.load()?, clips, seconds, manifest.as_deref(), json),
        BenchCommand::Mel {
            config,
            device,
            clips,
            seconds,
            manifest,
            json,
        } => mel(
            config.load()?,
            device,
            clips,
            seconds,
            manifest.as_deref(),
            json,
        ),
    }
}

fn train_step(config: Config, device: DeviceChoice, steps: usize, json: bool) -> Result<ExitCode> {
    let report = bench::bench_train(&config, device, steps)?;
    if json {
        print_json(&report)?;
    } else {
        println!(
            "{} on {}: batch {} x {} frames x {} mels, {:.1} clips/s forward+backward+step \
             (median of {} steps, {:.1} ms/step)",
            report.arch,
            report.device,
            report.batch_size,
            report.frames,
            report.n_mels,
            report.clips_per_second,
            report.steps,
            report.median_step_ms
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn gbdt(
    features: &Path,
    trees: usize,
    depth: usize,
    repeats: usize,
    json: bool,
) -> Result<ExitCode> {
    let table = FeatureTable::read_csv(features)?;
    let mut seconds = bench::bench_gbdt(&table, trees, depth, repeats.max(1))?;
    seconds.sort_by(f64::total_cmp);
    let median = seconds[seconds.len() / 2];
    if json {
        print_json(&serde_json::json!({
            "trees": trees, "depth": depth, "threads": rayon::current_num_threads(),
            "fit_seconds": seconds, "median_seconds": median, "min_seconds": seconds[0],
        }))?;
    } else {
        println!(
            "gbdt fit, {trees} rounds x depth {depth}, {} threads: median {median:.3} s, min {:.3} s over {} fits",
            rayon::current_num_threads(),
            seconds[0],
            seconds.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn features(
    config: Config,
    clips: usize,
    seconds: f64,
    manifest: Option<&Path>,
    json: bool,
) -> Result<ExitCode> {
    // Clips are prepared at the feature rate.
    let mut at_feature_rate = config.clone();
    at_feature_rate.audio.sample_rate = config.features.sample_rate;
    let input = bench::bench_clips(&at_feature_rate, manifest, clips, seconds)?;
    let rows = bench::bench_features(&config, &input, seconds)?;
    if json {
        print_json(&serde_json::json!({
            "sample_rate": config.features.sample_rate,
            "features": crate::features::feature_names().len(),
            "rows": rows,
        }))?;
    } else {
        print!("{}", bench::format_bench_table(&rows));
    }
    Ok(ExitCode::SUCCESS)
}

fn mel(
    config: Config,
    device: DeviceArg,
    clips: usize,
    seconds: f64,
    manifest: Option<&Path>,
    json: bool,
) -> Result<ExitCode> {
    let input = bench::bench_clips(&config, manifest, clips, seconds)?;
    let mut rows = bench::bench_mel_cpu(&config, &input, seconds)?;
    let api = match device {
        DeviceArg::Cpu => None,
        DeviceArg::Wgpu => Some(GpuApi::Auto),
        DeviceArg::Vulkan => Some(GpuApi::Vulkan),
        DeviceArg::Cuda => return mel_engine(&config, device).map(|_| ExitCode::SUCCESS),
    };
    if let Some(api) = api {
        let gpu = GpuMel::new(
            &config.spectrogram,
            config.audio.sample_rate,
            &wgpu_device(api)?,
        )?;
        rows.extend(bench::bench_mel_gpu(&gpu, &input, seconds)?);
        match bench::bench_burn_signal(&config, gpu.device(), &input, seconds) {
            Ok(row) => rows.push(row),
            Err(e) => eprintln!("burn::signal path not timed: {e}"),
        }
    }
    rows.sort_by(|a, b| a.path.cmp(&b.path));
    if json {
        print_json(&serde_json::json!({
            "n_fft": config.spectrogram.n_fft,
            "hop_length": config.spectrogram.hop_length,
            "n_mels": config.spectrogram.n_mels,
            "sample_rate": config.audio.sample_rate,
            "rows": rows,
        }))?;
    } else {
        print!("{}", bench::format_bench_table(&rows));
    }
    Ok(ExitCode::SUCCESS)
}

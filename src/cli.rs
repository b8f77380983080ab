//! The `soundclass` command line. The binary parses [`Cli`] and hands it to
//! [`execute`]; everything here returns the library's typed errors.

mod bench;
mod data;
mod evaluate;
mod predict;
mod report;
mod serve;
mod sweep;
mod train;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::Config;
use crate::data::spectrograms::report_skipped;
use crate::data::spectrograms::{export_spectrograms, MelEngine};
use crate::data::Manifest;
use crate::dsp::MelSpectrogram;
use crate::error::{Error, Result};
use crate::features::{extract_features, FeatureTable};
use crate::gpu::{wgpu_device, GpuApi, GpuMel};
use crate::train::baselines::{format_results_table, run_baselines};
use crate::train::run_folder;

#[derive(Debug, Parser)]
#[command(
    name = "soundclass",
    version,
    about = "Sound classification research framework"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// `--config` and `--set`, shared by every command that reads a config.
#[derive(Debug, Args, Clone, Default)]
pub struct ConfigArgs {
    /// Experiment config (TOML).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override a config key, e.g. `--set training.lr=3e-4` (repeatable); a
    /// section takes an inline table: `--set 'augment={ gain_prob = 0.5 }'`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

impl ConfigArgs {
    pub fn load(&self) -> Result<Config> {
        Config::load(self.config.as_deref(), &self.set)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build, import, check and describe datasets.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Compute log-Mel spectrograms for a manifest.
    Spectrogram(SpectrogramArgs),
    /// Hand-made features (MFCC, chroma, spectral, ZCR, RMS, tempo) per clip.
    Features(FeaturesArgs),
    /// Grid-searched CPU baselines on hand-made features.
    Baseline(BaselineArgs),
    /// Train a CNN (run folder with checkpoints, metrics, TensorBoard).
    Train(train::TrainArgs),
    /// Evaluate a trained run's model (weight average, else best checkpoint) on a split.
    Evaluate(evaluate::EvaluateArgs),
    /// Predict classes of files, folders and long recordings.
    Predict(predict::PredictArgs),
    /// Hyperparameter sweeps: run, resume, status.
    #[command(subcommand)]
    Sweep(sweep::SweepCommand),
    /// An HTML and Markdown report over CNN runs, baseline runs and sweeps.
    Report(report::ReportArgs),
    /// A web page (and JSON API) that classifies uploaded files and folders.
    Serve(serve::ServeArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// Where compute runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceArg {
    /// Pure-Rust CPU path, all cores.
    Cpu,
    /// Burn's wgpu device, any graphics API wgpu picks.
    Wgpu,
    /// Burn's wgpu device on Vulkan.
    Vulkan,
    /// Burn's CUDA device.
    Cuda,
}

#[derive(Debug, Args)]
pub struct SpectrogramArgs {
    #[arg(long)]
    pub manifest: PathBuf,
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub config: ConfigArgs,
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,
    /// Also write a PNG image per clip.
    #[arg(long)]
    pub png: bool,
    /// Output array format.
    #[arg(long, default_value = "npy", value_parser = ["npy"])]
    pub format: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FeaturesArgs {
    /// Manifest of the clips (default: the config's `data.manifest`).
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// Feature table to write (CSV: path,label,split,group,<features>).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Cache folder (default: the config's `features.cache_dir`).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Compute every clip, reading and writing no cache.
    #[arg(long, conflicts_with = "cache_dir")]
    pub no_cache: bool,
    /// Print a JSON report instead of text (and no progress bar).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BaselineArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// A feature table from `soundclass features`.
    #[arg(long, conflicts_with = "manifest")]
    pub features: Option<PathBuf>,
    /// Compute features for this manifest first (cached); without either
    /// option the config's `data.manifest` is used.
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// Run folder (default: runs/<experiment>/<UTC timestamp>).
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

/// Run a parsed command line.
pub fn execute(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Data(cmd) => data::execute(cmd),
        Command::Spectrogram(args) => spectrogram(args),
        Command::Features(args) => features(args),
        Command::Baseline(args) => baseline(args),
        Command::Train(args) => train::execute(args),
        Command::Evaluate(args) => evaluate::execute(args),
        Command::Predict(args) => predict::execute(args),
        Command::Sweep(command) => sweep::execute(command),
        Command::Report(args) => report::execute(args),
        Command::Serve(args) => serve::execute(args),
        Command::Bench(command) => bench::execute(command),
    }
}

fn spectrogram(args: SpectrogramArgs) -> Result<ExitCode> {
    let config = args.config.load()?;
    let manifest = Manifest::load(&args.manifest)?;
    let engine = mel_engine(&config, args.device)?;
    if !args.json {
        eprintln!("computing log-Mel on {}", engine.name());
    }
    let report = export_spectrograms(
        &manifest,
        &config,
        engine.as_ref(),
        &args.out,
        args.png,
        args.json,
    )?;
    if args.json {
        print_json(&report)?;
    } else {
        for s in &report.skipped {
            eprintln!("skipped {}: {}", s.path.display(), s.error);
        }
        println!(
            "{} spectrograms ({}) written to {} in {:.1} s, {} skipped",
            report.written,
            report.engine,
            args.out.display(),
            report.wall_seconds,
            report.skipped.len()
        );
    }
    Ok(if report.written == 0 && !report.skipped.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The log-Mel engine for `--device`.
pub(crate) fn mel_engine(config: &Config, device: DeviceArg) -> Result<Box<dyn MelEngine>> {
    let (spec, rate) = (&config.spectrogram, config.audio.sample_rate);
    Ok(match device {
        DeviceArg::Cpu => Box::new(MelSpectrogram::new(spec, rate)),
        DeviceArg::Wgpu => Box::new(GpuMel::new(spec, rate, &wgpu_device(GpuApi::Auto)?)?),
        DeviceArg::Vulkan => Box::new(GpuMel::new(spec, rate, &wgpu_device(GpuApi::Vulkan)?)?),
        DeviceArg::Cuda => {
            return Err(Error::InvalidArgument(
                "--device cuda: the log-Mel kernels are WGSL and run on wgpu devices; \
                 use --device vulkan on an NVIDIA GPU"
                    .into(),
            ))
        }
    })
}

/// The manifest named on the command line, else the config's.
fn manifest_path(explicit: Option<&Path>, config: &Config) -> Result<PathBuf> {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| config.data.manifest.clone())
        .ok_or_else(|| {
            Error::InvalidArgument(
                "no manifest: pass --manifest or set `data.manifest` in the config".into(),
            )
        })
}

fn features(args: FeaturesArgs) -> Result<ExitCode> {
    let config = args.config.load()?;
    let manifest_file = manifest_path(args.manifest.as_deref(), &config)?;
    let manifest = Manifest::load(&manifest_file)?;
    let cache = if args.no_cache {
        None
    } else {
        Some(
            args.cache_dir
                .clone()
                .unwrap_or_else(|| config.features.cache_dir.clone()),
        )
    };
    let (table, report) =
        extract_features(&manifest, &config.features, cache.as_deref(), args.json)?;
    table.write_csv(&args.out)?;
    if args.json {
        print_json(&report)?;
    } else {
        report_skipped(&report.skipped);
        eprintln!(
            "{} clips: {} computed, {} from cache, {} skipped; {} rows x {} features -> {} in {:.1} s ({:.0} audio-s/s computed)",
            report.clips,
            report.computed,
            report.cached,
            report.skipped.len(),
            table.rows.len(),
            table.names.len(),
            args.out.display(),
            report.wall_seconds,
            report.audio_seconds / report.wall_seconds.max(1e-9)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn baseline(args: BaselineArgs) -> Result<ExitCode> {
    let config = args.config.load()?;
    let run_dir = run_folder(&config, args.run_dir.as_deref())?;
    let (table, source) = match &args.features {
        Some(path) => (FeatureTable::read_csv(path)?, path.clone()),
        None => {
            let manifest_file = manifest_path(args.manifest.as_deref(), &config)?;
            let manifest = Manifest::load(&manifest_file)?;
            let (table, report) = extract_features(
                &manifest,
                &config.features,
                Some(&config.features.cache_dir),
                args.json,
            )?;
            if !args.json {
                report_skipped(&report.skipped);
                eprintln!(
                    "features: {} computed, {} from cache, {} skipped",
                    report.computed,
                    report.cached,
                    report.skipped.len()
                );
            }
            table.write_csv(&run_dir.join("features.csv"))?;
            (table, manifest_file)
        }
    };
    let threads = config.baselines.threads;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::InvalidArgument(format!("thread pool: {e}")))?;
    let report = pool.install(|| run_baselines(&config, &table, &source, &run_dir, args.json))?;
    if args.json {
        print_json(&report)?;
    } else {
        print!("{}", format_results_table(&report.results));
        eprintln!(
            "{} train / {} val / {} test rows, {}-fold grouped CV, {:.1} s; results in {}",
            report.train_rows,
            report.val_rows,
            report.test_rows,
            report.folds,
            report.wall_seconds,
            run_dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::InvalidArgument(format!("serialising output: {e}")))?;
    println!("{text}");
    Ok(())
}

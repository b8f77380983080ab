//! The `soundclass` command line. The binary parses [`Cli`] and hands it to
//! [`execute`]; everything here returns the library's typed errors.

mod data;
mod evaluate;
mod predict;
mod report;
mod serve;
mod sweep;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::bench;
use crate::config::Config;
use crate::data::spectrograms::report_skipped;
use crate::data::spectrograms::{export_spectrograms, MelEngine};
use crate::data::Manifest;
use crate::dsp::MelSpectrogram;
use crate::error::{Error, Result};
use crate::features::{extract_features, FeatureTable};
use crate::gpu::{wgpu_device, GpuApi, GpuMel};
use crate::train::baselines::{format_results_table, run_baselines};
use crate::train::cnn::{train, TrainRequest};
use crate::train::device::DeviceChoice;
use crate::train::folds::{train_folds, FoldsRequest};
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
    Train(TrainArgs),
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
    Bench(BenchCommand),
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

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Training device; `auto` picks CUDA, then a real GPU via wgpu, then
    /// the CPU, and says what it picked.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Run folder, exactly (default: runs/<experiment>/<UTC timestamp>).
    #[arg(long, conflicts_with = "resume")]
    pub run_dir: Option<PathBuf>,
    /// Continue the run in this folder from its last checkpoint, with its
    /// own config.toml (`--set` still applies, e.g. more epochs).
    #[arg(long, conflicts_with = "config")]
    pub resume: Option<PathBuf>,
    /// Stop after this many epochs in total (checkpointed; continue later
    /// with --resume), for time-sliced or preemptible jobs.
    #[arg(long)]
    pub stop_after_epochs: Option<usize>,
    /// Grouped k-fold cross-validation over the train and val splits
    /// (sources kept whole): K runs in RUN/fold-<i>/, then mean ± std in
    /// RUN/folds.json. The same command on the same --run-dir continues.
    #[arg(long, value_name = "K", conflicts_with_all = ["resume", "stop_after_epochs"])]
    pub folds: Option<usize>,
    /// Print the summary as JSON (and no progress output).
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
        Command::Train(args) => train_command(args),
        Command::Evaluate(args) => evaluate::execute(args),
        Command::Bench(BenchCommand::Train {
            config,
            device,
            steps,
            json,
        }) => {
            let report = bench::bench_train(&config.load()?, device, steps)?;
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
        Command::Predict(args) => predict::execute(args),
        Command::Sweep(command) => sweep::execute(command),
        Command::Report(args) => report::execute(args),
        Command::Serve(args) => serve::execute(args),
        Command::Bench(BenchCommand::Gbdt {
            features,
            trees,
            depth,
            repeats,
            json,
        }) => {
            let table = FeatureTable::read_csv(&features)?;
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
        Command::Bench(BenchCommand::Features {
            config,
            clips,
            seconds,
            manifest,
            json,
        }) => bench_features(config.load()?, clips, seconds, manifest.as_deref(), json),
        Command::Bench(BenchCommand::Mel {
            config,
            device,
            clips,
            seconds,
            manifest,
            json,
        }) => bench_mel(
            config.load()?,
            device,
            clips,
            seconds,
            manifest.as_deref(),
            json,
        ),
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
fn mel_engine(config: &Config, device: DeviceArg) -> Result<Box<dyn MelEngine>> {
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

fn bench_features(
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

fn bench_mel(
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

fn train_command(args: TrainArgs) -> Result<ExitCode> {
    let config = match &args.resume {
        Some(run) => {
            let saved = run.join("config.toml");
            if !saved.is_file() {
                return Err(Error::InvalidArgument(format!(
                    "--resume {}: not a run folder (no config.toml)",
                    run.display()
                )));
            }
            Config::load(Some(&saved), &args.config.set)?
        }
        None => args.config.load()?,
    };
    crate::interrupt::install()?;
    if let Some(folds) = args.folds {
        let summary = train_folds(FoldsRequest {
            config,
            device: args.device,
            run_dir: args.run_dir,
            folds,
            quiet: args.json,
        })?;
        if args.json {
            print_json(&summary)?;
        } else {
            eprintln!(
                "{} folds grouped by {}: val accuracy {:.4} ± {:.4}, macro-F1 {:.4} ± {:.4}; {}",
                summary.folds,
                summary.grouped_by,
                summary.accuracy_mean,
                summary.accuracy_std,
                summary.macro_f1_mean,
                summary.macro_f1_std,
                summary.run_dir.join("folds.json").display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let summary = train(TrainRequest {
        config,
        device: args.device,
        run_dir: args.run_dir,
        resume: args.resume,
        quiet: args.json,
        stop_after_epochs: args.stop_after_epochs,
    })?;
    if args.json {
        print_json(&summary)?;
    } else {
        let best = summary
            .best_val
            .as_ref()
            .map_or("no val split".to_string(), |v| {
                format!(
                    "best val (epoch {}): accuracy {:.3}, macro-F1 {:.3}",
                    summary.best_epoch.unwrap_or(0),
                    v.accuracy,
                    v.macro_f1
                )
            });
        let model = match &summary.average {
            Some(a) => format!(
                "; the run's model averages the weights of epochs {}-{}{}",
                a.first_epoch,
                a.first_epoch + a.epochs - 1,
                a.val.as_ref().map_or(String::new(), |v| format!(
                    " (val accuracy {:.3}, macro-F1 {:.3})",
                    v.accuracy, v.macro_f1
                ))
            ),
            None => String::new(),
        };
        eprintln!(
            "{best}{model}; {} epochs in {:.0} s; run folder {}",
            summary.epochs_run,
            summary.train_seconds,
            summary.run_dir.display()
        );
        if let Some(test) = &summary.test {
            eprintln!(
                "test: accuracy {:.3}, macro-F1 {:.3}",
                test.accuracy, test.macro_f1
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::InvalidArgument(format!("serialising output: {e}")))?;
    println!("{text}");
    Ok(())
}

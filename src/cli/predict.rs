//! `soundclass predict`: parse, call [`crate::predict`], print.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::predict::ensemble::{Ensemble, Weights};
use crate::predict::output::{write_predictions, write_segments};
use crate::predict::{collect_inputs, FileResult, PredictOptions};
use crate::train::cnn::peak_rss_mb;
use crate::train::device::DeviceChoice;
use crate::util::progress_bar;

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// A CNN run folder (its weight average, else its best checkpoint) or a baseline model file
    /// (`<run>/models/<model>.json`). Repeat for an ensemble: the models'
    /// class probabilities are averaged per file (and per window when they
    /// cut the same windows).
    #[arg(long, required = true)]
    pub model: Vec<PathBuf>,
    /// Ensemble weights, one per `--model` (e.g. `2,1`; default equal).
    /// `evaluate --weights val` fits them on a val split.
    #[arg(long)]
    pub weights: Option<Weights>,
    /// Audio files and folders.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Look into sub-folders too.
    #[arg(long, short = 'r')]
    pub recursive: bool,
    /// One row per file (default: predictions.csv).
    #[arg(long, default_value = "predictions.csv")]
    pub out: PathBuf,
    /// Also one row per window: a timeline of long recordings.
    #[arg(long)]
    pub segments: Option<PathBuf>,
    /// Window length, seconds (default: the model's training crop).
    #[arg(long)]
    pub window: Option<f64>,
    /// Hop between windows, seconds (default: the run's evaluation hop).
    #[arg(long)]
    pub hop: Option<f64>,
    /// Classify only the middle SECONDS of each file, as training and
    /// `evaluate` read clips (`training.cache_seconds`).
    #[arg(long, value_name = "SECONDS")]
    pub middle: Option<f64>,
    /// Decoding threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Print the results as JSON (windows included) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// What `--json` prints.
#[derive(Serialize)]
struct PredictReport<'a> {
    model: String,
    classes: &'a [String],
    files: usize,
    failed: usize,
    audio_seconds: f64,
    wall_seconds: f64,
    files_per_second: f64,
    audio_seconds_per_second: f64,
    peak_rss_mb: Option<f64>,
    results: &'a [FileResult],
}

pub fn execute(args: PredictArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let mut ensemble = Ensemble::load(&args.model, args.device)?;
    match &args.weights {
        None | Some(Weights::Equal) => {}
        Some(Weights::Given(weights)) => ensemble.set_weights(weights)?,
        Some(Weights::FitOnVal) => {
            return Err(Error::InvalidArgument(
                "--weights val: fitting needs labelled clips; run `evaluate --model ... \
                 --weights val`, then pass the weights it reports"
                    .into(),
            ))
        }
    }
    let description = describe(&ensemble);
    let files = collect_inputs(&args.inputs, args.recursive)?;
    if !args.json {
        eprintln!("model: {description}");
    }
    let options = PredictOptions {
        window_seconds: args.window,
        hop_seconds: args.hop,
        middle_seconds: args.middle,
        threads: args.threads,
    };
    let passes = ensemble.members.len() as u64;
    let bar = progress_bar(passes * files.len() as u64, "predicting", args.json);
    let results = ensemble.predict(&files, &options, &|| bar.inc(1))?;
    bar.finish_and_clear();
    let classes = ensemble.classes();
    write_predictions(&args.out, classes, &results)?;
    if let Some(path) = &args.segments {
        write_segments(path, classes, &results)?;
    }
    let wall = started.elapsed().as_secs_f64();
    let audio: f64 = results
        .iter()
        .filter_map(|r| r.prediction().map(|p| p.duration_seconds))
        .sum();
    let failed = results.iter().filter(|r| r.error().is_some()).count();
    let report = PredictReport {
        model: description,
        classes,
        files: results.len(),
        failed,
        audio_seconds: audio,
        wall_seconds: wall,
        files_per_second: results.len() as f64 / wall.max(1e-9),
        audio_seconds_per_second: audio / wall.max(1e-9),
        peak_rss_mb: peak_rss_mb(),
        results: &results,
    };
    if args.json {
        super::print_json(&report)?;
    } else {
        print_table(&report);
        eprintln!("wrote {}", args.out.display());
    }
    // As `data validate`: 1 when any file could not be classified.
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The model, or the members and weights of an ensemble.
fn describe(ensemble: &Ensemble) -> String {
    match ensemble.members.as_slice() {
        [model] => model.describe(),
        members => format!(
            "ensemble of {}: {}",
            members.len(),
            members
                .iter()
                .zip(&ensemble.weights)
                .map(|(m, w)| format!("{} (weight {w:.3})", m.describe()))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    }
}

fn print_table(report: &PredictReport) {
    for result in report.results {
        match result.prediction() {
            Some(p) => println!(
                "{:<10} {:>5.1}%  {:>8.1} s  {}",
                p.label,
                100.0 * p.probability,
                p.duration_seconds,
                result.path.display()
            ),
            None => println!(
                "{:<10} {:>6}  {:>10}  {}",
                "FAILED",
                "",
                "",
                result.error().unwrap_or("")
            ),
        }
    }
    eprintln!(
        "{} files ({} failed), {:.1} s of audio in {:.1} s: {:.1} files/s, {:.0} audio-s/s, peak RSS {}",
        report.files,
        report.failed,
        report.audio_seconds,
        report.wall_seconds,
        report.files_per_second,
        report.audio_seconds_per_second,
        report
            .peak_rss_mb
            .map_or("n/a".to_string(), |m| format!("{m:.0} MB"))
    );
}

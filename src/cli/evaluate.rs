//! `soundclass evaluate`: one run's model (weight average, else best checkpoint) on a split, or an
//! ensemble of models (`--model` repeated, `--sweep DIR --top K`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::print_json;
use crate::data::Split;
use crate::error::{Error, Result};
use crate::predict::ensemble::{evaluate_ensemble, Ensemble, EnsembleReport, Weights};
use crate::sweep::top_trials;
use crate::train::cnn::evaluate_run;
use crate::train::device::DeviceChoice;
use crate::train::metrics::SplitMetrics;
use crate::util::atomic_write_str;

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// A run folder written by `soundclass train`.
    #[arg(long, required_unless_present_any = ["model", "sweep"], conflicts_with_all = ["model", "sweep"])]
    pub run: Option<PathBuf>,
    /// An ensemble member: a CNN run folder or a baseline model file
    /// (`<run>/models/<model>.json`); repeat for more. Their class
    /// probabilities are averaged.
    #[arg(long)]
    pub model: Vec<PathBuf>,
    /// Add a sweep's best `--top` finished trials to the ensemble.
    #[arg(long, requires = "top")]
    pub sweep: Option<PathBuf>,
    #[arg(long, requires = "sweep")]
    pub top: Option<usize>,
    /// Ensemble weights: `equal`, `val` (fitted on the manifest's val split
    /// for the lowest log-loss) or one number per model, e.g. `2,1,1`.
    #[arg(long, default_value = "equal")]
    pub weights: Weights,
    /// Manifest to evaluate on (default: the run's `data.manifest`; for an
    /// ensemble, its first CNN member's).
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// `train`, `val` or `test` (the manifest's own spellings work too).
    #[arg(long, default_value = "test")]
    pub split: Split,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// The JSON report to write. Default for a run: `eval-<split>.json` in
    /// the run folder on the run's own manifest (its confusion PNG beside
    /// it), `eval-<manifest stem>-<split>.json` on another; for an
    /// ensemble: `ensemble-<split>.json` here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

pub fn execute(args: EvaluateArgs) -> Result<ExitCode> {
    if let Some(run) = &args.run {
        let outcome = evaluate_run(
            run,
            args.manifest.as_deref(),
            args.split,
            args.device,
            args.json,
            args.out.as_deref(),
        )?;
        if args.json {
            print_json(&outcome)?;
        } else {
            print_metrics(&outcome.metrics);
            eprintln!("wrote {}", outcome.report.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut paths = args.model.clone();
    if let (Some(sweep), Some(top)) = (&args.sweep, args.top) {
        paths.extend(top_trials(sweep, top)?);
    }
    let mut ensemble = Ensemble::load(&paths, args.device)?;
    let manifest = match &args.manifest {
        Some(m) => m.clone(),
        None => ensemble
            .members
            .iter()
            .find_map(|m| m.config().data.manifest.clone())
            .ok_or_else(|| {
                Error::InvalidArgument("--manifest: no member names its manifest; pass one".into())
            })?,
    };
    let report = evaluate_ensemble(&mut ensemble, &manifest, args.split, &args.weights)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("ensemble-{}.json", args.split.as_str())));
    let text = serde_json::to_string_pretty(&report)
        .map_err(|e| Error::InvalidArgument(format!("serialising the report: {e}")))?;
    atomic_write_str(&out, &text)?;
    if args.json {
        print_json(&report)?;
    } else {
        print_ensemble(&report);
        eprintln!("wrote {}", out.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn print_metrics(metrics: &SplitMetrics) {
    println!(
        "{} clips: accuracy {:.4}, balanced accuracy {:.4}, macro-F1 {:.4}, loss {:.4}",
        metrics.clips, metrics.accuracy, metrics.balanced_accuracy, metrics.macro_f1, metrics.loss
    );
    for class in &metrics.per_class {
        println!(
            "  {:<12} precision {:.3} recall {:.3} F1 {:.3} ({} clips)",
            class.class, class.precision, class.recall, class.f1, class.support
        );
    }
}

fn print_ensemble(report: &EnsembleReport) {
    println!("members ({} weights):", report.weights_from);
    for m in &report.members {
        println!(
            "  {:.3}  {:<8} accuracy {:.4}, macro-F1 {:.4}, loss {:.4}  {}",
            m.weight,
            m.kind,
            m.metrics.accuracy,
            m.metrics.macro_f1,
            m.metrics.loss,
            m.model.display()
        );
    }
    print!("ensemble on {}: ", report.split);
    print_metrics(&report.metrics);
    if !report.skipped.is_empty() {
        eprintln!(
            "{} clips left out (a member could not read them)",
            report.skipped.len()
        );
    }
}

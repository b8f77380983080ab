//! `soundclass train`: one run, a resumed run, or grouped k-fold
//! cross-validation; the summary as text or JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{print_json, ConfigArgs};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::train::cnn::{train, TrainRequest, TrainSummary};
use crate::train::device::DeviceChoice;
use crate::train::folds::{train_folds, FoldsRequest};

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

pub fn execute(args: TrainArgs) -> Result<ExitCode> {
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
        eprint!("{}", summary_text(&summary));
    }
    Ok(ExitCode::SUCCESS)
}

/// The lines `train` ends with: best epoch, the averaged model, time, run
/// folder, and test metrics where there is a test split.
fn summary_text(summary: &TrainSummary) -> String {
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
    let mut text = format!(
        "{best}{model}; {} epochs in {:.0} s; run folder {}\n",
        summary.epochs_run,
        summary.train_seconds,
        summary.run_dir.display()
    );
    if let Some(test) = &summary.test {
        text.push_str(&format!(
            "test: accuracy {:.3}, macro-F1 {:.3}\n",
            test.accuracy, test.macro_f1
        ));
    }
    text
}

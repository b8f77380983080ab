//! `soundclass sweep …`: parse the arguments, call [`crate::sweep`], print.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::print_json;
use crate::error::Result;
use crate::sweep::run::describe;
use crate::sweep::{trials, RunOptions, SweepDir, SweepSpec, TrialTable};
use crate::train::device::DeviceChoice;

#[derive(Debug, Subcommand)]
pub enum SweepCommand {
    /// Start a sweep from a spec (experiments/*.toml).
    Run {
        spec: PathBuf,
        #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
        device: DeviceChoice,
        /// Override a config key in every trial, after the point's values.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Sweep folder, exactly (default: runs/sweeps/<name>/<UTC time>).
        #[arg(long)]
        sweep_dir: Option<PathBuf>,
        /// Trials run at once, each in its own process with an equal share
        /// of the cores.
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// List every trial's overrides and exit.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Continue a stopped sweep: finished trials are kept, interrupted ones
    /// continue from their last checkpoint.
    Resume {
        sweep_dir: PathBuf,
        #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
        device: DeviceChoice,
        /// Run failed trials again.
        #[arg(long)]
        retry_failed: bool,
        #[arg(long, default_value_t = 1)]
        workers: usize,
        #[arg(long)]
        json: bool,
    },
    /// Take pending trials of a sweep folder and run them until none is
    /// left (what `--workers` and cluster jobs run).
    Worker {
        sweep_dir: PathBuf,
        #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
        device: DeviceChoice,
        /// No progress output.
        #[arg(long)]
        quiet: bool,
    },
    /// Every trial's parameters, state, epochs, objective and wall time.
    Status {
        sweep_dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

pub fn execute(command: SweepCommand) -> Result<ExitCode> {
    match command {
        SweepCommand::Run {
            spec,
            device,
            sets,
            sweep_dir,
            workers,
            dry_run,
            json,
        } => {
            let spec = SweepSpec::load(&spec)?;
            // Each trial's overrides must load too (the spec's values are
            // checked one by one; this checks them with the command line's).
            for trial in trials(&spec) {
                let mut all = trial.overrides();
                all.extend(sets.iter().cloned());
                spec.base_config(&[], &all)?;
            }
            if dry_run {
                return print_trials(&spec, json);
            }
            let sweep = SweepDir::create(spec, sweep_dir.as_deref(), &sets)?;
            if !json {
                eprintln!("sweep folder: {}", sweep.dir.display());
            }
            let options = RunOptions {
                device,
                overrides: sets,
                quiet: json,
            };
            let table = sweep.run_workers(&this_program()?, workers, &options)?;
            finish(&sweep, table, json)
        }
        SweepCommand::Resume {
            sweep_dir,
            device,
            retry_failed,
            workers,
            json,
        } => {
            let (sweep, overrides) = SweepDir::open(&sweep_dir)?;
            sweep.recover(retry_failed)?;
            let options = RunOptions {
                device,
                overrides,
                quiet: json,
            };
            let table = sweep.run_workers(&this_program()?, workers, &options)?;
            finish(&sweep, table, json)
        }
        SweepCommand::Worker {
            sweep_dir,
            device,
            quiet,
        } => {
            let (sweep, overrides) = SweepDir::open(&sweep_dir)?;
            sweep.recover(false)?;
            sweep.work(&RunOptions {
                device,
                overrides,
                quiet,
            })?;
            Ok(ExitCode::SUCCESS)
        }
        SweepCommand::Status { sweep_dir, json } => {
            let (sweep, _) = SweepDir::open(&sweep_dir)?;
            let table = sweep.read_table()?;
            if json {
                print_json(&table)?;
            } else {
                print!("{}", status_text(&table));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The running soundclass binary, which workers are started from.
fn this_program() -> Result<PathBuf> {
    std::env::current_exe().map_err(|e| crate::error::Error::io("soundclass", e))
}

fn print_trials(spec: &SweepSpec, json: bool) -> Result<ExitCode> {
    let trials = trials(spec);
    if json {
        let rows: Vec<_> = trials
            .iter()
            .map(|t| serde_json::json!({ "id": t.id, "point": t.point, "repeat": t.repeat, "overrides": t.overrides() }))
            .collect();
        print_json(&rows)?;
    } else {
        for t in &trials {
            println!("{}  {}", t.id, t.overrides().join(" "));
        }
        println!(
            "{} trials ({} points x {} repeats)",
            trials.len(),
            trials.len() / spec.sweep.repeats,
            spec.sweep.repeats
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn finish(sweep: &SweepDir, table: TrialTable, json: bool) -> Result<ExitCode> {
    if json {
        print_json(&table)?;
    } else {
        print!("{}", status_text(&table));
        println!(
            "leaderboard: {}",
            sweep.dir.join("leaderboard.md").display()
        );
    }
    let failed = table
        .trials
        .iter()
        .any(|r| r.state == crate::sweep::TrialState::Failed);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn status_text(table: &TrialTable) -> String {
    let metric = table.metric.as_str();
    let mut out = format!(
        "{:<6} {:<8} {:>6} {:>10} {:>8}  parameters\n",
        "trial", "state", "epochs", metric, "wall s"
    );
    for r in &table.trials {
        let opt =
            |v: Option<f64>, digits: usize| v.map_or("-".to_string(), |v| format!("{v:.digits$}"));
        out += &format!(
            "{:<6} {:<8} {:>6} {:>10} {:>8}  {} (seed {}){}\n",
            r.trial.id,
            r.state.as_str(),
            r.epochs.map_or("-".to_string(), |e| e.to_string()),
            opt(r.metric, 4),
            opt(r.wall_seconds, 1),
            describe(&r.trial.values),
            r.trial.seed,
            r.error
                .as_ref()
                .map_or(String::new(), |e| format!("  error: {e}"))
        );
    }
    out
}

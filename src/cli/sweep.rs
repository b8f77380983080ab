//! `soundclass sweep …`: parse the arguments, call [`crate::sweep`], print.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::print_json;
use crate::error::Result;
use crate::sweep::run::describe;
use crate::sweep::slurm::{queued_tasks, SlurmOptions};
use crate::sweep::workers::worker_count;
use crate::sweep::{trials, RunOptions, SweepDir, SweepSpec, TrialTable};
use crate::train::device::DeviceChoice;

#[derive(Debug, Subcommand)]
pub enum SweepCommand {
    /// Start a sweep from a spec (experiments/*.toml).
    Run(RunArgs),
    /// Continue a stopped sweep: finished trials are kept, interrupted ones
    /// continue from their last checkpoint.
    Resume(ResumeArgs),
    /// Take pending trials of a sweep folder and run them until none is
    /// left (what `--workers` and cluster jobs run).
    Worker(WorkerArgs),
    /// Run a sweep as a Slurm job array: writes SWEEP_DIR/slurm/sweep.sbatch
    /// (tasks run `sweep worker`, save on SIGTERM and requeue before the
    /// time limit) and submits it with sbatch.
    Submit(SubmitArgs),
    /// Every trial's parameters, state, epochs, objective and wall time.
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
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
    /// One worker per listed GPU (e.g. 0,1,2,3): each sees only its own
    /// (CUDA_VISIBLE_DEVICES, and the wgpu adapter of that index).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    devices: Vec<usize>,
    /// List every trial's overrides and exit.
    #[arg(long)]
    dry_run: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    sweep_dir: PathBuf,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    device: DeviceChoice,
    /// Run failed trials again.
    #[arg(long)]
    retry_failed: bool,
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// One worker per listed GPU, as for `sweep run`.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    devices: Vec<usize>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    sweep_dir: PathBuf,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    device: DeviceChoice,
    /// No progress output.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// A sweep folder, or a spec (a new sweep folder is made from it).
    target: PathBuf,
    /// Submit to Slurm (the one scheduler supported).
    #[arg(long, required = true)]
    slurm: bool,
    /// Array tasks (workers) running at once.
    #[arg(long, default_value_t = 4)]
    array_parallel: usize,
    /// Generic resources per task, e.g. gpu:1.
    #[arg(long)]
    gres: Option<String>,
    #[arg(long, default_value_t = 2)]
    cpus_per_task: usize,
    /// Time limit per task (MM, HH:MM:SS or D-HH:MM:SS).
    #[arg(long)]
    time: Option<String>,
    #[arg(long)]
    partition: Option<String>,
    /// Memory per task, e.g. 16G.
    #[arg(long)]
    mem: Option<String>,
    /// The device each worker trains on.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    device: DeviceChoice,
    /// With a spec: override a config key in every trial.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// With a spec: the sweep folder, exactly.
    #[arg(long)]
    sweep_dir: Option<PathBuf>,
    /// Write and print the script, do not submit.
    #[arg(long)]
    dry_run: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    sweep_dir: PathBuf,
    #[arg(long)]
    json: bool,
}

pub fn execute(command: SweepCommand) -> Result<ExitCode> {
    match command {
        SweepCommand::Run(args) => run(args),
        SweepCommand::Resume(args) => resume(args),
        SweepCommand::Worker(args) => worker(args),
        SweepCommand::Submit(args) => submit(args),
        SweepCommand::Status(args) => status(args),
    }
}

/// `sweep run`: check every trial, then run them (or only list them).
fn run(args: RunArgs) -> Result<ExitCode> {
    let RunArgs {
        spec,
        device,
        sets,
        sweep_dir,
        workers,
        devices,
        dry_run,
        json,
    } = args;
    worker_count(workers, &devices)?;
    let spec = SweepSpec::load(&spec)?;
    check_trials(&spec, &sets)?;
    if dry_run {
        return print_trials(&spec, json);
    }
    crate::interrupt::install()?;
    let sweep = SweepDir::create(spec, sweep_dir.as_deref(), &sets)?;
    if !json {
        eprintln!("sweep folder: {}", sweep.dir.display());
    }
    let options = RunOptions {
        device,
        overrides: sets,
        quiet: json,
    };
    run_and_report(&sweep, &options, workers, &devices)
}

/// `sweep resume`: recover interrupted trials, then run the rest.
fn resume(args: ResumeArgs) -> Result<ExitCode> {
    let ResumeArgs {
        sweep_dir,
        device,
        retry_failed,
        workers,
        devices,
        json,
    } = args;
    worker_count(workers, &devices)?;
    crate::interrupt::install()?;
    let (sweep, overrides) = SweepDir::open(&sweep_dir)?;
    sweep.recover(retry_failed)?;
    let options = RunOptions {
        device,
        overrides,
        quiet: json,
    };
    run_and_report(&sweep, &options, workers, &devices)
}

/// `sweep worker`: take pending trials until none is left.
fn worker(args: WorkerArgs) -> Result<ExitCode> {
    let WorkerArgs {
        sweep_dir,
        device,
        quiet,
    } = args;
    crate::interrupt::install()?;
    let (sweep, overrides) = SweepDir::open(&sweep_dir)?;
    sweep.recover(false)?;
    sweep.work(&RunOptions {
        device,
        overrides,
        quiet,
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `sweep submit --slurm`: write the job array script and submit it.
fn submit(args: SubmitArgs) -> Result<ExitCode> {
    let SubmitArgs {
        target,
        array_parallel,
        gres,
        cpus_per_task,
        time,
        partition,
        mem,
        device,
        sets,
        sweep_dir,
        dry_run,
        json,
        slurm,
    } = args;
    // clap requires `--slurm`: Slurm is the one scheduler there is.
    debug_assert!(slurm);
    let options = SlurmOptions {
        array_parallel,
        cpus_per_task,
        gres,
        time,
        partition,
        mem,
        device,
    };
    options.check()?;
    let sweep = open_or_create(&target, sweep_dir.as_deref(), &sets)?;
    let (path, script, job) = sweep.submit_slurm(&this_program()?, &options, dry_run)?;
    if json {
        print_json(&serde_json::json!({
            "sweep_dir": sweep.dir, "script": path, "job": job,
        }))?;
    } else if let Some(job) = job {
        println!(
            "submitted job array {} ({} tasks) for {}; `soundclass sweep status {}` follows it",
            job.job_id,
            job.tasks,
            sweep.dir.display(),
            sweep.dir.display()
        );
    } else {
        print!("{script}");
        eprintln!("written to {} (not submitted)", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `sweep status`: the trial table and the sweep's Slurm jobs.
fn status(args: StatusArgs) -> Result<ExitCode> {
    let StatusArgs { sweep_dir, json } = args;
    let (sweep, _) = SweepDir::open(&sweep_dir)?;
    let table = sweep.read_table()?;
    let jobs: Vec<_> = sweep
        .slurm_jobs()
        .into_iter()
        .map(|job| {
            let queued = queued_tasks(&job.job_id);
            (job, queued)
        })
        .collect();
    if json {
        let jobs: Vec<_> = jobs
            .iter()
            .map(|(job, queued)| serde_json::json!({ "job": job, "queued_tasks": queued }))
            .collect();
        print_json(&serde_json::json!({ "table": table, "slurm_jobs": jobs }))?;
    } else {
        print!("{}", status_text(&table));
        for (job, queued) in &jobs {
            let queue = if queued.is_empty() {
                "no task queued or running".to_string()
            } else {
                queued
                    .iter()
                    .map(|(id, state)| format!("{id} {state}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            println!(
                "slurm job {} ({} tasks, submitted {}): {queue}",
                job.job_id, job.tasks, job.submitted_utc
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `target` as a sweep folder, or a new folder made from `target` as a
/// spec (its trials checked first, as `sweep run` does).
fn open_or_create(target: &Path, sweep_dir: Option<&Path>, sets: &[String]) -> Result<SweepDir> {
    if target.join("trials.json").is_file() {
        if !sets.is_empty() || sweep_dir.is_some() {
            return Err(crate::error::Error::InvalidArgument(
                "--set and --sweep-dir go with a spec, not an existing sweep folder".into(),
            ));
        }
        return Ok(SweepDir::open(target)?.0);
    }
    let spec = SweepSpec::load(target)?;
    check_trials(&spec, sets)?;
    let sweep = SweepDir::create(spec, sweep_dir, sets)?;
    eprintln!("sweep folder: {}", sweep.dir.display());
    Ok(sweep)
}

/// Each trial's overrides must load with the command line's too (the
/// spec's values are checked one by one when it loads).
fn check_trials(spec: &SweepSpec, sets: &[String]) -> Result<()> {
    for trial in trials(spec) {
        let mut all = trial.overrides();
        all.extend(sets.iter().cloned());
        spec.base_config(&[], &all)?;
    }
    Ok(())
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
        let points = trials.len() / spec.sweep.repeats;
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        println!(
            "{} ({} x {})",
            plural(trials.len(), "trial"),
            plural(points, "point"),
            plural(spec.sweep.repeats, "repeat")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The end `sweep run` and `sweep resume` share: run the pending trials on
/// the workers, print the table (or JSON when `options.quiet`), and exit 1
/// when a trial failed.
fn run_and_report(
    sweep: &SweepDir,
    options: &RunOptions,
    workers: usize,
    devices: &[usize],
) -> Result<ExitCode> {
    let table = sweep.run_workers(&this_program()?, workers, devices, options)?;
    if options.quiet {
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

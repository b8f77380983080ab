//! Local worker processes: `sweep run|resume --workers N` starts N
//! `soundclass sweep worker` processes on one machine, each with an equal
//! share of the cores, and waits for them; `--devices 0,1,..` starts one
//! per GPU, each seeing only its own.
//!
//! Workers run in their own process group, so a Ctrl-C at the terminal
//! reaches only the driver, which passes one SIGTERM on to every worker:
//! each saves its trial at the next step boundary and exits (a second
//! Ctrl-C ends the driver at once; the workers still save). A SIGTERM that
//! reaches the workers directly as well (a scheduler signalling every
//! process of a job) does no harm: a repeated SIGTERM is the same request.
//! A driver killed with -9 leaves its workers running; they finish their
//! trials, and `sweep resume` takes back only trials whose process is gone.
//! (On clusters whose Slurm tracks processes by process group,
//! `proctrack/pgid`, run workers as array tasks rather than `--workers`
//! inside one job: the workers' own groups escape that tracking.)

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ExitStatus};
use std::time::Duration;

use super::run::{RunOptions, SweepDir, TrialTable};
use crate::error::{Error, Result};
use crate::interrupt;

/// How many workers `--workers` and `--devices` ask for: one per device
/// when devices are given; a different `--workers` count contradicts them.
pub fn worker_count(workers: usize, devices: &[usize]) -> Result<usize> {
    if devices.is_empty() {
        return Ok(workers);
    }
    if workers > 1 && workers != devices.len() {
        return Err(Error::InvalidArgument(format!(
            "--workers {workers} and --devices with {} GPUs: one worker runs per device",
            devices.len()
        )));
    }
    Ok(devices.len())
}

impl SweepDir {
    /// Run the sweep with `workers` processes of `program` (the soundclass
    /// binary, as `sweep worker`), each with an equal share of the cores,
    /// and wait for them; one worker runs in this process instead.
    /// With `devices`, one worker per GPU index instead, each seeing only
    /// its own GPU.
    pub fn run_workers(
        &self,
        program: &Path,
        workers: usize,
        devices: &[usize],
        options: &RunOptions,
    ) -> Result<TrialTable> {
        let workers = worker_count(workers, devices)?;
        if workers <= 1 && devices.is_empty() {
            self.work(options)?;
            return self.finish();
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = (cores / workers).max(1);
        let device = options.device.as_arg();
        let mut children = Vec::new();
        for worker in 0..workers {
            let mut command = std::process::Command::new(program);
            if let Some(gpu) = devices.get(worker) {
                // CUDA (and LibTorch) count GPUs in PCI order here, as wgpu
                // does; the worker then uses its one visible CUDA device, or
                // the wgpu adapter of this index (crate::gpu).
                command
                    .env("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
                    .env("CUDA_VISIBLE_DEVICES", gpu.to_string())
                    .env(crate::gpu::GPU_INDEX_VAR, gpu.to_string());
            }
            command
                .args(["sweep", "worker"])
                .arg(&self.dir)
                .args(["--device", &device])
                .env("RAYON_NUM_THREADS", threads.to_string())
                .process_group(0);
            if options.quiet {
                command.arg("--quiet");
            }
            children.push(command.spawn().map_err(|e| Error::io(program, e))?);
        }
        let statuses = wait_passing_on_stops(children).map_err(|e| Error::io(program, e))?;
        let table = self.finish()?;
        interrupt::check(|| {
            format!(
                "every worker saved its trial; `soundclass sweep resume {}` continues",
                self.dir.display()
            )
        })?;
        let failures: Vec<String> = statuses
            .iter()
            .filter(|s| !s.success())
            .map(|s| s.to_string())
            .collect();
        if !failures.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "sweep workers stopped with errors ({}); `soundclass sweep resume {}` continues",
                failures.join(", "),
                self.dir.display()
            )));
        }
        Ok(table)
    }
}

/// Wait for every child; on this process's first stop request, send each
/// one still running a SIGTERM (once).
fn wait_passing_on_stops(mut children: Vec<Child>) -> std::io::Result<Vec<ExitStatus>> {
    let mut statuses: Vec<Option<ExitStatus>> = vec![None; children.len()];
    let mut passed_on = false;
    loop {
        for (child, status) in children.iter_mut().zip(statuses.iter_mut()) {
            if status.is_none() {
                *status = child.try_wait()?;
            }
        }
        if statuses.iter().all(Option::is_some) {
            return Ok(statuses.into_iter().flatten().collect());
        }
        if !passed_on && interrupt::requested().is_some() {
            for (child, status) in children.iter().zip(&statuses) {
                if status.is_none() {
                    // SAFETY: kill(2) with a pid we started and have not
                    // reaped (try_wait returned None), so it is still ours.
                    unsafe {
                        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
                    }
                }
            }
            passed_on = true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

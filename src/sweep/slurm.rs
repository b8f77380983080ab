//! Sweeps as Slurm job arrays: `sweep submit --slurm` writes
//! `SWEEP_DIR/slurm/sweep.sbatch`, a job array whose tasks each run
//! `soundclass sweep worker SWEEP_DIR` (taking pending trials until none is
//! left), submits it with `sbatch`, and records the job in
//! `SWEEP_DIR/slurm/jobs.json`, which `sweep status` reads.
//!
//! Stops: Slurm sends the batch shell SIGUSR1 two minutes before the time
//! limit (`--signal=B:USR1@120`); the script passes it on to the worker as
//! SIGTERM, the worker saves its trial at the next step boundary, and the
//! script requeues the task (`--requeue`), so it continues where it
//! stopped. Preemption, `scancel` and `scontrol requeue` send SIGTERM to the
//! worker itself; it saves and hands its trial back the same way, and a
//! later task (or `sweep resume`) continues it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::run::{SweepDir, TrialState};
use crate::error::{Error, Result};
use crate::train::device::DeviceChoice;
use crate::util::{absolute, atomic_write_str, utc_timestamp};

/// Options of `sweep submit --slurm`.
#[derive(Debug, Clone)]
pub struct SlurmOptions {
    /// Array tasks (workers) running at once.
    pub array_parallel: usize,
    pub cpus_per_task: usize,
    pub gres: Option<String>,
    /// `--time`: `MM`, `HH:MM:SS` or `D-HH:MM:SS`.
    pub time: Option<String>,
    pub partition: Option<String>,
    pub mem: Option<String>,
    pub device: DeviceChoice,
}

/// One submitted job array (`slurm/jobs.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlurmJob {
    pub job_id: String,
    pub tasks: usize,
    pub submitted_utc: String,
    pub script: PathBuf,
}

impl SlurmOptions {
    /// Problems that sbatch would only report later, named by option.
    pub fn check(&self) -> Result<()> {
        let bad = |option: &str, reason: &str| {
            Err(Error::InvalidArgument(format!("--{option}: {reason}")))
        };
        if self.array_parallel == 0 {
            return bad("array-parallel", "must be at least 1");
        }
        if self.cpus_per_task == 0 {
            return bad("cpus-per-task", "must be at least 1");
        }
        if let Some(time) = &self.time {
            if !valid_time(time) {
                return bad(
                    "time",
                    &format!("`{time}` is not MM, HH:MM:SS or D-HH:MM:SS"),
                );
            }
        }
        for (option, value) in [
            ("gres", &self.gres),
            ("partition", &self.partition),
            ("mem", &self.mem),
        ] {
            if value
                .as_deref()
                .is_some_and(|v| v.is_empty() || v.chars().any(|c| c.is_whitespace() || c == '\''))
            {
                return bad(option, "must be one word without quotes");
            }
        }
        Ok(())
    }
}

/// Slurm's time formats: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`.
fn valid_time(time: &str) -> bool {
    let (days, rest) = match time.split_once('-') {
        Some((d, rest)) => (Some(d), rest),
        None => (None, time),
    };
    let numbers = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let parts: Vec<&str> = rest.split(':').collect();
    days.is_none_or(numbers) && parts.len() <= 3 && parts.iter().all(|p| numbers(p))
}

impl SweepDir {
    /// The job array script for `tasks` workers of `program`.
    pub fn slurm_script(&self, program: &Path, options: &SlurmOptions, tasks: usize) -> String {
        let dir = absolute(&self.dir);
        let workdir = std::env::current_dir().map_or_else(|_| dir.clone(), |d| absolute(&d));
        let quote = |p: &Path| shell_quote(&p.to_string_lossy());
        let device = options.device.as_arg();
        let mut header = vec![
            format!("--job-name=sc-{}", job_name(&self.spec.sweep.name)),
            format!("--array=0-{}%{}", tasks - 1, options.array_parallel),
            format!("--cpus-per-task={}", options.cpus_per_task),
            format!("--chdir={}", workdir.display()),
            format!("--output={}/slurm/%x-%A_%a.out", dir.display()),
            "--open-mode=append".into(),
            "--requeue".into(),
            "--signal=B:USR1@120".into(),
        ];
        for (option, value) in [
            ("gres", &options.gres),
            ("time", &options.time),
            ("partition", &options.partition),
            ("mem", &options.mem),
        ] {
            if let Some(value) = value {
                header.push(format!("--{option}={value}"));
            }
        }
        let mut script = String::from("#!/bin/bash\n");
        script += &format!(
            "# soundclass sweep `{}`: each array task runs one sweep worker.\n",
            self.spec.sweep.name
        );
        for line in header {
            script += &format!("#SBATCH {line}\n");
        }
        script += &format!(
            r#"
export RAYON_NUM_THREADS="${{SLURM_CPUS_PER_TASK:-1}}"
timed_out=0
worker=
# Two minutes before the time limit: the worker saves its trial at the next
# step boundary, then this task goes back to the queue.
on_time_limit() {{ timed_out=1; [ -n "$worker" ] && kill -TERM "$worker" 2>/dev/null; }}
trap on_time_limit USR1
# Preemption, scancel, scontrol requeue: the worker got SIGTERM itself.
trap ':' TERM
{program} sweep worker {dir} --device {device} --quiet &
worker=$!
# A trapped signal ends `wait` early: wait again until the worker is gone,
# then once more for its own exit status.
while kill -0 "$worker" 2>/dev/null; do
  wait "$worker"
done
wait "$worker"; status=$?
echo "worker exited with status $status"
# 143: the worker saved its trial on our SIGTERM; the sweep is not done.
if [ "$timed_out" = 1 ] && [ "$status" = 143 ]; then
  scontrol requeue "${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}"
fi
exit "$status"
"#,
            program = quote(&absolute(program)),
            dir = quote(&dir),
        );
        script
    }

    /// Write `slurm/sweep.sbatch` and, unless `dry_run`, submit it with
    /// `sbatch` and record the job.
    pub fn submit_slurm(
        &self,
        program: &Path,
        options: &SlurmOptions,
        dry_run: bool,
    ) -> Result<(PathBuf, String, Option<SlurmJob>)> {
        options.check()?;
        for (what, path) in [
            ("sweep folder", absolute(&self.dir)),
            (
                "working directory",
                std::env::current_dir().map_err(|e| Error::io(".", e))?,
            ),
        ] {
            let text = path.to_string_lossy();
            if text.chars().any(|c| c.is_whitespace() || c == '%') {
                return Err(Error::InvalidArgument(format!(
                    "{what} {text}: #SBATCH lines cannot hold spaces or `%` in paths; \
                     use a path without them"
                )));
            }
        }
        let table = self.read_table()?;
        let open = table
            .trials
            .iter()
            .filter(|r| matches!(r.state, TrialState::Pending | TrialState::Running))
            .count();
        if open == 0 {
            return Err(Error::InvalidArgument(format!(
                "{}: no pending trials to submit (`sweep resume --retry-failed` runs failed ones)",
                self.dir.display()
            )));
        }
        let tasks = options.array_parallel.min(open);
        let script = self.slurm_script(program, options, tasks);
        let path = self.dir.join("slurm").join("sweep.sbatch");
        atomic_write_str(&path, &script)?;
        if dry_run {
            return Ok((path, script, None));
        }
        let out = Command::new("sbatch")
            .arg("--parsable")
            .arg(&path)
            .output()
            .map_err(|e| Error::io("sbatch", e))?;
        if !out.status.success() {
            return Err(Error::InvalidArgument(format!(
                "sbatch {} failed: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let job_id = stdout.trim().split(';').next().unwrap_or("").to_string();
        let job = SlurmJob {
            job_id,
            tasks,
            submitted_utc: utc_timestamp(),
            script: path.clone(),
        };
        let mut jobs = self.slurm_jobs();
        jobs.push(job.clone());
        let json = serde_json::to_string_pretty(&jobs)
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        atomic_write_str(&self.dir.join("slurm").join("jobs.json"), &json)?;
        Ok((path, script, Some(job)))
    }

    /// The job arrays submitted for this sweep, oldest first.
    pub fn slurm_jobs(&self) -> Vec<SlurmJob> {
        std::fs::read_to_string(self.dir.join("slurm").join("jobs.json"))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }
}

/// The state of each task of `job_id` that Slurm still lists (`squeue`):
/// `(task id, state)`; empty when the job has left the queue or squeue is
/// not available.
pub fn queued_tasks(job_id: &str) -> Vec<(String, String)> {
    let Ok(out) = Command::new("squeue")
        .args(["--noheader", "--array", "--jobs", job_id, "--format=%i %T"])
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let (id, state) = line.trim().split_once(' ')?;
            Some((id.to_string(), state.to_string()))
        })
        .collect()
}

/// Whether the process of Slurm job `job_id` (one array task's own job
/// id) may still be alive: false once Slurm has forgotten the job, or
/// lists it as pending again (requeued: its old process is gone) or
/// finished; suspended and running jobs are alive. Answers are kept for 30
/// seconds: workers waiting on other trials ask often, and slurmctld is
/// shared.
pub fn job_is_running(job_id: &str) -> bool {
    static SEEN: Mutex<BTreeMap<String, (Instant, bool)>> = Mutex::new(BTreeMap::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&(at, running)) = seen.get(job_id) {
        if at.elapsed() < Duration::from_secs(30) {
            return running;
        }
    }
    // `%A` is each array task's own job id: `--jobs` with an array's id
    // lists all its tasks, and only the one asked about counts.
    let running = match Command::new("squeue")
        .args(["--noheader", "--jobs", job_id, "--format=%A %T"])
        .output()
    {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| line.trim().split_once(' '))
            .any(|(id, state)| id == job_id && process_may_live(state)),
        // Invalid job id: Slurm has forgotten it, so it runs no more.
        Ok(out) => !String::from_utf8_lossy(&out.stderr).contains("Invalid job id"),
        // No squeue here: nothing is known, so nothing is taken over.
        Err(_) => true,
    };
    seen.insert(job_id.to_string(), (Instant::now(), running));
    running
}

/// Job states (squeue's long names) in which the job's processes exist.
fn process_may_live(state: &str) -> bool {
    !matches!(
        state,
        "PENDING"
            | "REQUEUED"
            | "REQUEUE_HOLD"
            | "REQUEUE_FED"
            | "COMPLETED"
            | "CANCELLED"
            | "FAILED"
            | "TIMEOUT"
            | "NODE_FAIL"
            | "PREEMPTED"
            | "BOOT_FAIL"
            | "DEADLINE"
            | "OUT_OF_MEMORY"
    )
}

/// A sweep name as a Slurm job name: letters, digits, `_`, `-`, `.`.
fn job_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `text` in single quotes for bash.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_follow_slurms_formats() {
        for good in ["30", "4:00:00", "1-00:00:00", "2-12", "0:30"] {
            assert!(valid_time(good), "{good}");
        }
        for bad in ["", "1h", "1-", "1:2:3:4", "-1:00", "1:xx"] {
            assert!(!valid_time(bad), "{bad}");
        }
    }

    #[test]
    fn quoting_survives_quotes_and_spaces() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}

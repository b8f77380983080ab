//! A sweep as a Slurm job array on a real Slurm (scripts/slurm_local.sh
//! starts a one-node cluster; CI runs it first): one array task is
//! cancelled mid-trial, its trial is handed back and finished by the other
//! task, and the leaderboard equals that of the same sweep run locally.
//! Skipped with a message when no Slurm answers, unless
//! `SOUNDCLASS_REQUIRE_SLURM=1` (CI), where that is a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{read_json, soundclass};

fn slurm_answers() -> bool {
    Command::new("sinfo")
        .arg("--noheader")
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
}

/// Two classes of tones, 12 train and 4 val clips, and a spec of 2 points
/// x 2 repeats of 8 epochs.
fn fixture(dir: &Path) -> PathBuf {
    let base = common::two_tone_base(dir, &["training.batch_size=1", "training.epochs=8"]);
    let spec = dir.join("spec.toml");
    std::fs::write(
        &spec,
        format!(
            "[sweep]\nname = \"slurm_test\"\nbase = \"{}\"\nmethod = \"grid\"\nrepeats = 2\nmetric = \"val_accuracy\"\n\n[parameters]\n\"model.dropout\" = [0.0, 0.3]\n",
            base.display()
        ),
    )
    .unwrap();
    spec
}

fn states(dir: &Path) -> Vec<String> {
    read_json(&dir.join("trials.json"))["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_sweep_runs_as_a_slurm_job_array_and_survives_a_cancelled_task() {
    if !slurm_answers() {
        assert!(
            std::env::var_os("SOUNDCLASS_REQUIRE_SLURM").is_none(),
            "SOUNDCLASS_REQUIRE_SLURM is set but sinfo does not answer"
        );
        eprintln!("SKIPPED: no Slurm (run scripts/slurm_local.sh start as root)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let spec = fixture(tmp.path());
    let local = tmp.path().join("local");
    common::soundclass_ok(&common::sweep_args(&spec, &local));

    let cluster = tmp.path().join("cluster");
    let out = soundclass(&[
        "sweep",
        "submit",
        spec.to_str().unwrap(),
        "--slurm",
        "--array-parallel",
        "2",
        "--cpus-per-task",
        "1",
        "--time",
        "00:20:00",
        "--device",
        "cpu",
        "--sweep-dir",
        cluster.to_str().unwrap(),
        "--json",
    ]);
    common::assert_success(&out);
    let submitted: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let job = submitted["job"]["job_id"].as_str().unwrap().to_string();
    assert_eq!(submitted["job"]["tasks"], 2);
    let script = std::fs::read_to_string(cluster.join("slurm/sweep.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --array=0-1%2"), "{script}");
    assert!(script.contains("#SBATCH --signal=B:USR1@120"), "{script}");

    // Both tasks busy with a trial that has a checkpoint, and a trial still
    // pending for the survivor to go on with: cancel task 0.
    common::wait_until("two running trials", Duration::from_secs(300), || {
        let states = states(&cluster);
        states.iter().filter(|s| *s == "running").count() == 2
            && states.iter().any(|s| s == "pending")
            && cluster.join("trials/t0000/checkpoints/last.ckpt").exists()
    });
    let status = Command::new("scancel")
        .arg(format!("{job}_0"))
        .status()
        .unwrap();
    assert!(status.success());
    let status_text = soundclass(&["sweep", "status", cluster.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&status_text.stdout);
    assert!(text.contains(&format!("slurm job {job}")), "{text}");

    common::wait_until("the job array to finish", Duration::from_secs(600), || {
        soundclass::sweep::slurm::queued_tasks(&job).is_empty()
    });
    let logs: String = std::fs::read_dir(cluster.join("slurm"))
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            (path.extension().is_some_and(|x| x == "out"))
                .then(|| std::fs::read_to_string(path).unwrap())
        })
        .collect();
    assert!(
        states(&cluster).iter().all(|s| s == "done"),
        "{:?}\n{logs}",
        states(&cluster)
    );
    assert!(
        logs.contains("stopped by SIGTERM"),
        "the cancelled worker saved its trial:\n{logs}"
    );
    let leaderboard = |dir: &Path| std::fs::read_to_string(dir.join("leaderboard.csv")).unwrap();
    assert_eq!(leaderboard(&cluster), leaderboard(&local));
}

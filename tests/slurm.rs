//! A sweep as a Slurm job array on a real Slurm (scripts/slurm_local.sh
//! starts a one-node cluster; CI runs it first): one array task is
//! cancelled mid-trial, its trial is handed back and finished by the other
//! task, and the leaderboard equals that of the same sweep run locally.
//! Skipped with a message when no Slurm answers, unless
//! `SOUNDCLASS_REQUIRE_SLURM=1` (CI), where that is a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{soundclass, tiny_config};

fn slurm_answers() -> bool {
    Command::new("sinfo")
        .arg("--noheader")
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
}

/// Two classes of tones, 12 train and 4 val clips, and a spec of 2 points
/// x 2 repeats of 8 epochs.
fn fixture(dir: &Path) -> PathBuf {
    let mut csv = String::from("path,label,split\n");
    for i in 0..16 {
        let (label, freq) = if i % 2 == 0 {
            ("low", 300.0)
        } else {
            ("high", 3000.0)
        };
        let name = format!("clip{i}.wav");
        let tone = common::sine(freq + 20.0 * i as f32, 16000, 0.5, 0.4);
        soundclass::audio::write_wav(
            &dir.join(&name),
            &tone,
            16000,
            1,
            soundclass::audio::WavEncoding::Pcm16,
        )
        .unwrap();
        let split = if i >= 12 { "val" } else { "train" };
        csv += &format!("{name},{label},{split}\n");
    }
    let manifest = dir.join("manifest.csv");
    std::fs::write(&manifest, csv).unwrap();
    let config = tiny_config(
        &manifest,
        &["low", "high"],
        &["training.batch_size=1", "training.epochs=8"],
    );
    let base = dir.join("base.toml");
    std::fs::write(&base, config.to_toml_string().unwrap()).unwrap();
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

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn states(dir: &Path) -> Vec<String> {
    read_json(&dir.join("trials.json"))["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap().to_string())
        .collect()
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
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
    let out = soundclass(&[
        "sweep",
        "run",
        spec.to_str().unwrap(),
        "--device",
        "cpu",
        "--sweep-dir",
        local.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let submitted: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let job = submitted["job"]["job_id"].as_str().unwrap().to_string();
    assert_eq!(submitted["job"]["tasks"], 2);
    let script = std::fs::read_to_string(cluster.join("slurm/sweep.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --array=0-1%2"), "{script}");
    assert!(script.contains("#SBATCH --signal=B:USR1@120"), "{script}");

    // Both tasks busy with a trial that has a checkpoint, and a trial still
    // pending for the survivor to go on with: cancel task 0.
    wait_for("two running trials", Duration::from_secs(300), || {
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

    wait_for("the job array to finish", Duration::from_secs(600), || {
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

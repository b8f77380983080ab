//! Stop requests: SIGTERM (or Ctrl-C) during training saves the epoch's
//! progress at the next step boundary, exits with 128 + signal, and
//! `--resume` ends exactly where an uninterrupted run ends. Its own test
//! binary: the stop flag is process-wide.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::tiny_config;
use soundclass::train::checkpoint;
use soundclass::train::cnn::{last_checkpoint, train, TrainRequest};
use soundclass::train::device::DeviceChoice;
use soundclass::{interrupt, Config, Error};

/// The two-tone fixture with the tiny test config and `extra` keys.
fn fixture(dir: &Path, extra: &[&str]) -> Config {
    tiny_config(&common::two_tones(dir), &["low", "high"], extra)
}

fn request(config: &Config, run_dir: &Path, resume: bool) -> TrainRequest {
    TrainRequest {
        config: config.clone(),
        device: DeviceChoice::Cpu,
        run_dir: Some(run_dir.to_path_buf()),
        resume: resume.then(|| run_dir.to_path_buf()),
        quiet: true,
        stop_after_epochs: None,
    }
}

/// metrics.csv without its throughput column (wall-clock dependent).
fn metrics(run_dir: &Path) -> Vec<String> {
    std::fs::read_to_string(run_dir.join("metrics.csv"))
        .unwrap()
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string())
        .collect()
}

/// Every epoch's record at full precision (losses and metrics are
/// functions of every weight and running statistic), wall-clock rates
/// left out.
fn history(run_dir: &Path) -> Vec<checkpoint::EpochRecord> {
    let state = checkpoint::load(&last_checkpoint(run_dir)).unwrap().state;
    state
        .history
        .into_iter()
        .map(|mut r| {
            r.train_clips_per_second = 0.0;
            r.val_clips_per_second = 0.0;
            r
        })
        .collect()
}

#[test]
fn a_stop_mid_epoch_saves_the_step_and_resume_ends_as_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let config = fixture(
        tmp.path(),
        &[
            "training.batch_size=2",
            "training.epochs=2",
            "augment.mixup_alpha=0.2",
            "model.dropout=0.3",
            "training.log_every_steps=4",
        ],
    );
    let whole = tmp.path().join("whole");
    train(request(&config, &whole, false)).unwrap();

    // A request that is already pending when training starts is honoured
    // after the first step: a deterministic point in the middle of epoch 1.
    interrupt::install().unwrap();
    signal_hook::low_level::raise(signal_hook::consts::SIGTERM).unwrap();
    let stopped = tmp.path().join("stopped");
    let err = train(request(&config, &stopped, false)).unwrap_err();
    interrupt::clear();
    assert!(
        matches!(
            err,
            Error::Interrupted {
                exit_status: 143,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("after step 1 of 6"), "{err}");
    let saved = checkpoint::load(&last_checkpoint(&stopped)).unwrap().state;
    assert_eq!(saved.epoch, 0);
    assert_eq!(saved.step, 1);
    let partial = saved.partial.expect("the epoch's progress is saved");
    assert_eq!((partial.steps, partial.seen), (1, 2));
    assert!(!stopped.join("metrics.csv").exists());

    train(request(&config, &stopped, true)).unwrap();
    assert_eq!(metrics(&stopped), metrics(&whole));
    assert_eq!(history(&stopped), history(&whole));
    let resumed = checkpoint::load(&last_checkpoint(&stopped)).unwrap().state;
    assert_eq!(resumed.partial, None);
    assert_eq!(resumed.step, 12);
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_soundclass")
}

fn train_command(config_path: &Path, run_dir: &Path) -> Command {
    let mut command = Command::new(bin());
    command.args([
        "train",
        "--config",
        config_path.to_str().unwrap(),
        "--device",
        "cpu",
        "--run-dir",
        run_dir.to_str().unwrap(),
        "--json",
    ]);
    command
}

#[test]
fn sigterm_to_the_train_command_saves_and_resume_matches() {
    let tmp = tempfile::tempdir().unwrap();
    let config = fixture(tmp.path(), &["training.batch_size=1", "training.epochs=4"]);
    let config_path: PathBuf = tmp.path().join("config.toml");
    std::fs::write(&config_path, config.to_toml_string().unwrap()).unwrap();
    let whole = tmp.path().join("whole");
    let out = train_command(&config_path, &whole).output().unwrap();
    common::assert_success(&out);

    // SIGTERM once the first epoch is saved, wherever in epoch 2 or 3 it
    // lands: the run stops with its work saved.
    let stopped = tmp.path().join("stopped");
    let child = train_command(&config_path, &stopped)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let checkpoint = last_checkpoint(&stopped);
    common::wait_until("checkpoint", Duration::from_secs(300), || {
        checkpoint.exists()
    });
    // Twice, as a scheduler that signals every process of a job and a
    // driver that passes the signal on would: the same request, still
    // saved (an immediate exit would not print "stopped by").
    for _ in 0..2 {
        common::terminate(&child);
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("stopped by SIGTERM"), "{stderr}");
    let state = checkpoint::load(&checkpoint).unwrap().state;
    assert!(state.epoch < 4, "the signal came after the run had ended");

    let out = Command::new(bin())
        .args([
            "train",
            "--resume",
            stopped.to_str().unwrap(),
            "--device",
            "cpu",
            "--json",
        ])
        .output()
        .unwrap();
    common::assert_success(&out);
    assert_eq!(metrics(&stopped), metrics(&whole));
    assert_eq!(history(&stopped), history(&whole));
}

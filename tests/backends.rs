//! Backends agree. A checkpoint trained on one backend predicts the same on
//! every other this build has (flex; wgpu, on Mesa lavapipe in CI; LibTorch
//! with `--features tch`), and LibTorch trains, evaluates and benchmarks
//! every architecture, initializer, optimizer and augmentation.
//!
//! `cargo test --features tch --test backends` needs LibTorch 2.9.0:
//! `eval "$(scripts/setup_libtorch.sh --env)"` first.

mod common;

use std::path::{Path, PathBuf};

use common::server::train_tiny_on;
#[cfg(feature = "tch")]
use common::{assert_success, soundclass};
use common::{soundclass_json, two_tones};

/// The `--device` values this build can run.
fn backends() -> Vec<&'static str> {
    let mut devices = vec!["cpu", "wgpu"];
    if cfg!(feature = "tch") {
        devices.push("tch");
    }
    devices
}

/// `train` the tiny two-tone CNN on `device` with `extra` settings; returns
/// the run folder `dir/<name>`.
fn train_on(dir: &Path, name: &str, device: &str, extra: &[&str]) -> PathBuf {
    train_tiny_on(dir, name, &dir.join("manifest.csv"), extra, device)
}

/// Every file's class probabilities from `predict --device device`.
fn probabilities(run: &Path, files: &[PathBuf], device: &str) -> Vec<Vec<f64>> {
    // The CSV goes beside the run (predict's default is the current folder).
    let out = run.with_file_name(format!("predictions-{device}.csv"));
    let mut args = vec![
        "predict".to_string(),
        "--model".into(),
        run.display().to_string(),
        "--device".into(),
        device.into(),
        "--out".into(),
        out.display().to_string(),
        "--json".into(),
    ];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = soundclass_json(&refs, 0);
    out["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["probabilities"]
                .as_array()
                .unwrap_or_else(|| panic!("no probabilities in {r}"))
                .iter()
                .map(|p| p.as_f64().unwrap())
                .collect()
        })
        .collect()
}

fn max_log_difference(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (x.ln() - y.ln()).abs())
        .fold(0.0, f64::max)
}

#[test]
fn a_checkpoint_predicts_the_same_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    two_tones(dir.path());
    let files: Vec<PathBuf> = (0..16)
        .map(|i| dir.path().join(format!("clip{i}.wav")))
        .collect();
    let trainers: &[&str] = if cfg!(feature = "tch") {
        &["cpu", "tch"]
    } else {
        &["cpu"]
    };
    for &trained_on in trainers {
        let run = train_on(
            dir.path(),
            &format!("run-{trained_on}"),
            trained_on,
            // Enough steps for batch norm's running statistics to settle
            // (with a handful, eval-mode logits saturate to 0 and 1), at a
            // small learning rate: probabilities stay informative.
            &[
                "training.epochs=25",
                "training.lr=3e-4",
                "model.dropout=0.2",
            ],
        );
        let own = probabilities(&run, &files, trained_on);
        // Compared in log space, where a probability of 0.001 counts as
        // much as one of 0.5. The answer must depend on the input (log p of
        // the first class spreads over the files) and not underflow.
        let log_first: Vec<f64> = own.iter().map(|p| p[0].ln()).collect();
        let spread = log_first.iter().cloned().fold(f64::MIN, f64::max)
            - log_first.iter().cloned().fold(f64::MAX, f64::min);
        assert!(
            spread > 0.1 && own.iter().flatten().all(|&p| p > 1e-6),
            "{trained_on}: constant or underflowing predictions {own:?}"
        );
        for device in backends() {
            let other = probabilities(&run, &files, device);
            let difference = max_log_difference(&own, &other);
            println!(
                "trained on {trained_on}, predicted on {device}: max |d ln p| = {difference:.2e}"
            );
            assert!(
                difference <= 1e-3,
                "trained on {trained_on}, predicted on {device}: log-probabilities differ by {difference}"
            );
        }
    }
}

/// Each architecture with a different initializer pair, optimizer and
/// schedule, every augmentation on, trained on LibTorch; its best
/// checkpoint then evaluates to the same accuracy on flex.
#[cfg(feature = "tch")]
#[test]
fn libtorch_trains_every_architecture_initializer_optimizer_and_augmentation() {
    let dir = tempfile::tempdir().unwrap();
    two_tones(dir.path());
    let recipes: [(&str, &str, &str, &str, &str); 4] = [
        (
            "cnn4",
            "kaiming_uniform",
            "xavier_uniform",
            "adamw",
            "cosine",
        ),
        (
            "cnn6",
            "kaiming_normal:fan=out",
            "xavier_normal",
            "adam",
            "step",
        ),
        ("cnn10", "orthogonal", "normal:std=0.02", "sgd", "constant"),
        (
            "resnet",
            "xavier_uniform",
            "uniform:min=-0.1,max=0.1",
            "adamw",
            "cosine",
        ),
    ];
    for (arch, conv, linear, optim, schedule) in recipes {
        let sets = [
            format!("model.arch={arch}"),
            format!("model.init.conv={conv}"),
            format!("model.init.linear={linear}"),
            format!("optim.kind={optim}"),
            format!("training.schedule={schedule}"),
            "training.epochs=2".into(),
            "training.sampler=balanced".into(),
            "model.dropout=0.2".into(),
            "augment.mixup_alpha=0.2".into(),
            "augment.time_masks=1".into(),
            "augment.time_mask_frames=3".into(),
            "augment.freq_masks=1".into(),
            "augment.freq_mask_bins=3".into(),
        ];
        let refs: Vec<&str> = sets.iter().map(String::as_str).collect();
        let run = train_on(dir.path(), &format!("tch-{arch}"), "tch", &refs);
        let summary = common::read_json(&run.join("summary.json"));
        assert!(
            summary["device"].as_str().unwrap().starts_with("tch"),
            "{arch}: {}",
            summary["device"]
        );
        let loss = summary["best_val"]["loss"].as_f64().unwrap();
        assert!(loss.is_finite(), "{arch}: val loss {loss}");
        let evaluate = |device: &str| {
            soundclass_json(
                &[
                    "evaluate",
                    "--run",
                    run.to_str().unwrap(),
                    "--split",
                    "val",
                    "--device",
                    device,
                    "--json",
                ],
                0,
            )
        };
        let on_tch = evaluate("tch");
        let on_flex = evaluate("cpu");
        assert_eq!(on_tch["accuracy"], on_flex["accuracy"], "{arch}");
        let dl = (on_tch["loss"].as_f64().unwrap() - on_flex["loss"].as_f64().unwrap()).abs();
        assert!(dl < 1e-4, "{arch}: val loss on tch and flex differ by {dl}");
    }
}

#[cfg(feature = "tch")]
#[test]
fn bench_train_runs_on_libtorch() {
    let bench = soundclass_json(
        &[
            "bench",
            "train",
            "--config",
            common::repo_root()
                .join("configs/quickstart.toml")
                .to_str()
                .unwrap(),
            "--device",
            "tch",
            "--steps",
            "2",
            "--json",
        ],
        0,
    );
    assert!(
        bench["device"].as_str().unwrap().starts_with("tch"),
        "{bench}"
    );
    assert!(bench["clips_per_second"].as_f64().unwrap() > 0.0, "{bench}");
}

/// A LibTorch run stopped after 2 epochs and resumed writes the metrics of
/// the uninterrupted run (dropout, mixup and masks drawn the same).
#[cfg(feature = "tch")]
#[test]
fn libtorch_resume_matches_the_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    two_tones(dir.path());
    let sets = [
        "training.epochs=4",
        "model.dropout=0.3",
        "augment.mixup_alpha=0.2",
        "augment.time_masks=1",
        "augment.time_mask_frames=3",
    ];
    let whole = train_on(dir.path(), "whole", "tch", &sets);
    let config = dir.path().join("whole.toml");
    let split = dir.path().join("split");
    let run = |extra: &[&str]| {
        let mut args = vec!["train", "--device", "tch", "--json"];
        args.extend_from_slice(extra);
        assert_success(&soundclass(&args));
    };
    run(&[
        "--config",
        config.to_str().unwrap(),
        "--run-dir",
        split.to_str().unwrap(),
        "--stop-after-epochs",
        "2",
    ]);
    run(&["--resume", split.to_str().unwrap()]);
    // metrics.csv without its last column, clips/s (timing differs).
    let metrics = |run: &Path| -> Vec<String> {
        std::fs::read_to_string(run.join("metrics.csv"))
            .unwrap()
            .lines()
            .map(|line| line.rsplit_once(',').unwrap().0.to_string())
            .collect()
    };
    assert_eq!(
        metrics(&split).len(),
        9,
        "a header and two rows (train, val) per epoch"
    );
    assert_eq!(metrics(&split), metrics(&whole));
}

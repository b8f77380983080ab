//! CNN training end to end on a tiny synthetic fixture set (three classes of
//! tones and noise, written as WAV files in a temporary folder): the loss
//! falls on CPU and on wgpu (Mesa lavapipe in CI), the run folder holds
//! what it should, checkpoints round-trip, a resumed run (after a clean
//! stop and after SIGKILL) ends exactly where an uninterrupted run ends,
//! TensorBoard's own reader accepts the event files, and grouped k-fold
//! training keeps sources whole and continues where it stopped.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use soundclass::audio::{write_wav, WavEncoding};
use soundclass::config::Config;
use soundclass::data::Split;
use soundclass::model::cnn::SoundCnn;
use soundclass::train::average::float_values;
use soundclass::train::checkpoint;
use soundclass::train::cnn::{
    epoch_scalars, evaluate_run, hparams_of, last_checkpoint, train, TrainRequest, TrainSummary,
};
use soundclass::train::device::{DeviceChoice, TrainDevice};
use soundclass::train::folds::{train_folds, FoldsRequest};
use soundclass::train::tensorboard::HParamValue;

const RATE: u32 = 8000;

/// Burn's CPU random state is global: runs in this process take turns so
/// that a fixed seed gives fixed numbers.
static TRAINING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    TRAINING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Deterministic noise in [-1, 1].
fn noise(seed: u64, n: usize) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Clip `i` of class `c`: low tone, high tone, or noise bursts, with a
/// little noise and lengths from 0.3 s to 1.4 s (short ones are looped).
fn clip(c: usize, i: usize) -> Vec<f32> {
    let seconds = 0.3 + 0.15 * ((i * 7 + c * 3) % 8) as f32;
    let n = (seconds * RATE as f32) as usize;
    let hiss = noise((c * 100 + i) as u64, n);
    (0..n)
        .map(|t| {
            let time = t as f32 / RATE as f32;
            let freq = 200.0 + 20.0 * i as f32;
            let signal = match c {
                0 => (2.0 * std::f32::consts::PI * freq * time).sin(),
                1 => (2.0 * std::f32::consts::PI * (8.0 * freq) * time).sin(),
                _ => hiss[t] * if (t / 400) % 2 == 0 { 1.0 } else { 0.1 },
            };
            0.5 * signal + 0.05 * hiss[t]
        })
        .collect()
}

/// Fixture clips and manifest in `dir`; one corrupt train clip.
fn fixture(dir: &Path) -> PathBuf {
    let classes = ["low", "high", "noise"];
    let mut manifest = String::from("path,label,split\n");
    for (c, class) in classes.iter().enumerate() {
        for i in 0..10 {
            let split = if i < 7 { "train" } else { "val" };
            let name = format!("{class}_{i}.wav");
            write_wav(&dir.join(&name), &clip(c, i), RATE, 1, WavEncoding::Pcm16).unwrap();
            manifest.push_str(&format!("{name},{class},{split}\n"));
        }
    }
    std::fs::write(dir.join("broken.wav"), b"RIFF\x10\x00\x00\x00WAVEjunk").unwrap();
    manifest.push_str("broken.wav,low,train\n");
    let path = dir.join("manifest.csv");
    std::fs::write(&path, manifest).unwrap();
    path
}

fn config(manifest: &Path, extra: &[&str]) -> Config {
    let mut sets: Vec<String> = vec![
        format!("data.manifest={}", manifest.display()),
        "data.classes=[\"low\", \"high\", \"noise\"]".into(),
        "experiment.name=fixture".into(),
        format!("audio.sample_rate={RATE}"),
        "audio.clip_seconds=0.5".into(),
        "spectrogram.preset=custom".into(),
        "spectrogram.n_fft=256".into(),
        "spectrogram.hop_length=128".into(),
        "spectrogram.win_length=256".into(),
        "spectrogram.n_mels=24".into(),
        "spectrogram.fmax=4000.0".into(),
        "model.arch=cnn4".into(),
        "model.width=4".into(),
        "model.blocks=2".into(),
        "model.dropout=0.1".into(),
        "training.epochs=8".into(),
        "training.batch_size=6".into(),
        "training.lr=0.01".into(),
        "training.warmup_epochs=0.0".into(),
        "training.log_every_steps=2".into(),
        "training.seed=5".into(),
        "augment.mixup_alpha=0.2".into(),
        "augment.time_masks=1".into(),
        "augment.time_mask_frames=4".into(),
        "augment.freq_masks=1".into(),
        "augment.freq_mask_bins=3".into(),
    ];
    sets.extend(extra.iter().map(|s| s.to_string()));
    Config::load(None, &sets).unwrap()
}

fn request(config: Config, device: DeviceChoice, run_dir: &Path) -> TrainRequest {
    TrainRequest {
        config,
        device,
        run_dir: Some(run_dir.to_path_buf()),
        resume: None,
        quiet: true,
        stop_after_epochs: None,
    }
}

/// metrics.csv without the clips/s column (timing differs between runs).
fn metrics_without_timing(run_dir: &Path) -> Vec<String> {
    std::fs::read_to_string(run_dir.join("metrics.csv"))
        .unwrap()
        .lines()
        .map(|line| line.rsplit_once(',').unwrap().0.to_string())
        .collect()
}

fn train_losses(summary_dir: &Path) -> Vec<f64> {
    let state = checkpoint::load(&last_checkpoint(summary_dir))
        .unwrap()
        .state;
    state.history.iter().map(|r| r.train_loss).collect()
}

#[test]
fn cpu_training_learns_and_writes_the_run_folder() {
    let _turn = one_at_a_time();
    let tmp = tempfile::tempdir().unwrap();
    let manifest = fixture(tmp.path());
    let run = tmp.path().join("run");
    let summary = train(request(config(&manifest, &[]), DeviceChoice::Cpu, &run)).unwrap();

    // Mixup on 21 clips makes single epochs noisy: over training seeds 1-8
    // the best of the last three epochs ended at 0.23-0.87 of the first.
    let losses = train_losses(&run);
    let late = losses[5..].iter().copied().fold(f64::INFINITY, f64::min);
    assert!(
        late < 0.9 * losses[0],
        "train loss did not fall: {losses:?}"
    );
    assert_eq!(summary.train_clips, 21);
    assert_eq!(summary.val_clips, 9);
    assert_eq!(
        summary.skipped_clips.len(),
        1,
        "the corrupt clip is reported"
    );
    assert!(summary.skipped_clips[0].path.ends_with("broken.wav"));
    let best = summary.best_val.as_ref().expect("val metrics");
    assert!(
        best.accuracy > 0.5,
        "val accuracy {}: {:?}",
        best.accuracy,
        train_losses(&run)
    );

    for file in [
        "config.toml",
        "run.json",
        "metrics.csv",
        "summary.json",
        "skipped.csv",
        "checkpoints/best.ckpt",
        "checkpoints/last.ckpt",
        "confusion_val_best.png",
        "examples/low.png",
    ] {
        assert!(run.join(file).is_file(), "missing {file}");
    }
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert!(csv.starts_with("epoch,split,loss,accuracy,macro_f1,lr,clips_per_s\n"));
    assert_eq!(csv.lines().count(), 1 + 2 * 8);
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    assert_eq!(info["manifest_xxh3"].as_str().unwrap().len(), 32);
    assert!(info.get("git_sha").is_some());
    // The saved config reloads to the same experiment from anywhere.
    let saved = Config::load(Some(&run.join("config.toml")), &[]).unwrap();
    assert_eq!(saved.model, summary_config_model(&manifest));

    // Checkpoint round trip: the best checkpoint, reloaded by `evaluate`,
    // gives the validation metrics training recorded for that epoch.
    let evaluated = evaluate_run(&run, None, Split::Val, DeviceChoice::Cpu, true, None)
        .unwrap()
        .metrics;
    assert_eq!(evaluated.confusion, best.confusion);
    assert!(
        (evaluated.loss - best.loss).abs() < 1e-5,
        "{} vs {}",
        evaluated.loss,
        best.loss
    );
    assert!(run.join("eval-val.json").is_file() && run.join("confusion_val.png").is_file());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval-val.json")).unwrap()).unwrap();
    for key in [
        "accuracy",
        "balanced_accuracy",
        "macro_f1",
        "per_class",
        "confusion",
    ] {
        assert!(report.get(key).is_some(), "eval-val.json lacks {key}");
    }

    check_tensorboard(&run, &summary);
}

fn summary_config_model(manifest: &Path) -> soundclass::config::ModelConfig {
    config(manifest, &[]).model
}

/// TensorBoard's own reader must find every scalar, image, text and the
/// hparams session, with the values the checkpointed history holds.
fn check_tensorboard(run: &Path, summary: &TrainSummary) {
    if Command::new("python3")
        .args(["-c", "import tensorboard, PIL"])
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
        && std::env::var_os("TB_REQUIRE_PYTHON").is_none()
    {
        eprintln!("SKIPPED TensorBoard check: python3 with tensorboard + Pillow not available");
        return;
    }
    let state = checkpoint::load(&last_checkpoint(run)).unwrap().state;
    let mut scalars = serde_json::Map::new();
    let mut push = |tag: &str, step: usize, value: f64| {
        scalars
            .entry(tag.to_string())
            .or_insert_with(|| serde_json::json!([]))
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!([step, value]));
    };
    let mut confusion_steps = Vec::new();
    let mut best = f64::NEG_INFINITY;
    for r in &state.history {
        let val = r.val.as_ref().unwrap();
        for (tag, value) in epoch_scalars(r) {
            push(tag, r.epoch, value);
        }
        for &(step, loss) in &r.step_losses {
            push("loss/train_step", step, loss);
        }
        if val.accuracy > best {
            best = val.accuracy;
            confusion_steps.push(r.epoch);
        }
    }
    let best_val = summary.best_val.as_ref().unwrap();
    let confusion_png = std::fs::read(run.join("confusion_val_best.png")).unwrap();
    let size = |png: &[u8]| {
        (
            u32::from_be_bytes(png[16..20].try_into().unwrap()),
            u32::from_be_bytes(png[20..24].try_into().unwrap()),
        )
    };
    let (cw, ch) = size(&confusion_png);
    let mut images = serde_json::Map::new();
    images.insert(
        "confusion/val".into(),
        serde_json::json!({"steps": confusion_steps, "width": cw, "height": ch, "channels": 3}),
    );
    for class in ["low", "high", "noise"] {
        let (w, h) = size(&std::fs::read(run.join(format!("examples/{class}.png"))).unwrap());
        images.insert(
            format!("log_mel/{class}"),
            serde_json::json!({"step": 0, "width": w, "height": h, "channels": 3}),
        );
    }
    let saved = Config::load(Some(&run.join("config.toml")), &[]).unwrap();
    let config_text = format!(
        "```toml\n{}\n```",
        std::fs::read_to_string(run.join("config.toml")).unwrap()
    );
    let hparams: serde_json::Map<String, serde_json::Value> = hparams_of(&saved)
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                HParamValue::String(s) => serde_json::json!(s),
                HParamValue::Number(x) => serde_json::json!(x),
                HParamValue::Bool(b) => serde_json::json!(b),
            };
            (name, value)
        })
        .collect();
    let expected = serde_json::json!({
        "scalars": scalars,
        "images": images,
        "texts": {"config": {"step": 0, "text": config_text}},
        "hparams": {
            "hparams": hparams,
            "metrics": {
                "hparam/val_accuracy": best_val.accuracy,
                "hparam/val_macro_f1": best_val.macro_f1,
                "hparam/val_loss": best_val.loss,
            }
        }
    });
    let expected_path = run.join("expected_tb.json");
    std::fs::write(&expected_path, serde_json::to_string(&expected).unwrap()).unwrap();
    let script = common::repo_root().join("scripts/check_tensorboard_events.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(run.join("tensorboard"))
        .arg("--expect-json")
        .arg(&expected_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "TensorBoard check failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn wgpu_training_learns() {
    let _turn = one_at_a_time();
    let tmp = tempfile::tempdir().unwrap();
    let manifest = fixture(tmp.path());
    let run = tmp.path().join("run");
    let summary = train(request(config(&manifest, &[]), DeviceChoice::Wgpu, &run))
        .expect("wgpu training (Mesa lavapipe in CI)");
    assert!(summary.device.starts_with("wgpu"), "{}", summary.device);
    let losses = train_losses(&run);
    assert!(
        losses[7] < 0.8 * losses[0],
        "train loss did not fall: {losses:?}"
    );
}

#[test]
fn resume_after_a_stop_matches_the_uninterrupted_run() {
    let _turn = one_at_a_time();
    let tmp = tempfile::tempdir().unwrap();
    let manifest = fixture(tmp.path());
    // Every waveform transform on too: their draws resume with the run.
    let wave = [
        "augment.gain_prob=0.5",
        "augment.eq_prob=0.5",
        "augment.bandpass_prob=0.3",
        "augment.bandpass_high_hz=[1500.0, 3500.0]",
        "augment.band_limit_prob=0.3",
        "augment.band_limit_hz=[1500.0, 3500.0]",
        "augment.noise_prob=0.5",
        "augment.background_prob=0.5",
        "augment.pitch_prob=0.3",
        "augment.stretch_prob=0.3",
        "augment.reverb_prob=0.3",
        "augment.distortion_prob=0.3",
    ];
    let whole = tmp.path().join("whole");
    train(request(config(&manifest, &wave), DeviceChoice::Cpu, &whole)).unwrap();

    let split = tmp.path().join("split");
    let mut first = request(config(&manifest, &wave), DeviceChoice::Cpu, &split);
    first.stop_after_epochs = Some(2);
    let partial = train(first).unwrap();
    assert_eq!(partial.epochs_run, 2);
    let mut second = request(config(&manifest, &wave), DeviceChoice::Cpu, &split);
    second.run_dir = None;
    second.resume = Some(split.clone());
    let resumed = train(second).unwrap();
    assert_eq!(resumed.epochs_run, 8);
    assert_eq!(
        metrics_without_timing(&split),
        metrics_without_timing(&whole)
    );
    // The best epoch's validation metrics (f64 loss included) are identical.
    let whole_summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(whole.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(
        serde_json::to_value(&resumed.best_val).unwrap(),
        whole_summary["best_val"]
    );
}

/// The model in checkpoint `path` (its running weight average with
/// `average`), as flat float values.
fn checkpoint_values(path: &Path, config: &Config, average: bool) -> Vec<f32> {
    let device = TrainDevice::select(DeviceChoice::Cpu).unwrap().device;
    let fresh = || SoundCnn::new(&config.model, config.spectrogram.n_mels, 3, &device).unwrap();
    let ckpt = checkpoint::load(path).unwrap();
    let model = if average {
        ckpt.load_average(path, fresh()).unwrap().unwrap()
    } else {
        ckpt.load_model(path, fresh()).unwrap()
    };
    float_values(&model).unwrap()
}

fn max_abs_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn weight_average_is_the_mean_of_the_last_epochs_and_resumes_exactly() {
    let _turn = one_at_a_time();
    let tmp = tempfile::tempdir().unwrap();
    let manifest = fixture(tmp.path());
    let sets = ["training.epochs=4", "training.average_last_epochs=3"];
    let whole = tmp.path().join("whole");
    let summary = train(request(config(&manifest, &sets), DeviceChoice::Cpu, &whole)).unwrap();
    let average = summary.average.clone().expect("an averaged model");
    assert_eq!((average.first_epoch, average.epochs), (2, 3));

    // The same run one epoch per session, keeping each epoch's weights.
    let split = tmp.path().join("split");
    let mut epoch_models = Vec::new();
    for epoch in 1..=4 {
        let mut session = request(config(&manifest, &sets), DeviceChoice::Cpu, &split);
        session.stop_after_epochs = Some(epoch);
        if epoch > 1 {
            session.run_dir = None;
            session.resume = Some(split.clone());
        }
        let s = train(session).unwrap();
        assert_eq!(s.average.is_some(), epoch == 4, "epoch {epoch}");
        let last = last_checkpoint(&split);
        let cfg = config(&manifest, &sets);
        epoch_models.push(checkpoint_values(&last, &cfg, false));
        // Epoch 1 is before the window: no average is carried yet.
        let carried = checkpoint::load(&last).unwrap().average;
        assert_eq!(carried.is_empty(), epoch == 1, "epoch {epoch}");
    }
    let cfg = config(&manifest, &sets);
    let saved = checkpoint_values(&split.join("checkpoints/average.ckpt"), &cfg, false);
    let uninterrupted = checkpoint_values(&whole.join("checkpoints/average.ckpt"), &cfg, false);
    assert!(max_abs_difference(&saved, &uninterrupted) <= 1e-6);
    let mean: Vec<f32> = (0..saved.len())
        .map(|i| (epoch_models[1][i] + epoch_models[2][i] + epoch_models[3][i]) / 3.0)
        .collect();
    let scale = mean.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(
        max_abs_difference(&saved, &mean) <= 1e-5 * scale.max(1.0),
        "the average is not the mean of epochs 2-4"
    );
    // The epochs differ, so the average is none of them.
    assert!(max_abs_difference(&saved, &epoch_models[3]) > 1e-4);

    // The average is the run's model: `evaluate` scores it, and its val
    // metrics are the summary's.
    let evaluated = evaluate_run(&whole, None, Split::Val, DeviceChoice::Cpu, true, None).unwrap();
    let val = average.val.expect("val metrics of the average");
    assert_eq!(evaluated.metrics.confusion, val.confusion);
    assert!((evaluated.metrics.loss - val.loss).abs() < 1e-9);
    assert_eq!(summary.final_val().unwrap().loss, val.loss);
}

#[test]
fn resume_after_sigkill_matches_the_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = fixture(tmp.path());
    let config_path = tmp.path().join("fixture.toml");
    std::fs::write(
        &config_path,
        config(&manifest, &["training.epochs=6"])
            .to_toml_string()
            .unwrap(),
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_soundclass");
    let run_args = |dir: &Path| -> Vec<String> {
        vec![
            "train".into(),
            "--config".into(),
            config_path.display().to_string(),
            "--device".into(),
            "cpu".into(),
            "--run-dir".into(),
            dir.display().to_string(),
            "--json".into(),
        ]
    };
    let whole = tmp.path().join("whole");
    let out = Command::new(bin).args(run_args(&whole)).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Kill the second run as soon as its first checkpoint exists.
    let killed = tmp.path().join("killed");
    let mut child = Command::new(bin).args(run_args(&killed)).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    while !last_checkpoint(&killed).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let at_kill = checkpoint::load(&last_checkpoint(&killed))
        .unwrap()
        .state
        .epoch;
    assert!(at_kill < 6, "the run finished before it could be killed");

    let out = Command::new(bin)
        .args(["train", "--resume"])
        .arg(&killed)
        .args(["--device", "cpu", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["epochs_run"], 6);
    assert_eq!(
        metrics_without_timing(&killed),
        metrics_without_timing(&whole)
    );
}

#[test]
fn bad_requests_name_what_is_wrong() {
    let _turn = one_at_a_time();
    let tmp = tempfile::tempdir().unwrap();
    let manifest = fixture(tmp.path());
    let err = train(request(
        config(&manifest, &["data.classes=[\"low\", \"high\"]"]),
        DeviceChoice::Cpu,
        &tmp.path().join("a"),
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("noise") && err.contains("data.classes"),
        "{err}"
    );
    let err = Config::load(None, &["optim.kind=adamax".into()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("optim.kind") && err.contains("adamw"), "{err}");
    let err = Config::load(None, &["training.sampler=uniform".into()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("training.sampler"), "{err}");
    if !cfg!(feature = "cuda") {
        let err = train(request(
            config(&manifest, &[]),
            DeviceChoice::Cuda,
            &tmp.path().join("b"),
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("cuda") && err.contains("feature"), "{err}");
    }
}

#[test]
fn k_fold_training_keeps_sources_whole_and_continues() {
    let _turn = one_at_a_time();
    let tmp = tempfile::tempdir().unwrap();
    let plain = fixture(tmp.path());
    // Four sources: clip i of every class comes from package i % 4.
    let mut grouped = String::from("path,label,split,source_package\n");
    for line in std::fs::read_to_string(&plain).unwrap().lines().skip(1) {
        let name = line.split(',').next().unwrap();
        let i: usize = name
            .trim_end_matches(".wav")
            .rsplit('_')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        grouped += &format!("{line},pkg{}\n", i % 4);
    }
    let manifest = tmp.path().join("grouped.csv");
    std::fs::write(&manifest, grouped).unwrap();
    let run = tmp.path().join("cv");
    let request = FoldsRequest {
        config: config(&manifest, &["training.epochs=2"]),
        device: DeviceChoice::Cpu,
        run_dir: Some(run.clone()),
        folds: 3,
        quiet: true,
    };
    let summary = train_folds(request.clone()).unwrap();
    assert_eq!(summary.grouped_by, "source_package");
    assert_eq!(summary.results.len(), 3);
    let accuracies: Vec<f64> = summary.results.iter().map(|r| r.accuracy).collect();
    let mean = accuracies.iter().sum::<f64>() / 3.0;
    assert!((summary.accuracy_mean - mean).abs() < 1e-12);

    // Every clip is validated in exactly one fold, and no source is on
    // both sides of a fold.
    let mut val_count = std::collections::HashMap::<String, usize>::new();
    for fold in 0..3 {
        let text =
            std::fs::read_to_string(run.join(format!("fold-{fold}/fold-manifest.csv"))).unwrap();
        let (mut train_pkgs, mut val_pkgs) = (Vec::new(), Vec::new());
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split(',').collect();
            let (split, pkg) = (cols[2], cols[3]);
            if split == "val" {
                *val_count.entry(cols[0].to_string()).or_default() += 1;
                val_pkgs.push(pkg.to_string());
            } else {
                train_pkgs.push(pkg.to_string());
            }
        }
        assert!(!val_pkgs.is_empty(), "fold {fold} has no val clips");
        for p in &val_pkgs {
            assert!(!train_pkgs.contains(p), "fold {fold}: {p} on both sides");
        }
    }
    assert_eq!(
        val_count.len(),
        31,
        "every pooled clip (the broken one too)"
    );
    assert!(val_count.values().all(|&n| n == 1));

    // Running again continues: finished folds are read, not retrained.
    let before = std::fs::metadata(run.join("fold-0/metrics.csv"))
        .unwrap()
        .modified()
        .unwrap();
    std::fs::remove_file(run.join("folds.json")).unwrap();
    let again = train_folds(request).unwrap();
    let after = std::fs::metadata(run.join("fold-0/metrics.csv"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);
    assert_eq!(again.accuracy_mean, summary.accuracy_mean);
    assert!(run.join("folds.json").is_file() && run.join("folds.csv").is_file());
}

//! `soundclass predict`: agreement with `evaluate`, timelines of long
//! recordings, streamed decoding equal to whole-file decoding, baseline
//! models, and bad files that are listed while the rest go on.

use std::path::{Path, PathBuf};

use crate::common::server::train_tiny;
use crate::common::{repo_root, sine, soundclass_json, tiny_config};
use soundclass::audio::{decode_file, resample, write_wav, ResampledChunks, WavEncoding};

/// Low (400 Hz and up) and high (3.1 kHz and up) tones of 0.5 s in four
/// source folders: 16 train and 8 val clips, `manifest.csv` returned.
pub fn grouped_tones(dir: &Path) -> PathBuf {
    let mut csv = String::from("path,label,split\n");
    for i in 0..24 {
        let (label, freq) = if i % 2 == 0 {
            ("low", 400.0)
        } else {
            ("high", 3100.0)
        };
        let name = format!("src{}/clip{i}.wav", i % 4);
        std::fs::create_dir_all(dir.join(format!("src{}", i % 4))).unwrap();
        let tone = sine(freq + 15.0 * i as f32, 16000, 0.5, 0.3 + 0.01 * i as f32);
        write_wav(&dir.join(&name), &tone, 16000, 1, WavEncoding::Pcm16).unwrap();
        let split = if i >= 16 { "val" } else { "train" };
        csv += &format!("{name},{label},{split}\n");
    }
    let manifest = dir.join("manifest.csv");
    std::fs::write(&manifest, csv).unwrap();
    manifest
}

/// A CNN trained on [`grouped_tones`] for a few epochs, in `dir/run`.
pub fn trained_run(dir: &Path) -> (PathBuf, PathBuf) {
    let manifest = grouped_tones(dir);
    let extra = [
        "training.epochs=10",
        "training.batch_size=4",
        "training.lr=0.01",
        "training.warmup_epochs=0.0",
    ];
    (train_tiny(dir, &manifest, &extra), manifest)
}

pub fn val_files(manifest: &Path) -> Vec<(String, String)> {
    let root = manifest.parent().unwrap();
    std::fs::read_to_string(manifest)
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| l.ends_with(",val"))
        .map(|l| {
            let parts: Vec<&str> = l.split(',').collect();
            (
                root.join(parts[0]).display().to_string(),
                parts[1].to_string(),
            )
        })
        .collect()
}

#[test]
fn predict_reproduces_evaluate_and_follows_a_long_recording() {
    let dir = tempfile::tempdir().unwrap();
    let (run, manifest) = trained_run(dir.path());
    let evaluated = evaluate_val(&run);

    // The val clips through `predict`, with evaluate's window protocol.
    let files = val_files(&manifest);
    let out_csv = dir.path().join("predictions.csv");
    let predicted = predict_val(&run, &manifest, &out_csv);
    let results = predicted["results"].as_array().unwrap();
    assert_eq!(results.len(), files.len());
    let classes = ["low", "high"];
    let mut confusion = vec![vec![0u64; 2]; 2];
    let mut loss = 0.0;
    for (result, (path, label)) in results.iter().zip(&files) {
        assert_eq!(result["path"].as_str().unwrap(), path);
        let truth = classes.iter().position(|c| c == label).unwrap();
        let guess = classes.iter().position(|c| *c == result["label"]).unwrap();
        confusion[truth][guess] += 1;
        let p: Vec<f64> = result["probabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-4);
        loss -= p[truth].max(1e-12).ln();
    }
    loss /= files.len() as f64;
    let eval_confusion: Vec<Vec<u64>> =
        serde_json::from_value(evaluated["confusion"].clone()).unwrap();
    assert_eq!(confusion, eval_confusion);
    let eval_loss = evaluated["loss"].as_f64().unwrap();
    assert!(
        (loss - eval_loss).abs() < 1e-4,
        "predict loss {loss} vs evaluate {eval_loss}"
    );
    assert!(
        evaluated["accuracy"].as_f64().unwrap() >= 0.99,
        "{evaluated}"
    );
    let csv = std::fs::read_to_string(&out_csv).unwrap();
    assert!(csv.starts_with("path,label,probability,p_low,p_high,duration_seconds,windows,error"));
    assert_eq!(csv.lines().count(), files.len() + 1);

    // A 16-s recording made of the val clips, in 2-s blocks of one class,
    // low and high in turn: the timeline's windows follow the blocks.
    let long = dir.path().join("long.wav");
    let mut samples = Vec::new();
    for block in 0..8 {
        let label = if block % 2 == 0 { "low" } else { "high" };
        for (path, _) in files.iter().filter(|(_, l)| l == label) {
            samples.extend(decode_file(Path::new(path)).unwrap().samples);
        }
    }
    write_wav(&long, &samples, 16000, 1, WavEncoding::Pcm16).unwrap();
    let segments = dir.path().join("segments.csv");
    let timeline = soundclass_json(
        &[
            "predict",
            "--model",
            run.to_str().unwrap(),
            "--segments",
            segments.to_str().unwrap(),
            "--out",
            dir.path().join("long.csv").to_str().unwrap(),
            "--window",
            "0.5",
            "--hop",
            "0.5",
            "--device",
            "cpu",
            "--json",
            long.to_str().unwrap(),
        ],
        0,
    );
    let windows = timeline["results"][0]["windows"].as_array().unwrap();
    // A window every 0.5 s: 0 .. 15.5 s.
    assert_eq!(windows.len(), 32);
    assert!((timeline["results"][0]["duration_seconds"].as_f64().unwrap() - 16.0).abs() < 1e-3);
    let rows: Vec<Vec<String>> = std::fs::read_to_string(&segments)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    assert_eq!(rows.len(), 32);
    let (mut inside, mut right) = (0, 0);
    for row in &rows {
        let (start, end): (f64, f64) = (row[1].parse().unwrap(), row[2].parse().unwrap());
        let block = (start / 2.0).floor();
        if end <= (block + 1.0) * 2.0 + 1e-6 {
            inside += 1;
            let expected = if (block as usize).is_multiple_of(2) {
                "low"
            } else {
                "high"
            };
            right += usize::from(row[3] == expected);
        }
    }
    assert_eq!(inside, 32);
    assert!(
        right as f64 >= 0.9 * inside as f64,
        "{right} of {inside} windows right"
    );
}

/// `evaluate --json` of `run` on its val split.
fn evaluate_val(run: &Path) -> serde_json::Value {
    soundclass_json(
        &[
            "evaluate",
            "--run",
            run.to_str().unwrap(),
            "--split",
            "val",
            "--device",
            "cpu",
            "--json",
        ],
        0,
    )
}

/// `predict --json` of `run` over the val files of `manifest`, with
/// evaluate's window protocol, its CSV written to `out_csv`.
fn predict_val(run: &Path, manifest: &Path, out_csv: &Path) -> serde_json::Value {
    let mut args = vec![
        "predict".to_string(),
        "--model".into(),
        run.display().to_string(),
        "--out".into(),
        out_csv.display().to_string(),
        "--middle".into(),
        "60".into(),
        "--device".into(),
        "cpu".into(),
        "--json".into(),
    ];
    args.extend(val_files(manifest).into_iter().map(|(p, _)| p));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    soundclass_json(&refs, 0)
}

/// Each val file's class probabilities from `predict` (evaluate's window
/// protocol) and `evaluate`'s val loss, for `run`.
fn val_probabilities(run: &Path, manifest: &Path) -> (Vec<Vec<f64>>, f64) {
    let evaluated = evaluate_val(run);
    let predicted = predict_val(run, manifest, &run.join("predictions.csv"));
    let rows = predicted["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let p = r["probabilities"].as_array().unwrap();
            p.iter().map(|v| v.as_f64().unwrap()).collect()
        })
        .collect();
    (rows, evaluated["loss"].as_f64().unwrap())
}

#[test]
fn prior_correction_moves_predict_and_evaluate_to_the_data_prior() {
    // 8 low and 2 high train clips drawn by the balanced sampler: the
    // correction multiplies p(low) by 0.8 / 0.5 and p(high) by 0.2 / 0.5.
    // Val is as lopsided (4 low, 1 high), so its loss moves.
    let dir = tempfile::tempdir().unwrap();
    let manifest = grouped_tones(dir.path());
    let (mut high_train, mut high_val) = (0, 0);
    let kept: Vec<String> = std::fs::read_to_string(&manifest)
        .unwrap()
        .lines()
        .filter(|l| {
            let (train, val) = (l.ends_with("high,train"), l.ends_with("high,val"));
            let keep = !(train && high_train >= 2 || val && high_val >= 1);
            high_train += usize::from(train);
            high_val += usize::from(val);
            keep
        })
        .map(str::to_string)
        .collect();
    std::fs::write(&manifest, kept.join("\n") + "\n").unwrap();
    let run = train_tiny(
        dir.path(),
        &manifest,
        // Label smoothing keeps the probabilities off 0 and 1, where no
        // prior could move them.
        &[
            "training.epochs=10",
            "training.batch_size=4",
            "training.lr=0.01",
            "training.warmup_epochs=0.0",
            "training.label_smoothing=0.5",
            "training.sampler=balanced",
        ],
    );
    let prior = crate::common::read_json(&run.join("class_prior.json"));
    assert_eq!(prior["train_clips"], serde_json::json!([8, 2]), "{prior}");
    assert_eq!(prior["sampler"], "balanced");
    let (plain, plain_loss) = val_probabilities(&run, &manifest);

    let config = run.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("prior_correction = false"), "{text}");
    std::fs::write(
        &config,
        text.replace("prior_correction = false", "prior_correction = true"),
    )
    .unwrap();
    let (corrected, corrected_loss) = val_probabilities(&run, &manifest);
    assert_eq!(plain.len(), 5);
    for (p, q) in plain.iter().zip(&corrected) {
        let odds_ratio = (q[0] / q[1]) / (p[0] / p[1]);
        assert!((odds_ratio / 4.0 - 1.0).abs() < 1e-3, "{p:?} -> {q:?}");
        assert!((q.iter().sum::<f64>() - 1.0).abs() < 1e-4);
    }
    // evaluate corrects too: its loss is that of predict's corrected rows.
    let labels: Vec<usize> = val_files(&manifest)
        .iter()
        .map(|(_, l)| usize::from(l == "high"))
        .collect();
    let loss = |rows: &[Vec<f64>]| {
        rows.iter()
            .zip(&labels)
            .map(|(r, &y)| -r[y].max(1e-12).ln())
            .sum::<f64>()
            / rows.len() as f64
    };
    assert!((loss(&plain) - plain_loss).abs() < 1e-4);
    assert!((loss(&corrected) - corrected_loss).abs() < 1e-4);
    assert!(
        (plain_loss - corrected_loss).abs() > 1e-3,
        "{plain_loss} {corrected_loss}: {plain:?} {corrected:?}"
    );
}

#[test]
fn streamed_decoding_equals_whole_file_decoding() {
    let formats = repo_root().join("tests/data/formats");
    let mut checked = 0;
    for entry in std::fs::read_dir(&formats).unwrap() {
        let path = entry.unwrap().path();
        let Ok(decoded) = decode_file(&path) else {
            continue;
        };
        for rate in [16000, 22050] {
            let whole = resample(&decoded.samples, decoded.sample_rate, rate).unwrap();
            let mut chunks = ResampledChunks::open(&path, rate).unwrap();
            let mut streamed = Vec::new();
            while let Some(chunk) = chunks.next_chunk(3000).unwrap() {
                streamed.extend(chunk);
            }
            assert_eq!(streamed, whole, "{} at {rate} Hz", path.display());
        }
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} fixtures decoded");
}

/// A logistic-regression baseline on [`grouped_tones`] in `dir/baseline`:
/// its model file and its val accuracy.
pub fn baseline_model(dir: &Path, manifest: &Path) -> (PathBuf, f64) {
    let mut config = tiny_config(
        manifest,
        &["low", "high"],
        &[
            "baselines.models=[\"logistic_regression\"]",
            "baselines.cv_folds=2",
            "baselines.logistic_regression.c=[1.0]",
        ],
    );
    config.features.cache_dir = dir.join("feature-cache");
    let config_path = dir.join("baselines.toml");
    std::fs::write(&config_path, config.to_toml_string().unwrap()).unwrap();
    let run = dir.join("baseline");
    let report = soundclass_json(
        &[
            "baseline",
            "--config",
            config_path.to_str().unwrap(),
            "--run-dir",
            run.to_str().unwrap(),
            "--json",
        ],
        0,
    );
    let val_accuracy = report["results"][0]["val_accuracy"].as_f64().unwrap();
    (run.join("models/logistic_regression.json"), val_accuracy)
}

#[test]
fn baseline_models_predict_and_bad_files_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = grouped_tones(dir.path());
    let (model, val_accuracy) = baseline_model(dir.path(), &manifest);

    // Good clips, a garbage file and an empty one in one folder: the bad
    // ones are listed with their reason, the rest are classified, exit 1.
    let folder = dir.path().join("mixed");
    std::fs::create_dir_all(&folder).unwrap();
    let files = val_files(&manifest);
    for (i, (path, _)) in files.iter().enumerate() {
        std::fs::copy(path, folder.join(format!("good{i}.wav"))).unwrap();
    }
    std::fs::write(
        folder.join("garbage.wav"),
        b"RIFF....WAVEfmt this is not audio",
    )
    .unwrap();
    std::fs::write(folder.join("empty.mp3"), b"").unwrap();
    std::fs::write(folder.join("notes.txt"), b"not audio, not picked up").unwrap();
    let out_csv = dir.path().join("mixed.csv");
    let mixed = soundclass_json(
        &[
            "predict",
            "--model",
            model.to_str().unwrap(),
            "--out",
            out_csv.to_str().unwrap(),
            "--middle",
            "0.5",
            "--json",
            folder.to_str().unwrap(),
        ],
        1,
    );
    assert_eq!(mixed["files"], files.len() + 2);
    assert_eq!(mixed["failed"], 2);
    let results = mixed["results"].as_array().unwrap();
    let mut correct = 0;
    for r in results {
        let path = r["path"].as_str().unwrap();
        if path.ends_with("garbage.wav") || path.ends_with("empty.mp3") {
            let error = r["error"].as_str().unwrap();
            assert!(error.contains(path), "{error}");
            continue;
        }
        let index: usize = path
            .rsplit("good")
            .next()
            .unwrap()
            .trim_end_matches(".wav")
            .parse()
            .unwrap();
        correct += usize::from(r["label"] == files[index].1.as_str());
    }
    // The same windows as the baseline's own evaluation: the same accuracy.
    let accuracy = correct as f64 / files.len() as f64;
    assert!(
        (accuracy - val_accuracy).abs() < 1e-9,
        "{accuracy} vs {val_accuracy}"
    );
    let csv = std::fs::read_to_string(&out_csv).unwrap();
    assert!(csv
        .lines()
        .any(|l| l.contains("garbage.wav") && l.contains("cannot decode")));
}

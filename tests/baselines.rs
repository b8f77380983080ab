//! The CPU baselines: every model separates a synthetic set, is
//! deterministic for a seed and predicts identically after save and reload;
//! CV folds keep groups whole; `soundclass features` caches and skips bad
//! clips; `soundclass baseline` writes a complete run folder.

mod common;

use std::collections::HashMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use soundclass::audio::{write_wav, WavEncoding};
use soundclass::config::Config;
use soundclass::data::stratified_group_folds;
use soundclass::model::{SavedModel, Standardizer};
use soundclass::train::baselines::{candidates, evaluate};

use common::{sine, soundclass, soundclass_json};

/// Four Gaussian blobs in 10 dimensions, two informative directions per
/// class, plus pure-noise features.
fn blobs(n_per_class: usize, seed: u64) -> (Vec<f64>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let d = 10;
    let mut x = Vec::new();
    let mut y = Vec::new();
    for class in 0..4 {
        for _ in 0..n_per_class {
            for f in 0..d {
                let centre = if f == 2 * class || f == 2 * class + 1 {
                    3.0
                } else {
                    0.0
                };
                let noise: f64 = (0..6).map(|_| rng.random::<f64>()).sum::<f64>() - 3.0;
                x.push(centre + noise);
            }
            y.push(class);
        }
    }
    (x, y)
}

#[test]
fn every_model_separates_blobs_deterministically_and_round_trips() {
    let d = 10;
    let (train_x, train_y) = blobs(100, 1);
    let (test_x, test_y) = blobs(50, 2);
    let scaler = Standardizer::fit(&train_x, train_y.len(), d);
    let (train_s, test_s) = (scaler.transform(&train_x), scaler.transform(&test_x));
    let mut config = Config::default().baselines;
    // One small grid point per model keeps the test quick.
    config.gbdt.n_estimators = vec![60];
    config.gbdt.max_depth = vec![3];
    config.gbdt.learning_rate = vec![0.1];
    config.random_forest.n_estimators = vec![50];
    config.random_forest.max_features = vec!["sqrt".into()];
    config.random_forest.min_samples_leaf = vec![1];
    config.logistic_regression.c = vec![1.0];
    config.adaboost_tree.n_estimators = vec![50];
    config.adaboost_tree.learning_rate = vec![1.0];
    config.adaboost_tree.max_depth = vec![2];
    config.adaboost_forest.n_estimators = vec![5];
    let dir = tempfile::tempdir().unwrap();
    for name in &config.models {
        let grid = candidates(name, &config);
        assert_eq!(grid.len(), 1, "{name}");
        let candidate = &grid[0];
        let model = candidate.fit(&train_s, &train_y, d, 4, None, 7);
        let (accuracy, _) = evaluate(&model, &test_s, &test_y, d, 4);
        assert!(accuracy > 0.95, "{name}: test accuracy {accuracy}");

        let again = candidate.fit(&train_s, &train_y, d, 4, None, 7);
        assert_eq!(model, again, "{name} is not deterministic for a fixed seed");

        let saved = SavedModel {
            name: name.clone(),
            params: candidate.params(),
            classes: ["a", "b", "c", "d"].map(String::from).to_vec(),
            feature_names: (0..d).map(|f| format!("f{f}")).collect(),
            scaler: scaler.clone(),
            model,
        };
        let path = dir.path().join(format!("{name}.json"));
        saved.save(&path).unwrap();
        let loaded = SavedModel::load(&path).unwrap();
        assert_eq!(loaded, saved, "{name} changed on reload");
        let before: Vec<Vec<f64>> = test_s
            .chunks(d)
            .map(|row| saved.model.predict_proba(row))
            .collect();
        let after: Vec<Vec<f64>> = test_s
            .chunks(d)
            .map(|row| loaded.model.predict_proba(row))
            .collect();
        assert_eq!(before, after, "{name} predicts differently after reload");
        assert_eq!(saved.predict(&test_x), loaded.predict(&test_x));
    }
}

#[test]
fn gbdt_early_stopping_keeps_the_best_round() {
    let d = 10;
    let (train_x, train_y) = blobs(60, 3);
    let (val_x, val_y) = blobs(30, 4);
    let mut config = Config::default().baselines;
    config.gbdt.n_estimators = vec![400];
    config.gbdt.max_depth = vec![4];
    config.gbdt.learning_rate = vec![0.3];
    config.gbdt.early_stopping_rounds = 10;
    let candidate = &candidates("gbdt", &config)[0];
    let eval = soundclass::model::EvalSet {
        x: &val_x,
        y: &val_y,
    };
    let soundclass::model::Classifier::Gbdt(model) =
        candidate.fit(&train_x, &train_y, d, 4, Some(eval), 1)
    else {
        panic!("not a gbdt");
    };
    let losses = &model.eval_logloss;
    assert!(losses.len() < 400, "early stopping never triggered");
    let best = losses
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .unwrap()
        .0;
    assert_eq!(model.rounds.len(), best + 1);
    assert_eq!(losses.len(), best + 1 + 10);
    assert!(model.importance().iter().any(|&g| g > 0.0));
}

#[test]
fn cv_folds_never_split_a_group() {
    // Unequal groups: 40 groups, 4 classes, sizes 1..8.
    let mut labels = Vec::new();
    let mut groups = Vec::new();
    for g in 0..40 {
        for _ in 0..(1 + (g * 7) % 8) {
            labels.push(g % 4);
            groups.push(format!("pkg{g}"));
        }
    }
    let refs: Vec<&str> = groups.iter().map(String::as_str).collect();
    for seed in 0..5 {
        let folds = stratified_group_folds(&labels, &refs, 5, seed);
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (g, f) in refs.iter().zip(&folds) {
            assert_eq!(*seen.entry(g).or_insert(*f), *f, "seed {seed}: {g} split");
        }
        let sizes: Vec<usize> = (0..5)
            .map(|f| folds.iter().filter(|&&x| x == f).count())
            .collect();
        assert!(sizes.iter().all(|&s| s > 0), "seed {seed}: {sizes:?}");
    }
}

/// A four-class set of synthetic clips: tones, chords, noise bursts and
/// clicks, six per class, two sources (groups) per class.
fn write_clip_set(dir: &std::path::Path) -> std::path::PathBuf {
    let rate = 22050;
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut manifest = String::from("path,label,split,source_package\n");
    for (class, label) in ["Animal", "Music", "Speech", "Vehicle"].iter().enumerate() {
        for i in 0..6 {
            let f0 = 200.0 + 150.0 * class as f32 + 10.0 * i as f32;
            let y: Vec<f32> = match class {
                0 => sine(f0 * 4.0, rate, 1.0, 0.4),
                1 => {
                    let a = sine(f0, rate, 1.5, 0.2);
                    let b = sine(f0 * 1.5, rate, 1.5, 0.2);
                    a.iter().zip(&b).map(|(x, y)| x + y).collect()
                }
                2 => (0..rate as usize)
                    .map(|n| {
                        let envelope = ((n as f32 / 2205.0).sin()).abs();
                        envelope * (rng.random::<f32>() - 0.5) * 0.5
                    })
                    .collect(),
                _ => (0..rate as usize)
                    .map(|n| {
                        if n % 2000 < 40 {
                            0.5
                        } else {
                            0.01 * (rng.random::<f32>() - 0.5)
                        }
                    })
                    .collect(),
            };
            let file = format!("{label}/{label}{i}.wav");
            std::fs::create_dir_all(dir.join(label)).unwrap();
            write_wav(&dir.join(&file), &y, rate, 1, WavEncoding::Pcm16).unwrap();
            let split = if i < 4 { "train" } else { "val" };
            manifest.push_str(&format!("{file},{label},{split},src{}{}\n", class, i % 2));
        }
    }
    // A corrupt clip: reported and skipped, never fatal.
    std::fs::write(dir.join("Music/broken.wav"), b"RIFF\x00\x00garbage").unwrap();
    manifest.push_str("Music/broken.wav,Music,train,src10\n");
    let path = dir.join("manifest.csv");
    std::fs::write(&path, manifest).unwrap();
    path
}

#[test]
fn features_cache_and_baseline_run_folder() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_clip_set(dir.path());
    let (manifest, out, cache) = (
        manifest.to_str().unwrap().to_string(),
        dir.path().join("features.csv"),
        dir.path().join("cache"),
    );
    let args = [
        "features",
        "--manifest",
        &manifest,
        "--out",
        out.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
        "--set",
        "features.clip_seconds=2.0",
        "--json",
    ];
    let first = soundclass_json(&args, 0);
    assert_eq!(first["clips"], 25);
    assert_eq!(first["computed"], 24);
    assert_eq!(first["cached"], 0);
    let skipped = first["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0]["path"].as_str().unwrap().ends_with("broken.wav"));
    let table_first = std::fs::read_to_string(&out).unwrap();

    // A rerun computes nothing and writes the same table.
    let second = soundclass_json(&args, 0);
    assert_eq!(second["computed"], 0);
    assert_eq!(second["cached"], 24);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), table_first);

    // A changed setting is a different cache.
    let mut changed = args.to_vec();
    changed[8] = "features.clip_seconds=1.5";
    assert_eq!(soundclass_json(&changed, 0)["computed"], 24);

    let header = table_first.lines().next().unwrap();
    assert!(header.starts_with("path,label,split,group,mfcc01_mean,mfcc01_std"));
    assert!(header.ends_with("zcr_mean,zcr_std,rms_mean,rms_std,tempo"));
    assert_eq!(header.split(',').count(), 4 + 84);

    let run = dir.path().join("run");
    let config = dir.path().join("baselines.toml");
    std::fs::write(
        &config,
        r#"
[baselines]
cv_folds = 2
[baselines.gbdt]
n_estimators = [30]
max_depth = [2, 3]
learning_rate = [0.3]
early_stopping_rounds = 5
[baselines.random_forest]
n_estimators = [30]
max_features = ["sqrt"]
min_samples_leaf = [1]
[baselines.logistic_regression]
c = [0.1, 1.0]
[baselines.adaboost_tree]
n_estimators = [20]
learning_rate = [1.0]
max_depth = [1]
[baselines.adaboost_forest]
n_estimators = [3]
forest_trees = [5]
"#,
    )
    .unwrap();
    let report = soundclass_json(
        &[
            "baseline",
            "--config",
            config.to_str().unwrap(),
            "--features",
            out.to_str().unwrap(),
            "--run-dir",
            run.to_str().unwrap(),
            "--json",
        ],
        0,
    );
    assert_eq!(report["train_rows"], 16);
    assert_eq!(report["val_rows"], 8);
    let results = std::fs::read_to_string(run.join("results.csv")).unwrap();
    let mut lines = results.lines();
    assert_eq!(
        lines.next().unwrap(),
        "model,best_params,cv_accuracy,train_accuracy,val_accuracy,test_accuracy,fit_seconds"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 5);
    for model in [
        "gbdt",
        "random_forest",
        "logistic_regression",
        "adaboost_tree",
        "adaboost_forest",
    ] {
        let row = rows.iter().find(|r| r.starts_with(model)).unwrap();
        let fields: Vec<&str> = row.rsplitn(5, ',').collect();
        // No test split in this manifest: the test column is empty.
        assert_eq!(fields[1], "", "{row}");
        let val: f64 = fields[2].parse().unwrap();
        assert!(
            val >= 0.75,
            "{model}: val accuracy {val} on separable clips"
        );
        assert!(run.join(format!("confusion_{model}_val.csv")).is_file());
        assert!(run.join(format!("confusion_{model}_val.png")).is_file());
        let saved = SavedModel::load(&run.join("models").join(format!("{model}.json"))).unwrap();
        assert_eq!(saved.classes, ["Animal", "Music", "Speech", "Vehicle"]);
        assert_eq!(saved.feature_names.len(), 84);
    }
    assert!(run.join("config.toml").is_file());
    assert!(run.join("cv_results.csv").is_file());
    assert!(run.join("importance_gbdt.csv").is_file());

    // A label outside data.classes is named in the error.
    let bad = soundclass(&[
        "baseline",
        "--features",
        out.to_str().unwrap(),
        "--run-dir",
        dir.path().join("run2").to_str().unwrap(),
        "--set",
        "data.classes=[\"Animal\",\"Music\"]",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not one of data.classes"));
}

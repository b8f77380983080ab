//! `soundclass report` over a CNN run (evaluated on a second manifest
//! too), a baseline run and a sweep: a page that opens from disk with
//! every image it names, and numbers that match the runs' own files.

use std::path::Path;

use crate::common::{
    assert_success, read_json, soundclass, soundclass_json, sweep_args, tiny_config, two_tone_base,
};
use crate::predict::{grouped_tones, trained_run};

fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[1..4], b"PNG", "{}", path.display());
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
fn report_covers_runs_baselines_and_sweeps() {
    let dir = tempfile::tempdir().unwrap();
    let (run, manifest) = trained_run(dir.path());

    // `evaluate` on another manifest keeps the run's own files.
    let own = std::fs::read(run.join("eval-test.json")).ok();
    let other = dir.path().join("holdout.csv");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace(",val\n", ",test\n");
    std::fs::write(&other, text).unwrap();
    let evaluated = soundclass_json(
        &[
            "evaluate",
            "--run",
            run.to_str().unwrap(),
            "--manifest",
            other.to_str().unwrap(),
            "--split",
            "test",
            "--device",
            "cpu",
            "--json",
        ],
        0,
    );
    assert!(evaluated["report"]
        .as_str()
        .unwrap()
        .ends_with("eval-holdout-test.json"));
    assert!(run.join("confusion_holdout_test.png").is_file());
    assert_eq!(std::fs::read(run.join("eval-test.json")).ok(), own);
    assert_success(&soundclass(&[
        "evaluate",
        "--run",
        run.to_str().unwrap(),
        "--split",
        "train",
        "--device",
        "cpu",
    ]));

    // A baseline run on the same clips.
    let mut config = tiny_config(
        &grouped_tones(&dir.path().join("b")),
        &["low", "high"],
        &[
            "baselines.models=[\"logistic_regression\", \"gbdt\"]",
            "baselines.cv_folds=2",
            "baselines.logistic_regression.c=[1.0]",
            "baselines.gbdt.n_estimators=[20]",
            "baselines.gbdt.max_depth=[2]",
            "baselines.gbdt.learning_rate=[0.3]",
        ],
    );
    config.features.cache_dir = dir.path().join("feature-cache");
    let config_path = dir.path().join("baselines.toml");
    std::fs::write(&config_path, config.to_toml_string().unwrap()).unwrap();
    let baseline = dir.path().join("baseline");
    assert_success(&soundclass(&[
        "baseline",
        "--config",
        config_path.to_str().unwrap(),
        "--run-dir",
        baseline.to_str().unwrap(),
    ]));

    // A two-trial sweep.
    let sweep_dir = dir.path().join("sweep");
    let base = two_tone_base(&dir.path().join("s"), &[]);
    let spec = dir.path().join("spec.toml");
    std::fs::write(
        &spec,
        format!(
        "[sweep]\nname = \"r\"\nbase = \"{}\"\nmethod = \"grid\"\nmetric = \"val_accuracy\"\n\n\
         [parameters]\n\"optim.weight_decay\" = [0.0, 0.01]\n", base.display()),
    )
    .unwrap();
    crate::common::soundclass_ok(&sweep_args(&spec, &sweep_dir));
    // The sweep's two trials as one ensemble: both members, ranked.
    let top = dir.path().join("top.json");
    let ensemble = soundclass_json(
        &[
            "evaluate",
            "--sweep",
            sweep_dir.to_str().unwrap(),
            "--top",
            "2",
            "--split",
            "val",
            "--device",
            "cpu",
            "--out",
            top.to_str().unwrap(),
            "--json",
        ],
        0,
    );
    let members = ensemble["members"].as_array().unwrap();
    assert_eq!(members.len(), 2);
    let trials = read_json(&sweep_dir.join("trials.json"));
    let best = trials["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["metric"].as_f64().unwrap())
        .fold(f64::MIN, f64::max);
    let first = std::path::PathBuf::from(members[0]["model"].as_str().unwrap());
    let first_summary = read_json(&first.join("summary.json"));
    assert_eq!(
        first_summary["best_val"]["accuracy"].as_f64().unwrap(),
        best
    );

    let out = dir.path().join("report");
    let written = soundclass_json(
        &[
            "report",
            run.to_str().unwrap(),
            baseline.to_str().unwrap(),
            sweep_dir.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--json",
        ],
        0,
    );
    // The run, two baseline models, the sweep's best trial.
    assert_eq!(written["models"], 4);
    assert_eq!(written["sweeps"], 1);
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    let markdown = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"));
    // Every image named exists and is a real PNG of a legible size.
    let mut images = 0;
    for part in html.split("<img src=\"").skip(1) {
        let file = &part[..part.find('"').unwrap()];
        let (w, h) = png_size(&out.join(file));
        assert!(w >= 240 && h >= 200, "{file}: {w}x{h}");
        assert!(
            markdown.contains(&format!("]({file})")),
            "{file} missing from report.md"
        );
        images += 1;
    }
    // The comparison; the run's curves and val and holdout confusions (its
    // train evaluation is a bar); each baseline's val confusion; the best
    // trial's curves and val confusion; the sweep's two plots.
    assert_eq!(images, 1 + 3 + 2 + 2 + 2, "{html}");
    for needle in [
        "logistic_regression (baseline)",
        "gbdt (baseline)",
        "holdout-test",
        "best trial",
        "balanced accuracy",
        "Marginal effects",
        "precision",
    ] {
        assert!(html.contains(needle), "index.html lacks {needle}");
    }
    // The numbers are the runs' own.
    let best_val = read_json(&run.join("summary.json"))["best_val"]["accuracy"]
        .as_f64()
        .unwrap();
    let accuracy = format!("{best_val:.4}");
    let run_row = markdown
        .lines()
        .find(|l| l.starts_with("| run | CNN | val |"))
        .unwrap_or_else(|| panic!("no val row for the run:\n{markdown}"));
    assert!(run_row.contains(&accuracy), "{run_row} vs {accuracy}");
    let results = std::fs::read_to_string(baseline.join("results.csv")).unwrap();
    let lr = results
        .lines()
        .find(|l| l.starts_with("logistic_regression,"))
        .unwrap();
    let train_accuracy = lr.split(',').nth(3).unwrap();
    assert!(
        markdown.contains(&format!(
            "| logistic_regression (baseline) | baseline | train |  | {train_accuracy}"
        )),
        "{markdown}"
    );

    // A folder that is none of the three is named.
    let bad = soundclass(&[
        "report",
        dir.path().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr)
        .contains("not a CNN run, baseline run or sweep folder"));
}

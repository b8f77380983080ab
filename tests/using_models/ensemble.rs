//! Ensembles of a CNN run and a baseline model: `evaluate --model A
//! --model B` against the members' own evaluations and `predict`, and
//! weights fitted on val.

use crate::common::soundclass_json;
use crate::predict::{baseline_model, trained_run, val_files};

fn probabilities(result: &serde_json::Value) -> Vec<f64> {
    result["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_f64().unwrap())
        .collect()
}

#[test]
fn an_ensemble_averages_its_members_and_fits_weights_on_val() {
    let dir = tempfile::tempdir().unwrap();
    let (run, manifest) = trained_run(dir.path());
    let (baseline, baseline_val) = baseline_model(dir.path(), &manifest);
    let (run_s, base_s, manifest_s) = (
        run.to_str().unwrap(),
        baseline.to_str().unwrap(),
        manifest.to_str().unwrap(),
    );
    let own = soundclass_json(
        &[
            "evaluate", "--run", run_s, "--split", "val", "--device", "cpu", "--json",
        ],
        0,
    );
    let evaluate = |models: &[&str], weights: &str, out: &str| {
        let mut args = vec!["evaluate", "--split", "val", "--device", "cpu", "--json"];
        for m in models {
            args.extend(["--model", *m]);
        }
        let out = dir.path().join(out);
        args.extend(["--manifest", manifest_s, "--weights", weights, "--out"]);
        args.push(out.to_str().unwrap());
        let report = soundclass_json(&args, 0);
        assert_eq!(crate::common::read_json(&out), report);
        report
    };

    // One member reproduces the run's own evaluation.
    let single = evaluate(&[run_s], "equal", "single.json");
    assert_eq!(single["accuracy"], own["accuracy"]);
    let dl = (single["loss"].as_f64().unwrap() - own["loss"].as_f64().unwrap()).abs();
    assert!(dl < 1e-4, "loss differs by {dl}");

    // Two members: each member's line is its own evaluation; the ensemble
    // is the mean of what `predict` gives for each model alone.
    let pair = evaluate(&[run_s, base_s], "equal", "pair.json");
    let members = pair["members"].as_array().unwrap();
    assert_eq!(members[0]["accuracy"], own["accuracy"]);
    assert!((members[1]["accuracy"].as_f64().unwrap() - baseline_val).abs() < 1e-9);
    assert_eq!(members[0]["weight"], 0.5);
    let files: Vec<String> = val_files(&manifest).into_iter().map(|(p, _)| p).collect();
    let predict = |models: &[&str]| {
        let out = dir.path().join("p.csv");
        let mut args = vec![
            "predict",
            "--device",
            "cpu",
            "--json",
            "--out",
            out.to_str().unwrap(),
        ];
        for m in models {
            args.extend(["--model", *m]);
        }
        args.extend(files.iter().map(String::as_str));
        soundclass_json(&args, 0)["results"]
            .as_array()
            .unwrap()
            .clone()
    };
    let (cnn, base, both) = (
        predict(&[run_s]),
        predict(&[base_s]),
        predict(&[run_s, base_s]),
    );
    let labels: Vec<String> = val_files(&manifest).into_iter().map(|(_, l)| l).collect();
    let mut correct = 0;
    for f in 0..files.len() {
        let mean: Vec<f64> = probabilities(&cnn[f])
            .iter()
            .zip(probabilities(&base[f]))
            .map(|(a, b)| 0.5 * (a + b))
            .collect();
        let got = probabilities(&both[f]);
        for (m, g) in mean.iter().zip(&got) {
            assert!((m - g).abs() < 1e-6, "file {f}: {mean:?} vs {got:?}");
        }
        correct += usize::from(both[f]["label"] == labels[f].as_str());
    }
    let accuracy = correct as f64 / files.len() as f64;
    assert!((accuracy - pair["accuracy"].as_f64().unwrap()).abs() < 1e-9);

    // Weights fitted on val: on the simplex, no worse on val than equal ones.
    let fitted = evaluate(&[run_s, base_s], "val", "fitted.json");
    assert!(fitted["weights_from"]
        .as_str()
        .unwrap()
        .starts_with("fitted on val"));
    let weights: Vec<f64> = fitted["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["weight"].as_f64().unwrap())
        .collect();
    assert!(
        (weights.iter().sum::<f64>() - 1.0).abs() < 1e-9,
        "{weights:?}"
    );
    assert!(fitted["loss"].as_f64().unwrap() <= pair["loss"].as_f64().unwrap() + 1e-9);

    // Given weights are normalised; a count that does not match is refused.
    let given = evaluate(&[run_s, base_s], "3,1", "given.json");
    assert_eq!(given["members"][0]["weight"], 0.75);
    let out = crate::common::soundclass(&[
        "evaluate",
        "--model",
        run_s,
        "--model",
        base_s,
        "--weights",
        "1,1,1",
        "--split",
        "val",
        "--manifest",
        manifest_s,
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--weights"));
}

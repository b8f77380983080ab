//! A folder of 70+ hostile files (every format, every kind of damage)
//! through `data validate`, `features`, `spectrogram` and a short `train`:
//! no command crashes, every bad file is named with its reason, and every
//! good file is processed. Set `SOUNDCLASS_HOSTILE_DIR` to keep the folder
//! and the commands' outputs there.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::hostile::{make_hostile_folder, Expect, Hostile};
use common::{soundclass, tiny_config};

const CLASSES: [&str; 2] = ["A", "B"];

fn work_dir() -> (Option<tempfile::TempDir>, PathBuf) {
    match std::env::var_os("SOUNDCLASS_HOSTILE_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            (None, dir)
        }
        None => {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().to_path_buf();
            (Some(tmp), dir)
        }
    }
}

/// Labels alternate; every fourth file is in val.
fn write_manifest(dir: &Path, files: &[Hostile]) -> PathBuf {
    let mut csv = String::from("path,label,split\n");
    for (i, h) in files.iter().enumerate() {
        let rel = h.path.strip_prefix(dir).unwrap().display().to_string();
        let split = if i % 4 == 3 { "val" } else { "train" };
        csv += &format!("\"{rel}\",{},{split}\n", CLASSES[i % 2]);
    }
    let path = dir.join("manifest.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

fn write_config(dir: &Path, manifest: &Path) -> PathBuf {
    let extra = ["data.min_seconds=0.05", "experiment.name=hostile"];
    let config = tiny_config(manifest, &CLASSES, &extra);
    let path = dir.join("hostile.toml");
    std::fs::write(&path, config.to_toml_string().unwrap()).unwrap();
    path
}

/// No panic, no signal: the command ended by itself with `code`.
fn assert_clean(out: &Output, what: &str, code: i32) -> serde_json::Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{what} panicked:\n{stderr}");
    assert_eq!(out.status.code(), Some(code), "{what}:\n{stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// File name -> error of every clip a command listed as skipped.
fn skipped_by_name(values: &serde_json::Value) -> HashMap<String, String> {
    values
        .as_array()
        .unwrap_or_else(|| panic!("no skipped list in {values}"))
        .iter()
        .map(|s| {
            (
                file_name(s["path"].as_str().unwrap()),
                s["error"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Every clip a decoding command must skip was skipped and named with a
/// reason; every good clip was not.
fn check_skips(command: &str, files: &[Hostile], skipped: &HashMap<String, String>) {
    for h in files {
        let name = file_name(&h.path.to_string_lossy());
        match (h.expect.skipped_by_decoders(), skipped.get(&name)) {
            (true, Some(error)) => assert!(error.contains(&name), "{command}: {error}"),
            (true, None) => panic!("{command} did not skip {name} ({:?})", h.expect),
            (false, Some(error)) if h.expect == Expect::Good => {
                panic!("{command} skipped the good file {name}: {error}")
            }
            _ => {}
        }
    }
}

#[test]
fn hostile_folder_through_every_command() {
    let (_keep, dir) = work_dir();
    let files = make_hostile_folder(&dir.join("clips"));
    assert!(files.len() >= 60, "only {} hostile files", files.len());
    let manifest = write_manifest(&dir, &files);
    let config = write_config(&dir, &manifest);
    let (m, c) = (manifest.to_str().unwrap(), config.to_str().unwrap());

    let report = assert_clean(
        &soundclass(&[
            "data",
            "validate",
            m,
            "--config",
            c,
            "--json",
            "--allow-bad",
        ]),
        "validate",
        0,
    );
    let bad: HashMap<String, (String, String)> = report["bad"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let problem = b["problem"].as_str().unwrap().to_string();
            let detail = b["detail"].as_str().unwrap().to_string();
            (file_name(b["path"].as_str().unwrap()), (problem, detail))
        })
        .collect();
    for h in &files {
        let name = file_name(&h.path.to_string_lossy());
        let found = bad.get(&name);
        match (h.expect, found) {
            (Expect::Bad(problem), Some((got, detail))) => {
                assert_eq!(got, problem, "{name}: {detail}");
                assert!(
                    detail.contains("line "),
                    "{name}: {detail} names no manifest line"
                );
            }
            (Expect::Bad(problem), None) => panic!("validate passed {name}, expected {problem}"),
            (Expect::Good, Some((got, detail))) => {
                panic!("validate flagged good {name}: {got} {detail}")
            }
            _ => {}
        }
    }

    let features = dir.join("features.csv");
    let report = assert_clean(
        &soundclass(&[
            "features",
            "--manifest",
            m,
            "--config",
            c,
            "--out",
            features.to_str().unwrap(),
            "--no-cache",
            "--json",
        ]),
        "features",
        0,
    );
    let features_skipped = skipped_by_name(&report["skipped"]);
    check_skips("features", &files, &features_skipped);
    let rows = std::fs::read_to_string(&features).unwrap();
    for h in files.iter().filter(|h| h.expect == Expect::Good) {
        let name = file_name(&h.path.to_string_lossy());
        assert!(rows.contains(&name), "features.csv has no row for {name}");
    }

    let spectrograms = dir.join("spectrograms");
    let report = assert_clean(
        &soundclass(&[
            "spectrogram",
            "--manifest",
            m,
            "--config",
            c,
            "--out",
            spectrograms.to_str().unwrap(),
            "--json",
        ]),
        "spectrogram",
        0,
    );
    let spectrogram_skipped = skipped_by_name(&report["skipped"]);
    check_skips("spectrogram", &files, &spectrogram_skipped);
    let index = std::fs::read_to_string(spectrograms.join("index.csv")).unwrap();
    for h in files.iter().filter(|h| h.expect == Expect::Good) {
        let name = file_name(&h.path.to_string_lossy());
        assert!(index.contains(&name), "index.csv has no row for {name}");
    }

    let run = dir.join("run");
    let summary = assert_clean(
        &soundclass(&[
            "train",
            "--config",
            c,
            "--device",
            "cpu",
            "--run-dir",
            run.to_str().unwrap(),
            "--json",
        ]),
        "train",
        0,
    );
    assert_eq!(summary["epochs_run"], 1);
    let mut reader = csv::Reader::from_path(run.join("skipped.csv")).unwrap();
    let skipped: HashMap<String, String> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (file_name(&r[0]), r[1].to_string())
        })
        .collect();
    check_skips("train", &files, &skipped);
    let table = outcome_table(
        &files,
        &bad,
        [&features_skipped, &spectrogram_skipped, &skipped],
    );
    std::fs::write(dir.join("hostile_table.md"), table).unwrap();
}

/// One row per file: what was expected, what `data validate` said, and
/// whether `features`, `spectrogram` and `train` processed or skipped it.
fn outcome_table(
    files: &[Hostile],
    bad: &HashMap<String, (String, String)>,
    skipped: [&HashMap<String, String>; 3],
) -> String {
    let mut table = String::from(
        "| file | expected | validate | features | spectrogram | train |\n|---|---|---|---|---|---|\n",
    );
    for h in files {
        let name = file_name(&h.path.to_string_lossy());
        let validate = bad
            .get(&name)
            .map_or("ok".to_string(), |(problem, detail)| {
                let reason = detail.rsplit("audio: ").next().unwrap_or(detail);
                format!(
                    "{problem}: {}",
                    reason.split(" (manifest line").next().unwrap_or(reason)
                )
            });
        let verdict = |s: &HashMap<String, String>| {
            if s.contains_key(&name) {
                "skipped"
            } else {
                "processed"
            }
        };
        table += &format!(
            "| {name} | {:?} | {validate} | {} | {} | {} |\n",
            h.expect,
            verdict(skipped[0]),
            verdict(skipped[1]),
            verdict(skipped[2])
        );
    }
    table
}

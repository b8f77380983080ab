//! The `data` commands end to end through the binary, on generated trees,
//! the bad-input set and the real AudioSet metadata in ../shared.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use common::*;
use soundclass::data::audioset::{import, read_segments, ImportOptions, MultiPolicy, Ontology};
use soundclass::data::{Manifest, Split};

fn audioset_dir() -> PathBuf {
    let dir = repo_root().join("../shared/audioset");
    assert!(
        dir.join("ontology.json").is_file(),
        "AudioSet metadata not found at {} (CI provides ../shared)",
        dir.display()
    );
    dir
}

fn import_counts(csv: &str) -> (HashMap<String, usize>, usize, usize) {
    let dir = audioset_dir();
    let segments = read_segments(&dir.join(csv)).unwrap();
    let ontology = Ontology::load(&dir.join("ontology.json")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let options = ImportOptions {
        classes: ["Speech", "Music", "Animal", "Vehicle"]
            .map(String::from)
            .to_vec(),
        audio_dir: out.path().join("audio"),
        manifest_dir: out.path().to_path_buf(),
        path_template: "{ytid}_{start}.wav".into(),
        multi: MultiPolicy::Drop,
        split: Split::Train,
        val_fraction: 0.0,
        seed: 0,
        keep_missing: true,
    };
    let (manifest, report) = import(&segments, &ontology, &options).unwrap();
    assert_eq!(report.written, manifest.clips.len());
    assert_eq!(report.missing_audio, report.written, "no audio exists here");
    let counts = report.single.into_iter().collect();
    (counts, report.multi, report.none)
}

#[test]
fn audioset_balanced_train_counts() {
    let (counts, multi, none) = import_counts("balanced_train_segments.csv");
    assert_eq!(counts["Speech"], 3468);
    assert_eq!(counts["Music"], 6973);
    assert_eq!(counts["Animal"], 1560);
    assert_eq!(counts["Vehicle"], 1390);
    assert_eq!(multi, 2757);
    assert_eq!(none, 6012);
}

#[test]
fn audioset_eval_counts_through_cli() {
    let (counts, _, _) = import_counts("eval_segments.csv");
    assert_eq!(counts["Speech"], 3023);
    assert_eq!(counts["Music"], 5891);
    assert_eq!(counts["Animal"], 1502);
    assert_eq!(counts["Vehicle"], 1399);

    // The CLI with a few files present: only those are written by default.
    let dir = audioset_dir();
    let work = tempfile::tempdir().unwrap();
    let audio = work.path().join("audio");
    std::fs::create_dir_all(&audio).unwrap();
    let segments = read_segments(&dir.join("eval_segments.csv")).unwrap();
    let present = &segments[..3];
    for s in present {
        write_sine(
            &audio.join(format!(
                "{}_{}.wav",
                s.ytid,
                s.start.parse::<f64>().unwrap() as i64
            )),
            16000,
            0.2,
        );
    }
    let out = work.path().join("eval.csv");
    let report = soundclass_json(
        &[
            "data",
            "import-audioset",
            "--segments",
            dir.join("eval_segments.csv").to_str().unwrap(),
            "--ontology",
            dir.join("ontology.json").to_str().unwrap(),
            "--audio-dir",
            audio.to_str().unwrap(),
            "--classes",
            "Speech,Music,Animal,Vehicle",
            "--out",
            out.to_str().unwrap(),
            "--split",
            "test",
            "--json",
        ],
        0,
    );
    assert_eq!(report["single"]["Music"], 5891);
    let manifest = Manifest::load(&out).unwrap();
    assert_eq!(
        report["written"].as_u64().unwrap() as usize,
        manifest.clips.len()
    );
    assert!(manifest.clips.len() <= 3);
    assert_eq!(
        report["missing_audio"].as_u64().unwrap() as usize + manifest.clips.len(),
        3023 + 5891 + 1502 + 1399
    );
    for clip in &manifest.clips {
        assert_eq!(clip.split, Split::Test);
        assert!(manifest.resolve(clip).is_file());
    }
}

#[test]
fn download_script_dry_run_prints_commands_for_missing_files() {
    let work = tempfile::tempdir().unwrap();
    let manifest = work.path().join("m.csv");
    std::fs::create_dir_all(work.path().join("audio")).unwrap();
    write_sine(&work.path().join("audio/have_10.wav"), 16000, 0.1);
    std::fs::write(
        &manifest,
        "path,label,split,ytid,start_seconds,end_seconds,positive_labels\n\
         audio/have_10.wav,Speech,train,have,10.000,20.000,\"/m/09x0r\"\n\
         audio/-abc_30.wav,Music,train,-abc,30.000,40.000,\"/m/04rlf,/m/09x0r\"\n",
    )
    .unwrap();
    let out = std::process::Command::new("bash")
        .arg(repo_root().join("scripts/audioset_download.sh"))
        .args(["--dry-run", "--rate", "22050"])
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "only the missing file: {text}");
    assert!(
        lines[0].contains("yt-dlp") && lines[0].contains("v=-abc"),
        "{text}"
    );
    assert!(
        lines[0].contains("'*30.000-40.000'") || lines[0].contains("\\*30.000-40.000"),
        "{text}"
    );
    assert!(
        lines[0].contains("-ar 22050") && lines[0].contains("audio/-abc_30.wav"),
        "{text}"
    );
}

#[test]
fn scan_makes_grouped_stratified_splits() {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    for class in ["Dog", "Car", "Piano"] {
        for g in 0..12 {
            for k in 0..(1 + g % 3) {
                write_sine(
                    &tree
                        .join(class)
                        .join(format!("session{g}"))
                        .join(format!("clip{k}.wav")),
                    8000,
                    0.05,
                );
            }
        }
    }
    std::fs::write(tree.join("README.txt"), "not audio").unwrap();
    std::fs::write(tree.join("loose.wav"), "no class folder").unwrap();
    let out = work.path().join("manifests/tree.csv");
    let summary = soundclass_json(
        &[
            "data",
            "scan",
            tree.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--seed",
            "5",
            "--json",
        ],
        0,
    );
    assert_eq!(summary["clips"], 3 * 24);
    let manifest = Manifest::load(&out).unwrap();
    assert_eq!(manifest.clips.len(), 3 * 24);
    let mut group_split = HashMap::new();
    for clip in &manifest.clips {
        assert!(manifest.resolve(clip).is_file(), "{}", clip.path);
        assert!(
            clip.path.starts_with("../tree/"),
            "relative to the manifest: {}",
            clip.path
        );
        let group = manifest.column(clip, "group").unwrap().to_string();
        let previous = *group_split.entry(group.clone()).or_insert(clip.split);
        assert_eq!(previous, clip.split, "group {group} straddles splits");
    }
    for class in ["Dog", "Car", "Piano"] {
        for split in Split::ALL {
            assert!(
                manifest
                    .clips
                    .iter()
                    .any(|c| c.label == class && c.split == split),
                "{class} has no {split} clips"
            );
        }
    }
}

#[test]
fn validate_lists_the_bad_inputs_and_exits_1() {
    let work = tempfile::tempdir().unwrap();
    let cases = make_bad_inputs(&work.path().join("clips"));
    let mut csv = String::from("path,label,split\n");
    for (path, _) in &cases {
        let rel = path.strip_prefix(work.path()).unwrap();
        csv.push_str(&format!("\"{}\",X,train\n", rel.display()));
    }
    csv.push_str("clips/does_not_exist.wav,X,train\n");
    let manifest = work.path().join("m.csv");
    std::fs::write(&manifest, csv).unwrap();

    let report = soundclass_json(
        &["data", "validate", manifest.to_str().unwrap(), "--json"],
        1,
    );
    let bad: HashMap<String, String> = report["bad"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["path"].as_str().unwrap().to_string(),
                b["problem"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (path, expected) in &cases {
        let key = work
            .path()
            .join(path.strip_prefix(work.path()).unwrap())
            .to_string_lossy()
            .into_owned();
        assert_eq!(bad.get(&key).map(String::as_str), *expected, "{key}");
    }
    assert!(bad.values().any(|p| p == "missing"));
    assert_eq!(report["checked"], cases.len() + 1);

    let text = soundclass(&["data", "validate", manifest.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("BAD") && stdout.contains("nan_inf.wav") && stdout.contains("non-finite"),
        "{stdout}"
    );
    let allowed = soundclass(&[
        "data",
        "validate",
        manifest.to_str().unwrap(),
        "--allow-bad",
        "--json",
    ]);
    assert_eq!(allowed.status.code(), Some(0));
}

#[test]
fn stats_reports_per_class_and_split() {
    let work = tempfile::tempdir().unwrap();
    write_sine(&work.path().join("a.wav"), 16000, 1.0);
    write_sine(&work.path().join("b.wav"), 16000, 3.0);
    write_sine(&work.path().join("c.wav"), 8000, 2.0);
    let manifest = work.path().join("m.csv");
    std::fs::write(
        &manifest,
        "path,label,split\na.wav,Speech,train\nb.wav,Speech,train\nc.wav,Music,val\n",
    )
    .unwrap();
    let report = soundclass_json(&["data", "stats", manifest.to_str().unwrap(), "--json"], 0);
    let rows = report["stats"].as_array().unwrap();
    let find = |split: &str, class: &str| {
        rows.iter()
            .find(|r| r["split"] == split && r["class"] == class)
            .unwrap()
    };
    let speech = find("train", "Speech");
    assert_eq!(speech["clips"], 2);
    assert!((speech["median_s"].as_f64().unwrap() - 2.0).abs() < 1e-6);
    assert!((speech["max_s"].as_f64().unwrap() - 3.0).abs() < 1e-6);
    let all = find("*", "*");
    assert_eq!(all["clips"], 3);
    assert!((all["hours"].as_f64().unwrap() - 6.0 / 3600.0).abs() < 1e-9);
    let table = soundclass(&["data", "stats", manifest.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("median_s"));
}

#[test]
fn config_typos_and_missing_manifests_fail_clearly() {
    let work = tempfile::tempdir().unwrap();
    let manifest = work.path().join("m.csv");
    std::fs::write(&manifest, "path,label,split\n").unwrap();
    let result = soundclass(&[
        "data",
        "validate",
        manifest.to_str().unwrap(),
        "--set",
        "data.min_second=1",
    ]);
    assert_eq!(result.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains("`data.min_second`") && stderr.contains("did you mean `data.min_seconds`"),
        "{stderr}"
    );

    let config = work.path().join("c.toml");
    std::fs::write(&config, "[audio]\nsample_rte = 16000\n").unwrap();
    let result = soundclass(&[
        "data",
        "validate",
        manifest.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(2));
    assert!(
        stderr.contains("did you mean `audio.sample_rate`"),
        "{stderr}"
    );

    // Every shipped config loads, the frozen ones under configs/history
    // too, and its manifest resolves into data/ (a frozen config sits a
    // folder deeper, so a copied `../data/...` would point nowhere); a
    // missing manifest is named.
    let mut loaded = 0;
    for dir in ["configs", "configs/history"] {
        for entry in std::fs::read_dir(repo_root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|x| x == "toml") {
                let config = soundclass::Config::load(Some(&path), &[])
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                if let Some(manifest) = &config.data.manifest {
                    assert!(
                        soundclass::util::absolute(manifest).starts_with(repo_root().join("data")),
                        "{}: data.manifest resolves to {}, outside data/",
                        path.display(),
                        manifest.display()
                    );
                }
                loaded += 1;
            }
        }
    }
    assert!(loaded >= 5, "{loaded} configs");
    let missing = work.path().join("nowhere/manifest.csv");
    let result = soundclass(&[
        "train",
        "--config",
        "configs/cnn.toml",
        "--device",
        "cpu",
        "--set",
        &format!("data.manifest=\"{}\"", missing.display()),
    ]);
    assert_eq!(result.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("nowhere/manifest.csv"), "{stderr}");
}

#[test]
fn demo_data_is_valid_small_and_sourced() {
    let demo = repo_root().join("data/demo");
    let manifest = Manifest::load(&demo.join("manifest.csv")).unwrap();
    let mut per_class: HashMap<&str, usize> = HashMap::new();
    for clip in &manifest.clips {
        *per_class.entry(clip.label.as_str()).or_default() += 1;
        assert_ne!(clip.split, Split::Test, "the demo takes train and val only");
    }
    assert_eq!(per_class.len(), 4);
    assert!(
        per_class.values().all(|&n| (15..=25).contains(&n)),
        "{per_class:?}"
    );
    let total: u64 = manifest
        .clips
        .iter()
        .map(|c| std::fs::metadata(manifest.resolve(c)).unwrap().len())
        .sum();
    assert!(total <= 10_000_000, "{total} bytes");
    let sources = std::fs::read_to_string(demo.join("SOURCES.csv")).unwrap();
    for clip in &manifest.clips {
        let line = sources
            .lines()
            .find(|l| l.starts_with(&format!("{},", clip.path)));
        let line = line.unwrap_or_else(|| panic!("{} not in SOURCES.csv", clip.path));
        assert!(line.split(',').count() >= 5, "{line}");
    }
    let config =
        soundclass::Config::load(Some(&repo_root().join("configs/quickstart.toml")), &[]).unwrap();
    let configured = config.data.manifest.unwrap();
    assert_eq!(
        std::fs::canonicalize(configured).unwrap(),
        std::fs::canonicalize(demo.join("manifest.csv")).unwrap()
    );
    let report = soundclass_json(
        &[
            "data",
            "validate",
            demo.join("manifest.csv").to_str().unwrap(),
            "--json",
        ],
        0,
    );
    assert_eq!(report["checked"], manifest.clips.len());
    for clip in &manifest.clips {
        let seconds = soundclass::data::stats::clip_duration(&manifest.resolve(clip)).unwrap();
        assert!(seconds <= 5.01, "{}: {seconds} s", clip.path);
    }
}

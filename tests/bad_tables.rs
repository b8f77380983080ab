//! Manifests as people write them: a UTF-8 BOM and CRLF line ends from a
//! spreadsheet, quoted fields with commas, and the mistakes (missing
//! columns, empty labels, labels outside `data.classes`, a path listed
//! twice, files that do not exist), each named by its line.

mod common;

use std::path::Path;

use common::{soundclass, soundclass_json, write_sine};

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// `data validate`'s error message for a manifest it refuses to read.
fn refused(manifest: &str) -> String {
    let out = soundclass(&["data", "validate", manifest]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn spreadsheet_exports_are_read() {
    let tmp = tempfile::tempdir().unwrap();
    write_sine(&tmp.path().join("a, b.wav"), 16000, 0.5);
    write_sine(&tmp.path().join("c.wav"), 16000, 0.5);
    let manifest = write(
        tmp.path(),
        "m.csv",
        "\u{feff}path,label,split\r\n\"a, b.wav\",Speech,train\r\n\"c.wav\",\"Music\",val\r\n",
    );
    let report = soundclass_json(&["data", "validate", &manifest, "--json"], 0);
    assert_eq!(report["checked"], 2);
    assert_eq!(report["ok"], 2);
}

#[test]
fn broken_rows_are_errors_naming_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (
            "path,label\nx.wav,Speech\n",
            "missing required column `split`",
        ),
        (
            "path,label,split\nx.wav,Speech,train\ny.wav,Music\n",
            "line 3",
        ),
        (
            "path,label,split\r\nx.wav,Speech,train\r\ny.wav,,train\r\n",
            "line 3: empty `label` for y.wav",
        ),
        (
            "path,label,split\nx.wav,Speech,train\nx.wav,Music,val\n",
            "line 3: path `x.wav` is already listed on line 2",
        ),
        (
            "path,label,split\nx.wav,Speech,holdout\n",
            "line 2: split `holdout`",
        ),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        let manifest = write(tmp.path(), &format!("m{i}.csv"), text);
        let stderr = refused(&manifest);
        assert!(
            stderr.contains(expected),
            "{stderr} should contain {expected}"
        );
        assert!(
            stderr.contains(&manifest),
            "{stderr} should name {manifest}"
        );
    }
}

#[test]
fn unknown_labels_and_missing_files_are_listed_by_line() {
    let tmp = tempfile::tempdir().unwrap();
    write_sine(&tmp.path().join("good.wav"), 16000, 0.5);
    write_sine(&tmp.path().join("odd.wav"), 16000, 0.5);
    let manifest = write(
        tmp.path(),
        "m.csv",
        "path,label,split\ngood.wav,Speech,train\nodd.wav,Bird,train\ngone.wav,Music,val\n",
    );
    let config = write(
        tmp.path(),
        "c.toml",
        "[data]\nclasses = [\"Speech\", \"Music\"]\n",
    );
    let report = soundclass_json(
        &["data", "validate", &manifest, "--config", &config, "--json"],
        1,
    );
    let bad = report["bad"].as_array().unwrap();
    let find = |name: &str| {
        bad.iter()
            .find(|b| b["path"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("{name} not listed: {report}"))
    };
    let odd = find("odd.wav");
    assert_eq!(odd["problem"], "label");
    let detail = odd["detail"].as_str().unwrap();
    assert!(
        detail.contains("`Bird` is not in data.classes") && detail.contains("manifest line 3"),
        "{detail}"
    );
    let gone = find("gone.wav");
    assert_eq!(gone["problem"], "missing");
    assert!(
        gone["detail"].as_str().unwrap().contains("manifest line 4"),
        "{gone}"
    );
    assert_eq!(report["ok"], 1);
}

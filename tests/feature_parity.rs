//! Hand-made features against librosa's (reference files from
//! scripts/make_reference.py), every frame: MFCC within 1e-3 of the MFCC
//! range; spectral statistics, ZCR, RMS, chroma, contrast and onset strength
//! within 1e-3 of each row's largest magnitude; the estimated tuning exactly
//! (one 0.01 histogram bin); tempo within 1 BPM of librosa's on click tracks
//! and of the true tempo.

mod common;

use common::repo_root;
use soundclass::features::{feature_names, FeatureExtractor};
use soundclass::npy::read_npy;

fn max_abs_error(ours: impl IntoIterator<Item = f64>, reference: &[f64]) -> f64 {
    ours.into_iter()
        .zip(reference)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}

#[test]
fn frame_features_match_librosa() {
    let dir = repo_root().join("tests/data/reference");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    let cases = index["features"]
        .as_array()
        .expect("features in reference.json");
    assert_eq!(cases.len(), 6);
    let extractor = FeatureExtractor::new(22050);
    let mut clear_beat_cases = 0;
    for case in cases {
        let name = case["signal"].as_str().unwrap();
        let signal: Vec<f32> = read_npy(&dir.join(name))
            .unwrap()
            .data
            .iter()
            .map(|&v| v as f32)
            .collect();
        let reference = read_npy(&dir.join(case["file"].as_str().unwrap())).unwrap();
        let names: Vec<&str> = case["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        let frames = reference.shape[1];
        let row = |row_name: &str| {
            let i = names.iter().position(|n| *n == row_name).unwrap();
            &reference.data[i * frames..(i + 1) * frames]
        };
        let ours = extractor.frame_features(&signal).unwrap();
        assert_eq!(ours.frames, frames, "{name}");

        let (lo, hi) = (1..=20)
            .flat_map(|k| row(&format!("mfcc{k:02}")).iter().cloned())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
        let mfcc_range = hi - lo;
        for (k, values) in ours.mfcc.iter().enumerate() {
            let err = max_abs_error(
                values.iter().map(|&v| v as f64),
                row(&format!("mfcc{:02}", k + 1)),
            );
            assert!(
                err <= 1e-3 * mfcc_range,
                "{name} mfcc{}: {err} vs range {mfcc_range}",
                k + 1
            );
        }

        let expected_tuning = case["tuning"].as_f64().unwrap();
        assert!(
            (ours.tuning - expected_tuning).abs() < 1e-9,
            "{name}: tuning {} vs librosa {expected_tuning}",
            ours.tuning
        );

        let mut rows: Vec<(String, Vec<f64>)> = vec![
            ("spectral_centroid".into(), to_f64(&ours.centroid)),
            ("spectral_bandwidth".into(), to_f64(&ours.bandwidth)),
            ("spectral_rolloff".into(), to_f64(&ours.rolloff)),
            ("spectral_flatness".into(), to_f64(&ours.flatness)),
            ("zcr".into(), to_f64(&ours.zcr)),
            ("rms".into(), to_f64(&ours.rms)),
            ("onset_strength".into(), ours.onset.clone()),
        ];
        for (k, values) in ours.chroma.iter().enumerate() {
            rows.push((format!("chroma{:02}", k + 1), to_f64(values)));
        }
        for (k, values) in ours.contrast.iter().enumerate() {
            rows.push((format!("spectral_contrast{:02}", k + 1), to_f64(values)));
        }
        for (row_name, values) in rows {
            let expected = row(&row_name);
            let scale = expected
                .iter()
                .fold(0.0f64, |m, v| m.max(v.abs()))
                .max(1e-12);
            let err = max_abs_error(values, expected);
            assert!(
                err <= 1e-3 * scale,
                "{name} {row_name}: error {err} vs scale {scale}"
            );
        }

        let librosa_tempo = case["tempo"].as_f64().unwrap();
        if let Some(true_bpm) = case["clear_beat_bpm"].as_f64() {
            clear_beat_cases += 1;
            assert!(
                (ours.tempo - librosa_tempo).abs() <= 1.0,
                "{name}: tempo {} vs librosa {librosa_tempo}",
                ours.tempo
            );
            assert!(
                (ours.tempo - true_bpm).abs() <= 1.0,
                "{name}: tempo {} vs true {true_bpm}",
                ours.tempo
            );
        }
    }
    assert_eq!(clear_beat_cases, 2);
}

fn to_f64(values: &[f32]) -> Vec<f64> {
    values.iter().map(|&v| v as f64).collect()
}

#[test]
fn summary_columns_are_stable() {
    let names = feature_names();
    assert_eq!(names.len(), 84);
    assert_eq!(names[0], "mfcc01_mean");
    assert_eq!(names[40], "chroma01_mean");
    assert_eq!(names[83], "tempo");
    let extractor = FeatureExtractor::new(22050);
    let y: Vec<f32> = (0..22050)
        .map(|n| (n as f32 * 0.0625).sin() * 0.3)
        .collect();
    let summary = extractor.frame_features(&y).unwrap().summary();
    let summary_names: Vec<String> = summary.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(summary_names, names);
    assert!(summary.iter().all(|(_, v)| v.is_finite()));
}

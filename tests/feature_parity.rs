//! Hand-made features against librosa's (reference files from
//! scripts/make_reference.py): MFCC within 1e-3 of the MFCC range; spectral
//! stats, ZCR and RMS within 1e-3 of each row's largest value, every frame.

mod common;

use common::repo_root;
use soundclass::features::FeatureExtractor;
use soundclass::npy::read_npy;

#[test]
fn frame_features_match_librosa() {
    let dir = repo_root().join("tests/data/reference");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    let cases = index["features"]
        .as_array()
        .expect("features in reference.json");
    assert_eq!(cases.len(), 4);
    let extractor = FeatureExtractor::new(22050);
    for case in cases {
        let signal: Vec<f32> = read_npy(&dir.join(case["signal"].as_str().unwrap()))
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
        let row = |i: usize| &reference.data[i * frames..(i + 1) * frames];
        let ours = extractor.frame_features(&signal).unwrap();
        assert_eq!(ours.frames, frames, "{}", case["signal"]);
        let (lo, hi) = (0..20)
            .flat_map(|k| row(k).iter().cloned())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
        let mfcc_range = hi - lo;
        for (k, values) in ours.mfcc.iter().enumerate() {
            let err = values
                .iter()
                .zip(row(k))
                .map(|(a, b)| (*a as f64 - b).abs())
                .fold(0.0, f64::max);
            assert!(
                err <= 1e-3 * mfcc_range,
                "{} {}: {err} vs range {mfcc_range}",
                case["signal"],
                names[k]
            );
        }
        for (offset, values) in [
            &ours.centroid,
            &ours.bandwidth,
            &ours.rolloff,
            &ours.flatness,
            &ours.zcr,
            &ours.rms,
        ]
        .into_iter()
        .enumerate()
        {
            let i = 20 + offset;
            let scale = row(i).iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-12);
            let err = values
                .iter()
                .zip(row(i))
                .map(|(a, b)| (*a as f64 - b).abs())
                .fold(0.0, f64::max);
            assert!(
                err <= 1e-3 * scale,
                "{} {}: error {err} vs scale {scale}",
                case["signal"],
                names[i]
            );
        }
    }
}

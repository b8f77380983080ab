//! `soundclass spectrogram` end to end: one `.npy` (and PNG) per clip, bad
//! clips reported and skipped, CPU and GPU (lavapipe) outputs agreeing.

mod common;

use common::*;
use soundclass::data::Manifest;
use soundclass::npy::read_npy;

/// A manifest of the first `n` demo clips plus one corrupt clip, with two
/// clips sharing a file name.
fn small_manifest(dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    let demo = Manifest::load(&repo_root().join("data/demo/manifest.csv")).unwrap();
    let mut csv = String::from("path,label,split\n");
    for clip in demo.clips.iter().take(n) {
        csv.push_str(&format!(
            "{},{},{}\n",
            demo.resolve(clip).display(),
            clip.label,
            clip.split
        ));
    }
    let twin = dir.join("twin");
    std::fs::create_dir_all(&twin).unwrap();
    let first = demo.resolve(&demo.clips[0]);
    std::fs::copy(&first, twin.join(first.file_name().unwrap())).unwrap();
    csv.push_str(&format!(
        "twin/{},{},train\n",
        first.file_name().unwrap().to_string_lossy(),
        demo.clips[0].label
    ));
    std::fs::write(dir.join("broken.wav"), b"RIFF\x10\x00\x00\x00WAVEjunk").unwrap();
    csv.push_str("broken.wav,Speech,train\n");
    let path = dir.join("m.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

#[test]
fn writes_npy_and_png_per_clip_and_skips_bad_ones() {
    let work = tempfile::tempdir().unwrap();
    let manifest = small_manifest(work.path(), 6);
    let out_cpu = work.path().join("cpu");
    let report = soundclass_json(
        &[
            "spectrogram",
            "--manifest",
            manifest.to_str().unwrap(),
            "--out",
            out_cpu.to_str().unwrap(),
            "--config",
            repo_root()
                .join("configs/quickstart.toml")
                .to_str()
                .unwrap(),
            "--png",
            "--json",
        ],
        0,
    );
    assert_eq!(report["written"], 7);
    let skipped = report["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0]["path"].as_str().unwrap().ends_with("broken.wav"));
    let npys: Vec<_> = std::fs::read_dir(&out_cpu)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "npy"))
        .collect();
    assert_eq!(npys.len(), 7);
    for npy in &npys {
        let array = read_npy(npy).unwrap();
        // quickstart: 3 s at 22050 Hz, hop 512, centred -> 130 frames of 64 mels.
        assert_eq!(array.shape, vec![64, 130], "{}", npy.display());
        let peak = array.data.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let floor = array.data.iter().cloned().fold(f64::INFINITY, f64::min);
        assert!(peak - floor <= 80.0 + 1e-3, "top_db floor");
        let png = npy.with_extension("png");
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[1..4], b"PNG", "{}", png.display());
    }
    let index = std::fs::read_to_string(out_cpu.join("index.csv")).unwrap();
    assert_eq!(index.lines().count(), 8);
    let stem = std::path::Path::new(index.lines().nth(1).unwrap().split(',').nth(3).unwrap())
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        out_cpu.join(format!("{stem}-2.npy")).is_file(),
        "duplicate names are disambiguated"
    );

    let out_gpu = work.path().join("gpu");
    soundclass_json(
        &[
            "spectrogram",
            "--manifest",
            manifest.to_str().unwrap(),
            "--out",
            out_gpu.to_str().unwrap(),
            "--config",
            repo_root()
                .join("configs/quickstart.toml")
                .to_str()
                .unwrap(),
            "--device",
            "vulkan",
            "--json",
        ],
        0,
    );
    for npy in &npys {
        let cpu = read_npy(npy).unwrap();
        let gpu = read_npy(&out_gpu.join(npy.file_name().unwrap())).unwrap();
        let err = cpu
            .data
            .iter()
            .zip(&gpu.data)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(err < 0.01, "{}: GPU vs CPU {err} dB", npy.display());
    }
}

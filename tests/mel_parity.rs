//! Log-Mel parity with librosa on the reference files that
//! `scripts/make_reference.py` writes into tests/data/reference/.
//! Bounds (issue "Log-Mel spectrograms"): filterbank max abs error <= 1e-6;
//! power mel max abs error <= 1e-4 x the reference maximum on every frame;
//! dB within 0.01 dB wherever the reference is above its top_db floor.

mod common;

use std::path::PathBuf;

use common::repo_root;
use serde_json::Value;
use soundclass::config::{MelNorm, MelScale, PadMode, SpectrogramConfig, SpectrogramPreset};
use soundclass::dsp::{mel_filterbank, MelBankSpec, MelSpectrogram, Spectrogram};
use soundclass::npy::{read_npy, NpyArray};

fn reference_dir() -> PathBuf {
    repo_root().join("tests/data/reference")
}

fn index() -> Value {
    let text =
        std::fs::read_to_string(reference_dir().join("reference.json")).expect("reference.json");
    serde_json::from_str(&text).unwrap()
}

fn load(name: &str) -> NpyArray {
    read_npy(&reference_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn scale(case: &Value) -> MelScale {
    if case["htk"].as_bool().unwrap() {
        MelScale::Htk
    } else {
        MelScale::Slaney
    }
}

fn norm(case: &Value) -> MelNorm {
    if case["norm"].is_null() {
        MelNorm::None
    } else {
        MelNorm::Slaney
    }
}

#[test]
fn filterbanks_match_librosa() {
    let index = index();
    let banks = index["filterbanks"].as_array().unwrap();
    assert!(banks.len() >= 3);
    for case in banks {
        let spec = MelBankSpec {
            sample_rate: case["sr"].as_u64().unwrap() as u32,
            n_fft: case["n_fft"].as_u64().unwrap() as usize,
            n_mels: case["n_mels"].as_u64().unwrap() as usize,
            fmin: case["fmin"].as_f64().unwrap(),
            fmax: case["fmax"].as_f64(),
            scale: scale(case),
            norm: norm(case),
        };
        let ours = mel_filterbank(&spec);
        let reference = load(case["file"].as_str().unwrap());
        assert_eq!(reference.shape, vec![spec.n_mels, 1 + spec.n_fft / 2]);
        let err = ours
            .iter()
            .zip(&reference.data)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(err <= 1e-6, "{}: max abs error {err:e}", case["name"]);
    }
}

/// Our config for a reference case.
pub fn case_config(case: &Value) -> (SpectrogramConfig, u32) {
    let config = SpectrogramConfig {
        preset: SpectrogramPreset::Custom,
        n_fft: case["n_fft"].as_u64().unwrap() as usize,
        hop_length: case["hop_length"].as_u64().unwrap() as usize,
        win_length: case["win_length"].as_u64().unwrap() as usize,
        n_mels: case["n_mels"].as_u64().unwrap() as usize,
        fmin: case["fmin"].as_f64().unwrap(),
        fmax: case["fmax"].as_f64(),
        mel_scale: scale(case),
        mel_norm: norm(case),
        center: case["center"].as_bool().unwrap(),
        pad_mode: if case["pad_mode"] == "reflect" {
            PadMode::Reflect
        } else {
            PadMode::Constant
        },
        power: case["power"].as_f64().unwrap(),
        to_db: true,
        db_ref: case["ref"].as_f64(),
        amin: case["amin"].as_f64().unwrap(),
        top_db: case["top_db"].as_f64(),
    };
    (config, case["sr"].as_u64().unwrap() as u32)
}

/// Check `mel` and `db` against a case's reference files; returns the
/// worst (power relative, dB) errors.
pub fn check_case(case: &Value, mel: &Spectrogram, db: &Spectrogram) -> (f64, f64) {
    let what = format!("{} {} {}", case["signal"], case["preset"], case["pad_mode"]);
    let mel_ref = load(case["mel_file"].as_str().unwrap());
    let db_ref = load(case["db_file"].as_str().unwrap());
    assert_eq!(mel_ref.shape, vec![mel.n_mels, mel.frames], "{what}: shape");
    let peak = mel_ref.data.iter().cloned().fold(0.0, f64::max);
    let mel_err = mel
        .data
        .iter()
        .zip(&mel_ref.data)
        .map(|(a, b)| (*a as f64 - b).abs())
        .fold(0.0, f64::max);
    assert!(
        mel_err <= 1e-4 * peak,
        "{what}: power mel error {mel_err:e} vs peak {peak:e}"
    );
    let top_db = case["top_db"].as_f64().unwrap();
    let db_peak = db_ref
        .data
        .iter()
        .cloned()
        .fold(f64::NEG_INFINITY, f64::max);
    let floor = db_peak - top_db;
    let mut db_err = 0.0f64;
    for (a, b) in db.data.iter().zip(&db_ref.data) {
        if *b > floor + 1e-9 {
            db_err = db_err.max((*a as f64 - b).abs());
        }
    }
    assert!(db_err <= 0.01, "{what}: dB error {db_err}");
    (mel_err / peak.max(f64::MIN_POSITIVE), db_err)
}

/// The PANNs-preset case on the demo clip (the first of its pad modes).
fn panns_demo_case() -> Value {
    index()["spectrograms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["preset"] == "panns" && c["signal"].as_str().unwrap().contains("demo"))
        .unwrap()
        .clone()
}

pub fn signal(case: &Value) -> Vec<f32> {
    load(case["signal"].as_str().unwrap())
        .data
        .iter()
        .map(|&v| v as f32)
        .collect()
}

#[test]
fn cpu_mel_and_db_match_librosa() {
    let index = index();
    let cases = index["spectrograms"].as_array().unwrap();
    assert!(cases.len() >= 20, "{} cases", cases.len());
    let mut pads = std::collections::HashSet::new();
    let mut worst = (0.0f64, 0.0f64);
    for case in cases {
        let (config, sr) = case_config(case);
        let engine = MelSpectrogram::new(&config, sr);
        let y = signal(case);
        let mel = engine.mel(&y).unwrap();
        let db = engine.compute(&y).unwrap();
        let (p, d) = check_case(case, &mel, &db);
        worst = (worst.0.max(p), worst.1.max(d));
        pads.insert(case["pad_mode"].as_str().unwrap().to_string());
    }
    eprintln!(
        "CPU vs librosa, worst over {} cases: power {:.2e} of peak, {:.2e} dB",
        cases.len(),
        worst.0,
        worst.1
    );
    assert!(pads.contains("reflect") && pads.contains("constant"));
}

/// The WGSL kernels on Burn's wgpu device (lavapipe in CI) meet the same
/// bounds against librosa, for the radix-2 FFT and the direct-DFT fallback.
#[test]
fn gpu_kernels_match_librosa() {
    let device = soundclass::gpu::wgpu_device(soundclass::gpu::GpuApi::Vulkan)
        .expect("a Vulkan device (lavapipe in CI)");
    let index = index();
    let mut kernels = std::collections::HashSet::new();
    let mut worst = (0.0f64, 0.0f64);
    for case in index["spectrograms"].as_array().unwrap() {
        let (config, sr) = case_config(case);
        let y = signal(case);
        let mut db_config = config.clone();
        db_config.to_db = true;
        let mut power_config = config.clone();
        power_config.to_db = false;
        let power = soundclass::gpu::GpuMel::new(&power_config, sr, &device).unwrap();
        let db = soundclass::gpu::GpuMel::new(&db_config, sr, &device).unwrap();
        kernels.insert(power.spectrum_kernel());
        let mel = power
            .compute_host(std::slice::from_ref(&y))
            .unwrap()
            .remove(0);
        let log = db.compute_host(std::slice::from_ref(&y)).unwrap().remove(0);
        let (p, d) = check_case(case, &mel, &log);
        worst = (worst.0.max(p), worst.1.max(d));
    }
    eprintln!(
        "GPU vs librosa, worst: power {:.2e} of peak, {:.2e} dB",
        worst.0, worst.1
    );
    assert!(
        kernels.contains("radix-2 FFT") && kernels.contains("direct DFT"),
        "{kernels:?}"
    );
}

/// A batch of clips gives the same spectrograms as one clip at a time, and
/// the GPU agrees with the CPU path on a real clip.
#[test]
fn gpu_batches_match_cpu() {
    let device = soundclass::gpu::wgpu_device(soundclass::gpu::GpuApi::Vulkan).unwrap();
    let case = &panns_demo_case();
    let (config, sr) = case_config(case);
    let y = signal(case);
    let clips: Vec<Vec<f32>> = (0..5)
        .map(|k| y.iter().map(|v| v * (1.0 + k as f32 * 0.25)).collect())
        .collect();
    let gpu = soundclass::gpu::GpuMel::new(&config, sr, &device).unwrap();
    let batch = gpu.compute_host(&clips).unwrap();
    let cpu = MelSpectrogram::new(&config, sr);
    for (clip, spec) in clips.iter().zip(&batch) {
        let reference = cpu.compute(clip).unwrap();
        assert_eq!(
            (spec.n_mels, spec.frames),
            (reference.n_mels, reference.frames)
        );
        let err = spec
            .data
            .iter()
            .zip(&reference.data)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 0.01, "GPU vs CPU: {err} dB");
    }
}

/// Cross-check against Burn's own `burn::signal` STFT with tensor ops (the
/// PANNs preset: reflect padding, which is what burn::signal implements).
#[test]
fn gpu_kernels_agree_with_burn_signal() {
    use burn::tensor::{Tensor, TensorData};
    let device = soundclass::gpu::wgpu_device(soundclass::gpu::GpuApi::Vulkan).unwrap();
    let config = soundclass::Config::load(None, &["spectrogram.preset=panns".into()]).unwrap();
    let index = index();
    let case = index["spectrograms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["preset"] == "panns"
                && c["pad_mode"] == "reflect"
                && c["signal"].as_str().unwrap().contains("demo")
        })
        .unwrap();
    let y = signal(case);
    let len = y.len();
    let burn_db = soundclass::bench::burn_signal_mel(
        &config,
        Tensor::<2>::from_data(TensorData::new(y.clone(), [1, len]), &device),
    );
    let [_, frames, n_mels] = burn_db.dims();
    let burn_db: Vec<f32> = burn_db.into_data().try_to_vec::<f32>().unwrap();
    let ours = soundclass::gpu::GpuMel::new(&config.spectrogram, 32000, &device)
        .unwrap()
        .compute_host(&[y])
        .unwrap()
        .remove(0);
    assert_eq!((ours.n_mels, ours.frames), (n_mels, frames));
    let peak = ours.data.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let mut err = 0.0f32;
    for m in 0..n_mels {
        for t in 0..frames {
            let a = ours.get(m, t);
            if a > peak - 60.0 {
                err = err.max((a - burn_db[t * n_mels + m]).abs());
            }
        }
    }
    assert!(err < 0.05, "our kernels vs burn::signal: {err} dB");
}

/// `db_ref = "max"` (librosa's `ref=np.max`) on the CPU path and the WGSL
/// kernels: librosa's reference in dB minus its own peak (what `ref=np.max`
/// computes, floor included), and the same input at any recording level,
/// which is why a model is trained on it.
#[test]
fn db_ref_max_is_librosa_peak_reference_at_every_level() {
    let device = soundclass::gpu::wgpu_device(soundclass::gpu::GpuApi::Vulkan).unwrap();
    let case = &panns_demo_case();
    let (mut config, sr) = case_config(case);
    config.to_db = true;
    config.db_ref = None;
    let top_db = case["top_db"].as_f64().unwrap();
    let librosa_db = load(case["db_file"].as_str().unwrap());
    let peak = librosa_db
        .data
        .iter()
        .cloned()
        .fold(f64::NEG_INFINITY, f64::max);
    let expected: Vec<f64> = librosa_db.data.iter().map(|v| v - peak).collect();
    let y = signal(case);
    let cpu = MelSpectrogram::new(&config, sr);
    let gpu = soundclass::gpu::GpuMel::new(&config, sr, &device).unwrap();
    for gain_db in [-30.0f32, 0.0, 9.5] {
        let gain = 10f32.powf(gain_db / 20.0);
        let clip: Vec<f32> = y.iter().map(|v| v * gain).collect();
        let on_gpu = gpu.compute_host(std::slice::from_ref(&clip)).unwrap();
        for (path, spec) in [
            ("CPU", cpu.compute(&clip).unwrap()),
            ("GPU", on_gpu[0].clone()),
        ] {
            let top = spec.data.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            assert!(top.abs() < 1e-4, "{path} at {gain_db} dB: peak {top}");
            let worst = spec
                .data
                .iter()
                .zip(&expected)
                .map(|(a, b)| (*a as f64 - b).abs())
                .fold(0.0f64, f64::max);
            assert!(
                worst <= 0.01,
                "{path} at {gain_db} dB: {worst} dB from librosa"
            );
            let floor = spec.data.iter().cloned().fold(f32::INFINITY, f32::min);
            assert!(
                (floor as f64 + top_db).abs() < 1e-3,
                "{path}: floor {floor}"
            );
        }
    }
}

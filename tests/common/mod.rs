//! Fixtures shared by the integration tests.
#![allow(dead_code)]

pub mod hostile;
pub mod http;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use soundclass::audio::{wav_bytes, write_wav, WavEncoding};
use soundclass::config::Config;

/// The checkout the tests read fixtures from: `SOUNDCLASS_REPO_ROOT` when
/// set (test executables shipped to another machine, where the build's
/// path does not exist; see scripts/device_check.sh), else the build's.
pub fn repo_root() -> PathBuf {
    match std::env::var_os("SOUNDCLASS_REPO_ROOT") {
        Some(root) => PathBuf::from(root),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")),
    }
}

pub fn sine(freq: f32, rate: u32, seconds: f32, amplitude: f32) -> Vec<f32> {
    let n = (rate as f32 * seconds).round() as usize;
    (0..n)
        .map(|i| amplitude * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin())
        .collect()
}

pub fn write_sine(path: &Path, rate: u32, seconds: f32) {
    write_wav(
        path,
        &sine(440.0, rate, seconds, 0.5),
        rate,
        1,
        WavEncoding::Pcm16,
    )
    .unwrap();
}

/// Two classes of 0.5-s tones at 16 kHz in `dir`, low (300 Hz and up) and
/// high (3 kHz and up): 12 train and 4 val clips, with `manifest.csv`,
/// whose path is returned. Separable in an epoch or two: the fixture of
/// the sweep, interrupt and Slurm tests.
pub fn two_tones(dir: &Path) -> PathBuf {
    let mut csv = String::from("path,label,split\n");
    for i in 0..16 {
        let (label, freq) = if i % 2 == 0 {
            ("low", 300.0)
        } else {
            ("high", 3000.0)
        };
        let name = format!("clip{i}.wav");
        let tone = sine(freq + 20.0 * i as f32, 16000, 0.5, 0.4);
        write_wav(&dir.join(&name), &tone, 16000, 1, WavEncoding::Pcm16).unwrap();
        let split = if i >= 12 { "val" } else { "train" };
        csv += &format!("{name},{label},{split}\n");
    }
    let manifest = dir.join("manifest.csv");
    std::fs::write(&manifest, csv).unwrap();
    manifest
}

/// The two-tone fixture in `dir` and a tiny base config for it with
/// `extra` keys, written to `dir/base.toml` (returned).
pub fn two_tone_base(dir: &Path, extra: &[&str]) -> PathBuf {
    let config = tiny_config(&two_tones(dir), &["low", "high"], extra);
    let base = dir.join("base.toml");
    std::fs::write(&base, config.to_toml_string().unwrap()).unwrap();
    base
}

/// Fail with the command's stderr unless it succeeded.
pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Poll `done` every 2 ms until it holds; fail after `timeout`.
pub fn wait_until(what: &str, timeout: std::time::Duration, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// SIGTERM to a child process of this test.
pub fn terminate(child: &std::process::Child) {
    // SAFETY: kill(2) on our own child, not yet reaped.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
}

/// Run soundclass with `args`; it must succeed.
pub fn soundclass_ok(args: &[String]) {
    let out = Command::new(env!("CARGO_BIN_EXE_soundclass"))
        .args(args)
        .output()
        .unwrap();
    assert_success(&out);
}

/// `sweep run SPEC` on the CPU into exactly `dir`, JSON output.
pub fn sweep_args(spec: &Path, dir: &Path) -> Vec<String> {
    [
        "sweep",
        "run",
        spec.to_str().unwrap(),
        "--device",
        "cpu",
        "--sweep-dir",
        dir.to_str().unwrap(),
        "--json",
    ]
    .map(String::from)
    .to_vec()
}

/// Run the `soundclass` binary.
pub fn soundclass(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_soundclass"))
        .args(args)
        .output()
        .expect("run soundclass")
}

/// Fraction of the signal's energy at `freq` (1.0 for a pure sine).
pub fn tone_purity(x: &[f32], rate: u32, freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / rate as f64;
    let (mut re, mut im, mut energy) = (0.0, 0.0, 0.0);
    for (n, &s) in x.iter().enumerate() {
        re += s as f64 * (w * n as f64).cos();
        im -= s as f64 * (w * n as f64).sin();
        energy += (s as f64).powi(2);
    }
    2.0 * (re * re + im * im) / (x.len() as f64 * energy)
}

/// The bad-input set: (file name, expected `data validate` problem or
/// `None` where the file must be handled as a good clip).
pub fn make_bad_inputs(dir: &Path) -> Vec<(PathBuf, Option<&'static str>)> {
    std::fs::create_dir_all(dir).unwrap();
    let mut out = Vec::new();
    let mut add = |name: &str, bytes: Vec<u8>, expected: Option<&'static str>| {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, bytes).unwrap();
        out.push((p, expected));
    };
    let tone = sine(440.0, 16000, 0.5, 0.5);
    add("zero_bytes.wav", Vec::new(), Some("empty"));
    add(
        "truncated_header.wav",
        wav_bytes(&tone, 16000, 1, WavEncoding::Pcm16)[..20].to_vec(),
        Some("unreadable"),
    );
    let mut huge = wav_bytes(&tone, 16000, 1, WavEncoding::Pcm16);
    huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    huge[40..44].copy_from_slice(&(u32::MAX - 64).to_le_bytes());
    add("claims_4gb.wav", huge, Some("truncated"));
    add(
        "text.wav",
        b"this is a text file, not audio\n".repeat(20),
        Some("unreadable"),
    );
    add(
        "garbage_frames.mp3",
        std::fs::read(repo_root().join("tests/data/bad/garbage_frames.mp3")).unwrap(),
        None,
    );
    add(
        "tiny_10ms.wav",
        wav_bytes(&sine(440.0, 16000, 0.01, 0.5), 16000, 1, WavEncoding::Pcm16),
        Some("too_short"),
    );
    add(
        "all_zero.wav",
        wav_bytes(&vec![0.0; 16000], 16000, 1, WavEncoding::Pcm16),
        Some("silent"),
    );
    let mut nan = sine(440.0, 16000, 0.5, 0.5);
    nan[100] = f32::NAN;
    nan[200] = f32::INFINITY;
    add(
        "nan_inf.wav",
        wav_bytes(&nan, 16000, 1, WavEncoding::Float32),
        Some("non_finite"),
    );
    let eight: Vec<f32> = sine(440.0, 16000, 0.5, 0.5)
        .iter()
        .flat_map(|&s| [s; 8])
        .collect();
    add(
        "eight_channels.wav",
        wav_bytes(&eight, 16000, 8, WavEncoding::Pcm16),
        None,
    );
    add(
        "rate_8k.wav",
        wav_bytes(&sine(440.0, 8000, 0.5, 0.5), 8000, 1, WavEncoding::Pcm16),
        None,
    );
    add(
        "rate_96k.wav",
        wav_bytes(&sine(440.0, 96000, 0.5, 0.5), 96000, 1, WavEncoding::Pcm16),
        None,
    );
    add(
        "dir with spaces/ünïcødé clip ñ.wav",
        wav_bytes(&tone, 16000, 1, WavEncoding::Pcm16),
        None,
    );
    out
}

/// Run `soundclass` with `--json` among `args`, require exit code `code`,
/// and parse what it printed.
pub fn soundclass_json(args: &[&str], code: i32) -> serde_json::Value {
    let out = soundclass(args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// A config small enough for command tests: 0.5-s clips at 16 kHz, a 24-bin
/// log-Mel, a 4-wide cnn4 for one epoch; `extra` are further `--set`s.
pub fn tiny_config(manifest: &Path, classes: &[&str], extra: &[&str]) -> Config {
    let quoted: Vec<String> = classes.iter().map(|c| format!("\"{c}\"")).collect();
    let mut sets: Vec<String> = vec![
        format!("data.manifest={}", manifest.display()),
        format!("data.classes=[{}]", quoted.join(", ")),
        "audio.sample_rate=16000".into(),
        "audio.clip_seconds=0.5".into(),
        "features.clip_seconds=0.5".into(),
        "features.sample_rate=16000".into(),
        "spectrogram.preset=custom".into(),
        "spectrogram.n_fft=256".into(),
        "spectrogram.hop_length=128".into(),
        "spectrogram.win_length=256".into(),
        "spectrogram.n_mels=24".into(),
        "spectrogram.fmax=8000.0".into(),
        "model.arch=cnn4".into(),
        "model.width=4".into(),
        "model.blocks=2".into(),
        "training.epochs=1".into(),
        "training.batch_size=8".into(),
    ];
    sets.extend(extra.iter().map(|s| s.to_string()));
    Config::load(None, &sets).unwrap()
}

//! Decoding of every supported format, resampling, window reads, and the
//! bad-input set through the library.

mod common;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use soundclass::audio::{decode_file, AudioConfig, AudioStream, ClipLoader, CropPolicy, PadPolicy};
use soundclass::Error;
use symphonia::core::io::MediaSource;

#[test]
fn decodes_every_format() {
    let dir = repo_root().join("tests/data/formats");
    for name in [
        "pcm_u8.wav",
        "pcm_s16.wav",
        "pcm_s24.wav",
        "pcm_s32.wav",
        "float32.wav",
        "tone.flac",
        "tone.ogg",
        "tone.mp3",
        "tone.m4a",
    ] {
        let d = decode_file(&dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(d.sample_rate, 22050, "{name}");
        // Lossy codecs add priming/padding frames; allow one codec frame.
        let seconds = d.duration_seconds();
        assert!((seconds - 0.5).abs() < 0.06, "{name}: {seconds} s");
        // Codec priming and padding sit at the edges: judge the middle.
        let n = d.samples.len();
        let purity = tone_purity(&d.samples[n / 5..4 * n / 5], d.sample_rate, 440.0);
        assert!(
            purity > 0.95,
            "{name}: 440 Hz holds only {purity:.3} of the energy"
        );
        let peak = d.samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!((peak - 0.5).abs() < 0.06, "{name}: peak {peak}");
    }
}

#[test]
fn loads_any_rate_and_channel_count_to_mono_target_rate() {
    let dir = tempfile::tempdir().unwrap();
    let cases = make_bad_inputs(dir.path());
    let loader = ClipLoader::new(AudioConfig {
        sample_rate: 22050,
        clip_seconds: 0.0,
        ..AudioConfig::default()
    });
    for name in [
        "eight_channels.wav",
        "rate_8k.wav",
        "rate_96k.wav",
        "dir with spaces/ünïcødé clip ñ.wav",
    ] {
        let (path, _) = cases.iter().find(|(p, _)| p.ends_with(name)).unwrap();
        let y = loader
            .load_full(path)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(y.len(), 11025, "{name}");
        assert!(tone_purity(&y, 22050, 440.0) > 0.99, "{name}");
    }
}

#[test]
fn bad_inputs_give_errors_that_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for (path, expected) in make_bad_inputs(dir.path()) {
        let result = decode_file(&path);
        match expected {
            Some("empty") | Some("unreadable") | Some("non_finite") | Some("truncated") => {
                let e = result.expect_err(&format!("{} must fail", path.display()));
                assert!(e.to_string().contains(&*path.to_string_lossy()), "{e}");
                assert!(
                    matches!(
                        e,
                        Error::Decode { .. }
                            | Error::EmptyFile { .. }
                            | Error::NonFiniteSample { .. }
                            | Error::Truncated { .. }
                    ),
                    "{e:?}"
                );
            }
            _ => {
                result.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
        }
    }
    let missing = decode_file(Path::new("/nonexistent/clip.wav")).unwrap_err();
    assert!(missing.to_string().contains("/nonexistent/clip.wav"));
}

#[test]
fn fixed_length_clips_crop_and_loop() {
    let dir = tempfile::tempdir().unwrap();
    let long = dir.path().join("long.wav");
    let short = dir.path().join("short.wav");
    write_sine(&long, 16000, 30.0);
    write_sine(&short, 16000, 0.7);
    let loader = ClipLoader::new(AudioConfig {
        sample_rate: 22050,
        clip_seconds: 2.0,
        crop: CropPolicy::Random,
        pad: PadPolicy::Loop,
    });
    let a = loader
        .load(&long, &mut ChaCha8Rng::seed_from_u64(1))
        .unwrap();
    let b = loader
        .load(&long, &mut ChaCha8Rng::seed_from_u64(1))
        .unwrap();
    assert_eq!(a.len(), 44100);
    assert_eq!(a, b, "same seed, same crop");
    assert!(tone_purity(&a, 22050, 440.0) > 0.99);
    let s = loader
        .load(&short, &mut ChaCha8Rng::seed_from_u64(1))
        .unwrap();
    assert_eq!(s.len(), 44100);
    // Loop padding: no silent tail.
    assert!(s[40000..].iter().any(|x| x.abs() > 0.1));
}

/// A file that counts the bytes read through it.
struct CountingFile {
    file: File,
    len: u64,
    read: Arc<AtomicU64>,
}

impl Read for CountingFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl Seek for CountingFile {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.file.seek(pos)
    }
}

impl MediaSource for CountingFile {
    fn is_seekable(&self) -> bool {
        true
    }
    fn byte_len(&self) -> Option<u64> {
        Some(self.len)
    }
}

#[test]
fn window_read_of_long_file_reads_a_small_part() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ten_minutes.wav");
    let rate = 16000;
    // A ramp that encodes the sample index, so the window's position can be checked.
    let period = 16000usize;
    let samples: Vec<f32> = (0..rate as usize * 600)
        .map(|i| (i % period) as f32 / period as f32 - 0.5)
        .collect();
    soundclass::audio::write_wav(
        &path,
        &samples,
        rate,
        1,
        soundclass::audio::WavEncoding::Pcm16,
    )
    .unwrap();
    let file = File::open(&path).unwrap();
    let len = file.metadata().unwrap().len();
    let read = Arc::new(AtomicU64::new(0));
    let source = CountingFile {
        file,
        len,
        read: read.clone(),
    };
    let stream = AudioStream::from_source(Box::new(source), &path, Some("wav")).unwrap();
    let start = 299.25;
    let window = stream.decode_window(start, 2.0).unwrap();
    assert_eq!(window.samples.len(), 2 * rate as usize);
    let first = (start * rate as f64) as usize;
    for (k, &s) in window.samples.iter().enumerate().step_by(997) {
        assert!(
            (s - samples[first + k]).abs() < 1e-3,
            "sample {k}: {s} vs {}",
            samples[first + k]
        );
    }
    let fraction = read.load(Ordering::Relaxed) as f64 / len as f64;
    assert!(fraction < 0.10, "read {:.1}% of the file", 100.0 * fraction);
}

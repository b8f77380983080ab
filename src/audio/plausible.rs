//! Audio that decodes but cannot be what a recording is: sample rates no
//! microphone chain produces, float samples far outside full scale (and
//! large enough to overflow the f32 power spectrum), constant signals, and
//! files shorter than their header promises. Each gets a reason a person
//! can act on, and every command treats it as a bad clip.

use std::ops::RangeInclusive;
use std::path::Path;

use crate::error::{Error, Result};

/// Sample rates accepted, in Hz.
pub const SAMPLE_RATES: RangeInclusive<u32> = 1000..=768_000;
/// Largest sample magnitude accepted: +18 dBFS. Integer formats stay within
/// 1; lossy codecs overshoot a little; more is a broken float file.
pub const MAX_PEAK: f32 = 8.0;
/// Peak-to-peak range (-80 dBFS) under which a non-zero signal is constant.
const CONSTANT_RANGE: f32 = 1e-4;

pub fn check_sample_rate(path: &Path, rate: u32) -> Result<()> {
    if SAMPLE_RATES.contains(&rate) {
        return Ok(());
    }
    Err(Error::Implausible {
        path: path.to_path_buf(),
        reason: format!(
            "sample rate {rate} Hz is outside {}–{} Hz",
            SAMPLE_RATES.start(),
            SAMPLE_RATES.end()
        ),
    })
}

/// Non-finite, far out of range, and constant signals.
pub fn check_samples(path: &Path, samples: &[f32], sample_rate: u32) -> Result<()> {
    let (min, max) = check_level(path, samples, sample_rate)?;
    check_constant(path, samples.len() as u64, min, max)
}

/// Non-finite and far out of range samples; returns the samples' range
/// (a piece of a stream is judged on its own, constancy on the whole).
pub fn check_level(path: &Path, samples: &[f32], sample_rate: u32) -> Result<(f32, f32)> {
    if let Some(i) = samples.iter().position(|s| !s.is_finite()) {
        return Err(Error::NonFiniteSample {
            path: path.to_path_buf(),
            seconds: i as f64 / f64::from(sample_rate),
        });
    }
    let (min, max) = samples
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &s| {
            (lo.min(s), hi.max(s))
        });
    let peak = min.abs().max(max.abs());
    if !samples.is_empty() && peak > MAX_PEAK {
        let dbfs = 20.0 * f64::from(peak).log10();
        // |x|² summed over an FFT frame overflows f32 (3.4e38) near 1e16.
        let reason = if peak > 1e15 {
            format!("samples reach {peak:.1e}, which overflows the f32 power spectrum")
        } else {
            format!("samples reach {peak:.3} ({dbfs:+.1} dBFS), far outside [-1, 1]")
        };
        return Err(Error::Implausible {
            path: path.to_path_buf(),
            reason,
        });
    }
    Ok((min, max))
}

/// A signal of `len` samples within `min..=max` that never moves: DC only.
pub fn check_constant(path: &Path, len: u64, min: f32, max: f32) -> Result<()> {
    let peak = min.abs().max(max.abs());
    if len > 1 && max - min < CONSTANT_RANGE && peak >= CONSTANT_RANGE {
        return Err(Error::Implausible {
            path: path.to_path_buf(),
            reason: format!(
                "constant signal (every sample is {:.4}): DC only, no sound",
                (min + max) / 2.0
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(samples: &[f32]) -> String {
        check_samples(Path::new("x.wav"), samples, 16000)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn recordings_pass() {
        let tone: Vec<f32> = (0..1600).map(|i| (i as f32 * 0.1).sin() * 0.9).collect();
        check_samples(Path::new("x"), &tone, 16000).unwrap();
        // Silence is for `data validate` to judge, not an impossibility.
        check_samples(Path::new("x"), &[0.0; 100], 16000).unwrap();
        check_samples(Path::new("x"), &[1.2, -1.1], 16000).unwrap();
        check_samples(Path::new("x"), &[], 16000).unwrap();
        check_sample_rate(Path::new("x"), 8000).unwrap();
    }

    #[test]
    fn implausible_audio_is_named() {
        assert!(reason(&[1e30; 10]).contains("overflows the f32 power spectrum"));
        assert!(reason(&[0.1, 20.0]).contains("+26.0 dBFS"));
        assert!(reason(&[0.5; 10]).contains("constant signal"));
        assert!(reason(&[0.0, f32::NAN]).contains("non-finite sample"));
        let rate = check_sample_rate(Path::new("x.wav"), 1)
            .unwrap_err()
            .to_string();
        assert_eq!(
            rate,
            "x.wav: implausible audio: sample rate 1 Hz is outside 1000–768000 Hz"
        );
    }
}

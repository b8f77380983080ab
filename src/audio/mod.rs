//! Audio input: decode any supported file to f32 mono, resample, and bring
//! it to a fixed length.

mod decode;
mod fit;
mod guard;
mod header;
mod lengths;
mod plausible;
mod resample;
mod stream;
mod wav;

use std::path::Path;

use rand::Rng;
use serde::{Deserialize, Serialize};

pub use decode::{
    decode_file, decode_window, is_audio_path, probe_info, AudioInfo, AudioStream, Decoded,
    AUDIO_EXTENSIONS,
};
pub use fit::{crop_offset, fit_length, CropPolicy, PadPolicy};
pub use guard::{guarded, DecodeBudget, MAX_FRAMES_PER_BYTE};
pub use header::{check_header, HeaderFacts, MAX_CHANNELS};
pub use plausible::{check_samples, MAX_PEAK, SAMPLE_RATES};
pub use resample::{resample, StreamResampler};
pub use stream::{AudioChunks, ResampledChunks};
pub use wav::{wav_bytes, write_wav, WavEncoding};

use crate::error::Result;

/// How clips are read: `[audio]` in the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AudioConfig {
    /// Rate every clip is resampled to, in Hz.
    pub sample_rate: u32,
    /// Fixed clip length in seconds; 0 keeps each clip's own length.
    pub clip_seconds: f64,
    /// Where to cut clips longer than `clip_seconds`.
    pub crop: CropPolicy,
    /// How to fill clips shorter than `clip_seconds`.
    pub pad: PadPolicy,
}

impl Default for AudioConfig {
    fn default() -> Self {
        Self {
            sample_rate: 22050,
            clip_seconds: 10.0,
            crop: CropPolicy::Random,
            pad: PadPolicy::Loop,
        }
    }
}

/// Loads clips as configured. Long files are read through a seeking window,
/// so a 2-s crop of a 30-minute track decodes about 2 s of audio.
#[derive(Debug, Clone)]
pub struct ClipLoader {
    config: AudioConfig,
}

impl ClipLoader {
    pub fn new(config: AudioConfig) -> Self {
        Self { config }
    }

    pub fn config(&self) -> &AudioConfig {
        &self.config
    }

    /// Target length in samples, when one is configured.
    pub fn target_len(&self) -> Option<usize> {
        let seconds = self.config.clip_seconds;
        (seconds > 0.0).then(|| (seconds * self.config.sample_rate as f64).round() as usize)
    }

    /// The whole file, mono, at the configured rate.
    pub fn load_full(&self, path: &Path) -> Result<Vec<f32>> {
        let decoded = decode_file(path)?;
        resample(
            &decoded.samples,
            decoded.sample_rate,
            self.config.sample_rate,
        )
    }

    /// One clip of the configured length; `rng` drives random crops.
    pub fn load<R: Rng + ?Sized>(&self, path: &Path, rng: &mut R) -> Result<Vec<f32>> {
        let Some(target) = self.target_len() else {
            return self.load_full(path);
        };
        let stream = AudioStream::open(path)?;
        let info = stream.info().clone();
        let source_rate = info.sample_rate as f64;
        let seconds = target as f64 / self.config.sample_rate as f64;
        // Decode a little more than needed so the resampler's edges fall
        // outside the kept part; headers can overstate length, so the window
        // read is only trusted when the file is clearly long enough.
        let margin = 0.05;
        let windowed = match info.frames {
            Some(frames) if frames as f64 / source_rate > seconds + 2.0 * margin => {
                let source_target = ((seconds + margin) * source_rate).ceil() as usize;
                let offset = crop_offset(frames as usize, source_target, self.config.crop, rng);
                let decoded =
                    stream.decode_window(offset as f64 / source_rate, seconds + margin)?;
                let enough = decoded.duration_seconds() >= seconds;
                enough.then_some(decoded)
            }
            _ => None,
        };
        let samples = match windowed {
            Some(decoded) => {
                let y = resample(
                    &decoded.samples,
                    decoded.sample_rate,
                    self.config.sample_rate,
                )?;
                return Ok(fit_length(
                    &y,
                    target,
                    CropPolicy::Start,
                    self.config.pad,
                    rng,
                ));
            }
            None => {
                let decoded = decode_file(path)?;
                resample(
                    &decoded.samples,
                    decoded.sample_rate,
                    self.config.sample_rate,
                )?
            }
        };
        Ok(fit_length(
            &samples,
            target,
            self.config.crop,
            self.config.pad,
            rng,
        ))
    }
}

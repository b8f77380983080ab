//! Log-Mel spectrograms on the CPU, numerically matching librosa.
//!
//! [`MelSpectrogram`] plans its FFT and filterbank once; [`MelSpectrogram::compute`]
//! then runs per clip and [`MelSpectrogram::compute_batch`] over many clips
//! on all cores.

pub mod augment;
mod image;
mod mel;
mod stft;

use rayon::prelude::*;

pub use image::{spectrogram_rgb, write_spectrogram_png};
pub use mel::{
    hz_to_mel, mel_filterbank, mel_to_hz, power_to_db, DbReference, MelBankSpec, SparseMelBank,
};
pub use stft::{hann_window, Stft};

use crate::config::SpectrogramConfig;
use crate::error::Result;

/// A `[n_mels, frames]` row-major spectrogram.
#[derive(Debug, Clone, PartialEq)]
pub struct Spectrogram {
    pub n_mels: usize,
    pub frames: usize,
    pub data: Vec<f32>,
}

impl Spectrogram {
    pub fn get(&self, mel: usize, frame: usize) -> f32 {
        self.data[mel * self.frames + frame]
    }
}

/// A planned log-Mel front end.
#[derive(Debug, Clone)]
pub struct MelSpectrogram {
    config: SpectrogramConfig,
    sample_rate: u32,
    stft: Stft,
    bank: SparseMelBank,
}

impl MelSpectrogram {
    pub fn new(config: &SpectrogramConfig, sample_rate: u32) -> Self {
        let stft = Stft::new(
            config.n_fft,
            config.hop_length,
            config.win_length,
            config.center,
            config.pad_mode,
        );
        let bank = SparseMelBank::new(&Self::bank_spec(config, sample_rate));
        Self {
            config: config.clone(),
            sample_rate,
            stft,
            bank,
        }
    }

    /// Filterbank parameters implied by a config.
    pub fn bank_spec(config: &SpectrogramConfig, sample_rate: u32) -> MelBankSpec {
        MelBankSpec {
            sample_rate,
            n_fft: config.n_fft,
            n_mels: config.n_mels,
            fmin: config.fmin,
            fmax: config.fmax,
            scale: config.mel_scale,
            norm: config.mel_norm,
        }
    }

    pub fn config(&self) -> &SpectrogramConfig {
        &self.config
    }

    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    pub fn stft(&self) -> &Stft {
        &self.stft
    }

    pub fn bank(&self) -> &SparseMelBank {
        &self.bank
    }

    /// Mel spectrogram (`|X|^power` projected on the bank), no dB.
    pub fn mel(&self, signal: &[f32]) -> Result<Spectrogram> {
        let n_mels = self.bank.n_mels;
        let frames = self.stft.n_frames(signal.len())?;
        let mut data = vec![0.0f32; n_mels * frames];
        let mut column = vec![0.0f32; n_mels];
        self.stft
            .for_each_frame(signal, self.config.power, |t, spectrum| {
                self.bank.project(spectrum, &mut column);
                for (m, &v) in column.iter().enumerate() {
                    data[m * frames + t] = v;
                }
            })?;
        Ok(Spectrogram {
            n_mels,
            frames,
            data,
        })
    }

    /// Mel spectrogram, in dB when the config says so.
    pub fn compute(&self, signal: &[f32]) -> Result<Spectrogram> {
        let mut spec = self.mel(signal)?;
        if self.config.to_db {
            self.apply_db(&mut spec.data);
        }
        Ok(spec)
    }

    /// `power_to_db` with the config's reference, amin and top_db.
    pub fn apply_db(&self, values: &mut [f32]) {
        let reference = match self.config.db_ref {
            Some(v) => DbReference::Value(v),
            None => DbReference::Max,
        };
        power_to_db(values, reference, self.config.amin, self.config.top_db);
    }

    /// [`compute`](Self::compute) for many clips in parallel.
    pub fn compute_batch(&self, signals: &[Vec<f32>]) -> Vec<Result<Spectrogram>> {
        signals.par_iter().map(|s| self.compute(s)).collect()
    }
}

//! Global tempo as librosa's `feature.rhythm.tempo` estimates it: an onset
//! strength envelope (positive log-Mel flux), its windowed autocorrelation
//! (the tempogram) averaged over time, and the lag that best agrees with a
//! log-normal prior around 120 BPM.

use std::sync::Arc;

use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

const START_BPM: f64 = 120.0;
const STD_BPM: f64 = 1.0;
const MAX_TEMPO: f64 = 320.0;
/// Autocorrelation window, in seconds.
const AC_SIZE: f64 = 8.0;

/// librosa's `onset_strength` from a dB Mel spectrogram `[n_mels, frames]`
/// (row-major): the mean over bands of the positive first difference,
/// delayed by `1 + n_fft / (2 hop)` frames so that it lines up with centred
/// STFT frames.
pub fn onset_strength(
    mel_db: &[f32],
    n_mels: usize,
    frames: usize,
    n_fft: usize,
    hop: usize,
) -> Vec<f64> {
    let delay = 1 + n_fft / (2 * hop);
    let mut envelope = vec![0.0f64; frames];
    for (t, value) in envelope.iter_mut().enumerate().skip(delay) {
        let (now, before) = (t + 1 - delay, t - delay);
        let flux: f64 = (0..n_mels)
            .map(|m| {
                (mel_db[m * frames + now] as f64 - mel_db[m * frames + before] as f64).max(0.0)
            })
            .sum();
        *value = flux / n_mels as f64;
    }
    envelope
}

/// Tempo estimation with its FFT plans built once.
#[derive(Clone)]
pub struct TempoEstimator {
    sample_rate: u32,
    hop: usize,
    win_length: usize,
    window: Vec<f64>,
    fft_len: usize,
    forward: Arc<dyn RealToComplex<f64>>,
    inverse: Arc<dyn ComplexToReal<f64>>,
}

impl std::fmt::Debug for TempoEstimator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TempoEstimator")
            .field("sample_rate", &self.sample_rate)
            .field("hop", &self.hop)
            .field("win_length", &self.win_length)
            .finish()
    }
}

impl TempoEstimator {
    pub fn new(sample_rate: u32, hop: usize) -> Self {
        // librosa: time_to_frames(8 s) = floor(floor(8 sr) / hop).
        let win_length = ((AC_SIZE * sample_rate as f64) as usize / hop).max(2);
        let window = (0..win_length)
            .map(|n| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / win_length as f64).cos())
            .collect();
        // Zero padding to at least 2 win - 1 keeps the autocorrelation
        // linear, not circular; a power of two is the fastest such length.
        let fft_len = (2 * win_length - 1).next_power_of_two();
        let mut planner = RealFftPlanner::<f64>::new();
        Self {
            sample_rate,
            hop,
            win_length,
            window,
            fft_len,
            forward: planner.plan_fft_forward(fft_len),
            inverse: planner.plan_fft_inverse(fft_len),
        }
    }

    /// The autocorrelation tempogram averaged over frames, one value per
    /// lag (`win_length` lags, each frame normalised to its largest value).
    pub fn mean_tempogram(&self, envelope: &[f64]) -> Vec<f64> {
        let n = envelope.len();
        let win = self.win_length;
        let half = win / 2;
        // numpy's linear_ramp padding towards zero on both sides.
        let mut padded = vec![0.0f64; n + 2 * half];
        if n > 0 {
            for i in 0..half {
                padded[i] = i as f64 * envelope[0] / half as f64;
                padded[half + n + i] = (half - 1 - i) as f64 * envelope[n - 1] / half as f64;
            }
        }
        padded[half..half + n].copy_from_slice(envelope);
        let mut mean = vec![0.0f64; win];
        let mut buffer = self.forward.make_input_vec();
        let mut spectrum = self.forward.make_output_vec();
        let mut autocorrelation = self.inverse.make_output_vec();
        for t in 0..n {
            buffer.fill(0.0);
            for (k, slot) in buffer.iter_mut().take(win).enumerate() {
                *slot = padded.get(t + k).copied().unwrap_or(0.0) * self.window[k];
            }
            if self.forward.process(&mut buffer, &mut spectrum).is_err() {
                continue;
            }
            for c in spectrum.iter_mut() {
                *c = realfft::num_complex::Complex::new(c.norm_sqr(), 0.0);
            }
            if self
                .inverse
                .process(&mut spectrum, &mut autocorrelation)
                .is_err()
            {
                continue;
            }
            let scale = 1.0 / self.fft_len as f64;
            let peak = autocorrelation[..win]
                .iter()
                .fold(0.0f64, |m, v| m.max((v * scale).abs()));
            let norm = if peak < f64::MIN_POSITIVE { 1.0 } else { peak };
            for (m, v) in mean.iter_mut().zip(&autocorrelation[..win]) {
                *m += v * scale / norm;
            }
        }
        if n > 0 {
            for m in mean.iter_mut() {
                *m /= n as f64;
            }
        }
        mean
    }

    /// Tempo in BPM of an onset envelope.
    pub fn tempo(&self, envelope: &[f64]) -> f64 {
        let tempogram = self.mean_tempogram(envelope);
        let bpm = |lag: usize| 60.0 * self.sample_rate as f64 / (self.hop as f64 * lag as f64);
        let mut best = (f64::NEG_INFINITY, 1usize);
        for (lag, &value) in tempogram.iter().enumerate().skip(1) {
            let tempo = bpm(lag);
            if tempo >= MAX_TEMPO {
                continue;
            }
            let prior = -0.5 * ((tempo.log2() - START_BPM.log2()) / STD_BPM).powi(2);
            let score = (1e6 * value).ln_1p() + prior;
            if score > best.0 {
                best = (score, lag);
            }
        }
        bpm(best.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn click_track_tempo() {
        // Onsets every 0.5 s at 22050 Hz / 512 hop: 120 BPM.
        let (sr, hop) = (22050u32, 512usize);
        let frames = 430;
        let period = 0.5 * sr as f64 / hop as f64;
        let envelope: Vec<f64> = (0..frames)
            .map(|t| {
                let phase = (t as f64 / period).fract();
                if phase < 1.0 / period {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        let tempo = TempoEstimator::new(sr, hop).tempo(&envelope);
        assert!((tempo - 120.0).abs() < 3.0, "{tempo}");
    }
}

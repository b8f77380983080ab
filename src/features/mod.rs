//! Hand-made clip features as librosa defines them, computed from one STFT
//! per clip: MFCC, chroma, spectral centroid, bandwidth, roll-off, flatness
//! and contrast, zero crossing rate and RMS (frame-level, summarised by mean
//! and standard deviation per clip) and the global tempo.

mod chroma;
mod contrast;
mod extract;
mod rhythm;

pub use chroma::{chroma_filterbank, PitchPeaks};
pub use contrast::ContrastBands;
pub use extract::{
    clip_group, extract_features, FeatureRow, FeatureTable, FeaturesReport, SkippedClip,
};
pub use rhythm::{onset_strength, TempoEstimator};

use crate::config::{FeatureLevel, FeaturesConfig, MelNorm, MelScale, PadMode};
use crate::dsp::{power_to_db, DbReference, MelBankSpec, SparseMelBank, Stft};
use crate::error::Result;

const N_CHROMA: usize = 12;

/// Frame-level features of one clip, each `frames` long (MFCC: `n_mfcc`
/// rows of `frames`).
#[derive(Debug, Clone, PartialEq)]
pub struct FrameFeatures {
    pub frames: usize,
    pub mfcc: Vec<Vec<f32>>,
    /// 12 pitch classes from C, each frame scaled to max 1.
    pub chroma: Vec<Vec<f32>>,
    pub centroid: Vec<f32>,
    pub bandwidth: Vec<f32>,
    pub rolloff: Vec<f32>,
    pub flatness: Vec<f32>,
    pub zcr: Vec<f32>,
    pub rms: Vec<f32>,
    /// Seven bands, in dB.
    pub contrast: Vec<Vec<f32>>,
    /// Onset strength per frame (its tempogram gives `tempo`).
    pub onset: Vec<f64>,
    /// Global tempo estimate in BPM.
    pub tempo: f64,
    /// Estimated deviation from A440 tuning, in fractions of a semitone,
    /// that the chroma filterbank was centred on.
    pub tuning: f64,
}

/// librosa's feature defaults: n_fft 2048, hop 512, centred frames with
/// zero padding, 128 Slaney mels, 20 MFCCs, roll-off at 85 %.
#[derive(Debug, Clone)]
pub struct FeatureExtractor {
    sample_rate: u32,
    n_fft: usize,
    hop_length: usize,
    n_mfcc: usize,
    roll_percent: f64,
    /// f64: bandwidth weights far bins by (f - centroid)^2, which would
    /// magnify f32 FFT rounding.
    stft: Stft<f64>,
    bank: SparseMelBank,
    /// DCT-II, orthonormal, `[n_mfcc, n_mels]`.
    dct: Vec<f32>,
    freqs: Vec<f64>,
    contrast: ContrastBands,
    tempo: TempoEstimator,
    /// Peak-normalise each clip before [`clip_features`](Self::clip_features).
    peak_normalize: bool,
}

impl FeatureExtractor {
    /// The extractor a `[features]` section describes.
    pub fn for_config(config: &FeaturesConfig) -> Self {
        Self {
            peak_normalize: config.level == FeatureLevel::Peak,
            ..Self::new(config.sample_rate)
        }
    }

    pub fn new(sample_rate: u32) -> Self {
        let (n_fft, hop_length, n_mels, n_mfcc) = (2048, 512, 128, 20);
        let bank = SparseMelBank::new(&MelBankSpec {
            sample_rate,
            n_fft,
            n_mels,
            fmin: 0.0,
            fmax: None,
            scale: MelScale::Slaney,
            norm: MelNorm::Slaney,
        });
        let mut dct = vec![0.0f32; n_mfcc * n_mels];
        for k in 0..n_mfcc {
            let scale = if k == 0 {
                (1.0 / n_mels as f64).sqrt()
            } else {
                (2.0 / n_mels as f64).sqrt()
            };
            for n in 0..n_mels {
                let angle =
                    std::f64::consts::PI * k as f64 * (2 * n + 1) as f64 / (2 * n_mels) as f64;
                dct[k * n_mels + n] = (scale * angle.cos()) as f32;
            }
        }
        let n_bins = 1 + n_fft / 2;
        let freqs = (0..n_bins)
            .map(|k| k as f64 * sample_rate as f64 / n_fft as f64)
            .collect();
        Self {
            sample_rate,
            n_fft,
            hop_length,
            n_mfcc,
            roll_percent: 0.85,
            stft: Stft::new(n_fft, hop_length, 0, true, PadMode::Constant),
            bank,
            dct,
            freqs,
            contrast: ContrastBands::new(sample_rate, n_fft),
            tempo: TempoEstimator::new(sample_rate, hop_length),
            peak_normalize: false,
        }
    }

    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// The clip-level feature values of `y` (in [`feature_names`] order);
    /// a failure is `path`'s decode error.
    pub fn clip_features(&self, y: &[f32], path: &std::path::Path) -> Result<Vec<f64>> {
        let normalized;
        let y = if self.peak_normalize {
            normalized = peak_normalized(y);
            &normalized[..]
        } else {
            y
        };
        Ok(self
            .frame_features(y)
            .map_err(|e| crate::error::Error::decode(path, e.to_string()))?
            .summary()
            .into_iter()
            .map(|(_, v)| v)
            .collect())
    }

    /// Frame-level features of `y` (mono, at [`sample_rate`](Self::sample_rate)).
    pub fn frame_features(&self, y: &[f32]) -> Result<FrameFeatures> {
        let frames = self.stft.n_frames(y.len())?;
        let n_mels = self.bank.n_mels;
        let n_bins = 1 + self.n_fft / 2;
        let n_bands = self.contrast.n_bands();
        let mut mel = vec![0.0f32; n_mels * frames];
        let mut column = vec![0.0f32; n_mels];
        let mut power32 = vec![0.0f32; n_bins];
        // Chroma needs the clip's tuning, known only after every frame.
        let mut spectrogram = vec![0.0f32; n_bins * frames];
        let mut peaks = PitchPeaks::default();
        let mut magnitude = vec![0.0f64; n_bins];
        let mut scratch = Vec::with_capacity(n_bins);
        let (mut band_valley, mut band_peak) = (vec![0.0f64; n_bands], vec![0.0f64; n_bands]);
        let mut valley = vec![0.0f32; n_bands * frames];
        let mut peak = vec![0.0f32; n_bands * frames];
        let mut out = FrameFeatures {
            frames,
            mfcc: vec![vec![0.0; frames]; self.n_mfcc],
            chroma: vec![vec![0.0; frames]; N_CHROMA],
            centroid: vec![0.0; frames],
            bandwidth: vec![0.0; frames],
            rolloff: vec![0.0; frames],
            flatness: vec![0.0; frames],
            zcr: Vec::new(),
            rms: Vec::new(),
            contrast: Vec::new(),
            onset: Vec::new(),
            tempo: 0.0,
            tuning: 0.0,
        };
        self.stft.for_each_frame(y, 2.0, |t, power| {
            for (p32, &p) in power32.iter_mut().zip(power) {
                *p32 = p as f32;
            }
            self.bank.project(&power32, &mut column);
            for (m, &v) in column.iter().enumerate() {
                mel[m * frames + t] = v;
            }
            spectrogram[t * n_bins..(t + 1) * n_bins].copy_from_slice(&power32);
            peaks.add_frame(power, self.sample_rate, self.n_fft);
            for (m, &p) in magnitude.iter_mut().zip(power) {
                *m = p.sqrt();
            }
            let (centroid, bandwidth, rolloff, flatness) = self.spectral_stats(&magnitude, power);
            out.centroid[t] = centroid;
            out.bandwidth[t] = bandwidth;
            out.rolloff[t] = rolloff;
            out.flatness[t] = flatness;
            self.contrast
                .frame(&magnitude, &mut scratch, &mut band_valley, &mut band_peak);
            for b in 0..n_bands {
                valley[b * frames + t] = band_valley[b] as f32;
                peak[b * frames + t] = band_peak[b] as f32;
            }
        })?;
        out.tuning = peaks.tuning(N_CHROMA);
        let filterbank = chroma_filterbank(self.sample_rate, self.n_fft, N_CHROMA, out.tuning);
        out.chroma = chroma::chroma_frames(&filterbank, N_CHROMA, &spectrogram, n_bins);
        drop(spectrogram);
        out.contrast = contrast::contrast_db(valley, peak)
            .chunks(frames.max(1))
            .map(<[f32]>::to_vec)
            .collect();
        // MFCC: DCT-II of the whole clip's power_to_db(mel) (ref 1, top_db 80).
        power_to_db(&mut mel, DbReference::Value(1.0), 1e-10, Some(80.0));
        // Frame by frame over a contiguous copy of the column.
        for t in 0..frames {
            for (m, c) in column.iter_mut().enumerate() {
                *c = mel[m * frames + t];
            }
            for (k, row) in out.mfcc.iter_mut().enumerate() {
                let basis = &self.dct[k * n_mels..(k + 1) * n_mels];
                row[t] = basis.iter().zip(&column).map(|(b, c)| b * c).sum();
            }
        }
        out.onset = onset_strength(&mel, n_mels, frames, self.n_fft, self.hop_length);
        out.tempo = self.tempo.tempo(&out.onset);
        out.zcr = self.zero_crossing_rate(y, frames);
        out.rms = self.rms(y, frames);
        Ok(out)
    }

    /// Centroid, bandwidth (p = 2), roll-off and flatness of one frame, from
    /// its power spectrum (librosa uses |X| for the first three and |X|^2
    /// for flatness).
    fn spectral_stats(&self, magnitude: &[f64], power: &[f64]) -> (f32, f32, f32, f32) {
        let total: f64 = magnitude.iter().sum();
        let (centroid, bandwidth) = if total > 0.0 {
            let c: f64 = magnitude
                .iter()
                .zip(&self.freqs)
                .map(|(m, f)| m * f)
                .sum::<f64>()
                / total;
            let b = magnitude
                .iter()
                .zip(&self.freqs)
                .map(|(m, f)| m * (f - c).powi(2))
                .sum::<f64>()
                / total;
            (c, b.sqrt())
        } else {
            (0.0, 0.0)
        };
        let threshold = self.roll_percent * total;
        let mut cumulative = 0.0;
        let mut rolloff = 0.0;
        for (m, f) in magnitude.iter().zip(&self.freqs) {
            cumulative += m;
            if cumulative >= threshold {
                rolloff = *f;
                break;
            }
        }
        let amin = 1e-10f64;
        let n = power.len() as f64;
        // The log of a product of 16 values (each in [1e-10, ~1e12], so the
        // product stays well inside f64's range) costs one ln instead of 16.
        let (mut log_sum, mut sum) = (0.0f64, 0.0f64);
        for chunk in power.chunks(16) {
            let mut product = 1.0f64;
            for &p in chunk {
                let v = p.max(amin);
                product *= v;
                sum += v;
            }
            log_sum += product.ln();
        }
        let flatness = (log_sum / n).exp() / (sum / n);
        (
            centroid as f32,
            bandwidth as f32,
            rolloff as f32,
            flatness as f32,
        )
    }

    /// librosa's `zero_crossing_rate`: frames of `n_fft` samples centred by
    /// edge padding; |x| <= 1e-10 counts as zero and zero as positive.
    /// Crossings are counted once per sample pair, then summed per frame
    /// from a prefix sum (frames overlap fourfold).
    fn zero_crossing_rate(&self, y: &[f32], frames: usize) -> Vec<f32> {
        let half = self.n_fft / 2;
        if y.is_empty() {
            return vec![0.0; frames];
        }
        let negative = |i: usize| -> bool {
            let v = y[i.saturating_sub(half).min(y.len() - 1)];
            v.abs() > 1e-10 && v < 0.0
        };
        let padded_len = (frames.saturating_sub(1)) * self.hop_length + self.n_fft;
        // prefix[j]: crossings between padded samples (i - 1, i) for i < j.
        let mut prefix = vec![0u32; padded_len + 1];
        let mut previous = negative(0);
        for j in 1..padded_len {
            let current = negative(j);
            prefix[j + 1] = prefix[j] + u32::from(current != previous);
            previous = current;
        }
        (0..frames)
            .map(|t| {
                let start = t * self.hop_length;
                // Pairs inside the frame: (start, start + 1) .. (end - 2, end - 1).
                let crossings = prefix[start + self.n_fft] - prefix[start + 1];
                crossings as f32 / self.n_fft as f32
            })
            .collect()
    }

    /// librosa's `rms` on the waveform: centred frames with zero padding,
    /// no window, sqrt(mean(x^2)), from a prefix sum of squares.
    fn rms(&self, y: &[f32], frames: usize) -> Vec<f32> {
        let half = (self.n_fft / 2) as isize;
        let mut prefix = Vec::with_capacity(y.len() + 1);
        prefix.push(0.0f64);
        let mut total = 0.0f64;
        for &v in y {
            total += (v as f64) * (v as f64);
            prefix.push(total);
        }
        (0..frames)
            .map(|t| {
                let start = (t * self.hop_length) as isize - half;
                let lo = start.clamp(0, y.len() as isize) as usize;
                let hi = (start + self.n_fft as isize).clamp(0, y.len() as isize) as usize;
                let energy = (prefix[hi] - prefix[lo]).max(0.0);
                (energy / self.n_fft as f64).sqrt() as f32
            })
            .collect()
    }
}

/// `y / max|y|`, librosa's `util.normalize` (`norm=inf`); silence stays
/// silence.
pub fn peak_normalized(y: &[f32]) -> Vec<f32> {
    let peak = y.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if peak > 0.0 {
        y.iter().map(|v| v / peak).collect()
    } else {
        y.to_vec()
    }
}

/// Mean and population standard deviation (numpy's `std`, ddof 0).
pub fn mean_std(values: &[f32]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = values
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean, var.sqrt())
}

impl FrameFeatures {
    /// Clip-level summary with stable column names (see [`feature_names`]).
    pub fn summary(&self) -> Vec<(String, f64)> {
        let mut out = Vec::with_capacity(feature_names().len());
        let mut push_mean_std = |name: String, values: &[f32]| {
            let (m, s) = mean_std(values);
            out.push((format!("{name}_mean"), m));
            out.push((format!("{name}_std"), s));
        };
        for (k, row) in self.mfcc.iter().enumerate() {
            push_mean_std(format!("mfcc{:02}", k + 1), row);
        }
        for (k, row) in self.chroma.iter().enumerate() {
            push_mean_std(format!("chroma{:02}", k + 1), row);
        }
        for (name, values) in [
            ("spectral_centroid", &self.centroid),
            ("spectral_bandwidth", &self.bandwidth),
            ("spectral_rolloff", &self.rolloff),
            ("spectral_flatness", &self.flatness),
        ] {
            push_mean_std(name.into(), values);
        }
        for (k, row) in self.contrast.iter().enumerate() {
            out.push((
                format!("spectral_contrast{:02}_mean", k + 1),
                mean_std(row).0,
            ));
        }
        for (name, values) in [("zcr", &self.zcr), ("rms", &self.rms)] {
            let (m, s) = mean_std(values);
            out.push((format!("{name}_mean"), m));
            out.push((format!("{name}_std"), s));
        }
        out.push(("tempo".into(), self.tempo));
        out
    }
}

/// The clip-level feature columns, in output order: 84 of them.
pub fn feature_names() -> Vec<String> {
    let mut names = Vec::with_capacity(84);
    let mean_std = |names: &mut Vec<String>, base: String| {
        names.push(format!("{base}_mean"));
        names.push(format!("{base}_std"));
    };
    for k in 1..=20 {
        mean_std(&mut names, format!("mfcc{k:02}"));
    }
    for k in 1..=N_CHROMA {
        mean_std(&mut names, format!("chroma{k:02}"));
    }
    for base in [
        "spectral_centroid",
        "spectral_bandwidth",
        "spectral_rolloff",
        "spectral_flatness",
    ] {
        mean_std(&mut names, base.into());
    }
    for k in 1..=7 {
        names.push(format!("spectral_contrast{k:02}_mean"));
    }
    for base in ["zcr", "rms"] {
        mean_std(&mut names, base.into());
    }
    names.push("tempo".into());
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A harmonic tone with a decaying envelope and a little noise, 2 s.
    fn clip(sample_rate: u32) -> Vec<f32> {
        let mut state = 12345u32;
        (0..2 * sample_rate as usize)
            .map(|i| {
                let t = i as f32 / sample_rate as f32;
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
                let tone = (2.0 * std::f32::consts::PI * 220.0 * t).sin()
                    + 0.5 * (2.0 * std::f32::consts::PI * 660.0 * t).sin();
                0.4 * (-1.5 * t).exp() * tone + 0.02 * noise
            })
            .collect()
    }

    #[test]
    fn peak_level_makes_features_independent_of_the_recording_level() {
        let config = FeaturesConfig {
            level: FeatureLevel::Peak,
            ..FeaturesConfig::default()
        };
        let y = clip(config.sample_rate);
        let quiet: Vec<f32> = y.iter().map(|v| v * 0.03).collect();
        let path = std::path::Path::new("synthetic.wav");
        let names = feature_names();
        let rms = names.iter().position(|n| n == "rms_mean").unwrap();

        let peak = FeatureExtractor::for_config(&config);
        let (a, b) = (
            peak.clip_features(&y, path).unwrap(),
            peak.clip_features(&quiet, path).unwrap(),
        );
        for ((name, a), b) in names.iter().zip(&a).zip(&b) {
            assert!(
                (a - b).abs() <= 1e-3 * a.abs().max(1e-2),
                "{name}: {a} at the recorded level, {b} 30 dB lower"
            );
        }
        // librosa.util.normalize: y / max|y|, so the peak is 1.
        let normalized = peak_normalized(&quiet);
        let top = normalized.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!((top - 1.0).abs() < 1e-6, "{top}");
        assert_eq!(peak_normalized(&[0.0; 4]), vec![0.0; 4]);

        let as_recorded = FeatureExtractor::new(config.sample_rate);
        let (a, b) = (
            as_recorded.clip_features(&y, path).unwrap(),
            as_recorded.clip_features(&quiet, path).unwrap(),
        );
        assert!(
            (a[rms] / b[rms] - 1.0 / 0.03).abs() < 0.1,
            "{} {}",
            a[rms],
            b[rms]
        );
    }
}

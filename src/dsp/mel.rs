//! Mel filterbanks and decibel conversion, as librosa defines them
//! (`librosa.filters.mel`, `librosa.power_to_db`).

use crate::config::{MelNorm, MelScale};

// Slaney's (auditory toolbox) scale: linear below 1 kHz, logarithmic above.
const SLANEY_F_SP: f64 = 200.0 / 3.0;
const SLANEY_MIN_LOG_HZ: f64 = 1000.0;
const SLANEY_MIN_LOG_MEL: f64 = SLANEY_MIN_LOG_HZ / SLANEY_F_SP;

fn slaney_logstep() -> f64 {
    6.4f64.ln() / 27.0
}

/// Hz to mel on the given scale (librosa's `hz_to_mel`).
pub fn hz_to_mel(hz: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 2595.0 * (1.0 + hz / 700.0).log10(),
        MelScale::Slaney => {
            if hz >= SLANEY_MIN_LOG_HZ {
                SLANEY_MIN_LOG_MEL + (hz / SLANEY_MIN_LOG_HZ).ln() / slaney_logstep()
            } else {
                hz / SLANEY_F_SP
            }
        }
    }
}

/// Mel to Hz on the given scale (librosa's `mel_to_hz`).
pub fn mel_to_hz(mel: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 700.0 * (10f64.powf(mel / 2595.0) - 1.0),
        MelScale::Slaney => {
            if mel >= SLANEY_MIN_LOG_MEL {
                SLANEY_MIN_LOG_HZ * (slaney_logstep() * (mel - SLANEY_MIN_LOG_MEL)).exp()
            } else {
                SLANEY_F_SP * mel
            }
        }
    }
}

/// Parameters of a mel filterbank.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MelBankSpec {
    pub sample_rate: u32,
    pub n_fft: usize,
    pub n_mels: usize,
    pub fmin: f64,
    /// `None` means Nyquist.
    pub fmax: Option<f64>,
    pub scale: MelScale,
    pub norm: MelNorm,
}

/// Dense filterbank, row-major `[n_mels, 1 + n_fft / 2]`, in f64.
pub fn mel_filterbank(spec: &MelBankSpec) -> Vec<f64> {
    let n_bins = 1 + spec.n_fft / 2;
    let fmax = spec.fmax.unwrap_or(spec.sample_rate as f64 / 2.0);
    let fft_freqs: Vec<f64> = (0..n_bins)
        .map(|k| k as f64 * (spec.sample_rate as f64 / 2.0) / (n_bins - 1) as f64)
        .collect();
    let (mel_lo, mel_hi) = (
        hz_to_mel(spec.fmin, spec.scale),
        hz_to_mel(fmax, spec.scale),
    );
    let points = spec.n_mels + 2;
    let mel_freqs: Vec<f64> = (0..points)
        .map(|i| {
            let mel = mel_lo + (mel_hi - mel_lo) * i as f64 / (points - 1) as f64;
            mel_to_hz(mel, spec.scale)
        })
        .collect();
    let mut weights = vec![0.0f64; spec.n_mels * n_bins];
    for m in 0..spec.n_mels {
        let (left, center, right) = (mel_freqs[m], mel_freqs[m + 1], mel_freqs[m + 2]);
        let enorm = match spec.norm {
            MelNorm::Slaney => 2.0 / (right - left),
            MelNorm::None => 1.0,
        };
        for (k, &f) in fft_freqs.iter().enumerate() {
            let lower = (f - left) / (center - left);
            let upper = (right - f) / (right - center);
            weights[m * n_bins + k] = lower.min(upper).max(0.0) * enorm;
        }
    }
    weights
}

/// A filterbank stored by its non-zero span per band: the projection then
/// touches only the bins under each triangle.
#[derive(Debug, Clone)]
pub struct SparseMelBank {
    pub n_mels: usize,
    pub n_bins: usize,
    /// First bin of each band.
    pub starts: Vec<usize>,
    /// Weights of each band, from its first bin on.
    pub weights: Vec<Vec<f32>>,
}

impl SparseMelBank {
    pub fn new(spec: &MelBankSpec) -> Self {
        let n_bins = 1 + spec.n_fft / 2;
        let dense = mel_filterbank(spec);
        let mut starts = Vec::with_capacity(spec.n_mels);
        let mut weights = Vec::with_capacity(spec.n_mels);
        for row in dense.chunks_exact(n_bins) {
            let first = row.iter().position(|&w| w != 0.0).unwrap_or(0);
            let last = row
                .iter()
                .rposition(|&w| w != 0.0)
                .map(|i| i + 1)
                .unwrap_or(first);
            starts.push(first);
            weights.push(row[first..last].iter().map(|&w| w as f32).collect());
        }
        Self {
            n_mels: spec.n_mels,
            n_bins,
            starts,
            weights,
        }
    }

    /// Dense row-major `[n_mels, n_bins]` f32 copy (for the GPU kernels).
    pub fn to_dense(&self) -> Vec<f32> {
        let mut out = vec![0.0f32; self.n_mels * self.n_bins];
        for (m, (start, w)) in self.starts.iter().zip(&self.weights).enumerate() {
            out[m * self.n_bins + start..m * self.n_bins + start + w.len()].copy_from_slice(w);
        }
        out
    }

    /// Project one power spectrum onto the bands.
    #[inline]
    pub fn project(&self, power: &[f32], out: &mut [f32]) {
        for ((o, &start), w) in out.iter_mut().zip(&self.starts).zip(&self.weights) {
            *o = w
                .iter()
                .zip(&power[start..start + w.len()])
                .map(|(a, b)| a * b)
                .sum();
        }
    }
}

/// Reference of [`power_to_db`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DbReference {
    Value(f64),
    Max,
}

/// librosa's `power_to_db` in place:
/// `10 log10(max(amin, S)) - 10 log10(max(amin, ref))`, floored at
/// `max - top_db` when `top_db` is set.
pub fn power_to_db(values: &mut [f32], reference: DbReference, amin: f64, top_db: Option<f64>) {
    let ref_value = match reference {
        DbReference::Value(v) => v.abs(),
        DbReference::Max => values.iter().fold(0.0f32, |m, &v| m.max(v)) as f64,
    };
    // f32 logarithms: rounding stays near 1e-6 dB, far inside any tolerance,
    // and the conversion is a quarter of the CPU front end's time in f64.
    let offset = (10.0 * ref_value.max(amin).log10()) as f32;
    let amin = amin as f32;
    let mut peak = f32::NEG_INFINITY;
    for v in values.iter_mut() {
        *v = 10.0 * v.max(amin).log10() - offset;
        peak = peak.max(*v);
    }
    if let Some(top) = top_db {
        let floor = peak - top as f32;
        for v in values.iter_mut() {
            *v = v.max(floor);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_invert() {
        for scale in [MelScale::Slaney, MelScale::Htk] {
            for hz in [0.0, 50.0, 999.0, 1000.0, 4000.0, 16000.0] {
                let back = mel_to_hz(hz_to_mel(hz, scale), scale);
                assert!(
                    (back - hz).abs() < 1e-9 * hz.max(1.0),
                    "{scale:?} {hz} -> {back}"
                );
            }
        }
        assert!((hz_to_mel(1000.0, MelScale::Slaney) - 15.0).abs() < 1e-12);
    }

    #[test]
    fn db_floor_and_reference() {
        let mut x = vec![1.0f32, 0.1, 1e-12, 0.0];
        power_to_db(&mut x, DbReference::Value(1.0), 1e-10, Some(80.0));
        assert_eq!(x[0], 0.0);
        assert!((x[1] + 10.0).abs() < 1e-5);
        assert_eq!(x[2], -80.0);
        let mut y = vec![4.0f32, 0.4];
        power_to_db(&mut y, DbReference::Max, 1e-10, None);
        assert!(y[0].abs() < 1e-6 && (y[1] + 10.0).abs() < 1e-5);
    }
}

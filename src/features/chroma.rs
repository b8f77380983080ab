//! Chroma from the power spectrogram, as librosa's `chroma_stft`: the
//! tuning offset is estimated per clip from spectral peaks (`piptrack` +
//! `pitch_tuning`), then a Gaussian chroma filterbank centred on the tuned
//! pitch classes projects each frame, and each frame is scaled to max 1.

/// Tuning estimation's search band and threshold (librosa's `piptrack`
/// defaults).
const PIPTRACK_FMIN: f64 = 150.0;
const PIPTRACK_FMAX: f64 = 4000.0;
const PIPTRACK_THRESHOLD: f64 = 0.1;
/// Histogram resolution of the tuning estimate, in fractions of a bin.
const TUNING_RESOLUTION: f64 = 0.01;

/// numpy's `finfo(float64).tiny`: librosa's threshold for "zero".
const TINY: f64 = f64::MIN_POSITIVE;

/// Octaves above C0 (A440 / 16, shifted by `tuning` fractions of a bin).
fn hz_to_octs(hz: f64, tuning: f64, bins_per_octave: usize) -> f64 {
    let a440 = 440.0 * 2f64.powf(tuning / bins_per_octave as f64);
    (hz / (a440 / 16.0)).log2()
}

/// Collects the interpolated peak frequencies and magnitudes of each frame
/// (`piptrack` on a power spectrogram), to estimate the clip's tuning.
#[derive(Debug, Default)]
pub struct PitchPeaks {
    pitches: Vec<f64>,
    magnitudes: Vec<f64>,
}

impl PitchPeaks {
    /// Add the peaks of one frame's spectrum `s` (`1 + n_fft / 2` bins).
    pub fn add_frame(&mut self, s: &[f64], sample_rate: u32, n_fft: usize) {
        let n = s.len();
        if n < 3 {
            return;
        }
        let bin_hz = sample_rate as f64 / n_fft as f64;
        let fmax = PIPTRACK_FMAX.min(sample_rate as f64 / 2.0);
        let reference = PIPTRACK_THRESHOLD * s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        // librosa zeroes bins at or below the threshold before looking for
        // local maxima; the neighbours are compared after that masking.
        let masked = |k: usize| if s[k] > reference { s[k] } else { 0.0 };
        for k in 0..n {
            let f = k as f64 * bin_hz;
            if !(PIPTRACK_FMIN <= f && f < fmax) {
                continue;
            }
            let here = masked(k);
            let left = masked(k.saturating_sub(1));
            let right = masked((k + 1).min(n - 1));
            // localmax with edge padding: strictly above the left, at least
            // the right neighbour.
            if !(here > left && here >= right) || k == 0 {
                continue;
            }
            // Parabolic interpolation of the peak position (librosa 0.11:
            // no shift at the outermost bins or when it would leave the bin).
            let shift = if k >= 1 && k + 1 < n {
                let a = s[k + 1] + s[k - 1] - 2.0 * s[k];
                let b = 0.5 * (s[k + 1] - s[k - 1]);
                if b.abs() >= a.abs() {
                    0.0
                } else {
                    -b / a
                }
            } else {
                0.0
            };
            // np.gradient: central differences inside, one-sided at the ends.
            let avg = if k == 0 {
                s[1] - s[0]
            } else if k + 1 == n {
                s[k] - s[k - 1]
            } else {
                0.5 * (s[k + 1] - s[k - 1])
            };
            self.pitches.push((k as f64 + shift) * bin_hz);
            self.magnitudes.push(s[k] + 0.5 * avg * shift);
        }
    }

    /// librosa's `estimate_tuning`: peaks at or above the median peak
    /// magnitude vote in a 0.01-bin histogram of their deviation from the
    /// equal-tempered grid; the fullest bin's left edge wins.
    pub fn tuning(&self, bins_per_octave: usize) -> f64 {
        let positive: Vec<usize> = (0..self.pitches.len())
            .filter(|&i| self.pitches[i] > 0.0)
            .collect();
        if positive.is_empty() {
            return 0.0;
        }
        let mut mags: Vec<f64> = positive.iter().map(|&i| self.magnitudes[i]).collect();
        let threshold = median(&mut mags);
        let residuals: Vec<f64> = positive
            .iter()
            .filter(|&&i| self.magnitudes[i] >= threshold)
            .map(|&i| {
                let octs = bins_per_octave as f64 * hz_to_octs(self.pitches[i], 0.0, 12);
                let mut r = octs.rem_euclid(1.0);
                if r >= 0.5 {
                    r -= 1.0;
                }
                r
            })
            .collect();
        if residuals.is_empty() {
            return 0.0;
        }
        let n_bins = (1.0 / TUNING_RESOLUTION).ceil() as usize;
        let edges: Vec<f64> = (0..=n_bins)
            .map(|i| i as f64 * (1.0 / n_bins as f64) - 0.5)
            .map(|e| if e > 0.5 { 0.5 } else { e })
            .collect();
        let mut counts = vec![0usize; n_bins];
        for &r in &residuals {
            counts[histogram_bin(r, &edges)] += 1;
        }
        let best = counts
            .iter()
            .enumerate()
            .fold(
                (0, 0),
                |(bi, bc), (i, &c)| if c > bc { (i, c) } else { (bi, bc) },
            )
            .0;
        edges[best]
    }
}

/// numpy's uniform-bin `histogram` index (the last bin closed on the right).
fn histogram_bin(value: f64, edges: &[f64]) -> usize {
    let n = edges.len() - 1;
    let (first, last) = (edges[0], edges[n]);
    let mut index = ((value - first) * (n as f64 / (last - first))) as usize;
    index = index.min(n - 1);
    if value < edges[index] && index > 0 {
        index -= 1;
    } else if index + 1 < n && value >= edges[index + 1] {
        index += 1;
    }
    index
}

/// numpy's median (mean of the two middle values for even counts), by
/// selection rather than a full sort.
fn median(values: &mut [f64]) -> f64 {
    let n = values.len();
    let (below, upper, _) = values.select_nth_unstable_by(n / 2, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        upper
    } else {
        let lower = below.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        0.5 * (lower + upper)
    }
}

/// librosa's `filters.chroma` (ctroct 5, octwidth 2, L2-normalised
/// columns, starting at C), `[n_chroma, 1 + n_fft / 2]` row-major.
pub fn chroma_filterbank(sample_rate: u32, n_fft: usize, n_chroma: usize, tuning: f64) -> Vec<f64> {
    let (ctroct, octwidth) = (5.0, 2.0);
    let sr = sample_rate as f64;
    // Bin 0 (DC) gets a virtual position 1.5 octaves below bin 1.
    let mut frqbins: Vec<f64> = (1..n_fft)
        .map(|k| n_chroma as f64 * hz_to_octs(k as f64 * sr / n_fft as f64, tuning, n_chroma))
        .collect();
    frqbins.insert(0, frqbins[0] - 1.5 * n_chroma as f64);
    let binwidth: Vec<f64> = (0..n_fft)
        .map(|k| {
            if k + 1 < n_fft {
                (frqbins[k + 1] - frqbins[k]).max(1.0)
            } else {
                1.0
            }
        })
        .collect();
    let half = (n_chroma as f64 / 2.0).round();
    let mut weights = vec![0.0f64; n_chroma * n_fft];
    for k in 0..n_fft {
        for c in 0..n_chroma {
            let d = (frqbins[k] - c as f64 + half + 10.0 * n_chroma as f64)
                .rem_euclid(n_chroma as f64)
                - half;
            weights[c * n_fft + k] = (-0.5 * (2.0 * d / binwidth[k]).powi(2)).exp();
        }
        let norm = (0..n_chroma)
            .map(|c| weights[c * n_fft + k].powi(2))
            .sum::<f64>()
            .sqrt();
        let norm = if norm < TINY { 1.0 } else { norm };
        let octave_weight =
            (-0.5 * ((frqbins[k] / n_chroma as f64 - ctroct) / octwidth).powi(2)).exp();
        for c in 0..n_chroma {
            weights[c * n_fft + k] = weights[c * n_fft + k] / norm * octave_weight;
        }
    }
    // Roll so that row 0 is C rather than A.
    let shift = 3 * (n_chroma / 12);
    let n_bins = 1 + n_fft / 2;
    let mut out = vec![0.0f64; n_chroma * n_bins];
    for c in 0..n_chroma {
        let source = (c + shift) % n_chroma;
        out[c * n_bins..(c + 1) * n_bins]
            .copy_from_slice(&weights[source * n_fft..source * n_fft + n_bins]);
    }
    out
}

/// Chroma of every frame of a power spectrogram (`[frames][n_bins]`), each
/// frame scaled so its largest value is 1 (left as is when silent). The
/// filterbank is transposed so the inner loop runs over pitch classes with
/// independent sums, which vectorises; f32 keeps 1e-6 relative precision
/// over the 1025 terms, far inside the 1e-3 the parity test allows.
pub fn chroma_frames(
    filterbank: &[f64],
    n_chroma: usize,
    spectrogram: &[f32],
    n_bins: usize,
) -> Vec<Vec<f32>> {
    let frames = spectrogram.len() / n_bins.max(1);
    let mut transposed = vec![0.0f32; n_bins * n_chroma];
    for c in 0..n_chroma {
        for k in 0..n_bins {
            transposed[k * n_chroma + c] = filterbank[c * n_bins + k] as f32;
        }
    }
    let mut out = vec![vec![0.0f32; frames]; n_chroma];
    let mut sums = vec![0.0f32; n_chroma];
    for t in 0..frames {
        sums.fill(0.0);
        let power = &spectrogram[t * n_bins..(t + 1) * n_bins];
        for (k, &p) in power.iter().enumerate() {
            let weights = &transposed[k * n_chroma..(k + 1) * n_chroma];
            for (sum, w) in sums.iter_mut().zip(weights) {
                *sum += w * p;
            }
        }
        let peak = sums.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let norm = if peak as f64 >= TINY && peak > 0.0 {
            peak
        } else {
            1.0
        };
        for (row, &v) in out.iter_mut().zip(&sums) {
            row[t] = v / norm;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_bins_like_numpy() {
        let edges: Vec<f64> = (0..=100).map(|i| i as f64 * 0.01 - 0.5).collect();
        assert_eq!(histogram_bin(-0.5, &edges), 0);
        assert_eq!(histogram_bin(0.5, &edges), 99);
        assert_eq!(histogram_bin(0.0, &edges), 50);
        assert_eq!(histogram_bin(-0.005, &edges), 49);
    }

    #[test]
    fn filterbank_columns_peak_at_their_pitch_class() {
        let fb = chroma_filterbank(22050, 2048, 12, 0.0);
        let n_bins = 1025;
        // 440 Hz is bin ~40.9; A is pitch class 9 when C is row 0.
        let k = (440.0f64 * 2048.0 / 22050.0).round() as usize;
        let best = (0..12)
            .max_by(|&a, &b| fb[a * n_bins + k].total_cmp(&fb[b * n_bins + k]))
            .unwrap();
        assert_eq!(best, 9);
    }
}

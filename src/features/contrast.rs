//! Spectral contrast as librosa's `spectral_contrast` (fmin 200 Hz, six
//! octave bands plus the band below, quantile 0.02): per band, the dB
//! difference between the mean of the loudest and of the quietest bins.

use crate::dsp::{power_to_db, DbReference};

const FMIN: f64 = 200.0;
const N_BANDS: usize = 6;
const QUANTILE: f64 = 0.02;

/// Rows of the spectrogram each band looks at, and how many of its sorted
/// values count as peak and valley.
#[derive(Debug, Clone)]
pub struct ContrastBands {
    /// `(first_bin, bins, edge_count)` per band.
    bands: Vec<(usize, usize, usize)>,
}

impl ContrastBands {
    pub fn new(sample_rate: u32, n_fft: usize) -> Self {
        let n_bins = 1 + n_fft / 2;
        let freq = |k: usize| k as f64 * (sample_rate as f64 / 2.0) / (n_bins - 1) as f64;
        let mut edges = vec![0.0f64];
        edges.extend((0..=N_BANDS).map(|i| FMIN * 2f64.powi(i as i32)));
        let mut bands = Vec::with_capacity(N_BANDS + 1);
        for k in 0..=N_BANDS {
            let (low, high) = (edges[k], edges[k + 1]);
            let inside: Vec<usize> = (0..n_bins)
                .filter(|&b| freq(b) >= low && freq(b) <= high)
                .collect();
            let (Some(&first), Some(&last)) = (inside.first(), inside.last()) else {
                bands.push((0, 0, 1));
                continue;
            };
            // Each band reaches one bin below its edge; the top band runs
            // to Nyquist.
            let start = if k > 0 {
                first.saturating_sub(1)
            } else {
                first
            };
            let end = if k == N_BANDS { n_bins - 1 } else { last };
            let counted = end + 1 - start;
            // The band's highest bin belongs to the next band's valley/peak.
            let used = if k < N_BANDS { counted - 1 } else { counted };
            let edge_count = round_half_even(QUANTILE * counted as f64).max(1.0) as usize;
            bands.push((start, used, edge_count.min(used.max(1))));
        }
        Self { bands }
    }

    pub fn n_bands(&self) -> usize {
        self.bands.len()
    }

    /// Mean of the quietest and of the loudest bins of each band in one
    /// frame's magnitude spectrum, written to `valley` and `peak`.
    pub fn frame(
        &self,
        magnitude: &[f64],
        scratch: &mut Vec<f64>,
        valley: &mut [f64],
        peak: &mut [f64],
    ) {
        for (b, &(start, used, count)) in self.bands.iter().enumerate() {
            if used == 0 {
                valley[b] = 0.0;
                peak[b] = 0.0;
                continue;
            }
            let band = &magnitude[start..start + used];
            if count <= SMALL_COUNT {
                // A few extremes: one pass with tiny sorted buffers beats
                // a selection over the whole band.
                let (low, high) = extremes(band, count);
                valley[b] = low / count as f64;
                peak[b] = high / count as f64;
                continue;
            }
            scratch.clear();
            scratch.extend_from_slice(band);
            scratch.select_nth_unstable_by(count - 1, f64::total_cmp);
            valley[b] = scratch[..count].iter().sum::<f64>() / count as f64;
            let top = used - count;
            scratch.select_nth_unstable_by(top, f64::total_cmp);
            peak[b] = scratch[top..].iter().sum::<f64>() / count as f64;
        }
    }
}

/// Largest edge count handled by [`extremes`].
const SMALL_COUNT: usize = 16;

/// Sums of the `count` smallest and the `count` largest values.
fn extremes(values: &[f64], count: usize) -> (f64, f64) {
    let mut low = [f64::INFINITY; SMALL_COUNT];
    let mut high = [f64::NEG_INFINITY; SMALL_COUNT];
    let (low, high) = (&mut low[..count], &mut high[..count]);
    for &v in values {
        // low ascending: low[count - 1] is the largest kept.
        if v < low[count - 1] {
            let mut i = count - 1;
            while i > 0 && low[i - 1] > v {
                low[i] = low[i - 1];
                i -= 1;
            }
            low[i] = v;
        }
        // high descending: high[count - 1] is the smallest kept.
        if v > high[count - 1] {
            let mut i = count - 1;
            while i > 0 && high[i - 1] < v {
                high[i] = high[i - 1];
                i -= 1;
            }
            high[i] = v;
        }
    }
    (low.iter().sum(), high.iter().sum())
}

/// numpy's `rint`: halves go to the even neighbour.
fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - x.signum()
    } else {
        r
    }
}

/// Contrast per band and frame from the valley and peak magnitudes
/// (`[bands * frames]` each): `power_to_db(peak) - power_to_db(valley)`,
/// each with its own top_db floor over the whole clip, as librosa does.
pub fn contrast_db(mut valley: Vec<f32>, mut peak: Vec<f32>) -> Vec<f32> {
    power_to_db(&mut valley, DbReference::Value(1.0), 1e-10, Some(80.0));
    power_to_db(&mut peak, DbReference::Value(1.0), 1e-10, Some(80.0));
    peak.iter().zip(&valley).map(|(p, v)| p - v).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rint_is_half_even() {
        assert_eq!(round_half_even(2.5), 2.0);
        assert_eq!(round_half_even(3.5), 4.0);
        assert_eq!(round_half_even(0.5), 0.0);
        assert_eq!(round_half_even(1.2), 1.0);
    }

    #[test]
    fn extremes_match_sorting() {
        let values: Vec<f64> = (0..200).map(|i| ((i * 37) % 101) as f64 * 0.5).collect();
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for count in [1, 2, 9, 16] {
            let (low, high) = extremes(&values, count);
            assert_eq!(low, sorted[..count].iter().sum::<f64>());
            assert_eq!(high, sorted[200 - count..].iter().sum::<f64>());
        }
    }

    #[test]
    fn bands_cover_the_spectrum_once() {
        let bands = ContrastBands::new(22050, 2048);
        assert_eq!(bands.n_bands(), 7);
        let (start, used, _) = bands.bands[6];
        assert_eq!(start + used, 1025);
    }
}

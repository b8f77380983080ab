//! Short-time Fourier transform on the CPU, librosa's framing: periodic
//! Hann window of `win_length` centred in `n_fft`, optional centre padding
//! (zeros or reflection), frames every `hop_length` samples.

use std::sync::Arc;

use num_traits::Float;
use realfft::{FftNum, RealFftPlanner, RealToComplex};

use crate::config::PadMode;
use crate::error::{Error, Result};

/// Sample types the STFT runs in: f32 for spectrograms, f64 where
/// downstream statistics amplify rounding (spectral bandwidth).
pub trait StftSample: FftNum + Float {}
impl<T: FftNum + Float> StftSample for T {}

/// Periodic Hann window of `win_length`, zero-padded to `n_fft` with the
/// window in the middle (librosa's `get_window` + `pad_center`).
pub fn hann_window<T: StftSample>(win_length: usize, n_fft: usize) -> Vec<T> {
    let mut window = vec![T::zero(); n_fft];
    let offset = (n_fft - win_length) / 2;
    for i in 0..win_length {
        let phase = 2.0 * std::f64::consts::PI * i as f64 / win_length as f64;
        window[offset + i] = T::from_f64(0.5 - 0.5 * phase.cos()).unwrap_or_else(T::zero);
    }
    window
}

/// Index into a signal of length `len` for position `i` of the padded
/// signal (`i` may be negative or past the end), as numpy's `pad` modes do.
#[inline]
fn padded_index(i: isize, len: usize, mode: PadMode) -> Option<usize> {
    if i >= 0 && (i as usize) < len {
        return Some(i as usize);
    }
    match mode {
        PadMode::Constant => None,
        PadMode::Reflect => {
            if len == 1 {
                return Some(0);
            }
            // Reflection without repeating the edge sample has period 2(len-1).
            let period = 2 * (len as isize - 1);
            let mut j = i.rem_euclid(period);
            if j >= len as isize {
                j = period - j;
            }
            Some(j as usize)
        }
    }
}

/// Framing parameters and a planned real FFT, built once and reused for
/// every frame and clip. Input is f32; the transform runs in `T`.
#[derive(Clone)]
pub struct Stft<T: StftSample = f32> {
    pub n_fft: usize,
    pub hop_length: usize,
    pub center: bool,
    pub pad_mode: PadMode,
    window: Vec<T>,
    fft: Arc<dyn RealToComplex<T>>,
}

impl<T: StftSample> std::fmt::Debug for Stft<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stft")
            .field("n_fft", &self.n_fft)
            .field("hop_length", &self.hop_length)
            .field("center", &self.center)
            .field("pad_mode", &self.pad_mode)
            .finish()
    }
}

impl<T: StftSample> Stft<T> {
    pub fn new(
        n_fft: usize,
        hop_length: usize,
        win_length: usize,
        center: bool,
        pad_mode: PadMode,
    ) -> Self {
        let win_length = if win_length == 0 { n_fft } else { win_length };
        let fft = RealFftPlanner::<T>::new().plan_fft_forward(n_fft);
        Self {
            n_fft,
            hop_length,
            center,
            pad_mode,
            window: hann_window(win_length, n_fft),
            fft,
        }
    }

    pub fn n_bins(&self) -> usize {
        1 + self.n_fft / 2
    }

    pub fn window(&self) -> &[T] {
        &self.window
    }

    /// Number of frames for a signal of `len` samples.
    pub fn n_frames(&self, len: usize) -> Result<usize> {
        let padded = if self.center {
            len + 2 * (self.n_fft / 2)
        } else {
            len
        };
        if padded < self.n_fft || len == 0 {
            return Err(Error::InvalidArgument(format!(
                "signal of {len} samples is too short for n_fft={} (center={})",
                self.n_fft, self.center
            )));
        }
        Ok(1 + (padded - self.n_fft) / self.hop_length)
    }

    /// Power (|X|^power) of every frame, calling `sink(frame_index, spectrum)`
    /// with `n_bins` values per frame; buffers are reused across frames.
    pub fn for_each_frame<F>(&self, signal: &[f32], power: f64, mut sink: F) -> Result<usize>
    where
        F: FnMut(usize, &[T]),
    {
        let frames = self.n_frames(signal.len())?;
        let mut input = self.fft.make_input_vec();
        let mut output = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut spectrum = vec![T::zero(); self.n_bins()];
        let pad = if self.center {
            (self.n_fft / 2) as isize
        } else {
            0
        };
        let len = signal.len();
        for t in 0..frames {
            let start = (t * self.hop_length) as isize - pad;
            if start >= 0 && start as usize + self.n_fft <= len {
                let frame = &signal[start as usize..start as usize + self.n_fft];
                for ((x, &s), &w) in input.iter_mut().zip(frame).zip(&self.window) {
                    *x = T::from_f32(s).unwrap_or_else(T::zero) * w;
                }
            } else {
                for (k, (x, &w)) in input.iter_mut().zip(&self.window).enumerate() {
                    let s = padded_index(start + k as isize, len, self.pad_mode)
                        .map_or(0.0, |i| signal[i]);
                    *x = T::from_f32(s).unwrap_or_else(T::zero) * w;
                }
            }
            self.fft
                .process_with_scratch(&mut input, &mut output, &mut scratch)
                .map_err(|e| Error::InvalidArgument(format!("FFT: {e}")))?;
            if power == 2.0 {
                for (p, c) in spectrum.iter_mut().zip(&output) {
                    *p = c.re * c.re + c.im * c.im;
                }
            } else if power == 1.0 {
                for (p, c) in spectrum.iter_mut().zip(&output) {
                    *p = (c.re * c.re + c.im * c.im).sqrt();
                }
            } else {
                let half = T::from_f64(power / 2.0).unwrap_or_else(T::one);
                for (p, c) in spectrum.iter_mut().zip(&output) {
                    *p = (c.re * c.re + c.im * c.im).powf(half);
                }
            }
            sink(t, &spectrum);
        }
        Ok(frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_matches_numpy() {
        // np.pad([0,1,2,3], 5, mode="reflect") = [3 2 1 2 1 | 0 1 2 3 | 2 1 0 1 2]
        let left: Vec<usize> = (-5..0)
            .map(|i| padded_index(i, 4, PadMode::Reflect).unwrap())
            .collect();
        assert_eq!(left, vec![1, 2, 3, 2, 1]);
        let right: Vec<usize> = (4..9)
            .map(|i| padded_index(i, 4, PadMode::Reflect).unwrap())
            .collect();
        assert_eq!(right, vec![2, 1, 0, 1, 2]);
        assert_eq!(padded_index(-1, 4, PadMode::Constant), None);
    }

    #[test]
    fn window_is_periodic_hann_centred() {
        let w = hann_window::<f32>(4, 8);
        assert_eq!(w, vec![0.0, 0.0, 0.0, 0.5, 1.0, 0.5, 0.0, 0.0]);
    }

    #[test]
    fn parseval_on_a_sine() {
        let stft = Stft::<f32>::new(512, 128, 0, true, PadMode::Constant);
        let x: Vec<f32> = (0..4096)
            .map(|i| (2.0 * std::f32::consts::PI * 64.0 * i as f32 / 512.0).sin())
            .collect();
        let mut peak_bins = Vec::new();
        stft.for_each_frame(&x, 2.0, |_, s| {
            let k = s
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0;
            peak_bins.push(k);
        })
        .unwrap();
        assert_eq!(peak_bins.len(), 1 + 4096 / 128);
        assert!(peak_bins[2..peak_bins.len() - 2].iter().all(|&k| k == 64));
    }
}

//! Waveform transforms for augmentation: what a recording chain does to a
//! sound between its source and our decoder. Gain, microphone and channel
//! colour (RBJ-cookbook shelving, high- and low-pass biquads), band-limiting
//! (a codec stand-in), noise and other sounds mixed in at a chosen SNR, a
//! synthetic room (exponentially decaying noise as the impulse response),
//! and tempo and pitch changes (a phase vocoder, then resampling, as
//! librosa's `time_stretch` and `pitch_shift`).
//!
//! Every function is deterministic: randomness comes in as an RNG or a seed.

use std::f64::consts::PI;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use realfft::num_complex::Complex;
use realfft::RealFftPlanner;

use crate::error::Result;

/// A second-order IIR section, `b0 b1 b2 / 1 a1 a2` (normalised).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
}

impl Biquad {
    fn normalised(b: [f64; 3], a: [f64; 3]) -> Self {
        Self {
            b: [b[0] / a[0], b[1] / a[0], b[2] / a[0]],
            a: [a[1] / a[0], a[2] / a[0]],
        }
    }

    /// Shelving filters with shelf slope 1 (RBJ Audio EQ Cookbook): `gain_db`
    /// below (low) or above (high) `freq`.
    pub fn low_shelf(rate: u32, freq: f64, gain_db: f64) -> Self {
        Self::shelf(rate, freq, gain_db, false)
    }

    pub fn high_shelf(rate: u32, freq: f64, gain_db: f64) -> Self {
        Self::shelf(rate, freq, gain_db, true)
    }

    fn shelf(rate: u32, freq: f64, gain_db: f64, high: bool) -> Self {
        let a = 10f64.powf(gain_db / 40.0);
        // Corners above Nyquist (low sample rates) fold to just below it.
        let w0 = 2.0 * PI * freq.min(0.45 * rate as f64) / rate as f64;
        let (cos, sin) = (w0.cos(), w0.sin());
        // Shelf slope S = 1: alpha = sin/2 * sqrt(2).
        let alpha = sin / 2.0 * 2f64.sqrt();
        let k = 2.0 * a.sqrt() * alpha;
        let s = if high { -1.0 } else { 1.0 };
        let b = [
            a * ((a + 1.0) - s * (a - 1.0) * cos + k),
            s * 2.0 * a * ((a - 1.0) - s * (a + 1.0) * cos),
            a * ((a + 1.0) - s * (a - 1.0) * cos - k),
        ];
        let den = [
            (a + 1.0) + s * (a - 1.0) * cos + k,
            -s * 2.0 * ((a - 1.0) + s * (a + 1.0) * cos),
            (a + 1.0) + s * (a - 1.0) * cos - k,
        ];
        Self::normalised(b, den)
    }

    /// Butterworth-Q (1/sqrt 2) high-pass and low-pass sections at `freq`.
    pub fn high_pass(rate: u32, freq: f64) -> Self {
        Self::pass(rate, freq, true)
    }

    pub fn low_pass(rate: u32, freq: f64) -> Self {
        Self::pass(rate, freq, false)
    }

    fn pass(rate: u32, freq: f64, high: bool) -> Self {
        let w0 = 2.0 * PI * freq.min(0.49 * rate as f64) / rate as f64;
        let (cos, sin) = (w0.cos(), w0.sin());
        let alpha = sin / (2.0 * std::f64::consts::FRAC_1_SQRT_2);
        let b = if high {
            [(1.0 + cos) / 2.0, -(1.0 + cos), (1.0 + cos) / 2.0]
        } else {
            [(1.0 - cos) / 2.0, 1.0 - cos, (1.0 - cos) / 2.0]
        };
        Self::normalised(b, [1.0 + alpha, -2.0 * cos, 1.0 - alpha])
    }

    /// Filters `x` in place (direct form I, state in f64).
    pub fn apply(&self, x: &mut [f32]) {
        let (mut x1, mut x2, mut y1, mut y2) = (0.0f64, 0.0, 0.0, 0.0);
        for v in x.iter_mut() {
            let x0 = *v as f64;
            let y0 =
                self.b[0] * x0 + self.b[1] * x1 + self.b[2] * x2 - self.a[0] * y1 - self.a[1] * y2;
            (x2, x1, y2, y1) = (x1, x0, y1, y0);
            *v = y0 as f32;
        }
    }

    /// The magnitude response at `freq`, in dB.
    pub fn response_db(&self, rate: u32, freq: f64) -> f64 {
        let w = 2.0 * PI * freq / rate as f64;
        let z1 = Complex::new(w.cos(), -w.sin());
        let z2 = z1 * z1;
        let num = Complex::new(self.b[0], 0.0) + z1 * self.b[1] + z2 * self.b[2];
        let den = Complex::new(1.0, 0.0) + z1 * self.a[0] + z2 * self.a[1];
        20.0 * (num.norm() / den.norm()).log10()
    }
}

/// Root mean square (0 for an empty slice).
pub fn rms(x: &[f32]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

/// Multiplies `x` by `gain_db` decibels.
pub fn apply_gain(x: &mut [f32], gain_db: f64) {
    let g = 10f64.powf(gain_db / 20.0) as f32;
    x.iter_mut().for_each(|v| *v *= g);
}

/// Soft clipping, as an overdriven amplifier, a clipping preamp or a
/// distorting loudspeaker does: `x` normalised to an RMS of 0.1 (-20 dBFS),
/// amplified by `drive_db`, through `tanh`, then scaled back to its own
/// RMS, so only the waveform's shape changes (odd harmonics, flattened
/// peaks), not its level. Near 0 dB a sine stays almost clean; at 20 dB
/// its peaks are clipped hard. A silent `x` is left as it is.
pub fn soft_clip(x: &mut [f32], drive_db: f64) {
    let before = rms(x);
    if before <= 0.0 {
        return;
    }
    let g = (0.1 / before * 10f64.powf(drive_db / 20.0)) as f32;
    x.iter_mut().for_each(|v| *v = (*v * g).tanh());
    let after = rms(x);
    if after > 0.0 {
        let restore = (before / after) as f32;
        x.iter_mut().for_each(|v| *v *= restore);
    }
}

/// Adds `other` to `x` scaled so that rms(x) / rms(scaled other) is
/// `snr_db` decibels. A silent `x` or `other` is left as it is.
pub fn mix_at_snr(x: &mut [f32], other: &[f32], snr_db: f64) {
    let (signal, noise) = (rms(x), rms(&other[..other.len().min(x.len())]));
    if signal <= 0.0 || noise <= 0.0 {
        return;
    }
    let scale = (signal / noise / 10f64.powf(snr_db / 20.0)) as f32;
    for (v, &o) in x.iter_mut().zip(other) {
        *v += scale * o;
    }
}

/// Gaussian white noise, or pink (1/f power) noise from it: Paul Kellet's
/// refined filter, accurate to ±0.05 dB above 1/1000 of the rate.
pub fn noise(len: usize, pink: bool, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let white = (0..len).map(move |_| StandardNormal.sample(&mut rng));
    if !pink {
        return white.map(|v: f64| v as f32).collect();
    }
    let mut b = [0.0f64; 7];
    white
        .map(|w: f64| {
            b[0] = 0.99886 * b[0] + w * 0.0555179;
            b[1] = 0.99332 * b[1] + w * 0.0750759;
            b[2] = 0.96900 * b[2] + w * 0.1538520;
            b[3] = 0.86650 * b[3] + w * 0.3104856;
            b[4] = 0.55000 * b[4] + w * 0.5329522;
            b[5] = -0.7616 * b[5] - w * 0.0168980;
            let out = b[..6].iter().sum::<f64>() + b[6] + w * 0.5362;
            b[6] = w * 0.115926;
            out as f32
        })
        .collect()
}

/// A synthetic room impulse response: a unit direct path, then Gaussian
/// noise whose energy falls 60 dB in `rt60` seconds (after a 5-ms gap),
/// scaled so its energy is `wet` times the direct path's.
pub fn room_impulse(rate: u32, rt60: f64, wet: f64, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let gap = (0.005 * rate as f64) as usize;
    let tail = (rt60 * rate as f64).ceil() as usize;
    // Amplitude decays 60 dB over rt60: exp(-t * ln(1000) / rt60).
    let decay = (1000f64).ln() / (rt60 * rate as f64);
    let mut h = vec![0.0f32; 1 + gap + tail];
    h[0] = 1.0;
    let mut energy = 0.0;
    for (i, v) in h[1 + gap..].iter_mut().enumerate() {
        let n: f64 = StandardNormal.sample(&mut rng);
        let value = n * (-decay * i as f64).exp();
        energy += value * value;
        *v = value as f32;
    }
    let scale = (wet / energy.max(f64::MIN_POSITIVE)).sqrt() as f32;
    h[1 + gap..].iter_mut().for_each(|v| *v *= scale);
    h
}

/// Linear convolution of `x` with `h`, cut to `x.len()` samples (the tail
/// past the clip's end is dropped), by FFT.
pub fn convolve_same_length(x: &[f32], h: &[f32]) -> Result<Vec<f32>> {
    if x.is_empty() || h.is_empty() {
        return Ok(x.to_vec());
    }
    let n = (x.len() + h.len() - 1).next_power_of_two();
    let mut planner = RealFftPlanner::<f32>::new();
    let (forward, inverse) = (planner.plan_fft_forward(n), planner.plan_fft_inverse(n));
    let spectrum = |signal: &[f32]| -> Result<Vec<Complex<f32>>> {
        let mut padded = vec![0.0f32; n];
        padded[..signal.len()].copy_from_slice(signal);
        let mut out = forward.make_output_vec();
        forward.process(&mut padded, &mut out).map_err(fft_error)?;
        Ok(out)
    };
    let (sx, sh) = (spectrum(x)?, spectrum(h)?);
    let mut product: Vec<Complex<f32>> = sx.iter().zip(&sh).map(|(a, b)| a * b).collect();
    let mut out = inverse.make_output_vec();
    inverse.process(&mut product, &mut out).map_err(fft_error)?;
    let scale = 1.0 / n as f32;
    Ok(out[..x.len()].iter().map(|v| v * scale).collect())
}

fn fft_error(e: realfft::FftError) -> crate::error::Error {
    crate::error::Error::InvalidArgument(format!("FFT: {e}"))
}

/// Phase-vocoder time stretch (librosa's `time_stretch`): `rate` > 1 is
/// faster (shorter), < 1 slower; the pitch stays. Output length is
/// `round(len / rate)`.
pub fn time_stretch(x: &[f32], rate: f64) -> Result<Vec<f32>> {
    const N_FFT: usize = 1024;
    const HOP: usize = N_FFT / 4;
    let target = (x.len() as f64 / rate).round() as usize;
    if x.len() < N_FFT || (rate - 1.0).abs() < 1e-9 {
        // Too short to stretch: kept as it is, at the stretched length.
        return Ok(fit_to(x.to_vec(), target));
    }
    let window: Vec<f32> = crate::dsp::hann_window::<f32>(N_FFT, N_FFT);
    let mut planner = RealFftPlanner::<f32>::new();
    let (forward, inverse) = (
        planner.plan_fft_forward(N_FFT),
        planner.plan_fft_inverse(N_FFT),
    );
    // Centred frames of the zero-padded signal.
    let padded: Vec<f32> = std::iter::repeat_n(0.0, N_FFT / 2)
        .chain(x.iter().copied())
        .chain(std::iter::repeat_n(0.0, N_FFT / 2))
        .collect();
    let n_frames = 1 + (padded.len() - N_FFT) / HOP;
    let mut frames = Vec::with_capacity(n_frames);
    for f in 0..n_frames {
        let mut buf: Vec<f32> = padded[f * HOP..f * HOP + N_FFT]
            .iter()
            .zip(&window)
            .map(|(a, w)| a * w)
            .collect();
        let mut spec = forward.make_output_vec();
        forward.process(&mut buf, &mut spec).map_err(fft_error)?;
        frames.push(spec);
    }
    let bins = N_FFT / 2 + 1;
    let expected: Vec<f64> = (0..bins)
        .map(|k| 2.0 * PI * HOP as f64 * k as f64 / N_FFT as f64)
        .collect();
    let mut phase: Vec<f64> = frames[0]
        .iter()
        .map(|c| (c.im as f64).atan2(c.re as f64))
        .collect();
    let steps: Vec<f64> = (0..)
        .map(|i| i as f64 * rate)
        .take_while(|&t| t < (n_frames - 1) as f64)
        .collect();
    let out_len = N_FFT + HOP * steps.len().saturating_sub(1);
    let mut out = vec![0.0f32; out_len];
    let mut norm = vec![0.0f32; out_len];
    for (j, &t) in steps.iter().enumerate() {
        let (i, frac) = (t.floor() as usize, t.fract());
        let (a, b) = (&frames[i], &frames[i + 1]);
        let mut spec: Vec<Complex<f32>> = (0..bins)
            .map(|k| {
                let mag = (1.0 - frac) * a[k].norm() as f64 + frac * b[k].norm() as f64;
                Complex::from_polar(mag as f32, phase[k] as f32)
            })
            .collect();
        for (((p, x), y), e) in phase.iter_mut().zip(a).zip(b).zip(&expected) {
            let delta = (y.im as f64).atan2(y.re as f64) - (x.im as f64).atan2(x.re as f64) - e;
            let wrapped = delta - 2.0 * PI * (delta / (2.0 * PI)).round();
            *p += e + wrapped;
        }
        spec[0].im = 0.0;
        spec[bins - 1].im = 0.0;
        let mut frame = inverse.make_output_vec();
        inverse.process(&mut spec, &mut frame).map_err(fft_error)?;
        let span = j * HOP..j * HOP + N_FFT;
        for (((o, w2), f), w) in out[span.clone()]
            .iter_mut()
            .zip(&mut norm[span])
            .zip(&frame)
            .zip(&window)
        {
            *o += f / N_FFT as f32 * w;
            *w2 += w * w;
        }
    }
    for (v, w) in out.iter_mut().zip(&norm) {
        if *w > 1e-3 {
            *v /= w;
        }
    }
    let start = (N_FFT / 2).min(out.len());
    Ok(fit_to(out[start..].to_vec(), target))
}

/// Pitch shift by `semitones` keeping the duration (librosa's
/// `pitch_shift`): stretch by 1/f, then resample by f, f = 2^(semitones/12).
pub fn pitch_shift(x: &[f32], semitones: f64) -> Result<Vec<f32>> {
    if semitones.abs() < 1e-9 {
        return Ok(x.to_vec());
    }
    let factor = 2f64.powf(semitones / 12.0);
    let stretched = time_stretch(x, 1.0 / factor)?;
    // Rates standing for the ratio f : 1 to 0.1 % (band-limited FFT
    // resampling with small rates).
    let from = (1000.0 * factor).round() as u32;
    Ok(fit_to(
        crate::audio::resample(&stretched, from, 1000)?,
        x.len(),
    ))
}

fn fit_to(mut x: Vec<f32>, len: usize) -> Vec<f32> {
    x.resize(len, 0.0);
    x
}

/// A uniform draw in `[lo, hi]` (exactly `lo` when the range is empty).
pub fn uniform<R: Rng>(rng: &mut R, range: [f64; 2]) -> f64 {
    if range[1] > range[0] {
        rng.random_range(range[0]..=range[1])
    } else {
        range[0]
    }
}

/// A log-uniform draw in `[lo, hi]` (for frequencies).
pub fn log_uniform<R: Rng>(rng: &mut R, range: [f64; 2]) -> f64 {
    uniform(rng, [range[0].ln(), range[1].ln()]).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 16000;

    fn sine(freq: f64, seconds: f64) -> Vec<f32> {
        (0..(seconds * RATE as f64) as usize)
            .map(|i| (0.5 * (2.0 * PI * freq * i as f64 / RATE as f64).sin()) as f32)
            .collect()
    }

    /// Level change of a filtered sine, steady state only, in dB.
    fn measured_db(filters: &[Biquad], freq: f64) -> f64 {
        let mut x = sine(freq, 1.0);
        let before = rms(&x[RATE as usize / 2..]);
        for f in filters {
            f.apply(&mut x);
        }
        20.0 * (rms(&x[RATE as usize / 2..]) / before).log10()
    }

    /// The strongest frequency of `x` (FFT peak, parabolic interpolation).
    fn pitch(x: &[f32]) -> f64 {
        let n = x.len().next_power_of_two() * 4;
        let mut buf = vec![0.0f32; n];
        let window = crate::dsp::hann_window::<f32>(x.len(), x.len());
        for (i, v) in x.iter().enumerate() {
            buf[i] = v * window[i];
        }
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n);
        let mut spec = fft.make_output_vec();
        fft.process(&mut buf, &mut spec).unwrap();
        let mags: Vec<f64> = spec.iter().map(|c| c.norm() as f64).collect();
        let k = (1..mags.len() - 1)
            .max_by(|&a, &b| mags[a].total_cmp(&mags[b]))
            .unwrap();
        let (l, c, r) = (mags[k - 1].ln(), mags[k].ln(), mags[k + 1].ln());
        let offset = 0.5 * (l - r) / (l - 2.0 * c + r);
        (k as f64 + offset) * RATE as f64 / n as f64
    }

    /// Amplitude of `freq` in `x` (a whole number of periods long): a
    /// single DFT bin.
    fn amplitude_at(x: &[f32], freq: f64) -> f64 {
        let (mut re, mut im) = (0.0, 0.0);
        for (i, &v) in x.iter().enumerate() {
            let phase = 2.0 * PI * freq * i as f64 / RATE as f64;
            re += v as f64 * phase.cos();
            im += v as f64 * phase.sin();
        }
        2.0 * (re * re + im * im).sqrt() / x.len() as f64
    }

    #[test]
    fn soft_clipping_adds_odd_harmonics_with_the_drive_and_keeps_the_level() {
        // 400 Hz: 40 samples a period, 0.5 s = 200 whole periods.
        let third_to_fundamental = |drive_db: f64| {
            let mut x = sine(400.0, 0.5);
            let level = rms(&x);
            soft_clip(&mut x, drive_db);
            assert!((rms(&x) / level - 1.0).abs() < 1e-4, "level kept");
            let peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
            (
                amplitude_at(&x, 1200.0) / amplitude_at(&x, 400.0),
                amplitude_at(&x, 800.0) / amplitude_at(&x, 400.0),
                peak / level,
            )
        };
        // Expected values from numpy (tanh of the same sine): third
        // harmonic / fundamental 0.00166 at 0 dB (tanh's series: u^2 / 12,
        // u = 0.1 sqrt 2), 0.1118 at 20 dB, 0.2828 at 30 dB; crest factor
        // sqrt 2 (a clean sine), 1.268, 1.082 (peaks flattened).
        for (drive, third, crest) in [
            (0.0, 0.00166, 1.4119),
            (20.0, 0.1118, 1.2678),
            (30.0, 0.2828, 1.0817),
        ] {
            let (measured, even, measured_crest) = third_to_fundamental(drive);
            assert!(
                (measured - third).abs() < 2e-3,
                "{drive} dB: third harmonic {measured}"
            );
            assert!(
                (measured_crest - crest).abs() < 2e-3,
                "{drive} dB: crest {measured_crest}"
            );
            assert!(
                even < 1e-3,
                "a symmetric curve adds no even harmonic: {even}"
            );
        }
        let mut silent = vec![0.0f32; 100];
        soft_clip(&mut silent, 20.0);
        assert!(silent.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn gain_changes_the_level_by_its_decibels() {
        for db in [-12.0, -3.5, 0.0, 6.0] {
            let mut x = sine(440.0, 0.5);
            let before = rms(&x);
            apply_gain(&mut x, db);
            let measured = 20.0 * (rms(&x) / before).log10();
            assert!((measured - db).abs() < 1e-3, "{db} dB gave {measured}");
        }
    }

    #[test]
    fn shelves_and_passes_have_their_cookbook_response() {
        // Measured on sines, and against the analytic response.
        let low = Biquad::low_shelf(RATE, 300.0, 6.0);
        assert!((measured_db(&[low], 50.0) - 6.0).abs() < 0.3);
        assert!(measured_db(&[low], 5000.0).abs() < 0.3);
        assert!(
            (low.response_db(RATE, 300.0) - 3.0).abs() < 0.05,
            "half gain at the corner"
        );
        let high = Biquad::high_shelf(RATE, 3000.0, -9.0);
        assert!((measured_db(&[high], 7000.0) + 9.0).abs() < 0.6);
        assert!(measured_db(&[high], 100.0).abs() < 0.3);
        let band = [
            Biquad::high_pass(RATE, 200.0),
            Biquad::low_pass(RATE, 3000.0),
        ];
        assert!(measured_db(&band, 1000.0).abs() < 0.5);
        assert!(measured_db(&band, 40.0) < -20.0);
        assert!(measured_db(&band, 7500.0) < -12.0);
        // Butterworth Q: -3 dB at the cutoff.
        let lp = Biquad::low_pass(RATE, 2000.0);
        assert!((measured_db(&[lp], 2000.0) + 3.01).abs() < 0.2);
        assert!((lp.response_db(RATE, 2000.0) + 3.01).abs() < 0.05);
    }

    #[test]
    fn mixing_meets_the_requested_snr() {
        let signal = sine(440.0, 1.0);
        for (pink, snr) in [(false, 0.0), (true, 10.0), (false, 25.0)] {
            let n = noise(signal.len(), pink, 7);
            let mut mixed = signal.clone();
            mix_at_snr(&mut mixed, &n, snr);
            let added: Vec<f32> = mixed.iter().zip(&signal).map(|(m, s)| m - s).collect();
            let measured = 20.0 * (rms(&signal) / rms(&added)).log10();
            assert!((measured - snr).abs() < 1e-3, "{snr} dB gave {measured}");
        }
    }

    #[test]
    fn pink_noise_falls_3_db_per_octave() {
        let n = noise(1 << 18, true, 3);
        let band_db = |lo: f64| {
            let mut x = n.clone();
            Biquad::high_pass(RATE, lo).apply(&mut x);
            Biquad::high_pass(RATE, lo).apply(&mut x);
            Biquad::low_pass(RATE, 2.0 * lo).apply(&mut x);
            Biquad::low_pass(RATE, 2.0 * lo).apply(&mut x);
            20.0 * rms(&x).log10()
        };
        let (a, b) = (band_db(125.0), band_db(1000.0));
        // Equal energy per octave: within 1.5 dB over three octaves.
        assert!((a - b).abs() < 1.5, "octave bands {a:.2} and {b:.2} dB");
    }

    #[test]
    fn time_stretch_changes_length_not_pitch() {
        let x = sine(440.0, 1.0);
        for rate in [0.8, 1.25] {
            let y = time_stretch(&x, rate).unwrap();
            assert_eq!(y.len(), (x.len() as f64 / rate).round() as usize);
            let middle = &y[y.len() / 4..3 * y.len() / 4];
            let f = pitch(middle);
            assert!((f - 440.0).abs() < 440.0 * 0.01, "rate {rate}: {f} Hz");
        }
    }

    #[test]
    fn pitch_shift_moves_a_tone_by_its_semitones() {
        let x = sine(440.0, 1.0);
        for semitones in [-3.0, 2.0, 4.0] {
            let y = pitch_shift(&x, semitones).unwrap();
            assert_eq!(y.len(), x.len());
            let expected = 440.0 * 2f64.powf(semitones / 12.0);
            let f = pitch(&y[y.len() / 4..3 * y.len() / 4]);
            assert!(
                (f - expected).abs() < expected * 0.01,
                "{semitones}: {f} Hz, expected {expected}"
            );
        }
    }

    #[test]
    fn room_impulse_decays_60_db_in_its_rt60() {
        for rt60 in [0.3, 0.8] {
            let h = room_impulse(RATE, rt60, 0.5, 11);
            // Schroeder backward integration of the tail's energy.
            let tail = &h[1 + (0.005 * RATE as f64) as usize..];
            let mut edc: Vec<f64> = tail.iter().map(|&v| (v as f64).powi(2)).collect();
            for i in (0..edc.len() - 1).rev() {
                edc[i] += edc[i + 1];
            }
            let db = |i: usize| 10.0 * (edc[i] / edc[0]).log10();
            // T20 (-5 to -25 dB) extrapolated to 60 dB.
            let at = |level: f64| (0..edc.len()).find(|&i| db(i) <= level).unwrap();
            let t20 = (at(-25.0) - at(-5.0)) as f64 / RATE as f64;
            let measured = 3.0 * t20;
            assert!(
                (measured - rt60).abs() < 0.1 * rt60,
                "rt60 {rt60}: measured {measured}"
            );
            let energy: f64 = tail.iter().map(|&v| (v as f64).powi(2)).sum();
            assert!((energy - 0.5).abs() < 1e-3);
        }
    }

    #[test]
    fn convolution_matches_the_direct_sum() {
        let x: Vec<f32> = (0..300)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) / 5.0)
            .collect();
        let h = [1.0f32, 0.5, -0.25, 0.125];
        let y = convolve_same_length(&x, &h).unwrap();
        for (n, got) in y.iter().enumerate() {
            let direct: f32 = h
                .iter()
                .take(n + 1)
                .enumerate()
                .map(|(k, hk)| hk * x[n - k])
                .sum();
            assert!((got - direct).abs() < 1e-4, "{n}: {got} vs {direct}");
        }
    }
}

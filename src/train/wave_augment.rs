//! Waveform augmentation of a batch's crops, on the loader thread before
//! log-Mel: the `[augment]` recording-chain transforms (`dsp::augment`).
//!
//! Drawing and applying are separate steps: [`WaveDraw::draw`] takes every
//! random decision from the epoch's own stream (`stream::WAVE`), also for
//! batches a resumed run skips, so later batches draw what an
//! uninterrupted run draws; [`WaveDraw::apply`] is then a pure function of
//! the draw and the crops (noise and rooms come from drawn seeds).

use rand::Rng;
use rayon::prelude::*;

use crate::config::AugmentConfig;
use crate::dsp::augment::{
    apply_gain, convolve_same_length, log_uniform, mix_at_snr, noise, pitch_shift, room_impulse,
    soft_clip, time_stretch, uniform, Biquad,
};
use crate::error::Result;

/// One clip's transforms; `None` where the transform did not fire.
#[derive(Debug, Clone, Default, PartialEq)]
struct ClipChain {
    stretch_rate: Option<f64>,
    pitch_semitones: Option<f64>,
    /// rt60 seconds, wet energy ratio, impulse seed.
    reverb: Option<(f64, f64, u64)>,
    /// Pool clip index, offset draw, SNR dB.
    background: Option<(usize, u64, f64)>,
    /// Pink?, SNR dB, noise seed.
    noise: Option<(bool, f64, u64)>,
    /// Low-shelf corner and gain, high-shelf corner and gain.
    eq: Option<(f64, f64, f64, f64)>,
    /// High-pass and low-pass cutoffs.
    bandpass: Option<(f64, f64)>,
    band_limit_hz: Option<f64>,
    gain_db: Option<f64>,
    /// Soft-clipping drive in dB.
    distortion_db: Option<f64>,
}

/// The waveform transforms of one batch, clip by clip.
#[derive(Debug, Clone, PartialEq)]
pub struct WaveDraw {
    clips: Vec<ClipChain>,
}

fn fires<R: Rng>(p: f64, rng: &mut R) -> bool {
    p > 0.0 && rng.random::<f64>() < p
}

impl WaveDraw {
    /// Draws the transforms of `clips` crops; backgrounds come from a pool
    /// of `pool` clips.
    pub fn draw<R: Rng>(config: &AugmentConfig, clips: usize, pool: usize, rng: &mut R) -> Self {
        let c = config;
        let clips = (0..clips)
            .map(|_| ClipChain {
                stretch_rate: fires(c.stretch_prob, rng).then(|| uniform(rng, c.stretch_rate)),
                pitch_semitones: fires(c.pitch_prob, rng)
                    .then(|| uniform(rng, [-c.pitch_semitones, c.pitch_semitones])),
                reverb: fires(c.reverb_prob, rng).then(|| {
                    (
                        uniform(rng, c.reverb_rt60),
                        uniform(rng, c.reverb_wet),
                        rng.random(),
                    )
                }),
                background: (pool > 0 && fires(c.background_prob, rng)).then(|| {
                    (
                        rng.random_range(0..pool),
                        rng.random(),
                        uniform(rng, c.background_snr_db),
                    )
                }),
                noise: fires(c.noise_prob, rng)
                    .then(|| (rng.random(), uniform(rng, c.noise_snr_db), rng.random())),
                eq: fires(c.eq_prob, rng).then(|| {
                    (
                        log_uniform(rng, [100.0, 400.0]),
                        uniform(rng, [-c.eq_db, c.eq_db]),
                        log_uniform(rng, [2000.0, 6000.0]),
                        uniform(rng, [-c.eq_db, c.eq_db]),
                    )
                }),
                bandpass: fires(c.bandpass_prob, rng).then(|| {
                    (
                        log_uniform(rng, c.bandpass_low_hz),
                        log_uniform(rng, c.bandpass_high_hz),
                    )
                }),
                band_limit_hz: fires(c.band_limit_prob, rng)
                    .then(|| log_uniform(rng, c.band_limit_hz)),
                gain_db: fires(c.gain_prob, rng).then(|| uniform(rng, [-c.gain_db, c.gain_db])),
                // Drawn last: runs without it draw what they drew before.
                distortion_db: fires(c.distortion_prob, rng)
                    .then(|| uniform(rng, c.distortion_drive_db)),
            })
            .collect();
        Self { clips }
    }

    /// Applies the draw to `crops` (one per drawn clip, all at `rate` Hz),
    /// in parallel. `pool` holds the clips backgrounds are cut from.
    pub fn apply(&self, crops: &mut [Vec<f32>], rate: u32, pool: &[Vec<f32>]) -> Result<()> {
        crops
            .par_iter_mut()
            .zip(&self.clips)
            .try_for_each(|(crop, chain)| chain.apply(crop, rate, pool))
    }
}

impl ClipChain {
    /// Source-side changes first (tempo, pitch, room), then what the
    /// microphone picks up beside it (background, noise), then the chain's
    /// colour (EQ, band-pass, band-limit), its clipping and level.
    fn apply(&self, x: &mut Vec<f32>, rate: u32, pool: &[Vec<f32>]) -> Result<()> {
        let len = x.len();
        if let Some(r) = self.stretch_rate {
            *x = back_to_length(&time_stretch(x, r)?, len);
        }
        if let Some(s) = self.pitch_semitones {
            *x = pitch_shift(x, s)?;
        }
        if let Some((rt60, wet, seed)) = self.reverb {
            *x = convolve_same_length(x, &room_impulse(rate, rt60, wet, seed))?;
        }
        if let Some((clip, offset, snr)) = self.background {
            mix_at_snr(x, &segment(&pool[clip], len, offset), snr);
        }
        if let Some((pink, snr, seed)) = self.noise {
            mix_at_snr(x, &noise(len, pink, seed), snr);
        }
        if let Some((low_hz, low_db, high_hz, high_db)) = self.eq {
            Biquad::low_shelf(rate, low_hz, low_db).apply(x);
            Biquad::high_shelf(rate, high_hz, high_db).apply(x);
        }
        if let Some((low, high)) = self.bandpass {
            Biquad::high_pass(rate, low).apply(x);
            Biquad::low_pass(rate, high).apply(x);
        }
        if let Some(cutoff) = self.band_limit_hz {
            // Two sections: 24 dB per octave above the cutoff.
            Biquad::low_pass(rate, cutoff).apply(x);
            Biquad::low_pass(rate, cutoff).apply(x);
        }
        if let Some(drive) = self.distortion_db {
            soft_clip(x, drive);
        }
        if let Some(db) = self.gain_db {
            apply_gain(x, db);
        }
        Ok(())
    }
}

/// `x` cut (from its middle) or loop-padded to `len` samples.
fn back_to_length(x: &[f32], len: usize) -> Vec<f32> {
    if x.len() >= len {
        let start = (x.len() - len) / 2;
        return x[start..start + len].to_vec();
    }
    x.iter().copied().cycle().take(len).collect()
}

/// `len` samples of `source` from an offset chosen by `draw`, looped when
/// the source is shorter.
fn segment(source: &[f32], len: usize, draw: u64) -> Vec<f32> {
    if source.is_empty() {
        return vec![0.0; len];
    }
    if source.len() <= len {
        return source.iter().copied().cycle().take(len).collect();
    }
    let start = (draw % (source.len() - len + 1) as u64) as usize;
    source[start..start + len].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::augment::rms;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn everything_on() -> AugmentConfig {
        AugmentConfig {
            gain_prob: 1.0,
            eq_prob: 1.0,
            bandpass_prob: 1.0,
            band_limit_prob: 1.0,
            noise_prob: 1.0,
            background_prob: 1.0,
            pitch_prob: 1.0,
            stretch_prob: 1.0,
            reverb_prob: 1.0,
            distortion_prob: 1.0,
            ..AugmentConfig::default()
        }
    }

    fn tone(freq: f32, len: usize) -> Vec<f32> {
        (0..len)
            .map(|i| 0.3 * (2.0 * std::f32::consts::PI * freq * i as f32 / 16000.0).sin())
            .collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_batch() {
        let config = everything_on();
        let pool = vec![tone(200.0, 20000), tone(900.0, 5000)];
        let run = |seed: u64| {
            let draw = WaveDraw::draw(&config, 3, pool.len(), &mut ChaCha8Rng::seed_from_u64(seed));
            let mut crops = vec![tone(440.0, 8000); 3];
            draw.apply(&mut crops, 16000, &pool).unwrap();
            crops
        };
        let (a, b, c) = (run(1), run(1), run(2));
        assert_eq!(a, b);
        assert_ne!(a, c);
        for crop in &a {
            assert_eq!(crop.len(), 8000);
            assert!(crop.iter().all(|v| v.is_finite()));
            assert!(rms(crop) > 0.0);
        }
    }

    #[test]
    fn nothing_fires_at_probability_zero() {
        let config = AugmentConfig::default();
        assert!(!config.any_waveform());
        let draw = WaveDraw::draw(&config, 4, 2, &mut ChaCha8Rng::seed_from_u64(0));
        let mut crops = vec![tone(440.0, 4000); 4];
        let before = crops.clone();
        draw.apply(&mut crops, 16000, &[]).unwrap();
        assert_eq!(crops, before);
    }

    #[test]
    fn probabilities_set_how_often_a_transform_fires() {
        let config = AugmentConfig {
            gain_prob: 0.3,
            ..AugmentConfig::default()
        };
        let draw = WaveDraw::draw(&config, 4000, 0, &mut ChaCha8Rng::seed_from_u64(5));
        let fired = draw.clips.iter().filter(|c| c.gain_db.is_some()).count() as f64 / 4000.0;
        assert!((fired - 0.3).abs() < 0.03, "{fired}");
        assert!(draw
            .clips
            .iter()
            .filter_map(|c| c.gain_db)
            .all(|g| g.abs() <= config.gain_db));
    }

    #[test]
    fn background_segments_loop_and_stay_in_range() {
        let source: Vec<f32> = (0..10).map(|i| i as f32).collect();
        // Offsets are the draw modulo the 7 possible starts.
        assert_eq!(segment(&source, 4, 9), vec![2.0, 3.0, 4.0, 5.0]);
        assert_eq!(segment(&source, 4, 6), vec![6.0, 7.0, 8.0, 9.0]);
        assert_eq!(
            segment(&source[..3], 7, 0),
            vec![0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 0.0]
        );
        assert_eq!(back_to_length(&[1.0, 2.0, 3.0, 4.0], 2), vec![2.0, 3.0]);
    }
}

//! `[augment]`: data augmentation during CNN training. Waveform transforms
//! (the recording chain: gain, microphone colour, band-limiting, noise and
//! background, room, tempo and pitch) run on each crop before log-Mel;
//! SpecAugment masks and mixup on the log-Mel batch. Every `*_prob` is the
//! chance per clip (0 = off), every range `[min, max]` is drawn uniformly.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentConfig {
    /// Mixup Beta(alpha, alpha) on log-Mel inputs and targets; 0 = off.
    pub mixup_alpha: f64,
    /// SpecAugment time masks per example and their largest width (frames).
    pub time_masks: usize,
    pub time_mask_frames: usize,
    /// SpecAugment frequency masks per example and largest width (Mel bins).
    pub freq_masks: usize,
    pub freq_mask_bins: usize,
    /// Freq-MixStyle (Schmid et al., DCASE 2022's device-generalisation
    /// systems): with this chance per clip, each Mel bin's mean and
    /// standard deviation over time are mixed with a partner clip's by a
    /// weight drawn from Beta(mixstyle_alpha, mixstyle_alpha), so the
    /// recording's spectral colour varies while its time structure and
    /// label stay.
    pub mixstyle_prob: f64,
    pub mixstyle_alpha: f64,

    /// Gain uniform in [-gain_db, +gain_db] dB.
    pub gain_prob: f64,
    pub gain_db: f64,
    /// Microphone / channel colour: a low shelf (corner 100-400 Hz) and a
    /// high shelf (2-6 kHz), each with a gain in [-eq_db, +eq_db].
    pub eq_prob: f64,
    pub eq_db: f64,
    /// Band-pass: a high-pass at a cutoff in `bandpass_low_hz` and a
    /// low-pass at one in `bandpass_high_hz` (Butterworth sections, log-uniform).
    pub bandpass_prob: f64,
    pub bandpass_low_hz: [f64; 2],
    pub bandpass_high_hz: [f64; 2],
    /// Band-limiting, a cheap codec stand-in: a 4th-order low-pass at a
    /// cutoff in `band_limit_hz` (log-uniform).
    pub band_limit_prob: f64,
    pub band_limit_hz: [f64; 2],
    /// White or pink noise (even odds) at an SNR in `noise_snr_db`.
    pub noise_prob: f64,
    pub noise_snr_db: [f64; 2],
    /// Another training clip (any class, its own random crop) mixed in at
    /// an SNR in `background_snr_db`; the label stays the clip's own.
    pub background_prob: f64,
    pub background_snr_db: [f64; 2],
    /// Pitch shift in [-pitch_semitones, +pitch_semitones], duration kept.
    pub pitch_prob: f64,
    pub pitch_semitones: f64,
    /// Tempo change by a rate in `stretch_rate` (> 1 faster), pitch kept,
    /// then cropped or loop-padded back to the crop length.
    pub stretch_prob: f64,
    pub stretch_rate: [f64; 2],
    /// A synthetic room: reverberation time in `reverb_rt60` seconds, tail
    /// energy `reverb_wet` times the direct sound's.
    pub reverb_prob: f64,
    pub reverb_rt60: [f64; 2],
    pub reverb_wet: [f64; 2],
    /// Soft clipping (an overdriven amplifier or loudspeaker): the clip,
    /// normalised to -20 dBFS RMS, driven by `distortion_drive_db` into
    /// `tanh`, its level then restored.
    pub distortion_prob: f64,
    pub distortion_drive_db: [f64; 2],
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            mixup_alpha: 0.0,
            time_masks: 0,
            time_mask_frames: 20,
            freq_masks: 0,
            freq_mask_bins: 8,
            mixstyle_prob: 0.0,
            mixstyle_alpha: 0.3,
            gain_prob: 0.0,
            gain_db: 6.0,
            eq_prob: 0.0,
            eq_db: 6.0,
            bandpass_prob: 0.0,
            bandpass_low_hz: [50.0, 400.0],
            bandpass_high_hz: [3000.0, 8000.0],
            band_limit_prob: 0.0,
            band_limit_hz: [3000.0, 8000.0],
            noise_prob: 0.0,
            noise_snr_db: [5.0, 30.0],
            background_prob: 0.0,
            background_snr_db: [5.0, 20.0],
            pitch_prob: 0.0,
            pitch_semitones: 2.0,
            stretch_prob: 0.0,
            stretch_rate: [0.85, 1.15],
            reverb_prob: 0.0,
            reverb_rt60: [0.2, 1.0],
            reverb_wet: [0.1, 0.6],
            distortion_prob: 0.0,
            distortion_drive_db: [6.0, 24.0],
        }
    }
}

impl AugmentConfig {
    /// Each waveform transform's probability with its key (without the
    /// `augment.` prefix).
    pub fn waveform_probabilities(&self) -> [(&'static str, f64); 10] {
        [
            ("gain_prob", self.gain_prob),
            ("eq_prob", self.eq_prob),
            ("bandpass_prob", self.bandpass_prob),
            ("band_limit_prob", self.band_limit_prob),
            ("noise_prob", self.noise_prob),
            ("background_prob", self.background_prob),
            ("pitch_prob", self.pitch_prob),
            ("stretch_prob", self.stretch_prob),
            ("reverb_prob", self.reverb_prob),
            ("distortion_prob", self.distortion_prob),
        ]
    }

    /// Whether any waveform transform can fire.
    pub fn any_waveform(&self) -> bool {
        self.waveform_probabilities().iter().any(|&(_, p)| p > 0.0)
    }

    /// Checks every key; frequencies must lie below the Nyquist frequency
    /// of `sample_rate`.
    pub fn validate(&self, sample_rate: u32) -> Result<()> {
        let bad = |key: &str, reason: String| {
            Err(Error::ConfigValue {
                key: format!("augment.{key}"),
                reason,
            })
        };
        if !(self.mixup_alpha >= 0.0 && self.mixup_alpha.is_finite()) {
            return bad("mixup_alpha", "must be a finite number >= 0".into());
        }
        if !(self.mixstyle_alpha > 0.0 && self.mixstyle_alpha.is_finite()) {
            return bad(
                "mixstyle_alpha",
                format!("must be a finite number > 0 (got {})", self.mixstyle_alpha),
            );
        }
        let mixstyle = ("mixstyle_prob", self.mixstyle_prob);
        for (key, p) in self.waveform_probabilities().into_iter().chain([mixstyle]) {
            if !(0.0..=1.0).contains(&p) {
                return bad(
                    key,
                    format!("is a probability: must be in [0, 1] (got {p})"),
                );
            }
        }
        for (key, value, max) in [
            ("gain_db", self.gain_db, 40.0),
            ("eq_db", self.eq_db, 24.0),
            ("pitch_semitones", self.pitch_semitones, 12.0),
        ] {
            if !(0.0..=max).contains(&value) {
                return bad(key, format!("must be in [0, {max}] (got {value})"));
            }
        }
        // Cutoffs must lie below the Nyquist frequency where they are used
        // (the defaults suit 16 kHz and up).
        let nyquist = sample_rate as f64 / 2.0;
        let below = |p: f64| if p > 0.0 { nyquist } else { f64::INFINITY };
        let ranges = [
            (
                "bandpass_low_hz",
                self.bandpass_low_hz,
                1.0,
                below(self.bandpass_prob),
            ),
            (
                "bandpass_high_hz",
                self.bandpass_high_hz,
                1.0,
                below(self.bandpass_prob),
            ),
            (
                "band_limit_hz",
                self.band_limit_hz,
                1.0,
                below(self.band_limit_prob),
            ),
            ("noise_snr_db", self.noise_snr_db, -30.0, 100.0),
            ("background_snr_db", self.background_snr_db, -30.0, 100.0),
            ("stretch_rate", self.stretch_rate, 0.5, 2.0),
            ("reverb_rt60", self.reverb_rt60, 0.05, 5.0),
            ("reverb_wet", self.reverb_wet, 0.0, 10.0),
            ("distortion_drive_db", self.distortion_drive_db, -20.0, 60.0),
        ];
        for (key, [lo, hi], min, max) in ranges {
            if !(lo <= hi && lo >= min && hi <= max) {
                return bad(
                    key,
                    format!(
                        "must be [min, max] with {min} <= min <= max <= {max} (got [{lo}, {hi}])"
                    ),
                );
            }
        }
        if self.bandpass_prob > 0.0 && self.bandpass_low_hz[1] >= self.bandpass_high_hz[0] {
            return bad(
                "bandpass_low_hz",
                "the high-pass cutoffs must lie below augment.bandpass_high_hz's low-pass cutoffs"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_key(config: AugmentConfig, rate: u32) -> String {
        match config.validate(rate) {
            Err(Error::ConfigValue { key, .. }) => key,
            other => panic!("expected a ConfigValue error, got {other:?}"),
        }
    }

    #[test]
    fn bad_values_name_their_key() {
        let base = AugmentConfig::default;
        assert!(
            base().validate(8000).is_ok(),
            "defaults are fine at any rate while off"
        );
        let noise = AugmentConfig {
            noise_prob: 1.5,
            ..base()
        };
        assert_eq!(error_key(noise, 16000), "augment.noise_prob");
        let snr = AugmentConfig {
            noise_snr_db: [20.0, 5.0],
            ..base()
        };
        assert_eq!(error_key(snr, 16000), "augment.noise_snr_db");
        let limit = AugmentConfig {
            band_limit_prob: 0.5,
            ..base()
        };
        assert_eq!(error_key(limit, 8000), "augment.band_limit_hz");
        let stretch = AugmentConfig {
            stretch_rate: [0.2, 1.0],
            ..base()
        };
        assert_eq!(error_key(stretch, 16000), "augment.stretch_rate");
        let crossing = AugmentConfig {
            bandpass_prob: 0.5,
            bandpass_low_hz: [100.0, 4000.0],
            ..base()
        };
        assert_eq!(error_key(crossing, 32000), "augment.bandpass_low_hz");
        let mixstyle = AugmentConfig {
            mixstyle_prob: -0.1,
            ..base()
        };
        assert_eq!(error_key(mixstyle, 16000), "augment.mixstyle_prob");
        let alpha = AugmentConfig {
            mixstyle_alpha: 0.0,
            ..base()
        };
        assert_eq!(error_key(alpha, 16000), "augment.mixstyle_alpha");
    }
}

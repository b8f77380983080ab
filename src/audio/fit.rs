//! Bringing clips to one length, so that a model sees no duration cue.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Where to cut a clip that is longer than the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CropPolicy {
    /// Uniformly random offset from a seeded RNG (training).
    #[default]
    Random,
    /// Centre of the clip (evaluation).
    Center,
    /// From the beginning.
    Start,
}

/// How to fill a clip that is shorter than the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PadPolicy {
    /// Repeat the clip until it fills the target: no silent tail that
    /// would tell a short (speech) clip from a long (music) one.
    #[default]
    Loop,
    /// Append zeros.
    Zero,
}

/// Offset of a `target`-sample window inside `len` samples.
pub fn crop_offset<R: Rng + ?Sized>(
    len: usize,
    target: usize,
    policy: CropPolicy,
    rng: &mut R,
) -> usize {
    if len <= target {
        return 0;
    }
    let slack = len - target;
    match policy {
        CropPolicy::Random => rng.random_range(0..=slack),
        CropPolicy::Center => slack / 2,
        CropPolicy::Start => 0,
    }
}

/// Crop or pad `samples` to exactly `target` samples.
pub fn fit_length<R: Rng + ?Sized>(
    samples: &[f32],
    target: usize,
    crop: CropPolicy,
    pad: PadPolicy,
    rng: &mut R,
) -> Vec<f32> {
    if samples.len() >= target {
        let offset = crop_offset(samples.len(), target, crop, rng);
        return samples[offset..offset + target].to_vec();
    }
    let mut out = Vec::with_capacity(target);
    match pad {
        PadPolicy::Zero => {
            out.extend_from_slice(samples);
            out.resize(target, 0.0);
        }
        PadPolicy::Loop if samples.is_empty() => out.resize(target, 0.0),
        PadPolicy::Loop => {
            while out.len() < target {
                let take = (target - out.len()).min(samples.len());
                out.extend_from_slice(&samples[..take]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn loop_pad_repeats() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let y = fit_length(
            &[1.0, 2.0, 3.0],
            7,
            CropPolicy::Random,
            PadPolicy::Loop,
            &mut rng,
        );
        assert_eq!(y, vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0]);
        let z = fit_length(
            &[1.0, 2.0],
            4,
            CropPolicy::Random,
            PadPolicy::Zero,
            &mut rng,
        );
        assert_eq!(z, vec![1.0, 2.0, 0.0, 0.0]);
        assert_eq!(
            fit_length(&[], 2, CropPolicy::Start, PadPolicy::Loop, &mut rng),
            vec![0.0; 2]
        );
    }

    #[test]
    fn crops_are_seeded_and_in_range() {
        let x: Vec<f32> = (0..100).map(|i| i as f32).collect();
        let a = fit_length(
            &x,
            10,
            CropPolicy::Random,
            PadPolicy::Loop,
            &mut ChaCha8Rng::seed_from_u64(7),
        );
        let b = fit_length(
            &x,
            10,
            CropPolicy::Random,
            PadPolicy::Loop,
            &mut ChaCha8Rng::seed_from_u64(7),
        );
        assert_eq!(a, b);
        assert_eq!(a.len(), 10);
        assert!(a.windows(2).all(|w| w[1] == w[0] + 1.0));
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let offsets: std::collections::HashSet<usize> = (0..200)
            .map(|_| crop_offset(100, 10, CropPolicy::Random, &mut rng))
            .collect();
        assert!(offsets.len() > 50 && offsets.iter().all(|&o| o <= 90));
        let c = fit_length(&x, 10, CropPolicy::Center, PadPolicy::Zero, &mut rng);
        assert_eq!(c[0], 45.0);
    }
}

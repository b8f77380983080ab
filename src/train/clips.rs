//! Decoded audio held in memory for CNN training, the order clips are drawn
//! in, and the crops a batch is made of.
//!
//! Every clip is decoded and resampled once, before the first epoch (at most
//! `training.cache_seconds` of it, from the middle, so a long music track
//! does not fill memory). Random training crops are then memory copies, and
//! short clips are loop-padded so that a clip's length tells the model
//! nothing about its class.

use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::audio::{
    decode_file, decode_window, fit_length, probe_info, resample, CropPolicy, PadPolicy,
};
use crate::data::spectrograms::SkippedClip;
use crate::data::{Manifest, Split};
use crate::error::{Error, Result};
use crate::util::progress_bar;

/// The clips of one split, decoded.
#[derive(Debug, Default)]
pub struct ClipSet {
    pub paths: Vec<PathBuf>,
    pub labels: Vec<usize>,
    pub audio: Vec<Vec<f32>>,
}

impl ClipSet {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Decode the clips of `split` at `sample_rate`. A clip that fails is
    /// reported in the second value and left out; a label outside `classes`
    /// is an error naming the manifest.
    pub fn load(
        manifest: &Manifest,
        manifest_path: &Path,
        split: Split,
        classes: &[String],
        sample_rate: u32,
        cache_seconds: f64,
        quiet: bool,
    ) -> Result<(Self, Vec<SkippedClip>)> {
        let mut wanted = Vec::new();
        for clip in manifest.clips.iter().filter(|c| c.split == split) {
            let label = classes
                .iter()
                .position(|c| *c == clip.label)
                .ok_or_else(|| Error::Manifest {
                    path: manifest_path.to_path_buf(),
                    reason: format!(
                        "label `{}` of {}{} is not in data.classes ({})",
                        clip.label,
                        clip.path,
                        clip.line_note(),
                        classes.join(", ")
                    ),
                })?;
            wanted.push((manifest.resolve(clip), label));
        }
        let bar = progress_bar(
            wanted.len() as u64,
            &format!("decoding {} clips", split.as_str()),
            quiet,
        );
        let decoded: Vec<Result<Vec<f32>>> = wanted
            .par_iter()
            .map(|(path, _)| {
                let result = load_middle(path, sample_rate, cache_seconds);
                bar.inc(1);
                result
            })
            .collect();
        bar.finish_and_clear();
        let mut set = ClipSet::default();
        let mut skipped = Vec::new();
        for ((path, label), result) in wanted.into_iter().zip(decoded) {
            match result {
                Ok(audio) => {
                    set.paths.push(path);
                    set.labels.push(label);
                    set.audio.push(audio);
                }
                Err(e) => skipped.push(SkippedClip {
                    path,
                    error: e.to_string(),
                }),
            }
        }
        Ok((set, skipped))
    }
}

/// At most `cache_seconds` (0 = all) from the middle of `path`, mono, at
/// `rate`. Long files are read through a seeking window.
pub fn load_middle(path: &Path, rate: u32, cache_seconds: f64) -> Result<Vec<f32>> {
    let mut decoded = None;
    if cache_seconds > 0.0 {
        if let Some(duration) = probe_info(path)?.duration_seconds() {
            if duration > cache_seconds + 0.5 {
                let window = decode_window(path, (duration - cache_seconds) / 2.0, cache_seconds)?;
                // Headers can overstate the length: fall back to a full read
                // when the window came back short.
                if window.duration_seconds() >= 0.9 * cache_seconds {
                    decoded = Some(window);
                }
            }
        }
    }
    let decoded = match decoded {
        Some(d) => d,
        None => decode_file(path)?,
    };
    let samples = resample(&decoded.samples, decoded.sample_rate, rate)?;
    if samples.is_empty() {
        return Err(Error::decode(path, "no audio samples"));
    }
    Ok(samples)
}

/// Per-epoch random stream: the same `(seed, epoch, stream)` gives the same
/// draws, whether or not the run was resumed in between.
pub fn epoch_rng(seed: u64, epoch: usize, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(((epoch as u64) << 8) | stream);
    rng
}

/// Streams of [`epoch_rng`].
pub mod stream {
    pub const ORDER: u64 = 1;
    pub const CROPS: u64 = 2;
    pub const AUGMENT: u64 = 3;
    /// Waveform transforms (`train::wave_augment`).
    pub const WAVE: u64 = 4;
}

/// How an epoch draws its clips (`training.sampler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampler {
    /// Each clip once, in random order: classes as frequent as in the data.
    Shuffle,
    /// As many draws as clips, every class equally likely.
    Balanced,
    /// As many draws as clips, each class with probability proportional to
    /// the square root of its size: between the data's class frequencies
    /// and uniform (square-root sampling, Mahajan et al. 2018), so rare
    /// classes are seen more often without teaching the model that every
    /// class is equally common.
    Sqrt,
}

impl Sampler {
    /// From the config's name (validated there).
    pub fn from_name(name: &str) -> Self {
        match name {
            "balanced" => Sampler::Balanced,
            "sqrt" => Sampler::Sqrt,
            _ => Sampler::Shuffle,
        }
    }

    /// A class's relative share of an epoch's draws, from its number of
    /// train clips (0 for an empty class, which is never drawn).
    pub fn class_weight(self, clips: usize) -> f64 {
        match (self, clips) {
            (_, 0) => 0.0,
            (Sampler::Shuffle, n) => n as f64,
            (Sampler::Balanced, _) => 1.0,
            (Sampler::Sqrt, n) => (n as f64).sqrt(),
        }
    }
}

/// The clip indices of one epoch, drawn as `sampler` says; within a class,
/// clips are drawn uniformly with replacement.
pub fn epoch_order<R: Rng>(
    labels: &[usize],
    n_classes: usize,
    sampler: Sampler,
    rng: &mut R,
) -> Vec<usize> {
    if sampler == Sampler::Shuffle {
        let mut order: Vec<usize> = (0..labels.len()).collect();
        order.shuffle(rng);
        return order;
    }
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); n_classes];
    for (i, &label) in labels.iter().enumerate() {
        by_class[label].push(i);
    }
    by_class.retain(|members| !members.is_empty());
    if by_class.is_empty() {
        return Vec::new();
    }
    let weights: Vec<f64> = by_class
        .iter()
        .map(|m| Sampler::Sqrt.class_weight(m.len()))
        .collect();
    let total: f64 = weights.iter().sum();
    (0..labels.len())
        .map(|_| {
            let class = match sampler {
                Sampler::Sqrt => weighted_index(&weights, total, rng.random::<f64>()),
                _ => rng.random_range(0..by_class.len()),
            };
            let members = &by_class[class];
            members[rng.random_range(0..members.len())]
        })
        .collect()
}

/// The index whose cumulative weight first exceeds `u * total`.
fn weighted_index(weights: &[f64], total: f64, u: f64) -> usize {
    let mut left = u * total;
    for (i, w) in weights.iter().enumerate() {
        if left < *w {
            return i;
        }
        left -= w;
    }
    weights.len() - 1
}

/// Evaluation crops of a clip: its middle (`windows = None`) or every
/// window of `target` samples `hop` apart, the last one flush with the end.
pub fn eval_crops(
    audio: &[f32],
    target: usize,
    pad: PadPolicy,
    hop: Option<usize>,
) -> Vec<Vec<f32>> {
    // Evaluation crops are deterministic: the RNG is never drawn from.
    let mut unused = ChaCha8Rng::seed_from_u64(0);
    let Some(hop) = hop.filter(|_| audio.len() > target) else {
        return vec![fit_length(
            audio,
            target,
            CropPolicy::Center,
            pad,
            &mut unused,
        )];
    };
    let last = audio.len() - target;
    let mut starts: Vec<usize> = (0..=last).step_by(hop.max(1)).collect();
    if starts.last() != Some(&last) {
        starts.push(last);
    }
    starts
        .into_iter()
        .map(|s| audio[s..s + target].to_vec())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_order_draws_classes_evenly() {
        let labels: Vec<usize> = (0..1000).map(|i| usize::from(i >= 900)).collect();
        let mut rng = epoch_rng(1, 0, stream::ORDER);
        let order = epoch_order(&labels, 2, Sampler::Balanced, &mut rng);
        assert_eq!(order.len(), 1000);
        let minority = order.iter().filter(|&&i| labels[i] == 1).count();
        assert!((400..600).contains(&minority), "{minority}");
        // sqrt(100) / (sqrt(900) + sqrt(100)) = 1/4 of the draws.
        let mut minority = 0;
        for epoch in 0..20 {
            let mut rng = epoch_rng(1, epoch, stream::ORDER);
            let order = epoch_order(&labels, 2, Sampler::Sqrt, &mut rng);
            assert_eq!(order.len(), 1000);
            minority += order.iter().filter(|&&i| labels[i] == 1).count();
        }
        let share = minority as f64 / 20_000.0;
        assert!((share - 0.25).abs() < 0.015, "{share}");
        let mut shuffled = epoch_order(&labels, 2, Sampler::Shuffle, &mut rng);
        shuffled.sort_unstable();
        assert_eq!(shuffled, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn epoch_streams_are_reproducible_and_distinct() {
        let draw = |epoch, stream| epoch_rng(7, epoch, stream).random::<u64>();
        assert_eq!(draw(3, stream::CROPS), draw(3, stream::CROPS));
        assert_ne!(draw(3, stream::CROPS), draw(4, stream::CROPS));
        assert_ne!(draw(3, stream::CROPS), draw(3, stream::ORDER));
    }

    #[test]
    fn eval_windows_cover_the_clip() {
        let audio: Vec<f32> = (0..100).map(|i| i as f32).collect();
        let windows = eval_crops(&audio, 30, PadPolicy::Loop, Some(25));
        let starts: Vec<f32> = windows.iter().map(|w| w[0]).collect();
        assert_eq!(starts, vec![0.0, 25.0, 50.0, 70.0]);
        assert!(windows.iter().all(|w| w.len() == 30));
        let center = eval_crops(&audio, 30, PadPolicy::Loop, None);
        assert_eq!(center[0][0], 35.0);
        let short = eval_crops(&audio[..10], 30, PadPolicy::Loop, Some(5));
        assert_eq!(short.len(), 1);
        assert_eq!(short[0][10], 0.0);
    }
}

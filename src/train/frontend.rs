//! The CNN's input: log-Mel of a batch of crops on the training device,
//! then Freq-MixStyle, SpecAugment masks and mixup.
//!
//! On a wgpu device the log-Mel is computed there by our WGSL kernels
//! (`gpu::GpuMel`), straight from the waveform tensor. On the CPU backends
//! (and on devices our kernels cannot target) the rustfft path computes it
//! on the loader thread, overlapping the previous step. Random draws for
//! augmentation are made on the loader thread too, from per-epoch streams,
//! so a batch is the same whichever thread made it and whenever.

use std::sync::Arc;

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::Rng;
use rand_distr::{Beta, Distribution};

use crate::config::{AugmentConfig, SpectrogramConfig};
use crate::dsp::MelSpectrogram;
use crate::error::{Error, Result};
use crate::gpu::GpuMel;

/// Where log-Mel is computed.
pub enum MelFrontend {
    /// Our kernels, on the training (wgpu) device.
    Device(Box<GpuMel>),
    /// The CPU path, on the loader thread.
    Host(Arc<MelSpectrogram>),
}

impl MelFrontend {
    /// Kernels on `wgpu_device` when given, else the CPU path.
    pub fn new(
        config: &SpectrogramConfig,
        sample_rate: u32,
        wgpu_device: Option<&Device>,
    ) -> Result<Self> {
        Ok(match wgpu_device {
            Some(device) => Self::Device(Box::new(GpuMel::new(config, sample_rate, device)?)),
            None => Self::Host(Arc::new(MelSpectrogram::new(config, sample_rate))),
        })
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Self::Device(_) => "log-Mel by our WGSL kernels on the training device",
            Self::Host(_) => "log-Mel by the CPU path (rustfft) on the loader thread",
        }
    }

    /// Frames of the log-Mel of `samples` samples.
    pub fn n_frames(&self, samples: usize) -> Result<usize> {
        match self {
            Self::Device(gpu) => gpu.n_frames(samples),
            Self::Host(mel) => mel.stft().n_frames(samples),
        }
    }

    /// The host-side half, for the loader thread.
    pub fn host_part(&self) -> Option<Arc<MelSpectrogram>> {
        match self {
            Self::Device(_) => None,
            Self::Host(mel) => Some(mel.clone()),
        }
    }

    /// `[clips, frames, mels]` on `device` (not tracked by autodiff).
    pub fn to_device(&self, input: HostInput, device: &Device) -> Result<Tensor<3>> {
        match (self, input) {
            (
                Self::Device(gpu),
                HostInput::Waveforms {
                    data,
                    clips,
                    samples,
                },
            ) => {
                let waves =
                    Tensor::<2>::from_data(TensorData::new(data, [clips, samples]), gpu.device());
                let mels = gpu.forward(waves)?.swap_dims(1, 2);
                Ok(mels.to_device(device))
            }
            (
                _,
                HostInput::Mels {
                    data,
                    clips,
                    n_mels,
                    frames,
                },
            ) => {
                let mels =
                    Tensor::<3>::from_data(TensorData::new(data, [clips, n_mels, frames]), device);
                Ok(mels.swap_dims(1, 2))
            }
            (Self::Host(_), HostInput::Waveforms { .. }) => Err(Error::InvalidArgument(
                "internal: waveforms given to the CPU log-Mel path".into(),
            )),
        }
    }
}

/// A batch's input as the loader thread hands it over.
pub enum HostInput {
    Waveforms {
        data: Vec<f32>,
        clips: usize,
        samples: usize,
    },
    /// `[clips, n_mels, frames]` log-Mel.
    Mels {
        data: Vec<f32>,
        clips: usize,
        n_mels: usize,
        frames: usize,
    },
}

impl HostInput {
    /// Crops of equal length, turned into log-Mel when `mel` is given.
    pub fn prepare(crops: Vec<Vec<f32>>, mel: Option<&MelSpectrogram>) -> Result<Self> {
        let clips = crops.len();
        let samples = crops.first().map_or(0, Vec::len);
        let Some(mel) = mel else {
            return Ok(Self::Waveforms {
                data: crops.concat(),
                clips,
                samples,
            });
        };
        let specs = mel
            .compute_batch(&crops)
            .into_iter()
            .collect::<Result<Vec<_>>>()?;
        let (n_mels, frames) = specs.first().map_or((0, 0), |s| (s.n_mels, s.frames));
        let mut data = Vec::with_capacity(clips * n_mels * frames);
        for spec in specs {
            data.extend_from_slice(&spec.data);
        }
        Ok(Self::Mels {
            data,
            clips,
            n_mels,
            frames,
        })
    }
}

/// Random choices of one training batch's augmentation.
#[derive(Debug, Clone, PartialEq)]
pub struct AugmentDraw {
    /// `[clips, frames, mels]`, 1 = keep, 0 = masked; `None` without masks.
    pub keep: Option<Vec<f32>>,
    /// Mixup weight and partner of each clip.
    pub mixup: Option<(f32, Vec<usize>)>,
    /// Freq-MixStyle: per clip, the weight of its own statistics (1 = left
    /// as it is) and its partner; `None` when no clip is mixed.
    pub mixstyle: Option<(Vec<f32>, Vec<usize>)>,
}

impl AugmentDraw {
    pub fn draw<R: Rng>(
        config: &AugmentConfig,
        clips: usize,
        frames: usize,
        mels: usize,
        rng: &mut R,
    ) -> Result<Self> {
        let masking = (config.time_masks > 0 && config.time_mask_frames > 0)
            || (config.freq_masks > 0 && config.freq_mask_bins > 0);
        let keep = masking.then(|| {
            let mut keep = vec![1.0f32; clips * frames * mels];
            for clip in keep.chunks_mut(frames * mels) {
                for _ in 0..config.time_masks {
                    let (start, width) = mask_span(frames, config.time_mask_frames, rng);
                    for t in start..start + width {
                        clip[t * mels..(t + 1) * mels].fill(0.0);
                    }
                }
                for _ in 0..config.freq_masks {
                    let (start, width) = mask_span(mels, config.freq_mask_bins, rng);
                    for t in 0..frames {
                        clip[t * mels + start..t * mels + start + width].fill(0.0);
                    }
                }
            }
            keep
        });
        let mixup = if config.mixup_alpha > 0.0 && clips > 1 {
            let lambda = symmetric_beta("mixup_alpha", config.mixup_alpha)?.sample(rng) as f32;
            Some((lambda, partners(clips, rng)))
        } else {
            None
        };
        // Drawn last, so that batches without it keep the draws they had
        // before the option existed.
        let mixstyle = draw_mixstyle(config, clips, rng)?;
        Ok(Self {
            keep,
            mixup,
            mixstyle,
        })
    }
}

/// Per clip: mixed with chance `mixstyle_prob`, its own statistics'
/// weight from Beta(alpha, alpha); a random partner.
fn draw_mixstyle<R: Rng>(
    config: &AugmentConfig,
    clips: usize,
    rng: &mut R,
) -> Result<Option<(Vec<f32>, Vec<usize>)>> {
    if config.mixstyle_prob <= 0.0 || clips < 2 {
        return Ok(None);
    }
    let beta = symmetric_beta("mixstyle_alpha", config.mixstyle_alpha)?;
    let own: Vec<f32> = (0..clips)
        .map(|_| {
            let mixed = rng.random_bool(config.mixstyle_prob);
            let weight = beta.sample(rng) as f32;
            if mixed {
                weight
            } else {
                1.0
            }
        })
        .collect();
    let partner = partners(clips, rng);
    Ok(own.iter().any(|&w| w < 1.0).then_some((own, partner)))
}

/// Beta(alpha, alpha) for the `[augment]` key `key`.
fn symmetric_beta(key: &str, alpha: f64) -> Result<Beta<f64>> {
    Beta::new(alpha, alpha).map_err(|e| Error::ConfigValue {
        key: format!("augment.{key}"),
        reason: e.to_string(),
    })
}

/// Each clip's partner for mixing: a random permutation of the batch.
fn partners<R: Rng>(clips: usize, rng: &mut R) -> Vec<usize> {
    let mut partner: Vec<usize> = (0..clips).collect();
    rand::seq::SliceRandom::shuffle(partner.as_mut_slice(), rng);
    partner
}

/// `partner` as an index tensor for `select` along the batch.
fn partner_index(partner: &[usize], device: &Device) -> Tensor<1, Int> {
    let index: Vec<i64> = partner.iter().map(|&p| p as i64).collect();
    Tensor::<1, Int>::from_data(TensorData::new(index, [partner.len()]), device)
}

/// SpecAugment's span: width uniform in `0..=max_width`, start uniform.
fn mask_span<R: Rng>(len: usize, max_width: usize, rng: &mut R) -> (usize, usize) {
    let width = rng.random_range(0..=max_width.min(len));
    let start = rng.random_range(0..=len - width);
    (start, width)
}

/// Soft targets `[clips, classes]`: label smoothing, then mixup.
pub fn soft_targets(
    labels: &[usize],
    n_classes: usize,
    smoothing: f64,
    mixup: Option<&(f32, Vec<usize>)>,
) -> Vec<f32> {
    let off = (smoothing / n_classes as f64) as f32;
    let on = (1.0 - smoothing) as f32 + off;
    let one = |label: usize| -> Vec<f32> {
        let mut row = vec![off; n_classes];
        row[label] = on;
        row
    };
    let mut out = Vec::with_capacity(labels.len() * n_classes);
    for (i, &label) in labels.iter().enumerate() {
        let own = one(label);
        match mixup {
            Some((lambda, partner)) => {
                let other = one(labels[partner[i]]);
                out.extend(
                    own.iter()
                        .zip(&other)
                        .map(|(a, b)| lambda * a + (1.0 - lambda) * b),
                );
            }
            None => out.extend(own),
        }
    }
    out
}

/// Freq-MixStyle, masks (masked cells take the clip's mean, the neutral
/// value after the model's input batch norm) and mixup of `[clips, frames,
/// mels]` inputs.
pub fn apply_augment(x: Tensor<3>, draw: &AugmentDraw) -> Tensor<3> {
    let device = x.device();
    let [clips, frames, mels] = x.dims();
    let mut x = x;
    if let Some((own, partner)) = &draw.mixstyle {
        x = freq_mixstyle(x, own, partner);
    }
    if let Some(keep) = &draw.keep {
        let keep = Tensor::<3>::from_data(
            TensorData::new(keep.clone(), [clips, frames, mels]),
            &device,
        );
        let mean = x.clone().mean_dim(2).mean_dim(1);
        let masked = keep.clone().neg() + 1.0;
        x = x * keep + masked * mean;
    }
    if let Some((lambda, partner)) = &draw.mixup {
        let other = x.clone().select(0, partner_index(partner, &device));
        x = x * *lambda + other * (1.0 - *lambda);
    }
    x
}

/// Each clip's Mel bins standardised over time, then given the mix `own *
/// its statistics + (1 - own) * its partner's` (mean and standard
/// deviation per bin).
fn freq_mixstyle(x: Tensor<3>, own: &[f32], partner: &[usize]) -> Tensor<3> {
    let device = x.device();
    let clips = own.len();
    let mean = x.clone().mean_dim(1);
    let centred = x - mean.clone();
    let std = (centred.clone().powi_scalar(2).mean_dim(1) + 1e-6).sqrt();
    let normalised = centred / std.clone();
    let index = partner_index(partner, &device);
    let own = Tensor::<3>::from_data(TensorData::new(own.to_vec(), [clips, 1, 1]), &device);
    let other = own.clone().neg() + 1.0;
    let mix = |stat: Tensor<3>| {
        stat.clone() * own.clone() + stat.select(0, index.clone()) * other.clone()
    };
    normalised * mix(std) + mix(mean)
}

/// Mean cross-entropy of `logits` against soft `targets` (both `[clips,
/// classes]`).
pub fn soft_cross_entropy(logits: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
    (targets * log_softmax(logits, 1)).sum_dim(1).mean().neg()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::clips::{epoch_rng, stream};

    #[test]
    fn targets_smooth_and_mix() {
        let t = soft_targets(&[0, 1], 4, 0.2, None);
        assert!((t[0] - 0.85).abs() < 1e-6 && (t[1] - 0.05).abs() < 1e-6);
        assert!((t[..4].iter().sum::<f32>() - 1.0).abs() < 1e-6);
        let mixed = soft_targets(&[0, 1], 2, 0.0, Some(&(0.75, vec![1, 0])));
        assert_eq!(mixed, vec![0.75, 0.25, 0.25, 0.75]);
    }

    #[test]
    fn masks_stay_within_their_limits() {
        let config = AugmentConfig {
            time_masks: 2,
            time_mask_frames: 5,
            freq_masks: 1,
            freq_mask_bins: 3,
            mixup_alpha: 0.4,
            ..AugmentConfig::default()
        };
        let mut rng = epoch_rng(1, 0, stream::AUGMENT);
        let draw = AugmentDraw::draw(&config, 3, 40, 16, &mut rng).unwrap();
        let keep = draw.keep.unwrap();
        for clip in keep.chunks(40 * 16) {
            let masked = clip.iter().filter(|&&v| v == 0.0).count();
            // At most 2 x 5 frames x 16 bins + 3 bins x 40 frames.
            assert!(masked <= 2 * 5 * 16 + 3 * 40, "{masked}");
        }
        let (lambda, partner) = draw.mixup.unwrap();
        assert!((0.0..=1.0).contains(&lambda));
        let mut sorted = partner.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![0, 1, 2]);
    }

    #[test]
    fn masked_cells_take_the_clip_mean() {
        let device = Device::flex();
        let x = Tensor::<3>::from_data(
            TensorData::new(vec![1.0f32, 3.0, 5.0, 7.0], [1, 2, 2]),
            &device,
        );
        let draw = AugmentDraw {
            keep: Some(vec![1.0, 0.0, 1.0, 1.0]),
            mixup: None,
            mixstyle: None,
        };
        let y: Vec<f32> = apply_augment(x, &draw)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(y, vec![1.0, 4.0, 5.0, 7.0]);
    }

    /// Per-bin mean and std over time of `[clips, frames, mels]` data.
    fn bin_stats(data: &[f32], clips: usize, frames: usize, mels: usize) -> Vec<(f32, f32)> {
        let mut out = Vec::new();
        for c in 0..clips {
            for m in 0..mels {
                let v: Vec<f32> = (0..frames)
                    .map(|t| data[(c * frames + t) * mels + m])
                    .collect();
                let mean = v.iter().sum::<f32>() / frames as f32;
                let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / frames as f32;
                out.push((mean, var.sqrt()));
            }
        }
        out
    }

    #[test]
    fn mixstyle_moves_each_bins_statistics_and_keeps_the_time_pattern() {
        let (clips, frames, mels) = (2, 50, 3);
        let data: Vec<f32> = (0..clips * frames * mels)
            .map(|i| {
                let (c, t, m) = (i / (frames * mels), (i / mels) % frames, i % mels);
                let scale = [1.0, 4.0][c] * (m + 1) as f32;
                [-40.0, -10.0][c] + m as f32 + scale * ((t as f32) * (0.3 + 0.2 * m as f32)).sin()
            })
            .collect();
        let before = bin_stats(&data, clips, frames, mels);
        let x = Tensor::<3>::from_data(
            TensorData::new(data.clone(), [clips, frames, mels]),
            &Device::flex(),
        );
        let draw = AugmentDraw {
            keep: None,
            mixup: None,
            mixstyle: Some((vec![0.25, 1.0], vec![1, 0])),
        };
        let y: Vec<f32> = apply_augment(x, &draw).into_data().try_to_vec().unwrap();
        let after = bin_stats(&y, clips, frames, mels);
        for m in 0..mels {
            // Clip 0 takes a quarter of its own statistics, three quarters of clip 1's.
            let (own, other) = (before[m], before[mels + m]);
            let (mean, std) = after[m];
            assert!(
                (mean - (0.25 * own.0 + 0.75 * other.0)).abs() < 1e-3,
                "bin {m}: {mean}"
            );
            assert!(
                (std - (0.25 * own.1 + 0.75 * other.1)).abs() < 1e-3,
                "bin {m}: {std}"
            );
            // Its time pattern is kept: standardised frames are unchanged.
            for t in 0..frames {
                let z_before = (data[t * mels + m] - own.0) / own.1;
                let z_after = (y[t * mels + m] - mean) / std;
                assert!((z_before - z_after).abs() < 1e-3);
            }
        }
        // Clip 1 (weight 1) is left as it was.
        for (a, b) in data[frames * mels..].iter().zip(&y[frames * mels..]) {
            assert!((a - b).abs() < 1e-3, "{a} {b}");
        }
    }

    #[test]
    fn mixstyle_is_drawn_per_clip_with_its_probability() {
        let config = |p: f64| AugmentConfig {
            mixstyle_prob: p,
            mixstyle_alpha: 0.3,
            ..AugmentConfig::default()
        };
        let mut rng = epoch_rng(7, 0, stream::AUGMENT);
        assert_eq!(
            AugmentDraw::draw(&config(0.0), 32, 10, 4, &mut rng)
                .unwrap()
                .mixstyle,
            None
        );
        let mut mixed = 0;
        for _ in 0..50 {
            let draw = AugmentDraw::draw(&config(0.5), 32, 10, 4, &mut rng).unwrap();
            let (own, partner) = draw.mixstyle.unwrap();
            assert!(own.iter().all(|w| (0.0..=1.0).contains(w)));
            mixed += own.iter().filter(|&&w| w < 1.0).count();
            let mut sorted = partner.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..32).collect::<Vec<_>>());
        }
        // 1600 clips at 0.5: 800 expected, std 20.
        assert!((700..900).contains(&mixed), "{mixed}");
    }
}

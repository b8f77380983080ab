//! Everything training and evaluation share: the manifest, the classes, the
//! device, the log-Mel front end, and the decoded clips of each split.

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use crate::config::Config;
use crate::data::spectrograms::SkippedClip;
use crate::data::{Manifest, Split};
use crate::error::{Error, Result};
use crate::model::cnn::SoundCnn;
use crate::train::audio_cache::{self, ClipKey};
use crate::train::clips::ClipSet;
use crate::train::device::{DeviceChoice, TrainDevice};
use crate::train::frontend::MelFrontend;

pub(super) struct Setup {
    pub manifest: Manifest,
    pub manifest_path: PathBuf,
    pub classes: Vec<String>,
    pub device: TrainDevice,
    pub frontend: MelFrontend,
    pub crop_samples: usize,
    pub n_mels: usize,
    /// `train::prior` factors applied to every window's probabilities
    /// (`training.prior_correction`); set once the run's prior is known.
    pub prior_factors: Option<Vec<f32>>,
}

/// The decoded clips of every split, and where they came from.
pub(super) struct Splits {
    pub train: ClipSet,
    pub val: ClipSet,
    pub test: ClipSet,
    pub skipped: Vec<SkippedClip>,
    /// Whether every split was read from `training.audio_cache`.
    pub cache_hit: bool,
    /// For the log: "decoded", or the cache read.
    pub source: String,
}

impl Setup {
    pub fn new(
        config: &Config,
        manifest_override: Option<&Path>,
        device: DeviceChoice,
    ) -> Result<Self> {
        let manifest_path = match manifest_override {
            Some(path) => path.to_path_buf(),
            None => config
                .data
                .manifest
                .clone()
                .ok_or_else(|| Error::ConfigValue {
                    key: "data.manifest".into(),
                    reason: "training needs a manifest (set data.manifest or pass --manifest)"
                        .into(),
                })?,
        };
        let manifest = Manifest::load(&manifest_path)?;
        let classes = if config.data.classes.is_empty() {
            manifest.labels()
        } else {
            config.data.classes.clone()
        };
        if classes.len() < 2 {
            return Err(Error::ConfigValue {
                key: "data.classes".into(),
                reason: format!("need at least 2 classes, got {classes:?}"),
            });
        }
        if config.audio.clip_seconds <= 0.0 {
            return Err(Error::ConfigValue {
                key: "audio.clip_seconds".into(),
                reason: "CNN training needs a fixed crop length (> 0 seconds)".into(),
            });
        }
        let device = TrainDevice::select(device)?;
        let frontend = MelFrontend::new(
            &config.spectrogram,
            config.audio.sample_rate,
            device.wgpu.then_some(&device.device),
        )?;
        let crop_samples =
            (config.audio.clip_seconds * config.audio.sample_rate as f64).round() as usize;
        Ok(Self {
            manifest,
            manifest_path,
            classes,
            device,
            frontend,
            crop_samples,
            n_mels: config.spectrogram.n_mels,
            prior_factors: None,
        })
    }

    /// The clips of `split`, decoded, or read from `training.audio_cache`
    /// when set (and written there on a miss). The bool says it was a hit.
    pub fn load_split(
        &self,
        config: &Config,
        split: Split,
        quiet: bool,
    ) -> Result<(ClipSet, Vec<SkippedClip>, bool)> {
        let decode = || {
            ClipSet::load(
                &self.manifest,
                &self.manifest_path,
                split,
                &self.classes,
                config.audio.sample_rate,
                config.training.cache_seconds,
                quiet,
            )
        };
        let Some(dir) = &config.training.audio_cache else {
            let (set, skipped) = decode()?;
            return Ok((set, skipped, false));
        };
        let key = ClipKey {
            manifest: &self.manifest,
            split,
            classes: &self.classes,
            sample_rate: config.audio.sample_rate,
            cache_seconds: config.training.cache_seconds,
        };
        audio_cache::load_or_decode(dir, &key, decode)
    }

    /// Train, val and test clips, with every clip that failed to decode.
    pub fn load_splits(&self, config: &Config, quiet: bool) -> Result<Splits> {
        let started = std::time::Instant::now();
        let (train, mut skipped, train_hit) = self.load_split(config, Split::Train, quiet)?;
        let (val, val_skipped, val_hit) = self.load_split(config, Split::Val, quiet)?;
        let (test, test_skipped, test_hit) = self.load_split(config, Split::Test, quiet)?;
        skipped.extend(val_skipped);
        skipped.extend(test_skipped);
        let cache_hit = train_hit && val_hit && test_hit;
        let seconds = started.elapsed().as_secs_f64();
        let source = match (&config.training.audio_cache, cache_hit) {
            (Some(dir), true) => format!(
                "audio read from the cache {} in {seconds:.1} s",
                dir.display()
            ),
            (Some(dir), false) => format!(
                "audio decoded in {seconds:.1} s and cached in {}",
                dir.display()
            ),
            (None, _) => format!("audio decoded in {seconds:.1} s"),
        };
        Ok(Splits {
            train,
            val,
            test,
            skipped,
            cache_hit,
            source,
        })
    }

    pub fn new_model(&self, config: &Config, device: &Device) -> Result<SoundCnn> {
        SoundCnn::new(&config.model, self.n_mels, self.classes.len(), device)
    }
}

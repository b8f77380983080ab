//! A trained model ready to classify windows of audio: a CNN run folder
//! (its weight average or best checkpoint, and resolved config) or a baseline model file
//! (`models/<model>.json`, whose run folder's config says how its
//! hand-made features were computed).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::tensor::activation::softmax;
use burn::tensor::Device;

use crate::config::Config;
use crate::dsp::MelSpectrogram;
use crate::error::{Error, Result};
use crate::features::FeatureExtractor;
use crate::model::cnn::SoundCnn;
use crate::model::SavedModel;
use crate::train::checkpoint;
use crate::train::cnn::{host_values, model_checkpoint};
use crate::train::device::{DeviceChoice, TrainDevice};
use crate::train::frontend::{HostInput, MelFrontend};
use crate::train::prior::{correct_rows, run_correction};

/// One window made ready on a worker thread for the model.
pub enum Prepared {
    /// Raw samples, for log-Mel on the device.
    Waveform(Vec<f32>),
    /// `[n_mels, frames]` log-Mel computed on the host.
    Mel {
        n_mels: usize,
        frames: usize,
        data: Vec<f32>,
    },
    /// Class probabilities already (baselines are cheap per row).
    Probabilities(Vec<f32>),
}

/// A loaded model of either kind.
pub enum LoadedModel {
    Cnn(Box<CnnModel>),
    Baseline(Box<BaselineModel>),
}

pub struct CnnModel {
    pub run_dir: PathBuf,
    pub config: Config,
    pub classes: Vec<String>,
    device: TrainDevice,
    frontend: MelFrontend,
    host_mel: Option<Arc<MelSpectrogram>>,
    model: SoundCnn,
    /// `training.prior_correction`'s factors (`train::prior`).
    prior_factors: Option<Vec<f32>>,
}

pub struct BaselineModel {
    pub path: PathBuf,
    pub config: Config,
    parts: Arc<BaselineParts>,
}

/// A baseline's fitted model and its feature extractor.
pub struct BaselineParts {
    saved: SavedModel,
    extractor: FeatureExtractor,
}

/// Makes windows ready for the model; shared by worker threads.
#[derive(Clone)]
pub enum Preparer {
    /// log-Mel on the host (CPU backends).
    Mel(Arc<MelSpectrogram>),
    /// Samples as they are (log-Mel by our kernels on the device).
    Waveform,
    /// Hand-made features and the baseline's probabilities.
    Features(Arc<BaselineParts>),
}

impl Preparer {
    pub fn prepare(&self, window: Vec<f32>, path: &Path) -> Result<Prepared> {
        match self {
            Self::Mel(mel) => {
                let spec = mel.compute(&window)?;
                Ok(Prepared::Mel {
                    n_mels: spec.n_mels,
                    frames: spec.frames,
                    data: spec.data,
                })
            }
            Self::Waveform => Ok(Prepared::Waveform(window)),
            Self::Features(parts) => parts
                .probabilities(&window, path)
                .map(Prepared::Probabilities),
        }
    }
}

impl LoadedModel {
    /// A CNN run folder or a baseline model file, by what `path` is.
    pub fn load(path: &Path, device: DeviceChoice) -> Result<Self> {
        if path.is_dir() {
            return Ok(Self::Cnn(Box::new(CnnModel::load(path, device)?)));
        }
        if path.is_file() {
            return Ok(Self::Baseline(Box::new(BaselineModel::load(path)?)));
        }
        Err(Error::InvalidArgument(format!(
            "--model {}: no such run folder or model file",
            path.display()
        )))
    }

    pub fn classes(&self) -> &[String] {
        match self {
            Self::Cnn(m) => &m.classes,
            Self::Baseline(m) => &m.parts.saved.classes,
        }
    }

    /// `cnn` or `baseline`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Cnn(_) => "cnn",
            Self::Baseline(_) => "baseline",
        }
    }

    /// One line: which model, from where, on what.
    pub fn describe(&self) -> String {
        match self {
            Self::Cnn(m) => format!(
                "{} CNN from {} ({})",
                m.config.model.arch,
                m.run_dir.display(),
                m.device.description
            ),
            Self::Baseline(m) => format!(
                "{} on hand-made features from {}",
                m.parts.saved.name,
                m.path.display()
            ),
        }
    }

    /// The run's resolved config (its `[spectrogram]` draws log-Mel images).
    pub fn config(&self) -> &Config {
        match self {
            Self::Cnn(m) => &m.config,
            Self::Baseline(m) => &m.config,
        }
    }

    /// The rate windows are cut at.
    pub fn sample_rate(&self) -> u32 {
        match self {
            Self::Cnn(m) => m.config.audio.sample_rate,
            Self::Baseline(m) => m.config.features.sample_rate,
        }
    }

    /// The window the model was trained on, seconds (0: whole clips).
    pub fn window_seconds(&self) -> f64 {
        match self {
            Self::Cnn(m) => m.config.audio.clip_seconds,
            Self::Baseline(m) => m.config.features.clip_seconds,
        }
    }

    /// The hop its own evaluation used: the run's `eval_hop_seconds` for
    /// a CNN evaluated on windows, else one window (no overlap).
    pub fn default_hop_seconds(&self) -> f64 {
        match self {
            Self::Cnn(m) if m.config.training.eval_mode == "windows" => {
                m.config.training.eval_hop_seconds
            }
            _ => self.window_seconds(),
        }
    }

    /// How short clips are filled to one window.
    pub fn pad(&self) -> crate::audio::PadPolicy {
        match self {
            Self::Cnn(m) => m.config.audio.pad,
            Self::Baseline(m) => m.config.features.pad,
        }
    }

    /// Windows per model call.
    pub fn batch_size(&self) -> usize {
        match self {
            Self::Cnn(m) => m.config.training.batch_size.max(1),
            Self::Baseline(_) => 64,
        }
    }

    /// What worker threads need to make windows ready for [`Self::run`]
    /// (the model itself stays on the calling thread).
    pub fn preparer(&self) -> Preparer {
        match self {
            Self::Cnn(m) => match &m.host_mel {
                Some(mel) => Preparer::Mel(mel.clone()),
                None => Preparer::Waveform,
            },
            Self::Baseline(m) => Preparer::Features(m.parts.clone()),
        }
    }

    /// Class probabilities of each prepared window, in order.
    pub fn run(&self, batch: Vec<Prepared>) -> Result<Vec<Vec<f32>>> {
        match self {
            Self::Cnn(m) => m.run(batch),
            Self::Baseline(_) => batch
                .into_iter()
                .map(|p| match p {
                    Prepared::Probabilities(p) => Ok(p),
                    _ => Err(Error::InvalidArgument(
                        "internal: a baseline got a CNN input".into(),
                    )),
                })
                .collect(),
        }
    }
}

impl CnnModel {
    fn load(run_dir: &Path, choice: DeviceChoice) -> Result<Self> {
        let config_path = run_dir.join("config.toml");
        if !config_path.is_file() {
            return Err(Error::InvalidArgument(format!(
                "--model {}: not a run folder (no config.toml)",
                run_dir.display()
            )));
        }
        let config = Config::load(Some(&config_path), &[])?;
        let classes = run_classes(run_dir, &config)?;
        let device = TrainDevice::select(choice)?;
        let frontend = MelFrontend::new(
            &config.spectrogram,
            config.audio.sample_rate,
            device.wgpu.then_some(&device.device),
        )?;
        let path = model_checkpoint(run_dir);
        let ckpt = checkpoint::load(&path)?;
        let inner: Device = device.device.clone();
        let fresh = SoundCnn::new(
            &config.model,
            config.spectrogram.n_mels,
            classes.len(),
            &inner,
        )?;
        let model = ckpt.load_model(&path, fresh)?;
        let prior_factors = run_correction(run_dir, config.training.prior_correction, &classes)?;
        Ok(Self {
            run_dir: run_dir.to_path_buf(),
            host_mel: frontend.host_part(),
            config,
            classes,
            device,
            frontend,
            model,
            prior_factors,
        })
    }

    fn run(&self, batch: Vec<Prepared>) -> Result<Vec<Vec<f32>>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let clips = batch.len();
        let input = match &batch[0] {
            Prepared::Mel { n_mels, frames, .. } => {
                let (n_mels, frames) = (*n_mels, *frames);
                let mut data = Vec::with_capacity(clips * n_mels * frames);
                for p in batch {
                    if let Prepared::Mel { data: d, .. } = p {
                        data.extend(d);
                    }
                }
                HostInput::Mels {
                    data,
                    clips,
                    n_mels,
                    frames,
                }
            }
            Prepared::Waveform(w) => {
                let samples = w.len();
                let mut data = Vec::with_capacity(clips * samples);
                for p in batch {
                    if let Prepared::Waveform(w) = p {
                        data.extend(w);
                    }
                }
                HostInput::Waveforms {
                    data,
                    clips,
                    samples,
                }
            }
            Prepared::Probabilities(_) => {
                return Err(Error::InvalidArgument(
                    "internal: a CNN got baseline probabilities".into(),
                ))
            }
        };
        let inner = &self.device.device;
        let x = self.frontend.to_device(input, inner)?;
        let mut probabilities = host_values(softmax(self.model.forward(x), 1), "probabilities")?;
        if let Some(factors) = &self.prior_factors {
            correct_rows(&mut probabilities, factors);
        }
        Ok(probabilities
            .chunks(self.classes.len())
            .map(<[f32]>::to_vec)
            .collect())
    }
}

/// The classes a run was trained on, in the model's output order.
fn run_classes(run_dir: &Path, config: &Config) -> Result<Vec<String>> {
    if !config.data.classes.is_empty() {
        return Ok(config.data.classes.clone());
    }
    // Without data.classes the run took them from its manifest's labels;
    // its summary (or a checkpoint-time run file) lists them.
    let summary = run_dir.join("summary.json");
    let text = std::fs::read_to_string(&summary).map_err(|_| Error::ConfigValue {
        key: "data.classes".into(),
        reason: format!(
            "{} sets no classes and has no summary.json to read them from",
            run_dir.join("config.toml").display()
        ),
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::manifest(&summary, e.to_string()))?;
    value["classes"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect()
        })
        .ok_or_else(|| Error::manifest(&summary, "no `classes` list"))
}

impl BaselineModel {
    fn load(path: &Path) -> Result<Self> {
        let saved = SavedModel::load(path)?;
        // models/<model>.json lives in its run folder's `models/`.
        let config_path = path
            .parent()
            .and_then(Path::parent)
            .map(|run| run.join("config.toml"))
            .filter(|p| p.is_file())
            .ok_or_else(|| Error::Model {
                path: path.to_path_buf(),
                reason: "no config.toml in its run folder (expected <run>/models/<model>.json)"
                    .into(),
            })?;
        let config = Config::load(Some(&config_path), &[])?;
        let names = crate::features::feature_names();
        if saved.feature_names != names {
            return Err(Error::Model {
                path: path.to_path_buf(),
                reason: format!(
                    "trained on {} features that differ from this build's {} (feature set changed)",
                    saved.feature_names.len(),
                    names.len()
                ),
            });
        }
        let extractor = FeatureExtractor::for_config(&config.features);
        Ok(Self {
            path: path.to_path_buf(),
            config,
            parts: Arc::new(BaselineParts { saved, extractor }),
        })
    }
}

impl BaselineParts {
    fn probabilities(&self, window: &[f32], path: &Path) -> Result<Vec<f32>> {
        let row = self.extractor.clip_features(window, path)?;
        if let Some(i) = row.iter().position(|v| !v.is_finite()) {
            return Err(Error::decode(
                path,
                format!("feature `{}` is not finite", self.saved.feature_names[i]),
            ));
        }
        Ok(self
            .saved
            .predict_proba(&row)
            .into_iter()
            .map(|p| p as f32)
            .collect())
    }
}

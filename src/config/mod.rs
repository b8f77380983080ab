//! Experiment configuration: TOML files with `--set key=value` overrides.
//!
//! Loading goes through a plain TOML table first so that (1) every key can be
//! checked against the known schema with a "did you mean" suggestion, (2)
//! overrides are applied to the same table, and (3) a spectrogram preset
//! fills in whatever the user did not set explicitly.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value as JsonValue;
use toml::{Table, Value};

use crate::audio::{AudioConfig, CropPolicy, PadPolicy};
use crate::error::{Error, Result};

mod augment;
mod baselines;
mod serve;
pub use augment::AugmentConfig;
pub use baselines::{
    AdaBoostForestGrid, AdaBoostTreeGrid, BaselinesConfig, ForestGrid, GbdtGrid, LogisticGrid,
    MaxFeatures, BASELINE_MODELS,
};
pub use serve::ServeConfig;

/// The whole configuration of an experiment. Every section has defaults, so
/// an empty file is a valid config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub experiment: ExperimentConfig,
    pub data: DataConfig,
    pub audio: AudioConfig,
    pub spectrogram: SpectrogramConfig,
    pub model: ModelConfig,
    pub training: TrainingConfig,
    pub optim: OptimConfig,
    pub augment: AugmentConfig,
    pub features: FeaturesConfig,
    pub baselines: BaselinesConfig,
    pub serve: ServeConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExperimentConfig {
    /// Name of the experiment; run folders go under `runs/<name>/`.
    pub name: String,
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        Self {
            name: "default".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Manifest CSV (`path,label,split`); relative paths in it resolve
    /// against its own folder, a relative manifest path against the config's.
    pub manifest: Option<PathBuf>,
    /// Class names in output order; empty means the sorted labels found in
    /// the manifest.
    pub classes: Vec<String>,
    /// Clips shorter than this many seconds are reported by `data validate`.
    pub min_seconds: f64,
    /// Clips whose peak is below this level (dBFS) count as silent.
    pub silence_dbfs: f64,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            manifest: None,
            classes: Vec::new(),
            min_seconds: 0.1,
            silence_dbfs: -90.0,
        }
    }
}

/// Named spectrogram settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpectrogramPreset {
    /// librosa defaults, as in the seed study: 22050 Hz, n_fft 2048, hop
    /// 512, 128 Slaney mels, constant padding.
    Librosa,
    /// PANNs front end: 32000 Hz, n_fft 1024, hop 320, 64 mels 50–14000 Hz,
    /// reflect padding.
    Panns,
    /// No preset: every value as written.
    Custom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MelScale {
    Slaney,
    Htk,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MelNorm {
    Slaney,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PadMode {
    Constant,
    Reflect,
}

/// `[spectrogram]`: log-Mel front end, librosa's parameter names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpectrogramConfig {
    pub preset: SpectrogramPreset,
    pub n_fft: usize,
    pub hop_length: usize,
    /// Window length; 0 means `n_fft`.
    pub win_length: usize,
    pub n_mels: usize,
    pub fmin: f64,
    /// Upper band edge; `None` means Nyquist.
    pub fmax: Option<f64>,
    pub mel_scale: MelScale,
    pub mel_norm: MelNorm,
    pub center: bool,
    pub pad_mode: PadMode,
    /// 1 for magnitude, 2 for power.
    pub power: f64,
    /// Convert to decibels with `power_to_db`.
    pub to_db: bool,
    /// `ref` of `power_to_db`: a value, or `None` (written `"max"`) for
    /// each clip's own peak, librosa's `ref=np.max`, which makes the input
    /// independent of the recording's level.
    #[serde(with = "db_reference")]
    pub db_ref: Option<f64>,
    pub amin: f64,
    /// Floor below the peak in dB; `None` disables it.
    pub top_db: Option<f64>,
}

/// `spectrogram.db_ref` in TOML: a number, or `"max"` for `None`.
mod db_reference {
    use serde::{de, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<f64>, out: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => out.serialize_f64(*v),
            None => out.serialize_str("max"),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<Option<f64>, D::Error> {
        struct Reference;
        impl de::Visitor<'_> for Reference {
            type Value = Option<f64>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a positive number or \"max\" (each clip's peak)")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Some(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Some(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Some(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                match v {
                    "max" => Ok(None),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        input.deserialize_any(Reference)
    }
}

impl SpectrogramConfig {
    /// Spectrogram settings of a preset, with the sample rate it implies.
    pub fn preset(preset: SpectrogramPreset) -> (Self, Option<u32>) {
        let librosa = Self {
            preset,
            n_fft: 2048,
            hop_length: 512,
            win_length: 0,
            n_mels: 128,
            fmin: 0.0,
            fmax: None,
            mel_scale: MelScale::Slaney,
            mel_norm: MelNorm::Slaney,
            center: true,
            pad_mode: PadMode::Constant,
            power: 2.0,
            to_db: true,
            db_ref: Some(1.0),
            amin: 1e-10,
            top_db: Some(80.0),
        };
        match preset {
            SpectrogramPreset::Librosa => (librosa, Some(22050)),
            SpectrogramPreset::Panns => (
                Self {
                    n_fft: 1024,
                    hop_length: 320,
                    n_mels: 64,
                    fmin: 50.0,
                    fmax: Some(14000.0),
                    pad_mode: PadMode::Reflect,
                    ..librosa
                },
                Some(32000),
            ),
            SpectrogramPreset::Custom => (librosa, None),
        }
    }
}

impl Default for SpectrogramConfig {
    fn default() -> Self {
        Self::preset(SpectrogramPreset::Librosa).0
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InitConfig {
    /// Initializer of convolution kernels: `name` or `name:key=value,...`
    /// (see `model::cnn::parse_initializer`), e.g. `kaiming_normal:fan=out`.
    pub conv: String,
    /// Initializer of linear layers' weights.
    pub linear: String,
    /// Initializer of linear layers' biases (convs have none: batch norm
    /// follows them).
    pub bias: String,
}

impl Default for InitConfig {
    fn default() -> Self {
        Self {
            conv: "kaiming_uniform".into(),
            linear: "xavier_uniform".into(),
            bias: "zeros".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// `cnn4`, `cnn6`, `cnn10` or `resnet`.
    pub arch: String,
    /// Channels of the first conv block; later blocks double it.
    pub width: usize,
    /// Conv blocks (each halves time and frequency).
    pub blocks: usize,
    pub dropout: f64,
    /// Pooling over time after the mean over frequency: `max_mean`
    /// (PANNs), `mean` or `max`.
    pub pooling: String,
    pub init: InitConfig,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            arch: "cnn6".into(),
            width: 64,
            blocks: 4,
            dropout: 0.2,
            pooling: "max_mean".into(),
            init: InitConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    /// Peak learning rate (after warmup).
    pub lr: f64,
    /// `constant`, `cosine` (to `min_lr` at the last epoch) or `step`
    /// (multiply by `step_gamma` every `step_epochs`); all after a linear
    /// warmup of `warmup_epochs`.
    pub schedule: String,
    pub warmup_epochs: f64,
    pub min_lr: f64,
    pub step_epochs: usize,
    pub step_gamma: f64,
    /// `shuffle` (each clip once per epoch), `balanced` (classes drawn
    /// uniformly) or `sqrt` (classes drawn in proportion to the square root
    /// of their size); the last two draw clips with replacement, as many
    /// draws as train clips.
    pub sampler: String,
    /// Undo the sampler's class prior at inference (`train::prior`):
    /// validation, `evaluate`, `predict` and `serve` multiply each window's
    /// probabilities by the train split's class frequency over the
    /// sampler's and renormalise. No effect with `shuffle`.
    pub prior_correction: bool,
    pub label_smoothing: f64,
    /// Gradient-norm clipping threshold, 0 = off. Burn clips each parameter
    /// tensor to this norm (not the global norm torch's clip_grad_norm_ uses).
    pub grad_clip_norm: f64,
    /// Metric early stopping and the best checkpoint follow:
    /// `val_accuracy`, `val_macro_f1` or `val_loss`.
    pub monitor: String,
    /// Epochs without improvement of `monitor` before stopping; 0 = never.
    pub patience: usize,
    /// Weight averaging: the run's model is the mean of the weights (batch
    /// norm statistics included) at the end of each of the last this many
    /// epochs, as checkpoint averaging and SWA do; 0 = off (the run's model
    /// is the best epoch's). Evaluated on val at the end, saved as
    /// `checkpoints/average.ckpt`, and used by `evaluate`, `predict`, test
    /// metrics and sweep objectives. An early stop before the window leaves
    /// no average.
    pub average_last_epochs: usize,
    /// Evaluation crops: `center` (one `audio.clip_seconds` crop from the
    /// middle) or `windows` (softmax averaged over sliding windows).
    pub eval_mode: String,
    /// Hop between evaluation windows, seconds (`eval_mode = "windows"`).
    pub eval_hop_seconds: f64,
    /// At most this many seconds of each clip (its middle) are kept in
    /// memory; random training crops are drawn from them. 0 = whole clips.
    pub cache_seconds: f64,
    /// Folder of decoded audio shared between runs (see
    /// `train::audio_cache`): the first run writes each split there, later
    /// ones read it instead of decoding. Unset: decode every run. Sweeps
    /// set it to `SWEEP_DIR/audio_cache` unless the spec does.
    pub audio_cache: Option<PathBuf>,
    /// Batches prepared ahead by the loader thread.
    pub prefetch: usize,
    /// Training loss is logged to TensorBoard every this many steps.
    pub log_every_steps: usize,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        Self {
            epochs: 30,
            batch_size: 32,
            seed: 42,
            lr: 1e-3,
            schedule: "cosine".into(),
            warmup_epochs: 1.0,
            min_lr: 1e-5,
            step_epochs: 10,
            step_gamma: 0.1,
            sampler: "shuffle".into(),
            prior_correction: false,
            label_smoothing: 0.0,
            grad_clip_norm: 0.0,
            monitor: "val_accuracy".into(),
            patience: 0,
            average_last_epochs: 0,
            eval_mode: "center".into(),
            eval_hop_seconds: 1.0,
            cache_seconds: 60.0,
            audio_cache: None,
            prefetch: 4,
            log_every_steps: 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    /// `adam` (L2 added to the gradient, torch's Adam weight_decay),
    /// `adamw` (decoupled decay) or `sgd` (with momentum).
    pub kind: String,
    pub weight_decay: f64,
    /// Adam/AdamW epsilon. PyTorch's default is 1e-8, Burn's 1e-5; we use
    /// PyTorch's so recipes carry over.
    pub epsilon: f64,
    pub beta1: f64,
    pub beta2: f64,
    /// SGD momentum (0 = plain SGD).
    pub momentum: f64,
    /// SGD momentum dampening; PyTorch's default 0 (Burn's is 0.1).
    pub dampening: f64,
    pub nesterov: bool,
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            kind: "adamw".into(),
            weight_decay: 1e-4,
            epsilon: 1e-8,
            beta1: 0.9,
            beta2: 0.999,
            momentum: 0.9,
            dampening: 0.0,
            nesterov: false,
        }
    }
}

/// Values the CNN-training string keys accept, checked by `validate`.
pub const SCHEDULES: [&str; 3] = ["constant", "cosine", "step"];
pub const SAMPLERS: [&str; 3] = ["shuffle", "balanced", "sqrt"];
pub const MONITORS: [&str; 3] = ["val_accuracy", "val_macro_f1", "val_loss"];
pub const EVAL_MODES: [&str; 2] = ["center", "windows"];
pub const OPTIMIZERS: [&str; 3] = ["adam", "adamw", "sgd"];

/// `[features]`: how clips are prepared for the hand-made features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeaturesConfig {
    /// Every clip is resampled to this rate (Hz).
    pub sample_rate: u32,
    /// Clips are cropped or padded to this many seconds, so that duration
    /// itself is not a feature (the seed study used 10 s at 22050 Hz).
    pub clip_seconds: f64,
    /// Where long clips are cut (deterministic: `center` or `start`).
    pub crop: CropPolicy,
    /// How short clips are filled.
    pub pad: PadPolicy,
    /// `as_recorded` (the seed study) or `peak`: each clip scaled to a peak
    /// of 1 first (librosa's `util.normalize`), so its recording level is
    /// not a feature.
    pub level: FeatureLevel,
    /// Per-clip feature cache, keyed by file content and this section.
    pub cache_dir: PathBuf,
}

/// `features.level`: the level the features see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureLevel {
    AsRecorded,
    Peak,
}

impl Default for FeaturesConfig {
    fn default() -> Self {
        Self {
            sample_rate: 22050,
            clip_seconds: 10.0,
            crop: CropPolicy::Center,
            pad: PadPolicy::Loop,
            level: FeatureLevel::AsRecorded,
            cache_dir: PathBuf::from("runs/cache/features"),
        }
    }
}

impl Config {
    /// Load `path` (or the defaults when `None`) and apply `overrides`, each
    /// `dotted.key=value` with a TOML value (bare words are strings).
    pub fn load(path: Option<&Path>, overrides: &[String]) -> Result<Self> {
        let mut table = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
                let mut table = parse_table(&text, p)?;
                if let Some(dir) = p.parent() {
                    resolve_paths_against(&mut table, dir);
                }
                table
            }
            None => Table::new(),
        };
        // Overrides come from the command line: their paths stay relative
        // to the working directory.
        for item in overrides {
            apply_override(&mut table, item)?;
        }
        Self::from_table(table)
    }

    /// Parse a TOML string (no overrides).
    pub fn from_toml_str(text: &str) -> Result<Self> {
        let table: Table = text
            .parse()
            .map_err(|e: toml::de::Error| Error::ConfigSyntax {
                path: PathBuf::from("<string>"),
                reason: e.message().to_string(),
            })?;
        Self::from_table(table)
    }

    fn from_table(mut table: Table) -> Result<Self> {
        check_keys(&Value::Table(table.clone()), &schema(), "")?;
        apply_preset(&mut table)?;
        let config: Config =
            serde_path_to_error::deserialize(Value::Table(table)).map_err(|e| {
                Error::ConfigValue {
                    key: e.path().to_string(),
                    reason: e.inner().to_string(),
                }
            })?;
        config.validate()?;
        Ok(config)
    }

    /// Range checks that types alone cannot express.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, reason: &str| {
            Err(Error::ConfigValue {
                key: key.into(),
                reason: reason.into(),
            })
        };
        if self.audio.sample_rate < 1000 || self.audio.sample_rate > 384_000 {
            return bad("audio.sample_rate", "must be between 1000 and 384000 Hz");
        }
        let clip = self.audio.clip_seconds;
        if !(clip >= 0.0 && clip.is_finite()) {
            return bad(
                "audio.clip_seconds",
                "must be >= 0 seconds (0 keeps whole clips)",
            );
        }
        let s = &self.spectrogram;
        if s.n_fft < 2 {
            return bad("spectrogram.n_fft", "must be at least 2");
        }
        if s.hop_length == 0 {
            return bad("spectrogram.hop_length", "must be positive");
        }
        if s.win_length > s.n_fft {
            return bad(
                "spectrogram.win_length",
                "must not exceed spectrogram.n_fft",
            );
        }
        if s.n_mels == 0 {
            return bad("spectrogram.n_mels", "must be positive");
        }
        let nyquist = self.audio.sample_rate as f64 / 2.0;
        let fmax = s.fmax.unwrap_or(nyquist);
        if !(s.fmin >= 0.0 && s.fmin < fmax) {
            return bad("spectrogram.fmin", "must be >= 0 and below fmax");
        }
        if fmax > nyquist {
            return bad(
                "spectrogram.fmax",
                "must not exceed half of audio.sample_rate",
            );
        }
        if s.db_ref.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
            return bad("spectrogram.db_ref", "must be a positive number or \"max\"");
        }
        if self.training.batch_size == 0 {
            return bad("training.batch_size", "must be positive");
        }
        if self.training.lr.is_nan() || self.training.lr <= 0.0 {
            return bad("training.lr", "must be positive");
        }
        if !(0.0..1.0).contains(&self.model.dropout) {
            return bad("model.dropout", "must be in [0, 1)");
        }
        self.validate_training()?;
        self.augment.validate(self.audio.sample_rate)?;
        self.serve.validate()?;
        let f = &self.features;
        if f.sample_rate < 1000 || f.sample_rate > 384_000 {
            return bad("features.sample_rate", "must be between 1000 and 384000 Hz");
        }
        if !(f.clip_seconds > 0.0 && f.clip_seconds.is_finite()) {
            return bad(
                "features.clip_seconds",
                "must be a positive number of seconds",
            );
        }
        if f.crop == CropPolicy::Random {
            return bad(
                "features.crop",
                "must be `center` or `start`: cached features must not depend on a random draw",
            );
        }
        self.baselines.validate()
    }

    fn validate_training(&self) -> Result<()> {
        let bad = |key: &str, reason: String| {
            Err(Error::ConfigValue {
                key: key.into(),
                reason,
            })
        };
        let one_of = |key: &str, value: &str, known: &[&str]| {
            if known.contains(&value) {
                Ok(())
            } else {
                bad(
                    key,
                    format!("unknown value `{value}` (known: {})", known.join(", ")),
                )
            }
        };
        let t = &self.training;
        one_of("training.schedule", &t.schedule, &SCHEDULES)?;
        one_of("training.sampler", &t.sampler, &SAMPLERS)?;
        one_of("training.monitor", &t.monitor, &MONITORS)?;
        one_of("training.eval_mode", &t.eval_mode, &EVAL_MODES)?;
        one_of("optim.kind", &self.optim.kind, &OPTIMIZERS)?;
        let non_negative = [
            ("training.warmup_epochs", t.warmup_epochs),
            ("training.min_lr", t.min_lr),
            ("training.grad_clip_norm", t.grad_clip_norm),
            ("training.cache_seconds", t.cache_seconds),
            ("optim.weight_decay", self.optim.weight_decay),
            ("optim.momentum", self.optim.momentum),
            ("optim.dampening", self.optim.dampening),
        ];
        for (key, value) in non_negative {
            if !(value >= 0.0 && value.is_finite()) {
                return bad(key, format!("must be a finite number >= 0 (got {value})"));
            }
        }
        if t.epochs == 0 {
            return bad("training.epochs", "must be positive".into());
        }
        if t.average_last_epochs > t.epochs {
            return bad(
                "training.average_last_epochs",
                format!(
                    "{} is more than training.epochs ({})",
                    t.average_last_epochs, t.epochs
                ),
            );
        }
        if !(0.0..1.0).contains(&t.label_smoothing) {
            return bad("training.label_smoothing", "must be in [0, 1)".into());
        }
        if !(t.step_gamma > 0.0 && t.step_gamma <= 1.0) {
            return bad("training.step_gamma", "must be in (0, 1]".into());
        }
        if t.schedule == "step" && t.step_epochs == 0 {
            return bad("training.step_epochs", "must be positive".into());
        }
        if t.eval_mode == "windows" && (t.eval_hop_seconds.is_nan() || t.eval_hop_seconds <= 0.0) {
            return bad("training.eval_hop_seconds", "must be positive".into());
        }
        for (key, value) in [
            ("optim.beta1", self.optim.beta1),
            ("optim.beta2", self.optim.beta2),
        ] {
            if !(0.0..1.0).contains(&value) {
                return bad(key, "must be in [0, 1)".into());
            }
        }
        if self.optim.epsilon.is_nan() || self.optim.epsilon <= 0.0 {
            return bad("optim.epsilon", "must be positive".into());
        }
        Ok(())
    }

    /// The resolved configuration as TOML, as written into run folders.
    pub fn to_toml_string(&self) -> Result<String> {
        toml::to_string_pretty(self).map_err(|e| Error::ConfigValue {
            key: "<config>".into(),
            reason: e.to_string(),
        })
    }

    /// Write the resolved configuration atomically to `path`.
    /// Write the config as loaded, with its paths made absolute so that the
    /// copy works from wherever it is read (run folders are read back by
    /// `--resume` and `evaluate`).
    pub fn write_resolved(&self, path: &Path) -> Result<()> {
        let mut copy = self.clone();
        copy.data.manifest = copy.data.manifest.map(|m| crate::util::absolute(&m));
        copy.features.cache_dir = crate::util::absolute(&copy.features.cache_dir);
        copy.training.audio_cache = copy.training.audio_cache.map(|d| crate::util::absolute(&d));
        crate::util::atomic_write_str(path, &copy.to_toml_string()?)
    }
}

fn parse_table(text: &str, path: &Path) -> Result<Table> {
    text.parse()
        .map_err(|e: toml::de::Error| Error::ConfigSyntax {
            path: path.to_path_buf(),
            reason: e.message().to_string(),
        })
}

/// Path-valued keys of a config file are relative to the file's folder.
fn resolve_paths_against(table: &mut Table, dir: &Path) {
    for (section, key) in [
        ("data", "manifest"),
        ("features", "cache_dir"),
        ("training", "audio_cache"),
    ] {
        if let Some(Value::Table(data)) = table.get_mut(section) {
            if let Some(Value::String(path)) = data.get_mut(key) {
                if Path::new(path.as_str()).is_relative() {
                    *path = dir.join(path.as_str()).to_string_lossy().into_owned();
                }
            }
        }
    }
}

/// Every valid key, as the default config serialised to JSON (where `None`
/// still appears, as `null`).
fn schema() -> JsonValue {
    serde_json::to_value(Config::default()).unwrap_or(JsonValue::Null)
}

fn all_keys(schema: &JsonValue, prefix: &str, out: &mut Vec<String>) {
    if let JsonValue::Object(map) = schema {
        for (k, v) in map {
            let key = join_key(prefix, k);
            out.push(key.clone());
            all_keys(v, &key, out);
        }
    }
}

fn join_key(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// The valid key closest to `key` by edit distance.
fn closest_key(key: &str) -> Option<String> {
    let mut keys = Vec::new();
    all_keys(&schema(), "", &mut keys);
    keys.into_iter()
        .map(|k| (strsim::normalized_damerau_levenshtein(key, &k), k))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

fn check_keys(value: &Value, schema: &JsonValue, prefix: &str) -> Result<()> {
    let (Value::Table(table), JsonValue::Object(known)) = (value, schema) else {
        return Ok(());
    };
    for (k, v) in table {
        let key = join_key(prefix, k);
        match known.get(k) {
            Some(sub) => check_keys(v, sub, &key)?,
            None => {
                return Err(Error::UnknownConfigKey {
                    suggestion: closest_key(&key),
                    key,
                })
            }
        }
    }
    Ok(())
}

/// The default config's value at `key` (an object for a section).
fn schema_node(key: &str) -> Option<JsonValue> {
    let mut node = schema();
    for part in key.split('.') {
        match node {
            JsonValue::Object(mut map) => node = map.remove(part)?,
            _ => return None,
        }
    }
    Some(node)
}

/// Apply one `a.b.c=value` override to `table`. A section given an
/// inline table (`augment={ gain_prob = 0.5, eq_prob = 0.5 }`) sets each
/// of its keys, leaving the section's other keys as they are, so a sweep
/// can switch several keys together as one parameter.
pub fn apply_override(table: &mut Table, item: &str) -> Result<()> {
    let (key, raw) = item
        .split_once('=')
        .ok_or_else(|| Error::InvalidArgument(format!("--set expects key=value, got `{item}`")))?;
    set_key(table, key.trim(), parse_override_value(raw.trim()))
}

fn set_key(table: &mut Table, key: &str, value: Value) -> Result<()> {
    let Some(node) = schema_node(key) else {
        return Err(Error::UnknownConfigKey {
            key: key.to_string(),
            suggestion: closest_key(key),
        });
    };
    if let (JsonValue::Object(_), Value::Table(entries)) = (&node, &value) {
        for (sub, value) in entries {
            set_key(table, &join_key(key, sub), value.clone())?;
        }
        return Ok(());
    }
    let parts: Vec<&str> = key.split('.').collect();
    let mut node = table;
    for part in &parts[..parts.len() - 1] {
        let entry = node
            .entry(part.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        node = match entry {
            Value::Table(t) => t,
            _ => {
                return Err(Error::ConfigValue {
                    key: key.to_string(),
                    reason: format!("`{part}` is not a table"),
                })
            }
        };
    }
    node.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

/// A TOML value when `raw` parses as one (`3`, `0.5`, `true`, `[1, 2]`,
/// `"x"`), otherwise the raw text as a string, so `--set model.arch=cnn6`
/// needs no quotes.
fn parse_override_value(raw: &str) -> Value {
    format!("v = {raw}")
        .parse::<Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_string()))
}

/// Fill spectrogram keys (and `audio.sample_rate`) that the user left out
/// from the chosen preset.
fn apply_preset(table: &mut Table) -> Result<()> {
    let preset_value = table
        .get("spectrogram")
        .and_then(|s| s.get("preset"))
        .cloned();
    let Some(preset_value) = preset_value else {
        return Ok(());
    };
    let preset: SpectrogramPreset =
        preset_value
            .try_into()
            .map_err(|e: toml::de::Error| Error::ConfigValue {
                key: "spectrogram.preset".into(),
                reason: e.message().to_string(),
            })?;
    let (defaults, rate) = SpectrogramConfig::preset(preset);
    let defaults = Value::try_from(defaults).map_err(|e| Error::ConfigValue {
        key: "spectrogram.preset".into(),
        reason: e.to_string(),
    })?;
    if let (Some(Value::Table(spec)), Value::Table(defaults)) =
        (table.get_mut("spectrogram"), defaults)
    {
        for (k, v) in defaults {
            spec.entry(k).or_insert(v);
        }
    }
    if let Some(rate) = rate {
        let audio = table
            .entry("audio")
            .or_insert_with(|| Value::Table(Table::new()));
        if let Value::Table(audio) = audio {
            audio
                .entry("sample_rate")
                .or_insert(Value::Integer(rate as i64));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_default() {
        assert_eq!(Config::from_toml_str("").unwrap(), Config::default());
    }

    #[test]
    fn typo_names_key_and_suggestion() {
        let err = Config::from_toml_str("[training]\nepoch = 3\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`training.epoch`"), "{msg}");
        assert!(msg.contains("did you mean `training.epochs`"), "{msg}");
        let err = Config::from_toml_str("[trainng]\nepochs = 3\n").unwrap_err();
        assert!(err.to_string().contains("did you mean `training"), "{err}");
        let mut table = Table::new();
        let err = apply_override(&mut table, "model.dropuot=0.1").unwrap_err();
        assert!(
            err.to_string().contains("did you mean `model.dropout`"),
            "{err}"
        );
    }

    #[test]
    fn bad_value_names_key() {
        let err = Config::from_toml_str("[audio]\ncrop = \"sideways\"\n").unwrap_err();
        assert!(err.to_string().contains("audio.crop"), "{err}");
        let err = Config::from_toml_str("[training]\nbatch_size = 0\n").unwrap_err();
        assert!(err.to_string().contains("training.batch_size"), "{err}");
    }

    #[test]
    fn overrides_and_presets() {
        let c = Config::load(
            None,
            &[
                "spectrogram.preset=panns".into(),
                "spectrogram.n_mels=96".into(),
                "model.arch=cnn10".into(),
                "training.lr=3e-4".into(),
                "data.classes=[\"Speech\", \"Music\"]".into(),
            ],
        )
        .unwrap();
        assert_eq!(c.spectrogram.preset, SpectrogramPreset::Panns);
        assert_eq!(c.spectrogram.n_fft, 1024);
        assert_eq!(c.spectrogram.n_mels, 96);
        assert_eq!(c.spectrogram.pad_mode, PadMode::Reflect);
        assert_eq!(c.audio.sample_rate, 32000);
        assert_eq!(c.model.arch, "cnn10");
        assert_eq!(c.training.lr, 3e-4);
        assert_eq!(c.data.classes, vec!["Speech", "Music"]);
    }

    #[test]
    fn db_ref_max_is_each_clips_peak_and_round_trips() {
        let c = Config::load(None, &["spectrogram.db_ref=max".into()]).unwrap();
        assert_eq!(c.spectrogram.db_ref, None);
        let again = Config::from_toml_str(&c.to_toml_string().unwrap()).unwrap();
        assert_eq!(again.spectrogram.db_ref, None);
        let c = Config::from_toml_str("[spectrogram]\ndb_ref = 2\n").unwrap();
        assert_eq!(c.spectrogram.db_ref, Some(2.0));
        for bad in ["db_ref = \"peak\"", "db_ref = 0.0", "db_ref = -1"] {
            let err = Config::from_toml_str(&format!("[spectrogram]\n{bad}\n")).unwrap_err();
            assert!(err.to_string().contains("db_ref"), "{bad}: {err}");
        }
    }

    #[test]
    fn section_override_sets_its_keys_and_keeps_the_rest() {
        let c = Config::load(
            None,
            &[
                "augment.mixup_alpha=0.3".into(),
                "augment={ gain_prob = 0.5, eq_prob = 0.25 }".into(),
                "model={ init = { conv = \"orthogonal\" }, dropout = 0.1 }".into(),
            ],
        )
        .unwrap();
        assert_eq!(c.augment.gain_prob, 0.5);
        assert_eq!(c.augment.eq_prob, 0.25);
        assert_eq!(c.augment.mixup_alpha, 0.3);
        assert_eq!(c.model.init.conv, "orthogonal");
        assert_eq!(c.model.dropout, 0.1);
        assert_eq!(c.model.arch, Config::default().model.arch);
        let err = Config::load(None, &["augment={ gain_prb = 0.5 }".into()]).unwrap_err();
        assert!(err.to_string().contains("`augment.gain_prb`"), "{err}");
        assert!(err.to_string().contains("augment.gain_prob"), "{err}");
        let err = Config::load(None, &["training.average_last_epochs=40".into()]).unwrap_err();
        assert!(
            err.to_string().contains("training.average_last_epochs"),
            "{err}"
        );
    }

    #[test]
    fn resolved_config_round_trips() {
        let c = Config::load(None, &["spectrogram.preset=panns".into()]).unwrap();
        let text = c.to_toml_string().unwrap();
        assert_eq!(Config::from_toml_str(&text).unwrap(), c);
    }
}

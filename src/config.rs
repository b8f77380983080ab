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

use crate::audio::AudioConfig;
use crate::error::{Error, Result};

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
    pub baselines: BaselinesConfig,
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
    /// `ref` of `power_to_db`: a value, or `None` for the spectrogram's max.
    pub db_ref: Option<f64>,
    pub amin: f64,
    /// Floor below the peak in dB; `None` disables it.
    pub top_db: Option<f64>,
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
    /// Initializer of convolution kernels.
    pub conv: String,
    /// Initializer of linear layers.
    pub linear: String,
}

impl Default for InitConfig {
    fn default() -> Self {
        Self {
            conv: "kaiming_uniform".into(),
            linear: "xavier_uniform".into(),
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
    pub dropout: f64,
    pub init: InitConfig,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            arch: "cnn6".into(),
            width: 64,
            dropout: 0.2,
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
    pub lr: f64,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        Self {
            epochs: 30,
            batch_size: 32,
            seed: 42,
            lr: 1e-3,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    /// `adam`, `adamw` or `sgd`.
    pub kind: String,
    pub weight_decay: f64,
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            kind: "adamw".into(),
            weight_decay: 1e-4,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BaselinesConfig {
    /// Cross-validation folds for grid search.
    pub cv_folds: usize,
}

impl Default for BaselinesConfig {
    fn default() -> Self {
        Self { cv_folds: 5 }
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
        if self.training.batch_size == 0 {
            return bad("training.batch_size", "must be positive");
        }
        if self.training.lr.is_nan() || self.training.lr <= 0.0 {
            return bad("training.lr", "must be positive");
        }
        if !(0.0..1.0).contains(&self.model.dropout) {
            return bad("model.dropout", "must be in [0, 1)");
        }
        if self.baselines.cv_folds < 2 {
            return bad("baselines.cv_folds", "must be at least 2");
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
    pub fn write_resolved(&self, path: &Path) -> Result<()> {
        crate::util::atomic_write_str(path, &self.to_toml_string()?)
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
    if let Some(Value::Table(data)) = table.get_mut("data") {
        if let Some(Value::String(manifest)) = data.get_mut("manifest") {
            if Path::new(manifest.as_str()).is_relative() {
                *manifest = dir.join(manifest.as_str()).to_string_lossy().into_owned();
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

fn key_exists(key: &str) -> bool {
    let mut node = schema();
    for part in key.split('.') {
        match node {
            JsonValue::Object(mut map) => match map.remove(part) {
                Some(next) => node = next,
                None => return false,
            },
            _ => return false,
        }
    }
    true
}

/// Apply one `a.b.c=value` override to `table`.
pub fn apply_override(table: &mut Table, item: &str) -> Result<()> {
    let (key, raw) = item
        .split_once('=')
        .ok_or_else(|| Error::InvalidArgument(format!("--set expects key=value, got `{item}`")))?;
    let key = key.trim();
    if !key_exists(key) {
        return Err(Error::UnknownConfigKey {
            key: key.to_string(),
            suggestion: closest_key(key),
        });
    }
    let value = parse_override_value(raw.trim());
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
    fn resolved_config_round_trips() {
        let c = Config::load(None, &["spectrogram.preset=panns".into()]).unwrap();
        let text = c.to_toml_string().unwrap();
        assert_eq!(Config::from_toml_str(&text).unwrap(), c);
    }
}

//! Sweep specs: `experiments/*.toml`. A base config with overrides, the
//! search method, repeats per point, the objective, and `[parameters]`
//! keyed by config key (lists of values, or distributions). Every value a
//! spec can produce is checked against the config before a trial starts,
//! so a typo or an out-of-range value is an error naming the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Value;

use super::stopping::EarlyStopping;
use crate::config::Config;
use crate::error::{Error, Result};

/// How points are chosen from the parameter space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Every combination of the listed values.
    Grid,
    /// `trials` independent draws, reproducible for `seed`.
    Random,
}

/// Which way the objective is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Max,
    Min,
}

/// The metric a sweep ranks trials by: the best epoch's value on val.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    ValAccuracy,
    ValMacroF1,
    ValBalancedAccuracy,
    ValLoss,
}

impl Objective {
    pub fn as_str(self) -> &'static str {
        match self {
            Objective::ValAccuracy => "val_accuracy",
            Objective::ValMacroF1 => "val_macro_f1",
            Objective::ValBalancedAccuracy => "val_balanced_accuracy",
            Objective::ValLoss => "val_loss",
        }
    }

    /// The natural direction of the metric.
    pub fn default_mode(self) -> Mode {
        match self {
            Objective::ValLoss => Mode::Min,
            _ => Mode::Max,
        }
    }
}

/// One swept key: the values of a grid, or a distribution to draw from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Parameter {
    Values(Vec<Value>),
    Distribution(Distribution),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "distribution", rename_all = "snake_case", deny_unknown_fields)]
pub enum Distribution {
    Uniform { min: f64, max: f64 },
    LogUniform { min: f64, max: f64 },
    IntUniform { min: i64, max: i64 },
    Choice { values: Vec<Value> },
}

/// `[sweep]` of a spec file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSection {
    /// Sweep name; the sweep folder is `runs/sweeps/<name>/<UTC time>/`.
    pub name: String,
    /// Base config, relative to the spec file.
    pub base: PathBuf,
    /// `--set`-style overrides applied to the base before each point's.
    #[serde(default)]
    pub set: Vec<String>,
    pub method: Method,
    /// Points drawn by `random`.
    #[serde(default)]
    pub trials: Option<usize>,
    #[serde(default)]
    pub seed: u64,
    /// Trainings per point, each with its own `training.seed`.
    #[serde(default = "one")]
    pub repeats: usize,
    pub metric: Objective,
    #[serde(default)]
    pub mode: Option<Mode>,
    /// ASHA or the median stopping rule (`[sweep.early_stopping]`).
    #[serde(default)]
    pub early_stopping: Option<EarlyStopping>,
    /// Each trial is a grouped k-fold cross-validation (`train --folds`)
    /// over train + val, its objective the folds' mean.
    #[serde(default)]
    pub folds: Option<usize>,
}

fn one() -> usize {
    1
}

/// A parsed, checked sweep spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    pub sweep: SweepSection,
    /// Config key -> values or distribution, in key order.
    pub parameters: BTreeMap<String, Parameter>,
}

impl SweepSpec {
    /// Read `path`, resolve the base config against its folder, and check
    /// every parameter value against the config (`overrides` from the
    /// command line come last, after each point's values).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut spec = Self::parse(&text, path)?;
        if spec.sweep.base.is_relative() {
            let dir = path.parent().unwrap_or(Path::new("."));
            spec.sweep.base = crate::util::absolute(&dir.join(&spec.sweep.base));
        }
        spec.check()?;
        Ok(spec)
    }

    /// Parse spec text; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let deserializer = toml::Deserializer::new(text);
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            Error::ConfigSyntax {
                path: path.to_path_buf(),
                reason: format!("`{key}`: {}", e.inner().message()),
            }
        })
    }

    /// The direction the objective improves in.
    pub fn mode(&self) -> Mode {
        self.sweep.mode.unwrap_or(self.sweep.metric.default_mode())
    }

    /// The base config with the spec's own overrides, then `extra`.
    pub fn base_config(&self, point: &[(String, Value)], extra: &[String]) -> Result<Config> {
        let mut sets = self.sweep.set.clone();
        sets.extend(point.iter().map(|(key, value)| override_text(key, value)));
        sets.extend(extra.iter().cloned());
        Config::load(Some(&self.sweep.base), &sets)
    }

    /// Structure, then every value the spec can produce, against the config.
    fn check(&self) -> Result<()> {
        let bad = |key: &str, reason: String| {
            Err(Error::ConfigValue {
                key: key.to_string(),
                reason,
            })
        };
        if self.sweep.repeats == 0 {
            return bad("sweep.repeats", "must be at least 1".into());
        }
        if let Some(folds) = self.sweep.folds {
            if folds < 2 {
                return bad("sweep.folds", format!("must be at least 2 (got {folds})"));
            }
            if self.sweep.early_stopping.is_some() {
                return bad(
                    "sweep.folds",
                    "k-fold trials train every fold to the end: drop [sweep.early_stopping]".into(),
                );
            }
        }
        if let Some(Err(reason)) = self.sweep.early_stopping.as_ref().map(EarlyStopping::check) {
            return bad("sweep.early_stopping", reason);
        }
        if self.parameters.is_empty() {
            return bad("parameters", "no parameter to sweep".into());
        }
        match (self.sweep.method, self.sweep.trials) {
            (Method::Random, None | Some(0)) => {
                return bad("sweep.trials", "random search needs trials >= 1".into())
            }
            (Method::Grid, Some(_)) => {
                return bad(
                    "sweep.trials",
                    "a grid runs every point; remove trials".into(),
                )
            }
            _ => {}
        }
        for (key, parameter) in &self.parameters {
            if key == "training.seed" {
                return bad(
                    key,
                    "set by the sweep for each repeat; use sweep.seed".into(),
                );
            }
            let values = parameter.probe_values(key, self.sweep.method)?;
            // A grid's points are checked whole below: its parameters may
            // only be valid together (a sample rate and its Mel range).
            if self.sweep.method == Method::Random {
                for value in values {
                    self.base_config(&[(key.clone(), value)], &[])
                        .map_err(|e| name_parameter(key, e))?;
                }
            }
        }
        if self.sweep.method == Method::Grid {
            for point in super::space::points(self) {
                self.base_config(&point, &[])
                    .map_err(|e| name_point(&point, e))?;
            }
        }
        Ok(())
    }
}

/// An error found while checking a grid point, naming its values.
fn name_point(point: &[(String, Value)], e: Error) -> Error {
    let values = point
        .iter()
        .map(|(key, value)| override_text(key, value))
        .collect::<Vec<_>>()
        .join(", ");
    match e {
        e @ Error::UnknownConfigKey { .. } => e,
        Error::ConfigValue { key, reason } => Error::ConfigValue {
            key,
            reason: format!("{reason} (grid point {values})"),
        },
        other => Error::ConfigValue {
            key: "parameters".into(),
            reason: format!("grid point {values}: {other}"),
        },
    }
}

/// An error found while checking parameter `key`, naming it.
fn name_parameter(key: &str, e: Error) -> Error {
    match e {
        e @ (Error::UnknownConfigKey { .. } | Error::ConfigValue { .. }) => e,
        other => Error::ConfigValue {
            key: format!("parameters.{key}"),
            reason: other.to_string(),
        },
    }
}

impl Parameter {
    /// Values that stand for everything the parameter can produce: every
    /// listed value, a distribution's bounds.
    fn probe_values(&self, key: &str, method: Method) -> Result<Vec<Value>> {
        let bad = |reason: &str| {
            Err(Error::ConfigValue {
                key: format!("parameters.{key}"),
                reason: reason.to_string(),
            })
        };
        match self {
            Parameter::Values(values)
            | Parameter::Distribution(Distribution::Choice { values }) => {
                if values.is_empty() {
                    return bad("no values");
                }
                Ok(values.clone())
            }
            Parameter::Distribution(_) if method == Method::Grid => {
                bad("a grid takes lists of values; distributions need method = \"random\"")
            }
            Parameter::Distribution(Distribution::Uniform { min, max }) => {
                if !(min.is_finite() && max.is_finite() && min <= max) {
                    return bad("uniform needs finite min <= max");
                }
                Ok(vec![Value::Float(*min), Value::Float(*max)])
            }
            Parameter::Distribution(Distribution::LogUniform { min, max }) => {
                if !(*min > 0.0 && max.is_finite() && min <= max) {
                    return bad("log_uniform needs 0 < min <= max");
                }
                Ok(vec![Value::Float(*min), Value::Float(*max)])
            }
            Parameter::Distribution(Distribution::IntUniform { min, max }) => {
                if min > max {
                    return bad("int_uniform needs min <= max");
                }
                Ok(vec![Value::Integer(*min), Value::Integer(*max)])
            }
        }
    }
}

/// `key=value` as `--set` reads it (TOML syntax, so strings are quoted).
pub fn override_text(key: &str, value: &Value) -> String {
    format!("{key}={value}")
}

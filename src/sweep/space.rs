//! From a spec to its trials: the points of a grid or of a seeded random
//! search, each trained `repeats` times with its own `training.seed`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use toml::Value;

use super::spec::{Distribution, Method, Parameter, SweepSpec};

/// One training of a sweep: a point of the space and a repeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// `t0000`, `t0001`, ...: the order trials are taken in.
    pub id: String,
    /// Index of the point (trials of one point share its values).
    pub point: usize,
    pub repeat: usize,
    /// `training.seed` of this trial.
    pub seed: u64,
    /// The point's values, in key order.
    pub values: Vec<(String, Value)>,
}

impl Trial {
    /// The `--set` overrides of this trial, the seed last.
    pub fn overrides(&self) -> Vec<String> {
        let mut sets: Vec<String> = self
            .values
            .iter()
            .map(|(k, v)| super::spec::override_text(k, v))
            .collect();
        sets.push(format!("training.seed={}", self.seed));
        sets
    }
}

/// The points of the spec's space, in a fixed order.
pub fn points(spec: &SweepSpec) -> Vec<Vec<(String, Value)>> {
    match spec.sweep.method {
        Method::Grid => grid(spec),
        Method::Random => {
            let mut rng = ChaCha8Rng::seed_from_u64(spec.sweep.seed);
            (0..spec.sweep.trials.unwrap_or(0))
                .map(|_| {
                    spec.parameters
                        .iter()
                        .map(|(key, p)| (key.clone(), draw(p, &mut rng)))
                        .collect()
                })
                .collect()
        }
    }
}

/// Every trial: points × repeats, repeats of a point next to each other.
/// Repeat `r` trains with `training.seed = sweep.seed + r`, so every point
/// sees the same seeds and differences come from the parameters.
pub fn trials(spec: &SweepSpec) -> Vec<Trial> {
    let mut out = Vec::new();
    for (point, values) in points(spec).into_iter().enumerate() {
        for repeat in 0..spec.sweep.repeats {
            out.push(Trial {
                id: format!("t{:04}", out.len()),
                point,
                repeat,
                seed: spec.sweep.seed + repeat as u64,
                values: values.clone(),
            });
        }
    }
    out
}

fn grid(spec: &SweepSpec) -> Vec<Vec<(String, Value)>> {
    let mut points: Vec<Vec<(String, Value)>> = vec![Vec::new()];
    for (key, parameter) in &spec.parameters {
        let values = match parameter {
            Parameter::Values(values)
            | Parameter::Distribution(Distribution::Choice { values }) => values,
            // Rejected when the spec was checked.
            Parameter::Distribution(_) => continue,
        };
        points = points
            .into_iter()
            .flat_map(|point| {
                values.iter().map(move |v| {
                    let mut next = point.clone();
                    next.push((key.clone(), v.clone()));
                    next
                })
            })
            .collect();
    }
    points
}

fn draw<R: Rng>(parameter: &Parameter, rng: &mut R) -> Value {
    match parameter {
        Parameter::Values(values) | Parameter::Distribution(Distribution::Choice { values }) => {
            values[rng.random_range(0..values.len())].clone()
        }
        Parameter::Distribution(Distribution::Uniform { min, max }) => {
            Value::Float(min + (max - min) * rng.random::<f64>())
        }
        Parameter::Distribution(Distribution::LogUniform { min, max }) => {
            let (lo, hi) = (min.ln(), max.ln());
            Value::Float((lo + (hi - lo) * rng.random::<f64>()).exp())
        }
        Parameter::Distribution(Distribution::IntUniform { min, max }) => {
            Value::Integer(rng.random_range(*min..=*max))
        }
    }
}

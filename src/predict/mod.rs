//! `soundclass predict`: class probabilities of files, folders and long
//! recordings, from a CNN run or a baseline model.
//!
//! Worker threads decode files chunk by chunk, cut each into the model's
//! windows ([`windows`]) and make every window ready (log-Mel on the host,
//! or features for a baseline); the calling thread batches windows across
//! files and runs the model. A file's label comes from the mean of its
//! windows' probabilities, so a long recording also gets a timeline. One
//! file that fails to decode is reported with its reason; the rest go on.

pub mod ensemble;
pub mod model;
pub mod output;
pub mod windows;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use serde::Serialize;

pub use model::{LoadedModel, Prepared, Preparer};
pub use windows::{stream_windows, WindowCutter, WindowPlan};

use crate::data::scan::collect_audio;
use crate::error::{Error, Result};
use crate::model::argmax;

/// What `predict` (and `serve`) were asked for beyond the model's own
/// defaults.
#[derive(Debug, Clone, Default)]
pub struct PredictOptions {
    /// Window length, seconds (default: the model's training crop).
    pub window_seconds: Option<f64>,
    /// Hop between windows, seconds (default: the run's evaluation hop).
    pub hop_seconds: Option<f64>,
    /// Only the middle this many seconds of each file.
    pub middle_seconds: Option<f64>,
    /// Decoding threads (0: one per core).
    pub threads: usize,
}

impl PredictOptions {
    /// The window plan these options give for `model`.
    pub fn plan(&self, model: &LoadedModel) -> Result<WindowPlan> {
        let rate = model.sample_rate();
        let window = self
            .window_seconds
            .unwrap_or_else(|| model.window_seconds());
        if !(window.is_finite() && window > 0.0) {
            return Err(Error::InvalidArgument(format!(
                "--window {window}: the model was trained on whole clips; pass a window length \
                 in seconds (> 0)"
            )));
        }
        let hop = self
            .hop_seconds
            .unwrap_or_else(|| model.default_hop_seconds().min(window));
        if !(hop.is_finite() && hop > 0.0) {
            return Err(Error::InvalidArgument(format!(
                "--hop {hop}: must be > 0 seconds"
            )));
        }
        if let Some(middle) = self.middle_seconds {
            if !(middle.is_finite() && middle > 0.0) {
                return Err(Error::InvalidArgument(format!(
                    "--middle {middle}: must be > 0 seconds"
                )));
            }
        }
        let samples = |s: f64| ((s * f64::from(rate)).round() as usize).max(1);
        Ok(WindowPlan {
            sample_rate: rate,
            window: samples(window),
            hop: samples(hop),
            pad: model.pad(),
            middle_seconds: self.middle_seconds,
        })
    }
}

/// One window's class probabilities.
#[derive(Debug, Clone, Serialize)]
pub struct WindowPrediction {
    pub start: f64,
    pub end: f64,
    pub probabilities: Vec<f32>,
}

/// A file's prediction.
#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    pub label: String,
    pub probability: f32,
    /// Mean of the windows' probabilities, in class order.
    pub probabilities: Vec<f32>,
    pub duration_seconds: f64,
    pub windows: Vec<WindowPrediction>,
}

/// A file and its prediction or the reason it has none.
#[derive(Debug, Clone, Serialize)]
pub struct FileResult {
    pub path: PathBuf,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    Predicted(Prediction),
    Failed { error: String },
}

impl FileResult {
    pub fn prediction(&self) -> Option<&Prediction> {
        match &self.outcome {
            Outcome::Predicted(p) => Some(p),
            Outcome::Failed { .. } => None,
        }
    }

    pub fn error(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Predicted(_) => None,
            Outcome::Failed { error } => Some(error),
        }
    }
}

/// Audio files among `inputs`: files as given (whatever their extension),
/// folders' audio files (with `recursive`, at any depth), sorted.
pub fn collect_inputs(inputs: &[PathBuf], recursive: bool) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found = Vec::new();
            collect_audio(input, recursive, &mut found)?;
            found.sort();
            files.extend(found);
        } else if input.exists() {
            files.push(input.clone());
        } else {
            return Err(Error::InvalidArgument(format!(
                "{}: no such file or folder",
                input.display()
            )));
        }
    }
    Ok(files)
}

/// What worker threads send to the model thread.
enum Message {
    Window {
        file: usize,
        start: u64,
        input: Prepared,
    },
    /// The file is read: how many seconds, or why it failed.
    Done {
        file: usize,
        outcome: Result<f64, String>,
    },
}

/// Per-file state while windows come back.
#[derive(Default)]
struct Pending {
    windows: Vec<(u64, Vec<f32>)>,
    outcome: Option<Result<f64, String>>,
}

/// Predict every file of `files` with `model`; `on_file` is called as each
/// is read (for progress). Decoding failures are per-file results; a
/// model failure is the call's error.
pub fn predict_files(
    model: &LoadedModel,
    files: &[PathBuf],
    options: &PredictOptions,
    on_file: &(dyn Fn() + Sync),
) -> Result<Vec<FileResult>> {
    let plan = options.plan(model)?;
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    }
    .min(files.len().max(1));
    let batch = model.batch_size();
    let preparer = model.preparer();
    let next_file = AtomicUsize::new(0);
    let mut pending: Vec<Pending> = (0..files.len()).map(|_| Pending::default()).collect();
    std::thread::scope(|scope| -> Result<()> {
        // Room for two batches in flight bounds memory whatever the files.
        let (tx, rx) = sync_channel::<Message>(2 * batch);
        for _ in 0..threads {
            let tx = tx.clone();
            let (preparer, next_file, plan) = (&preparer, &next_file, &plan);
            scope.spawn(move || read_files(files, plan, preparer, next_file, &tx, on_file));
        }
        drop(tx);
        run_batches(model, rx, batch, &mut pending)
    })?;
    Ok(files
        .iter()
        .zip(pending)
        .map(|(path, p)| finish_file(path, p, model.classes(), &plan))
        .collect())
}

/// A worker: take the next unread file until none is left.
fn read_files(
    files: &[PathBuf],
    plan: &WindowPlan,
    preparer: &Preparer,
    next_file: &AtomicUsize,
    tx: &SyncSender<Message>,
    on_file: &(dyn Fn() + Sync),
) {
    loop {
        let file = next_file.fetch_add(1, Ordering::Relaxed);
        let Some(path) = files.get(file) else {
            return;
        };
        let outcome = stream_windows(path, plan, |(start, samples)| {
            let input = preparer.prepare(samples, path)?;
            tx.send(Message::Window { file, start, input })
                .map_err(|_| Error::InvalidArgument("prediction stopped".into()))
        });
        on_file();
        let done = Message::Done {
            file,
            outcome: outcome.map_err(|e| e.to_string()),
        };
        if tx.send(done).is_err() {
            return; // the model thread stopped: nothing more to do
        }
    }
}

/// The model thread: batches of windows, across files.
fn run_batches(
    model: &LoadedModel,
    rx: Receiver<Message>,
    batch: usize,
    pending: &mut [Pending],
) -> Result<()> {
    let mut owners: Vec<(usize, u64)> = Vec::with_capacity(batch);
    let mut inputs: Vec<Prepared> = Vec::with_capacity(batch);
    for message in rx {
        match message {
            Message::Window { file, start, input } => {
                owners.push((file, start));
                inputs.push(input);
                if inputs.len() >= batch {
                    flush(model, &mut owners, &mut inputs, pending)?;
                }
            }
            Message::Done { file, outcome } => pending[file].outcome = Some(outcome),
        }
    }
    flush(model, &mut owners, &mut inputs, pending)
}

/// Run the model on the windows gathered so far.
fn flush(
    model: &LoadedModel,
    owners: &mut Vec<(usize, u64)>,
    inputs: &mut Vec<Prepared>,
    pending: &mut [Pending],
) -> Result<()> {
    let probabilities = model.run(std::mem::take(inputs))?;
    for ((file, start), p) in owners.drain(..).zip(probabilities) {
        pending[file].windows.push((start, p));
    }
    Ok(())
}

fn finish_file(path: &Path, pending: Pending, classes: &[String], plan: &WindowPlan) -> FileResult {
    let failed = |error: String| FileResult {
        path: path.to_path_buf(),
        outcome: Outcome::Failed { error },
    };
    let seconds = match pending.outcome {
        Some(Ok(seconds)) => seconds,
        Some(Err(error)) => return failed(error),
        None => return failed("not read (prediction stopped)".into()),
    };
    let mut windows = pending.windows;
    if windows.is_empty() {
        return failed(format!("{}: no audio to classify", path.display()));
    }
    windows.sort_by_key(|w| w.0);
    let k = classes.len();
    let mut mean = vec![0.0f32; k];
    for (_, p) in &windows {
        for (m, v) in mean.iter_mut().zip(p) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= windows.len() as f32);
    let best = argmax(&mean);
    let rate = f64::from(plan.sample_rate);
    let window_seconds = plan.window as f64 / rate;
    let windows = windows
        .into_iter()
        .map(|(start, probabilities)| {
            let start = start as f64 / rate;
            WindowPrediction {
                start,
                end: (start + window_seconds).min(seconds),
                probabilities,
            }
        })
        .collect();
    FileResult {
        path: path.to_path_buf(),
        outcome: Outcome::Predicted(Prediction {
            label: classes[best].clone(),
            probability: mean[best],
            probabilities: mean,
            duration_seconds: seconds,
            windows,
        }),
    }
}

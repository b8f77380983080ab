//! Training checkpoints: one file per checkpoint, written atomically, so a
//! crash mid-write leaves the previous checkpoint whole.
//!
//! Layout: the magic `SCCKPT01`, then three length-prefixed (u64 LE)
//! sections: the training state as JSON, the model's burnpack bytes, and
//! the optimizer's burnpack bytes (empty in `best.ckpt`, which only serves
//! evaluation); then, in `last.ckpt` while weights are being averaged
//! (`training.average_last_epochs`), a fourth: the running average's
//! burnpack bytes, saved with the state it belongs to so a resume neither
//! drops nor repeats an epoch in it. Files without it read as before.
//! Learning-rate schedules are functions of the step and the random streams
//! are functions of (seed, epoch), so the state needs no RNG or scheduler
//! blobs.

use std::io::Write;
use std::path::Path;

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::cnn::SoundCnn;
use crate::train::metrics::SplitMetrics;
use crate::util::atomic_write;

const MAGIC: &[u8; 8] = b"SCCKPT01";

/// Metrics of one finished epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based.
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub train_macro_f1: f64,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    pub train_clips_per_second: f64,
    pub val: Option<SplitMetrics>,
    pub val_clips_per_second: f64,
    /// Mean training loss of each logged group of steps: (step, loss).
    pub step_losses: Vec<(usize, f64)>,
}

/// Where training stands after an epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Epochs finished.
    pub epoch: usize,
    /// Optimizer steps taken.
    pub step: usize,
    pub best_epoch: Option<usize>,
    /// The monitored value at `best_epoch`.
    pub best_value: Option<f64>,
    pub epochs_without_improvement: usize,
    pub stopped_early: bool,
    pub history: Vec<EpochRecord>,
    /// Seconds spent training so far, over all sessions of this run.
    pub train_seconds: f64,
    /// Epoch-end weights folded into the running average so far
    /// (`training.average_last_epochs`).
    #[serde(default)]
    pub averaged_epochs: usize,
    /// The epoch in progress when a stop was requested between two steps
    /// (absent in checkpoints written at an epoch's end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<PartialEpoch>,
}

/// Progress through epoch `epoch + 1`: what its record will be made of.
/// Resuming replays the epoch's random draws for the steps already taken
/// and continues with the next one, so the epoch ends as it would have.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PartialEpoch {
    /// Optimizer steps of this epoch already taken.
    pub steps: usize,
    /// The epoch's batch size and length when it was saved: a resume with
    /// other values would mix two data streams.
    #[serde(default)]
    pub batch: usize,
    #[serde(default)]
    pub steps_per_epoch: usize,
    pub loss_sum: f64,
    pub seen: usize,
    pub predicted: Vec<usize>,
    pub truth: Vec<usize>,
    pub step_losses: Vec<(usize, f64)>,
    /// Sum and count of step losses not yet logged.
    pub pending_loss: (f64, usize),
    pub lr: f64,
    /// Seconds spent in this epoch's steps so far.
    pub seconds: f64,
}

impl PartialEpoch {
    /// The mean of the step losses not yet logged, as the point at `step`
    /// of the loss curve (nothing when there are none).
    pub fn log_pending_loss(&mut self, step: usize) {
        let (sum, count) = self.pending_loss;
        if count > 0 {
            self.step_losses.push((step, sum / count as f64));
        }
        self.pending_loss = (0.0, 0);
    }
}

impl TrainState {
    pub fn new() -> Self {
        Self {
            epoch: 0,
            step: 0,
            best_epoch: None,
            best_value: None,
            epochs_without_improvement: 0,
            stopped_early: false,
            history: Vec::new(),
            train_seconds: 0.0,
            averaged_epochs: 0,
            partial: None,
        }
    }
}

impl Default for TrainState {
    fn default() -> Self {
        Self::new()
    }
}

/// A checkpoint read back from disk.
pub struct Checkpoint {
    pub state: TrainState,
    pub model: Vec<u8>,
    pub optimizer: Vec<u8>,
    /// The running weight average's record; empty when there is none.
    pub average: Vec<u8>,
}

fn record_error(path: &Path, what: &str, e: impl std::fmt::Debug) -> Error {
    Error::Model {
        path: path.to_path_buf(),
        reason: format!("{what}: {e:?}"),
    }
}

fn record_bytes(path: &Path, model: &SoundCnn) -> Result<Vec<u8>> {
    // Burn's running statistics (batch norm) keep the latest update per
    // thread and fold it in only when synced, which `valid()` does; a record
    // taken without it would lag one step behind the weights.
    let _ = model.valid();
    Ok(model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| record_error(path, "model record", e))?
        .to_vec())
}

/// Write `model` (and `optimizer` and the running weight `average` when
/// given) with `state` to `path`.
pub fn save(
    path: &Path,
    state: &TrainState,
    model: &SoundCnn,
    optimizer: Option<&ModuleOptimizer>,
    average: Option<&SoundCnn>,
) -> Result<()> {
    let state_json = serde_json::to_vec(state).map_err(|e| record_error(path, "state", e))?;
    let model_bytes = record_bytes(path, model)?;
    let average_bytes = match average {
        Some(average) => Some(record_bytes(path, average)?),
        None => None,
    };
    let optim_bytes = match optimizer {
        Some(optim) => optim
            .into_bytes()
            .map_err(|e| record_error(path, "optimizer record", e))?
            .to_vec(),
        None => Vec::new(),
    };
    let mut sections = vec![&state_json[..], &model_bytes[..], &optim_bytes[..]];
    if let Some(average) = &average_bytes {
        sections.push(&average[..]);
    }
    atomic_write(path, |w| {
        w.write_all(MAGIC)?;
        for section in &sections {
            w.write_all(&(section.len() as u64).to_le_bytes())?;
            w.write_all(section)?;
        }
        Ok(())
    })
}

/// Read a checkpoint written by [`save`].
pub fn load(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bad = |reason: &str| Error::Model {
        path: path.to_path_buf(),
        reason: format!("not a soundclass checkpoint: {reason}"),
    };
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(bad("wrong magic bytes"));
    }
    let mut at = MAGIC.len();
    let mut sections = Vec::new();
    // Three sections, and the optional fourth when bytes remain.
    while sections.len() < 3 || (sections.len() == 3 && at < bytes.len()) {
        let len_bytes: [u8; 8] = bytes
            .get(at..at + 8)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| bad("truncated"))?;
        let len = u64::from_le_bytes(len_bytes) as usize;
        at += 8;
        let section = bytes.get(at..at + len).ok_or_else(|| bad("truncated"))?;
        sections.push(section.to_vec());
        at += len;
    }
    if at != bytes.len() {
        return Err(bad("trailing bytes"));
    }
    let average = if sections.len() == 4 {
        sections.pop().unwrap_or_default()
    } else {
        Vec::new()
    };
    let optimizer = sections.pop().unwrap_or_default();
    let model = sections.pop().unwrap_or_default();
    let state: TrainState =
        serde_json::from_slice(&sections[0]).map_err(|e| bad(&format!("training state: {e}")))?;
    Ok(Checkpoint {
        state,
        model,
        optimizer,
        average,
    })
}

fn load_record(path: &Path, bytes: &[u8], model: SoundCnn) -> Result<SoundCnn> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| record_error(path, "model record", e))?;
    model
        .try_load_record(record)
        .map_err(|e| record_error(path, "model does not match the checkpoint", e))
}

impl Checkpoint {
    /// `model` with this checkpoint's weights (and parameter ids, which the
    /// optimizer state is keyed by).
    pub fn load_model(&self, path: &Path, model: SoundCnn) -> Result<SoundCnn> {
        load_record(path, &self.model, model)
    }

    /// `model` with the running weight average's values, if this
    /// checkpoint holds one.
    pub fn load_average(&self, path: &Path, model: SoundCnn) -> Result<Option<SoundCnn>> {
        if self.average.is_empty() {
            return Ok(None);
        }
        load_record(path, &self.average, model).map(Some)
    }

    /// `optimizer` with this checkpoint's state.
    pub fn load_optimizer(
        &self,
        path: &Path,
        optimizer: ModuleOptimizer,
    ) -> Result<ModuleOptimizer> {
        if self.optimizer.is_empty() {
            return Err(record_error(
                path,
                "optimizer",
                "this checkpoint holds no optimizer state",
            ));
        }
        optimizer
            .from_bytes(Bytes::from_bytes_vec(self.optimizer.clone()))
            .map_err(|e| record_error(path, "optimizer record", e))
    }
}

//! Training: the grid-searched CPU baselines on hand-made features and the
//! CNNs, each writing a run folder; TensorBoard event files for the runs'
//! metrics.

pub mod audio_cache;
pub mod average;
pub mod baselines;
pub mod checkpoint;
pub mod clips;
pub mod cnn;
pub mod device;
pub mod folds;
pub mod frontend;
pub mod metrics;
pub mod optim;
pub mod prior;
pub mod tensorboard;
pub mod wave_augment;

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::util::utc_timestamp;

/// The run folder: exactly `explicit` when given, else
/// `runs/<experiment>/<UTC timestamp>/` (made unique with a suffix).
pub fn run_folder(config: &Config, explicit: Option<&Path>) -> Result<PathBuf> {
    let dir = match explicit {
        Some(dir) => dir.to_path_buf(),
        None => {
            let base = Path::new("runs").join(&config.experiment.name);
            let stamp = utc_timestamp();
            let mut dir = base.join(&stamp);
            let mut n = 2;
            while dir.exists() {
                dir = base.join(format!("{stamp}-{n}"));
                n += 1;
            }
            dir
        }
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    config.write_resolved(&dir.join("config.toml"))?;
    Ok(dir)
}

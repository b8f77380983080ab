//! soundclass: sound classification research framework.
//!
//! Modules follow the data's path: [`audio`] decodes and resamples,
//! [`data`] describes datasets, [`config`] holds every hyperparameter, and
//! [`cli`] wires them to the `soundclass` command.

pub mod audio;
pub mod bench;
pub mod cli;
pub mod config;
pub mod data;
pub mod dsp;
pub mod error;
pub mod features;
pub mod gpu;
pub mod interrupt;
pub mod model;
pub mod npy;
pub mod plot;
pub mod predict;
pub mod report;
pub mod serve;
pub mod sweep;
pub mod train;
pub mod util;

pub use config::Config;
pub use error::{Error, Result};

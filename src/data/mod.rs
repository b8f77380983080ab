//! Datasets: manifests, folder trees, AudioSet metadata, splits, checks.

pub mod audioset;
pub mod check;
pub mod manifest;
pub mod scan;
pub mod spectrograms;
pub mod split;
pub mod stats;

pub use manifest::{Clip, Manifest, Split};
pub use split::{assign_splits, stratified_group_folds, SplitFractions};

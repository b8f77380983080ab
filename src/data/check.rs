//! `data validate`: decode every clip of a manifest and report the ones a
//! training run could not use, each with its path and the reason.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::manifest::Manifest;
use crate::audio::decode_file;
use crate::error::Error;
use crate::util::progress_bar;

/// Why a clip is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    Missing,
    Unreadable,
    NonFinite,
    Empty,
    TooShort,
    Silent,
}

impl Problem {
    pub fn as_str(self) -> &'static str {
        match self {
            Problem::Missing => "missing",
            Problem::Unreadable => "unreadable",
            Problem::NonFinite => "non-finite",
            Problem::Empty => "empty",
            Problem::TooShort => "too short",
            Problem::Silent => "silent",
        }
    }
}

/// Result of checking one clip.
#[derive(Debug, Clone, Serialize)]
pub struct ClipCheck {
    pub path: PathBuf,
    pub label: String,
    pub problem: Option<Problem>,
    pub detail: String,
    pub duration_s: Option<f64>,
    pub sample_rate: Option<u32>,
    pub channels: Option<usize>,
    /// Corrupt packets skipped while decoding a clip that is otherwise usable.
    pub corrupt_packets: usize,
}

/// Thresholds of a check.
#[derive(Debug, Clone, Copy)]
pub struct CheckOptions {
    pub min_seconds: f64,
    pub silence_dbfs: f64,
}

/// Check one file.
pub fn check_clip(path: &Path, label: &str, options: CheckOptions) -> ClipCheck {
    let mut check = ClipCheck {
        path: path.to_path_buf(),
        label: label.to_string(),
        problem: None,
        detail: String::new(),
        duration_s: None,
        sample_rate: None,
        channels: None,
        corrupt_packets: 0,
    };
    let decoded = match decode_file(path) {
        Ok(d) => d,
        Err(e) => {
            check.problem = Some(match &e {
                Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                    Problem::Missing
                }
                Error::NonFiniteSample { .. } => Problem::NonFinite,
                Error::EmptyFile { .. } => Problem::Empty,
                _ => Problem::Unreadable,
            });
            check.detail = e.to_string();
            return check;
        }
    };
    let duration = decoded.duration_seconds();
    check.duration_s = Some(duration);
    check.sample_rate = Some(decoded.sample_rate);
    check.channels = Some(decoded.channels);
    check.corrupt_packets = decoded.corrupt_packets;
    let peak = decoded.samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    let peak_dbfs = 20.0 * (peak as f64).max(1e-30).log10();
    if decoded.samples.is_empty() {
        check.problem = Some(Problem::Empty);
        check.detail = "no samples".into();
    } else if duration < options.min_seconds {
        check.problem = Some(Problem::TooShort);
        check.detail = format!("{duration:.3} s < minimum {} s", options.min_seconds);
    } else if peak_dbfs < options.silence_dbfs {
        check.problem = Some(Problem::Silent);
        check.detail = if peak == 0.0 {
            "all samples are zero".into()
        } else {
            format!("peak {peak_dbfs:.1} dBFS < {} dBFS", options.silence_dbfs)
        };
    }
    check
}

/// Check every clip of `manifest` in parallel.
pub fn check_manifest(manifest: &Manifest, options: CheckOptions, quiet: bool) -> Vec<ClipCheck> {
    let bar = progress_bar(manifest.clips.len() as u64, "validate", quiet);
    let checks: Vec<ClipCheck> = manifest
        .clips
        .par_iter()
        .map(|clip| {
            let check = check_clip(&manifest.resolve(clip), &clip.label, options);
            bar.inc(1);
            check
        })
        .collect();
    bar.finish_and_clear();
    checks
}

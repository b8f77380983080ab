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
    Implausible,
    Truncated,
    /// The label is not one of `data.classes`.
    Label,
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
            Problem::Implausible => "implausible",
            Problem::Truncated => "truncated",
            Problem::Label => "label",
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
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub min_seconds: f64,
    pub silence_dbfs: f64,
    /// Labels a clip may have; empty accepts any.
    pub classes: Vec<String>,
}

/// Check one file.
pub fn check_clip(path: &Path, label: &str, options: &CheckOptions) -> ClipCheck {
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
    if !options.classes.is_empty() && !options.classes.iter().any(|c| c == label) {
        check.problem = Some(Problem::Label);
        check.detail = format!(
            "label `{label}` is not in data.classes ({})",
            options.classes.join(", ")
        );
        return check;
    }
    let decoded = match decode_file(path) {
        Ok(d) => d,
        Err(e) => {
            check.problem = Some(match &e {
                Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                    Problem::Missing
                }
                Error::NonFiniteSample { .. } => Problem::NonFinite,
                Error::EmptyFile { .. } => Problem::Empty,
                Error::Implausible { .. } => Problem::Implausible,
                Error::Truncated { .. } => Problem::Truncated,
                _ => Problem::Unreadable,
            });
            // The report names the path and the problem already; keep the
            // reason only.
            let text = e.to_string();
            let prefix = format!("{}: ", path.display());
            let detail = text.strip_prefix(&prefix).unwrap_or(&text);
            let kind = check.problem.map_or("", |p| p.as_str());
            let detail = detail.strip_prefix(&format!("{kind}: ")).unwrap_or(detail);
            check.detail = detail.to_string();
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

/// Check every clip of `manifest` in parallel. Problems name the manifest
/// line of the clip.
pub fn check_manifest(manifest: &Manifest, options: &CheckOptions, quiet: bool) -> Vec<ClipCheck> {
    let bar = progress_bar(manifest.clips.len() as u64, "validate", quiet);
    let checks: Vec<ClipCheck> = manifest
        .clips
        .par_iter()
        .map(|clip| {
            let mut check = check_clip(&manifest.resolve(clip), &clip.label, options);
            if check.problem.is_some() {
                check.detail.push_str(&clip.line_note());
            }
            bar.inc(1);
            check
        })
        .collect();
    bar.finish_and_clear();
    checks
}

/// What `data validate` reports: the bad clips, the usable ones that had
/// corrupt packets skipped, and totals.
#[derive(Debug, Clone, Serialize)]
pub struct ValidateReport {
    pub manifest: PathBuf,
    pub checked: usize,
    pub ok: usize,
    pub bad: Vec<ClipCheck>,
    pub warnings: Vec<ClipCheck>,
    pub audio_hours: f64,
    pub wall_seconds: f64,
}

impl ValidateReport {
    pub fn new(manifest: &Path, checks: Vec<ClipCheck>, wall_seconds: f64) -> Self {
        // Start from +0.0: an empty f64 sum is -0.0, printed "-0.00 h".
        let seconds = checks
            .iter()
            .filter_map(|c| c.duration_s)
            .fold(0.0, |a, b| a + b);
        let checked = checks.len();
        let (bad, good): (Vec<_>, Vec<_>) = checks.into_iter().partition(|c| c.problem.is_some());
        Self {
            manifest: manifest.to_path_buf(),
            checked,
            ok: good.len(),
            bad,
            warnings: good.into_iter().filter(|c| c.corrupt_packets > 0).collect(),
            audio_hours: seconds / 3600.0,
            wall_seconds,
        }
    }

    /// The human-readable report, one line per problem, then the totals.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for c in &self.bad {
            let problem = c.problem.map(|p| p.as_str()).unwrap_or("");
            out += &format!("BAD  {problem:<11} {}: {}\n", c.path.display(), c.detail);
        }
        for c in &self.warnings {
            out += &format!(
                "WARN corrupt      {}: {} corrupt packets skipped\n",
                c.path.display(),
                c.corrupt_packets
            );
        }
        out += &format!(
            "{} clips checked, {} bad, {:.2} h of audio decoded in {:.1} s\n",
            self.checked,
            self.bad.len(),
            self.audio_hours,
            self.wall_seconds
        );
        out
    }
}

//! `data stats`: clips, hours and duration quantiles per split and class.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::Serialize;

use super::manifest::Manifest;
use crate::audio::{decode_file, probe_info};
use crate::error::Result;
use crate::util::{progress_bar, quantile_sorted};

/// Duration summary of one (split, class) cell; `class` is `*` for a
/// split's total and `split` is `*` for the whole manifest.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DurationStats {
    pub split: String,
    pub class: String,
    pub clips: usize,
    pub hours: f64,
    pub min_s: f64,
    pub p10_s: f64,
    pub median_s: f64,
    pub p90_s: f64,
    pub max_s: f64,
}

fn summarize(split: &str, class: &str, durations: &mut [f64]) -> DurationStats {
    durations.sort_by(f64::total_cmp);
    DurationStats {
        split: split.into(),
        class: class.into(),
        clips: durations.len(),
        hours: durations.iter().sum::<f64>() / 3600.0,
        min_s: quantile_sorted(durations, 0.0),
        p10_s: quantile_sorted(durations, 0.1),
        median_s: quantile_sorted(durations, 0.5),
        p90_s: quantile_sorted(durations, 0.9),
        max_s: quantile_sorted(durations, 1.0),
    }
}

/// Duration of a clip from its header, decoding only when the header
/// does not say.
pub fn clip_duration(path: &std::path::Path) -> Result<f64> {
    match probe_info(path)?.duration_seconds() {
        Some(d) => Ok(d),
        None => Ok(decode_file(path)?.duration_seconds()),
    }
}

/// Stats of `manifest`, and the clips whose duration could not be read.
pub fn manifest_stats(manifest: &Manifest, quiet: bool) -> (Vec<DurationStats>, Vec<String>) {
    let bar = progress_bar(manifest.clips.len() as u64, "stats", quiet);
    let durations: Vec<std::result::Result<f64, String>> = manifest
        .clips
        .par_iter()
        .map(|clip| {
            let d = clip_duration(&manifest.resolve(clip)).map_err(|e| e.to_string());
            bar.inc(1);
            d
        })
        .collect();
    bar.finish_and_clear();
    let mut cells: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    let mut errors = Vec::new();
    for (clip, duration) in manifest.clips.iter().zip(durations) {
        match duration {
            Ok(d) => {
                let split = clip.split.as_str().to_string();
                for key in [
                    (split.clone(), clip.label.clone()),
                    (split, "*".to_string()),
                    ("*".to_string(), clip.label.clone()),
                    ("*".to_string(), "*".to_string()),
                ] {
                    cells.entry(key).or_default().push(d);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    let order = |s: &str| match s {
        "train" => 0,
        "val" => 1,
        "test" => 2,
        _ => 3,
    };
    let mut stats: Vec<DurationStats> = cells
        .into_iter()
        .map(|((split, class), mut d)| summarize(&split, &class, &mut d))
        .collect();
    stats.sort_by(|a, b| {
        (order(&a.split), a.class == "*", &a.class).cmp(&(
            order(&b.split),
            b.class == "*",
            &b.class,
        ))
    });
    (stats, errors)
}

/// Plain-text table of `stats`.
pub fn format_stats_table(stats: &[DurationStats]) -> String {
    let mut out = format!(
        "{:<6} {:<10} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}\n",
        "split", "class", "clips", "hours", "min_s", "p10_s", "median_s", "p90_s", "max_s"
    );
    for s in stats {
        out.push_str(&format!(
            "{:<6} {:<10} {:>6} {:>8.3} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}\n",
            s.split, s.class, s.clips, s.hours, s.min_s, s.p10_s, s.median_s, s.p90_s, s.max_s
        ));
    }
    out
}

//! `soundclass features`: the clip-level feature table of a manifest, with
//! a per-clip cache keyed by the file's content and the feature settings,
//! so that a rerun only computes clips it has not seen.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use super::{feature_names, FeatureExtractor};
use crate::audio::{AudioConfig, ClipLoader};
use crate::config::{FeatureLevel, FeaturesConfig};
use crate::data::Manifest;
use crate::error::{Error, Result};
use crate::util::{atomic_write, atomic_write_str, progress_bar};

/// Bumped whenever the feature code changes what it computes, so that old
/// cache entries are not reused.
const FEATURE_VERSION: u32 = 2;

/// One clip's row of the feature table.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureRow {
    pub path: String,
    pub label: String,
    pub split: String,
    /// Leakage group (source package, else parent folder).
    pub group: String,
    pub values: Vec<f64>,
}

/// `path,label,split,group,<features>`, as `features.csv` stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureTable {
    pub names: Vec<String>,
    pub rows: Vec<FeatureRow>,
}

const KEY_COLUMNS: [&str; 4] = ["path", "label", "split", "group"];

impl FeatureTable {
    /// Write atomically as CSV (shortest round-trip decimal values).
    pub fn write_csv(&self, path: &Path) -> Result<()> {
        atomic_write(path, |w| {
            let mut writer = csv::Writer::from_writer(w);
            let header: Vec<&str> = KEY_COLUMNS
                .iter()
                .copied()
                .chain(self.names.iter().map(String::as_str))
                .collect();
            writer.write_record(&header)?;
            for row in &self.rows {
                let mut record = vec![
                    row.path.clone(),
                    row.label.clone(),
                    row.split.clone(),
                    row.group.clone(),
                ];
                record.extend(row.values.iter().map(|v| v.to_string()));
                writer.write_record(&record)?;
            }
            writer.flush()
        })
    }

    /// Read a table written by [`write_csv`](Self::write_csv) (or by
    /// `scripts/features_librosa.py`).
    pub fn read_csv(path: &Path) -> Result<Self> {
        let (mut reader, headers, lines) = crate::util::open_csv(path, false)?;
        if headers.len() <= KEY_COLUMNS.len()
            || headers[..KEY_COLUMNS.len()]
                .iter()
                .zip(KEY_COLUMNS)
                .any(|(h, k)| h != k)
        {
            return Err(Error::Csv {
                path: path.to_path_buf(),
                line: 1,
                reason: format!(
                    "a feature table starts with `{}` and has feature columns after them (found: {})",
                    KEY_COLUMNS.join(","),
                    headers.join(",")
                ),
            });
        }
        let names = headers[KEY_COLUMNS.len()..].to_vec();
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| lines.error(e))?;
            let line = lines.line(record.position());
            let mut values = Vec::with_capacity(names.len());
            for (name, field) in names.iter().zip(record.iter().skip(KEY_COLUMNS.len())) {
                let value: f64 = field.trim().parse().map_err(|_| Error::Csv {
                    path: path.to_path_buf(),
                    line,
                    reason: format!("column `{name}`: `{field}` is not a number"),
                })?;
                values.push(value);
            }
            if values.len() != names.len() {
                return Err(Error::Csv {
                    path: path.to_path_buf(),
                    line,
                    reason: format!("{} feature values, expected {}", values.len(), names.len()),
                });
            }
            let field = |i: usize| record.get(i).unwrap_or("").to_string();
            rows.push(FeatureRow {
                path: field(0),
                label: field(1),
                split: field(2),
                group: field(3),
                values,
            });
        }
        Ok(Self { names, rows })
    }
}

/// What a `features` run did.
#[derive(Debug, Clone, Serialize)]
pub struct FeaturesReport {
    pub clips: usize,
    pub computed: usize,
    pub cached: usize,
    pub skipped: Vec<SkippedClip>,
    /// Seconds of (cropped or padded) audio the computed clips held.
    pub audio_seconds: f64,
    pub wall_seconds: f64,
    pub cache_dir: Option<PathBuf>,
}

pub use crate::data::spectrograms::SkippedClip;

#[derive(Debug, Serialize, Deserialize)]
struct CacheEntry {
    names: Vec<String>,
    values: Vec<f64>,
}

/// The cache folder of one feature configuration.
fn cache_folder(root: &Path, config: &FeaturesConfig) -> PathBuf {
    let mut hasher = Xxh3::new();
    let key = format!(
        "v{FEATURE_VERSION}|{}|{}|{:?}|{:?}|{}{}",
        config.sample_rate,
        config.clip_seconds,
        config.crop,
        config.pad,
        feature_names().join(","),
        // Keeps the folder of as-recorded features where it was.
        match config.level {
            FeatureLevel::AsRecorded => "",
            FeatureLevel::Peak => "|level=peak",
        }
    );
    hasher.update(key.as_bytes());
    root.join(format!("{:016x}", hasher.digest()))
}

/// 128-bit hash of a file's bytes.
fn content_hash(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Xxh3::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(format!("{:032x}", hasher.digest128()))
}

fn read_cache(file: &Path, names: &[String]) -> Option<Vec<f64>> {
    let text = std::fs::read_to_string(file).ok()?;
    let entry: CacheEntry = serde_json::from_str(&text).ok()?;
    (entry.names == names && entry.values.len() == names.len()).then_some(entry.values)
}

/// The leakage group of a clip: its `source_package` when the manifest has
/// that column, else its parent folder.
pub fn clip_group(manifest: &Manifest, clip: &crate::data::Clip) -> String {
    match manifest.column(clip, "source_package") {
        Some(package) if !package.is_empty() => package.to_string(),
        _ => Path::new(&clip.path)
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

/// Features of every clip of `manifest`, from the cache where possible.
/// Unreadable clips are reported in the returned report and left out of
/// the table.
pub fn extract_features(
    manifest: &Manifest,
    config: &FeaturesConfig,
    cache_dir: Option<&Path>,
    quiet: bool,
) -> Result<(FeatureTable, FeaturesReport)> {
    let started = std::time::Instant::now();
    let names = feature_names();
    let cache = match cache_dir {
        Some(root) => Some(open_cache(root, config, &names)?),
        None => None,
    };
    let job = ClipJob {
        loader: ClipLoader::new(AudioConfig {
            sample_rate: config.sample_rate,
            clip_seconds: config.clip_seconds,
            crop: config.crop,
            pad: config.pad,
        }),
        extractor: FeatureExtractor::for_config(config),
        cache: cache.as_deref(),
        names: &names,
    };
    let bar = progress_bar(manifest.clips.len() as u64, "features", quiet);
    let outcomes: Vec<ClipOutcome> = manifest
        .clips
        .par_iter()
        .map(|clip| {
            let outcome = job.run(&manifest.resolve(clip));
            bar.inc(1);
            outcome.unwrap_or_else(ClipOutcome::Failed)
        })
        .collect();
    bar.finish_and_clear();
    let (table, mut report) = collect_table(manifest, names, outcomes)?;
    report.cache_dir = cache;
    report.wall_seconds = started.elapsed().as_secs_f64();
    Ok((table, report))
}

/// The cache folder for `config` under `root`, made if needed, with the
/// settings that key it written beside the entries.
fn open_cache(root: &Path, config: &FeaturesConfig, names: &[String]) -> Result<PathBuf> {
    let dir = cache_folder(root, config);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    atomic_write_str(
        &dir.join("settings.json"),
        &serde_json::to_string_pretty(&serde_json::json!({
            "feature_version": FEATURE_VERSION,
            "features": config,
            "columns": names,
        }))
        .unwrap_or_default(),
    )?;
    Ok(dir)
}

/// What became of one clip.
enum ClipOutcome {
    Cached(Vec<f64>),
    /// Computed now: the values and the seconds of audio read.
    Computed(Vec<f64>, f64),
    /// The clip could not be used: reported and skipped.
    Failed(Error),
    /// The cache could not be written (disk full, no permission): not the
    /// clip's fault, so the whole command stops with this error.
    CacheWrite(Error),
}

/// Everything one clip's features need, shared by the worker threads.
struct ClipJob<'a> {
    loader: ClipLoader,
    extractor: FeatureExtractor,
    cache: Option<&'a Path>,
    names: &'a [String],
}

impl ClipJob<'_> {
    /// The clip's features from the cache, else computed (and cached).
    fn run(&self, path: &Path) -> Result<ClipOutcome> {
        let cache_file = match self.cache {
            Some(dir) => {
                let hash = content_hash(path)?;
                let file = dir.join(&hash[..2]).join(format!("{hash}.json"));
                if let Some(values) = read_cache(&file, self.names) {
                    return Ok(ClipOutcome::Cached(values));
                }
                Some(file)
            }
            None => None,
        };
        // Crops are deterministic (validated), so the RNG is unused.
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let signal = self.loader.load(path, &mut rng)?;
        let values = self.extractor.clip_features(&signal, path)?;
        if let Some(file) = cache_file {
            let entry = CacheEntry {
                names: self.names.to_vec(),
                values: values.clone(),
            };
            let json = serde_json::to_string(&entry).unwrap_or_default();
            if let Err(e) = atomic_write(&file, |w| w.write_all(json.as_bytes())) {
                return Ok(ClipOutcome::CacheWrite(e));
            }
        }
        let seconds = signal.len() as f64 / self.loader.config().sample_rate as f64;
        Ok(ClipOutcome::Computed(values, seconds))
    }
}

/// The table of usable clips, in manifest order, and the counts; failed
/// clips and clips with a non-finite feature go to the report's skipped.
fn collect_table(
    manifest: &Manifest,
    names: Vec<String>,
    outcomes: Vec<ClipOutcome>,
) -> Result<(FeatureTable, FeaturesReport)> {
    let mut table = FeatureTable {
        names,
        rows: Vec::new(),
    };
    let mut report = FeaturesReport {
        clips: manifest.clips.len(),
        computed: 0,
        cached: 0,
        skipped: Vec::new(),
        audio_seconds: 0.0,
        wall_seconds: 0.0,
        cache_dir: None,
    };
    for (clip, outcome) in manifest.clips.iter().zip(outcomes) {
        let values = match outcome {
            ClipOutcome::Cached(values) => {
                report.cached += 1;
                values
            }
            ClipOutcome::Computed(values, seconds) => {
                report.computed += 1;
                report.audio_seconds += seconds;
                values
            }
            ClipOutcome::CacheWrite(e) => return Err(e),
            ClipOutcome::Failed(e) => {
                report.skipped.push(SkippedClip {
                    path: manifest.resolve(clip),
                    error: e.to_string(),
                });
                continue;
            }
        };
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            report.skipped.push(SkippedClip {
                path: manifest.resolve(clip),
                error: format!("feature `{}` is not finite", table.names[i]),
            });
            continue;
        }
        table.rows.push(FeatureRow {
            path: clip.path.clone(),
            label: clip.label.clone(),
            split: clip.split.as_str().to_string(),
            group: clip_group(manifest, clip),
            values,
        });
    }
    Ok((table, report))
}

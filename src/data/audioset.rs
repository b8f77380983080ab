//! AudioSet metadata: segment CSVs plus `ontology.json`. A clip's labels are
//! rolled up through the ontology to the requested top-level classes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::manifest::{Clip, Manifest, Split};
use super::split::{assign_splits, SplitFractions};
use crate::error::{Error, Result};
use crate::util::relative_path;

/// One row of a segments CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub ytid: String,
    /// Start and end as written (e.g. `30.000`).
    pub start: String,
    pub end: String,
    pub labels: Vec<String>,
}

/// Read a segments CSV in the official form (`#` comment lines, `, `
/// separators) or the plain-header form (`YTID,start_seconds,...`).
pub fn read_segments(path: &Path) -> Result<Vec<Segment>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut segments = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("YTID") {
            continue;
        }
        // YouTube ids and times hold no commas; everything after the third
        // comma is the quoted label list, itself comma-separated.
        let fields: Vec<&str> = line.splitn(4, ',').map(str::trim).collect();
        if fields.len() < 4 {
            return Err(Error::Csv {
                path: path.to_path_buf(),
                line: index as u64 + 1,
                reason: format!(
                    "expected 4 fields (YTID, start_seconds, end_seconds, positive_labels), found {}",
                    fields.len()
                ),
            });
        }
        segments.push(Segment {
            ytid: fields[0].to_string(),
            start: fields[1].to_string(),
            end: fields[2].to_string(),
            labels: fields[3]
                .trim_matches('"')
                .split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
        });
    }
    Ok(segments)
}

#[derive(Debug, Deserialize)]
struct OntologyEntry {
    id: String,
    name: String,
    #[serde(default)]
    child_ids: Vec<String>,
}

/// The AudioSet ontology reduced to what the roll-up needs.
#[derive(Debug, Clone)]
pub struct Ontology {
    names: HashMap<String, String>,
    ids_by_name: HashMap<String, String>,
    parents: HashMap<String, Vec<String>>,
}

impl Ontology {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let entries: Vec<OntologyEntry> =
            serde_json::from_str(&text).map_err(|e| Error::Ontology {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        let mut ontology = Ontology {
            names: HashMap::new(),
            ids_by_name: HashMap::new(),
            parents: HashMap::new(),
        };
        for entry in entries {
            for child in &entry.child_ids {
                ontology
                    .parents
                    .entry(child.clone())
                    .or_default()
                    .push(entry.id.clone());
            }
            ontology
                .ids_by_name
                .insert(entry.name.clone(), entry.id.clone());
            ontology.names.insert(entry.id, entry.name);
        }
        Ok(ontology)
    }

    pub fn id_of(&self, name: &str) -> Option<&str> {
        self.ids_by_name.get(name).map(String::as_str)
    }

    /// `id` and all its ancestors (the ontology is a DAG: some classes have
    /// several parents).
    pub fn ancestors(&self, id: &str) -> HashSet<String> {
        let mut seen = HashSet::new();
        let mut stack = vec![id.to_string()];
        while let Some(node) = stack.pop() {
            if seen.insert(node.clone()) {
                if let Some(parents) = self.parents.get(&node) {
                    stack.extend(parents.iter().cloned());
                }
            }
        }
        seen
    }
}

/// What to do with clips that roll up to two or more requested classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum MultiPolicy {
    /// Leave them out (default: single-label classification).
    Drop,
    /// Keep them with the class of their first listed label.
    First,
    /// Keep them with all classes joined by `;` in `label`.
    Keep,
}

/// Options of an AudioSet import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub classes: Vec<String>,
    pub audio_dir: PathBuf,
    pub manifest_dir: PathBuf,
    /// `{ytid}`, `{start}`, `{end}`, `{start_ms}`, `{end_ms}` are replaced.
    pub path_template: String,
    pub multi: MultiPolicy,
    pub split: Split,
    /// Fraction carved out of the imported clips as `val`, stratified.
    pub val_fraction: f64,
    pub seed: u64,
    /// Keep rows whose audio file is missing (e.g. before downloading).
    pub keep_missing: bool,
}

/// Counts printed after an import.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ImportReport {
    pub segments: usize,
    /// Clips that roll up to exactly one requested class, per class.
    pub single: BTreeMap<String, usize>,
    pub multi: usize,
    pub none: usize,
    /// Rows written to the manifest.
    pub written: usize,
    /// Rows dropped (multi-class under `drop`, no class, missing audio).
    pub dropped: usize,
    pub missing_audio: usize,
}

/// The requested classes each label of `segment` rolls up to, in the order
/// the labels are listed.
fn roll_up(
    segment: &Segment,
    class_ids: &[(String, String)],
    ontology: &Ontology,
    cache: &mut HashMap<String, Vec<usize>>,
) -> Vec<usize> {
    let mut hits: Vec<usize> = Vec::new();
    for label in &segment.labels {
        let classes = cache.entry(label.clone()).or_insert_with(|| {
            let ancestors = ontology.ancestors(label);
            class_ids
                .iter()
                .enumerate()
                .filter(|(_, (_, id))| ancestors.contains(id))
                .map(|(k, _)| k)
                .collect()
        });
        for &k in classes.iter() {
            if !hits.contains(&k) {
                hits.push(k);
            }
        }
    }
    hits
}

fn seconds_token(raw: &str) -> String {
    match raw.parse::<f64>() {
        Ok(v) if v.fract() == 0.0 => format!("{}", v as i64),
        Ok(v) => format!("{v}"),
        Err(_) => raw.to_string(),
    }
}

fn millis_token(raw: &str) -> String {
    raw.parse::<f64>()
        .map(|v| format!("{}", (v * 1000.0).round() as i64))
        .unwrap_or_else(|_| raw.to_string())
}

/// File name of a segment under a path template.
pub fn segment_file_name(template: &str, segment: &Segment) -> String {
    template
        .replace("{ytid}", &segment.ytid)
        .replace("{start_ms}", &millis_token(&segment.start))
        .replace("{end_ms}", &millis_token(&segment.end))
        .replace("{start}", &seconds_token(&segment.start))
        .replace("{end}", &seconds_token(&segment.end))
}

/// Import `segments` into a manifest as `options` say.
pub fn import(
    segments: &[Segment],
    ontology: &Ontology,
    options: &ImportOptions,
) -> Result<(Manifest, ImportReport)> {
    let class_ids = resolve_classes(ontology, &options.classes)?;
    let mut report = ImportReport {
        segments: segments.len(),
        single: options.classes.iter().map(|c| (c.clone(), 0)).collect(),
        ..Default::default()
    };
    let mut cache = HashMap::new();
    let mut rows: Vec<ImportRow> = Vec::new();
    for segment in segments {
        let hits = roll_up(segment, &class_ids, ontology, &mut cache);
        let Some(label) = label_of(&hits, &class_ids, options, &mut report) else {
            report.dropped += 1;
            continue;
        };
        let file = options
            .audio_dir
            .join(segment_file_name(&options.path_template, segment));
        if !file.is_file() {
            report.missing_audio += 1;
            if !options.keep_missing {
                report.dropped += 1;
                continue;
            }
        }
        let path = relative_path(&file, &options.manifest_dir)
            .to_string_lossy()
            .into_owned();
        rows.push(ImportRow {
            label,
            path,
            segment,
        });
    }
    let splits = import_splits(&rows, options)?;
    let manifest = to_manifest(rows, splits, &options.manifest_dir);
    report.written = manifest.clips.len();
    Ok((manifest, report))
}

/// One segment that becomes a manifest row.
struct ImportRow<'a> {
    label: String,
    path: String,
    segment: &'a Segment,
}

/// Each class name with its ontology id; a name the ontology lacks is an
/// error.
fn resolve_classes(ontology: &Ontology, classes: &[String]) -> Result<Vec<(String, String)>> {
    classes
        .iter()
        .map(|name| {
            let id = ontology.id_of(name).ok_or_else(|| {
                Error::InvalidArgument(format!("class `{name}` is not a name in the ontology"))
            })?;
            Ok((name.clone(), id.to_string()))
        })
        .collect()
}

/// The label of a segment whose labels roll up to the classes `hits`
/// (indices into `class_ids`), counted in `report`; `None` drops it (no
/// class, or several under `MultiPolicy::Drop`).
fn label_of(
    hits: &[usize],
    class_ids: &[(String, String)],
    options: &ImportOptions,
    report: &mut ImportReport,
) -> Option<String> {
    let name = |k: usize| class_ids[k].0.clone();
    match hits {
        [] => {
            report.none += 1;
            None
        }
        [only] => {
            *report.single.entry(name(*only)).or_default() += 1;
            Some(name(*only))
        }
        [first, ..] => {
            report.multi += 1;
            match options.multi {
                MultiPolicy::Drop => None,
                MultiPolicy::First => Some(name(*first)),
                MultiPolicy::Keep => {
                    let mut names: Vec<&str> =
                        hits.iter().map(|&k| class_ids[k].0.as_str()).collect();
                    names.sort_by_key(|n| options.classes.iter().position(|c| c == n));
                    Some(names.join(";"))
                }
            }
        }
    }
}

/// The rows' splits: all `options.split`, or a val share held out by
/// video id (`val_fraction`) so that no video is in both.
fn import_splits(rows: &[ImportRow], options: &ImportOptions) -> Result<Vec<Split>> {
    if options.val_fraction <= 0.0 {
        return Ok(vec![options.split; rows.len()]);
    }
    let keys: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.label.as_str(), r.segment.ytid.as_str()))
        .collect();
    Ok(assign_splits(
        &keys,
        SplitFractions::new(options.val_fraction, 0.0)?,
        options.seed,
    )
    .into_iter()
    .map(|s| if s == Split::Train { options.split } else { s })
    .collect())
}

/// The manifest of the imported rows, with each segment's id, times and
/// labels as extra columns.
fn to_manifest(rows: Vec<ImportRow>, splits: Vec<Split>, manifest_dir: &Path) -> Manifest {
    let mut manifest = Manifest::new(
        manifest_dir,
        ["ytid", "start_seconds", "end_seconds", "positive_labels"]
            .map(String::from)
            .to_vec(),
    );
    for (row, split) in rows.into_iter().zip(splits) {
        let segment = row.segment;
        manifest.clips.push(Clip {
            path: row.path,
            label: row.label,
            split,
            extra: vec![
                segment.ytid.clone(),
                segment.start.clone(),
                segment.end.clone(),
                segment.labels.join(","),
            ],
            line: None,
        });
    }
    manifest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_csv_forms() {
        let dir = tempfile::tempdir().unwrap();
        let official = dir.path().join("official.csv");
        std::fs::write(
            &official,
            "# Segments csv created Sun Mar  5 10:54:31 2017\n# num_ytids=2, num_segs=2, num_unique_labels=3, num_positive_labels=3\n# YTID, start_seconds, end_seconds, positive_labels\n--PJHxphWEs, 30.000, 40.000, \"/m/09x0r,/t/dd00088\"\n--ZhevVpy1s, 50.000, 60.000, \"/m/012xff\"\n",
        )
        .unwrap();
        let plain = dir.path().join("plain.csv");
        std::fs::write(
            &plain,
            "YTID,start_seconds,end_seconds,positive_labels\n--PJHxphWEs,30.000,40.000,\"/m/09x0r,/t/dd00088\"\n--ZhevVpy1s,50.000,60.000,\"/m/012xff\"\n",
        )
        .unwrap();
        let a = read_segments(&official).unwrap();
        let b = read_segments(&plain).unwrap();
        assert_eq!(a, b);
        assert_eq!(a[0].labels, vec!["/m/09x0r", "/t/dd00088"]);
        assert_eq!(
            segment_file_name("{ytid}_{start}.wav", &a[0]),
            "--PJHxphWEs_30.wav"
        );
        assert_eq!(
            segment_file_name("{ytid}_{start_ms}-{end_ms}.flac", &a[0]),
            "--PJHxphWEs_30000-40000.flac"
        );
    }
}

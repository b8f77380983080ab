//! Folder-per-class trees to a manifest: `DIR/<class>/**/<clip>`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::manifest::{Clip, Manifest};
use super::split::{assign_splits, SplitFractions};
use crate::audio::is_audio_path;
use crate::error::{Error, Result};
use crate::util::relative_path;

/// What keeps clips together in one split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// Clips in one folder stay in one split.
    Parent,
    /// Every clip is its own group.
    None,
}

/// Build a manifest of every audio file under `dir`, the class being the
/// first folder level, and write the paths relative to `manifest_dir`.
pub fn scan_tree(
    dir: &Path,
    manifest_dir: &Path,
    fractions: SplitFractions,
    seed: u64,
    group_by: GroupBy,
) -> Result<Manifest> {
    let mut files = Vec::new();
    collect_audio(dir, true, &mut files)?;
    files.sort();
    let mut rows: Vec<(String, String, PathBuf)> = Vec::new(); // class, group, file
    for file in files {
        let rel = file.strip_prefix(dir).unwrap_or(&file);
        let mut parts = rel.components();
        let class = parts
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned());
        // Files directly in DIR have no class folder; they are not part of the tree.
        let (Some(class), Some(_)) = (class, parts.next()) else {
            continue;
        };
        let group = match group_by {
            GroupBy::Parent => rel.parent().unwrap_or(rel).to_string_lossy().into_owned(),
            GroupBy::None => rel.to_string_lossy().into_owned(),
        };
        rows.push((class, group, file));
    }
    if rows.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{}: no audio files found in class folders (expected DIR/<class>/<file>)",
            dir.display()
        )));
    }
    let keys: Vec<(&str, &str)> = rows
        .iter()
        .map(|(c, g, _)| (c.as_str(), g.as_str()))
        .collect();
    let splits = assign_splits(&keys, fractions, seed);
    let mut manifest = Manifest::new(manifest_dir, vec!["group".to_string()]);
    for ((class, group, file), split) in rows.into_iter().zip(splits) {
        manifest.clips.push(Clip {
            path: relative_path(&file, manifest_dir)
                .to_string_lossy()
                .into_owned(),
            label: class,
            split,
            extra: vec![group],
            line: None,
        });
    }
    Ok(manifest)
}

/// The audio files in `dir` (by extension), and with `recursive` in its
/// sub-folders at any depth (symlinked folders followed), unsorted.
pub fn collect_audio(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| Error::io(&path, e))?;
        let is_dir = kind.is_dir() || (kind.is_symlink() && path.is_dir());
        if is_dir {
            if recursive {
                collect_audio(&path, recursive, out)?;
            }
        } else if is_audio_path(&path) {
            out.push(path);
        }
    }
    Ok(())
}

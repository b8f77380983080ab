//! Decoded training audio on disk, shared by every run that points
//! `training.audio_cache` at the same folder (a sweep's trials do, by
//! default): the first run decodes and writes each split once, later runs
//! read it back in seconds instead of decoding the corpus again.
//!
//! One file per split and key, `<split>-<key>.clips`: the magic
//! `SCCLIPS2`, a length-prefixed JSON header (paths, labels, clip lengths,
//! the clips that failed to decode and why), then every clip's samples as
//! f32 little-endian, exactly what decoding gives, so a cached run trains
//! bit for bit as a decoding one. The key hashes what the decoded clips
//! depend on: the manifest's rows of the split (resolved path, label) with
//! each file's size and modification time, the classes, the sample rate,
//! `training.cache_seconds`, the soundclass version (its decoders and
//! resampler) and this format's version. Files are written
//! atomically under a lock, so concurrent workers decode a split once.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use crate::data::spectrograms::SkippedClip;
use crate::data::{Manifest, Split};
use crate::error::{Error, Result};
use crate::train::clips::ClipSet;
use crate::util::atomic_write;

const MAGIC: &[u8; 8] = b"SCCLIPS2";
/// Bumped whenever decoding or resampling changes what a clip decodes to.
const DECODE_VERSION: u32 = 1;

/// What the decoded clips of one split depend on.
pub struct ClipKey<'a> {
    pub manifest: &'a Manifest,
    pub split: Split,
    pub classes: &'a [String],
    pub sample_rate: u32,
    pub cache_seconds: f64,
}

impl ClipKey<'_> {
    /// The cache file's name: `<split>-<128-bit hash>.clips`.
    pub fn file_name(&self) -> String {
        let mut text = format!(
            "soundclass {} decoded audio v{DECODE_VERSION}\nsplit {}\nclasses {}\nrate {}\ncache_seconds {:?}\n",
            env!("CARGO_PKG_VERSION"),
            self.split.as_str(),
            self.classes.join("\u{1f}"),
            self.sample_rate,
            self.cache_seconds
        );
        for clip in self.manifest.clips.iter().filter(|c| c.split == self.split) {
            let path = self.manifest.resolve(clip);
            let (size, modified) = match std::fs::metadata(&path) {
                Ok(meta) => (
                    meta.len(),
                    meta.modified()
                        .ok()
                        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_nanos()),
                ),
                Err(_) => (u64::MAX, 0),
            };
            text.push_str(&format!(
                "{}\u{1f}{}\u{1f}{size}\u{1f}{modified}\n",
                path.display(),
                clip.label
            ));
        }
        let hash = xxhash_rust::xxh3::xxh3_128(text.as_bytes());
        format!("{}-{hash:032x}.clips", self.split.as_str())
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    paths: Vec<PathBuf>,
    labels: Vec<usize>,
    lengths: Vec<u64>,
    /// The clips that failed to decode, and why.
    skipped: Vec<SkippedClip>,
}

/// The split's clips from the cache in `dir`, or from `decode` (then
/// written to the cache). The bool says whether the cache answered.
pub fn load_or_decode(
    dir: &Path,
    key: &ClipKey,
    decode: impl FnOnce() -> Result<(ClipSet, Vec<SkippedClip>)>,
) -> Result<(ClipSet, Vec<SkippedClip>, bool)> {
    let path = dir.join(key.file_name());
    if let Some((set, skipped)) = read_or_warn(&path) {
        return Ok((set, skipped, true));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    // One process decodes; the others wait here and then read its file.
    let lock_path = path.with_extension("lock");
    let lock = File::create(&lock_path).map_err(|e| Error::io(&lock_path, e))?;
    lock.lock().map_err(|e| Error::io(&lock_path, e))?;
    if let Some((set, skipped)) = read_or_warn(&path) {
        return Ok((set, skipped, true));
    }
    let (set, skipped) = decode()?;
    // A cache that cannot be written costs the next run a decode, not this
    // run its data.
    if let Err(e) = write(&path, &set, &skipped) {
        eprintln!("warning: decoded audio not cached: {e}");
    }
    Ok((set, skipped, false))
}

/// The cached split at `path`; `None` when absent, or unreadable (then
/// said on stderr, and the caller decodes and overwrites it).
fn read_or_warn(path: &Path) -> Option<(ClipSet, Vec<SkippedClip>)> {
    if !path.is_file() {
        return None;
    }
    match read(path) {
        Ok(found) => Some(found),
        Err(e) => {
            eprintln!("warning: ignoring the decoded-audio cache file: {e}");
            None
        }
    }
}

/// Write `set` and `skipped` to `path` atomically.
pub fn write(path: &Path, set: &ClipSet, skipped: &[SkippedClip]) -> Result<()> {
    let header = Header {
        paths: set.paths.clone(),
        labels: set.labels.clone(),
        lengths: set.audio.iter().map(|a| a.len() as u64).collect(),
        skipped: skipped.to_vec(),
    };
    let header = serde_json::to_vec(&header).map_err(|e| Error::InvalidArgument(e.to_string()))?;
    atomic_write(path, |w| {
        w.write_all(MAGIC)?;
        w.write_all(&(header.len() as u64).to_le_bytes())?;
        w.write_all(&header)?;
        for audio in &set.audio {
            write_samples(w, audio)?;
        }
        Ok(())
    })
}

/// Read a cache file back, checking its structure against its size.
pub fn read(path: &Path) -> Result<(ClipSet, Vec<SkippedClip>)> {
    let corrupt = |reason: String| Error::Decode {
        path: path.to_path_buf(),
        reason: format!("not a complete decoded-audio cache file: {reason}"),
    };
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let size = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut magic = [0u8; 8];
    let mut len = [0u8; 8];
    reader
        .read_exact(&mut magic)
        .and_then(|_| reader.read_exact(&mut len))
        .map_err(|e| corrupt(e.to_string()))?;
    if &magic != MAGIC {
        return Err(corrupt("wrong magic".into()));
    }
    let header_len = u64::from_le_bytes(len);
    if header_len > size.saturating_sub(16) {
        return Err(corrupt(format!(
            "header of {header_len} bytes in a {size}-byte file"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    reader
        .read_exact(&mut header)
        .map_err(|e| corrupt(e.to_string()))?;
    let header: Header =
        serde_json::from_slice(&header).map_err(|e| corrupt(format!("header: {e}")))?;
    let samples = header
        .lengths
        .iter()
        .try_fold(0u64, |sum, &n| sum.checked_add(n))
        .ok_or_else(|| corrupt("clip lengths overflow".into()))?;
    let clips = header.paths.len();
    if header.labels.len() != clips
        || header.lengths.len() != clips
        || samples
            .checked_mul(4)
            .and_then(|b| b.checked_add(16 + header_len))
            != Some(size)
    {
        return Err(corrupt(format!(
            "{clips} clips of {samples} samples do not fill {size} bytes"
        )));
    }
    let mut audio = Vec::with_capacity(clips);
    for &n in &header.lengths {
        let mut samples = vec![0f32; n as usize];
        read_samples(&mut reader, &mut samples).map_err(|e| corrupt(e.to_string()))?;
        audio.push(samples);
    }
    Ok((
        ClipSet {
            paths: header.paths,
            labels: header.labels,
            audio,
        },
        header.skipped,
    ))
}

/// Samples as f32 little-endian: on little-endian machines the memory
/// itself, so a cache read is one copy (it is what makes a trial start in
/// a second, even in the dev profile).
fn write_samples(w: &mut impl Write, samples: &[f32]) -> std::io::Result<()> {
    if cfg!(target_endian = "little") {
        return w.write_all(bytemuck::cast_slice(samples));
    }
    let bytes: Vec<u8> = samples.iter().flat_map(|x| x.to_le_bytes()).collect();
    w.write_all(&bytes)
}

fn read_samples(r: &mut impl Read, samples: &mut [f32]) -> std::io::Result<()> {
    r.read_exact(bytemuck::cast_slice_mut(samples))?;
    if cfg!(target_endian = "big") {
        for x in samples.iter_mut() {
            *x = f32::from_le_bytes(x.to_ne_bytes());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest_in(dir: &Path) -> Manifest {
        for name in ["a.wav", "b.wav"] {
            std::fs::write(dir.join(name), name).unwrap();
        }
        let path = dir.join("manifest.csv");
        std::fs::write(&path, "path,label,split\na.wav,x,train\nb.wav,y,train\n").unwrap();
        Manifest::load(&path).unwrap()
    }

    const CLASSES: [&str; 2] = ["x", "y"];

    fn key_for(manifest: &Manifest, sample_rate: u32, split: Split) -> ClipKey<'_> {
        static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        let classes = NAMES.get_or_init(|| CLASSES.iter().map(|c| c.to_string()).collect());
        ClipKey {
            manifest,
            split,
            classes,
            sample_rate,
            cache_seconds: 30.0,
        }
    }

    fn sample_set(dir: &Path) -> (ClipSet, Vec<SkippedClip>) {
        let set = ClipSet {
            paths: vec![dir.join("a.wav")],
            labels: vec![0],
            audio: vec![vec![0.25, -1.5e-7, f32::MIN_POSITIVE, 0.999_999_9]],
        };
        let skipped = vec![SkippedClip {
            path: dir.join("b.wav"),
            error: "bad header".into(),
        }];
        (set, skipped)
    }

    #[test]
    fn a_split_is_decoded_once_then_read_back_exactly() {
        let tmp = tempfile::tempdir().unwrap();
        let manifest = manifest_in(tmp.path());
        let key = key_for(&manifest, 8000, Split::Train);
        let cache = tmp.path().join("cache");
        let (first, _, hit) = load_or_decode(&cache, &key, || Ok(sample_set(tmp.path()))).unwrap();
        assert!(!hit);
        let (second, skipped, hit) =
            load_or_decode(&cache, &key, || panic!("must not decode again")).unwrap();
        assert!(hit);
        assert_eq!(second.paths, first.paths);
        assert_eq!(second.labels, first.labels);
        let bits = |s: &ClipSet| s.audio[0].iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&second), bits(&first));
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].error, "bad header");
    }

    #[test]
    fn the_key_follows_files_labels_and_settings() {
        let tmp = tempfile::tempdir().unwrap();
        let manifest = manifest_in(tmp.path());
        let key = |rate, split| key_for(&manifest, rate, split);
        let name = key(8000, Split::Train).file_name();
        assert!(
            name.starts_with("train-") && name.ends_with(".clips"),
            "{name}"
        );
        assert_eq!(name, key(8000, Split::Train).file_name());
        assert_ne!(name, key(16000, Split::Train).file_name());
        assert_ne!(name, key(8000, Split::Val).file_name());
        // A file that changes size changes the key.
        std::fs::write(tmp.path().join("a.wav"), "longer contents").unwrap();
        assert_ne!(name, key(8000, Split::Train).file_name());
    }

    #[test]
    fn a_damaged_cache_file_is_decoded_again_and_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let manifest = manifest_in(tmp.path());
        let key = key_for(&manifest, 8000, Split::Train);
        let cache = tmp.path().join("cache");
        load_or_decode(&cache, &key, || Ok(sample_set(tmp.path()))).unwrap();
        let file = cache.join(key.file_name());
        let bytes = std::fs::read(&file).unwrap();
        std::fs::write(&file, &bytes[..bytes.len() - 3]).unwrap();
        let err = read(&file).unwrap_err().to_string();
        assert!(
            err.contains("not a complete decoded-audio cache file"),
            "{err}"
        );
        let (_, _, hit) = load_or_decode(&cache, &key, || Ok(sample_set(tmp.path()))).unwrap();
        assert!(!hit);
        assert_eq!(std::fs::read(&file).unwrap(), bytes);
    }
}

//! `soundclass spectrogram`: log-Mel of every clip of a manifest to `.npy`
//! (and PNG), on the CPU or on a GPU engine. Bad clips are reported and
//! skipped; outputs are written atomically, so a stopped run leaves only
//! whole files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use super::manifest::{Clip, Manifest};
use crate::audio::ClipLoader;
use crate::config::Config;
use crate::dsp::{write_spectrogram_png, MelSpectrogram, Spectrogram};
use crate::error::{Error, Result};
use crate::gpu::GpuMel;
use crate::npy::write_npy_f32;
use crate::util::{atomic_write_str, progress_bar};

/// Something that turns a batch of equal-rate waveforms into spectrograms.
pub trait MelEngine: Sync {
    fn name(&self) -> String;
    fn compute_batch(&self, clips: &[Vec<f32>]) -> Vec<Result<Spectrogram>>;
}

impl MelEngine for MelSpectrogram {
    fn name(&self) -> String {
        "cpu".into()
    }
    fn compute_batch(&self, clips: &[Vec<f32>]) -> Vec<Result<Spectrogram>> {
        MelSpectrogram::compute_batch(self, clips)
    }
}

/// GPU batches: clips are grouped by length (one launch needs one length)
/// and split so the intermediate power spectrum stays under 64 MiB, well
/// inside wgpu's default storage-binding limit.
impl MelEngine for GpuMel {
    fn name(&self) -> String {
        format!("gpu ({})", self.spectrum_kernel())
    }

    fn compute_batch(&self, clips: &[Vec<f32>]) -> Vec<Result<Spectrogram>> {
        const MAX_SPECTRUM_BYTES: usize = 64 << 20;
        let mut out: Vec<Option<Result<Spectrogram>>> = (0..clips.len()).map(|_| None).collect();
        let mut by_length: HashMap<usize, Vec<usize>> = HashMap::new();
        for (i, clip) in clips.iter().enumerate() {
            by_length.entry(clip.len()).or_default().push(i);
        }
        for (len, indices) in by_length {
            let per_clip = match self.n_frames(len) {
                Ok(frames) => frames * (1 + self.config_n_fft() / 2) * 4,
                Err(e) => {
                    let message = e.to_string();
                    for i in indices {
                        out[i] = Some(Err(Error::InvalidArgument(message.clone())));
                    }
                    continue;
                }
            };
            let per_launch = (MAX_SPECTRUM_BYTES / per_clip).max(1);
            for group in indices.chunks(per_launch) {
                let batch: Vec<&[f32]> = group.iter().map(|&i| clips[i].as_slice()).collect();
                match self.compute_host(&batch) {
                    Ok(specs) => {
                        for (&i, spec) in group.iter().zip(specs) {
                            out[i] = Some(Ok(spec));
                        }
                    }
                    Err(e) => {
                        let message = e.to_string();
                        for &i in group {
                            out[i] = Some(Err(Error::Gpu(message.clone())));
                        }
                    }
                }
            }
        }
        out.into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::Gpu("clip was not computed".into()))))
            .collect()
    }
}

/// Output file stem of each clip: its file name without extension, with
/// `-2`, `-3`, ... added in manifest order when names repeat.
pub fn unique_stems(paths: &[&str]) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    paths
        .iter()
        .map(|p| {
            let stem = Path::new(p)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "clip".into());
            let n = seen.entry(stem.clone()).or_insert(0);
            *n += 1;
            if *n == 1 {
                stem
            } else {
                format!("{stem}-{n}")
            }
        })
        .collect()
}

/// What an export did.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub engine: String,
    pub written: usize,
    pub skipped: Vec<SkippedClip>,
    pub audio_seconds: f64,
    pub wall_seconds: f64,
}

/// A clip a long job could not read, reported and left out.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SkippedClip {
    pub path: PathBuf,
    pub error: String,
}

/// One line per skipped clip on stderr.
pub fn report_skipped(skipped: &[SkippedClip]) {
    for s in skipped {
        eprintln!("skipped {}: {}", s.path.display(), s.error);
    }
}

/// Compute and write the spectrogram of every clip of `manifest` into
/// `out`: `<stem>.npy` (float32 `[n_mels, frames]`), `<stem>.png` when
/// `png`, and `index.csv` mapping clips to files.
pub fn export_spectrograms(
    manifest: &Manifest,
    config: &Config,
    engine: &dyn MelEngine,
    out: &Path,
    png: bool,
    quiet: bool,
) -> Result<ExportReport> {
    let started = std::time::Instant::now();
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let loader = ClipLoader::new(config.audio.clone());
    let paths: Vec<&str> = manifest.clips.iter().map(|c| c.path.as_str()).collect();
    let stems = unique_stems(&paths);
    let bar = progress_bar(manifest.clips.len() as u64, "mel", quiet);
    let mut skipped = Vec::new();
    let mut index = String::from("path,label,split,npy,n_mels,frames\n");
    let mut audio_seconds = 0.0;
    // Batches bound the decoded audio held at once and feed the engine
    // (the GPU one) several clips per dispatch.
    let indices: Vec<usize> = (0..manifest.clips.len()).collect();
    for chunk in indices.chunks(64) {
        let (good, signals) = decode_chunk(manifest, config, &loader, chunk, &mut skipped);
        audio_seconds +=
            signals.iter().map(|s| s.len()).sum::<usize>() as f64 / config.audio.sample_rate as f64;
        let specs = engine.compute_batch(&signals);
        let written: Vec<(usize, Result<Spectrogram>)> = good
            .into_par_iter()
            .zip(specs)
            .map(|(i, spec)| {
                let base = out.join(&stems[i]);
                (i, spec.and_then(|spec| write_spectrogram(&base, spec, png)))
            })
            .collect();
        for (i, result) in written {
            let clip = &manifest.clips[i];
            match result {
                Ok(spec) => index.push_str(&index_row(clip, &stems[i], &spec)),
                Err(e) => skipped.push(SkippedClip {
                    path: manifest.resolve(clip),
                    error: e.to_string(),
                }),
            }
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    atomic_write_str(&out.join("index.csv"), &index)?;
    Ok(ExportReport {
        engine: engine.name(),
        written: manifest.clips.len() - skipped.len(),
        skipped,
        audio_seconds,
        wall_seconds: started.elapsed().as_secs_f64(),
    })
}

/// Decodes the clips `chunk` indexes in parallel (each crop seeded by the
/// run seed and the clip's index); returns the decoded ones' indices and
/// signals, and adds the others to `skipped`.
fn decode_chunk(
    manifest: &Manifest,
    config: &Config,
    loader: &ClipLoader,
    chunk: &[usize],
    skipped: &mut Vec<SkippedClip>,
) -> (Vec<usize>, Vec<Vec<f32>>) {
    let loaded: Vec<(usize, Result<Vec<f32>>)> = chunk
        .par_iter()
        .map(|&i| {
            let mut rng = ChaCha8Rng::seed_from_u64(config.training.seed ^ i as u64);
            let path = manifest.resolve(&manifest.clips[i]);
            (i, loader.load(&path, &mut rng))
        })
        .collect();
    let mut good = Vec::new();
    let mut signals = Vec::new();
    for (i, result) in loaded {
        match result {
            Ok(signal) => {
                good.push(i);
                signals.push(signal);
            }
            Err(e) => skipped.push(SkippedClip {
                path: manifest.resolve(&manifest.clips[i]),
                error: e.to_string(),
            }),
        }
    }
    (good, signals)
}

/// `<base>.npy` and, when `png`, `<base>.png`.
fn write_spectrogram(base: &Path, spec: Spectrogram, png: bool) -> Result<Spectrogram> {
    write_npy_f32(
        &base.with_extension("npy"),
        &[spec.n_mels, spec.frames],
        &spec.data,
    )?;
    if png {
        write_spectrogram_png(&base.with_extension("png"), &spec)?;
    }
    Ok(spec)
}

/// One `index.csv` row: the clip's path (CSV-quoted), label, split, file
/// and shape.
fn index_row(clip: &Clip, stem: &str, spec: &Spectrogram) -> String {
    format!(
        "\"{}\",{},{},{}.npy,{},{}\n",
        clip.path.replace('"', "\"\""),
        clip.label,
        clip.split,
        stem,
        spec.n_mels,
        spec.frames
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_unique() {
        let stems = unique_stems(&["a/x.wav", "b/x.flac", "c/y.wav", "d/x.wav"]);
        assert_eq!(stems, vec!["x", "x-2", "y", "x-3"]);
    }
}

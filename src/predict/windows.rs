//! Cutting a file into the model's windows while it decodes, so that memory
//! holds a window and a chunk, never the whole recording.

use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::audio::{fit_length, CropPolicy, PadPolicy, ResampledChunks};
use crate::error::{Error, Result};
use crate::train::clips::load_middle;

/// Source frames decoded per step of a streamed file (about 1.4 s at
/// 48 kHz): small next to any window, large enough to keep the decoder
/// and resampler efficient.
const CHUNK_FRAMES: usize = 1 << 16;

/// How files are cut into windows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowPlan {
    pub sample_rate: u32,
    /// Window length, samples.
    pub window: usize,
    /// Hop between window starts, samples.
    pub hop: usize,
    /// How a file shorter than one window is filled.
    pub pad: PadPolicy,
    /// Read only this many seconds from the middle of each file (as
    /// training and `evaluate` read clips: `training.cache_seconds`).
    pub middle_seconds: Option<f64>,
}

/// A window's first sample (at the plan's rate) and its samples.
pub type Window = (u64, Vec<f32>);

/// Windows of a stream, exactly as [`crate::train::clips::eval_crops`]
/// cuts a whole clip: every `hop` from the start while a whole window
/// fits, plus one flush with the end; a clip shorter than a window gives
/// one window, padded.
pub struct WindowCutter {
    window: usize,
    hop: usize,
    pad: PadPolicy,
    buffer: Vec<f32>,
    /// Stream position of `buffer[0]`.
    buffer_start: u64,
    next_start: u64,
    last_emitted: Option<u64>,
    total: u64,
}

impl WindowCutter {
    pub fn new(window: usize, hop: usize, pad: PadPolicy) -> Self {
        Self {
            window: window.max(1),
            hop: hop.max(1),
            pad,
            buffer: Vec::new(),
            buffer_start: 0,
            next_start: 0,
            last_emitted: None,
            total: 0,
        }
    }

    /// Samples seen so far.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The windows that `samples` completes.
    pub fn push(&mut self, samples: &[f32]) -> Vec<Window> {
        self.buffer.extend_from_slice(samples);
        self.total += samples.len() as u64;
        let window = self.window as u64;
        let mut out = Vec::new();
        while self.next_start + window <= self.total {
            let at = (self.next_start - self.buffer_start) as usize;
            out.push((self.next_start, self.buffer[at..at + self.window].to_vec()));
            self.last_emitted = Some(self.next_start);
            self.next_start += self.hop as u64;
        }
        // Keep what the next window needs, and the last window's worth for
        // the final window flush with the end.
        let keep_from = self.next_start.min(self.total.saturating_sub(window));
        if keep_from > self.buffer_start {
            self.buffer
                .drain(..(keep_from - self.buffer_start) as usize);
            self.buffer_start = keep_from;
        }
        out
    }

    /// The window flush with the end, or the one padded window of a
    /// stream shorter than a window.
    pub fn finish(self) -> Vec<Window> {
        let window = self.window as u64;
        if self.total < window {
            let mut unused = ChaCha8Rng::seed_from_u64(0);
            if self.total == 0 {
                return Vec::new();
            }
            return vec![(
                0,
                fit_length(
                    &self.buffer,
                    self.window,
                    CropPolicy::Center,
                    self.pad,
                    &mut unused,
                ),
            )];
        }
        let last = self.total - window;
        if self.last_emitted == Some(last) {
            return Vec::new();
        }
        let at = (last - self.buffer_start) as usize;
        vec![(last, self.buffer[at..at + self.window].to_vec())]
    }
}

/// Decode `path` and hand each of its windows to `sink`; returns the
/// seconds of audio read.
pub fn stream_windows(
    path: &Path,
    plan: &WindowPlan,
    mut sink: impl FnMut(Window) -> Result<()>,
) -> Result<f64> {
    let mut cutter = WindowCutter::new(plan.window, plan.hop, plan.pad);
    match plan.middle_seconds {
        Some(seconds) => {
            let samples = load_middle(path, plan.sample_rate, seconds)?;
            for w in cutter.push(&samples) {
                sink(w)?;
            }
        }
        None => {
            let mut chunks = ResampledChunks::open(path, plan.sample_rate)?;
            while let Some(chunk) = chunks.next_chunk(CHUNK_FRAMES)? {
                for w in cutter.push(&chunk) {
                    sink(w)?;
                }
            }
        }
    }
    let seconds = cutter.total() as f64 / f64::from(plan.sample_rate);
    if cutter.total() == 0 {
        return Err(Error::decode(path, "no audio samples"));
    }
    for w in cutter.finish() {
        sink(w)?;
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::clips::eval_crops;

    #[test]
    fn streamed_windows_match_whole_clip_windows() {
        for len in [5usize, 29, 30, 31, 95, 100, 101, 250] {
            let audio: Vec<f32> = (0..len).map(|i| i as f32 + 1.0).collect();
            let whole = eval_crops(&audio, 30, PadPolicy::Loop, Some(25));
            for piece in [1usize, 7, 64] {
                let mut cutter = WindowCutter::new(30, 25, PadPolicy::Loop);
                let mut streamed = Vec::new();
                for chunk in audio.chunks(piece) {
                    streamed.extend(cutter.push(chunk));
                }
                streamed.extend(cutter.finish());
                let samples: Vec<Vec<f32>> = streamed.iter().map(|w| w.1.clone()).collect();
                assert_eq!(samples, whole, "len {len}, pieces of {piece}");
                for (start, w) in &streamed {
                    if len >= 30 {
                        assert_eq!(w[0], *start as f32 + 1.0);
                    }
                }
            }
        }
    }

    #[test]
    fn memory_stays_at_a_window_and_a_chunk() {
        let mut cutter = WindowCutter::new(1000, 500, PadPolicy::Zero);
        let chunk = vec![0.1f32; 4096];
        let mut windows = 0;
        for _ in 0..1000 {
            windows += cutter.push(&chunk).len();
            assert!(cutter.buffer.len() <= 1000 + 4096);
        }
        assert_eq!(windows, (4096 * 1000 - 1000) / 500 + 1);
    }
}

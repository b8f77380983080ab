//! Decoding a file piece by piece, for recordings too long to hold in
//! memory: `predict` reads a two-hour file a few seconds at a time, with
//! the same guards as a whole-file decode (panics become the file's error,
//! the decode budget follows the file's size, truncation and implausible
//! samples are named).

use std::path::PathBuf;

use super::decode::{AudioStream, FrameSink, ProgressGuard, Pumped};
use super::guard::guarded;
use super::plausible::{check_constant, check_level};
use super::resample::StreamResampler;
use crate::error::{Error, Result};

/// Mono chunks of an open stream, at the file's own rate.
pub struct AudioChunks {
    stream: AudioStream,
    sink: FrameSink,
    progress: ProgressGuard,
    ended: bool,
    /// Frames handed out so far.
    delivered: u64,
    /// Range of the samples handed out, for the constant-signal check.
    range: (f32, f32),
}

impl AudioStream {
    /// Read this stream in chunks instead of at once.
    pub fn into_chunks(self) -> AudioChunks {
        let progress = self.progress_guard();
        let channels = self.info().channels.max(1);
        AudioChunks {
            stream: self,
            sink: FrameSink::new(0, 0, channels),
            progress,
            ended: false,
            delivered: 0,
            range: (f32::INFINITY, f32::NEG_INFINITY),
        }
    }
}

impl AudioChunks {
    pub fn sample_rate(&self) -> u32 {
        self.stream.info().sample_rate
    }

    pub fn path(&self) -> PathBuf {
        self.stream.path().to_path_buf()
    }

    /// At least `frames` mono samples (fewer only at the end of the
    /// stream); `None` once everything was handed out.
    pub fn next_chunk(&mut self, frames: usize) -> Result<Option<Vec<f32>>> {
        if self.ended && self.sink.samples.is_empty() {
            return Ok(None);
        }
        let path = self.path();
        guarded(&path, || self.fill(frames.max(1)))
    }

    fn fill(&mut self, frames: usize) -> Result<Option<Vec<f32>>> {
        while !self.ended && self.sink.samples.len() < frames {
            if self.stream.pump(&mut self.sink, &mut self.progress)? == Pumped::End {
                self.ended = true;
            }
        }
        let chunk = std::mem::take(&mut self.sink.samples);
        let path = self.path();
        let rate = self.sample_rate();
        let (min, max) = check_level(&path, &chunk, rate).map_err(|e| match e {
            // Positions count from the start of the file, not the chunk.
            Error::NonFiniteSample { path, seconds } => Error::NonFiniteSample {
                path,
                seconds: seconds + self.delivered as f64 / f64::from(rate),
            },
            other => other,
        })?;
        self.range = (self.range.0.min(min), self.range.1.max(max));
        self.delivered += chunk.len() as u64;
        if self.ended {
            self.check_end()?;
        }
        Ok((!chunk.is_empty()).then_some(chunk))
    }

    /// What a whole-file decode checks once the stream has ended.
    fn check_end(&self) -> Result<()> {
        let path = self.path();
        if self.delivered == 0 && self.sink.decoded_packets == 0 && self.sink.corrupt_packets > 0 {
            return Err(Error::decode(
                &path,
                format!(
                    "no decodable audio ({} corrupt packets)",
                    self.sink.corrupt_packets
                ),
            ));
        }
        check_constant(&path, self.delivered, self.range.0, self.range.1)?;
        if let Some(promised) = self.stream.promised_frames() {
            if self.sink.emitted + 1 < promised {
                let rate = f64::from(self.sample_rate());
                return Err(Error::Truncated {
                    path,
                    promised_s: promised as f64 / rate,
                    decoded_s: self.sink.emitted as f64 / rate,
                });
            }
        }
        Ok(())
    }
}

/// Mono chunks of a file resampled to a target rate, as [`super::resample`]
/// would give for the whole file, concatenated.
pub struct ResampledChunks {
    chunks: AudioChunks,
    resampler: Option<StreamResampler>,
}

impl ResampledChunks {
    pub fn open(path: &std::path::Path, rate: u32) -> Result<Self> {
        let chunks = AudioStream::open(path)?.into_chunks();
        let resampler = Some(StreamResampler::new(chunks.sample_rate(), rate)?);
        Ok(Self { chunks, resampler })
    }

    /// About `frames` source frames' worth of resampled audio; `None` at
    /// the end.
    pub fn next_chunk(&mut self, frames: usize) -> Result<Option<Vec<f32>>> {
        let Some(resampler) = self.resampler.as_mut() else {
            return Ok(None);
        };
        match self.chunks.next_chunk(frames)? {
            Some(chunk) => resampler.push(&chunk).map(Some),
            None => {
                let tail = self
                    .resampler
                    .take()
                    .map(StreamResampler::finish)
                    .transpose()?
                    .unwrap_or_default();
                Ok((!tail.is_empty()).then_some(tail))
            }
        }
    }
}

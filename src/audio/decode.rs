//! Decoding any supported container/codec to f32 mono at the file's own
//! rate, whole or as a time window that seeks instead of decoding the
//! skipped part.

use std::fs::File;
use std::path::{Path, PathBuf};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use symphonia::core::audio::{AudioBufferRef, SampleBuffer};
use symphonia::core::codecs::{Decoder, DecoderOptions, CODEC_TYPE_FLAC, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;
use symphonia::core::units::Time;

use super::guard::{
    guarded, DecodeBudget, GuardedSource, MAX_FRAMES_PER_BYTE, MAX_STALLED_PACKETS,
};
use super::header::check_header;
use super::plausible::{check_sample_rate, check_samples};
use crate::error::{Error, Result};

/// File extensions the decoder is built for; used when scanning folders.
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "wav", "wave", "flac", "ogg", "oga", "mp3", "m4a", "mp4", "aac", "aif", "aiff", "caf", "mka",
    "webm",
];

/// True when `path` has one of [`AUDIO_EXTENSIONS`] (case-insensitive).
pub fn is_audio_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        .unwrap_or(false)
}

/// Header facts about a file, read without decoding its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioInfo {
    pub sample_rate: u32,
    pub channels: usize,
    /// Frames per channel as the container states it, when it does.
    pub frames: Option<u64>,
}

impl AudioInfo {
    pub fn duration_seconds(&self) -> Option<f64> {
        self.frames.map(|f| f as f64 / self.sample_rate as f64)
    }
}

/// Mono samples at the file's own sample rate.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    pub channels: usize,
    /// Packets the codec rejected and that were skipped.
    pub corrupt_packets: usize,
}

impl Decoded {
    pub fn duration_seconds(&self) -> f64 {
        self.samples.len() as f64 / self.sample_rate as f64
    }
}

/// An open, probed audio stream. Build it from a path or from any
/// [`MediaSource`] (tests wrap a reader that counts bytes). Every method
/// runs under the decode guard: a decoder panic becomes this file's error,
/// and decoding stops with an error when it outgrows the file's budget.
pub struct AudioStream {
    path: PathBuf,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    info: AudioInfo,
    budget: DecodeBudget,
    bytes_read: Arc<AtomicU64>,
    /// Frames the header promises, when a shortfall means truncation.
    promised_frames: Option<u64>,
}

// Upper bound on what a header may make us reserve up front; a lying header
// (a WAV claiming 4 GB) must not turn into a 4 GB allocation.
const MAX_PREALLOC_SAMPLES: u64 = 1 << 22;

impl AudioStream {
    pub fn open(path: &Path) -> Result<Self> {
        guarded(path, || {
            let file = File::open(path).map_err(|e| Error::io(path, e))?;
            let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
            if len == 0 {
                return Err(Error::EmptyFile {
                    path: path.to_path_buf(),
                });
            }
            let ext = path.extension().and_then(|e| e.to_str()).map(str::to_owned);
            Self::probe(Box::new(file), path, ext.as_deref())
        })
    }

    /// Probe `source`; `path` is used only in error messages, `extension`
    /// as a hint to the prober.
    pub fn from_source(
        source: Box<dyn MediaSource>,
        path: &Path,
        extension: Option<&str>,
    ) -> Result<Self> {
        guarded(path, || Self::probe(source, path, extension))
    }

    fn probe(
        mut source: Box<dyn MediaSource>,
        path: &Path,
        extension: Option<&str>,
    ) -> Result<Self> {
        // A source of unknown length gets the budget of a 4 GiB file.
        let budget = DecodeBudget::for_file_size(source.byte_len().unwrap_or(u32::MAX as u64));
        let facts = check_header(source.as_mut(), budget.file_bytes)
            .map_err(|reason| Error::decode(path, reason))?;
        let guarded_source = GuardedSource::new(source, &budget);
        let bytes_read = guarded_source.counter();
        let stream = MediaSourceStream::new(Box::new(guarded_source), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = extension {
            hint.with_extension(ext);
        }
        let format_options = FormatOptions {
            enable_gapless: true,
            ..Default::default()
        };
        let probed = symphonia::default::get_probe()
            .format(&hint, stream, &format_options, &MetadataOptions::default())
            .map_err(|e| Error::decode(path, describe(&e)))?;
        let format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| Error::decode(path, "no audio track"))?;
        let params = &track.codec_params;
        let sample_rate = params
            .sample_rate
            .filter(|&r| r > 0)
            .ok_or_else(|| Error::decode(path, "sample rate missing from header"))?;
        check_sample_rate(path, sample_rate)?;
        let channels = params.channels.map(|c| c.count()).unwrap_or(1);
        let info = AudioInfo {
            sample_rate,
            channels,
            frames: params.n_frames,
        };
        let exact_length = facts.exact_length || params.codec == CODEC_TYPE_FLAC;
        let promised_frames = params.n_frames.filter(|_| exact_length);
        let track_id = track.id;
        let decoder = symphonia::default::get_codecs()
            .make(params, &DecoderOptions::default())
            .map_err(|e| Error::decode(path, describe(&e)))?;
        Ok(Self {
            path: path.to_path_buf(),
            format,
            decoder,
            track_id,
            info,
            budget,
            bytes_read,
            promised_frames,
        })
    }

    pub fn info(&self) -> &AudioInfo {
        &self.info
    }

    /// Decode everything from the current position to the end.
    pub fn decode_all(self) -> Result<Decoded> {
        let path = self.path.clone();
        guarded(&path, || self.decode_frames(0, 0, None))
    }

    /// Decode `duration` seconds starting at `start` seconds. The container
    /// seeks to `start`, so the bytes before it are not read (for formats
    /// that can seek; the others decode and discard).
    pub fn decode_window(self, start: f64, duration: f64) -> Result<Decoded> {
        let path = self.path.clone();
        guarded(&path, || self.decode_window_unguarded(start, duration))
    }

    fn decode_window_unguarded(mut self, start: f64, duration: f64) -> Result<Decoded> {
        if !(start >= 0.0 && duration > 0.0 && start.is_finite() && duration.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "window start {start} s / duration {duration} s"
            )));
        }
        let rate = self.info.sample_rate as f64;
        let start_frame = (start * rate).round() as u64;
        let wanted = (duration * rate).round() as u64;
        if start_frame == 0 {
            return self.decode_frames(0, 0, Some(wanted));
        }
        let seek = self.format.seek(
            SeekMode::Accurate,
            SeekTo::Time {
                time: Time::from(start),
                track_id: Some(self.track_id),
            },
        );
        match seek {
            Ok(seeked) => {
                self.decoder.reset();
                // The reader may land before the target; the decoder
                // skips the difference below.
                let skip = seeked.required_ts.saturating_sub(seeked.actual_ts);
                self.decode_frames(seeked.actual_ts, skip, Some(wanted))
            }
            // Past the end: an empty window, reported as such by callers.
            Err(SymphoniaError::SeekError(_)) => Ok(Decoded {
                samples: Vec::new(),
                sample_rate: self.info.sample_rate,
                channels: self.info.channels,
                corrupt_packets: 0,
            }),
            Err(e) => Err(Error::decode(&self.path, describe(&e))),
        }
    }

    /// Decode from timestamp `first_ts` (where the reader stands), dropping
    /// `skip` frames, keeping at most `limit`.
    fn decode_frames(mut self, first_ts: u64, skip: u64, limit: Option<u64>) -> Result<Decoded> {
        let reserve = limit
            .or(self.info.frames)
            .unwrap_or(0)
            .min(MAX_PREALLOC_SAMPLES);
        let mut out = FrameSink::new(reserve as usize, skip, self.info.channels.max(1));
        let mut progress = ProgressGuard::new(self.bytes_read.clone());
        let reached_end = loop {
            if limit.is_some_and(|limit| out.samples.len() as u64 >= limit) {
                break false;
            }
            if self.pump(&mut out, &mut progress)? == Pumped::End {
                break true;
            }
        };
        self.finish(out, first_ts, limit, reached_end)
    }

    /// Read and decode one packet into `out`; `End` once the stream ends.
    /// Enforces the decode budget and the no-progress bound.
    pub(super) fn pump(
        &mut self,
        out: &mut FrameSink,
        progress: &mut ProgressGuard,
    ) -> Result<Pumped> {
        if out.emitted > self.budget.max_frames {
            return Err(Error::Implausible {
                path: self.path.clone(),
                reason: format!(
                    "decodes to more than {} frames from {} bytes (over {MAX_FRAMES_PER_BYTE} \
                     per byte)",
                    self.budget.max_frames, self.budget.file_bytes
                ),
            });
        }
        if !progress.advanced(out.emitted) {
            return Err(Error::decode(
                &self.path,
                format!(
                    "decoder made no progress in {MAX_STALLED_PACKETS} packets \
                     (damaged stream)"
                ),
            ));
        }
        let packet = match self.format.next_packet() {
            Ok(p) => p,
            Err(e) if is_end_of_stream(&e) => return Ok(Pumped::End),
            Err(SymphoniaError::DecodeError(_)) => {
                out.corrupt_packets += 1;
                return Ok(Pumped::More);
            }
            Err(e) => return Err(Error::decode(&self.path, describe(&e))),
        };
        if packet.track_id() != self.track_id {
            return Ok(Pumped::More);
        }
        match self.decoder.decode(&packet) {
            Ok(buffer) => out.push(buffer),
            Err(SymphoniaError::DecodeError(_)) => out.corrupt_packets += 1,
            Err(e) if is_end_of_stream(&e) => return Ok(Pumped::End),
            Err(e) => return Err(Error::decode(&self.path, describe(&e))),
        }
        Ok(Pumped::More)
    }

    /// A fresh no-progress bound on this stream's reads.
    pub(super) fn progress_guard(&self) -> ProgressGuard {
        ProgressGuard::new(self.bytes_read.clone())
    }

    /// The file's path, as errors name it.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Frames the header promises where a shortfall means truncation.
    pub(super) fn promised_frames(&self) -> Option<u64> {
        self.promised_frames
    }

    /// Checks on what came out: something decodable, as long as promised,
    /// and plausible samples.
    fn finish(
        &self,
        mut out: FrameSink,
        first_ts: u64,
        limit: Option<u64>,
        reached_end: bool,
    ) -> Result<Decoded> {
        if let Some(limit) = limit {
            out.samples.truncate(limit as usize);
        }
        if out.samples.is_empty() && out.decoded_packets == 0 && out.corrupt_packets > 0 {
            return Err(Error::decode(
                &self.path,
                format!(
                    "no decodable audio ({} corrupt packets)",
                    out.corrupt_packets
                ),
            ));
        }
        if let (true, Some(promised)) = (reached_end, self.promised_frames) {
            let reached = first_ts + out.emitted;
            // Promised lengths are only kept where they are exact (byte
            // counts of PCM, FLAC's sample count): one frame of rounding.
            if reached + 1 < promised {
                let rate = self.info.sample_rate as f64;
                return Err(Error::Truncated {
                    path: self.path.clone(),
                    promised_s: promised as f64 / rate,
                    decoded_s: reached as f64 / rate,
                });
            }
        }
        check_samples(&self.path, &out.samples, self.info.sample_rate)?;
        Ok(Decoded {
            samples: out.samples,
            sample_rate: self.info.sample_rate,
            channels: out.channels,
            corrupt_packets: out.corrupt_packets,
        })
    }
}

/// Whether the stream has more packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pumped {
    More,
    End,
}

/// Where decoded packets go: downmixed to mono, the first `skip` frames
/// dropped.
pub(super) struct FrameSink {
    pub(super) samples: Vec<f32>,
    skip: u64,
    /// Frames the decoder produced, skipped ones included.
    pub(super) emitted: u64,
    pub(super) channels: usize,
    interleaved: Option<SampleBuffer<f32>>,
    pub(super) decoded_packets: usize,
    pub(super) corrupt_packets: usize,
}

impl FrameSink {
    pub(super) fn new(reserve: usize, skip: u64, channels: usize) -> Self {
        Self {
            samples: Vec::with_capacity(reserve),
            skip,
            emitted: 0,
            channels,
            interleaved: None,
            decoded_packets: 0,
            corrupt_packets: 0,
        }
    }

    fn push(&mut self, buffer: AudioBufferRef<'_>) {
        self.decoded_packets += 1;
        let spec = *buffer.spec();
        let frames = buffer.frames();
        if frames == 0 {
            return;
        }
        self.emitted += frames as u64;
        let channels = spec.channels.count().max(1);
        self.channels = channels;
        let needed = buffer.capacity() * channels;
        if self
            .interleaved
            .as_ref()
            .is_some_and(|sb| sb.capacity() < needed)
        {
            self.interleaved = None;
        }
        let sb = self
            .interleaved
            .get_or_insert_with(|| SampleBuffer::<f32>::new(buffer.capacity() as u64, spec));
        sb.copy_interleaved_ref(buffer);
        let data = &sb.samples()[..frames * channels];
        let dropped = self.skip.min(frames as u64) as usize;
        self.skip -= dropped as u64;
        let scale = 1.0 / channels as f32;
        self.samples.extend(
            data.chunks_exact(channels)
                .skip(dropped)
                .map(|frame| frame.iter().sum::<f32>() * scale),
        );
    }
}

/// Counts packets in a row that neither read new bytes from the file nor
/// produced audio: a decoder stuck on one spot of a damaged file.
pub(super) struct ProgressGuard {
    bytes_read: Arc<AtomicU64>,
    last_bytes: u64,
    last_frames: u64,
    stalled: u32,
}

impl ProgressGuard {
    pub(super) fn new(bytes_read: Arc<AtomicU64>) -> Self {
        Self {
            last_bytes: bytes_read.load(Ordering::Relaxed),
            bytes_read,
            last_frames: 0,
            stalled: 0,
        }
    }

    /// False once too many packets went by without progress.
    fn advanced(&mut self, frames: u64) -> bool {
        let bytes = self.bytes_read.load(Ordering::Relaxed);
        if bytes != self.last_bytes || frames != self.last_frames {
            self.last_bytes = bytes;
            self.last_frames = frames;
            self.stalled = 0;
        } else {
            self.stalled += 1;
        }
        self.stalled < MAX_STALLED_PACKETS
    }
}

fn is_end_of_stream(e: &SymphoniaError) -> bool {
    match e {
        SymphoniaError::IoError(io) => io.kind() == std::io::ErrorKind::UnexpectedEof,
        SymphoniaError::ResetRequired => true,
        _ => false,
    }
}

fn describe(e: &SymphoniaError) -> String {
    match e {
        SymphoniaError::Unsupported(what) => format!("unsupported format or codec ({what})"),
        SymphoniaError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "truncated file (unexpected end of data)".to_string()
        }
        other => other.to_string(),
    }
}

/// Header facts of the file at `path`.
pub fn probe_info(path: &Path) -> Result<AudioInfo> {
    Ok(AudioStream::open(path)?.info().clone())
}

/// Decode the whole file at `path` to mono at its own rate.
pub fn decode_file(path: &Path) -> Result<Decoded> {
    AudioStream::open(path)?.decode_all()
}

/// Decode `duration` seconds from `start` seconds of the file at `path`.
pub fn decode_window(path: &Path, start: f64, duration: f64) -> Result<Decoded> {
    AudioStream::open(path)?.decode_window(start, duration)
}

//! Decoding any supported container/codec to f32 mono at the file's own
//! rate, whole or as a time window that seeks instead of decoding the
//! skipped part.

use std::fs::File;
use std::path::{Path, PathBuf};

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{Decoder, DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;
use symphonia::core::units::Time;

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
/// [`MediaSource`] (tests wrap a reader that counts bytes).
pub struct AudioStream {
    path: PathBuf,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    info: AudioInfo,
}

// Upper bound on what a header may make us reserve up front; a lying header
// (a WAV claiming 4 GB) must not turn into a 4 GB allocation.
const MAX_PREALLOC_SAMPLES: u64 = 1 << 22;

impl AudioStream {
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if len == 0 {
            return Err(Error::EmptyFile {
                path: path.to_path_buf(),
            });
        }
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_owned);
        Self::from_source(Box::new(file), path, ext.as_deref())
    }

    /// Probe `source`; `path` is used only in error messages, `extension`
    /// as a hint to the prober.
    pub fn from_source(
        source: Box<dyn MediaSource>,
        path: &Path,
        extension: Option<&str>,
    ) -> Result<Self> {
        let stream = MediaSourceStream::new(source, Default::default());
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
        let channels = params.channels.map(|c| c.count()).unwrap_or(1);
        let info = AudioInfo {
            sample_rate,
            channels,
            frames: params.n_frames,
        };
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
        })
    }

    pub fn info(&self) -> &AudioInfo {
        &self.info
    }

    /// Decode everything from the current position to the end.
    pub fn decode_all(self) -> Result<Decoded> {
        self.decode_frames(0, None)
    }

    /// Decode `duration` seconds starting at `start` seconds. The container
    /// seeks to `start`, so the bytes before it are not read (for formats
    /// that can seek; the others decode and discard).
    pub fn decode_window(mut self, start: f64, duration: f64) -> Result<Decoded> {
        if !(start >= 0.0 && duration > 0.0 && start.is_finite() && duration.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "window start {start} s / duration {duration} s"
            )));
        }
        let rate = self.info.sample_rate as f64;
        let start_frame = (start * rate).round() as u64;
        let wanted = (duration * rate).round() as u64;
        let mut skip = start_frame;
        if start_frame > 0 {
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
                    skip = seeked.required_ts.saturating_sub(seeked.actual_ts);
                }
                // Past the end: an empty window, reported as such by callers.
                Err(SymphoniaError::SeekError(_)) => {
                    return Ok(Decoded {
                        samples: Vec::new(),
                        sample_rate: self.info.sample_rate,
                        channels: self.info.channels,
                        corrupt_packets: 0,
                    })
                }
                Err(e) => return Err(Error::decode(&self.path, describe(&e))),
            }
        }
        self.decode_frames(skip, Some(wanted))
    }

    fn decode_frames(mut self, mut skip: u64, limit: Option<u64>) -> Result<Decoded> {
        let channels = self.info.channels.max(1);
        let reserve = limit
            .or(self.info.frames)
            .unwrap_or(0)
            .min(MAX_PREALLOC_SAMPLES);
        let mut samples: Vec<f32> = Vec::with_capacity(reserve as usize);
        let mut corrupt_packets = 0usize;
        let mut decoded_packets = 0usize;
        let mut interleaved: Option<SampleBuffer<f32>> = None;
        let mut channels_seen = channels;
        loop {
            if let Some(limit) = limit {
                if samples.len() as u64 >= limit {
                    break;
                }
            }
            let packet = match self.format.next_packet() {
                Ok(p) => p,
                Err(SymphoniaError::IoError(e))
                    if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    break
                }
                Err(SymphoniaError::ResetRequired) => break,
                Err(SymphoniaError::DecodeError(_)) => {
                    corrupt_packets += 1;
                    continue;
                }
                Err(e) => return Err(Error::decode(&self.path, describe(&e))),
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            let buffer = match self.decoder.decode(&packet) {
                Ok(b) => b,
                Err(SymphoniaError::DecodeError(_)) => {
                    corrupt_packets += 1;
                    continue;
                }
                Err(SymphoniaError::IoError(e))
                    if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    break
                }
                Err(e) => return Err(Error::decode(&self.path, describe(&e))),
            };
            decoded_packets += 1;
            let spec = *buffer.spec();
            let frames = buffer.frames();
            if frames == 0 {
                continue;
            }
            channels_seen = spec.channels.count().max(1);
            let needed = buffer.capacity() * channels_seen;
            if interleaved
                .as_ref()
                .is_some_and(|sb| sb.capacity() < needed)
            {
                interleaved = None;
            }
            let sb = interleaved
                .get_or_insert_with(|| SampleBuffer::<f32>::new(buffer.capacity() as u64, spec));
            sb.copy_interleaved_ref(buffer);
            let data = &sb.samples()[..frames * channels_seen];
            let mut start_frame = 0usize;
            if skip > 0 {
                let dropped = skip.min(frames as u64) as usize;
                skip -= dropped as u64;
                start_frame = dropped;
            }
            let scale = 1.0 / channels_seen as f32;
            for frame in data.chunks_exact(channels_seen).skip(start_frame) {
                samples.push(frame.iter().sum::<f32>() * scale);
            }
        }
        if let Some(limit) = limit {
            samples.truncate(limit as usize);
        }
        if samples.is_empty() && decoded_packets == 0 && corrupt_packets > 0 {
            return Err(Error::decode(
                &self.path,
                format!("no decodable audio ({corrupt_packets} corrupt packets)"),
            ));
        }
        if let Some(i) = samples.iter().position(|s| !s.is_finite()) {
            return Err(Error::NonFiniteSample {
                path: self.path.clone(),
                seconds: i as f64 / self.info.sample_rate as f64,
            });
        }
        Ok(Decoded {
            samples,
            sample_rate: self.info.sample_rate,
            channels: channels_seen,
            corrupt_packets,
        })
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

//! Minimal WAV writer (16-bit PCM and 32-bit float) for exported clips and
//! generated test fixtures. Writes go through a temporary file and a rename.

use std::io::Write;
use std::path::Path;

use crate::error::Result;
use crate::util::atomic_write;

/// Sample encoding of a written WAV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WavEncoding {
    Pcm16,
    Float32,
}

/// Encode interleaved `samples` with `channels` channels as a WAV byte image.
pub fn wav_bytes(
    samples: &[f32],
    sample_rate: u32,
    channels: u16,
    encoding: WavEncoding,
) -> Vec<u8> {
    let (format_tag, bits): (u16, u16) = match encoding {
        WavEncoding::Pcm16 => (1, 16),
        WavEncoding::Float32 => (3, 32),
    };
    let block_align = channels * bits / 8;
    let data_len = samples.len() as u32 * (bits as u32 / 8);
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&format_tag.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&(sample_rate * block_align as u32).to_le_bytes());
    out.extend_from_slice(&block_align.to_le_bytes());
    out.extend_from_slice(&bits.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for &s in samples {
        match encoding {
            WavEncoding::Pcm16 => {
                let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
                out.extend_from_slice(&v.to_le_bytes());
            }
            WavEncoding::Float32 => out.extend_from_slice(&s.to_le_bytes()),
        }
    }
    out
}

/// Write a WAV file atomically.
pub fn write_wav(
    path: &Path,
    samples: &[f32],
    sample_rate: u32,
    channels: u16,
    encoding: WavEncoding,
) -> Result<()> {
    let bytes = wav_bytes(samples, sample_rate, channels, encoding);
    atomic_write(path, |f| f.write_all(&bytes))
}

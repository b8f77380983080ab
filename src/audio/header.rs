//! Header checks made before a decoder sees the file. symphonia trusts some
//! fields of RIFF/WAVE and AIFF headers that a damaged file can set to
//! anything: a sample rate of 0 panics inside it, a block alignment of 0
//! makes its packet reader fail forever without moving. Those fields are
//! read and checked here, and the length fields of FLAC, Ogg and MP4 in
//! [`super::lengths`]; anything else is left to the decoder, whose panics
//! the guard catches.

use std::io::{Read, Seek, SeekFrom};

use super::lengths;

/// Atom types an MP4/M4A/MOV file starts with.
const MP4_FIRST_ATOMS: [&[u8]; 6] = [b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"];

/// What the header check learned that the decoder's parameters do not say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeaderFacts {
    /// The WAV data chunk's size is the streaming placeholder (0xFFFFFFFF):
    /// the header promises no length, so a short file is not "truncated".
    pub length_unknown: bool,
    /// A RIFF/WAVE or AIFF file: the length it promises is exact (a byte
    /// count), so any shortfall is truncation.
    pub exact_length: bool,
}

/// Channels a file may have; symphonia's channel map holds 32.
pub const MAX_CHANNELS: u32 = 32;
/// Chunks read before giving up on finding `fmt `/`COMM`.
const MAX_CHUNKS: usize = 4096;

/// Check the header of `source` (then rewound to its start). `Err` holds a
/// reason a person can act on, without the path (the caller adds it).
pub fn check_header<S: Read + Seek + ?Sized>(
    source: &mut S,
    file_len: u64,
) -> Result<HeaderFacts, String> {
    let mut magic = [0u8; 12];
    let got = read_up_to(source, &mut magic).map_err(|e| e.to_string())?;
    let facts = if got < 12 {
        Ok(HeaderFacts::default())
    } else if &magic[0..4] == b"RIFF" && &magic[8..12] == b"WAVE" {
        check_chunks(source, file_len, Endian::Little, check_wave_chunk)
    } else if &magic[0..4] == b"FORM" && (&magic[8..12] == b"AIFF" || &magic[8..12] == b"AIFC") {
        check_chunks(source, file_len, Endian::Big, check_aiff_chunk)
    } else if &magic[0..4] == b"fLaC" {
        lengths::check_flac(source, file_len).map(|()| HeaderFacts::default())
    } else if &magic[0..4] == b"OggS" {
        lengths::check_ogg(source, file_len).map(|()| HeaderFacts::default())
    } else if MP4_FIRST_ATOMS.contains(&&magic[4..8]) {
        lengths::check_mp4(source, file_len).map(|()| HeaderFacts::default())
    } else if &magic[0..3] == b"ID3" {
        lengths::check_id3v2(source, file_len).map(|()| HeaderFacts::default())
    } else {
        Ok(HeaderFacts::default())
    };
    source.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    facts
}

#[derive(Clone, Copy)]
enum Endian {
    Little,
    Big,
}

/// One chunk's verdict: `Ok(true)` once the chunks that matter are seen.
type ChunkCheck = fn(&[u8; 4], &[u8], u32, &mut HeaderFacts) -> Result<bool, String>;

fn check_chunks<S: Read + Seek + ?Sized>(
    source: &mut S,
    file_len: u64,
    endian: Endian,
    check: ChunkCheck,
) -> Result<HeaderFacts, String> {
    let mut facts = HeaderFacts::default();
    let mut pos = 12u64;
    for _ in 0..MAX_CHUNKS {
        if pos + 8 > file_len {
            return Ok(facts);
        }
        source
            .seek(SeekFrom::Start(pos))
            .map_err(|e| e.to_string())?;
        let mut head = [0u8; 8];
        if read_up_to(source, &mut head).map_err(|e| e.to_string())? < 8 {
            return Ok(facts);
        }
        let id: [u8; 4] = head[0..4].try_into().expect("4 bytes");
        let size_bytes: [u8; 4] = head[4..8].try_into().expect("4 bytes");
        let size = match endian {
            Endian::Little => u32::from_le_bytes(size_bytes),
            Endian::Big => u32::from_be_bytes(size_bytes),
        };
        let audio = &id == b"data" || &id == b"SSND";
        let room = file_len - pos - 8;
        // The audio chunk may run past the end (a truncated file, reported
        // as such later); any other chunk is read whole by the decoder.
        if !audio && u64::from(size) > room {
            return Err(chunk_error(&id, pos, size, room));
        }
        // Only the start of a chunk is needed (fmt and COMM are short),
        // except a LIST, whose entries are checked in turn.
        let wanted = if &id == b"LIST" {
            size.min(16 << 20)
        } else {
            size.min(64)
        };
        let mut body = vec![0u8; wanted as usize];
        let got = read_up_to(source, &mut body).map_err(|e| e.to_string())?;
        body.truncate(got);
        if &id == b"LIST" {
            check_list(&body, pos + 8)?;
        }
        if check(&id, &body, size, &mut facts)? {
            return Ok(facts);
        }
        pos += 8 + u64::from(size) + u64::from(size & 1);
    }
    Err(format!(
        "header: more than {MAX_CHUNKS} chunks before the audio"
    ))
}

fn chunk_error(id: &[u8; 4], pos: u64, size: u32, room: u64) -> String {
    format!(
        "header: chunk `{}` at byte {pos} claims {size} bytes, {room} remain",
        String::from_utf8_lossy(id).escape_debug()
    )
}

/// The entries of a RIFF LIST chunk (`INFO` tags): each inside the list.
fn check_list(body: &[u8], base: u64) -> Result<(), String> {
    let mut at = 4usize;
    while at + 8 <= body.len() {
        let id: [u8; 4] = body[at..at + 4].try_into().expect("4 bytes");
        let size = u32::from_le_bytes(body[at + 4..at + 8].try_into().expect("4 bytes"));
        let room = (body.len() - at - 8) as u64;
        if u64::from(size) > room {
            return Err(chunk_error(&id, base + at as u64, size, room));
        }
        at += 8 + size as usize + (size as usize & 1);
    }
    Ok(())
}

fn check_wave_chunk(
    id: &[u8; 4],
    body: &[u8],
    size: u32,
    facts: &mut HeaderFacts,
) -> Result<bool, String> {
    match id {
        b"fmt " => {
            if body.len() < 16 {
                return Err(format!(
                    "header: fmt chunk has {} bytes, a WAV needs at least 16",
                    body.len()
                ));
            }
            let u16_at = |i: usize| u16::from_le_bytes([body[i], body[i + 1]]);
            let format_tag = u16_at(0);
            let channels = u16_at(2);
            let sample_rate = u32::from_le_bytes(body[4..8].try_into().expect("4 bytes"));
            let block_align = u16_at(12);
            let bits = u16_at(14);
            check_channels(u32::from(channels))?;
            if sample_rate == 0 {
                return Err("header: sample rate 0 Hz".into());
            }
            if block_align == 0 {
                return Err("header: block alignment 0 (no bytes per frame)".into());
            }
            // PCM, IEEE float and WAVE_FORMAT_EXTENSIBLE store whole frames of
            // `bits` per channel, so the alignment follows from the two.
            if matches!(format_tag, 1 | 3 | 0xFFFE) {
                if bits == 0 || bits > 64 {
                    return Err(format!("header: {bits} bits per sample"));
                }
                let expected = u32::from(channels) * u32::from(bits).div_ceil(8);
                if u32::from(block_align) != expected {
                    return Err(format!(
                        "header: block alignment {block_align} bytes, but {channels} channels of \
                         {bits} bits take {expected}"
                    ));
                }
            }
            Ok(false)
        }
        b"data" => {
            facts.length_unknown = size == u32::MAX;
            facts.exact_length = !facts.length_unknown;
            Ok(true)
        }
        _ => Ok(false),
    }
}

fn check_aiff_chunk(
    id: &[u8; 4],
    body: &[u8],
    _size: u32,
    facts: &mut HeaderFacts,
) -> Result<bool, String> {
    if id != b"COMM" {
        return Ok(id == b"SSND");
    }
    facts.exact_length = true;
    if body.len() < 18 {
        return Err(format!(
            "header: COMM chunk has {} bytes, an AIFF needs at least 18",
            body.len()
        ));
    }
    let channels = i16::from_be_bytes([body[0], body[1]]);
    let bits = i16::from_be_bytes([body[6], body[7]]);
    if channels <= 0 {
        return Err(format!("header: {channels} channels"));
    }
    check_channels(channels as u32)?;
    if !(1..=32).contains(&bits) {
        return Err(format!("header: {bits} bits per sample"));
    }
    let rate = extended_to_f64(body[8..18].try_into().expect("10 bytes"));
    if !(rate.is_finite() && rate >= 1.0 && rate <= f64::from(u32::MAX)) {
        return Err(format!("header: sample rate {rate} Hz"));
    }
    Ok(true)
}

fn check_channels(channels: u32) -> Result<(), String> {
    if channels == 0 {
        return Err("header: 0 channels".into());
    }
    if channels > MAX_CHANNELS {
        return Err(format!(
            "header: {channels} channels (at most {MAX_CHANNELS} are supported)"
        ));
    }
    Ok(())
}

/// The 80-bit IEEE 754 extended float AIFF stores its sample rate in.
fn extended_to_f64(bytes: [u8; 10]) -> f64 {
    let sign = if bytes[0] & 0x80 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from(u16::from_be_bytes([bytes[0] & 0x7F, bytes[1]]));
    let mantissa = u64::from_be_bytes(bytes[2..10].try_into().expect("8 bytes"));
    if exponent == 0x7FFF {
        return f64::NAN;
    }
    if exponent == 0 && mantissa == 0 {
        return 0.0;
    }
    sign * (mantissa as f64) * 2f64.powi(exponent - 16383 - 63)
}

/// `read_exact` that stops at the end of the data, returning how much it got.
pub(super) fn read_up_to<S: Read + ?Sized>(
    source: &mut S,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match source.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::{wav_bytes, WavEncoding};
    use std::io::Cursor;

    fn check(bytes: &[u8]) -> Result<HeaderFacts, String> {
        check_header(&mut Cursor::new(bytes), bytes.len() as u64)
    }

    fn wav() -> Vec<u8> {
        wav_bytes(&[0.0, 0.5, -0.5, 0.25], 16000, 1, WavEncoding::Pcm16)
    }

    #[test]
    fn a_good_wav_passes_and_the_source_is_rewound() {
        let bytes = wav();
        let mut cursor = Cursor::new(&bytes[..]);
        let facts = check_header(&mut cursor, bytes.len() as u64).unwrap();
        assert!(facts.exact_length && !facts.length_unknown);
        assert_eq!(cursor.position(), 0);
        // Not a RIFF file: nothing to say.
        assert_eq!(
            check(b"\xff\xfb\x90\x64 an MP3 frame"),
            Ok(HeaderFacts::default())
        );
    }

    #[test]
    fn fields_symphonia_trusts_are_rejected() {
        let cases: [(usize, &[u8], &str); 5] = [
            (24, &0u32.to_le_bytes(), "sample rate 0"),
            (22, &0u16.to_le_bytes(), "0 channels"),
            (22, &300u16.to_le_bytes(), "300 channels"),
            (32, &0u16.to_le_bytes(), "block alignment 0"),
            (
                32,
                &3u16.to_le_bytes(),
                "block alignment 3 bytes, but 1 channels of 16 bits take 2",
            ),
        ];
        for (offset, value, expected) in cases {
            let mut bytes = wav();
            bytes[offset..offset + value.len()].copy_from_slice(value);
            let err = check(&bytes).unwrap_err();
            assert!(err.contains(expected), "{err} should say {expected}");
        }
    }

    #[test]
    fn a_streaming_data_size_promises_no_length() {
        let mut bytes = wav();
        bytes[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
        let facts = check(&bytes).unwrap();
        assert!(facts.length_unknown && !facts.exact_length);
    }

    #[test]
    fn aiff_sample_rates_are_decoded_and_checked() {
        // 44100 Hz as an 80-bit extended float.
        let rate_44100 = [0x40, 0x0E, 0xAC, 0x44, 0, 0, 0, 0, 0, 0];
        assert_eq!(extended_to_f64(rate_44100), 44100.0);
        let mut comm = Vec::new();
        comm.extend_from_slice(&1i16.to_be_bytes());
        comm.extend_from_slice(&100u32.to_be_bytes());
        comm.extend_from_slice(&16i16.to_be_bytes());
        comm.extend_from_slice(&[0u8; 10]);
        let mut bytes = b"FORM\0\0\0\x26AIFFCOMM\0\0\0\x12".to_vec();
        bytes.extend_from_slice(&comm);
        let err = check(&bytes).unwrap_err();
        assert!(err.contains("sample rate 0"), "{err}");
    }
}

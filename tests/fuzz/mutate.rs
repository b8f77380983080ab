//! Structure-aware mutation of audio files for fuzzing the decode path.
//! Each seed file is split into its container's chunks (RIFF chunks, FLAC
//! metadata blocks and frames, Ogg pages, MP4 atoms, MP3 frames) with the
//! header fields a decoder trusts; mutants then flip bits, overwrite byte
//! runs, truncate at chunk boundaries, rewrite fields to 0, 1, max and
//! negative values, make chunk sizes lie, and duplicate or reorder chunks.

use rand::seq::IndexedRandom;
use rand::Rng;

/// An integer field inside the file.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub offset: usize,
    pub width: usize,
    pub big_endian: bool,
}

/// A chunk of the container: its byte range and the field holding its size.
#[derive(Debug, Clone, Copy)]
pub struct Chunk {
    pub start: usize,
    pub end: usize,
    pub size_field: Option<Field>,
}

/// A seed file with its structure.
#[derive(Debug, Clone)]
pub struct Seed {
    pub name: String,
    pub data: Vec<u8>,
    pub chunks: Vec<Chunk>,
    pub fields: Vec<Field>,
    /// Ogg: page checksums are recomputed on half the mutants, so that
    /// damage reaches the codec instead of stopping at the CRC check.
    pub ogg: bool,
}

impl Seed {
    pub fn new(name: &str, data: Vec<u8>) -> Self {
        let (chunks, fields, ogg) = if data.starts_with(b"RIFF") {
            let (c, f) = riff(&data);
            (c, f, false)
        } else if data.starts_with(b"fLaC") {
            let (c, f) = flac(&data);
            (c, f, false)
        } else if data.starts_with(b"OggS") {
            let (c, f) = ogg(&data);
            (c, f, true)
        } else if data.get(4..8) == Some(b"ftyp") {
            let mut chunks = Vec::new();
            let mut fields = Vec::new();
            mp4_atoms(&data, 0, data.len(), 0, &mut chunks, &mut fields);
            (chunks, fields, false)
        } else {
            let (c, f) = mp3(&data);
            (c, f, false)
        };
        Seed {
            name: name.to_string(),
            data,
            chunks,
            fields,
            ogg,
        }
    }

    /// Every truncation at a chunk boundary (and one byte either side).
    pub fn boundary_truncations(&self) -> Vec<(String, Vec<u8>)> {
        let mut cuts: Vec<usize> = self
            .chunks
            .iter()
            .flat_map(|c| [c.start, c.start + 1, c.start + 8, c.end.saturating_sub(1)])
            .filter(|&p| p > 0 && p < self.data.len())
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        cuts.into_iter()
            .map(|at| (format!("truncate@{at}"), self.data[..at].to_vec()))
            .collect()
    }

    /// One random mutant and a description of what was done.
    pub fn mutate<R: Rng>(&self, rng: &mut R) -> (String, Vec<u8>) {
        let mut data = self.data.clone();
        let mut what = Vec::new();
        let rounds = rng.random_range(1..=3);
        for _ in 0..rounds {
            what.push(self.mutate_once(&mut data, rng));
        }
        if self.ogg && rng.random_bool(0.5) {
            fix_ogg_crcs(&mut data);
            what.push("crc-fixed".into());
        }
        (what.join("+"), data)
    }

    fn mutate_once<R: Rng>(&self, data: &mut Vec<u8>, rng: &mut R) -> String {
        if data.is_empty() {
            data.push(rng.random());
            return "byte".into();
        }
        match rng.random_range(0..10) {
            0 | 1 => {
                let n = rng.random_range(1..=16);
                for _ in 0..n {
                    let i = rng.random_range(0..data.len());
                    data[i] ^= 1 << rng.random_range(0..8);
                }
                format!("flip{n}")
            }
            2 => {
                let start = rng.random_range(0..data.len());
                let len = rng.random_range(1..=64).min(data.len() - start);
                let fill: u8 = *[0x00, 0xFF, rng.random()].choose(rng).unwrap();
                let random = rng.random_bool(0.3);
                for b in &mut data[start..start + len] {
                    *b = if random { rng.random() } else { fill };
                }
                format!("run@{start}+{len}")
            }
            3 | 4 => match self.fields.choose(rng) {
                Some(&field) if field.offset + field.width <= data.len() => {
                    let value = *[0u64, 1, u64::MAX, 1 << (field.width * 8 - 1), 2, 0x7F]
                        .choose(rng)
                        .unwrap();
                    write_field(data, field, value);
                    format!("field@{}={value:#x}", field.offset)
                }
                _ => self.truncate(data, rng),
            },
            5 => match self.chunks.choose(rng).and_then(|c| c.size_field) {
                Some(field) if field.offset + field.width <= data.len() => {
                    let old = read_field(data, field);
                    let value = match rng.random_range(0..5) {
                        0 => 0,
                        1 => old.saturating_add(rng.random_range(1..4096)),
                        2 => old.saturating_sub(rng.random_range(1..64)),
                        3 => u64::MAX,
                        _ => 1 << (field.width * 8 - 1),
                    };
                    write_field(data, field, value);
                    format!("size@{}={value:#x}", field.offset)
                }
                _ => self.truncate(data, rng),
            },
            6 => match self.chunks.choose(rng) {
                Some(c) if c.end <= data.len() => {
                    let copy = data[c.start..c.end].to_vec();
                    let at = if rng.random_bool(0.5) { c.end } else { c.start };
                    data.splice(at..at, copy);
                    format!("dup{}..{}", c.start, c.end)
                }
                _ => self.truncate(data, rng),
            },
            7 => {
                let pairs: Vec<(Chunk, Chunk)> = self
                    .chunks
                    .windows(2)
                    .filter(|w| w[0].end == w[1].start && w[1].end <= data.len())
                    .map(|w| (w[0], w[1]))
                    .collect();
                match pairs.choose(rng) {
                    Some(&(a, b)) => {
                        let mut swapped = data[b.start..b.end].to_vec();
                        swapped.extend_from_slice(&data[a.start..a.end]);
                        data.splice(a.start..b.end, swapped);
                        format!("swap{}..{}", a.start, b.end)
                    }
                    None => self.truncate(data, rng),
                }
            }
            8 => {
                let at = rng.random_range(0..=data.len());
                let n = rng.random_range(1..=32);
                let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                data.splice(at..at, bytes);
                format!("insert@{at}+{n}")
            }
            _ => self.truncate(data, rng),
        }
    }

    fn truncate<R: Rng>(&self, data: &mut Vec<u8>, rng: &mut R) -> String {
        let at = match self.chunks.choose(rng) {
            Some(c) if rng.random_bool(0.7) && c.start < data.len() => c.start,
            _ => rng.random_range(0..data.len()),
        };
        data.truncate(at);
        format!("cut@{at}")
    }
}

fn read_field(data: &[u8], f: Field) -> u64 {
    let bytes = &data[f.offset..f.offset + f.width];
    let mut v = 0u64;
    for i in 0..f.width {
        let b = if f.big_endian {
            bytes[i]
        } else {
            bytes[f.width - 1 - i]
        };
        v = (v << 8) | u64::from(b);
    }
    v
}

fn write_field(data: &mut [u8], f: Field, value: u64) {
    for i in 0..f.width {
        let byte = (value >> (8 * i)) as u8;
        let at = if f.big_endian {
            f.offset + f.width - 1 - i
        } else {
            f.offset + i
        };
        data[at] = byte;
    }
}

fn le(offset: usize, width: usize) -> Field {
    Field {
        offset,
        width,
        big_endian: false,
    }
}

fn be(offset: usize, width: usize) -> Field {
    Field {
        offset,
        width,
        big_endian: true,
    }
}

fn riff(data: &[u8]) -> (Vec<Chunk>, Vec<Field>) {
    let mut chunks = Vec::new();
    let mut fields = vec![le(4, 4)];
    let mut pos = 12;
    while pos + 8 <= data.len() {
        let size = u32::from_le_bytes(data[pos + 4..pos + 8].try_into().unwrap()) as usize;
        let end = (pos + 8 + size + (size & 1)).min(data.len());
        chunks.push(Chunk {
            start: pos,
            end,
            size_field: Some(le(pos + 4, 4)),
        });
        if &data[pos..pos + 4] == b"fmt " {
            let b = pos + 8;
            fields.extend([le(b, 2), le(b + 2, 2), le(b + 4, 4), le(b + 8, 4)]);
            fields.extend([le(b + 12, 2), le(b + 14, 2)]);
            if size >= 40 {
                fields.extend([le(b + 16, 2), le(b + 18, 2), le(b + 20, 4), le(b + 24, 4)]);
            }
        } else if &data[pos..pos + 4] != b"data" {
            fields.push(le(pos + 8, 4));
        }
        pos = end;
    }
    (chunks, fields)
}

fn flac(data: &[u8]) -> (Vec<Chunk>, Vec<Field>) {
    let mut chunks = Vec::new();
    let mut fields = Vec::new();
    let mut pos = 4;
    while pos + 4 <= data.len() {
        let last = data[pos] & 0x80 != 0;
        let len = u32::from_be_bytes([0, data[pos + 1], data[pos + 2], data[pos + 3]]) as usize;
        let end = (pos + 4 + len).min(data.len());
        chunks.push(Chunk {
            start: pos,
            end,
            size_field: Some(be(pos + 1, 3)),
        });
        fields.push(be(pos, 1));
        if data[pos] & 0x7F == 0 {
            // STREAMINFO: block sizes, frame sizes, then rate/channels/bits/total packed.
            let b = pos + 4;
            fields.extend([be(b, 2), be(b + 2, 2), be(b + 4, 3), be(b + 7, 3)]);
            fields.extend([be(b + 10, 2), be(b + 12, 1), be(b + 13, 1), be(b + 14, 4)]);
        }
        pos = end;
        if last {
            break;
        }
    }
    // Audio frames start at a 14-bit sync code (0xFFF8 or 0xFFF9).
    let mut frame_starts: Vec<usize> = (pos..data.len().saturating_sub(1))
        .filter(|&i| data[i] == 0xFF && (data[i + 1] & 0xFE) == 0xF8)
        .collect();
    frame_starts.push(data.len());
    for w in frame_starts.windows(2) {
        chunks.push(Chunk {
            start: w[0],
            end: w[1],
            size_field: None,
        });
        fields.extend([be(w[0] + 2, 1), be(w[0] + 3, 1)]);
    }
    (chunks, fields)
}

fn ogg(data: &[u8]) -> (Vec<Chunk>, Vec<Field>) {
    let mut chunks = Vec::new();
    let mut fields = Vec::new();
    let mut pos = 0;
    while pos + 27 <= data.len() && &data[pos..pos + 4] == b"OggS" {
        let n_segments = data[pos + 26] as usize;
        if pos + 27 + n_segments > data.len() {
            break;
        }
        let body: usize = data[pos + 27..pos + 27 + n_segments]
            .iter()
            .map(|&b| b as usize)
            .sum();
        let end = (pos + 27 + n_segments + body).min(data.len());
        chunks.push(Chunk {
            start: pos,
            end,
            size_field: Some(le(pos + 26, 1)),
        });
        fields.extend([
            le(pos + 5, 1),
            le(pos + 6, 8),
            le(pos + 14, 4),
            le(pos + 18, 4),
        ]);
        fields.extend((0..n_segments.min(4)).map(|k| le(pos + 27 + k, 1)));
        let packet = pos + 27 + n_segments;
        if data.get(packet..packet + 7) == Some(b"\x01vorbis") {
            // Identification header: channels, rate, bit rates, block sizes.
            fields.extend([le(packet + 11, 1), le(packet + 12, 4), le(packet + 16, 4)]);
            fields.extend([le(packet + 28, 1), le(packet + 29, 1)]);
        }
        pos = end;
    }
    (chunks, fields)
}

/// Ogg page checksum: CRC-32 with polynomial 0x04C11DB7, not reflected.
fn fix_ogg_crcs(data: &mut [u8]) {
    let (chunks, _) = ogg(data);
    for c in chunks {
        data[c.start + 22..c.start + 26].fill(0);
        let mut crc = 0u32;
        for &b in &data[c.start..c.end] {
            crc ^= u32::from(b) << 24;
            for _ in 0..8 {
                crc = if crc & 0x8000_0000 != 0 {
                    (crc << 1) ^ 0x04C1_1DB7
                } else {
                    crc << 1
                };
            }
        }
        data[c.start + 22..c.start + 26].copy_from_slice(&crc.to_le_bytes());
    }
}

const MP4_CONTAINERS: [&[u8; 4]; 10] = [
    b"moov", b"trak", b"mdia", b"minf", b"stbl", b"udta", b"edts", b"dinf", b"mvex", b"moof",
];

fn mp4_atoms(
    data: &[u8],
    start: usize,
    end: usize,
    depth: usize,
    chunks: &mut Vec<Chunk>,
    fields: &mut Vec<Field>,
) {
    let mut pos = start;
    while pos + 8 <= end && depth < 8 {
        let size = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        if size < 8 {
            break;
        }
        let atom_end = (pos + size).min(end);
        chunks.push(Chunk {
            start: pos,
            end: atom_end,
            size_field: Some(be(pos, 4)),
        });
        let kind: &[u8; 4] = data[pos + 4..pos + 8].try_into().unwrap();
        if MP4_CONTAINERS.contains(&kind) {
            mp4_atoms(data, pos + 8, atom_end, depth + 1, chunks, fields);
        } else if kind == b"stsd" {
            mp4_atoms(data, pos + 16, atom_end, depth + 1, chunks, fields);
        } else if kind == b"mp4a" {
            // Sample entry: channels, bits, rate (16.16), then children (esds).
            fields.extend([be(pos + 24, 2), be(pos + 26, 2), be(pos + 32, 4)]);
            mp4_atoms(data, pos + 36, atom_end, depth + 1, chunks, fields);
        } else {
            // Leaf atoms (mdhd timescale, stsz/stco/stts counts, ...): every
            // 32-bit word is a field worth rewriting.
            fields.extend(
                (pos + 8..atom_end.saturating_sub(3))
                    .step_by(4)
                    .map(|o| be(o, 4)),
            );
        }
        pos = atom_end;
    }
}

fn mp3(data: &[u8]) -> (Vec<Chunk>, Vec<Field>) {
    let mut chunks = Vec::new();
    let mut fields = Vec::new();
    let mut pos = 0;
    if data.starts_with(b"ID3") && data.len() >= 10 {
        let size = data[6..10]
            .iter()
            .fold(0usize, |acc, &b| (acc << 7) | (b & 0x7F) as usize);
        let end = (10 + size).min(data.len());
        chunks.push(Chunk {
            start: 0,
            end,
            size_field: Some(be(6, 4)),
        });
        pos = end;
    }
    while pos + 4 <= data.len() {
        match mp3_frame_len(&data[pos..pos + 4]) {
            Some(len) => {
                let end = (pos + len).min(data.len());
                chunks.push(Chunk {
                    start: pos,
                    end,
                    size_field: None,
                });
                fields.extend([be(pos + 1, 1), be(pos + 2, 1), be(pos + 3, 1)]);
                if let Some(tag) = data[pos..end]
                    .windows(4)
                    .position(|w| w == b"Xing" || w == b"Info")
                {
                    fields.extend([be(pos + tag + 4, 4), be(pos + tag + 8, 4)]);
                }
                pos = end;
            }
            None => pos += 1,
        }
    }
    (chunks, fields)
}

/// Length of the MPEG audio layer III frame with header `h`, if it is one.
fn mp3_frame_len(h: &[u8]) -> Option<usize> {
    if h[0] != 0xFF || h[1] & 0xE0 != 0xE0 || (h[1] >> 1) & 3 != 1 {
        return None;
    }
    let mpeg1 = (h[1] >> 3) & 3 == 3;
    let bitrate_index = (h[2] >> 4) as usize;
    let rate_index = ((h[2] >> 2) & 3) as usize;
    if bitrate_index == 0 || bitrate_index == 15 || rate_index == 3 {
        return None;
    }
    const V1: [usize; 15] = [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ];
    const V2: [usize; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
    let version = (h[1] >> 3) & 3;
    let base = [44100, 48000, 32000][rate_index];
    let rate = match version {
        3 => base,
        2 => base / 2,
        _ => base / 4,
    };
    let padding = ((h[2] >> 1) & 1) as usize;
    let (kbps, factor) = if mpeg1 {
        (V1[bitrate_index], 144)
    } else {
        (V2[bitrate_index], 72)
    };
    Some(factor * kbps * 1000 / rate + padding)
}

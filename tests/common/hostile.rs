//! A folder of hostile audio files: every format fixture damaged in the
//! ways real files get damaged (cut short, header wiped or cut, bits
//! flipped, garbage written over the middle), plus crafted WAV/FLAC headers
//! and samples that a decoder trusts or a model must not see.

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use soundclass::audio::{wav_bytes, WavEncoding};

use super::{repo_root, sine};

/// What a command must make of a hostile file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Reported by `data validate` with this problem. Decode-level problems
    /// (all but `too_short`, `silent`) make every other command skip it.
    Bad(&'static str),
    /// A usable clip: every command processes it.
    Good,
    /// Damage a decoder may recover from (lossy frames, a lost packet):
    /// reported or processed, never a crash.
    Either,
}

impl Expect {
    /// True when decoding commands (features, spectrogram, train) skip it.
    pub fn skipped_by_decoders(self) -> bool {
        matches!(self, Expect::Bad(p) if p != "too_short" && p != "silent")
    }
}

pub struct Hostile {
    pub path: PathBuf,
    pub expect: Expect,
}

/// Write the hostile set into `dir`; at least 60 files.
pub fn make_hostile_folder(dir: &Path) -> Vec<Hostile> {
    std::fs::create_dir_all(dir).unwrap();
    let mut out = Vec::new();
    let mut add = |name: &str, bytes: Vec<u8>, expect: Expect| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        out.push(Hostile { path, expect });
    };
    let formats = repo_root().join("tests/data/formats");
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(&formats)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    fixtures.sort();
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    for fixture in &fixtures {
        let name = fixture.file_name().unwrap().to_string_lossy().to_string();
        let data = std::fs::read(fixture).unwrap();
        let wav = name.ends_with(".wav");
        // Byte-count lengths (WAV data chunks, FLAC STREAMINFO) are exact.
        let exact = wav || name.ends_with(".flac");
        // Damaged PCM is noise, but damaged floats may be any value.
        let lossy = if wav && !name.starts_with("float") {
            Expect::Good
        } else {
            Expect::Either
        };
        // 85% keeps FLAC's metadata (8 KiB of padding) and cuts its frames.
        let cut = data[..data.len() * 85 / 100].to_vec();
        add(
            &format!("cut85_{name}"),
            cut,
            if exact {
                Expect::Bad("truncated")
            } else {
                Expect::Either
            },
        );
        add(
            &format!("head30_{name}"),
            data[..30].to_vec(),
            Expect::Either,
        );
        let mut wiped = data.clone();
        wiped[..64].fill(0);
        add(&format!("wiped_header_{name}"), wiped, Expect::Either);
        let mut flipped = data.clone();
        let body = data.len() / 4..data.len();
        for _ in 0..20 {
            let i = rng.random_range(body.clone());
            flipped[i] ^= 1 << rng.random_range(0..8);
        }
        add(&format!("bitflips_{name}"), flipped, lossy);
        let mut garbage = data.clone();
        let mid = data.len() / 2;
        for b in &mut garbage[mid..(mid + 512).min(data.len())] {
            *b = rng.random();
        }
        add(&format!("garbage_{name}"), garbage, lossy);
    }
    crafted_wavs(&mut add);
    crafted_flacs(&formats, &mut add);
    out
}

fn crafted_wavs(add: &mut impl FnMut(&str, Vec<u8>, Expect)) {
    let tone = sine(440.0, 16000, 0.5, 0.5);
    let pcm = || wav_bytes(&tone, 16000, 1, WavEncoding::Pcm16);
    let with = |offset: usize, value: &[u8]| {
        let mut b = pcm();
        b[offset..offset + value.len()].copy_from_slice(value);
        b
    };
    let unreadable = Expect::Bad("unreadable");
    let implausible = Expect::Bad("implausible");
    add("rate_0.wav", with(24, &0u32.to_le_bytes()), unreadable);
    add("rate_1hz.wav", with(24, &1u32.to_le_bytes()), implausible);
    add(
        "rate_1mhz.wav",
        with(24, &1_000_000u32.to_le_bytes()),
        implausible,
    );
    add(
        "rate_max.wav",
        with(24, &u32::MAX.to_le_bytes()),
        implausible,
    );
    add(
        "block_align_0.wav",
        with(32, &0u16.to_le_bytes()),
        unreadable,
    );
    add(
        "block_align_lies.wav",
        with(32, &7u16.to_le_bytes()),
        unreadable,
    );
    add("channels_0.wav", with(22, &0u16.to_le_bytes()), unreadable);
    add(
        "channels_65535.wav",
        with(22, &u16::MAX.to_le_bytes()),
        unreadable,
    );
    add("bits_0.wav", with(34, &0u16.to_le_bytes()), unreadable);
    add("fmt_size_0.wav", with(16, &0u32.to_le_bytes()), unreadable);
    let mut claims_4gb = with(40, &(u32::MAX - 64).to_le_bytes());
    claims_4gb[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    add("data_claims_4gb.wav", claims_4gb, Expect::Bad("truncated"));
    add(
        "data_size_lies.wav",
        with(40, &(u32::MAX - 64).to_le_bytes()),
        unreadable,
    );
    // Streaming encoders leave both sizes at their placeholder.
    let mut streaming = with(40, &u32::MAX.to_le_bytes());
    streaming[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    add("data_size_streaming.wav", streaming, Expect::Good);
    add(
        "riff_size_0.wav",
        with(4, &0u32.to_le_bytes()),
        Expect::Either,
    );
    add("no_data_chunk.wav", pcm()[..36].to_vec(), unreadable);
    let float = |samples: &[f32]| wav_bytes(samples, 16000, 1, WavEncoding::Float32);
    add("float_1e30.wav", float(&[1e30; 8000]), implausible);
    let loud: Vec<f32> = tone.iter().map(|s| s * 40.0).collect();
    add("float_clipping_x40.wav", float(&loud), implausible);
    add("float_dc_only.wav", float(&[0.5; 8000]), implausible);
    let mut nan = tone.clone();
    nan[4000] = f32::NAN;
    add("float_nan.wav", float(&nan), Expect::Bad("non_finite"));
    add("all_zero.wav", float(&[0.0; 8000]), Expect::Bad("silent"));
    add(
        "pcm_10ms.wav",
        wav_bytes(&tone[..160], 16000, 1, WavEncoding::Pcm16),
        Expect::Bad("too_short"),
    );
    add("zero_bytes.wav", Vec::new(), Expect::Bad("empty"));
    add("text.mp3", b"not audio at all\n".repeat(50), unreadable);
    let eight: Vec<f32> = tone.iter().flat_map(|&s| [s; 8]).collect();
    add(
        "eight_channels.wav",
        wav_bytes(&eight, 16000, 8, WavEncoding::Pcm16),
        Expect::Good,
    );
    add(
        "rate_8k.wav",
        wav_bytes(&sine(440.0, 8000, 0.5, 0.5), 8000, 1, WavEncoding::Pcm16),
        Expect::Good,
    );
    let mut two_fmt = pcm()[..36].to_vec();
    two_fmt.extend_from_slice(&pcm()[12..]);
    add("fmt_chunk_twice.wav", two_fmt, Expect::Either);
}

fn crafted_flacs(formats: &Path, add: &mut impl FnMut(&str, Vec<u8>, Expect)) {
    let flac = std::fs::read(formats.join("tone.flac")).unwrap();
    // STREAMINFO starts at byte 8; its sample rate is the top 20 bits of
    // bytes 18..21, the channel count the next 3 bits.
    let mut rate0 = flac.clone();
    rate0[18] = 0;
    rate0[19] = 0;
    rate0[20] &= 0x0F;
    add("flac_rate_0.flac", rate0, Expect::Bad("unreadable"));
    let mut block0 = flac.clone();
    block0[8..12].fill(0);
    add("flac_block_size_0.flac", block0, Expect::Bad("unreadable"));
    let mut total_lies = flac;
    total_lies[22..26].copy_from_slice(&u32::MAX.to_be_bytes());
    add(
        "flac_total_samples_lie.flac",
        total_lies,
        Expect::Bad("truncated"),
    );
}

//! Length and count fields of FLAC, Ogg and MP4 files, checked against the
//! file's size before a decoder trusts them. symphonia allocates what these
//! fields say up front (a Vorbis comment of 4 GiB, an MP4 sample table of
//! 2^32 entries), and an allocation the machine cannot serve aborts the
//! process, which no guard can catch. Found by `tests/fuzz_decode.rs`.

use std::io::{Read, Seek, SeekFrom};

type Check = Result<(), String>;

/// Largest MP4 `moov` (or `moof`) read for checking: its tables are a few
/// bytes per packet, so this is hours of audio.
const MAX_TABLE_ATOM: u64 = 64 << 20;
/// How much of an Ogg file is searched for the Vorbis comment header.
const OGG_HEAD: usize = 256 << 10;

fn read_at<S: Read + Seek + ?Sized>(
    source: &mut S,
    pos: u64,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    source.seek(SeekFrom::Start(pos))?;
    super::header::read_up_to(source, buf)
}

fn u32_be(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 4)
        .map(|s| u64::from(u32::from_be_bytes(s.try_into().expect("4 bytes"))))
}

fn u32_le(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 4)
        .map(|s| u64::from(u32::from_le_bytes(s.try_into().expect("4 bytes"))))
}

/// ID3v2 (before MP3 frames, and in some other files): the tag inside the
/// file and every frame inside the tag.
pub fn check_id3v2<S: Read + Seek + ?Sized>(source: &mut S, file_len: u64) -> Check {
    let mut head = [0u8; 10];
    if read_at(source, 0, &mut head).map_err(|e| e.to_string())? < 10 || &head[0..3] != b"ID3" {
        return Ok(());
    }
    let (version, flags) = (head[3], head[5]);
    let tag_len = synchsafe(&head[6..10]) + if flags & 0x10 != 0 { 10 } else { 0 };
    if 10 + tag_len > file_len {
        return Err(format!(
            "header: ID3v2 tag claims {tag_len} bytes, the file has {}",
            file_len - 10
        ));
    }
    let mut tag = vec![0u8; tag_len as usize];
    read_at(source, 10, &mut tag).map_err(|e| e.to_string())?;
    let mut at = 0usize;
    if flags & 0x40 != 0 && version >= 3 {
        // Extended header: v2.4 counts itself (synchsafe), v2.3 does not.
        at = match version {
            3 => 4 + u32_be(&tag, 0).unwrap_or(0) as usize,
            _ => synchsafe(tag.get(0..4).unwrap_or(&[0; 4])) as usize,
        };
    }
    let (id_len, size_len) = if version == 2 { (3, 3) } else { (4, 4) };
    let header = if version == 2 { 6 } else { 10 };
    while at + header <= tag.len() && tag[at] != 0 {
        let size_bytes = &tag[at + id_len..at + id_len + size_len];
        let size = match version {
            2 => u64::from(u32::from_be_bytes([
                0,
                size_bytes[0],
                size_bytes[1],
                size_bytes[2],
            ])),
            3 => u32_be(size_bytes, 0).unwrap_or(0),
            _ => synchsafe(size_bytes),
        };
        let left = (tag.len() - at - header) as u64;
        if size > left {
            return Err(format!(
                "header: ID3v2 frame `{}` claims {size} bytes, {left} remain in the tag",
                String::from_utf8_lossy(&tag[at..at + id_len]).escape_debug()
            ));
        }
        at += header + size as usize;
    }
    Ok(())
}

/// A 28-bit ID3v2 "synchsafe" integer (7 bits per byte).
fn synchsafe(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0, |acc, &b| (acc << 7) | u64::from(b & 0x7F))
}

/// FLAC: metadata blocks inside the file, and the Vorbis comment block's
/// lengths inside the block.
pub fn check_flac<S: Read + Seek + ?Sized>(source: &mut S, file_len: u64) -> Check {
    let mut pos = 4u64;
    loop {
        let mut head = [0u8; 4];
        if read_at(source, pos, &mut head).map_err(|e| e.to_string())? < 4 {
            return Ok(());
        }
        let kind = head[0] & 0x7F;
        let len = u64::from(u32::from_be_bytes([0, head[1], head[2], head[3]]));
        if pos + 4 + len > file_len {
            return Err(format!(
                "header: FLAC metadata block at byte {pos} claims {len} bytes, the file has {}",
                file_len.saturating_sub(pos + 4)
            ));
        }
        if kind == 0 && len >= 18 {
            let mut info = [0u8; 18];
            read_at(source, pos + 4, &mut info).map_err(|e| e.to_string())?;
            let rate = (u32::from(info[10]) << 12)
                | (u32::from(info[11]) << 4)
                | (u32::from(info[12]) >> 4);
            if rate == 0 {
                return Err("header: sample rate 0 Hz".into());
            }
        }
        if kind == 4 || kind == 6 {
            let mut block = vec![0u8; len as usize];
            read_at(source, pos + 4, &mut block).map_err(|e| e.to_string())?;
            if kind == 4 {
                check_vorbis_comment(&block, len)?;
            } else {
                check_flac_picture(&block)?;
            }
        }
        if head[0] & 0x80 != 0 {
            return Ok(());
        }
        pos += 4 + len;
    }
}

/// A FLAC PICTURE block: its MIME type, description and picture data
/// lengths inside the block.
fn check_flac_picture(block: &[u8]) -> Check {
    let mut at = 4usize;
    for what in ["MIME type", "description"] {
        let Some(len) = u32_be(block, at) else {
            return Ok(());
        };
        at += 4;
        let left = block.len().saturating_sub(at) as u64;
        if len > left {
            return Err(format!(
                "header: FLAC picture {what} claims {len} bytes, {left} remain"
            ));
        }
        at += len as usize;
    }
    // Width, height, depth, colours, then the picture's length.
    at += 16;
    match u32_be(block, at) {
        Some(len) if len > block.len().saturating_sub(at + 4) as u64 => Err(format!(
            "header: FLAC picture data claims {len} bytes, {} remain",
            block.len().saturating_sub(at + 4)
        )),
        _ => Ok(()),
    }
}

/// A Vorbis comment (vendor string, count, comments) whose first bytes are
/// `bytes` and which cannot be longer than `room`: every length must fit.
/// In Ogg the comment may continue on a later page; only `bytes` (its first
/// page) are walked.
fn check_vorbis_comment(bytes: &[u8], room: u64) -> Check {
    let mut at = 0u64;
    let field = |at: &mut u64, what: &str, skip_body: bool| -> Result<Option<u64>, String> {
        let Some(value) = u32_le(bytes, *at as usize) else {
            return Ok(None);
        };
        *at += 4;
        if skip_body {
            let left = room.saturating_sub(*at);
            if value > left {
                return Err(format!(
                    "header: Vorbis comment {what} claims {value} bytes, {left} remain"
                ));
            }
            *at += value;
        }
        Ok(Some(value))
    };
    if field(&mut at, "vendor string", true)?.is_none() {
        return Ok(());
    }
    let Some(count) = field(&mut at, "count", false)? else {
        return Ok(());
    };
    for _ in 0..count {
        if field(&mut at, "entry", true)?.is_none() {
            break;
        }
    }
    Ok(())
}

/// Ogg: the lengths of every Vorbis comment header, on the page it starts
/// on. Pages in the first 256 KiB are searched whole; after that (chained
/// streams start new headers on a fresh page) only page starts are read,
/// so a long file costs a few bytes per page.
pub fn check_ogg<S: Read + Seek + ?Sized>(source: &mut S, file_len: u64) -> Check {
    let mut pos = 0u64;
    let mut header = [0u8; 27 + 255];
    while pos + 27 <= file_len {
        let got = read_at(source, pos, &mut header).map_err(|e| e.to_string())?;
        if got < 27 || &header[0..4] != b"OggS" || got < 27 + header[26] as usize {
            return Ok(());
        }
        let segments = header[26] as usize;
        let body_start = pos + 27 + segments as u64;
        let body_len: u64 = header[27..27 + segments]
            .iter()
            .map(|&b| u64::from(b))
            .sum();
        let wanted = if pos < OGG_HEAD as u64 {
            body_len
        } else {
            body_len.min(7)
        };
        let mut body = vec![0u8; wanted as usize];
        let got = read_at(source, body_start, &mut body).map_err(|e| e.to_string())?;
        body.truncate(got);
        let mut from = 0usize;
        while let Some(offset) = body[from..].windows(7).position(|w| w == b"\x03vorbis") {
            let start = from + offset + 7;
            if wanted < body_len {
                // Only the page start was read: read the page to check it.
                body = vec![0u8; body_len as usize];
                let got = read_at(source, body_start, &mut body).map_err(|e| e.to_string())?;
                body.truncate(got);
            }
            let room = file_len - (body_start + start as u64).min(file_len);
            check_vorbis_comment(&body[start.min(body.len())..], room)?;
            from = start;
        }
        pos = body_start + body_len;
    }
    Ok(())
}

/// Atoms that hold other atoms (and `meta`, which holds them after its
/// 4 bytes of version and flags; every child of `ilst` holds `data` atoms).
const CONTAINERS: [&[u8; 4]; 12] = [
    b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"moof", b"traf", b"udta",
    b"ilst", b"meta",
];

/// MP4/M4A: every atom inside its parent; sample tables no longer than
/// their atom; no sample larger than the file.
pub fn check_mp4<S: Read + Seek + ?Sized>(source: &mut S, file_len: u64) -> Check {
    let mut pos = 0u64;
    let mut seen_tables = false;
    while pos + 8 <= file_len {
        let mut head = [0u8; 16];
        read_at(source, pos, &mut head).map_err(|e| e.to_string())?;
        let (header_len, size) = atom_size(&head, file_len - pos)?;
        let kind: [u8; 4] = head[4..8].try_into().expect("4 bytes");
        if pos + size > file_len {
            return Err(atom_error(&kind, pos, size, file_len - pos));
        }
        let tables = &kind == b"moov" || &kind == b"moof";
        // Size 0 runs to the end of the file: only the last atom may, and
        // the sample tables must come before it. symphonia reads on past
        // such an atom, so a table hidden behind it would go unchecked.
        if u32_be(&head, 0) == Some(0) && !tables && !seen_tables {
            return Err(format!(
                "header: MP4 atom `{}` at byte {pos} runs to the end of the file before any `moov`",
                String::from_utf8_lossy(&kind).escape_debug()
            ));
        }
        seen_tables |= tables;
        if tables {
            if size > MAX_TABLE_ATOM {
                return Err(format!(
                    "header: MP4 `{}` atom of {size} bytes (at most {MAX_TABLE_ATOM})",
                    String::from_utf8_lossy(&kind)
                ));
            }
            let mut body = vec![0u8; (size - header_len) as usize];
            read_at(source, pos + header_len, &mut body).map_err(|e| e.to_string())?;
            check_atoms(&body, pos + header_len, file_len, 1, &kind)?;
        }
        pos += size;
    }
    Ok(())
}

/// `(header length, atom length)` of the atom whose first bytes are
/// `head`, with `room` bytes left in its parent.
fn atom_size(head: &[u8], room: u64) -> Result<(u64, u64), String> {
    let kind: [u8; 4] = head[4..8].try_into().expect("4 bytes");
    match u32_be(head, 0).unwrap_or(0) {
        // Runs to the end of its parent.
        0 => Ok((8, room)),
        1 => {
            let large = head
                .get(8..16)
                .map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
                .unwrap_or(0);
            if large < 16 {
                return Err(atom_error(&kind, 0, large, room));
            }
            Ok((16, large))
        }
        size if size < 8 => Err(atom_error(&kind, 0, size, room)),
        size => Ok((8, size)),
    }
}

fn atom_error(kind: &[u8; 4], pos: u64, size: u64, room: u64) -> String {
    format!(
        "header: MP4 atom `{}` at byte {pos} claims {size} bytes, {room} remain",
        String::from_utf8_lossy(kind).escape_debug()
    )
}

fn check_atoms(body: &[u8], base: u64, file_len: u64, depth: usize, parent: &[u8; 4]) -> Check {
    let mut at = 0usize;
    while at + 8 <= body.len() {
        let room = (body.len() - at) as u64;
        let (header_len, size) = atom_size(&body[at..], room)?;
        let kind: [u8; 4] = body[at + 4..at + 8].try_into().expect("4 bytes");
        if size > room {
            return Err(atom_error(&kind, base + at as u64, size, room));
        }
        let start = at + header_len as usize;
        let payload = &body[start..at + size as usize];
        let offset = base + start as u64;
        if &kind == b"meta" && depth < 16 {
            // MP4's `meta` is a full box (4 bytes of version and flags, then
            // `hdlr`); QuickTime's starts with its `hdlr` atom directly.
            let skip = if payload.get(4..8) == Some(b"hdlr") {
                0
            } else {
                4
            };
            let children = payload.get(skip..).unwrap_or_default();
            check_atoms(children, offset + skip as u64, file_len, depth + 1, &kind)?;
        } else if (CONTAINERS.contains(&&kind) || parent == b"ilst") && depth < 16 {
            check_atoms(payload, offset, file_len, depth + 1, &kind)?;
        } else if let Some(skip) = children_offset(&kind, payload).filter(|_| depth < 16) {
            let children = payload.get(skip..).unwrap_or_default();
            check_atoms(children, offset + skip as u64, file_len, depth + 1, &kind)?;
        } else {
            check_table(&kind, payload, file_len)?;
        }
        at += size as usize;
    }
    Ok(())
}

/// Audio sample entries inside `stsd`, whose children (`esds`, ...) follow
/// a fixed header.
const SAMPLE_ENTRIES: [&[u8; 4]; 5] = [b"mp4a", b"alac", b"fLaC", b"Opus", b"enca"];

/// Where the children of a `stsd` atom or of a sample entry start in its
/// payload, if `kind` is one of those.
fn children_offset(kind: &[u8; 4], payload: &[u8]) -> Option<usize> {
    if kind == b"stsd" {
        return Some(8);
    }
    if !SAMPLE_ENTRIES.contains(&kind) {
        return None;
    }
    // QuickTime sound description versions 1 and 2 add 16 and 36 bytes.
    let version = payload.get(8..10).map(|v| u16::from_be_bytes([v[0], v[1]]));
    Some(
        28 + match version {
            Some(1) => 16,
            Some(2) => 36,
            _ => 0,
        },
    )
}

/// The MPEG-4 descriptors of an `esds` atom: each one's length inside its
/// parent's.
fn check_esds(payload: &[u8]) -> Check {
    check_descriptors(payload.get(4..).unwrap_or_default(), 0)
}

fn check_descriptors(bytes: &[u8], depth: usize) -> Check {
    let mut at = 0usize;
    while at < bytes.len() && depth < 8 {
        let tag = bytes[at];
        let mut len = 0u64;
        let mut header = 1;
        for k in 0..4 {
            let Some(&b) = bytes.get(at + 1 + k) else {
                return Ok(());
            };
            len = (len << 7) | u64::from(b & 0x7F);
            header += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
        let start = at + header;
        let left = bytes.len().saturating_sub(start) as u64;
        if len > left {
            return Err(format!(
                "header: MP4 descriptor (tag {tag}) claims {len} bytes, {left} remain"
            ));
        }
        let body = &bytes[start..start + len as usize];
        // ES descriptor: ID, flags and their optional fields, then children;
        // decoder config: 13 bytes, then children.
        let children = match tag {
            3 => body.get(2).map(|&flags| {
                let url = if flags & 0x40 != 0 {
                    1 + body
                        .get(3 + 2 * usize::from(flags >> 7))
                        .copied()
                        .unwrap_or(0) as usize
                } else {
                    0
                };
                3 + 2 * usize::from(flags >> 7) + url + 2 * usize::from((flags >> 5) & 1)
            }),
            4 => Some(13),
            _ => None,
        };
        if let Some(skip) = children {
            check_descriptors(body.get(skip..).unwrap_or_default(), depth + 1)?;
        }
        at = start + len as usize;
    }
    Ok(())
}

/// Entries of the sample tables symphonia reserves room for up front.
fn check_table(kind: &[u8; 4], payload: &[u8], file_len: u64) -> Check {
    let entry_len = match kind {
        b"stco" | b"stss" => 4,
        b"co64" | b"stts" | b"ctts" => 8,
        b"stsc" => 12,
        b"stsz" => return check_stsz(payload, file_len),
        b"esds" => return check_esds(payload),
        b"hdlr" if payload.len() < 24 => {
            return Err(format!(
                "header: MP4 `hdlr` atom of {} bytes, at least 24",
                payload.len() + 8
            ))
        }
        _ => return Ok(()),
    };
    let count = u32_be(payload, 4).unwrap_or(0);
    let room = payload.len().saturating_sub(8) as u64;
    if count * entry_len > room {
        return Err(format!(
            "header: MP4 `{}` table claims {count} entries, its atom holds {}",
            String::from_utf8_lossy(kind),
            room / entry_len
        ));
    }
    Ok(())
}

fn check_stsz(payload: &[u8], file_len: u64) -> Check {
    let fixed = u32_be(payload, 4).unwrap_or(0);
    let count = u32_be(payload, 8).unwrap_or(0);
    if fixed > file_len {
        return Err(format!(
            "header: MP4 samples of {fixed} bytes in a {file_len}-byte file"
        ));
    }
    if fixed != 0 {
        return Ok(());
    }
    let room = payload.len().saturating_sub(12) as u64;
    if count * 4 > room {
        return Err(format!(
            "header: MP4 `stsz` table claims {count} entries, its atom holds {}",
            room / 4
        ));
    }
    let largest = (0..count as usize)
        .filter_map(|i| u32_be(payload, 12 + 4 * i))
        .max()
        .unwrap_or(0);
    if largest > file_len {
        return Err(format!(
            "header: MP4 sample of {largest} bytes in a {file_len}-byte file"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn atom(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut a = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        a.extend_from_slice(kind);
        a.extend_from_slice(payload);
        a
    }

    fn mp4(stbl_children: &[u8]) -> Vec<u8> {
        let stbl = atom(b"stbl", stbl_children);
        let moov = atom(
            b"moov",
            &atom(b"trak", &atom(b"mdia", &atom(b"minf", &stbl))),
        );
        let mut file = atom(b"ftyp", b"M4A \0\0\0\0");
        file.extend(moov);
        file
    }

    fn check(bytes: &[u8]) -> Check {
        check_mp4(&mut Cursor::new(bytes), bytes.len() as u64)
    }

    #[test]
    fn mp4_tables_must_fit_their_atoms() {
        let table = |count: u32, entries: usize| {
            let mut p = vec![0u8; 4];
            p.extend_from_slice(&count.to_be_bytes());
            p.extend(vec![0u8; entries * 12]);
            atom(b"stsc", &p)
        };
        check(&mp4(&table(2, 2))).unwrap();
        let e = check(&mp4(&table(0x8000_0000, 2))).unwrap_err();
        assert!(
            e.contains("`stsc` table claims 2147483648 entries, its atom holds 2"),
            "{e}"
        );
        let mut stsz = vec![0u8; 8];
        stsz.extend_from_slice(&1u32.to_be_bytes());
        stsz.extend_from_slice(&u32::MAX.to_be_bytes());
        let e = check(&mp4(&atom(b"stsz", &stsz))).unwrap_err();
        assert!(e.contains("sample of 4294967295 bytes"), "{e}");
    }

    #[test]
    fn mp4_atoms_must_fit_their_parent() {
        let mut file = mp4(&[]);
        let moov = file.len() - 40;
        file[moov..moov + 4].copy_from_slice(&1000u32.to_be_bytes());
        let e = check(&file).unwrap_err();
        assert!(
            e.contains("atom `moov`") && e.contains("claims 1000 bytes"),
            "{e}"
        );
    }

    #[test]
    fn vorbis_comment_lengths_must_fit() {
        let mut c = 3u32.to_le_bytes().to_vec();
        c.extend_from_slice(b"abc");
        c.extend_from_slice(&1u32.to_le_bytes());
        c.extend_from_slice(&2u32.to_le_bytes());
        c.extend_from_slice(b"xy");
        check_vorbis_comment(&c, c.len() as u64).unwrap();
        let mut bad = c.clone();
        bad[11..15].copy_from_slice(&0x2000_0000u32.to_le_bytes());
        let e = check_vorbis_comment(&bad, bad.len() as u64).unwrap_err();
        assert!(e.contains("entry claims 536870912 bytes, 2 remain"), "{e}");
    }
}

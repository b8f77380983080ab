//! The boundary every decode crosses. Decoders are third-party code fed
//! hostile bytes: a panic inside one must become that clip's error, and a
//! decoder that loops without getting through the file must be stopped. So
//! each decode runs under [`guarded`], which catches panics (keeping their
//! message off stderr), reads the file through a [`GuardedSource`] that
//! counts and caps the bytes read, and carries a [`DecodeBudget`] derived
//! from the file's real size, never from what its header claims.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::io::{Read, Seek, SeekFrom};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once};

use symphonia::core::io::MediaSource;

use crate::error::{Error, Result};

/// Most frames (per channel) a file may decode to per byte it holds. Real
/// codecs stay far below: 8-bit PCM gives 1, MP3 and Vorbis at their lowest
/// bit rates about 20, FLAC of very quiet material a few hundred.
pub const MAX_FRAMES_PER_BYTE: u64 = 512;
/// Frames every file may decode to whatever its size.
const MIN_FRAME_BUDGET: u64 = 1 << 20;
/// How many times over a decode may read the file (seeks re-read a little).
const MAX_READS_OF_FILE: u64 = 16;
/// Packets in a row that neither read new bytes nor produce audio before a
/// decoder is declared stuck. Larger than any run of empty packets that a
/// buffered read (64 KiB at most) can hold.
pub const MAX_STALLED_PACKETS: u32 = 1 << 17;

/// Limits of one decode, from the file's size on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeBudget {
    pub file_bytes: u64,
    /// Most frames per channel the decode may produce.
    pub max_frames: u64,
    /// Most bytes it may read from the file, seeks included.
    pub max_bytes_read: u64,
}

impl DecodeBudget {
    pub fn for_file_size(file_bytes: u64) -> Self {
        Self {
            file_bytes,
            max_frames: MIN_FRAME_BUDGET.max(file_bytes.saturating_mul(MAX_FRAMES_PER_BYTE)),
            max_bytes_read: (1 << 20) + file_bytes.saturating_mul(MAX_READS_OF_FILE),
        }
    }
}

/// A source read through a byte counter: a decoder that keeps re-reading
/// (a seek loop) runs into `max_bytes_read` and gets an I/O error.
pub struct GuardedSource {
    inner: Box<dyn MediaSource>,
    len: u64,
    bytes_read: Arc<AtomicU64>,
    max_bytes_read: u64,
}

impl GuardedSource {
    pub fn new(inner: Box<dyn MediaSource>, budget: &DecodeBudget) -> Self {
        Self {
            inner,
            len: budget.file_bytes,
            bytes_read: Arc::new(AtomicU64::new(0)),
            max_bytes_read: budget.max_bytes_read,
        }
    }

    /// A handle on the count of bytes read so far.
    pub fn counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.bytes_read)
    }
}

impl Read for GuardedSource {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.bytes_read.load(Ordering::Relaxed) > self.max_bytes_read {
            return Err(std::io::Error::other(format!(
                "decoder read more than {} bytes of a {}-byte file without finishing",
                self.max_bytes_read, self.len
            )));
        }
        let n = self.inner.read(buf)?;
        self.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl Seek for GuardedSource {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

impl MediaSource for GuardedSource {
    fn is_seekable(&self) -> bool {
        self.inner.is_seekable()
    }

    fn byte_len(&self) -> Option<u64> {
        Some(self.len)
    }
}

thread_local! {
    /// Depth of [`guarded`] calls on this thread; the panic hook stays quiet
    /// while it is above 0 and leaves the message here instead.
    static GUARD_DEPTH: Cell<u32> = const { Cell::new(0) };
    static LAST_PANIC_LOCATION: RefCell<Option<(String, u32)>> = const { RefCell::new(None) };
}

static INSTALL_HOOK: Once = Once::new();

/// Replace the panic hook once by one that is silent inside [`guarded`]
/// (the panic becomes a clip's error, printed by whoever reports it) and
/// the previous hook everywhere else.
fn install_quiet_hook() {
    INSTALL_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if GUARD_DEPTH.with(Cell::get) > 0 {
                let location = info.location().map(|l| (l.file().to_owned(), l.line()));
                LAST_PANIC_LOCATION.with(|c| *c.borrow_mut() = location);
            } else {
                previous(info);
            }
        }));
    });
}

/// Run `decode` so that a panic inside it becomes `Error::DecoderPanic`
/// naming `path`; the rest of the process (other clips, rayon workers, the
/// training loader) carries on.
pub fn guarded<T>(path: &Path, decode: impl FnOnce() -> Result<T>) -> Result<T> {
    install_quiet_hook();
    GUARD_DEPTH.with(|d| d.set(d.get() + 1));
    let outcome = panic::catch_unwind(AssertUnwindSafe(decode));
    GUARD_DEPTH.with(|d| d.set(d.get() - 1));
    outcome.unwrap_or_else(|payload| {
        let location = LAST_PANIC_LOCATION.with(|c| c.borrow_mut().take());
        Err(Error::DecoderPanic {
            path: path.to_path_buf(),
            message: panic_message(payload.as_ref(), location.as_ref()),
        })
    })
}

fn panic_message(payload: &(dyn Any + Send), location: Option<&(String, u32)>) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    match location {
        // Only the crate's file name: enough to find it, short in a table.
        Some((file, line)) => {
            let short = match file.rfind("/src/") {
                Some(i) => &file[file[..i].rfind('/').map_or(0, |j| j + 1)..],
                None => file.as_str(),
            };
            format!("{text} (at {short}:{line})")
        }
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_the_clips_error_and_the_thread_goes_on() {
        let err = guarded(Path::new("x.wav"), || -> Result<()> {
            panic!("TimeBase cannot have 0 numerator or denominator")
        })
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("x.wav: decoder panicked: TimeBase"),
            "{text}"
        );
        assert!(text.contains("guard.rs"), "{text}");
        // Nested and later calls still work and return values.
        let ok = guarded(Path::new("y.wav"), || guarded(Path::new("z"), || Ok(3)));
        assert_eq!(ok.unwrap(), 3);
    }

    #[test]
    fn the_budget_grows_with_the_file_not_the_header() {
        let small = DecodeBudget::for_file_size(100);
        assert_eq!(small.max_frames, MIN_FRAME_BUDGET);
        let big = DecodeBudget::for_file_size(10 << 20);
        assert_eq!(big.max_frames, (10 << 20) * MAX_FRAMES_PER_BYTE);
        assert_eq!(big.max_bytes_read, (1 << 20) + 16 * (10 << 20));
    }
}

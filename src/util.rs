//! Small helpers shared by every module: atomic file writes, progress bars.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Component, Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use crate::error::{Error, Result};

/// Write a file so that readers see either the old content or the whole new
/// content, never a partial file: write a temporary file beside it, flush it
/// to disk, then rename it over the target.
pub fn atomic_write<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut BufWriter<&mut File>) -> std::io::Result<()>,
{
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    {
        let mut writer = BufWriter::new(tmp.as_file_mut());
        write(&mut writer).map_err(|e| Error::io(path, e))?;
        writer.flush().map_err(|e| Error::io(path, e))?;
    }
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// A CSV reader over a file read into memory.
pub type CsvReader = csv::Reader<std::io::Cursor<Vec<u8>>>;

/// Open a CSV file with a header row (fields trimmed when `trim`); returns
/// the reader, positioned at the first record, the header names, and the
/// file's line index for messages.
pub fn open_csv(path: &Path, trim: bool) -> Result<(CsvReader, Vec<String>, CsvLines)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let lines = CsvLines::new(path, &bytes);
    let mut reader = csv::ReaderBuilder::new()
        .trim(if trim {
            csv::Trim::All
        } else {
            csv::Trim::None
        })
        .from_reader(std::io::Cursor::new(bytes));
    let headers = reader
        .headers()
        .map_err(|e| lines.error(e))?
        .iter()
        .map(str::to_owned)
        .collect();
    Ok((reader, headers, lines))
}

/// Line numbers of a CSV file from byte offsets. The csv crate's own line
/// count is one short for records after a CRLF line end (it stops between
/// the `\r` and the `\n`), so lines are counted here from the bytes.
pub struct CsvLines {
    path: PathBuf,
    /// Offsets of every `\n`.
    newlines: Vec<u64>,
    /// Offsets of every `\r` directly followed by `\n`.
    crlf: Vec<u64>,
}

impl CsvLines {
    fn new(path: &Path, bytes: &[u8]) -> Self {
        let newlines: Vec<u64> = (0..bytes.len())
            .filter(|&i| bytes[i] == b'\n')
            .map(|i| i as u64)
            .collect();
        let crlf = newlines
            .iter()
            .filter(|&&n| n > 0 && bytes[n as usize - 1] == b'\r')
            .map(|&n| n - 1)
            .collect();
        Self {
            path: path.to_path_buf(),
            newlines,
            crlf,
        }
    }

    /// The 1-based line a record at `position` starts on.
    pub fn line(&self, position: Option<&csv::Position>) -> u64 {
        let Some(position) = position else { return 0 };
        let mut offset = position.byte();
        // A record "starting" on a line end really starts after it.
        if self.crlf.binary_search(&offset).is_ok() {
            offset += 2;
        } else if self.newlines.binary_search(&offset).is_ok() {
            offset += 1;
        }
        1 + self.newlines.partition_point(|&n| n < offset) as u64
    }

    /// A CSV parse error with its line.
    pub fn error(&self, e: csv::Error) -> Error {
        Error::Csv {
            path: self.path.clone(),
            line: self.line(e.position()),
            reason: e.to_string(),
        }
    }
}

/// Atomically write a string.
pub fn atomic_write_str(path: &Path, text: &str) -> Result<()> {
    atomic_write(path, |w| w.write_all(text.as_bytes()))
}

/// `path` expressed relative to `base` (both made absolute first), with
/// `..` where needed; falls back to the absolute path across drives.
pub fn relative_path(path: &Path, base: &Path) -> PathBuf {
    let path = absolute(path);
    let base = absolute(base);
    let p: Vec<Component> = path.components().collect();
    let b: Vec<Component> = base.components().collect();
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return path;
    }
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c.as_os_str());
    }
    out
}

/// Absolute, lexically normalised form of `path` (no filesystem access, so it
/// works for files that do not exist yet).
pub fn absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(path)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// A progress bar on stderr, hidden when `quiet` (e.g. `--json`) or when
/// stderr is not a terminal.
pub fn progress_bar(len: u64, message: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(message.to_string());
    bar
}

/// Linear-interpolated quantile of sorted values (numpy's default method).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Current UTC time as `YYYYMMDD-HHMMSS`, for run folder names.
pub fn utc_timestamp() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format_utc(seconds)
}

/// `YYYYMMDD-HHMMSS` of a Unix time (civil-from-days, proleptic Gregorian).
pub fn format_utc(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let rem = seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A `width x height` RGB buffer encoded as PNG.
pub fn rgb_png_bytes(width: usize, height: usize, rgb: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, width as u32, height as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(std::io::Error::other)?;
        writer
            .write_image_data(rgb)
            .map_err(std::io::Error::other)?;
    }
    Ok(bytes)
}

/// Write a `width x height` RGB buffer as a PNG, atomically.
pub fn write_rgb_png(path: &Path, width: usize, height: usize, rgb: &[u8]) -> Result<()> {
    let bytes = rgb_png_bytes(width, height, rgb).map_err(|e| Error::io(path, e))?;
    atomic_write(path, |w| std::io::Write::write_all(w, &bytes))
}

/// Mean and sample standard deviation (0 for fewer than two values).
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_format() {
        assert_eq!(super::format_utc(0), "19700101-000000");
        assert_eq!(super::format_utc(1_795_858_496), "20261128-093456");
    }

    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_path(Path::new("/a/b/c.wav"), Path::new("/a")),
            PathBuf::from("b/c.wav")
        );
        assert_eq!(
            relative_path(Path::new("/a/b/c.wav"), Path::new("/a/x")),
            PathBuf::from("../b/c.wav")
        );
    }

    #[test]
    fn quantiles_match_numpy_linear() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_sorted(&v, 0.5), 2.5);
        assert_eq!(quantile_sorted(&v, 0.0), 1.0);
        assert_eq!(quantile_sorted(&v, 1.0), 4.0);
        assert!((quantile_sorted(&v, 0.25) - 1.75).abs() < 1e-12);
    }

    #[test]
    fn atomic_write_replaces_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/x.txt");
        atomic_write_str(&p, "one").unwrap();
        atomic_write_str(&p, "two").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        let leftovers = std::fs::read_dir(p.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1);
    }
}

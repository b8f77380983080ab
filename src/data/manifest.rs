//! The manifest: a CSV with at least `path,label,split`. Other columns are
//! kept as they are; relative paths resolve against the manifest's folder.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::util::atomic_write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Val,
    Test,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Val, Split::Test];

    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Split {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "train" | "training" => Ok(Split::Train),
            "val" | "valid" | "validation" | "dev" => Ok(Split::Val),
            "test" | "eval" | "evaluation" => Ok(Split::Test),
            other => Err(format!("split `{other}` is not one of train, val, test")),
        }
    }
}

/// One row of a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    /// The path as written in the manifest.
    pub path: String,
    pub label: String,
    pub split: Split,
    /// Values of the extra columns, in [`Manifest::extra_columns`] order.
    pub extra: Vec<String>,
    /// Line of the manifest file the clip was read from, for messages
    /// (`None` for manifests built in memory).
    pub line: Option<u64>,
}

impl Clip {
    /// " (manifest line N)" when the line is known, for messages.
    pub fn line_note(&self) -> String {
        self.line
            .map(|l| format!(" (manifest line {l})"))
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Folder that relative clip paths resolve against.
    pub root: PathBuf,
    /// Columns beyond `path,label,split`, in file order.
    pub extra_columns: Vec<String>,
    pub clips: Vec<Clip>,
}

const REQUIRED: [&str; 3] = ["path", "label", "split"];

impl Manifest {
    pub fn new(root: impl Into<PathBuf>, extra_columns: Vec<String>) -> Self {
        Self {
            root: root.into(),
            extra_columns,
            clips: Vec::new(),
        }
    }

    /// Read and check a manifest file.
    pub fn load(path: &Path) -> Result<Self> {
        let (mut reader, headers, lines) = crate::util::open_csv(path, true)?;
        let mut index = [0usize; 3];
        for (slot, name) in index.iter_mut().zip(REQUIRED) {
            *slot = headers.iter().position(|h| h == name).ok_or_else(|| {
                Error::manifest(
                    path,
                    format!(
                        "missing required column `{name}` (found: {})",
                        headers.join(",")
                    ),
                )
            })?;
        }
        let extra_index: Vec<usize> = (0..headers.len()).filter(|i| !index.contains(i)).collect();
        let root = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let mut manifest = Manifest::new(
            root,
            extra_index.iter().map(|&i| headers[i].clone()).collect(),
        );
        let mut first_line_of: HashMap<String, u64> = HashMap::new();
        for record in reader.records() {
            let record = record.map_err(|e| lines.error(e))?;
            let line = lines.line(record.position());
            let row_error = |reason: String| Error::Csv {
                path: path.to_path_buf(),
                line,
                reason,
            };
            let field = |i: usize| record.get(i).unwrap_or("").to_string();
            let clip_path = field(index[0]);
            let label = field(index[1]);
            if clip_path.is_empty() {
                return Err(row_error("empty `path`".into()));
            }
            if label.is_empty() {
                return Err(row_error(format!("empty `label` for {clip_path}")));
            }
            let split = field(index[2]).parse::<Split>().map_err(row_error)?;
            // The same clip twice is counted twice, or sits in two splits
            // (leakage): never what the author meant.
            if let Some(first) = first_line_of.insert(clip_path.clone(), line) {
                return Err(row_error(format!(
                    "path `{clip_path}` is already listed on line {first}"
                )));
            }
            manifest.clips.push(Clip {
                path: clip_path,
                label,
                split,
                extra: extra_index.iter().map(|&i| field(i)).collect(),
                line: Some(line),
            });
        }
        Ok(manifest)
    }

    /// Absolute or root-relative location of a clip on disk.
    pub fn resolve(&self, clip: &Clip) -> PathBuf {
        let p = Path::new(&clip.path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.root.join(p)
        }
    }

    /// Value of an extra column for `clip`, if the manifest has that column.
    pub fn column<'a>(&self, clip: &'a Clip, name: &str) -> Option<&'a str> {
        self.extra_columns
            .iter()
            .position(|c| c == name)
            .and_then(|i| clip.extra.get(i))
            .map(String::as_str)
    }

    /// Sorted distinct labels.
    pub fn labels(&self) -> Vec<String> {
        let mut labels: Vec<String> = self.clips.iter().map(|c| c.label.clone()).collect();
        labels.sort();
        labels.dedup();
        labels
    }

    /// Write atomically as CSV: `path,label,split`, then the extra columns.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut buffer = Vec::new();
        {
            let mut writer = csv::Writer::from_writer(&mut buffer);
            let mut header: Vec<&str> = REQUIRED.to_vec();
            header.extend(self.extra_columns.iter().map(String::as_str));
            let to_io = |e: csv::Error| Error::io(path, std::io::Error::other(e));
            writer.write_record(&header).map_err(to_io)?;
            for clip in &self.clips {
                let mut row = vec![clip.path.as_str(), clip.label.as_str(), clip.split.as_str()];
                row.extend(clip.extra.iter().map(String::as_str));
                writer.write_record(&row).map_err(to_io)?;
            }
            writer.flush().map_err(|e| Error::io(path, e))?;
        }
        atomic_write(path, |w| std::io::Write::write_all(w, &buffer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_and_keeps_extra_columns() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.csv");
        std::fs::write(
            &p,
            "path,label,source_package,split\na/x.wav,Speech,pkg1,train\n/abs/y.wav,Music,pkg2,VALID\n",
        )
        .unwrap();
        let m = Manifest::load(&p).unwrap();
        assert_eq!(m.clips.len(), 2);
        assert_eq!(m.extra_columns, vec!["source_package"]);
        assert_eq!(m.column(&m.clips[0], "source_package"), Some("pkg1"));
        assert_eq!(m.clips[1].split, Split::Val);
        assert_eq!(m.resolve(&m.clips[0]), dir.path().join("a/x.wav"));
        assert_eq!(m.resolve(&m.clips[1]), PathBuf::from("/abs/y.wav"));
        let out = dir.path().join("out.csv");
        m.write(&out).unwrap();
        let again = Manifest::load(&out).unwrap();
        assert_eq!(again.clips, m.clips);
    }

    #[test]
    fn errors_name_file_column_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.csv");
        std::fs::write(&p, "path,label\nx.wav,Speech\n").unwrap();
        let e = Manifest::load(&p).unwrap_err().to_string();
        assert!(e.contains("bad.csv") && e.contains("`split`"), "{e}");
        std::fs::write(
            &p,
            "path,label,split\nx.wav,Speech,train\ny.wav,Music,holdout\n",
        )
        .unwrap();
        let e = Manifest::load(&p).unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("holdout"), "{e}");
    }

    fn load_text(text: &str) -> Result<Manifest> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.csv");
        std::fs::write(&p, text).unwrap();
        Manifest::load(&p)
    }

    #[test]
    fn bom_crlf_and_quoted_commas_are_read() {
        let m = load_text(
            "\u{feff}path,label,split\r\n\"a, b.wav\",Speech,train\r\n\"c.wav\",\"Music\",val\r\n",
        )
        .unwrap();
        assert_eq!(m.clips.len(), 2);
        assert_eq!(m.clips[0].path, "a, b.wav");
        assert_eq!(m.clips[1].label, "Music");
        assert_eq!(m.clips[0].line, Some(2));
        assert_eq!(m.clips[1].line, Some(3));
        let e = load_text("path,label,split\r\nx.wav,A,train\r\ny.wav,A\r\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3"), "{e}");
    }

    #[test]
    fn bad_rows_are_named_by_line() {
        let cases = [
            (
                "path,label,split\nx.wav,,train\n",
                "line 2: empty `label` for x.wav",
            ),
            ("path,label,split\nx.wav,Speech\n", "line 2"),
            ("path,label,split\n,Speech,train\n", "line 2: empty `path`"),
            (
                "path,label,split\nx.wav,Speech,train\ny.wav,Music,val\nx.wav,Music,val\n",
                "line 4: path `x.wav` is already listed on line 2",
            ),
        ];
        for (text, expected) in cases {
            let e = load_text(text).unwrap_err().to_string();
            assert!(e.contains(expected), "{e} should contain {expected}");
        }
    }
}

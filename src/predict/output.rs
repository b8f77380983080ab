//! `predictions.csv` (a row per file) and `segments.csv` (a row per
//! window), written atomically.

use std::io::Write;
use std::path::Path;

use super::FileResult;
use crate::error::{Error, Result};
use crate::model::argmax;
use crate::util::atomic_write;

/// One row per file: label, its probability, every class's probability,
/// the seconds read, the window count, or the error.
pub fn write_predictions(path: &Path, classes: &[String], results: &[FileResult]) -> Result<()> {
    let mut header = vec!["path".to_string(), "label".into(), "probability".into()];
    header.extend(classes.iter().map(|c| format!("p_{c}")));
    header.extend(["duration_seconds".into(), "windows".into(), "error".into()]);
    write_csv(
        path,
        &header,
        results.iter().map(|r| file_row(r, classes.len())),
    )
}

fn file_row(result: &FileResult, k: usize) -> Vec<String> {
    let mut row = vec![result.path.display().to_string()];
    match result.prediction() {
        Some(p) => {
            row.push(p.label.clone());
            row.push(format!("{:.6}", p.probability));
            row.extend(p.probabilities.iter().map(|v| format!("{v:.6}")));
            row.push(format!("{:.3}", p.duration_seconds));
            row.push(p.windows.len().to_string());
            row.push(String::new());
        }
        None => {
            row.extend(std::iter::repeat_n(String::new(), k + 4));
            row.push(result.error().unwrap_or_default().to_string());
        }
    }
    row
}

/// One row per window of every file that has windows.
pub fn write_segments(path: &Path, classes: &[String], results: &[FileResult]) -> Result<()> {
    let mut header = vec![
        "path".to_string(),
        "start".into(),
        "end".into(),
        "label".into(),
    ];
    header.extend(classes.iter().map(|c| format!("p_{c}")));
    let rows = results.iter().flat_map(|r| {
        let windows = r.prediction().map(|p| p.windows.as_slice()).unwrap_or(&[]);
        windows.iter().map(move |w| {
            let mut row = vec![
                r.path.display().to_string(),
                format!("{:.3}", w.start),
                format!("{:.3}", w.end),
                classes[argmax(&w.probabilities)].clone(),
            ];
            row.extend(w.probabilities.iter().map(|v| format!("{v:.6}")));
            row
        })
    });
    write_csv(path, &header, rows)
}

fn write_csv(
    path: &Path,
    header: &[String],
    rows: impl Iterator<Item = Vec<String>>,
) -> Result<()> {
    let mut buffer = csv::Writer::from_writer(Vec::new());
    let csv_error = |e: csv::Error| Error::InvalidArgument(format!("{}: {e}", path.display()));
    buffer.write_record(header).map_err(csv_error)?;
    for row in rows {
        buffer.write_record(&row).map_err(csv_error)?;
    }
    let bytes = buffer
        .into_inner()
        .map_err(|e| Error::InvalidArgument(format!("{}: {e}", path.display())))?;
    atomic_write(path, |w| w.write_all(&bytes))
}

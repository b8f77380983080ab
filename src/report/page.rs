//! The report's text: `index.html` (self-contained but for the images in
//! `img/`, no scripts, no network) and `report.md`.

use std::fmt::Write;
use std::path::PathBuf;

use super::{Figure, ModelEntry, ModelFigures, SweepEntry};

pub struct Content<'a> {
    pub models: &'a [ModelEntry],
    pub sweeps: &'a [SweepEntry],
    pub comparison: Option<&'a Figure>,
    pub figures: &'a [ModelFigures],
    pub sweep_plots: &'a [Vec<Figure>],
    pub inputs: &'a [PathBuf],
}

/// One row of the summary table.
struct Row {
    model: String,
    kind: &'static str,
    split: String,
    clips: String,
    accuracy: String,
    balanced: String,
    macro_f1: String,
}

fn summary_rows(models: &[ModelEntry]) -> Vec<Row> {
    let mut rows = Vec::new();
    for m in models {
        if let Some((accuracy, clean)) = m.train_accuracy {
            rows.push(Row {
                model: m.name.clone(),
                kind: m.kind,
                split: if clean {
                    "train"
                } else {
                    "train (augmented batches)"
                }
                .into(),
                clips: String::new(),
                accuracy: format!("{accuracy:.4}"),
                balanced: String::new(),
                macro_f1: String::new(),
            });
        }
        for s in &m.splits {
            rows.push(Row {
                model: m.name.clone(),
                kind: m.kind,
                split: s.split.clone(),
                clips: s.metrics.clips.to_string(),
                accuracy: format!("{:.4}", s.metrics.accuracy),
                balanced: format!("{:.4}", s.metrics.balanced_accuracy),
                macro_f1: format!("{:.4}", s.metrics.macro_f1),
            });
        }
    }
    rows
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;\
max-width:1200px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}\
h1{margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}\
table{border-collapse:collapse;margin:1em 0;font-size:.95em}\
th,td{border:1px solid #ccc;padding:.3em .7em;text-align:right}\
th:first-child,td:first-child,td.text{text-align:left}th{background:#f3f5f7}\
tr:nth-child(even) td{background:#fafbfc}img{max-width:100%;border:1px solid #eee}\
figure{margin:1em 0}figcaption{color:#555;font-size:.9em}.muted{color:#666}\
.grid{display:flex;flex-wrap:wrap;gap:1em}.grid figure{flex:1 1 420px}";

pub fn html(c: &Content) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>soundclass report</title><style>{STYLE}</style></head><body>\n\
         <h1>soundclass report</h1>\n<p class=\"muted\">From {}.</p>\n",
        escape(&inputs_text(c.inputs))
    );
    if let Some(fig) = c.comparison {
        h.push_str("<h2>Model comparison</h2>\n");
        h.push_str(&figure_html(fig));
    }
    h.push_str(
        "<table><tr><th>model</th><th>kind</th><th>split</th><th>clips</th>\
                <th>accuracy</th><th>balanced accuracy</th><th>macro-F1</th></tr>\n",
    );
    for r in summary_rows(c.models) {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"text\">{}</td><td class=\"text\">{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&r.model),
            r.kind,
            escape(&r.split),
            r.clips,
            r.accuracy,
            r.balanced,
            r.macro_f1
        );
    }
    h.push_str("</table>\n");
    for (m, f) in c.models.iter().zip(c.figures) {
        let _ = writeln!(
            h,
            "<h2>{}</h2>\n<p class=\"muted\">{} · {} · <code>{}</code></p>",
            escape(&m.name),
            m.kind,
            escape(&m.details),
            escape(&m.folder.display().to_string())
        );
        if let Some(fig) = &f.curves {
            h.push_str(&figure_html(fig));
        }
        for s in &m.splits {
            let _ = writeln!(
                h,
                "<h3>{}</h3>\n<table><tr><th>class</th><th>precision</th><th>recall</th>\
                 <th>F1</th><th>clips</th></tr>",
                escape(&s.split)
            );
            for pc in &s.metrics.per_class {
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{}</td></tr>",
                    escape(&pc.class),
                    pc.precision,
                    pc.recall,
                    pc.f1,
                    pc.support
                );
            }
            h.push_str("</table>\n");
        }
        h.push_str("<div class=\"grid\">");
        for fig in &f.confusions {
            h.push_str(&figure_html(fig));
        }
        h.push_str("</div>\n");
    }
    for (sweep, plots) in c.sweeps.iter().zip(c.sweep_plots) {
        let _ = writeln!(h, "<h2>Sweep {}</h2>", escape(&sweep.name));
        h.push_str(&markdown_to_html(&sweep.leaderboard));
        h.push_str("<div class=\"grid\">");
        for fig in plots {
            h.push_str(&figure_html(fig));
        }
        h.push_str("</div>\n");
    }
    h.push_str("</body></html>\n");
    h
}

fn figure_html(fig: &Figure) -> String {
    format!(
        "<figure><img src=\"{}\" alt=\"{}\"><figcaption>{}</figcaption></figure>\n",
        escape(&fig.file),
        escape(&fig.caption),
        escape(&fig.caption)
    )
}

fn inputs_text(inputs: &[PathBuf]) -> String {
    inputs
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The leaderboard's Markdown (headings, paragraphs, pipe tables) as HTML;
/// its image links are left out (the sweep's plots follow it).
fn markdown_to_html(text: &str) -> String {
    let mut h = String::new();
    let mut in_table = false;
    for line in text.lines() {
        let line = line.trim_end();
        if line.starts_with('|') {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            if cells
                .iter()
                .all(|c| c.chars().all(|ch| matches!(ch, '-' | ':')))
            {
                continue;
            }
            let tag = if in_table { "td" } else { "th" };
            if !in_table {
                h.push_str("<table>");
                in_table = true;
            }
            h.push_str("<tr>");
            for cell in cells {
                let _ = write!(h, "<{tag}>{}</{tag}>", escape(&cell.replace('`', "")));
            }
            h.push_str("</tr>\n");
            continue;
        }
        if in_table {
            h.push_str("</table>\n");
            in_table = false;
        }
        if line.is_empty() || line.starts_with("![") {
            continue;
        }
        let level = line.chars().take_while(|&c| c == '#').count();
        if level > 0 {
            let tag = (level + 2).min(6);
            let _ = writeln!(
                h,
                "<h{tag}>{}</h{tag}>",
                escape(&line[level..].trim().replace('`', ""))
            );
        } else {
            let _ = writeln!(h, "<p>{}</p>", escape(&line.replace('`', "")));
        }
    }
    if in_table {
        h.push_str("</table>\n");
    }
    h
}

pub fn markdown(c: &Content) -> String {
    let mut m = String::from("# soundclass report\n\n");
    let _ = writeln!(m, "From {}.\n", inputs_text(c.inputs));
    if let Some(fig) = c.comparison {
        let _ = writeln!(
            m,
            "## Model comparison\n\n![{}]({})\n",
            fig.caption, fig.file
        );
    }
    m.push_str("| model | kind | split | clips | accuracy | balanced accuracy | macro-F1 |\n");
    m.push_str("|---|---|---|---:|---:|---:|---:|\n");
    for r in summary_rows(c.models) {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.model.replace('|', "\\|"),
            r.kind,
            r.split,
            r.clips,
            r.accuracy,
            r.balanced,
            r.macro_f1
        );
    }
    for (model, f) in c.models.iter().zip(c.figures) {
        let _ = writeln!(
            m,
            "\n## {}\n\n{} · {} · `{}`\n",
            model.name,
            model.kind,
            model.details,
            model.folder.display()
        );
        if let Some(fig) = &f.curves {
            let _ = writeln!(m, "![{}]({})\n", fig.caption, fig.file);
        }
        for s in &model.splits {
            let _ = writeln!(
                m,
                "### {}\n\n| class | precision | recall | F1 | clips |\n|---|---:|---:|---:|---:|",
                s.split
            );
            for pc in &s.metrics.per_class {
                let _ = writeln!(
                    m,
                    "| {} | {:.3} | {:.3} | {:.3} | {} |",
                    pc.class, pc.precision, pc.recall, pc.f1, pc.support
                );
            }
            m.push('\n');
        }
        for fig in &f.confusions {
            let _ = writeln!(m, "![{}]({})", fig.caption, fig.file);
        }
    }
    for (sweep, plots) in c.sweeps.iter().zip(c.sweep_plots) {
        let _ = writeln!(m, "\n## Sweep {}\n", sweep.name);
        for line in sweep.leaderboard.lines() {
            // The leaderboard's own headings sit one level down here.
            if line.starts_with('#') {
                let _ = writeln!(m, "##{line}");
            } else if !line.starts_with("![") {
                let _ = writeln!(m, "{line}");
            }
        }
        for fig in plots {
            let _ = writeln!(m, "\n![{}]({})", fig.caption, fig.file);
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaderboard_markdown_becomes_tables_and_text_is_escaped() {
        let h = markdown_to_html("# Sweep `x`\n\n| a | b |\n|---|---:|\n| 1 | <2> |\n\ntext");
        assert!(h.contains("<h3>Sweep x</h3>"), "{h}");
        assert!(h.contains("<tr><th>a</th><th>b</th></tr>"), "{h}");
        assert!(h.contains("<tr><td>1</td><td>&lt;2&gt;</td></tr>"), "{h}");
        assert!(h.contains("<p>text</p>"), "{h}");
    }
}

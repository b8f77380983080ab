//! Raster plots written as PNG: a small RGB canvas with rectangles and
//! anti-aliased text (DejaVu Sans, bundled), and the confusion-matrix
//! heatmap that baselines, training and evaluation write.

use std::path::Path;

use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};

use crate::error::{Error, Result};
pub use crate::util::write_rgb_png;

static FONT_BYTES: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

pub type Rgb = [u8; 3];

/// A plotters drawing area over an RGB buffer.
pub type ChartArea<'a> =
    plotters::drawing::DrawingArea<plotters::backend::BitMapBackend<'a>, plotters::coord::Shift>;

/// The error of drawing `path`.
pub fn plot_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("drawing {}: {e}", path.display()))
}

/// Draw a `width` x `height` chart with plotters (on white, bundled font),
/// then write it as a PNG.
pub fn render_chart(
    path: &Path,
    width: u32,
    height: u32,
    draw: impl FnOnce(&ChartArea) -> Result<()>,
) -> Result<()> {
    use plotters::prelude::*;
    register_plot_font();
    let mut rgb = vec![255u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
        draw(&root)?;
        root.present().map_err(|e| plot_error(path, e))?;
    }
    write_rgb_png(path, width as usize, height as usize, &rgb)
}

/// Make the bundled DejaVu Sans plotters' `sans-serif` (idempotent):
/// plots look the same on every machine, with no system fonts needed.
pub fn register_plot_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            plotters::style::FontStyle::Normal,
            FONT_BYTES,
        );
    });
}

pub struct Canvas {
    pub width: usize,
    pub height: usize,
    pixels: Vec<u8>,
    font: FontRef<'static>,
}

impl Canvas {
    pub fn new(width: usize, height: usize, background: Rgb) -> Result<Self> {
        let font = FontRef::try_from_slice(FONT_BYTES)
            .map_err(|e| Error::InvalidArgument(format!("bundled font: {e}")))?;
        let mut pixels = Vec::with_capacity(width * height * 3);
        for _ in 0..width * height {
            pixels.extend_from_slice(&background);
        }
        Ok(Self {
            width,
            height,
            pixels,
            font,
        })
    }

    fn blend(&mut self, x: usize, y: usize, color: Rgb, alpha: f32) {
        if x >= self.width || y >= self.height {
            return;
        }
        let i = (y * self.width + x) * 3;
        for (pixel, &target) in self.pixels[i..i + 3].iter_mut().zip(&color) {
            let old = *pixel as f32;
            *pixel = (old + (target as f32 - old) * alpha.clamp(0.0, 1.0)).round() as u8;
        }
    }

    pub fn fill_rect(&mut self, x: usize, y: usize, w: usize, h: usize, color: Rgb) {
        for yy in y..(y + h).min(self.height) {
            for xx in x..(x + w).min(self.width) {
                self.blend(xx, yy, color, 1.0);
            }
        }
    }

    /// Width in pixels of `text` at `size` px.
    pub fn text_width(&self, text: &str, size: f32) -> f32 {
        let scaled = self.font.as_scaled(PxScale::from(size));
        text.chars()
            .map(|ch| scaled.h_advance(self.font.glyph_id(ch)))
            .sum()
    }

    /// Draw `text` with its baseline-box top-left at `(x, y)`; `anchor`
    /// 0.0 aligns left, 0.5 centres, 1.0 aligns right.
    pub fn text(&mut self, x: f32, y: f32, size: f32, anchor: f32, text: &str, color: Rgb) {
        let scale = PxScale::from(size);
        let scaled = self.font.as_scaled(scale);
        let mut caret = x - anchor * self.text_width(text, size);
        let baseline = y + scaled.ascent();
        let mut outlines = Vec::new();
        for ch in text.chars() {
            let id = self.font.glyph_id(ch);
            let glyph = id.with_scale_and_position(scale, point(caret, baseline));
            caret += scaled.h_advance(id);
            if let Some(outlined) = self.font.outline_glyph(glyph) {
                outlines.push(outlined);
            }
        }
        for outlined in outlines {
            let bounds = outlined.px_bounds();
            outlined.draw(|gx, gy, coverage| {
                let px = bounds.min.x as i64 + gx as i64;
                let py = bounds.min.y as i64 + gy as i64;
                if px >= 0 && py >= 0 {
                    self.blend(px as usize, py as usize, color, coverage);
                }
            });
        }
    }

    pub fn write_png(&self, path: &Path) -> Result<()> {
        write_rgb_png(path, self.width, self.height, &self.pixels)
    }

    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }
}

/// Confusion matrix `counts[true][predicted]` as a heatmap, rows normalised
/// to recall for the colour, with counts printed in the cells.
pub fn confusion_matrix_png(
    path: &Path,
    title: &str,
    classes: &[String],
    counts: &[Vec<usize>],
) -> Result<()> {
    let k = classes.len();
    let cell = 72usize;
    let label_width = classes
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(4)
        .max(4)
        * 9
        + 24;
    let (left, top) = (label_width + 28, 56usize);
    let width = left + k * cell + 20;
    let height = top + k * cell + 60;
    let mut canvas = Canvas::new(width, height, [255, 255, 255])?;
    let black = [20, 20, 20];
    canvas.text(width as f32 / 2.0, 10.0, 16.0, 0.5, title, black);
    for (t, row) in counts.iter().enumerate() {
        let total: usize = row.iter().sum();
        for (p, &count) in row.iter().enumerate() {
            let fraction = if total > 0 {
                count as f64 / total as f64
            } else {
                0.0
            };
            let color = colorous::BLUES.eval_continuous(fraction);
            let (x, y) = (left + p * cell, top + t * cell);
            canvas.fill_rect(x, y, cell - 2, cell - 2, [color.r, color.g, color.b]);
            let ink = if fraction > 0.5 {
                [255, 255, 255]
            } else {
                black
            };
            canvas.text(
                (x + cell / 2) as f32,
                (y + cell / 2 - 16) as f32,
                15.0,
                0.5,
                &count.to_string(),
                ink,
            );
            canvas.text(
                (x + cell / 2) as f32,
                (y + cell / 2 + 2) as f32,
                11.0,
                0.5,
                &format!("{:.0}%", 100.0 * fraction),
                ink,
            );
        }
        canvas.text(
            (left - 8) as f32,
            (top + t * cell + cell / 2 - 8) as f32,
            13.0,
            1.0,
            &classes[t],
            black,
        );
    }
    for (p, class) in classes.iter().enumerate() {
        canvas.text(
            (left + p * cell + cell / 2) as f32,
            (top + k * cell + 6) as f32,
            13.0,
            0.5,
            class,
            black,
        );
    }
    canvas.text(
        (left + k * cell / 2) as f32,
        (top + k * cell + 30) as f32,
        13.0,
        0.5,
        "predicted",
        black,
    );
    canvas.text(6.0, (top - 22) as f32, 13.0, 0.0, "true", black);
    canvas.write_png(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_leaves_ink() {
        let mut canvas = Canvas::new(80, 30, [255, 255, 255]).unwrap();
        canvas.text(2.0, 2.0, 16.0, 0.0, "Music 42", [0, 0, 0]);
        let dark = canvas.pixels().chunks(3).filter(|p| p[0] < 128).count();
        assert!(dark > 40, "{dark} dark pixels");
        assert!(canvas.text_width("Music", 16.0) > 30.0);
    }
}

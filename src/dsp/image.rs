//! Spectrogram images: inferno colour map, low frequencies at the bottom,
//! like `librosa.display.specshow` in the seed study.

use std::path::Path;

use super::Spectrogram;
use crate::error::Result;
use crate::util::write_rgb_png;

/// RGB pixels of `spec`, `scale` pixels per mel band vertically, values
/// mapped linearly from their min..max onto inferno.
pub fn spectrogram_rgb(spec: &Spectrogram, scale: usize) -> (usize, usize, Vec<u8>) {
    let (lo, hi) = spec
        .data
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let range = if hi > lo { hi - lo } else { 1.0 };
    let (width, height) = (spec.frames, spec.n_mels * scale);
    let mut pixels = Vec::with_capacity(width * height * 3);
    for row in 0..height {
        let mel = spec.n_mels - 1 - row / scale;
        for t in 0..width {
            let v = spec.get(mel, t);
            let x = if v.is_finite() {
                ((v - lo) / range) as f64
            } else {
                0.0
            };
            let c = colorous::INFERNO.eval_continuous(x.clamp(0.0, 1.0));
            pixels.extend_from_slice(&[c.r, c.g, c.b]);
        }
    }
    (width, height, pixels)
}

/// Write `spec` as a PNG image (atomically).
pub fn write_spectrogram_png(path: &Path, spec: &Spectrogram) -> Result<()> {
    let scale = (256 / spec.n_mels.max(1)).max(1);
    let (width, height, pixels) = spectrogram_rgb(spec, scale);
    write_rgb_png(path, width, height, &pixels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_frequencies_at_the_bottom() {
        // Band 0 loud, band 1 quiet: the bottom row is bright, the top dark.
        let spec = Spectrogram {
            n_mels: 2,
            frames: 3,
            data: vec![0.0, 0.0, 0.0, -80.0, -80.0, -80.0],
        };
        let (w, h, px) = spectrogram_rgb(&spec, 1);
        assert_eq!((w, h), (3, 2));
        let top = &px[..3];
        let bottom = &px[9..12];
        let brightness = |p: &[u8]| p.iter().map(|&v| v as u32).sum::<u32>();
        assert!(
            brightness(bottom) > brightness(top) + 300,
            "{top:?} {bottom:?}"
        );
    }
}

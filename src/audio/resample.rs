//! Sample-rate conversion with rubato's FFT resampler (band-limited,
//! fixed ratio), with its delay removed so output stays time-aligned.

use rubato::{FftFixedInOut, Resampler};

use crate::error::{Error, Result};

/// Resample mono `samples` from `from_rate` to `to_rate` Hz. The output has
/// `round(len * to / from)` samples, aligned with the input.
pub fn resample(samples: &[f32], from_rate: u32, to_rate: u32) -> Result<Vec<f32>> {
    if from_rate == to_rate || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let rubato_error = |e: &dyn std::fmt::Display| {
        Error::InvalidArgument(format!("resampling {from_rate} Hz -> {to_rate} Hz: {e}"))
    };
    // rubato reports an integer delay of half the output FFT size; with an
    // odd size the true delay is half a sample more. An even number of
    // minimal chunks keeps the output size even and the alignment exact.
    let gcd = gcd(from_rate as usize, to_rate as usize);
    let min_chunk = from_rate as usize / gcd;
    let chunk = min_chunk * 2 * 1024usize.div_ceil(2 * min_chunk).max(1);
    let mut resampler = FftFixedInOut::<f32>::new(from_rate as usize, to_rate as usize, chunk, 1)
        .map_err(|e| rubato_error(&e))?;
    let expected = ((samples.len() as u128 * to_rate as u128 + from_rate as u128 / 2)
        / from_rate as u128) as usize;
    let delay = resampler.output_delay();
    let mut out: Vec<f32> = Vec::with_capacity(expected + delay + resampler.output_frames_max());
    let mut position = 0;
    while position < samples.len() {
        let need = resampler.input_frames_next();
        let end = position + need;
        let chunk = if end <= samples.len() {
            resampler.process(&[&samples[position..end]], None)
        } else {
            resampler.process_partial(Some(&[&samples[position..]]), None)
        }
        .map_err(|e| rubato_error(&e))?;
        out.extend_from_slice(&chunk[0]);
        position = end;
    }
    // Flush the filter tail until the delayed signal is fully out.
    while out.len() < expected + delay {
        let chunk = resampler
            .process_partial::<&[f32]>(None, None)
            .map_err(|e| rubato_error(&e))?;
        out.extend_from_slice(&chunk[0]);
    }
    out.drain(..delay);
    out.truncate(expected);
    Ok(out)
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f32, rate: u32, seconds: f32) -> Vec<f32> {
        let n = (rate as f32 * seconds) as usize;
        (0..n)
            .map(|i| (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin())
            .collect()
    }

    #[test]
    fn keeps_length_ratio_and_phase() {
        for (from, to) in [
            (8000, 22050),
            (96000, 32000),
            (44100, 22050),
            (32000, 16000),
        ] {
            let x = sine(440.0, from, 0.5);
            let y = resample(&x, from, to).unwrap();
            assert_eq!(
                y.len(),
                (x.len() as f64 * to as f64 / from as f64).round() as usize
            );
            let reference = sine(440.0, to, 0.5);
            // Away from the edges the resampled sine matches the ideal one.
            let lo = y.len() / 4;
            let hi = 3 * y.len() / 4;
            let err = (lo..hi)
                .map(|i| (y[i] - reference[i]).abs())
                .fold(0.0f32, f32::max);
            assert!(err < 1e-3, "{from}->{to}: max error {err}");
        }
    }

    #[test]
    fn same_rate_is_identity() {
        let x = sine(100.0, 16000, 0.1);
        assert_eq!(resample(&x, 16000, 16000).unwrap(), x);
    }
}

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
    let mut stream = StreamResampler::new(from_rate, to_rate)?;
    let mut out = stream.push(samples)?;
    out.extend(stream.finish()?);
    Ok(out)
}

/// [`resample`] fed piece by piece: the pieces' outputs, concatenated, are
/// exactly what [`resample`] gives for the whole signal, and memory stays
/// at one chunk whatever the signal's length.
pub struct StreamResampler {
    from_rate: u32,
    to_rate: u32,
    /// `None` when the rates are equal: samples pass through.
    resampler: Option<FftFixedInOut<f32>>,
    pending: Vec<f32>,
    /// Output samples still to drop for the filter's delay.
    delay_left: usize,
    input_total: u64,
    output_total: u64,
}

impl StreamResampler {
    pub fn new(from_rate: u32, to_rate: u32) -> Result<Self> {
        let resampler = if from_rate == to_rate {
            None
        } else {
            // rubato reports an integer delay of half the output FFT size;
            // with an odd size the true delay is half a sample more. An even
            // number of minimal chunks keeps the output size even and the
            // alignment exact.
            let gcd = gcd(from_rate as usize, to_rate as usize);
            let min_chunk = from_rate as usize / gcd;
            let chunk = min_chunk * 2 * 1024usize.div_ceil(2 * min_chunk).max(1);
            Some(
                FftFixedInOut::<f32>::new(from_rate as usize, to_rate as usize, chunk, 1)
                    .map_err(|e| rubato_error(from_rate, to_rate, &e))?,
            )
        };
        let delay_left = resampler.as_ref().map_or(0, |r| r.output_delay());
        Ok(Self {
            from_rate,
            to_rate,
            resampler,
            pending: Vec::new(),
            delay_left,
            input_total: 0,
            output_total: 0,
        })
    }

    /// Resampled output for `samples` so far (may be empty while a chunk
    /// fills up).
    pub fn push(&mut self, samples: &[f32]) -> Result<Vec<f32>> {
        self.input_total += samples.len() as u64;
        let Some(resampler) = self.resampler.as_mut() else {
            return Ok(samples.to_vec());
        };
        self.pending.extend_from_slice(samples);
        let mut out = Vec::new();
        let mut used = 0;
        loop {
            let need = resampler.input_frames_next();
            if self.pending.len() - used < need {
                break;
            }
            let chunk = resampler
                .process(&[&self.pending[used..used + need]], None)
                .map_err(|e| rubato_error(self.from_rate, self.to_rate, &e))?;
            out.extend_from_slice(&chunk[0]);
            used += need;
        }
        self.pending.drain(..used);
        Ok(self.emit(out))
    }

    /// The rest: the last partial chunk and the filter's tail, cut to
    /// `round(total * to / from)` samples in all.
    pub fn finish(mut self) -> Result<Vec<f32>> {
        let expected = ((self.input_total as u128 * self.to_rate as u128
            + self.from_rate as u128 / 2)
            / self.from_rate as u128) as u64;
        let Some(resampler) = self.resampler.as_mut() else {
            return Ok(Vec::new());
        };
        let error = |e: &dyn std::fmt::Display| rubato_error(self.from_rate, self.to_rate, e);
        let mut out = Vec::new();
        if !self.pending.is_empty() {
            let chunk = resampler
                .process_partial(Some(&[&self.pending[..]]), None)
                .map_err(|e| error(&e))?;
            out.extend_from_slice(&chunk[0]);
        }
        // Flush the filter tail until the delayed signal is fully out.
        let target = |out: &Vec<f32>| out.len() as u64 + self.output_total;
        while target(&out) < expected + self.delay_left as u64 {
            let chunk = resampler
                .process_partial::<&[f32]>(None, None)
                .map_err(|e| error(&e))?;
            if chunk[0].is_empty() {
                break;
            }
            out.extend_from_slice(&chunk[0]);
        }
        let mut out = self.emit(out);
        out.truncate(expected.saturating_sub(self.output_total - out.len() as u64) as usize);
        Ok(out)
    }

    /// Drop what is left of the delay from `out`; count what remains.
    fn emit(&mut self, mut out: Vec<f32>) -> Vec<f32> {
        let dropped = self.delay_left.min(out.len());
        out.drain(..dropped);
        self.delay_left -= dropped;
        self.output_total += out.len() as u64;
        out
    }
}

fn rubato_error(from_rate: u32, to_rate: u32, e: &dyn std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("resampling {from_rate} Hz -> {to_rate} Hz: {e}"))
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
    fn pieces_give_the_whole_signal_resampled() {
        let x = sine(440.0, 44100, 1.3);
        for (from, to) in [(44100, 16000), (8000, 22050), (32000, 32000)] {
            let whole = resample(&x, from, to).unwrap();
            let mut stream = StreamResampler::new(from, to).unwrap();
            let mut pieces = Vec::new();
            for piece in x.chunks(777) {
                pieces.extend(stream.push(piece).unwrap());
            }
            pieces.extend(stream.finish().unwrap());
            assert_eq!(pieces, whole, "{from} -> {to}");
        }
    }

    #[test]
    fn same_rate_is_identity() {
        let x = sine(100.0, 16000, 0.1);
        assert_eq!(resample(&x, 16000, 16000).unwrap(), x);
    }
}

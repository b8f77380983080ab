// Shared by stft_power.wgsl and dft_power.wgsl (appended to each source by
// src/gpu; WGSL has no includes). Expects `signal` and an `info` with
// `signal_len`, `pad_mode` and `power`.

// A sample of the centre-padded signal: pad_mode 0 = zeros, 1 = numpy
// "reflect" (period 2(len - 1), edge sample not repeated).
fn sample_at(clip: u32, position: i32) -> f32 {
    let len = i32(info.signal_len);
    var i = position;
    if (i < 0 || i >= len) {
        if (info.pad_mode == 0u) {
            return 0.0;
        }
        if (len == 1) {
            i = 0;
        } else {
            let period = 2 * (len - 1);
            i = ((i % period) + period) % period;
            if (i >= len) {
                i = period - i;
            }
        }
    }
    return signal[clip * info.signal_len + u32(i)];
}

// |X|^power from |X|^2.
fn apply_power(p: f32) -> f32 {
    if (info.power == 2.0) {
        return p;
    }
    if (info.power == 1.0) {
        return sqrt(p);
    }
    return pow(p, 0.5 * info.power);
}

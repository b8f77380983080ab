// Framing + periodic-window + real FFT + |X|^power for one frame per
// workgroup (radix-2, power-of-two n_fft up to 4096).
//
// The real frame x[0..N) is packed as M = N/2 complex values
// z[n] = x[2n] + i x[2n+1], transformed in workgroup memory with an
// in-place decimation-in-time FFT (bit-reversed load), then split into the
// N/2 + 1 bins of the real transform. Twiddles come from a host table
// computed in f64: twiddle[k] = exp(-2 pi i k / N), k < N/2.
//
// Dispatch: workgroups (frames, clips, 1).

// Every binding is read_write: the runtime sub-allocates small buffers from
// shared pages, and wgpu rejects one page bound both read-only and writable.

struct Info {
    signal_len: u32,   // samples per clip
    frames: u32,       // frames per clip
    hop: u32,
    pad: u32,          // left padding (n_fft / 2 when centred, else 0)
    pad_mode: u32,     // 0 = constant (zeros), 1 = reflect
    n_fft: u32,
    n_bins: u32,       // n_fft / 2 + 1
    log2_half: u32,    // log2(n_fft / 2)
    power: f32,        // exponent applied to |X|
}

@group(0) @binding(0) var<storage, read_write> signal: array<f32>;      // [clips, signal_len]
@group(0) @binding(1) var<storage, read_write> window: array<f32>;      // [n_fft]
@group(0) @binding(2) var<storage, read_write> twiddle: array<vec2<f32>>; // [n_fft / 2]
@group(0) @binding(3) var<storage, read_write> spectrum: array<f32>; // [clips, frames, n_bins]
@group(0) @binding(4) var<storage, read_write> info: Info;

const WORKGROUP: u32 = 256u;
const MAX_HALF: u32 = 2048u;

var<workgroup> buf: array<vec2<f32>, MAX_HALF>;

// sample_at(clip, position) and apply_power(p) are appended from frame_common.wgsl.

fn reverse_bits(v: u32, bits: u32) -> u32 {
    return reverseBits(v) >> (32u - bits);
}

fn cmul(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
    return vec2<f32>(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let frame = wid.x;
    let clip = wid.y;
    let half = info.n_fft / 2u;
    let start = i32(frame * info.hop) - i32(info.pad);

    for (var n = lid.x; n < half; n = n + WORKGROUP) {
        let re = sample_at(clip, start + i32(2u * n)) * window[2u * n];
        let im = sample_at(clip, start + i32(2u * n + 1u)) * window[2u * n + 1u];
        buf[reverse_bits(n, info.log2_half)] = vec2<f32>(re, im);
    }
    workgroupBarrier();

    // Butterflies: stage s joins blocks of size 2 * span.
    var span = 1u;
    for (var s = 0u; s < info.log2_half; s = s + 1u) {
        for (var b = lid.x; b < half / 2u; b = b + WORKGROUP) {
            let j = b % span;
            let i0 = (b / span) * 2u * span + j;
            let i1 = i0 + span;
            // exp(-2 pi i j / (2 span)) = twiddle[j * n_fft / (2 span)]
            let w = twiddle[j * (info.n_fft / (2u * span))];
            let t = cmul(w, buf[i1]);
            let u = buf[i0];
            buf[i0] = u + t;
            buf[i1] = u - t;
        }
        span = span * 2u;
        workgroupBarrier();
    }

    // Split the packed transform into the real-input spectrum.
    let out_base = (clip * info.frames + frame) * info.n_bins;
    for (var k = lid.x; k <= half; k = k + WORKGROUP) {
        var x: vec2<f32>;
        if (k == 0u || k == half) {
            let z0 = buf[0];
            if (k == 0u) {
                x = vec2<f32>(z0.x + z0.y, 0.0);
            } else {
                x = vec2<f32>(z0.x - z0.y, 0.0);
            }
        } else {
            let a = buf[k];
            let c = vec2<f32>(buf[half - k].x, -buf[half - k].y); // conj(Z[M-k])
            let even = 0.5 * (a + c);
            let d = a - c;
            let odd = vec2<f32>(0.5 * d.y, -0.5 * d.x); // (a - c) * (-i / 2)
            x = even + cmul(twiddle[k], odd);
        }
        spectrum[out_base + k] = apply_power(x.x * x.x + x.y * x.y);
    }
}

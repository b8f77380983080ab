// Fallback for n_fft that is not a power of two or larger than 4096:
// framing + window + direct real DFT, one frame per workgroup, each
// invocation summing whole bins. O(n_fft^2) per frame, exact twiddles from a
// host table computed in f64: twiddle[k] = exp(-2 pi i k / N), k < N.
//
// Dispatch: workgroups (frames, clips, 1). Same Info layout as stft_power.

// Every binding is read_write: the runtime sub-allocates small buffers from
// shared pages, and wgpu rejects one page bound both read-only and writable.

struct Info {
    signal_len: u32,
    frames: u32,
    hop: u32,
    pad: u32,
    pad_mode: u32,
    n_fft: u32,
    n_bins: u32,
    log2_half: u32,   // unused here
    power: f32,
}

@group(0) @binding(0) var<storage, read_write> signal: array<f32>;
@group(0) @binding(1) var<storage, read_write> window: array<f32>;
@group(0) @binding(2) var<storage, read_write> twiddle: array<vec2<f32>>; // [n_fft]
@group(0) @binding(3) var<storage, read_write> spectrum: array<f32>;
@group(0) @binding(4) var<storage, read_write> info: Info;

const WORKGROUP: u32 = 256u;
const MAX_FRAME: u32 = 4096u;

var<workgroup> frame_buf: array<f32, MAX_FRAME>;

// sample_at(clip, position) and apply_power(p) are appended from frame_common.wgsl.

fn windowed(clip: u32, start: i32, n: u32) -> f32 {
    if (info.n_fft <= MAX_FRAME) {
        return frame_buf[n];
    }
    return sample_at(clip, start + i32(n)) * window[n];
}

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let frame = wid.x;
    let clip = wid.y;
    let n_fft = info.n_fft;
    let start = i32(frame * info.hop) - i32(info.pad);
    if (n_fft <= MAX_FRAME) {
        for (var n = lid.x; n < n_fft; n = n + WORKGROUP) {
            frame_buf[n] = sample_at(clip, start + i32(n)) * window[n];
        }
    }
    workgroupBarrier();
    let out_base = (clip * info.frames + frame) * info.n_bins;
    for (var k = lid.x; k < info.n_bins; k = k + WORKGROUP) {
        var acc = vec2<f32>(0.0, 0.0);
        var index = 0u; // (k * n) mod n_fft, kept without overflow
        for (var n = 0u; n < n_fft; n = n + 1u) {
            acc = acc + windowed(clip, start, n) * twiddle[index];
            index = index + k;
            if (index >= n_fft) {
                index = index - n_fft;
            }
        }
        spectrum[out_base + k] = apply_power(acc.x * acc.x + acc.y * acc.y);
    }
}

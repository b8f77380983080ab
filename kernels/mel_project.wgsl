// Mel projection of a power spectrogram with a sparse filterbank: each band
// stores its first bin, its width and an offset into a packed weight array,
// so a band's sum touches only the bins under its triangle.
//
// Input [clips, frames, n_bins]; output [clips, n_mels, frames] (the
// librosa layout). Dispatch: workgroups (ceil(n_mels * frames / 256), clips, 1).

// Every binding is read_write: the runtime sub-allocates small buffers from
// shared pages, and wgpu rejects one page bound both read-only and writable.

struct Info {
    frames: u32,
    n_bins: u32,
    n_mels: u32,
}

@group(0) @binding(0) var<storage, read_write> spectrum: array<f32>;
@group(0) @binding(1) var<storage, read_write> band_start: array<u32>;  // [n_mels]
@group(0) @binding(2) var<storage, read_write> band_width: array<u32>;  // [n_mels]
@group(0) @binding(3) var<storage, read_write> band_offset: array<u32>; // [n_mels]
@group(0) @binding(4) var<storage, read_write> weights: array<f32>;     // packed
@group(0) @binding(5) var<storage, read_write> mel: array<f32>;
@group(0) @binding(6) var<storage, read_write> info: Info;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let per_clip = info.n_mels * info.frames;
    let index = gid.x;
    if (index >= per_clip) {
        return;
    }
    let clip = gid.y;
    let band = index / info.frames;
    let frame = index % info.frames;
    let row = (clip * info.frames + frame) * info.n_bins + band_start[band];
    let offset = band_offset[band];
    var acc = 0.0;
    for (var k = 0u; k < band_width[band]; k = k + 1u) {
        acc = acc + weights[offset + k] * spectrum[row + k];
    }
    mel[clip * per_clip + index] = acc;
}

// librosa's power_to_db in place, one clip per workgroup:
// 10 log10(max(amin, S)) - 10 log10(max(amin, ref)), floored at
// (clip max - top_db). `ref` is a value or, with use_max_ref, the clip's max.
//
// Dispatch: workgroups (clips, 1, 1).

// Every binding is read_write: the runtime sub-allocates small buffers from
// shared pages, and wgpu rejects one page bound both read-only and writable.

struct Info {
    per_clip: u32,
    use_max_ref: u32,
    use_top_db: u32,
    ref_value: f32,
    amin: f32,
    top_db: f32,
}

@group(0) @binding(0) var<storage, read_write> values: array<f32>;
@group(0) @binding(1) var<storage, read_write> info: Info;

const WORKGROUP: u32 = 256u;
var<workgroup> partial: array<f32, WORKGROUP>;

const LOG10_SCALE: f32 = 4.3429448190325175; // 10 / ln(10)

fn workgroup_max(value: f32, lid: u32) -> f32 {
    partial[lid] = value;
    workgroupBarrier();
    for (var stride = WORKGROUP / 2u; stride > 0u; stride = stride / 2u) {
        if (lid < stride) {
            partial[lid] = max(partial[lid], partial[lid + stride]);
        }
        workgroupBarrier();
    }
    let result = partial[0];
    workgroupBarrier();
    return result;
}

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let base = wid.x * info.per_clip;
    var reference = info.ref_value;
    if (info.use_max_ref == 1u) {
        var m = 0.0;
        for (var i = lid.x; i < info.per_clip; i = i + WORKGROUP) {
            m = max(m, values[base + i]);
        }
        reference = workgroup_max(m, lid.x);
    }
    let offset = LOG10_SCALE * log(max(info.amin, abs(reference)));
    var peak = -3.4e38;
    for (var i = lid.x; i < info.per_clip; i = i + WORKGROUP) {
        let v = LOG10_SCALE * log(max(info.amin, values[base + i])) - offset;
        values[base + i] = v;
        peak = max(peak, v);
    }
    if (info.use_top_db == 1u) {
        let floor_db = workgroup_max(peak, lid.x) - info.top_db;
        for (var i = lid.x; i < info.per_clip; i = i + WORKGROUP) {
            values[base + i] = max(values[base + i], floor_db);
        }
    }
}

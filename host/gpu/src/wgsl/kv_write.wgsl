// Stores this batch's K and V rows in their cells of one layer's f16 cache (two values per
// word, rounded to nearest even as the CPU rounds; no shader-f16 needed). One thread per pair
// of values.
struct Kw {
    half_width: u32, // words per cell row
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> S: Step;
@group(0) @binding(1) var<uniform> P: Kw;
@group(0) @binding(2) var<storage, read> B: array<u32>;
@group(0) @binding(3) var<storage, read> K: array<f32>;
@group(0) @binding(4) var<storage, read> V: array<f32>;
@group(0) @binding(5) var<storage, read_write> KC: array<u32>;
@group(0) @binding(6) var<storage, read_write> VC: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if i >= S.rows * P.half_width {
        return;
    }
    let r = i / P.half_width;
    let j = i % P.half_width;
    let cell = B[S.off_wcell + r];
    let at = cell * P.half_width + j;
    KC[at] = pack_f16(K[2u * i], K[2u * i + 1u]);
    VC[at] = pack_f16(V[2u * i], V[2u * i + 1u]);
}

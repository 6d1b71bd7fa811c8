// Attention of one row and one head over the f16 cache: the cells its sequence sees (up to
// its position when causal, inside the window when there is one), 64 cells at a time, so any
// number of cells fits in shared memory. Two passes: the softmax's max and sum (online), then
// the probabilities, rounded to f16 as the CPU executor (and ggml) round them before the V
// sum, and that sum. q is rounded to f16 likewise. Rounding the probabilities is what keeps
// the next layer's quantized activations on the CPU's side of each rounding boundary.
struct At {
    n_head: u32,
    group: u32,     // query heads per KV head
    head_dim: u32,
    kw: u32,        // K/V width (n_kv_head * head_dim)
    scale: f32,
    softcap: f32,
    window: u32,
    causal: u32,
}

@group(0) @binding(0) var<uniform> S: Step;
@group(0) @binding(1) var<uniform> P: At;
@group(0) @binding(2) var<storage, read> B: array<u32>;
@group(0) @binding(3) var<storage, read> Q: array<f32>;
@group(0) @binding(4) var<storage, read> KC: array<u32>;
@group(0) @binding(5) var<storage, read> VC: array<u32>;
@group(0) @binding(6) var<storage, read_write> Y: array<f32>;

const WG: u32 = 64u;
var<workgroup> qv: array<f32, 512>;
var<workgroup> p: array<f32, 64>;
var<workgroup> red: array<f32, 64>;

fn kval(c: u32, d: u32) -> f32 {
    let w = KC[(c * P.kw + d) / 2u];
    return unpack2x16float(w)[d % 2u];
}

fn vval(c: u32, d: u32) -> f32 {
    let w = VC[(c * P.kw + d) / 2u];
    return unpack2x16float(w)[d % 2u];
}

fn reduce_max(v: f32, t: u32) -> f32 {
    red[t] = v;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if t < s {
            red[t] = max(red[t], red[t + s]);
        }
        workgroupBarrier();
    }
    // A uniform value: the loop below branches on it around barriers.
    return workgroupUniformLoad(&red[0]);
}

fn reduce_sum(v: f32, t: u32) -> f32 {
    red[t] = v;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if t < s {
            red[t] += red[t + s];
        }
        workgroupBarrier();
    }
    // A uniform value: the loop below branches on it around barriers.
    return workgroupUniformLoad(&red[0]);
}

const NONE: f32 = -3.0e38;

// The scaled (and soft-capped) score of cell c, or NONE when the row does not see it.
fn score(c: u32, pos: i32, seq: u32, koff: u32, hd: u32) -> f32 {
    if c >= S.ncells {
        return NONE;
    }
    let cp = bitcast<i32>(B[S.off_cpos + c]);
    let lo = B[S.off_cseq + 2u * c];
    let hi = B[S.off_cseq + 2u * c + 1u];
    let seen = select((hi >> (seq - 32u)) & 1u, (lo >> seq) & 1u, seq < 32u) != 0u;
    let dist = u32(abs(pos - cp));
    let visible = seen && cp >= 0 && (P.causal == 0u || cp <= pos) && (P.window == 0u || dist < P.window);
    if !visible {
        return NONE;
    }
    var dotv = 0.0;
    for (var d = 0u; d < hd; d++) {
        dotv += qv[d] * kval(c, koff + d);
    }
    var s = dotv * P.scale;
    if P.softcap > 0.0 {
        s = P.softcap * tanh(s / P.softcap);
    }
    return s;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
    let id = linear_wg(wid, nwg);
    if id >= S.rows * P.n_head {
        return;
    }
    let r = id / P.n_head;
    let h = id % P.n_head;
    let hd = P.head_dim;
    let koff = (h / P.group) * hd;
    let qoff = r * P.n_head * hd + h * hd;
    let pos = bitcast<i32>(B[S.off_pos + r]);
    let seq = B[S.off_seq + r];
    for (var d = t; d < hd; d += WG) {
        qv[d] = round_f16(Q[qoff + d]);
    }
    workgroupBarrier();
    // Pass 1: max and sum of exp(s - max), rescaled as the max grows.
    var m = NONE;
    var l = 0.0;
    for (var c0 = 0u; c0 < S.ncells; c0 += WG) {
        let s = score(c0 + t, pos, seq, koff, hd);
        let cmax = reduce_max(s, t);
        if cmax <= NONE {
            continue;
        }
        let mnew = max(m, cmax);
        let e = select(0.0, exp(s - mnew), s > NONE);
        let psum = reduce_sum(e, t);
        l = l * exp(m - mnew) + psum;
        m = mnew;
    }
    let inv = select(0.0, 1.0 / l, l > 0.0);
    // Pass 2: f16 probabilities and the V sum.
    var o = array<f32, 8>();
    for (var c0 = 0u; c0 < S.ncells; c0 += WG) {
        let s = score(c0 + t, pos, seq, koff, hd);
        p[t] = select(0.0, round_f16(exp(s - m) * inv), s > NONE);
        workgroupBarrier();
        let n = min(WG, S.ncells - c0);
        for (var k = 0u; k < 8u; k++) {
            let d = t + k * WG;
            if d < hd {
                var acc = o[k];
                for (var j = 0u; j < n; j++) {
                    let pj = p[j];
                    if pj > 0.0 {
                        acc += pj * vval(c0 + j, koff + d);
                    }
                }
                o[k] = acc;
            }
        }
        workgroupBarrier();
    }
    for (var k = 0u; k < 8u; k++) {
        let d = t + k * WG;
        if d < hd {
            Y[qoff + d] = o[k];
        }
    }
}

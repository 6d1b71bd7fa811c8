// The sparse bias, then the k best logits of each logit row, on the GPU so a step reads back
// k candidates per row instead of the vocabulary. One workgroup per row:
// 1. the row's bias entries are applied in order by one thread (a token may repeat);
// 2. a radix select over the order-preserving u32 key of each logit finds the k-th best
//    key in four 8-bit passes (workgroup histograms);
// 3. each thread takes a contiguous slice, and prefix sums place every logit above that key,
//    and the lowest-id logits equal to it, in the output: the CPU's top-k set exactly (ties
//    to the lower id; NaN ranks as -inf). The host sorts the k it reads back.
struct Tk {
    width: u32, // vocabulary
    k: u32,
    selected: u32,
    nbias: u32,
}

@group(0) @binding(0) var<uniform> S: Step;
@group(0) @binding(1) var<uniform> P: Tk;
@group(0) @binding(2) var<storage, read> BIAS: array<u32>; // (logit row, token, penalty, add)
@group(0) @binding(3) var<storage, read> B: array<u32>;
@group(0) @binding(4) var<storage, read_write> L: array<f32>;
@group(0) @binding(5) var<storage, read_write> OUT: array<u32>; // (id, logit bits) pairs

const WG: u32 = 256u;
var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> cnt_gt: array<u32, 256>;
var<workgroup> cnt_eq: array<u32, 256>;
var<workgroup> sel: array<u32, 2>; // (prefix, remaining)

// The order-preserving key of a logit. NaN ranks as -inf and -0 as +0, as the CPU ranks them
// (ties then go to the lower id). NaN is found from the bits: a compiler may assume `v != v`
// is false (Vulkan drivers need not preserve NaN through comparisons).
fn key(v: f32) -> u32 {
    var b = bitcast<u32>(v);
    if (b & 0x7fffffffu) > 0x7f800000u {
        b = 0xff800000u;
    }
    if b == 0x80000000u {
        b = 0u;
    }
    return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
    let lr = linear_wg(wid, nwg);
    if lr >= S.lrows {
        return;
    }
    let row = select(B[S.off_lrow + lr], lr, P.selected != 0u);
    let base = row * P.width;
    if t == 0u {
        for (var i = 0u; i < P.nbias; i++) {
            if BIAS[4u * i] == lr {
                let tok = BIAS[4u * i + 1u];
                if tok < P.width {
                    let pen = bitcast<f32>(BIAS[4u * i + 2u]);
                    var v = L[base + tok];
                    v = select(v * pen, div_rne(v, pen), v > 0.0);
                    L[base + tok] = v + bitcast<f32>(BIAS[4u * i + 3u]);
                }
            }
        }
        sel[0] = 0u;
        sel[1] = P.k;
    }
    storageBarrier();
    workgroupBarrier();
    var mask = 0u;
    for (var round = 0u; round < 4u; round++) {
        let shift = 24u - 8u * round;
        atomicStore(&hist[t], 0u);
        workgroupBarrier();
        let prefix = sel[0];
        for (var i = t; i < P.width; i += WG) {
            let kk = key(L[base + i]);
            if (kk & mask) == prefix {
                atomicAdd(&hist[(kk >> shift) & 0xffu], 1u);
            }
        }
        workgroupBarrier();
        if t == 0u {
            var remaining = sel[1];
            var b = 255u;
            loop {
                let h = atomicLoad(&hist[b]);
                if h >= remaining || b == 0u {
                    break;
                }
                remaining -= h;
                b -= 1u;
            }
            sel[0] = prefix | (b << shift);
            sel[1] = remaining;
        }
        workgroupBarrier();
        mask |= 0xffu << shift;
    }
    let thr = sel[0];
    let need_eq = sel[1];
    let greater = P.k - need_eq;
    let chunk = (P.width + WG - 1u) / WG;
    let lo = min(t * chunk, P.width);
    let hi = min(lo + chunk, P.width);
    var gt = 0u;
    var eq = 0u;
    for (var i = lo; i < hi; i++) {
        let kk = key(L[base + i]);
        gt += select(0u, 1u, kk > thr);
        eq += select(0u, 1u, kk == thr);
    }
    cnt_gt[t] = gt;
    cnt_eq[t] = eq;
    workgroupBarrier();
    if t == 0u {
        var a = 0u;
        var e = 0u;
        for (var j = 0u; j < WG; j++) {
            let g = cnt_gt[j];
            let q = cnt_eq[j];
            cnt_gt[j] = a;
            cnt_eq[j] = e;
            a += g;
            e += q;
        }
    }
    workgroupBarrier();
    var at_gt = cnt_gt[t];
    var at_eq = cnt_eq[t];
    let out = lr * P.k;
    for (var i = lo; i < hi; i++) {
        let v = L[base + i];
        let kk = key(v);
        if kk > thr {
            OUT[2u * (out + at_gt)] = i;
            OUT[2u * (out + at_gt) + 1u] = bitcast<u32>(v);
            at_gt += 1u;
        } else if kk == thr {
            if at_eq < need_eq {
                OUT[2u * (out + greater + at_eq)] = i;
                OUT[2u * (out + greater + at_eq) + 1u] = bitcast<u32>(v);
            }
            at_eq += 1u;
        }
    }
}

// Every element-wise op but GELU and GeGlu (gelu.wgsl) in one kernel, chosen by `op`: one
// thread per value (bindings: ew_bindings.wgsl).
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if i >= rows_of(S, P.selected) * P.width {
        return;
    }
    let x = X[i];
    var y = 0.0;
    switch P.op {
        case 0u: { y = x + X2[i]; }
        case 1u: { y = x * X2[i]; }
        case 2u: { y = silu(x) * X2[i]; }
        case 4u: { y = x * X2[(i % P.width) % P.wlen]; }
        case 5u: { y = x + X2[(i % P.width) % P.wlen]; }
        case 6u: { y = x * P.f; }
        case 8u: { y = gelu_erf(x); }
        default: { y = tanh(x * P.inv) * P.f; }
    }
    Y[i] = y;
}

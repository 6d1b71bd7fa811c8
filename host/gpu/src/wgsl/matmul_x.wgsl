// The f32 matmuls' input (the rows of x, k wide) and its reader, four values at a time with
// the row's tail zero-padded.
@group(0) @binding(3) var<storage, read> X: array<f32>;

fn x4(r: u32, g: u32) -> vec4<f32> {
    let i = r * P.k + 4u * g;
    if 4u * g + 3u < P.k {
        return vec4<f32>(X[i], X[i + 1u], X[i + 2u], X[i + 3u]);
    }
    var v = vec4<f32>(0.0);
    for (var j = 0u; j < 4u; j++) {
        if 4u * g + j < P.k {
            v[j] = X[i + j];
        }
    }
    return v;
}

// Four signed bytes of a times four of b, summed (where dot4I8Packed is missing).
fn sext4(w: u32) -> vec4<i32> {
    return vec4<i32>(bitcast<i32>(w << 24u) >> 24u, bitcast<i32>(w << 16u) >> 24u,
                     bitcast<i32>(w << 8u) >> 24u, bitcast<i32>(w) >> 24u);
}

fn idot4(a: u32, b: u32) -> i32 {
    return dot(sext4(a), sext4(b));
}

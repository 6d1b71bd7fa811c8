// The rows qdot.wgsl reads: four (xq4, idot4x) or, for its one-row copy, one (r1_xq4,
// r1_idot4x; xs unused).
// Word a of each of the four rows.
fn xq4(a: u32, xs: u32) -> vec4<u32> {
    return vec4<u32>(XQ[a], XQ[a + xs], XQ[a + 2u * xs], XQ[a + 3u * xs]);
}

// Four packed weights against word a of each row.
fn idot4x(w: u32, a: u32, xs: u32) -> vec4<i32> {
    return vec4<i32>(idot4(w, XQ[a]), idot4(w, XQ[a + xs]), idot4(w, XQ[a + 2u * xs]), idot4(w, XQ[a + 3u * xs]));
}

fn r1_xq4(a: u32, xs: u32) -> u32 {
    return XQ[a];
}

fn r1_idot4x(w: u32, a: u32, xs: u32) -> i32 {
    return idot4(w, XQ[a]);
}

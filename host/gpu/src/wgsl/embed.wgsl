// Rows of an embedding matrix for the batch's token ids (or positions): one thread per four
// values; a chunk of the matrix writes only the rows whose id falls inside it.
struct Em {
    k: u32,
    n: u32,         // rows in this chunk
    n0: u32,        // the chunk's first row
    row_words: u32,
    g4: u32,
    positions: u32, // 1: index by position (absolute position embeddings), 0: by token
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<uniform> S: Step;
@group(0) @binding(1) var<uniform> P: Em;
@group(0) @binding(2) var<storage, read> W: array<u32>;
@group(0) @binding(3) var<storage, read> B: array<u32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = linear_id(gid, nwg);
    let r = id / P.g4;
    let g = id % P.g4;
    if r >= S.rows {
        return;
    }
    let at = select(S.off_tok, S.off_pos, P.positions != 0u) + r;
    let tok = B[at];
    if tok < P.n0 || tok >= P.n0 + P.n {
        return;
    }
    let v = DQ4((tok - P.n0) * P.row_words, g);
    for (var j = 0u; j < 4u; j++) {
        if 4u * g + j < P.k {
            Y[r * P.k + 4u * g + j] = v[j];
        }
    }
}

// The bindings every matmul kernel shares (it declares its input, binding 3, itself).
struct Mm {
    k: u32,          // input width
    n: u32,          // output columns in this chunk
    n0: u32,         // the chunk's first output column
    ldo: u32,        // output row stride (all columns)
    row_words: u32,  // u32 words per weight row
    g: u32,          // per weight row: groups of four weights (f32 input), blocks (quantized)
    selected: u32,
    xrow: u32,       // u32 words per quantized input row
}

@group(0) @binding(0) var<uniform> S: Step;
@group(0) @binding(1) var<uniform> P: Mm;
@group(0) @binding(2) var<storage, read> W: array<u32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;

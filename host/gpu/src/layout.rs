//! How a weight's GGUF bytes become GPU words. WGSL reads storage as u32, and GGUF blocks of
//! 18, 22, 34 or 110 bytes put their fields at odd offsets: each block is repacked so that its
//! quant bytes start on a word, with the leading f16 scale of Q4_0, Q5_0 and Q8_0 moved behind
//! them, and padded to whole words. Rows are padded to a multiple of 4 elements (element
//! types) so every kernel reads a weight four values at a time. The WGSL side of each layout
//! is `wgsl/types.wgsl`.

use wollama_plan::GgmlType;

/// A weight type the GPU executor runs, and where its block's fields lie once repacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub ty: GgmlType,
    /// Elements per block (1 for F32, F16 and BF16).
    pub block: usize,
    /// Bytes per GGUF block.
    pub src_bytes: usize,
    /// Bytes at the front of a GGUF block that move to the back (the f16 `d` of Q4_0, Q5_0, Q8_0).
    pub lead: usize,
}

/// What a matmul quantizes its activation rows to before it reads a weight of this type
/// (ggml's vec_dot_type): Q8_0 and Q8_1 share one GPU layout (`wgsl/qdot.wgsl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Partner {
    F32,
    /// Values rounded to f16 (F16 weights) or bf16 (BF16 weights), still f32 words.
    F16,
    Bf16,
    /// Q8_0 or Q8_1 blocks of 32: 11 words each.
    Q8,
    /// Q8_K blocks of 256: 81 words each.
    Q8K,
}

impl Partner {
    /// Values per block and words per block on the GPU.
    fn block(self) -> (usize, usize) {
        match self {
            Partner::Q8 => (32, 11),
            Partner::Q8K => (256, 81),
            _ => (1, 1),
        }
    }

    /// u32 words one quantized row of `k` values occupies.
    pub fn row_words(self, k: usize) -> usize {
        let (n, w) = self.block();
        k / n * w
    }

    /// The quantize kernel's mode (`wgsl/quantize.wgsl`) and its threads per row.
    pub fn mode_units(self, k: usize) -> (u32, u32) {
        match self {
            Partner::Q8 => (0, (k / 32) as u32),
            Partner::Q8K => (1, (k / 256) as u32),
            Partner::F16 => (2, k.div_ceil(4) as u32),
            Partner::Bf16 | Partner::F32 => (3, k.div_ceil(4) as u32),
        }
    }
}

/// The types the executor runs, by ggml id: the CPU executor's set.
pub const SUPPORTED: [u32; 13] = [0, 1, 30, 2, 3, 6, 7, 8, 10, 11, 12, 13, 14];

impl Layout {
    pub fn of(ggml_type: u32) -> Option<Layout> {
        if !SUPPORTED.contains(&ggml_type) {
            return None;
        }
        let ty = GgmlType::from_u32(ggml_type)?;
        let lead = if matches!(ggml_type, 2 | 6 | 8) { 2 } else { 0 };
        Some(Layout { ty, block: ty.block_size as usize, src_bytes: ty.block_bytes as usize, lead })
    }

    /// The type its activations are quantized to.
    pub fn partner(&self) -> Partner {
        match self.ty.id {
            0 => Partner::F32,
            1 => Partner::F16,
            30 => Partner::Bf16,
            2 | 3 | 6 | 7 | 8 => Partner::Q8,
            _ => Partner::Q8K,
        }
    }

    /// The WGSL name of this type's functions (`dq4_<name>`), lower case.
    pub fn wgsl_name(&self) -> String {
        self.ty.name.to_ascii_lowercase()
    }

    /// Whether ggml-cpu's (AVX2) dot product of this type is eight lanes of f32 FMA over the
    /// blocks, one lane per four values, summed at the end (Q5_0 and Q8_0): the vector
    /// matmul then gives each lane a thread and reproduces it bit for bit
    /// (`wgsl/matmul_vec_q.wgsl`).
    pub fn ggml_lanes(&self) -> bool {
        matches!(self.wgsl_name().as_str(), "q5_0" | "q8_0")
    }

    fn is_element(&self) -> bool {
        self.block == 1
    }

    /// Elements of a row as stored: the row length rounded up to 4 for element types.
    pub fn padded_len(&self, k: usize) -> usize {
        if self.is_element() {
            k.div_ceil(4) * 4
        } else {
            k
        }
    }

    /// u32 words one row occupies on the GPU.
    pub fn row_words(&self, k: usize) -> usize {
        if self.is_element() {
            self.padded_len(k) * self.src_bytes / 4
        } else {
            k / self.block * self.src_bytes.div_ceil(4)
        }
    }

    /// Bytes one row occupies in the GGUF file.
    pub fn row_bytes(&self, k: usize) -> usize {
        k / self.block * self.src_bytes
    }

    /// Whether a row of `k` elements is whole blocks.
    pub fn fits(&self, k: usize) -> bool {
        k > 0 && k.is_multiple_of(self.block)
    }

    /// Appends `rows` rows of `k` elements, GGUF bytes `src`, repacked.
    pub fn repack(&self, src: &[u8], k: usize, out: &mut Vec<u32>) {
        let row_bytes = self.row_bytes(k);
        debug_assert_eq!(src.len() % row_bytes, 0);
        let word = |b: &[u8]| {
            let mut w = [0u8; 4];
            w[..b.len()].copy_from_slice(b);
            u32::from_le_bytes(w)
        };
        for row in src.chunks_exact(row_bytes) {
            if self.is_element() {
                let start = out.len();
                out.extend(row.chunks(4).map(word));
                out.resize(start + self.row_words(k), 0);
                continue;
            }
            for block in row.chunks_exact(self.src_bytes) {
                let (front, rest) = block.split_at(self.lead);
                out.extend(rest.chunks(4).map(word));
                if !front.is_empty() {
                    out.push(word(front));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_become_whole_words_with_the_scale_behind_the_quants() {
        let q4_0 = Layout::of(2).expect("Q4_0");
        // d = 0x0102, then 16 quant bytes 0x10..0x1f.
        let mut block = vec![0x02u8, 0x01];
        block.extend(0x10u8..0x20);
        let mut out = Vec::new();
        q4_0.repack(&block, 32, &mut out);
        assert_eq!(out.len(), 5);
        assert_eq!(out[0], u32::from_le_bytes([0x10, 0x11, 0x12, 0x13]));
        assert_eq!(out[4], 0x0102);
        assert_eq!(q4_0.row_words(64), 10);

        let q6_k = Layout::of(14).expect("Q6_K");
        assert_eq!(q6_k.row_words(256), 53, "210 bytes pad to 212");
        let q3_k = Layout::of(11).expect("Q3_K");
        assert_eq!(q3_k.row_words(512), 56);
    }

    #[test]
    fn element_rows_pad_to_four_values() {
        let f16 = Layout::of(1).expect("F16");
        let src: Vec<u8> = (1..=10).collect(); // one row of 5 f16 values
        let mut out = Vec::new();
        f16.repack(&src, 5, &mut out);
        assert_eq!(out.len(), 4, "5 values pad to 8 halves, 4 words");
        assert_eq!(out[2], u32::from_le_bytes([9, 10, 0, 0]));
        assert_eq!(out[3], 0);
        assert!(Layout::of(15).is_none(), "Q8_K is not a weight type");
    }
}

//! The ggml tensor types, one table for the guest (which sizes tensors while parsing GGUF and
//! names types for `/api/show`) and the host (which binds weights and names the types it
//! cannot run). Ids, names and block layouts are ggml's (`ggml.h`, `ggml.c` type traits).

/// A ggml tensor type known to wollama. Knowing a type means knowing its layout; whether an
/// executor can compute with it is the executor's to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GgmlType {
    /// The GGUF/ggml type id.
    pub id: u32,
    /// ggml's name, e.g. "Q4_1".
    pub name: &'static str,
    /// Elements per block (1 for plain element types).
    pub block_size: u64,
    /// Bytes per block.
    pub block_bytes: u64,
}

/// (id, name, elements per block, bytes per block). Ids 4 and 5 (Q4_2, Q4_3) and 31..=33 are
/// retired in ggml and absent here.
const TABLE: &[(u32, &str, u64, u64)] = &[
    (0, "F32", 1, 4),
    (1, "F16", 1, 2),
    (2, "Q4_0", 32, 18),
    (3, "Q4_1", 32, 20),
    (6, "Q5_0", 32, 22),
    (7, "Q5_1", 32, 24),
    (8, "Q8_0", 32, 34),
    (9, "Q8_1", 32, 36),
    (10, "Q2_K", 256, 84),
    (11, "Q3_K", 256, 110),
    (12, "Q4_K", 256, 144),
    (13, "Q5_K", 256, 176),
    (14, "Q6_K", 256, 210),
    (15, "Q8_K", 256, 292),
    (16, "IQ2_XXS", 256, 66),
    (17, "IQ2_XS", 256, 74),
    (18, "IQ3_XXS", 256, 98),
    (19, "IQ1_S", 256, 50),
    (20, "IQ4_NL", 32, 18),
    (21, "IQ3_S", 256, 110),
    (22, "IQ2_S", 256, 82),
    (23, "IQ4_XS", 256, 136),
    (24, "I8", 1, 1),
    (25, "I16", 1, 2),
    (26, "I32", 1, 4),
    (27, "I64", 1, 8),
    (28, "F64", 1, 8),
    (29, "IQ1_M", 256, 56),
    (30, "BF16", 1, 2),
    (34, "TQ1_0", 256, 54),
    (35, "TQ2_0", 256, 66),
    (39, "MXFP4", 32, 17),
];

impl GgmlType {
    /// The type with ggml id `id`; None for an id this table does not know.
    pub fn from_u32(id: u32) -> Option<GgmlType> {
        TABLE
            .iter()
            .find(|t| t.0 == id)
            .map(|&(id, name, block_size, block_bytes)| GgmlType { id, name, block_size, block_bytes })
    }

    /// Every known type, by id.
    pub fn all() -> impl Iterator<Item = GgmlType> {
        TABLE.iter().filter_map(|t| GgmlType::from_u32(t.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_ggml() {
        let layout = |id| GgmlType::from_u32(id).map(|t| (t.name, t.block_size, t.block_bytes));
        assert_eq!(layout(0), Some(("F32", 1, 4)));
        assert_eq!(layout(2), Some(("Q4_0", 32, 18)));
        assert_eq!(layout(3), Some(("Q4_1", 32, 20)));
        assert_eq!(layout(8), Some(("Q8_0", 32, 34)));
        assert_eq!(layout(14), Some(("Q6_K", 256, 210)));
        assert_eq!(layout(30), Some(("BF16", 1, 2)));
        // Once only in the executor's table.
        assert_eq!(layout(34), Some(("TQ1_0", 256, 54)));
        assert_eq!(layout(35), Some(("TQ2_0", 256, 66)));
        assert_eq!(layout(39), Some(("MXFP4", 32, 17)));
        assert_eq!(layout(4), None);
        assert_eq!(layout(1000), None);
    }

    #[test]
    fn the_table_is_sorted_and_unique() {
        let ids: Vec<u32> = GgmlType::all().map(|t| t.id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        assert_eq!(ids.len(), TABLE.len());
        let names: std::collections::HashSet<_> = GgmlType::all().map(|t| t.name).collect();
        assert_eq!(names.len(), TABLE.len());
    }
}

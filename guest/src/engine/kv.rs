//! KV cell policy: which cell holds which (sequence, position). The host only stores the
//! K/V rows; this table decides visibility. A cell may belong to several sequences at once,
//! which is how a prompt prefix is shared between requests without copying anything.

use std::collections::BTreeSet;

pub const MAX_SEQS: u32 = 64;

#[derive(Debug, Clone)]
pub struct KvCells {
    pos: Vec<i32>,
    seqs: Vec<u64>,
    free: BTreeSet<u32>,
}

impl KvCells {
    pub fn new(cells: u32) -> Self {
        KvCells { pos: vec![-1; cells as usize], seqs: vec![0; cells as usize], free: (0..cells).collect() }
    }

    pub fn capacity(&self) -> u32 {
        self.pos.len() as u32
    }

    pub fn free_count(&self) -> u32 {
        self.free.len() as u32
    }

    /// Takes the lowest free cell for `seq` at `pos`: low indices keep the table the host
    /// scans short.
    pub fn alloc(&mut self, seq: u32, pos: i32) -> Option<u32> {
        let cell = self.free.pop_first()?;
        self.pos[cell as usize] = pos;
        self.seqs[cell as usize] = 1 << seq;
        Some(cell)
    }

    /// Lets `seq` see an existing cell (prefix sharing).
    pub fn share(&mut self, cell: u32, seq: u32) {
        debug_assert!(self.pos[cell as usize] >= 0, "sharing an empty cell");
        self.seqs[cell as usize] |= 1 << seq;
    }

    /// Removes `seq` from a cell; the cell is free once no sequence holds it.
    pub fn release(&mut self, cell: u32, seq: u32) {
        let c = cell as usize;
        self.seqs[c] &= !(1u64 << seq);
        if self.seqs[c] == 0 && self.pos[c] >= 0 {
            self.pos[c] = -1;
            self.free.insert(cell);
        }
    }

    /// Cells [0, n) where n is one past the highest cell in use.
    pub fn table(&self) -> (Vec<i32>, Vec<u64>) {
        let n = self.pos.iter().rposition(|&p| p >= 0).map_or(0, |i| i + 1);
        (self.pos[..n].to_vec(), self.seqs[..n].to_vec())
    }

    pub fn seqs_of(&self, cell: u32) -> u64 {
        self.seqs[cell as usize]
    }

    pub fn pos_of(&self, cell: u32) -> i32 {
        self.pos[cell as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_cells_live_until_every_sequence_releases_them() {
        let mut kv = KvCells::new(4);
        let a = kv.alloc(0, 0).unwrap();
        let b = kv.alloc(0, 1).unwrap();
        kv.share(a, 1);
        kv.release(a, 0);
        kv.release(b, 0);
        assert_eq!(kv.free_count(), 3, "cell a is still held by sequence 1");
        assert_eq!(kv.seqs_of(a), 0b10);
        kv.release(a, 1);
        assert_eq!(kv.free_count(), 4);
        assert_eq!(kv.table().0.len(), 0);
    }

    #[test]
    fn allocates_lowest_cells_and_table_ends_at_the_last_used() {
        let mut kv = KvCells::new(8);
        let cells: Vec<u32> = (0..3).map(|p| kv.alloc(2, p).unwrap()).collect();
        assert_eq!(cells, vec![0, 1, 2]);
        kv.release(1, 2);
        assert_eq!(kv.alloc(3, 9), Some(1));
        kv.release(2, 2);
        let (pos, seqs) = kv.table();
        assert_eq!(pos, vec![0, 9]);
        assert_eq!(seqs, vec![1 << 2, 1 << 3]);
    }

    #[test]
    fn runs_out_cleanly() {
        let mut kv = KvCells::new(2);
        assert!(kv.alloc(0, 0).is_some());
        assert!(kv.alloc(0, 1).is_some());
        assert_eq!(kv.alloc(0, 2), None);
    }
}

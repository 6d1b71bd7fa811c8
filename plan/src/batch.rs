//! One forward pass: the rows the guest's scheduler picked and the KV cell bookkeeping the
//! host needs to run the plan's attention, and what comes back per logit row.

use crate::spec::PlanSpec;

/// One bias entry: (token, penalty, add). A positive logit is divided by `penalty`, a
/// negative one multiplied (llama.cpp's repeat penalty), then `add` is added (presence,
/// frequency and logit bias). -inf bans a token.
pub type Bias = (u32, f32, f32);

/// One forward pass. The plan it runs on is the host's business (the WIT batch names it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    pub tokens: Vec<u32>,
    pub positions: Vec<i32>,
    /// Per row: its sequence (slot), < 64.
    pub seqs: Vec<u32>,
    /// Per row: the KV cell its K/V go to.
    pub write_cells: Vec<u32>,
    /// For cells [0, n): the position (-1 = empty) and the set of sequences (bit i = slot i)
    /// that see it.
    pub cell_pos: Vec<i32>,
    pub cell_seqs: Vec<u64>,
    /// (src, dst) cell copies done before the pass, in order (prefix sharing).
    pub copies: Vec<(u32, u32)>,
    /// Rows whose logits come back, in order.
    pub logit_rows: Vec<u32>,
    /// Per logit row, applied before top-k.
    pub bias: Vec<Vec<Bias>>,
    /// Candidates per logit row to read back. 0: each output row comes back whole, unsorted,
    /// with no ids (pooled embeddings).
    pub top_k: u32,
    /// Logit rows (indices into `logit_rows`, ascending) whose row of the plan's `hidden`
    /// output comes back whole, with no ids, instead of candidates: the last prompt token of a
    /// decoder's embedding request.
    pub hidden_rows: Vec<u32>,
}

/// The k best (id, logit) of one logit row, best first (ties: lower id first); or a whole
/// row with `ids` empty (pooled vectors, hidden rows).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Candidates {
    pub ids: Vec<u32>,
    pub logits: Vec<f32>,
}

impl Batch {
    /// One sequence (slot 0) whole: `tokens` at positions 0.. in cells 0.., every row a logit
    /// row without bias. Tests and probes compare executors on it.
    pub fn whole_sequence(tokens: Vec<u32>, top_k: u32) -> Batch {
        let n = tokens.len();
        Batch {
            positions: (0..n as i32).collect(),
            seqs: vec![0; n],
            write_cells: (0..n as u32).collect(),
            cell_pos: (0..n as i32).collect(),
            cell_seqs: vec![1; n],
            logit_rows: (0..n as u32).collect(),
            bias: vec![vec![]; n],
            top_k,
            tokens,
            ..Default::default()
        }
    }

    /// Checks the batch against the plan before anything runs, so that a guest bug is an
    /// error rather than an out-of-bounds access. `vocab` bounds the token ids.
    pub fn validate(&self, spec: &PlanSpec, vocab: u32) -> Result<(), String> {
        let rows = self.tokens.len();
        if rows == 0 {
            return Err("empty batch".into());
        }
        if rows > spec.max_rows as usize {
            return Err(format!("batch of {rows} rows exceeds the plan's {}", spec.max_rows));
        }
        if self.positions.len() != rows || self.seqs.len() != rows || self.write_cells.len() != rows {
            return Err("tokens, positions, seqs and write_cells differ in length".into());
        }
        if self.cell_pos.len() != self.cell_seqs.len() || self.cell_pos.len() > spec.kv.cells as usize {
            return Err("cell table is malformed or larger than the cache".into());
        }
        let cells = spec.kv.cells;
        if let Some(c) = self.write_cells.iter().find(|&&c| c >= cells) {
            return Err(format!("write cell {c} is outside the cache of {cells}"));
        }
        if let Some(s) = self.seqs.iter().find(|&&s| s >= 64) {
            return Err(format!("sequence {s} is not below 64"));
        }
        if let Some(t) = self.tokens.iter().find(|&&t| t >= vocab) {
            return Err(format!("token {t} is outside the vocabulary of {vocab}"));
        }
        if self.copies.iter().any(|&(s, d)| s >= cells || d >= cells) {
            return Err("cell copy outside the cache".into());
        }
        if let Some(r) = self.logit_rows.iter().find(|&&r| r as usize >= rows) {
            return Err(format!("logit row {r} is outside the batch"));
        }
        if self.bias.len() != self.logit_rows.len() {
            return Err("one bias list per logit row is required".into());
        }
        if !self.hidden_rows.is_empty() && spec.hidden.is_none() {
            return Err("the batch asks for hidden rows, but the plan has no hidden output".into());
        }
        if self.hidden_rows.windows(2).any(|w| w[0] >= w[1]) {
            return Err("hidden rows must be ascending and distinct".into());
        }
        if let Some(r) = self.hidden_rows.iter().find(|&&r| r as usize >= self.logit_rows.len()) {
            return Err(format!("hidden row {r} is not one of the {} logit rows", self.logit_rows.len()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KvSpec, Op};

    fn spec(hidden: Option<u32>) -> PlanSpec {
        PlanSpec {
            weights: Vec::new(),
            nodes: vec![Op::Embed(0), Op::SelectRows(0)],
            logits: 1,
            hidden,
            kv: KvSpec { cells: 8, widths: vec![4] },
            max_rows: 4,
        }
    }

    /// Two rows of sequence 0 at positions 0 and 1, the last one's logits wanted.
    fn batch() -> Batch {
        Batch {
            tokens: vec![1, 2],
            positions: vec![0, 1],
            seqs: vec![0, 0],
            write_cells: vec![0, 1],
            cell_pos: vec![0, 1],
            cell_seqs: vec![1, 1],
            copies: Vec::new(),
            logit_rows: vec![1],
            bias: vec![Vec::new()],
            top_k: 1,
            hidden_rows: Vec::new(),
        }
    }

    fn error(b: Batch, hidden: Option<u32>) -> String {
        b.validate(&spec(hidden), 10).expect_err("the batch is invalid")
    }

    #[test]
    fn a_well_formed_batch_passes() {
        assert_eq!(batch().validate(&spec(None), 10), Ok(()));
        let b = Batch { hidden_rows: vec![0], ..batch() };
        assert_eq!(b.validate(&spec(Some(0)), 10), Ok(()));
    }

    #[test]
    fn malformed_batches_say_what_is_wrong() {
        let cases: Vec<(Batch, &str)> = vec![
            (Batch::default(), "empty batch"),
            (Batch { tokens: vec![1; 5], ..batch() }, "batch of 5 rows exceeds the plan's 4"),
            (Batch { positions: vec![0], ..batch() }, "differ in length"),
            (Batch { cell_seqs: vec![1], ..batch() }, "cell table is malformed"),
            (Batch { cell_pos: vec![0; 9], cell_seqs: vec![1; 9], ..batch() }, "larger than the cache"),
            (Batch { write_cells: vec![0, 8], ..batch() }, "write cell 8 is outside the cache of 8"),
            (Batch { seqs: vec![0, 64], ..batch() }, "sequence 64 is not below 64"),
            (Batch { tokens: vec![1, 10], ..batch() }, "token 10 is outside the vocabulary of 10"),
            (Batch { copies: vec![(0, 8)], ..batch() }, "cell copy outside the cache"),
            (Batch { logit_rows: vec![2], ..batch() }, "logit row 2 is outside the batch"),
            (Batch { bias: Vec::new(), ..batch() }, "one bias list per logit row"),
            (Batch { hidden_rows: vec![0], ..batch() }, "the plan has no hidden output"),
        ];
        for (b, want) in cases {
            let got = error(b, None);
            assert!(got.contains(want), "{got:?} should say {want:?}");
        }
    }

    #[test]
    fn hidden_rows_are_ascending_logit_row_indices() {
        let two = || Batch { logit_rows: vec![0, 1], bias: vec![Vec::new(); 2], ..batch() };
        let got = error(Batch { hidden_rows: vec![1, 0], ..two() }, Some(0));
        assert!(got.contains("ascending and distinct"), "{got}");
        let got = error(Batch { hidden_rows: vec![1, 1], ..two() }, Some(0));
        assert!(got.contains("ascending and distinct"), "{got}");
        let got = error(Batch { hidden_rows: vec![2], ..two() }, Some(0));
        assert_eq!(got, "hidden row 2 is not one of the 2 logit rows");
    }
}

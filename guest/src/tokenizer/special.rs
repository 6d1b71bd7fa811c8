//! Splitting special-token texts out of the input before the model tokenizer runs, as
//! llama.cpp's `tokenizer_st_partition`: special tokens (control, user-defined, unknown) are
//! taken longest text first; each cuts every remaining text fragment at all its occurrences.
//! Control and unknown tokens are only recognised when parsing specials; user-defined ones are
//! always (as Hugging Face tokenizers do).
//!
//! Models have thousands of special tokens (Gemma 3: 6400), so a trie first finds which of them
//! occur in the text at all; only those are applied, in llama.cpp's order, which gives the same
//! result as trying each one.

use super::{attr, Vocab};
use std::ops::Range;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fragment {
    Text(Range<usize>),
    Token(u32),
}

pub struct Specials {
    /// Special token ids, longest text first (ties by id).
    order: Vec<u32>,
    trie: Vec<Node>,
}

#[derive(Default)]
struct Node {
    edges: Vec<(u8, u32)>,
    /// Index into `order` of the token whose text ends here.
    rank: Option<u32>,
}

const ROOT: u32 = 0;

impl Specials {
    pub fn new(vocab: &Vocab) -> Specials {
        let special = attr::CONTROL | attr::USER_DEFINED | attr::UNKNOWN;
        let mut order: Vec<u32> = (0..vocab.len() as u32).filter(|&id| vocab.attr(id) & special != 0).collect();
        // llama.cpp's sort is unstable; ids break its ties here so the result is deterministic.
        order.sort_by_key(|&id| std::cmp::Reverse(vocab.text(id).len()));
        let mut trie = vec![Node::default()];
        for (rank, &id) in order.iter().enumerate() {
            let mut node = ROOT;
            for &b in vocab.text(id).as_bytes() {
                let found = trie[node as usize].edges.iter().find(|e| e.0 == b).map(|e| e.1);
                node = found.unwrap_or_else(|| {
                    trie.push(Node::default());
                    let child = trie.len() as u32 - 1;
                    trie[node as usize].edges.push((b, child));
                    child
                });
            }
            trie[node as usize].rank.get_or_insert(rank as u32);
        }
        Specials { order, trie }
    }

    /// The ranks of the special tokens whose text occurs somewhere in `text`, ascending.
    fn present(&self, text: &[u8]) -> Vec<u32> {
        let mut found = Vec::new();
        for start in 0..text.len() {
            let mut node = ROOT;
            for &b in &text[start..] {
                match self.trie[node as usize].edges.iter().find(|e| e.0 == b) {
                    Some(&(_, child)) => node = child,
                    None => break,
                }
                found.extend(self.trie[node as usize].rank);
            }
        }
        found.sort_unstable();
        found.dedup();
        found
    }

    pub fn partition(&self, vocab: &Vocab, text: &str, parse_special: bool) -> Vec<Fragment> {
        if text.is_empty() {
            return Vec::new();
        }
        let mut frags = vec![Fragment::Text(0..text.len())];
        for rank in self.present(text.as_bytes()) {
            let id = self.order[rank as usize];
            let a = vocab.attr(id);
            if !parse_special && a & (attr::CONTROL | attr::UNKNOWN) != 0 {
                continue;
            }
            let mut next = Vec::with_capacity(frags.len() + 2);
            for frag in frags {
                match frag {
                    Fragment::Text(r) => cut(text, r, vocab.text(id), id, a, &mut next),
                    token => next.push(token),
                }
            }
            frags = next;
        }
        frags
    }
}

/// C's isspace in the "C" locale, which llama.cpp's lstrip/rstrip use.
fn c_isspace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

/// Cuts one text fragment at every occurrence of a special token's text.
fn cut(text: &str, range: Range<usize>, needle: &str, id: u32, a: u16, out: &mut Vec<Fragment>) {
    let bytes = text.as_bytes();
    let (mut start, end) = (range.start, range.end);
    while start < end {
        let Some(at) = text[start..end].find(needle).map(|i| start + i) else {
            out.push(Fragment::Text(start..end));
            return;
        };
        let mut left_end = at;
        if a & attr::LSTRIP != 0 {
            while left_end > start && c_isspace(bytes[left_end - 1]) {
                left_end -= 1;
            }
        }
        if left_end > start {
            out.push(Fragment::Text(start..left_end));
        }
        out.push(Fragment::Token(id));
        start = at + needle.len();
        if a & attr::RSTRIP != 0 {
            while start < end && c_isspace(bytes[start]) {
                start += 1;
            }
        }
    }
}

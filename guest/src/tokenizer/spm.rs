//! SentencePiece-style BPE (`tokenizer.ggml.model` = "llama"), as llama.cpp's
//! `llm_tokenizer_spm_session`: start from characters, repeatedly merge the adjacent pair whose
//! concatenation is the highest-scoring vocabulary entry (ties to the leftmost), and spell
//! whatever never became a token as byte tokens.

use super::Vocab;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

const NONE: u32 = u32::MAX;

pub struct Spm {
    /// `<0xXX>` for each byte (or the byte itself as a token), for characters outside the vocab.
    byte_tokens: [Option<u32>; 256],
    unk: Option<u32>,
}

impl Spm {
    pub fn new(vocab: &Vocab, unk: Option<u32>) -> Spm {
        let mut byte_tokens = [None; 256];
        for (b, slot) in byte_tokens.iter_mut().enumerate() {
            *slot = vocab.id(&format!("<0x{b:02X}>")).or_else(|| {
                let b = b as u8;
                b.is_ascii().then(|| vocab.id((b as char).encode_utf8(&mut [0; 4]))).flatten()
            });
        }
        Spm { byte_tokens, unk }
    }

    /// Encodes text whose spaces are already escaped as '▁'.
    pub fn encode(&self, vocab: &Vocab, text: &str, out: &mut Vec<u32>) {
        let mut syms: Vec<Sym> = Vec::with_capacity(text.len());
        for (i, (start, c)) in text.char_indices().enumerate() {
            let i = i as u32;
            syms.push(Sym {
                start: start as u32,
                len: c.len_utf8() as u32,
                id: NONE,
                prev: i.wrapping_sub(1),
                next: i + 1,
            });
        }
        if let Some(last) = syms.last_mut() {
            last.next = NONE;
        }
        let mut heap = BinaryHeap::new();
        for i in 1..syms.len() as u32 {
            push_pair(vocab, text, &syms, &mut heap, i - 1, i);
        }
        while let Some(cand) = heap.pop() {
            let (l, r) = (syms[cand.left as usize], syms[cand.right as usize]);
            if l.len == 0 || r.len == 0 || l.len + r.len != cand.size {
                continue;
            }
            let left = &mut syms[cand.left as usize];
            left.len += r.len;
            left.id = cand.id;
            left.next = r.next;
            syms[cand.right as usize].len = 0;
            if r.next != NONE {
                syms[r.next as usize].prev = cand.left;
            }
            push_pair(vocab, text, &syms, &mut heap, l.prev, cand.left);
            push_pair(vocab, text, &syms, &mut heap, cand.left, r.next);
        }
        for sym in syms.iter().filter(|s| s.len > 0) {
            let piece = &text[sym.start as usize..(sym.start + sym.len) as usize];
            let id = if sym.id != NONE { Some(sym.id) } else { vocab.id(piece) };
            match id {
                Some(id) => out.push(id),
                // llama.cpp would throw on a byte with no token; the unknown token is kinder.
                None => out.extend(piece.bytes().filter_map(|b| self.byte_tokens[b as usize].or(self.unk))),
            }
        }
    }
}

fn push_pair(vocab: &Vocab, text: &str, syms: &[Sym], heap: &mut BinaryHeap<Candidate>, left: u32, right: u32) {
    if left == NONE || right == NONE {
        return;
    }
    let (l, r) = (syms[left as usize], syms[right as usize]);
    let size = l.len + r.len;
    if let Some(id) = vocab.id(&text[l.start as usize..(l.start + size) as usize]) {
        heap.push(Candidate { score: vocab.score(id), left, right, size, id });
    }
}

#[derive(Clone, Copy)]
struct Sym {
    start: u32,
    len: u32,
    /// The token this symbol became by merging; NONE for a single character.
    id: u32,
    prev: u32,
    next: u32,
}

struct Candidate {
    score: f32,
    left: u32,
    right: u32,
    size: u32,
    id: u32,
}

/// The highest score pops first; among equal scores the leftmost.
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score.partial_cmp(&other.score).unwrap_or(Ordering::Equal).then_with(|| other.left.cmp(&self.left))
    }
}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}

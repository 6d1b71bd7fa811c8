//! Byte-level BPE (`tokenizer.ggml.model` = "gpt2"), merging like llama.cpp's
//! `llm_tokenizer_bpe_session`: per pre-token, the lowest-rank adjacent pair first, ties to the
//! leftmost. Strings are interned to ids at load so that a merge is one hash lookup of two ids.

use super::pretokenize::{PreConfig, PreTokenizer};
use super::unicode::{gpt2_byte_chars, CharClasses};
use super::{FxMap, Vocab};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

const NONE: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Merge {
    rank: u32,
    /// The interned id of the joined string: a vocab id when it is a token, else an id past
    /// the vocabulary (such a symbol falls back to bytes, as in llama.cpp).
    result: u32,
}

pub struct Bpe {
    merges: FxMap<u64, Merge>,
    /// Interned id of each byte's GPT-2 character.
    byte_sym: [u32; 256],
    byte_chars: [char; 256],
    /// The token a lone printable-ASCII byte falls back to (llama.cpp looks up single bytes of
    /// the GPT-2 text, so only bytes that map to themselves can be found).
    ascii_token: [u32; 128],
    n_vocab: u32,
    ignore_merges: bool,
    pre: PreTokenizer,
    classes: CharClasses,
}

fn pair(left: u32, right: u32) -> u64 {
    (left as u64) << 32 | right as u64
}

impl Bpe {
    pub fn new(vocab: &Vocab, merges: &[String], pre: &PreConfig) -> Result<Bpe, String> {
        let n_vocab = vocab.len() as u32;
        let mut extra: FxMap<String, u32> = FxMap::default();
        let mut intern = |s: &str| -> u32 {
            if let Some(id) = vocab.id(s) {
                return id;
            }
            if let Some(&id) = extra.get(s) {
                return id;
            }
            let id = n_vocab + extra.len() as u32;
            extra.insert(s.to_string(), id);
            id
        };

        let mut table = FxMap::with_capacity_and_hasher(merges.len(), Default::default());
        let mut joined = String::new();
        for (rank, m) in merges.iter().enumerate() {
            // "left right", split at the first space after the first byte (a merge may start
            // with a space character in non-GPT-2 vocabularies).
            let Some(sp) = m.bytes().skip(1).position(|b| b == b' ').map(|p| p + 1) else { continue };
            let (a, b) = (&m[..sp], &m[sp + 1..]);
            joined.clear();
            joined.push_str(a);
            joined.push_str(b);
            let (left, right, result) = (intern(a), intern(b), intern(&joined));
            // The first listing of a pair wins, as with llama.cpp's map emplace.
            table.entry(pair(left, right)).or_insert(Merge { rank: rank as u32, result });
        }

        let byte_chars = gpt2_byte_chars();
        let mut byte_sym = [NONE; 256];
        let mut buf = [0u8; 4];
        for (b, c) in byte_chars.iter().enumerate() {
            let s: &str = c.encode_utf8(&mut buf);
            byte_sym[b] = vocab.id(s).or_else(|| extra.get(s).copied()).unwrap_or(NONE);
        }
        let mut ascii_token = [NONE; 128];
        for b in 0x21..0x7Fu8 {
            ascii_token[b as usize] = vocab.id((b as char).encode_utf8(&mut buf)).unwrap_or(NONE);
        }

        Ok(Bpe {
            merges: table,
            byte_sym,
            byte_chars,
            ascii_token,
            n_vocab,
            ignore_merges: pre.ignore_merges,
            pre: PreTokenizer::new(pre.patterns)?,
            classes: CharClasses::new(),
        })
    }

    pub fn encode(&self, vocab: &Vocab, text: &str, out: &mut Vec<u32>) {
        let mut scratch = Scratch::default();
        for word in self.pre.split(text, &self.classes) {
            self.encode_word(vocab, &text.as_bytes()[word], out, &mut scratch);
        }
    }

    fn encode_word(&self, vocab: &Vocab, bytes: &[u8], out: &mut Vec<u32>, s: &mut Scratch) {
        if self.ignore_merges {
            let encoded: String = bytes.iter().map(|&b| self.byte_chars[b as usize]).collect();
            if let Some(id) = vocab.id(&encoded) {
                out.push(id);
                return;
            }
        }
        // One symbol per byte: each GPT-2 character stands for exactly one byte.
        s.syms.clear();
        s.syms.extend(bytes.iter().enumerate().map(|(i, &b)| Sym {
            id: self.byte_sym[b as usize],
            start: i as u32,
            len: 1,
            prev: if i == 0 { NONE } else { i as u32 - 1 },
            next: if i + 1 == bytes.len() { NONE } else { i as u32 + 1 },
        }));
        s.heap.clear();
        for i in 1..s.syms.len() as u32 {
            self.push_pair(s, i - 1, i);
        }
        while let Some(Reverse(cand)) = s.heap.pop() {
            let (l, r) = (s.syms[cand.left as usize], s.syms[cand.right as usize]);
            // Stale: one side was merged away or has grown since the pair was queued.
            if l.len == 0 || r.len == 0 || l.len + r.len != cand.size {
                continue;
            }
            let left = &mut s.syms[cand.left as usize];
            left.len += r.len;
            left.id = cand.result;
            left.next = r.next;
            s.syms[cand.right as usize].len = 0;
            if r.next != NONE {
                s.syms[r.next as usize].prev = cand.left;
            }
            self.push_pair(s, l.prev, cand.left);
            self.push_pair(s, cand.left, r.next);
        }
        for sym in s.syms.iter().filter(|sym| sym.len > 0) {
            if sym.id < self.n_vocab {
                out.push(sym.id);
                continue;
            }
            let start = sym.start as usize;
            for &b in &bytes[start..start + sym.len as usize] {
                if let Some(&id) = self.ascii_token.get(b as usize).filter(|&&id| id != NONE) {
                    out.push(id);
                }
            }
        }
    }

    fn push_pair(&self, s: &mut Scratch, left: u32, right: u32) {
        if left == NONE || right == NONE {
            return;
        }
        let (l, r) = (s.syms[left as usize], s.syms[right as usize]);
        if let Some(m) = self.merges.get(&pair(l.id, r.id)) {
            s.heap.push(Reverse(Candidate { rank: m.rank, left, right, size: l.len + r.len, result: m.result }));
        }
    }
}

#[derive(Clone, Copy)]
struct Sym {
    id: u32,
    start: u32,
    len: u32,
    prev: u32,
    next: u32,
}

/// Ordered by rank, then by position: the order llama.cpp's queue pops in.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Candidate {
    rank: u32,
    left: u32,
    right: u32,
    size: u32,
    result: u32,
}

#[derive(Default)]
struct Scratch {
    syms: Vec<Sym>,
    heap: BinaryHeap<Reverse<Candidate>>,
}

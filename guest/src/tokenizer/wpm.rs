//! WordPiece (`tokenizer.ggml.model` = "bert"), as Hugging Face's BERT tokenizer behaves:
//! the text is cleaned (control characters dropped, whitespace made spaces), CJK ideographs
//! become words of their own, accents are stripped (NFD, then nonspacing marks removed) and
//! the text lower-cased; it is split at whitespace and around each punctuation character, and
//! every word is matched greedily, longest piece first. The GGUF vocabulary follows llama.cpp's
//! convention: a word-initial piece is stored with a leading '▁' and a continuation piece bare
//! (HF's "##" prefix removed), so a word is matched as "▁word".

use regex_syntax::hir::{Class, HirKind};
use unicode_normalization::UnicodeNormalization;

use super::unicode::{CharClasses, PUNCT};
use super::Vocab;

/// HF's `max_input_chars_per_word`: longer words are [UNK] whole.
const MAX_WORD_CHARS: usize = 100;

pub struct Wpm {
    unk: Option<u32>,
    classes: CharClasses,
    /// \p{Mn}, the marks accent stripping removes.
    nonspacing: Vec<(u32, u32)>,
    /// \p{C}, the characters text cleaning removes (tab, newline and return excepted).
    other: Vec<(u32, u32)>,
    /// Longest vocabulary entry in chars, bounding the greedy match.
    max_piece_chars: usize,
}

fn class_ranges(pattern: &str) -> Vec<(u32, u32)> {
    let hir = regex_syntax::Parser::new().parse(pattern).expect("built-in Unicode class parses");
    let HirKind::Class(Class::Unicode(class)) = hir.kind() else { unreachable!("{pattern} is a Unicode class") };
    class.ranges().iter().map(|r| (r.start() as u32, r.end() as u32)).collect()
}

fn in_ranges(ranges: &[(u32, u32)], c: char) -> bool {
    let cp = c as u32;
    let i = ranges.partition_point(|r| r.0 <= cp);
    i > 0 && cp <= ranges[i - 1].1
}

/// The CJK ideograph blocks BERT isolates (HF's `_is_chinese_char`).
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F | 0x2B820..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

impl Wpm {
    pub fn new(vocab: &Vocab, unk: Option<u32>) -> Wpm {
        let max_piece_chars = vocab.texts.iter().map(|t| t.chars().count()).max().unwrap_or(1);
        Wpm {
            unk,
            classes: CharClasses::new(),
            nonspacing: class_ranges(r"\p{Mn}"),
            other: class_ranges(r"\p{C}"),
            max_piece_chars,
        }
    }

    /// The words of `text` after BERT's normalisation and pre-tokenisation.
    fn words(&self, text: &str) -> Vec<String> {
        let mut cleaned = String::with_capacity(text.len() + 8);
        for c in text.chars() {
            if c == '\0' || c == '\u{fffd}' {
                continue;
            }
            if matches!(c, ' ' | '\t' | '\n' | '\r') || c.is_whitespace() {
                cleaned.push(' ');
            } else if in_ranges(&self.other, c) {
                continue;
            } else if is_cjk(c) {
                cleaned.push(' ');
                cleaned.push(c);
                cleaned.push(' ');
            } else {
                cleaned.push(c);
            }
        }
        let normalized: String =
            cleaned.nfd().filter(|&c| !in_ranges(&self.nonspacing, c)).flat_map(char::to_lowercase).collect();
        let mut words = Vec::new();
        let mut word = String::new();
        for c in normalized.chars() {
            if c.is_whitespace() {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            } else if c.is_ascii_punctuation() || self.classes.flags(c) & PUNCT != 0 {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                words.push(c.to_string());
            } else {
                word.push(c);
            }
        }
        if !word.is_empty() {
            words.push(word);
        }
        words
    }

    pub fn encode(&self, vocab: &Vocab, text: &str, out: &mut Vec<u32>) {
        for word in self.words(text) {
            let chars: Vec<char> = std::iter::once('▁').chain(word.chars()).collect();
            if chars.len() - 1 > MAX_WORD_CHARS {
                out.extend(self.unk);
                continue;
            }
            let start_len = out.len();
            let mut i = 0;
            let mut piece = String::new();
            while i < chars.len() {
                let mut found = None;
                let mut end = chars.len().min(i + self.max_piece_chars);
                while end > i {
                    piece.clear();
                    piece.extend(&chars[i..end]);
                    // A lone '▁' is no piece: the word itself must start matching.
                    if let Some(id) = vocab.id(&piece).filter(|_| !(i == 0 && end == 1)) {
                        found = Some((id, end));
                        break;
                    }
                    end -= 1;
                }
                match found {
                    Some((id, e)) => {
                        out.push(id);
                        i = e;
                    }
                    None => {
                        // Any unmatched remainder makes the whole word unknown.
                        out.truncate(start_len);
                        out.extend(self.unk);
                        break;
                    }
                }
            }
        }
    }
}

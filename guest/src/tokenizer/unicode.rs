//! The Unicode facts the tokenizers need: llama.cpp's per-codepoint category flags and the
//! GPT-2 byte <-> character mapping used by byte-level BPE.

use regex_syntax::hir::{Class, HirKind};

/// \p{L}
pub const LETTER: u8 = 1 << 0;
/// \p{N}
pub const NUMBER: u8 = 1 << 1;
/// \p{P}
pub const PUNCT: u8 = 1 << 2;
/// \p{M}
pub const MARK: u8 = 1 << 3;
/// \p{S}
pub const SYMBOL: u8 = 1 << 4;
/// \s (the Unicode White_Space property, which is llama.cpp's whitespace set)
pub const WHITESPACE: u8 = 1 << 5;

/// General-category lookup. The tables come from regex-syntax (already linked in through
/// fancy-regex), so they are the same Unicode version the regex pre-tokenizers see; llama.cpp's
/// own tables differ only for characters assigned in the newest Unicode versions.
pub struct CharClasses {
    ascii: [u8; 128],
    /// Disjoint (start, end inclusive, flag) ranges sorted by start.
    ranges: Vec<(u32, u32, u8)>,
}

impl CharClasses {
    pub fn new() -> CharClasses {
        let mut ranges = Vec::with_capacity(2048);
        for (pattern, flag) in
            [(r"\p{L}", LETTER), (r"\p{N}", NUMBER), (r"\p{P}", PUNCT), (r"\p{M}", MARK), (r"\p{S}", SYMBOL)]
        {
            let hir = regex_syntax::Parser::new().parse(pattern).expect("built-in Unicode class parses");
            let HirKind::Class(Class::Unicode(class)) = hir.kind() else {
                unreachable!("{pattern} is a Unicode class")
            };
            ranges.extend(class.ranges().iter().map(|r| (r.start() as u32, r.end() as u32, flag)));
        }
        // General categories partition the code space, so the ranges never overlap.
        ranges.sort_unstable();
        let mut cc = CharClasses { ascii: [0; 128], ranges };
        for b in 0..128u8 {
            cc.ascii[b as usize] = cc.lookup(b as char);
        }
        cc
    }

    fn lookup(&self, c: char) -> u8 {
        let cp = c as u32;
        let i = self.ranges.partition_point(|r| r.0 <= cp);
        let category = match i.checked_sub(1).map(|i| self.ranges[i]) {
            Some((_, end, flag)) if cp <= end => flag,
            _ => 0,
        };
        category | if c.is_whitespace() { WHITESPACE } else { 0 }
    }

    #[inline]
    pub fn flags(&self, c: char) -> u8 {
        if c.is_ascii() {
            self.ascii[c as usize]
        } else {
            self.lookup(c)
        }
    }
}

impl Default for CharClasses {
    fn default() -> Self {
        Self::new()
    }
}

/// Bytes GPT-2 maps to themselves; every other byte maps to U+0100 + its rank among the rest.
fn gpt2_printable(b: u8) -> bool {
    matches!(b, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF)
}

/// The character GPT-2's byte-level BPE writes for each byte.
pub fn gpt2_byte_chars() -> [char; 256] {
    let mut out = ['\0'; 256];
    let mut next = 0x100u32;
    for b in 0..=255u8 {
        out[b as usize] = if gpt2_printable(b) {
            b as char
        } else {
            next += 1;
            char::from_u32(next - 1).expect("below U+0200")
        };
    }
    out
}

/// The byte a GPT-2 character stands for, if it is one of the 256.
pub fn gpt2_char_byte(c: char) -> Option<u8> {
    let cp = c as u32;
    if cp < 0x100 && gpt2_printable(cp as u8) {
        return Some(cp as u8);
    }
    let rank = cp.checked_sub(0x100)?;
    (0..=255u8).filter(|&b| !gpt2_printable(b)).nth(rank as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_match_unicode() {
        let cc = CharClasses::new();
        assert_eq!(cc.flags('a'), LETTER);
        assert_eq!(cc.flags('é'), LETTER);
        assert_eq!(cc.flags('日'), LETTER);
        assert_eq!(cc.flags('7'), NUMBER);
        assert_eq!(cc.flags('½'), NUMBER);
        assert_eq!(cc.flags('!'), PUNCT);
        assert_eq!(cc.flags('$'), SYMBOL);
        assert_eq!(cc.flags('\u{0301}'), MARK);
        assert_eq!(cc.flags(' ') & WHITESPACE, WHITESPACE);
        assert_eq!(cc.flags('\u{3000}') & WHITESPACE, WHITESPACE);
        assert_eq!(cc.flags('\u{200D}'), 0); // Cf: "other"
        assert_eq!(cc.flags('\n'), WHITESPACE);
    }

    #[test]
    fn gpt2_mapping_round_trips() {
        let chars = gpt2_byte_chars();
        assert_eq!(chars[b' ' as usize], 'Ġ');
        assert_eq!(chars[b'\n' as usize], 'Ċ');
        assert_eq!(chars[b'a' as usize], 'a');
        for b in 0..=255u8 {
            assert_eq!(gpt2_char_byte(chars[b as usize]), Some(b));
        }
        assert_eq!(gpt2_char_byte('€'), None);
    }
}

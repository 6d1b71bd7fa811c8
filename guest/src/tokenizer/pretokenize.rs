//! Pre-tokenization for byte-level BPE, as llama.cpp does it: a list of regexes applied in
//! turn, each splitting the pieces the previous one produced (text between matches stays a
//! piece of its own). The GPT-2 and Llama-3 patterns get the hand-written splitters llama.cpp
//! uses for them (with their quirks); every other pattern runs through fancy-regex on llama.cpp's
//! "collapsed" text, where each non-ASCII character stands in for its Unicode category, so that
//! `\p{..}` classes behave as they do there (ASCII-only within the class, e.g. `~` is not \p{S}).

use super::unicode::{CharClasses, LETTER, MARK, NUMBER, PUNCT, SYMBOL, WHITESPACE};
use std::ops::Range;

pub const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
const LLAMA3_ORIGINAL: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
pub const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const PORO: &str = r" ?[^(\s|.,!?…。，、।۔،)]+";
const TEKKEN: &str = r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const GPT4O: &str = r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// What a `tokenizer.ggml.pre` value means to llama.cpp's BPE tokenizer.
pub struct PreConfig {
    pub patterns: &'static [&'static str],
    /// A whole pre-token that is in the vocabulary is emitted as is, without merging.
    pub ignore_merges: bool,
    /// llama.cpp's add_bos default before `tokenizer.ggml.add_bos_token` overrides it.
    pub add_bos: bool,
    /// llama.cpp clears the default BOS id (only a GGUF key can set it).
    pub no_default_bos: bool,
}

const fn cfg(patterns: &'static [&'static str]) -> PreConfig {
    PreConfig { patterns, ignore_merges: false, add_bos: false, no_default_bos: false }
}

/// The pre-tokenizers supported, by `tokenizer.ggml.pre` (llama.cpp's names and regex lists).
pub fn pre_config(pre: &str) -> Option<PreConfig> {
    const DEFAULT: &[&str] = &[r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", "[0-9][0-9][0-9]"];
    Some(match pre {
        "" | "default" => cfg(DEFAULT),
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0" | "lfm2"
        | "jina-v5-nano" => PreConfig { ignore_merges: true, add_bos: true, ..cfg(&[LLAMA3]) },
        "dbrx" | "smaug-bpe" => cfg(&[LLAMA3]),
        "glm4" | "chatglm-bpe" => PreConfig { no_default_bos: true, ..cfg(&[LLAMA3]) },
        "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es" | "jina-v2-de" | "a.x-4.0" | "mellum"
        | "modern-bert" | "exaone4" | "mpt" | "olmo" | "jais" | "trillion" | "granite-docling" => cfg(&[GPT2]),
        "starcoder" | "refact" | "command-r" | "smollm" | "codeshell" | "exaone" | "minerva-7b" | "mellum2" => {
            cfg(&[r"\p{N}", GPT2])
        }
        "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" | "megrez" | "stablelm2" | "hunyuan" | "solar-open" => {
            cfg(&[QWEN2])
        }
        "falcon" => cfg(&[r"[\p{P}\$\+<=>\^~\|`]+", GPT2, "[0-9][0-9][0-9]"]),
        "deepseek-coder" => cfg(&["[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", "[一-龥ࠀ-一가-퟿]+", r"\p{N}"]),
        "poro-chat" | "bloom" | "gpt3-finnish" => cfg(&[PORO]),
        "viking" => cfg(&[PORO, r"\p{N}"]),
        "tekken" => PreConfig { ignore_merges: true, add_bos: true, ..cfg(&[TEKKEN]) },
        "gpt-4o" | "llama4" | "kanana2" | "talkie" | "minimax-m2" => cfg(&[GPT4O]),
        _ => return None,
    })
}

enum Step {
    Gpt2,
    Llama3,
    /// A general regex; `collapsed` when it uses Unicode categories.
    Regex {
        re: fancy_regex::Regex,
        collapsed: bool,
    },
}

pub struct PreTokenizer {
    steps: Vec<Step>,
}

/// Category stand-ins in the collapsed text (llama.cpp uses the bytes 0xD0..=0xD5; private-use
/// characters play that part here since fancy-regex works on UTF-8).
const OTHER_MARKER: char = '\u{E0D0}';
fn marker(flag: u8) -> &'static str {
    match flag {
        NUMBER => r"\x{E0D1}",
        LETTER => r"\x{E0D2}",
        PUNCT => r"\x{E0D3}",
        MARK => r"\x{E0D4}",
        _ => r"\x{E0D5}",
    }
}
fn marker_char(flags: u8) -> char {
    match flags & !WHITESPACE {
        NUMBER => '\u{E0D1}',
        LETTER => '\u{E0D2}',
        PUNCT => '\u{E0D3}',
        MARK => '\u{E0D4}',
        SYMBOL => '\u{E0D5}',
        _ => OTHER_MARKER,
    }
}

/// The categories llama.cpp collapses, and the ASCII characters each keeps within its class.
const CATEGORIES: &[(&str, u8, &str)] = &[
    (r"\p{N}", NUMBER, "0-9"),
    (r"\p{L}", LETTER, "A-Za-z"),
    (r"\p{P}", PUNCT, r"!-#%-*,-/:-;?-@\[-\]_\{\}"),
    (r"\p{M}", MARK, ""),
    (r"\p{S}", SYMBOL, r"\$\+<->\^`\|"),
    (r"\p{Lu}", LETTER, "A-Za-z"),
    (r"\p{Ll}", LETTER, "A-Za-z"),
    (r"\p{Lt}", LETTER, "A-Za-z"),
    (r"\p{Lm}", LETTER, "A-Za-z"),
    (r"\p{Lo}", LETTER, "A-Za-z"),
];

fn uses_categories(pattern: &str) -> bool {
    CATEGORIES.iter().any(|(p, _, _)| pattern.contains(p))
}

/// Rewrites `\p{X}` into a class over the collapsed text, tracking `[..]` the way llama.cpp
/// does (a bracket preceded by a backslash is literal; classes do not nest).
fn collapse_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 32);
    let mut inside = false;
    let mut prev = None;
    let mut rest = pattern;
    while let Some(c) = rest.chars().next() {
        if c == '[' && prev != Some('\\') {
            inside = true;
        } else if c == ']' && inside && prev != Some('\\') {
            inside = false;
        } else if let Some((p, flag, ascii)) = CATEGORIES.iter().find(|(p, _, _)| rest.starts_with(p)) {
            if !inside {
                out.push('[');
            }
            out.push_str(marker(*flag));
            out.push_str(ascii);
            if !inside {
                out.push(']');
            }
            rest = &rest[p.len()..];
            prev = Some('}');
            continue;
        }
        out.push(c);
        prev = Some(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// One text's codepoints, their categories, and the pieces found so far (codepoint ranges).
struct Text<'a> {
    chars: Vec<char>,
    flags: Vec<u8>,
    byte_at: Vec<usize>,
    text: &'a str,
}

impl<'a> Text<'a> {
    fn new(text: &'a str, cc: &CharClasses) -> Self {
        let mut chars = Vec::with_capacity(text.len());
        let mut byte_at = Vec::with_capacity(text.len() + 1);
        for (i, c) in text.char_indices() {
            chars.push(c);
            byte_at.push(i);
        }
        byte_at.push(text.len());
        let flags = chars.iter().map(|&c| cc.flags(c)).collect();
        Text { chars, flags, byte_at, text }
    }
}

/// Emits pieces as the end of each one is found (llama.cpp's `_add_token`).
struct Pieces<'o> {
    out: &'o mut Vec<Range<usize>>,
    prev_end: usize,
}

impl Pieces<'_> {
    fn add(&mut self, end: usize) -> usize {
        let len = end - self.prev_end;
        if len > 0 {
            self.out.push(self.prev_end..end);
        }
        self.prev_end = end;
        len
    }
}

/// A view of one chunk: outside it there are no characters (llama.cpp's OUT_OF_RANGE).
struct Chunk<'t> {
    chars: &'t [char],
    flags: &'t [u8],
    range: Range<usize>,
}

impl Chunk<'_> {
    fn cpt(&self, pos: usize) -> Option<char> {
        self.range.contains(&pos).then(|| self.chars[pos])
    }
    /// The category flags at `pos`; none outside the chunk.
    fn flags(&self, pos: usize) -> u8 {
        if self.range.contains(&pos) {
            self.flags[pos]
        } else {
            0
        }
    }
    fn is(&self, pos: usize, flag: u8) -> bool {
        self.flags(pos) & flag != 0
    }
    /// `[^\s\p{L}\p{N}]`: anything inside the chunk that is not whitespace, letter or number.
    fn is_other(&self, pos: usize) -> bool {
        self.range.contains(&pos) && self.flags[pos] & (WHITESPACE | LETTER | NUMBER) == 0
    }
}

/// The contraction suffix at `pos` ('s 't 'm 'd 're 've 'll), if any: its end.
fn contraction(ch: &Chunk, pos: usize, any_case: bool) -> Option<usize> {
    let end = ch.range.end;
    if ch.cpt(pos) != Some('\'') || pos + 1 >= end {
        return None;
    }
    let lower = |c: Option<char>| c.map(|c| if any_case { c.to_ascii_lowercase() } else { c });
    let next = lower(ch.cpt(pos + 1));
    if matches!(next, Some('s' | 't' | 'm' | 'd')) {
        return Some(pos + 2);
    }
    if pos + 2 < end {
        let pair = (next, lower(ch.cpt(pos + 2)));
        if matches!(pair, (Some('r'), Some('e')) | (Some('v'), Some('e')) | (Some('l'), Some('l'))) {
            return Some(pos + 3);
        }
    }
    None
}

/// llama.cpp's hand-written GPT-2 splitter:
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
fn split_gpt2(ch: &Chunk, out: &mut Vec<Range<usize>>) {
    let mut p = Pieces { out, prev_end: ch.range.start };
    let end = ch.range.end;
    let mut pos = ch.range.start;
    while pos < end {
        if let Some(e) = contraction(ch, pos, false) {
            pos += p.add(e);
            continue;
        }
        // ` ?\p{L}+` and ` ?\p{N}+`: an optional space, then a run of the class
        let lead = if ch.cpt(pos) == Some(' ') { pos + 1 } else { pos };
        if let Some(class) = [LETTER, NUMBER].into_iter().find(|&c| ch.is(lead, c)) {
            pos = lead;
            while ch.is(pos, class) {
                pos += 1;
            }
            p.add(pos);
            continue;
        }
        if ch.is_other(lead) {
            pos = lead;
            while ch.is_other(pos) {
                pos += 1;
            }
            p.add(pos);
            continue;
        }
        let mut n_ws = 0;
        while ch.is(pos + n_ws, WHITESPACE) {
            n_ws += 1;
        }
        if n_ws > 1 && pos + n_ws < end {
            // \s+(?!\S): leave the last space to prefix the next word
            pos += n_ws - 1;
        } else if n_ws > 0 {
            pos += n_ws;
        } else {
            pos += 1;
        }
        p.add(pos);
    }
}

/// llama.cpp's hand-written Llama-3 splitter:
/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
fn split_llama3(ch: &Chunk, out: &mut Vec<Range<usize>>) {
    let mut p = Pieces { out, prev_end: ch.range.start };
    let end = ch.range.end;
    let mut pos = ch.range.start;
    let newline = |c: Option<char>| matches!(c, Some('\r' | '\n'));
    while pos < end {
        let cpt = ch.cpt(pos);
        if let Some(e) = contraction(ch, pos, true) {
            pos += p.add(e);
            continue;
        }
        if !newline(cpt) && !ch.is(pos, NUMBER) && (ch.is(pos, LETTER) || ch.is(pos + 1, LETTER)) {
            pos += 1;
            while ch.is(pos, LETTER) {
                pos += 1;
            }
            p.add(pos);
            continue;
        }
        if ch.is(pos, NUMBER) {
            let mut start = pos;
            while ch.is(pos, NUMBER) {
                pos += 1;
                if pos - start >= 3 {
                    p.add(pos);
                    start = pos;
                }
            }
            p.add(pos);
            continue;
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`; llama.cpp tests the first character's flags here, so a
        // lone trailing space also takes this branch.
        let lead = if cpt == Some(' ') { pos + 1 } else { pos };
        if ch.is_other(lead) || (cpt == Some(' ') && lead >= end) {
            pos = lead;
            while ch.is_other(pos) {
                pos += 1;
            }
            while newline(ch.cpt(pos)) {
                pos += 1;
            }
            p.add(pos);
            continue;
        }
        let mut n_ws = 0;
        let mut last_newline_end = None;
        while ch.is(pos + n_ws, WHITESPACE) {
            if newline(ch.cpt(pos + n_ws)) {
                last_newline_end = Some(pos + n_ws + 1);
            }
            n_ws += 1;
        }
        if let Some(e) = last_newline_end {
            pos = e;
        } else if n_ws > 1 && pos + n_ws < end {
            pos += n_ws - 1;
        } else if n_ws > 0 {
            pos += n_ws;
        } else {
            pos += 1;
        }
        p.add(pos);
    }
}

impl PreTokenizer {
    pub fn new(patterns: &[&str]) -> Result<PreTokenizer, String> {
        let steps = patterns
            .iter()
            .map(|&pattern| {
                Ok(if pattern == GPT2 {
                    Step::Gpt2
                } else if pattern == LLAMA3 || pattern == LLAMA3_ORIGINAL {
                    Step::Llama3
                } else {
                    let collapsed = uses_categories(pattern);
                    let source = if collapsed { collapse_pattern(pattern) } else { pattern.to_string() };
                    let re = fancy_regex::Regex::new(&source)
                        .map_err(|e| format!("pre-tokenizer regex {pattern:?}: {e}"))?;
                    Step::Regex { re, collapsed }
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(PreTokenizer { steps })
    }

    /// Splits `text` into pre-tokens, returned as byte ranges of `text` that cover it in order.
    pub fn split(&self, text: &str, cc: &CharClasses) -> Vec<Range<usize>> {
        let t = Text::new(text, cc);
        let whole = 0..t.chars.len();
        let mut pieces = vec![whole];
        let mut collapsed = None;
        let mut wide = None;
        for step in &self.steps {
            let mut next = Vec::with_capacity(pieces.len() * 2);
            for range in pieces {
                let ch = Chunk { chars: &t.chars, flags: &t.flags, range };
                match step {
                    Step::Gpt2 => split_gpt2(&ch, &mut next),
                    Step::Llama3 => split_llama3(&ch, &mut next),
                    Step::Regex { re, collapsed: true } => {
                        let work = collapsed.get_or_insert_with(|| Working::collapsed(&t));
                        work.split(re, ch.range, &mut next)
                    }
                    Step::Regex { re, collapsed: false } => {
                        let work = wide.get_or_insert_with(|| Working::wide(&t));
                        work.split(re, ch.range, &mut next)
                    }
                }
            }
            pieces = next;
        }
        pieces.into_iter().map(|r| t.byte_at[r.start]..t.byte_at[r.end]).collect()
    }
}

/// The string a general regex runs on: one character per codepoint of the original text.
struct Working {
    s: String,
    byte_at: Vec<usize>,
}

impl Working {
    fn build(t: &Text, map: impl Fn(char, u8) -> char) -> Working {
        let mut s = String::with_capacity(t.text.len());
        let mut byte_at = Vec::with_capacity(t.chars.len() + 1);
        for (&c, &f) in t.chars.iter().zip(&t.flags) {
            byte_at.push(s.len());
            s.push(map(c, f));
        }
        byte_at.push(s.len());
        Working { s, byte_at }
    }

    /// ASCII stays; other whitespace becomes \x0B (C++ regex `\s` is ASCII-only); other
    /// characters become their category's marker.
    fn collapsed(t: &Text) -> Working {
        Self::build(t, |c, f| {
            if c.is_ascii() {
                c
            } else if f & WHITESPACE != 0 {
                '\x0B'
            } else {
                marker_char(f)
            }
        })
    }

    /// The text as is, but with non-ASCII whitespace as \x0B, as llama.cpp feeds std::wregex.
    fn wide(t: &Text) -> Working {
        Self::build(t, |c, f| if !c.is_ascii() && f & WHITESPACE != 0 { '\x0B' } else { c })
    }

    fn split(&self, re: &fancy_regex::Regex, range: Range<usize>, out: &mut Vec<Range<usize>>) {
        let base = self.byte_at[range.start];
        let hay = &self.s[base..self.byte_at[range.end]];
        let to_cpt = |byte: usize| range.start + self.byte_at[range.clone()].partition_point(|&b| b < base + byte);
        let mut done = range.start;
        for m in re.find_iter(hay) {
            // A regex that gives up (backtrack limit) leaves the rest of the chunk whole.
            let Ok(m) = m else { break };
            let (s, e) = (to_cpt(m.start()), to_cpt(m.end()));
            if s > done {
                out.push(done..s);
            }
            if e > s {
                out.push(s..e);
            }
            done = e;
        }
        if done < range.end {
            out.push(done..range.end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(patterns: &[&str], text: &str) -> Vec<String> {
        let cc = CharClasses::new();
        let pre = PreTokenizer::new(patterns).unwrap();
        pre.split(text, &cc).into_iter().map(|r| text[r].to_string()).collect()
    }

    #[test]
    fn gpt2_words_spaces_and_contractions() {
        assert_eq!(split(&[GPT2], "Hello, world! It's"), ["Hello", ",", " world", "!", " It", "'s"]);
        // \s+(?!\S): the last space of a run goes with the next word; trailing spaces stay whole
        assert_eq!(split(&[GPT2], "a   b  "), ["a", "  ", " b", "  "]);
        assert_eq!(split(&[GPT2], "x\n\ny"), ["x", "\n", "\n", "y"]);
        assert_eq!(split(&[GPT2], " 123 4.5"), [" 123", " 4", ".", "5"]);
        // contractions are case-sensitive in GPT-2
        assert_eq!(split(&[GPT2], "IT'S"), ["IT", "'", "S"]);
    }

    #[test]
    fn smollm_splits_digits_first() {
        let pats = pre_config("smollm").unwrap().patterns;
        assert_eq!(split(pats, "abc 12345 x9"), ["abc", " ", "1", "2", "3", "4", "5", " x", "9"]);
    }

    #[test]
    fn llama3_numbers_newlines_and_case_insensitive_contractions() {
        assert_eq!(split(&[LLAMA3], "1234567 IT'S"), ["123", "456", "7", " IT", "'S"]);
        assert_eq!(split(&[LLAMA3], "a  \n\n b"), ["a", "  \n\n", " b"]);
        assert_eq!(split(&[LLAMA3], "hi!!\n\nyo"), ["hi", "!!\n\n", "yo"]);
        assert_eq!(split(&[LLAMA3], "\tword"), ["\tword"]);
    }

    #[test]
    fn qwen2_regex_matches_llama3_splitter_apart_from_digits() {
        let text = "Hello  world!\n\n  It's 2024, ok?  \tdone ";
        let q = split(&[QWEN2], text);
        assert_eq!(
            q,
            [
                "Hello", " ", " world", "!\n\n", " ", " It", "'s", " ", "2", "0", "2", "4", ",", " ok", "?", "  ",
                "\tdone", " "
            ]
        );
        // The same text through the hand-written splitter, with digits grouped by three.
        let l = split(&[LLAMA3], text);
        assert_eq!(
            l,
            ["Hello", " ", " world", "!\n\n", " ", " It", "'s", " ", "202", "4", ",", " ok", "?", "  ", "\tdone", " "]
        );
    }

    #[test]
    fn collapsed_categories_are_ascii_limited_like_llama_cpp() {
        assert_eq!(collapse_pattern(r"\p{N}"), r"[\x{E0D1}0-9]");
        assert_eq!(collapse_pattern(r"[\p{P}\$]+"), r"[\x{E0D3}!-#%-*,-/:-;?-@\[-\]_\{\}\$]+");
        // default pre-tokenizer: punctuation runs first, then GPT-2, then digit runs (which
        // splits the space off " 12345") and then digit triples
        let pats = pre_config("default").unwrap().patterns;
        assert_eq!(split(pats, "a.b 12345"), ["a", ".", "b", " ", "123", "45"]);
        // non-ASCII digits are \p{N} too
        assert_eq!(split(&[r"\p{N}"], "x٣y"), ["x", "٣", "y"]);
    }

    #[test]
    fn unicode_letters_and_marks() {
        assert_eq!(split(&[GPT2], "café naïve 日本語"), ["café", " naïve", " 日本語"]);
        // a combining mark is not a letter: GPT-2 splits it off
        assert_eq!(split(&[GPT2], "e\u{301}x"), ["e", "\u{301}", "x"]);
    }
}

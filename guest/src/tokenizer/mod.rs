//! Tokenizers read from GGUF metadata, behaving like llama.cpp's `llama-vocab.cpp`: byte-level
//! BPE ("gpt2") with its pre-tokenizers, SentencePiece-style BPE ("llama"), special-token
//! parsing, end-of-generation detection and detokenization.

mod bpe;
mod pretokenize;
mod special;
mod spm;
mod stream;
mod unicode;
mod wpm;

pub use stream::StreamDecoder;

use crate::gguf::Gguf;
use bpe::Bpe;
use special::{Fragment, Specials};
use spm::Spm;
use wpm::Wpm;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// llama.cpp's token attributes (`llama_token_attr`).
pub(crate) mod attr {
    pub const UNKNOWN: u16 = 1 << 0;
    pub const UNUSED: u16 = 1 << 1;
    pub const NORMAL: u16 = 1 << 2;
    pub const CONTROL: u16 = 1 << 3;
    pub const USER_DEFINED: u16 = 1 << 4;
    pub const BYTE: u16 = 1 << 5;
    pub const LSTRIP: u16 = 1 << 7;
    pub const RSTRIP: u16 = 1 << 8;

    /// `tokenizer.ggml.token_type` values (`llama_token_type`) to attributes.
    pub fn from_type(t: i64) -> u16 {
        match t {
            1 => NORMAL,
            2 => UNKNOWN,
            3 => CONTROL,
            4 => USER_DEFINED,
            5 => UNUSED,
            6 => BYTE,
            _ => 0,
        }
    }
}

/// FxHash: vocabulary lookups hash short strings and id pairs, where SipHash's DoS resistance
/// buys nothing and costs most of the lookup time.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The token table: texts, scores and attributes by id, and ids by text. The two indexes share
/// each text (a quarter of a million of them for Gemma).
pub(crate) struct Vocab {
    texts: Vec<Arc<str>>,
    ids: FxMap<Arc<str>, u32>,
    scores: Vec<f32>,
    attrs: Vec<u16>,
}

impl Vocab {
    fn len(&self) -> usize {
        self.texts.len()
    }
    fn id(&self, text: &str) -> Option<u32> {
        self.ids.get(text).copied()
    }
    fn text(&self, id: u32) -> &str {
        &self.texts[id as usize]
    }
    fn score(&self, id: u32) -> f32 {
        self.scores[id as usize]
    }
    fn attr(&self, id: u32) -> u16 {
        self.attrs[id as usize]
    }
}

enum Model {
    // boxed: the byte tables make both variants large
    Bpe(Box<Bpe>),
    Spm(Box<Spm>),
    Wpm(Box<Wpm>),
}

pub struct Tokenizer {
    vocab: Vocab,
    model: Model,
    specials: Specials,
    bos: Option<u32>,
    eos: Option<u32>,
    add_bos: bool,
    add_eos: bool,
    /// SPM: a space is put before text at the start and after each special token.
    add_space_prefix: bool,
    /// Sorted.
    eog: Vec<u32>,
}

/// Texts llama.cpp takes as end-of-turn (EOT) when no id is given.
const EOT_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
];
const FIM_PRE_TEXTS: &[&str] = &[
    "<|fim_prefix|>",
    "<fim-prefix>",
    "<fim_prefix>",
    "<｜fim▁begin｜>",
    "<PRE>",
    "▁<PRE>",
    "<|code_prefix|>",
    "<|prefix|>",
];
const FIM_SUF_TEXTS: &[&str] = &[
    "<|fim_suffix|>",
    "<fim-suffix>",
    "<fim_suffix>",
    "<｜fim▁hole｜>",
    "<SUF>",
    "▁<SUF>",
    "<|code_suffix|>",
    "<|suffix|>",
];
const FIM_MID_TEXTS: &[&str] = &[
    "<|fim_middle|>",
    "<fim-middle>",
    "<fim_middle>",
    "<｜fim▁end｜>",
    "<MID>",
    "▁<MID>",
    "<|code_middle|>",
    "<|middle|>",
];
const FIM_PAD_TEXTS: &[&str] = &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
const FIM_REP_TEXTS: &[&str] = &["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"];
const FIM_SEP_TEXTS: &[&str] = &["<|file_sep|>"];
/// Texts llama.cpp always counts as end-of-generation.
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
];

/// Special-token slots llama.cpp reads by key and can also find by text.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Bos,
    Eos,
    Eot,
    Eom,
    Unk,
    FimPre,
    FimSuf,
    FimMid,
    FimPad,
    FimRep,
    FimSep,
}

const SLOT_KEYS: &[(&str, Slot)] = &[
    ("tokenizer.ggml.bos_token_id", Slot::Bos),
    ("tokenizer.ggml.eos_token_id", Slot::Eos),
    ("tokenizer.ggml.eot_token_id", Slot::Eot),
    ("tokenizer.ggml.eom_token_id", Slot::Eom),
    ("tokenizer.ggml.unknown_token_id", Slot::Unk),
    ("tokenizer.ggml.fim_pre_token_id", Slot::FimPre),
    ("tokenizer.ggml.fim_suf_token_id", Slot::FimSuf),
    ("tokenizer.ggml.fim_mid_token_id", Slot::FimMid),
    ("tokenizer.ggml.fim_pad_token_id", Slot::FimPad),
    ("tokenizer.ggml.fim_rep_token_id", Slot::FimRep),
    ("tokenizer.ggml.fim_sep_token_id", Slot::FimSep),
    // deprecated spellings
    ("tokenizer.ggml.prefix_token_id", Slot::FimPre),
    ("tokenizer.ggml.suffix_token_id", Slot::FimSuf),
    ("tokenizer.ggml.middle_token_id", Slot::FimMid),
];

const SLOT_TEXTS: &[(Slot, &[&str])] = &[
    (Slot::Eot, EOT_TEXTS),
    (Slot::Eom, &["<|eom_id|>"]),
    (Slot::FimPre, FIM_PRE_TEXTS),
    (Slot::FimSuf, FIM_SUF_TEXTS),
    (Slot::FimMid, FIM_MID_TEXTS),
    (Slot::FimPad, FIM_PAD_TEXTS),
    (Slot::FimRep, FIM_REP_TEXTS),
    (Slot::FimSep, FIM_SEP_TEXTS),
];

#[derive(Default)]
struct Slots([Option<u32>; 11]);

impl Slots {
    fn get(&self, s: Slot) -> Option<u32> {
        self.0[s as usize]
    }
    fn set(&mut self, s: Slot, id: Option<u32>) {
        self.0[s as usize] = id;
    }
}

fn read_vocab(g: &Gguf) -> Result<Vocab, String> {
    let tokens = g.strs("tokenizer.ggml.tokens").ok_or("tokenizer.ggml.tokens is missing from the model file")?;
    let n = tokens.len();
    let scores: Vec<f32> = match (g.floats("tokenizer.ggml.scores"), g.ints("tokenizer.ggml.scores")) {
        (Some(f), _) => f.iter().map(|&x| x as f32).collect(),
        (_, Some(i)) => i.iter().map(|&x| x as f32).collect(),
        _ => vec![0.0; n],
    };
    if scores.len() < n {
        return Err(format!("tokenizer.ggml.scores has {} entries for {n} tokens", scores.len()));
    }
    let attrs: Vec<u16> = match g.ints("tokenizer.ggml.token_type") {
        Some(t) if t.len() < n => {
            return Err(format!("tokenizer.ggml.token_type has {} entries for {n} tokens", t.len()));
        }
        Some(t) => t[..n].iter().map(|&t| attr::from_type(t)).collect(),
        None => vec![attr::NORMAL; n],
    };
    let mut texts = Vec::with_capacity(n);
    let mut ids = FxMap::with_capacity_and_hasher(n, Default::default());
    for (i, t) in tokens.iter().enumerate() {
        let text: Arc<str> = if t.is_empty() { format!("[EMPTY_{i}]").into() } else { t.as_str().into() };
        // Tokens that are not UTF-8 were read lossily and may now coincide; the first keeps the
        // text (llama.cpp, which keeps raw bytes, never sees such duplicates).
        ids.entry(text.clone()).or_insert(i as u32);
        texts.push(text);
    }
    Ok(Vocab { texts, ids, scores: scores[..n].to_vec(), attrs })
}

impl Tokenizer {
    pub fn from_gguf(g: &Gguf) -> Result<Tokenizer, String> {
        let model_name = g.str("tokenizer.ggml.model").ok_or("tokenizer.ggml.model is missing from the model file")?;
        let pre_name = g.str("tokenizer.ggml.pre").unwrap_or("");
        let mut vocab = read_vocab(g)?;
        let n = vocab.len() as u32;

        let mut slots = Slots::default();
        let (mut add_bos, mut add_eos, mut add_space_prefix);
        let mut wordpiece = false;
        let pre = match model_name {
            "bert" => {
                // [CLS] text [SEP], as llama.cpp's WPM vocabulary (bos = CLS, eos = SEP here).
                let id = |key: &str, default: u32| Some(g.u64(key).map_or(default, |v| v as u32));
                slots.set(Slot::Bos, id("tokenizer.ggml.cls_token_id", 101));
                slots.set(Slot::Eos, id("tokenizer.ggml.seperator_token_id", 102));
                slots.set(Slot::Unk, Some(100));
                (add_bos, add_eos, add_space_prefix) = (true, true, false);
                wordpiece = true;
                None
            }
            "llama" => {
                slots.set(Slot::Bos, Some(1));
                slots.set(Slot::Eos, Some(2));
                slots.set(Slot::Unk, Some(0));
                (add_bos, add_eos, add_space_prefix) = (true, false, true);
                None
            }
            "gpt2" => {
                let pre = pretokenize::pre_config(pre_name).ok_or_else(|| {
                    format!("unsupported pre-tokenizer tokenizer.ggml.pre = {pre_name:?} for a BPE vocabulary")
                })?;
                if !pre.no_default_bos {
                    slots.set(Slot::Bos, Some(11));
                }
                slots.set(Slot::Eos, Some(11));
                (add_bos, add_eos, add_space_prefix) = (pre.add_bos, false, false);
                Some(pre)
            }
            other => return Err(format!("unsupported tokenizer model tokenizer.ggml.model = {other:?}")),
        };
        if let Some(b) = g.bool("tokenizer.ggml.add_space_prefix") {
            add_space_prefix = b;
        }

        // Default ids outside the vocabulary are dropped; ids from the file replace defaults
        // only when they are inside it.
        for s in &mut slots.0 {
            if s.is_some_and(|id| id >= n) {
                *s = None;
            }
        }
        for &(key, slot) in SLOT_KEYS {
            if let Some(id) = g.u64(key).filter(|&id| id < n as u64) {
                slots.set(slot, Some(id as u32));
            }
        }
        if let Some(b) = g.bool("tokenizer.ggml.add_bos_token") {
            add_bos = b;
        }
        if let Some(b) = g.bool("tokenizer.ggml.add_eos_token") {
            add_eos = b;
        }
        if add_bos && slots.get(Slot::Bos).is_none() {
            return Err("tokenizer.ggml.add_bos_token is true, but tokenizer.ggml.bos_token_id is not set".into());
        }
        if add_eos && slots.get(Slot::Eos).is_none() {
            return Err("tokenizer.ggml.add_eos_token is true, but tokenizer.ggml.eos_token_id is not set".into());
        }

        let eog = mark_special_tokens(&mut vocab, &mut slots);
        if g.str("general.name").is_some_and(|name| {
            let name = name.to_lowercase();
            name.contains("phi-3") || name.contains("phi3")
        }) {
            phi3_rstrip(&mut vocab);
        }

        let model = match pre {
            Some(pre) => {
                let merges =
                    g.strs("tokenizer.ggml.merges").ok_or("tokenizer.ggml.merges is missing from the model file")?;
                Model::Bpe(Box::new(Bpe::new(&vocab, merges, &pre)?))
            }
            None if wordpiece => Model::Wpm(Box::new(Wpm::new(&vocab, slots.get(Slot::Unk)))),
            None => Model::Spm(Box::new(Spm::new(&vocab, slots.get(Slot::Unk)))),
        };
        let specials = Specials::new(&vocab);
        Ok(Tokenizer {
            specials,
            model,
            bos: slots.get(Slot::Bos),
            eos: slots.get(Slot::Eos),
            add_bos,
            add_eos,
            add_space_prefix,
            eog,
            vocab,
        })
    }

    pub fn encode(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        if add_special && self.add_bos {
            out.extend(self.bos);
        }
        let fragments = self.specials.partition(&self.vocab, text, parse_special);
        // SPM puts a space before the text that follows the start or a special token.
        let mut after_special = true;
        for frag in fragments {
            match frag {
                Fragment::Token(id) => {
                    out.push(id);
                    after_special = true;
                }
                Fragment::Text(range) => {
                    let piece = &text[range];
                    match &self.model {
                        Model::Bpe(bpe) => bpe.encode(&self.vocab, piece, &mut out),
                        Model::Spm(spm) => {
                            let mut escaped = String::with_capacity(piece.len() + 4);
                            if self.add_space_prefix && after_special {
                                escaped.push('▁');
                            }
                            for c in piece.chars() {
                                escaped.push(if c == ' ' { '▁' } else { c });
                            }
                            spm.encode(&self.vocab, &escaped, &mut out);
                        }
                        Model::Wpm(wpm) => wpm.encode(&self.vocab, piece, &mut out),
                    }
                    after_special = false;
                }
            }
        }
        if add_special && self.add_eos {
            out.extend(self.eos);
        }
        out
    }

    pub fn token_bytes(&self, id: u32, special: bool) -> Vec<u8> {
        if id >= self.vocab_size() {
            return Vec::new();
        }
        let a = self.vocab.attr(id);
        let text = self.vocab.text(id);
        if !special && a & (attr::UNKNOWN | attr::CONTROL) != 0 {
            return Vec::new();
        }
        if a & (attr::UNKNOWN | attr::CONTROL | attr::USER_DEFINED) != 0 {
            return text.as_bytes().to_vec();
        }
        if a & attr::NORMAL != 0 {
            return match self.model {
                Model::Spm(_) | Model::Wpm(_) => text.replace('▁', " ").into_bytes(),
                Model::Bpe(_) => gpt2_decode(text),
            };
        }
        if a & attr::BYTE != 0 {
            return text.get(3..5).and_then(|h| u8::from_str_radix(h, 16).ok()).into_iter().collect();
        }
        Vec::new()
    }

    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids.iter().flat_map(|&id| self.token_bytes(id, false)).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    pub fn vocab_size(&self) -> u32 {
        self.vocab.len() as u32
    }

    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    pub fn is_eog(&self, id: u32) -> bool {
        self.eog.binary_search(&id).is_ok()
    }

    pub fn eog_ids(&self) -> Vec<u32> {
        self.eog.clone()
    }

    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.vocab.texts.get(id as usize).map(|t| &**t)
    }

    pub fn add_bos(&self) -> bool {
        self.add_bos
    }
}

/// Undoes GPT-2's byte-to-character mapping. A character outside the mapping is spelt out the
/// way llama.cpp does it.
fn gpt2_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match unicode::gpt2_char_byte(c) {
            Some(b) => out.push(b),
            None => {
                out.extend_from_slice(b"[UNK_BYTE_0x");
                for b in c.encode_utf8(&mut [0; 4]).bytes() {
                    out.extend_from_slice(format!("{b:02x}").as_bytes());
                }
                out.extend_from_slice(text.as_bytes());
                out.push(b']');
            }
        }
    }
    out
}

/// llama.cpp's text-based special-token fix-ups: finds EOT/EOM/FIM tokens the metadata did not
/// name, makes such tokens control tokens, and collects the end-of-generation set.
fn mark_special_tokens(vocab: &mut Vocab, slots: &mut Slots) -> Vec<u32> {
    // llama.cpp scans a hash map, so among several look-alikes it takes any; the lowest id is
    // taken here. Looking the few known texts up beats scanning a 262k-token vocabulary.
    let find = |vocab: &Vocab, texts: &[&str]| texts.iter().filter_map(|t| vocab.id(t)).min();
    for &(slot, texts) in SLOT_TEXTS {
        if slots.get(slot).is_none() {
            if let Some(id) = find(vocab, texts) {
                slots.set(slot, Some(id));
                vocab.attrs[id as usize] |= attr::CONTROL;
            }
        }
    }
    for (a, text) in vocab.attrs.iter_mut().zip(&vocab.texts) {
        if *a & attr::CONTROL != 0 && text.contains("unused") {
            *a |= attr::UNUSED;
        }
    }

    let mut eog: Vec<u32> = [Slot::FimPad, Slot::FimRep, Slot::FimSep].iter().filter_map(|&s| slots.get(s)).collect();
    for t in EOG_TEXTS {
        if let Some(id) = vocab.id(t) {
            eog.push(id);
            vocab.attrs[id as usize] |= attr::CONTROL;
        }
    }
    // gpt-oss: these structure the output and are always rendered
    for t in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
        if let Some(id) = vocab.id(t) {
            vocab.attrs[id as usize] = attr::USER_DEFINED;
        }
    }
    eog.extend([Slot::Eos, Slot::Eot, Slot::Eom].iter().filter_map(|&s| slots.get(s)));
    eog.sort_unstable();
    eog.dedup();

    let in_eog = |vocab: &Vocab, eog: &[u32], t: &str| vocab.id(t).filter(|id| eog.contains(id));
    // gpt-oss and solar-open: <|end|> ends a message, not the generation.
    if let Some(end) = in_eog(vocab, &eog, "<|end|>") {
        let has = |t| in_eog(vocab, &eog, t).is_some();
        if (has("<|call|>") || has("<|calls|>")) && (has("<|return|>") || has("<|flush|>")) {
            eog.retain(|&id| id != end);
            vocab.attrs[end as usize] = attr::USER_DEFINED;
        }
    }
    // gemma4: </s> is an ordinary token there.
    if let Some(s) = in_eog(vocab, &eog, "</s>") {
        if in_eog(vocab, &eog, "<|tool_response>").is_some() {
            eog.retain(|&id| id != s);
            vocab.attrs[s as usize] = attr::NORMAL;
        }
    }
    eog
}

/// llama.cpp strips whitespace after Phi-3's special tokens (all but <unk>, <s>, <|endoftext|>).
fn phi3_rstrip(vocab: &mut Vocab) {
    let special = attr::CONTROL | attr::USER_DEFINED | attr::UNKNOWN;
    for id in 0..vocab.len() {
        let text = &*vocab.texts[id];
        let a = &mut vocab.attrs[id];
        if *a & special != 0 || text == "</s>" {
            *a |= attr::RSTRIP;
        }
        if matches!(text, "<unk>" | "<s>" | "<|endoftext|>") {
            *a &= !attr::RSTRIP;
        }
    }
}

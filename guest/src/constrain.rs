//! Constrained decoding: a request's output held to a grammar (any JSON object, a JSON
//! Schema, or a Lark grammar) by llguidance. Before each sampled token the grammar's state
//! gives the set of tokens that may come next (llguidance walks a trie of the vocabulary's
//! bytes, so one mask costs far less than checking tokens one by one); the sampler then runs
//! its normal chain over the allowed candidates only. End-of-generation is allowed exactly
//! when the value is complete, so the output always parses and validates.

use std::sync::Arc;

use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::{ApproximateTokEnv, SimpleVob, TokEnv, TokRxInfo, TokTrie};
use llguidance::{Matcher, ParserFactory};
use serde_json::{json, Value};

use crate::tokenizer::Tokenizer;

/// What a request's output must match.
#[derive(Debug, Clone, PartialEq)]
pub enum Grammar {
    /// Any JSON object (Ollama's `format: "json"`, OpenAI's `json_object`).
    Json,
    /// A JSON Schema, as JSON text.
    JsonSchema(String),
    /// A grammar in llguidance's Lark dialect (may embed `%json{...}` schemas).
    Lark(String),
}

/// How JSON is laid out when the schema does not say: one space after `:` and `,`, no
/// other whitespace. Flexible whitespace lets a small model wander into endless newlines.
fn layout() -> Value {
    json!({ "whitespace_flexible": false, "item_separator": ", ", "key_separator": ": " })
}

impl Grammar {
    fn top_level(&self) -> Result<TopLevelGrammar, String> {
        let schema = |mut v: Value| {
            if let Value::Object(m) = &mut v {
                m.entry("x-guidance").or_insert_with(layout);
            }
            TopLevelGrammar::from_json_schema(v)
        };
        match self {
            Grammar::Json => Ok(schema(json!({ "type": "object" }))),
            Grammar::JsonSchema(text) => {
                let v: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON schema: {e}"))?;
                match v {
                    Value::Object(_) | Value::Bool(true) => Ok(schema(v)),
                    _ => Err("invalid JSON schema: expected an object".into()),
                }
            }
            Grammar::Lark(text) => Ok(TopLevelGrammar::from_lark(text.clone())),
        }
    }
}

/// The vocabulary as llguidance sees it, built once per engine: every token's bytes, control
/// tokens marked special (0xFF prefix) so that no grammar ever produces them.
pub struct Vocabulary {
    factory: ParserFactory,
    eog: Vec<u32>,
}

impl Vocabulary {
    pub fn new(tok: &Tokenizer) -> Result<Vocabulary, String> {
        let n = tok.vocab_size();
        let words: Vec<Vec<u8>> = (0..n)
            .map(|id| {
                let plain = tok.token_bytes(id, false);
                if plain.is_empty() {
                    let mut w = vec![TokTrie::SPECIAL_TOKEN_MARKER];
                    w.extend(tok.token_bytes(id, true));
                    w
                } else {
                    plain
                }
            })
            .collect();
        let eog = tok.eog_ids();
        let eos = tok.eos().or(eog.first().copied()).ok_or("the model has no end-of-generation token")?;
        let trie = TokTrie::from(&TokRxInfo::new(n, eos), &words);
        let env: TokEnv = Arc::new(ApproximateTokEnv::new(trie));
        let mut factory = ParserFactory::new_simple(&env).map_err(|e| e.to_string())?;
        factory.quiet();
        Ok(Vocabulary { factory, eog })
    }

    /// A fresh constraint for one request; an invalid grammar or schema is an error here.
    pub fn constraint(&self, g: &Grammar) -> Result<Constraint, String> {
        let parser = self.factory.create_parser(g.top_level()?).map_err(|e| e.to_string())?;
        let matcher = Matcher::new(Ok(parser));
        if let Some(e) = matcher.get_error() {
            return Err(e);
        }
        let eos = self.factory.tok_env().tok_trie().eos_token();
        Ok(Constraint { matcher, eos, eog: self.eog.clone(), in_string: false, escaped: false, depth: 0 })
    }
}

/// One request's grammar state.
pub struct Constraint {
    matcher: Matcher,
    eos: u32,
    eog: Vec<u32>,
    /// Whether the output so far ends inside a JSON string (and after a backslash in it).
    in_string: bool,
    escaped: bool,
    /// Objects and arrays open at the end of the output so far.
    depth: usize,
}

/// Tokens kept for closing a constrained value, so that running out of budget still ends in
/// output that parses: a base for the innermost value plus a share per open object or array
/// (its required keys, a pattern-bound string, the closer).
const CLOSING_BASE: usize = 32;
const CLOSING_PER_LEVEL: usize = 24;

/// The tokens allowed at one step.
pub struct Allowed {
    mask: SimpleVob,
    eog: bool,
}

impl Constraint {
    /// Which tokens may come next.
    pub fn allowed(&mut self) -> Result<Allowed, String> {
        let mask = self.matcher.compute_mask_or_eos().map_err(|e| e.to_string())?;
        let eog = mask.is_allowed(self.eos);
        Ok(Allowed { mask, eog })
    }

    /// Advances the grammar over the chosen token and its bytes (end-of-generation ends it).
    pub fn accept(&mut self, token: u32, bytes: &[u8]) -> Result<(), String> {
        if self.eog.contains(&token) {
            return Ok(());
        }
        for &b in bytes {
            step(&mut self.in_string, &mut self.escaped, &mut self.depth, b);
        }
        self.matcher.consume_token(token).map_err(|e| e.to_string())
    }

    /// Whether, with `budget` tokens left, the value must now be brought to an end.
    pub fn closing(&self, budget: usize) -> bool {
        budget <= CLOSING_BASE + CLOSING_PER_LEVEL * self.depth
    }

    /// Near the end of the budget: the allowed candidates (indices into `ids`) that leave
    /// the value least open, counting open objects, arrays and an open string after the
    /// token: end-of-generation first, then, say, `"}` inside a string, `]` rather than `,`
    /// or `[{` in an array; among those the longest (most of a forced key in one token).
    /// Remaining ties stay for the model to choose among.
    pub fn closing_tokens(&self, ids: &[u32], tok: &Tokenizer) -> Option<Vec<usize>> {
        if let Some(i) = ids.iter().position(|&t| tok.is_eog(t)) {
            return Some(vec![i]);
        }
        let rank: Vec<(usize, std::cmp::Reverse<usize>)> = ids
            .iter()
            .map(|&t| {
                let b = tok.token_bytes(t, false);
                (self.openness_after(&b), std::cmp::Reverse(b.len()))
            })
            .collect();
        let best = *rank.iter().min()?;
        Some((0..ids.len()).filter(|&i| rank[i] == best).collect())
    }

    /// Open objects, arrays and strings once `bytes` follow the output so far.
    fn openness_after(&self, bytes: &[u8]) -> usize {
        let (mut in_string, mut escaped, mut depth) = (self.in_string, self.escaped, self.depth);
        for &b in bytes {
            step(&mut in_string, &mut escaped, &mut depth, b);
        }
        depth + in_string as usize
    }
}

/// The JSON lexer state over one more byte: in a string (after a backslash), nesting depth.
fn step(in_string: &mut bool, escaped: &mut bool, depth: &mut usize, b: u8) {
    match (*in_string, *escaped, b) {
        (true, true, _) => *escaped = false,
        (true, false, b'\\') => *escaped = true,
        (_, false, b'"') => *in_string = !*in_string,
        (false, _, b'{' | b'[') => *depth += 1,
        (false, _, b'}' | b']') => *depth = depth.saturating_sub(1),
        _ => {}
    }
}

impl Allowed {
    /// Whether `token` may come next; any end-of-generation token stands for the grammar's end.
    pub fn allows(&self, token: u32, is_eog: bool) -> bool {
        if is_eog {
            self.eog
        } else {
            self.mask.is_allowed(token)
        }
    }
}

//! Log-probabilities of generated tokens, as `logprobs`/`top_logprobs` report them: the
//! chosen token's log-softmax over the whole logit row (the row the sampler saw, penalties
//! applied) and the `n` most likely tokens of that row.

use crate::sampler::{exp_det, ln_det};
use crate::tokenizer::Tokenizer;

/// One token with its log-probability.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprob {
    pub token: u32,
    /// The token's bytes (a piece of UTF-8 may be cut between tokens).
    pub bytes: Vec<u8>,
    pub logprob: f32,
}

/// The chosen token and the most likely alternatives.
#[derive(Debug, Clone, PartialEq)]
pub struct Logprobs {
    pub chosen: TokenLogprob,
    pub top: Vec<TokenLogprob>,
}

/// `ids`/`logits` are a whole row, best first (the host's order for a full readback).
pub fn of(chosen: u32, ids: &[u32], logits: &[f32], n: u32, tok: &Tokenizer) -> Logprobs {
    let max = logits.iter().copied().filter(|l| l.is_finite()).fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = logits.iter().filter(|l| l.is_finite()).map(|&l| exp_det(l as f64 - max)).sum();
    let log_z = max + ln_det(sum);
    let entry = |token: u32, logit: f32| TokenLogprob {
        token,
        bytes: tok.token_bytes(token, false),
        logprob: (logit as f64 - log_z) as f32,
    };
    let chosen_logit = ids.iter().position(|&t| t == chosen).map(|i| logits[i]).unwrap_or(f32::NEG_INFINITY);
    Logprobs {
        chosen: entry(chosen, chosen_logit),
        top: ids.iter().zip(logits).take(n as usize).map(|(&t, &l)| entry(t, l)).collect(),
    }
}

//! Fitting a prompt into the model's context the way Ollama does, and saying so.
//!
//! Chat drops the oldest messages first, keeping every system message and the last message
//! (Ollama's `server/prompt.go`); a prompt that still does not fit, and every over-long
//! generate prompt, keeps its first `num_keep` tokens and a tail, cut in blocks of half the
//! free context the way llama.cpp's server cuts it (so generation has room left). Ollama does
//! all this silently; wollama also reports the dropped token count as `truncated` in the final
//! chunk. With `truncate: false` a prompt that does not fit is Ollama's 400.

use futures::future::BoxFuture;
use wollama_runtime::ChatMessage;

use crate::error::{ApiError, ApiResult};

/// A conversation turn as truncation sees it: only its role matters.
pub trait Turn: Clone {
    fn role(&self) -> &str;
}

impl Turn for ChatMessage {
    fn role(&self) -> &str {
        &self.role
    }
}

pub const PROMPT_TOO_LONG: &str = "the prompt is longer than the context length currently available to the model; \
shorten the prompt, adjust the context length in settings, or use a model with a longer context length";

/// A prompt that fits: its tokens and how many tokens of the full prompt were dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    pub tokens: Vec<u32>,
    pub truncated: u32,
}

/// A prompt fits when at least one token can still be generated after it.
fn fits(n: usize, num_ctx: usize) -> bool {
    n < num_ctx
}

/// Keeps the first `num_keep` tokens (-1: all) and drops whole blocks of half the remaining
/// context after them until the prompt fits; the result leaves between a half and all of the
/// remaining context minus one block for generation.
pub fn cut_tokens(tokens: Vec<u32>, num_ctx: usize, num_keep: i64, truncate: bool) -> ApiResult<Fitted> {
    let n = tokens.len();
    if fits(n, num_ctx) {
        return Ok(Fitted { tokens, truncated: 0 });
    }
    let keep = if num_keep < 0 { n } else { num_keep as usize };
    // Two tokens of tail at least: one block of the free context must survive the cut.
    if !truncate || keep + 2 > num_ctx {
        return Err(ApiError::bad_request(PROMPT_TOO_LONG));
    }
    let block = (num_ctx - keep) / 2;
    let erased = (n - keep - block) / block;
    let mut out = tokens[..keep].to_vec();
    out.extend_from_slice(&tokens[keep + erased * block..]);
    debug_assert!(fits(out.len(), num_ctx));
    Ok(Fitted { truncated: (n - out.len()) as u32, tokens: out })
}

/// Where a conversation may start when the messages before `i` are dropped: a tool result is
/// never separated from the assistant turn that called the tool.
fn block_start<M: Turn>(msgs: &[M], i: usize) -> usize {
    if i == 0 || msgs[i].role() != "tool" {
        return i;
    }
    let mut start = i;
    while start > 0 && msgs[start - 1].role() == "tool" {
        start -= 1;
    }
    if start > 0 && msgs[start - 1].role() == "assistant" {
        start - 1
    } else {
        i
    }
}

/// The conversation from `start` on, with the system messages from before it kept in front.
fn suffix_with_system<M: Turn>(msgs: &[M], start: usize) -> Vec<M> {
    msgs[..start].iter().filter(|m| m.role() == "system").chain(&msgs[start..]).cloned().collect()
}

/// Renders and tokenizes `msgs`, dropping the oldest non-system messages until the prompt
/// fits `num_ctx`, then cuts tokens if the last message alone is still too long. `prompt_of`
/// takes the messages it renders by value: its future then borrows nothing of them, so it can
/// be sent between threads.
pub async fn fit_chat<'a, M: Turn>(
    msgs: &[M],
    num_ctx: usize,
    num_keep: i64,
    truncate: bool,
    mut prompt_of: impl FnMut(Vec<M>) -> BoxFuture<'a, ApiResult<Vec<u32>>>,
) -> ApiResult<Fitted> {
    let full = prompt_of(msgs.to_vec()).await?;
    let full_len = full.len();
    if fits(full_len, num_ctx) || !truncate {
        return cut_tokens(full, num_ctx, num_keep, truncate);
    }
    let mut best = full;
    let mut tried = 0;
    for i in 1..msgs.len() {
        let start = block_start(msgs, i);
        if start == tried {
            continue;
        }
        tried = start;
        best = prompt_of(suffix_with_system(msgs, start)).await?;
        if fits(best.len(), num_ctx) {
            break;
        }
    }
    let cut = cut_tokens(best, num_ctx, num_keep, truncate)?;
    Ok(Fitted { truncated: (full_len - cut.tokens.len()) as u32, tokens: cut.tokens })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    fn msg(role: &str, content: &str) -> ChatMessage {
        ChatMessage::new(role, content)
    }

    /// A stand-in tokenizer: one token per word of every message, so sizes are easy to read.
    fn words(msgs: &[ChatMessage]) -> ApiResult<Vec<u32>> {
        Ok(msgs.iter().flat_map(|m| m.content.split_whitespace()).enumerate().map(|(i, _)| i as u32).collect())
    }

    #[test]
    fn a_prompt_that_fits_is_kept_whole() {
        let f = cut_tokens((0..63).collect(), 64, 4, true).unwrap();
        assert_eq!(f, Fitted { tokens: (0..63).collect(), truncated: 0 });
    }

    #[test]
    fn a_long_prompt_keeps_its_head_and_a_tail_in_blocks() {
        // num_ctx 64, keep 4: blocks of 30; 100 tokens drop two blocks.
        let f = cut_tokens((0..100).collect(), 64, 4, true).unwrap();
        assert_eq!(f.truncated, 60);
        assert_eq!(&f.tokens[..4], &[0, 1, 2, 3]);
        assert_eq!(f.tokens[4], 64);
        assert_eq!(*f.tokens.last().unwrap(), 99);
        // Exactly num_ctx tokens: one block goes, generation has room.
        let f = cut_tokens((0..64).collect(), 64, 4, true).unwrap();
        assert_eq!(f.tokens.len(), 34);
        for n in 64..400 {
            let f = cut_tokens((0..n).collect(), 64, 4, true).unwrap();
            assert!(f.tokens.len() >= 34 && f.tokens.len() < 64, "{n} -> {}", f.tokens.len());
            assert_eq!(f.tokens.len() as u32 + f.truncated, n);
        }
    }

    #[test]
    fn no_truncation_is_a_400() {
        let e = cut_tokens((0..64).collect(), 64, 4, false).unwrap_err();
        assert_eq!((e.status.as_u16(), e.message.as_str()), (400, PROMPT_TOO_LONG));
        // Keeping everything (-1) or more than the context leaves nothing to cut.
        assert!(cut_tokens((0..64).collect(), 64, -1, true).is_err());
        assert!(cut_tokens((0..70).collect(), 64, 63, true).is_err());
    }

    #[test]
    fn chat_drops_oldest_turns_but_keeps_system_and_last() {
        let msgs = [
            msg("system", "be brief"),
            msg("user", "one two three four five"),
            msg("assistant", "six seven eight nine ten"),
            msg("user", "eleven twelve"),
        ];
        let mut seen = Vec::new();
        let f = block_on(fit_chat(&msgs, 6, 4, true, |m: Vec<ChatMessage>| {
            seen.push(m.iter().map(|m| m.content.clone()).collect::<Vec<_>>());
            Box::pin(async move { words(&m) })
        }))
        .unwrap();
        assert_eq!(seen.last().unwrap(), &["be brief", "eleven twelve"]);
        assert_eq!(f.tokens.len(), 4);
        assert_eq!(f.truncated, 14 - 4);
        // It fits as is: rendered once, nothing dropped.
        let f = block_on(fit_chat(&msgs, 100, 4, true, |m: Vec<ChatMessage>| Box::pin(async move { words(&m) }))).unwrap();
        assert_eq!(f.truncated, 0);
        assert!(block_on(fit_chat(&msgs, 6, 4, false, |m: Vec<ChatMessage>| Box::pin(async move { words(&m) }))).is_err());
    }

    #[test]
    fn a_tool_result_stays_with_its_call() {
        let msgs = [
            msg("user", "a b c d e f"),
            msg("assistant", "call"),
            msg("tool", "result"),
            msg("user", "so"),
        ];
        let mut seen = Vec::new();
        block_on(fit_chat(&msgs, 3, 0, true, |m: Vec<ChatMessage>| {
            seen.push(m.iter().map(|m| m.role.clone()).collect::<Vec<_>>().join(","));
            Box::pin(async move { words(&m) })
        }))
        .unwrap();
        assert_eq!(seen, ["user,assistant,tool,user", "assistant,tool,user", "user"]);
    }
}

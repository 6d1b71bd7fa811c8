//! Continuous batching over sequence slots. Each call to `next` packs one forward pass from
//! every active request (one decode row per generating slot, prompt chunks for the rest);
//! `complete` samples the logit rows, detokenizes and checks stops. The host only runs passes.

pub mod kv;
pub mod logprobs;
pub mod stop;

use std::collections::VecDeque;
use std::rc::Rc;

use wollama_plan::Batch;

use crate::constrain::{Constraint, Grammar, Vocabulary};
use crate::sampler::{Sampler, SamplingParams};
use crate::tokenizer::{StreamDecoder, Tokenizer};
use kv::{KvCells, MAX_SEQS};
use stop::StopMatcher;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EngineOptions {
    pub max_slots: u32,
    /// Cells in the shared KV pool; also the most positions one sequence may use.
    pub ctx_cells: u32,
    pub batch_tokens: u32,
}

#[derive(Debug, Clone)]
pub struct Request {
    pub prompt: Vec<u32>,
    pub sampling: SamplingParams,
    /// Negative: until the context is full.
    pub num_predict: i32,
    pub stop: Vec<String>,
    pub stop_at_eog: bool,
    /// An embedding request: nothing is sampled. An encoder plan pools the prompt's rows; a
    /// decoder runs the prompt as for generation and returns the last token's hidden state.
    pub embed: bool,
    /// The grammar the output must match; None = free text.
    pub grammar: Option<Grammar>,
    /// Log-probabilities of each generated token and of the n most likely; None = off.
    pub top_logprobs: Option<u32>,
    /// Context shift: when the sequence fills its context, keep this many leading tokens,
    /// drop half of the rest and go on; None = stop with "length" there.
    pub shift_keep: Option<u32>,
}

impl Request {
    /// A request for the embedding of `prompt`.
    pub fn embedding(prompt: Vec<u32>) -> Request {
        Request {
            prompt,
            sampling: SamplingParams::default(),
            num_predict: 0,
            stop: Vec::new(),
            stop_at_eog: false,
            embed: true,
            grammar: None,
            top_logprobs: None,
            shift_keep: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Finish {
    pub reason: &'static str,
    pub prompt_tokens: u32,
    pub eval_tokens: u32,
    pub cached_tokens: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Token { id: u64, token: u32, text: String },
    Done { id: u64, finish: Finish },
    Failed { id: u64, message: String },
    Embedding { id: u64, vector: Vec<f32> },
}

struct Active {
    id: u64,
    /// Tokens to feed before sampling: the prompt, or after a context shift the tokens that
    /// are computed again at their new positions.
    prompt: Vec<u32>,
    /// The request's prompt length (what `prompt_eval_count` reports).
    prompt_len: u32,
    /// Prompt tokens already placed in the cache (cached or fed).
    fed: usize,
    cached: u32,
    sampler: Sampler,
    num_predict: i32,
    generated: u32,
    stop: StopMatcher,
    decoder: StreamDecoder,
    stop_at_eog: bool,
    /// The last sampled token, fed in the next pass.
    next_token: Option<u32>,
    embed: bool,
    /// The grammar state of a constrained request.
    constraint: Option<Constraint>,
    top_logprobs: Option<u32>,
    shift_keep: Option<u32>,
}

#[derive(Default)]
struct Slot {
    /// Tokens whose K/V sit in `cells`, position = index.
    tokens: Vec<u32>,
    cells: Vec<u32>,
    /// Tokens whose K/V a completed pass has written (the rest are in flight).
    confirmed: usize,
    active: Option<Active>,
    last_used: u64,
}

pub struct Engine {
    opts: EngineOptions,
    tokenizer: Rc<Tokenizer>,
    vocab: u32,
    kv: KvCells,
    slots: Vec<Slot>,
    queue: VecDeque<(u64, Request, Option<Constraint>)>,
    /// The vocabulary as the grammar engine sees it, built on the first constrained request.
    vocabulary: Option<Vocabulary>,
    next_id: u64,
    clock: u64,
    seed_base: u64,
    /// For each logit row of the pass in flight: the slot it belongs to.
    in_flight: Option<Vec<usize>>,
    /// Slots with rows in the pass in flight.
    in_flight_slots: Vec<usize>,
    /// The plan is an encoder whose output is pooled vectors: only embed requests run, each
    /// sequence whole in one pass, and no cache is kept between requests (an encoder's K/V
    /// depend on the tokens after them, so no prefix can be reused).
    embedding: bool,
    /// The decoder plan also outputs its final hidden state, so embed requests run on it.
    hidden_output: bool,
    /// Log-probabilities of the tokens chosen since the host last took them.
    logprobs: Vec<(u64, logprobs::Logprobs)>,
}

impl Engine {
    pub fn new(tokenizer: Rc<Tokenizer>, opts: EngineOptions, seed_base: u64) -> Result<Engine, String> {
        if opts.max_slots == 0 || opts.max_slots > MAX_SEQS {
            return Err(format!("max_slots must be 1..={MAX_SEQS}, got {}", opts.max_slots));
        }
        if opts.ctx_cells < 2 || opts.batch_tokens == 0 {
            return Err("ctx_cells must be at least 2 and batch_tokens at least 1".into());
        }
        let vocab = tokenizer.vocab_size();
        Ok(Engine {
            opts,
            tokenizer,
            vocab,
            kv: KvCells::new(opts.ctx_cells),
            slots: (0..opts.max_slots).map(|_| Slot::default()).collect(),
            queue: VecDeque::new(),
            vocabulary: None,
            next_id: 1,
            clock: 0,
            seed_base,
            in_flight: None,
            in_flight_slots: Vec::new(),
            embedding: false,
            hidden_output: false,
            logprobs: Vec::new(),
        })
    }

    /// An engine for an encoder plan (see `embedding`).
    pub fn new_embedding(tokenizer: Rc<Tokenizer>, opts: EngineOptions) -> Result<Engine, String> {
        let mut e = Engine::new(tokenizer, opts, 0)?;
        e.embedding = true;
        Ok(e)
    }

    pub fn is_embedding(&self) -> bool {
        self.embedding
    }

    /// A decoder engine whose plan reads back the final hidden state for embed requests.
    pub fn with_hidden_output(mut self) -> Engine {
        self.hidden_output = !self.embedding;
        self
    }

    pub fn options(&self) -> EngineOptions {
        self.opts
    }

    pub fn submit(&mut self, req: Request) -> Result<u64, String> {
        if req.prompt.is_empty() {
            return Err("the prompt is empty".into());
        }
        if let Some(t) = req.prompt.iter().find(|&&t| t >= self.vocab) {
            return Err(format!("prompt token {t} is outside the vocabulary of {}", self.vocab));
        }
        if !req.embed && self.embedding {
            return Err("this model only computes embeddings; it cannot generate text".into());
        }
        if req.embed && !self.embedding && !self.hidden_output {
            return Err("this model's plan has no hidden-state output to embed with".into());
        }
        // An encoder sees each input whole in one pass; a decoder's embedding needs a cell per
        // prompt token (a generation one more, below).
        let embed_limit = if self.embedding { self.opts.batch_tokens.min(self.opts.ctx_cells) } else { self.opts.ctx_cells };
        if req.embed && req.prompt.len() > embed_limit as usize {
            return Err(format!("the input has {} tokens, more than the context of {embed_limit} allows", req.prompt.len()));
        }
        if !req.embed && req.prompt.len() >= self.opts.ctx_cells as usize {
            return Err(format!(
                "the prompt has {} tokens, more than the context of {} allows",
                req.prompt.len(),
                self.opts.ctx_cells
            ));
        }
        let constraint = match &req.grammar {
            Some(g) => {
                if self.vocabulary.is_none() {
                    self.vocabulary = Some(Vocabulary::new(&self.tokenizer)?);
                }
                Some(self.vocabulary.as_ref().expect("built above").constraint(g)?)
            }
            None => None,
        };
        let id = self.next_id;
        self.next_id += 1;
        self.queue.push_back((id, req, constraint));
        Ok(id)
    }

    /// The log-probabilities collected since the last call, per request in token order.
    pub fn take_logprobs(&mut self) -> Vec<(u64, logprobs::Logprobs)> {
        std::mem::take(&mut self.logprobs)
    }

    pub fn cancel(&mut self, id: u64) {
        self.queue.retain(|(q, _, _)| *q != id);
        if let Some(s) = self.slots.iter().position(|s| s.active.as_ref().is_some_and(|a| a.id == id)) {
            self.slots[s].active = None;
            // Rows of this slot still in flight must not be sampled when they return.
            if let Some(rows) = &mut self.in_flight {
                for r in rows.iter_mut().filter(|r| **r == s) {
                    *r = usize::MAX;
                }
            }
        }
    }

    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.slots.iter().all(|s| s.active.is_none())
    }

    /// The next forward pass, or None when nothing is waiting (or a pass is still in flight).
    // The WIT's name for one scheduling step; the engine is not an iterator.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> (Option<Batch>, Vec<Event>) {
        if self.in_flight.is_some() {
            return (None, Vec::new());
        }
        let mut events = self.admit();
        let mut batch = Batch::default();
        let mut row_slots = Vec::new();
        let mut budget = self.opts.batch_tokens as usize;
        let mut top_k = 1u32;

        // Decode rows first: they are latency-critical and take one token each.
        let order: Vec<usize> = (0..self.slots.len())
            .filter(|&s| self.slots[s].active.as_ref().is_some_and(|a| a.next_token.is_some()))
            .chain((0..self.slots.len()).filter(|&s| {
                self.slots[s].active.as_ref().is_some_and(|a| a.next_token.is_none())
            }))
            .collect();
        for s in order {
            if budget == 0 {
                break;
            }
            let a = self.slots[s].active.as_ref().expect("filtered above");
            if a.embed && self.embedding {
                // An encoder sees its whole sequence at once: wait for a pass with room.
                if a.fed > 0 || a.prompt.len() > budget || a.prompt.len() > self.kv.free_count() as usize {
                    continue;
                }
            }
            let (tokens, wants_logits): (Vec<u32>, bool) = match a.next_token {
                Some(t) => (vec![t], true),
                None => {
                    let end = (a.fed + budget).min(a.prompt.len());
                    (a.prompt[a.fed..end].to_vec(), end == a.prompt.len())
                }
            };
            let mut placed = 0;
            for &t in &tokens {
                let pos = self.slots[s].tokens.len();
                if pos >= self.opts.ctx_cells as usize {
                    break;
                }
                let Some(cell) = self.alloc_cell(s, pos as i32) else { break };
                let slot = &mut self.slots[s];
                slot.tokens.push(t);
                slot.cells.push(cell);
                batch.tokens.push(t);
                batch.positions.push(pos as i32);
                batch.seqs.push(s as u32);
                batch.write_cells.push(cell);
                placed += 1;
            }
            budget -= placed;
            if placed == 0 {
                // No cell is left for this sequence even after evicting idle caches.
                let a = self.slots[s].active.as_ref().expect("active");
                let (id, embed) = (a.id, a.embed);
                let finish = self.finish(s, "length");
                events.push(if embed {
                    Event::Failed { id, message: "the KV cache has no room left for this input".into() }
                } else {
                    Event::Done { id, finish }
                });
                continue;
            }
            self.in_flight_slots.push(s);
            let a = self.slots[s].active.as_mut().expect("active");
            match a.next_token {
                Some(_) => a.next_token = None,
                None => a.fed += placed,
            }
            if wants_logits && placed == tokens.len() && a.embed && !self.embedding {
                // A decoder's embedding: the last prompt token's hidden state, nothing to rank.
                batch.hidden_rows.push(batch.logit_rows.len() as u32);
                batch.logit_rows.push((batch.tokens.len() - 1) as u32);
                batch.bias.push(Vec::new());
                row_slots.push(s);
            } else if wants_logits && placed == tokens.len() {
                batch.logit_rows.push((batch.tokens.len() - 1) as u32);
                batch.bias.push(a.sampler.bias());
                // A constrained row reads the whole row back: the grammar may rule out every
                // one of the model's favourites.
                // So does one that reports log-probabilities: they need the whole distribution.
                let whole = a.constraint.is_some() || a.top_logprobs.is_some();
                let needed = if whole { self.vocab } else { a.sampler.candidates_needed(self.vocab) };
                top_k = top_k.max(needed);
                row_slots.push(s);
            }
        }
        if batch.tokens.is_empty() {
            self.in_flight_slots.clear();
            return (None, events);
        }
        let (pos, seqs) = self.kv.table();
        batch.cell_pos = pos;
        batch.cell_seqs = seqs;
        // An encoder's output rows come back whole (top-k 0).
        batch.top_k = if self.embedding { 0 } else { top_k.min(self.vocab).max(1) };
        self.in_flight = Some(row_slots);
        (Some(batch), events)
    }

    /// Results of the pass in flight: one candidate list (ids, logits) per logit row.
    pub fn complete(&mut self, rows: &[(Vec<u32>, Vec<f32>)]) -> Vec<Event> {
        let Some(row_slots) = self.in_flight.as_ref() else {
            return Vec::new();
        };
        if rows.len() != row_slots.len() {
            let reason = format!("the host returned {} logit rows for {} requested", rows.len(), row_slots.len());
            return self.abort(&reason);
        }
        let row_slots = self.in_flight.take().expect("checked above");
        for s in std::mem::take(&mut self.in_flight_slots) {
            let slot = &mut self.slots[s];
            slot.confirmed = slot.tokens.len();
        }
        let mut events = Vec::new();
        for ((ids, logits), s) in rows.iter().zip(row_slots) {
            if s == usize::MAX || self.slots[s].active.is_none() {
                continue; // cancelled while in flight
            }
            let a = self.slots[s].active.as_ref().expect("active");
            if a.embed {
                let id = a.id;
                // A pooled (encoder) or hidden-state (decoder) row comes back whole, unranked.
                if !ids.is_empty() || logits.is_empty() {
                    self.finish(s, "stop");
                    let message = "the host returned candidates, not the embedding row".into();
                    events.push(Event::Failed { id, message });
                    continue;
                }
                events.push(Event::Embedding { id, vector: logits.clone() });
                let finish = self.finish(s, "stop");
                events.push(Event::Done { id, finish });
                continue;
            }
            self.sample_into(s, ids, logits, &mut events);
        }
        events
    }

    /// The pass in flight could not run: its requests fail and the cells it would have
    /// written are released, so the cache only ever holds computed K/V.
    pub fn abort(&mut self, reason: &str) -> Vec<Event> {
        self.in_flight = None;
        let mut events = Vec::new();
        for s in std::mem::take(&mut self.in_flight_slots) {
            let keep = self.slots[s].confirmed;
            for &c in &self.slots[s].cells[keep..] {
                self.kv.release(c, s as u32);
            }
            let slot = &mut self.slots[s];
            slot.cells.truncate(keep);
            slot.tokens.truncate(keep);
            if let Some(a) = slot.active.take() {
                events.push(Event::Failed { id: a.id, message: reason.to_string() });
            }
        }
        events
    }

    fn sample_into(&mut self, s: usize, ids: &[u32], logits: &[f32], events: &mut Vec<Event>) {
        let limit_reached = {
            let a = self.slots[s].active.as_ref().expect("active");
            a.num_predict >= 0 && a.generated >= a.num_predict as u32
        };
        if limit_reached || ids.is_empty() {
            let id = self.slots[s].active.as_ref().expect("active").id;
            let finish = self.finish(s, "length");
            events.push(Event::Done { id, finish });
            return;
        }
        let tokenizer = Rc::clone(&self.tokenizer);
        let ctx_full = self.slots[s].tokens.len() + 1 >= self.opts.ctx_cells as usize;
        let ctx_left = (self.opts.ctx_cells as usize).saturating_sub(self.slots[s].tokens.len());
        let a = self.slots[s].active.as_mut().expect("active");
        // Tokens this request may still generate, this one included.
        let budget = match a.num_predict {
            n if n >= 0 => (n as usize).saturating_sub(a.generated as usize).min(ctx_left),
            _ => ctx_left,
        };
        let picked = match &mut a.constraint {
            None => Ok(a.sampler.sample(ids, logits)),
            Some(c) => sample_constrained(c, &mut a.sampler, &tokenizer, ids, logits, budget),
        };
        let token = match picked {
            Ok(t) => t,
            Err(message) => {
                let id = a.id;
                self.finish(s, "stop");
                events.push(Event::Failed { id, message });
                return;
            }
        };
        a.sampler.accept(token);
        a.generated += 1;
        let id = a.id;
        if let Some(n) = a.top_logprobs {
            self.logprobs.push((id, logprobs::of(token, ids, logits, n, &tokenizer)));
        }
        if a.stop_at_eog && tokenizer.is_eog(token) {
            let text = a.decoder.flush();
            let (mut text, _) = a.stop.push(&text);
            text += &a.stop.flush();
            events.push(Event::Token { id, token, text });
            let finish = self.finish(s, "stop");
            events.push(Event::Done { id, finish });
            return;
        }
        let piece = a.decoder.push(&tokenizer.token_bytes(token, false));
        let (mut text, hit) = a.stop.push(&piece);
        let out_of_budget = a.num_predict >= 0 && a.generated >= a.num_predict as u32;
        let shift = if ctx_full { a.shift_keep } else { None };
        let ctx_full = ctx_full && shift.is_none();
        if !hit && (out_of_budget || ctx_full) {
            let tail = a.decoder.flush();
            let (t, _) = a.stop.push(&tail);
            text += &t;
            text += &a.stop.flush();
        }
        events.push(Event::Token { id, token, text });
        if hit {
            let finish = self.finish(s, "stop");
            events.push(Event::Done { id, finish });
        } else if out_of_budget || ctx_full {
            let finish = self.finish(s, "length");
            events.push(Event::Done { id, finish });
        } else if let Some(keep) = shift {
            self.shift_context(s, keep as usize, token);
        } else {
            a.next_token = Some(token);
        }
    }

    /// llama.cpp's context shift for a full sequence: keep its first `keep` tokens, drop half
    /// of the rest, and compute the remainder again at their new positions (their cached K
    /// was rotated for the old ones) followed by `token`, the one just sampled; generation then
    /// goes on from that pass's logits. Recomputing costs one prefill of half the context per
    /// half context generated, and needs no K re-rotation op from the host.
    fn shift_context(&mut self, s: usize, keep: usize, token: u32) {
        let n = self.slots[s].tokens.len();
        let keep = keep.min(n.saturating_sub(2));
        let discard = (n - keep) / 2;
        let released: Vec<u32> = self.slots[s].cells[keep..].to_vec();
        for c in released {
            self.kv.release(c, s as u32);
        }
        let slot = &mut self.slots[s];
        let mut refeed = slot.tokens[keep + discard..].to_vec();
        refeed.push(token);
        slot.tokens.truncate(keep);
        slot.cells.truncate(keep);
        slot.confirmed = slot.confirmed.min(keep);
        let a = slot.active.as_mut().expect("shifting an active slot");
        a.prompt = refeed;
        a.fed = 0;
        a.next_token = None;
    }

    fn finish(&mut self, s: usize, reason: &'static str) -> Finish {
        let a = self.slots[s].active.take().expect("finishing an active slot");
        self.slots[s].last_used = self.tick();
        if a.embed {
            // The cells an embedding computed are released at once. A decoder keeps the
            // prefix it found cached (it was cache before and stays valid: causal K/V do not
            // depend on later tokens); an encoder's cells are all released.
            let keep = if self.embedding { 0 } else { (a.cached as usize).min(self.slots[s].confirmed) };
            self.reset_slot(s, Some(s), keep);
        }
        Finish { reason, prompt_tokens: a.prompt_len, eval_tokens: a.generated, cached_tokens: a.cached }
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// Moves queued requests into idle slots, reusing the longest cached prompt prefix.
    fn admit(&mut self) -> Vec<Event> {
        let events = Vec::new();
        while let Some((_, req, _)) = self.queue.front() {
            let Some(target) = self.pick_slot(&req.prompt) else { break };
            let (id, req, constraint) = self.queue.pop_front().expect("front exists");
            // An encoder's K/V depend on every token of the sequence: no prefix is reused. A
            // decoder's embedding reuses a cached prefix as a generation does.
            let encoder = req.embed && self.embedding;
            let (source, lcp) = if encoder { (None, 0) } else { self.longest_prefix(&req.prompt) };
            // At least the last prompt token is computed again: its logits start generation
            // (or its hidden state is the embedding).
            let keep = lcp.min(req.prompt.len() - 1);
            if encoder {
                self.reset_slot(target, None, 0);
            }
            self.reset_slot(target, source.filter(|_| keep > 0), keep);
            let seed = req.sampling.seed.unwrap_or(self.seed_base ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let mut sampler = Sampler::new(req.sampling.clone(), seed);
            for &t in &req.prompt {
                sampler.accept(t);
            }
            let now = self.tick();
            let slot = &mut self.slots[target];
            slot.last_used = now;
            slot.active = Some(Active {
                id,
                fed: keep,
                cached: keep as u32,
                prompt_len: req.prompt.len() as u32,
                prompt: req.prompt,
                sampler,
                num_predict: req.num_predict,
                generated: 0,
                stop: StopMatcher::new(req.stop),
                decoder: StreamDecoder::new(),
                stop_at_eog: req.stop_at_eog,
                next_token: None,
                embed: req.embed,
                constraint,
                top_logprobs: req.top_logprobs,
                shift_keep: req.shift_keep,
            });
        }
        events
    }

    /// The idle slot a prompt should use: the one already holding its longest prefix, else
    /// the least recently used.
    fn pick_slot(&self, prompt: &[u32]) -> Option<usize> {
        let idle = |s: &usize| self.slots[*s].active.is_none();
        let best_idle = (0..self.slots.len())
            .filter(idle)
            .max_by_key(|&s| (common_prefix(&self.slots[s].tokens[..self.slots[s].confirmed], prompt), u64::MAX - self.slots[s].last_used));
        match best_idle {
            Some(s) if common_prefix(&self.slots[s].tokens[..self.slots[s].confirmed], prompt) > 0 => Some(s),
            _ => (0..self.slots.len()).filter(idle).min_by_key(|&s| self.slots[s].last_used),
        }
    }

    fn longest_prefix(&self, prompt: &[u32]) -> (Option<usize>, usize) {
        (0..self.slots.len())
            .map(|s| (Some(s), common_prefix(&self.slots[s].tokens[..self.slots[s].confirmed], prompt)))
            .max_by_key(|&(s, n)| (n, std::cmp::Reverse(s)))
            .unwrap_or((None, 0))
    }

    /// Gives slot `target` the first `keep` positions of `source`'s sequence (itself or
    /// another slot's, shared cell by cell) and drops the rest of what it held.
    fn reset_slot(&mut self, target: usize, source: Option<usize>, keep: usize) {
        let seq = target as u32;
        if source == Some(target) {
            let slot = &mut self.slots[target];
            for &c in &slot.cells[keep..] {
                self.kv.release(c, seq);
            }
            slot.cells.truncate(keep);
            slot.tokens.truncate(keep);
            slot.confirmed = keep;
            return;
        }
        let old = std::mem::take(&mut self.slots[target].cells);
        for c in old {
            self.kv.release(c, seq);
        }
        let (tokens, cells) = match source {
            Some(src) => (self.slots[src].tokens[..keep].to_vec(), self.slots[src].cells[..keep].to_vec()),
            None => (Vec::new(), Vec::new()),
        };
        for &c in &cells {
            self.kv.share(c, seq);
        }
        let slot = &mut self.slots[target];
        slot.tokens = tokens;
        slot.cells = cells;
        slot.confirmed = keep;
    }

    /// A free cell, evicting the caches of idle slots (least recently used first) if needed.
    fn alloc_cell(&mut self, seq: usize, pos: i32) -> Option<u32> {
        if let Some(c) = self.kv.alloc(seq as u32, pos) {
            return Some(c);
        }
        loop {
            let victim = (0..self.slots.len())
                .filter(|&s| s != seq && self.slots[s].active.is_none() && !self.slots[s].cells.is_empty())
                .min_by_key(|&s| self.slots[s].last_used)?;
            self.reset_slot(victim, None, 0);
            if let Some(c) = self.kv.alloc(seq as u32, pos) {
                return Some(c);
            }
        }
    }
}

/// Samples among the candidates the grammar allows, then advances the grammar; near the end
/// of the `budget` (tokens left) it steers towards closing the value.
fn sample_constrained(
    c: &mut Constraint,
    sampler: &mut Sampler,
    tokenizer: &Tokenizer,
    ids: &[u32],
    logits: &[f32],
    budget: usize,
) -> Result<u32, String> {
    let allowed = c.allowed()?;
    let (mut ids, mut logits): (Vec<u32>, Vec<f32>) = ids
        .iter()
        .zip(logits)
        .filter(|(&t, _)| allowed.allows(t, tokenizer.is_eog(t)))
        .map(|(&t, &l)| (t, l))
        .unzip();
    if ids.is_empty() {
        return Err("the output grammar allows no token here".into());
    }
    if c.closing(budget) {
        if let Some(keep) = c.closing_tokens(&ids, tokenizer) {
            (ids, logits) = keep.iter().map(|&i| (ids[i], logits[i])).unzip();
        }
    }
    let token = sampler.sample(&ids, &logits);
    c.accept(token, &tokenizer.token_bytes(token, false))?;
    Ok(token)
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

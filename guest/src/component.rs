//! The component glue: lowers the guest's plain-Rust types to the WIT interface and back
//! (as `From`/`TryFrom` impls where a type crosses whole). Nothing here knows what a model
//! means.

use std::cell::RefCell;
use std::rc::Rc;


use crate::constrain;
use crate::engine::{self, EngineOptions as CoreOptions, Event as CoreEvent};
use crate::gguf::ByteSource;
use crate::gotemplate::ollama::ThinkValue;
use crate::loaded::{LoadedModel, MetaValue as CoreMeta, ModelError};
use crate::message;
use crate::prompt;
use crate::sampler::SamplingParams;

wit_bindgen::generate!({ world: "guest", path: "../wit" });

use exports::wollama::engine::runtime::{
    Batch, Candidates, ChatMessage, Conversion, EngineOptions, Event, Finish, Grammar, Guest, GuestEngine, GuestModel, MetaValue,
    ModelBorrow, ModelInfo, PromptOptions, Request, TemplateFeatures, TensorCopy, TensorInfo, TokenLogprob, TokenLogprobs,
};
use wollama::engine::compute::{self, Plan};
use wollama::engine::model_file::File;
use wollama::engine::types::EngineError;

struct Component;

impl Guest for Component {
    type Model = ModelRes;
    type Engine = EngineRes;

    fn convert_safetensors(
        files: Vec<(String, String)>,
        header: Vec<u8>,
        size: u64,
        target: String,
    ) -> Result<Conversion, EngineError> {
        let c = crate::convert::plan(&files, &header, size, &target).map_err(EngineError::Invalid)?;
        Ok(Conversion {
            header: c.header,
            tensors: c
                .tensors
                .into_iter()
                .map(|t| TensorCopy {
                    source_offset: t.source_offset,
                    source_len: t.source_len,
                    source_type: t.source_type,
                    target_type: t.target_type,
                    padding: t.padding,
                })
                .collect(),
        })
    }
}

struct Shared {
    file: File,
    model: LoadedModel,
}

pub struct ModelRes(Rc<Shared>);

pub struct EngineRes {
    plan: Plan,
    engine: RefCell<engine::Engine>,
}

impl ByteSource for File {
    fn size(&self) -> u64 {
        File::size(self)
    }
    fn read(&self, offset: u64, len: u32) -> Result<Vec<u8>, String> {
        File::read(self, offset, len).map_err(|e| error_text(&e))
    }
}

fn error_text(e: &EngineError) -> String {
    match e {
        EngineError::Invalid(m) | EngineError::Unsupported(m) | EngineError::Io(m) | EngineError::OutOfMemory(m) => m.clone(),
    }
}

fn lift(e: ModelError) -> EngineError {
    match e {
        ModelError::Io(m) => EngineError::Io(m),
        ModelError::Invalid(m) => EngineError::Invalid(m),
        ModelError::Unsupported(m) => EngineError::Unsupported(m),
    }
}

impl GuestModel for ModelRes {
    fn open(file: File) -> Result<exports::wollama::engine::runtime::Model, EngineError> {
        let model = LoadedModel::open(&file).map_err(lift)?;
        Ok(exports::wollama::engine::runtime::Model::new(ModelRes(Rc::new(Shared { file, model }))))
    }

    fn info(&self) -> ModelInfo {
        let i = self.0.model.info();
        ModelInfo {
            architecture: i.architecture,
            name: i.name,
            parameter_count: i.parameter_count,
            file_type: i.file_type,
            context_length: i.context_length,
            embedding_length: i.embedding_length,
            vocab_size: i.vocab_size,
            bos: i.bos,
            eos: i.eos,
            chat_template: i.chat_template,
        }
    }

    fn metadata(&self) -> Vec<(String, MetaValue)> {
        self.0
            .model
            .metadata()
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    CoreMeta::Uint(x) => MetaValue::Uint(x),
                    CoreMeta::Int(x) => MetaValue::Int(x),
                    CoreMeta::Float(x) => MetaValue::Float(x),
                    CoreMeta::Bool(x) => MetaValue::Boolean(x),
                    CoreMeta::Text(x) => MetaValue::Text(x),
                    CoreMeta::Array(kind, n) => MetaValue::Array((kind, n)),
                };
                (k, v)
            })
            .collect()
    }

    fn metadata_json(&self) -> String {
        self.0.model.metadata_json()
    }

    fn tensors(&self) -> Vec<TensorInfo> {
        self.0
            .model
            .tensors()
            .into_iter()
            .map(|(name, ggml_type, shape)| TensorInfo { name, ggml_type, shape })
            .collect()
    }

    fn tokenize(&self, text: String, add_special: bool, parse_special: bool) -> Vec<u32> {
        self.0.model.tokenizer.encode(&text, add_special, parse_special)
    }

    fn detokenize(&self, ids: Vec<u32>) -> String {
        self.0.model.tokenizer.decode(&ids)
    }

    fn render_prompt(&self, messages: Vec<ChatMessage>, options: PromptOptions) -> Result<String, EngineError> {
        let messages = messages.into_iter().map(message::ChatMessage::try_from).collect::<Result<Vec<_>, _>>()?;
        prompt::render(&self.0.model, &messages, &options.try_into()?).map_err(lift)
    }

    fn template_features(&self, template: Option<String>) -> Result<TemplateFeatures, EngineError> {
        let f = prompt::features(&self.0.model, template.as_deref()).map_err(lift)?;
        Ok(TemplateFeatures {
            tools: f.tools,
            thinking: f.thinking,
            tool_call_tag: f.tool_call_tag,
            think_open: f.think_open,
            think_close: f.think_close,
        })
    }
}

/// JSON text from the host, parsed; `what` names the field in the error.
fn json(text: Option<String>, what: &str) -> Result<Option<serde_json::Value>, EngineError> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| EngineError::Invalid(format!("invalid {what} JSON: {e}")))).transpose()
}

impl TryFrom<ChatMessage> for message::ChatMessage {
    type Error = EngineError;

    fn try_from(m: ChatMessage) -> Result<Self, EngineError> {
        Ok(message::ChatMessage {
            role: m.role,
            content: m.content,
            thinking: m.thinking,
            tool_calls: json(m.tool_calls, "tool_calls")?,
            tool_name: m.tool_name,
        })
    }
}

impl TryFrom<PromptOptions> for prompt::PromptOptions {
    type Error = EngineError;

    fn try_from(o: PromptOptions) -> Result<Self, EngineError> {
        let think = o.think.map(|t| match t.as_str() {
            "true" => ThinkValue::Bool(true),
            "false" => ThinkValue::Bool(false),
            _ => ThinkValue::Level(t),
        });
        Ok(prompt::PromptOptions {
            template: o.template,
            tools: json(o.tools, "tools")?,
            think,
            add_generation_prompt: o.add_generation_prompt,
        })
    }
}

// The plan's records as the WIT's, both ways: the plan crate's one table, which the host's
// runtime invokes too (and tests the round trips of).
mod lowering {
    use super::exports::wollama::engine::runtime;
    use super::wollama::engine::compute;
    wollama_plan::wit_conversions!(compute, runtime);
}

impl From<Grammar> for constrain::Grammar {
    fn from(g: Grammar) -> Self {
        match g {
            Grammar::Json => constrain::Grammar::Json,
            Grammar::JsonSchema(t) => constrain::Grammar::JsonSchema(t),
            Grammar::Lark(t) => constrain::Grammar::Lark(t),
        }
    }
}

impl From<Request> for engine::Request {
    fn from(req: Request) -> Self {
        let s = req.sampling;
        let sampling = SamplingParams {
            temperature: s.temperature,
            top_k: s.top_k,
            top_p: s.top_p,
            min_p: s.min_p,
            typical_p: s.typical_p,
            repeat_penalty: s.repeat_penalty,
            repeat_last_n: s.repeat_last_n,
            presence_penalty: s.presence_penalty,
            frequency_penalty: s.frequency_penalty,
            seed: s.seed,
        };
        engine::Request {
            prompt: req.prompt,
            sampling,
            num_predict: req.num_predict,
            stop: req.stop,
            stop_at_eog: req.stop_at_eog,
            embed: false,
            grammar: req.grammar.map(Into::into),
            top_logprobs: req.top_logprobs,
            shift_keep: req.shift_keep,
        }
    }
}

/// A per-instance seed for requests that bring none (wasi:random through std's hasher keys).
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x5eed);
    h.finish()
}

impl GuestEngine for EngineRes {
    fn create(
        model: ModelBorrow<'_>,
        options: EngineOptions,
    ) -> Result<exports::wollama::engine::runtime::Engine, EngineError> {
        let shared = Rc::clone(&model.get::<ModelRes>().0);
        let (_, mut spec) = crate::model::build_graph(&shared.model.gguf).map_err(EngineError::Unsupported)?;
        let opts = CoreOptions {
            max_slots: options.max_slots,
            ctx_cells: options.ctx_cells,
            batch_tokens: options.batch_tokens,
        };
        let tokenizer = Rc::clone(&shared.model.tokenizer);
        let engine = if spec.is_embedding() {
            engine::Engine::new_embedding(tokenizer, opts)
        } else {
            engine::Engine::new(tokenizer, opts, random_seed())
        }
        .map_err(EngineError::Invalid)?;
        // A decoder's plan also outputs its hidden state, so that embed requests share the
        // generation plan (its weights and KV cache) instead of needing a second one.
        let engine = if spec.hidden.is_some() { engine.with_hidden_output() } else { engine };
        spec.kv.cells = options.ctx_cells;
        spec.max_rows = options.batch_tokens;
        let plan = compute::build_plan(&shared.file, &spec.into())?;
        Ok(exports::wollama::engine::runtime::Engine::new(EngineRes { plan, engine: RefCell::new(engine) }))
    }

    fn submit(&self, req: Request) -> Result<u64, EngineError> {
        self.engine.borrow_mut().submit(req.into()).map_err(EngineError::Invalid)
    }

    fn embed(&self, prompt: Vec<u32>) -> Result<u64, EngineError> {
        self.engine.borrow_mut().submit(engine::Request::embedding(prompt)).map_err(EngineError::Invalid)
    }

    fn take_logprobs(&self) -> Vec<(u64, TokenLogprobs)> {
        let lower = |t: engine::logprobs::TokenLogprob| TokenLogprob { token: t.token, bytes: t.bytes, logprob: t.logprob };
        self.engine
            .borrow_mut()
            .take_logprobs()
            .into_iter()
            .map(|(id, l)| (id, TokenLogprobs { chosen: lower(l.chosen), top: l.top.into_iter().map(lower).collect() }))
            .collect()
    }

    fn cancel(&self, id: u64) {
        self.engine.borrow_mut().cancel(id)
    }

    fn next(&self) -> (Option<Batch>, Vec<Event>) {
        let (batch, events) = self.engine.borrow_mut().next();
        (batch.map(|b| (self.plan.id(), b).into()), events.into_iter().map(Event::from).collect())
    }

    fn complete(&self, rows: Vec<Candidates>) -> Vec<Event> {
        let rows: Vec<(Vec<u32>, Vec<f32>)> = rows.into_iter().map(|c| (c.ids, c.logits)).collect();
        self.engine.borrow_mut().complete(&rows).into_iter().map(Event::from).collect()
    }

    fn abort(&self, reason: String) -> Vec<Event> {
        self.engine.borrow_mut().abort(&reason).into_iter().map(Event::from).collect()
    }
}

impl From<CoreEvent> for Event {
    fn from(e: CoreEvent) -> Self {
        match e {
            CoreEvent::Token { id, token, text } => Event::Token((id, token, text)),
            CoreEvent::Done { id, finish } => Event::Done((
                id,
                Finish {
                    reason: finish.reason.to_string(),
                    prompt_tokens: finish.prompt_tokens,
                    eval_tokens: finish.eval_tokens,
                    cached_tokens: finish.cached_tokens,
                },
            )),
            CoreEvent::Failed { id, message } => Event::Failed((id, message)),
            CoreEvent::Embedding { id, vector } => Event::Embedding((id, vector)),
        }
    }
}

export!(Component);

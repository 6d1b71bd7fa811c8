//! Steps two to four: schedule the model's engine, ask its template what the output holds
//! (thinking, tool calls), render the prompt (a Modelfile or request Go TEMPLATE, else the
//! GGUF's Jinja chat template), fit it to `num_ctx` (`truncate`), and submit it. One entry for
//! a prompt (`/api/generate`, `/v1/completions`) and one for a conversation (`/api/chat`,
//! `/v1/chat/completions`).

use std::time::Instant;

use futures::future::BoxFuture;
use serde_json::Value;
use wollama_runtime::{ChatMessage, Grammar, PromptOptions, Request, Runner, TemplateFeatures};

use super::generation::{self, Generation};
use super::output::OutputParser;
use super::resolve::{engine_request, num_keep, shift_keep, Resolved};
use super::tools::{call_grammar, ForcedCall};
use crate::error::{ApiError, ApiResult};
use crate::keep_alive::KeepAlive;
use crate::state::AppState;
use crate::truncate;

/// What a request asks of the engine besides its prompt.
pub(crate) struct Run {
    pub grammar: Option<Grammar>,
    /// Log-probabilities per token with this many alternatives; None = off.
    pub top_logprobs: Option<u32>,
    /// Cut the prompt (chat: the oldest turns first) to fit the context, or refuse with a 400.
    pub truncate: bool,
    /// Context shift when generation fills the context (else stop with `length`).
    pub shift: bool,
    /// Only render the prompt (`_debug_render_only`).
    pub render_only: bool,
}

/// What a start did: the generation running, or (`render_only`) only the rendered prompt.
pub(crate) enum Started {
    Running(Box<Generation>),
    Rendered(String),
}

impl Started {
    /// The generation of a request that cannot ask for `render_only`.
    pub fn running(self) -> Generation {
        match self {
            Started::Running(g) => *g,
            Started::Rendered(_) => unreachable!("render_only was not asked for"),
        }
    }
}

/// How a prompt goes through the model's template.
pub(crate) enum Templating {
    /// As it is (`raw`); `think` is still checked, as the request carried it.
    Raw { think: ApiResult<Option<String>> },
    /// Through the template with `think` as the template should see it (checked once the model
    /// is held, as Ollama checks it), the output split into thinking when the model thinks.
    Thinking { think: ApiResult<Option<String>> },
    /// Through the template, without asking it about thinking: the output is plain text
    /// (`/v1/completions`, as Ollama's layer).
    Plain,
}

/// A prompt to complete (`/api/generate`, `/v1/completions`).
pub(crate) struct Completion<'a> {
    pub prompt: &'a str,
    pub templating: Templating,
    /// The request's SYSTEM and TEMPLATE, in place of the model's.
    pub system: Option<String>,
    pub template: Option<String>,
    /// Tokens of an earlier exchange the prompt continues (then without the Modelfile MESSAGEs).
    pub context: Option<Vec<u32>>,
}

/// Runs a prompt on the engine.
pub(crate) async fn complete(
    s: &AppState,
    resolved: &Resolved,
    c: Completion<'_>,
    keep_alive: Option<KeepAlive>,
    run: Run,
    started: Instant,
) -> ApiResult<Started> {
    let lease = s.sched.acquire(&resolved.spec, keep_alive).await?;
    let runner = &lease.model.runner;
    let system = c.system.or(resolved.system.clone());
    // Modelfile MESSAGEs come first, unless the client continues its own context.
    let history = if c.context.is_some() { Vec::new() } else { resolved.messages.clone() };
    // A request or Modelfile TEMPLATE (Go) wins over the GGUF's Jinja chat template.
    let template = c.template.or(resolved.template.clone());
    let (text, output) = match c.templating {
        Templating::Raw { think } => {
            think?;
            (c.prompt.to_string(), OutputParser::plain())
        }
        Templating::Thinking { think } => {
            let think = think?;
            let features = runner.template_features(template.clone()).await.map_err(|e| ApiError::internal(e.to_string()))?;
            let (think_value, thinks) = think_mode(think, &features, &resolved.spec.display)?;
            let text = render_completion(runner, c.prompt, system, template, history, think_value).await?;
            let output = OutputParser::new(&features, thinks, false, &text);
            (text, output)
        }
        Templating::Plain => (render_completion(runner, c.prompt, system, template, history, None).await?, OutputParser::plain()),
    };
    if run.render_only {
        return Ok(Started::Rendered(text));
    }
    let mut prompt = c.context.unwrap_or_default();
    prompt.extend(runner.tokenize(&text, prompt.is_empty(), true).await?);
    tracing::debug!(model = %resolved.spec.name, prompt = %text, tokens = prompt.len(), "generate request");
    let fitted = truncate::cut_tokens(prompt, resolved.spec.num_ctx as usize, num_keep(&resolved.params), run.truncate)?;
    let shift_keep = shift_keep(run.shift, &resolved.params, fitted.tokens.len());
    let req = Request {
        grammar: run.grammar,
        top_logprobs: run.top_logprobs,
        shift_keep,
        ..engine_request(fitted.tokens.clone(), &resolved.params)
    };
    let g = generation::submit(lease, req, output, fitted.tokens, started, fitted.truncated).await?;
    Ok(Started::Running(Box::new(g)))
}

/// A prompt through the model's template: the Go `template` when there is one, else the
/// GGUF's Jinja chat template with the system, history and prompt as messages, else the
/// prompt as it is.
async fn render_completion(
    runner: &Runner,
    prompt_text: &str,
    system: Option<String>,
    template: Option<String>,
    history: Vec<ChatMessage>,
    think: Option<String>,
) -> ApiResult<String> {
    let message = |role: &str, content: &str| ChatMessage::new(role, content);
    let mut msgs = Vec::new();
    if let Some(sys) = system.filter(|s| !s.is_empty()) {
        msgs.push(message("system", &sys));
    }
    msgs.extend(history.iter().map(|m| message(&m.role, &m.content)));
    msgs.push(message("user", prompt_text));
    let is_go = template.is_some();
    match runner.render_prompt(msgs, PromptOptions { template, think, ..PromptOptions::default() }).await {
        Ok(t) => Ok(t),
        // A model without a chat template takes the prompt as it is ({{ .Prompt }}).
        Err(wollama_runtime::Error::Unsupported(_)) if !is_go => Ok(prompt_text.to_string()),
        Err(e) if is_go => Err(ApiError::internal(e.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// The `think` value the template gets and whether the output is split into thinking: unset
/// on a model that can think means thinking, as Ollama does; asked of one that cannot, a 400.
fn think_mode(requested: Option<String>, features: &TemplateFeatures, display: &str) -> ApiResult<(Option<String>, bool)> {
    let value = match requested {
        None if features.thinking => Some("true".to_string()),
        t => t,
    };
    let on = match value.as_deref() {
        Some("false") | None => false,
        Some(_) if !features.thinking => return Err(ApiError::bad_request(format!("\"{display}\" does not support thinking"))),
        Some(_) => true,
    };
    Ok((value, on))
}

/// What a conversation brings besides its messages.
pub(crate) struct Conversation {
    pub messages: Vec<ChatMessage>,
    /// The request's tools (a non-empty list), as JSON.
    pub tools: Option<Value>,
    pub think: Option<String>,
    /// A tool call the output must be, enforced by a grammar in the template's call format.
    pub forced_call: Option<ForcedCall>,
}

/// Runs a conversation on the engine: Modelfile MESSAGEs precede it, its SYSTEM goes first
/// unless the conversation brings its own, and the model's template (Modelfile Go TEMPLATE,
/// else the GGUF's Jinja template) renders the prompt with the tools and thinking asked for.
pub(crate) async fn converse(
    s: &AppState,
    resolved: &Resolved,
    c: Conversation,
    keep_alive: Option<KeepAlive>,
    run: Run,
    started: Instant,
) -> ApiResult<Started> {
    let mut messages = c.messages;
    messages.splice(0..0, resolved.messages.iter().cloned());
    if let Some(sys) = &resolved.system {
        if messages.first().is_none_or(|m| m.role != "system") {
            messages.insert(0, ChatMessage::new("system", sys.clone()));
        }
    }

    let lease = s.sched.acquire(&resolved.spec, keep_alive).await?;
    let runner = &lease.model.runner;
    let features = runner.template_features(resolved.template.clone()).await.map_err(template_error)?;
    if c.tools.is_some() && !features.tools {
        return Err(ApiError::bad_request(format!("{} does not support tools", resolved.spec.name)));
    }
    let (think_value, think) = think_mode(c.think, &features, &resolved.spec.display)?;
    let options = PromptOptions {
        template: resolved.template.clone(),
        tools: c.tools.as_ref().map(Value::to_string),
        think: think_value,
        add_generation_prompt: true,
    };
    let options = &options;
    let render = move |m: Vec<ChatMessage>| async move { runner.render_prompt(m, options.clone()).await.map_err(template_error) };
    let text = render(messages.clone()).await?;
    if run.render_only {
        return Ok(Started::Rendered(text));
    }
    // The whole conversation is rendered already; only shortened ones are rendered again (a
    // shortened one as long as the whole drops only system messages it keeps, so is the same).
    let (whole, text_ref) = (messages.len(), &text);
    let prompt_of = move |m: Vec<ChatMessage>| -> BoxFuture<'_, ApiResult<Vec<u32>>> {
        Box::pin(async move {
            let shortened;
            let t = if m.len() == whole { text_ref } else { shortened = render(m).await?; &shortened };
            Ok(runner.tokenize(t, true, true).await?)
        })
    };
    let fitted =
        truncate::fit_chat(&messages, resolved.spec.num_ctx as usize, num_keep(&resolved.params), run.truncate, prompt_of).await?;
    tracing::debug!(model = %resolved.spec.name, messages = messages.len(), prompt = %text, tokens = fitted.tokens.len(), "chat request");
    if fitted.truncated > 0 {
        tracing::debug!(dropped_tokens = fitted.truncated, "truncating input messages which exceed context length");
    }
    // The parser reads the prompt's ending (an open think tag), which truncation keeps.
    let output = OutputParser::new(&features, think, c.tools.is_some(), &text);
    let grammar = match (&c.forced_call, &c.tools) {
        (Some(forced), Some(tools)) => Some(call_grammar(tools, forced, &features.tool_call_tag)),
        _ => run.grammar,
    };
    let shift_keep = shift_keep(run.shift, &resolved.params, fitted.tokens.len());
    let req = Request { grammar, top_logprobs: run.top_logprobs, shift_keep, ..engine_request(fitted.tokens.clone(), &resolved.params) };
    let g = generation::submit(lease, req, output, fitted.tokens, started, fitted.truncated).await?;
    Ok(Started::Running(Box::new(g)))
}

/// A template that fails to parse or run is the model's fault (500, as Ollama), a missing
/// chat template an unsupported request.
fn template_error(e: wollama_runtime::Error) -> ApiError {
    match e {
        wollama_runtime::Error::Invalid(m) => ApiError::internal(m),
        e => e.into(),
    }
}

//! Commands that work on a GGUF file directly, without a server.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use wollama_runtime::{ChatMessage, EngineOptions, Event, PromptOptions, Request, Runtime, Sampling, Session};

#[derive(Args)]
pub struct ModelArgs {
    /// The GGUF model file.
    #[arg(long)]
    pub gguf: PathBuf,
    /// Compute threads (default: all cores).
    #[arg(long, env = "WOLLAMA_THREADS")]
    pub threads: Option<usize>,
}

impl ModelArgs {
    pub fn threads(&self) -> usize {
        self.threads
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
    }

    pub fn open(&self) -> Result<Session> {
        let rt = Runtime::shared().context("starting the engine")?;
        rt.open(&self.gguf, self.threads()).with_context(|| format!("loading {}", self.gguf.display()))
    }
}

#[derive(Args)]
pub struct TokenizeArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Parse special-token texts (e.g. <|im_start|>) as special tokens.
    #[arg(long)]
    special: bool,
    /// Add the model's BOS/EOS tokens as its metadata asks.
    #[arg(long)]
    add_special: bool,
    text: Option<String>,
}

pub fn tokenize(a: TokenizeArgs) -> Result<()> {
    let mut s = a.model.open()?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match a.text {
        Some(text) => {
            let ids = s.tokenize(&text, a.add_special, a.special)?;
            writeln!(out, "{}", serde_json::to_string(&ids)?)?;
        }
        None => {
            for (n, line) in std::io::stdin().lock().lines().enumerate() {
                let line = line?;
                let text: String = serde_json::from_str(&line)
                    .with_context(|| format!("stdin line {} is not a JSON string", n + 1))?;
                let ids = s.tokenize(&text, a.add_special, a.special)?;
                writeln!(out, "{}", serde_json::to_string(&ids)?)?;
            }
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Wrap the prompt as one user message in the model's chat template.
    #[arg(long)]
    chat: bool,
    #[arg(long)]
    prompt: String,
    /// 0 = greedy.
    #[arg(long, default_value_t = 0.8)]
    temperature: f32,
    #[arg(long)]
    seed: Option<u64>,
    /// Most tokens to generate; -1 = until the context is full.
    #[arg(long, default_value_t = 128)]
    num_predict: i32,
    #[arg(long, default_value_t = 40)]
    top_k: u32,
    #[arg(long, default_value_t = 0.9)]
    top_p: f32,
    #[arg(long, default_value_t = 0.0)]
    min_p: f32,
    #[arg(long, default_value_t = 1.1)]
    repeat_penalty: f32,
    /// Context length (KV cells).
    #[arg(long, default_value_t = 4096)]
    num_ctx: u32,
    /// Stop before this string (repeatable).
    #[arg(long)]
    stop: Vec<String>,
    /// Print the generated token ids as JSON to stderr after the text.
    #[arg(long)]
    print_ids: bool,
    /// Print timings to stderr.
    #[arg(long)]
    verbose: bool,
}

pub fn generate(a: GenerateArgs) -> Result<()> {
    let mut s = a.model.open()?;
    let prompt = if a.chat {
        let msgs = [ChatMessage::new("user", a.prompt.clone())];
        let text = s.render_prompt(&msgs, &PromptOptions::default())?;
        s.tokenize(&text, true, true)?
    } else {
        s.tokenize(&a.prompt, true, true)?
    };
    let info = s.info()?;
    let num_ctx = a.num_ctx.min(info.context_length.max(1));
    s.start_engine(EngineOptions { max_slots: 1, ctx_cells: num_ctx, batch_tokens: 512 })?;
    let sampling = Sampling {
        temperature: a.temperature,
        top_k: a.top_k,
        top_p: a.top_p,
        min_p: a.min_p,
        typical_p: 1.0,
        repeat_penalty: a.repeat_penalty,
        repeat_last_n: 64,
        presence_penalty: 0.0,
        frequency_penalty: 0.0,
        seed: a.seed,
    };
    let req = Request {
        prompt,
        sampling,
        num_predict: a.num_predict,
        stop: a.stop.clone(),
        stop_at_eog: true,
        grammar: None,
        top_logprobs: None,
        shift_keep: None,
    };
    let start = std::time::Instant::now();
    s.submit(&req)?;
    let mut ids = Vec::new();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut first_token = None;
    loop {
        let Some(events) = s.step()? else { bail!("the engine went idle before the request finished") };
        for ev in events {
            match ev {
                Event::Token((_, id, text)) => {
                    first_token.get_or_insert_with(|| start.elapsed());
                    ids.push(id);
                    out.write_all(text.as_bytes())?;
                    out.flush()?;
                }
                Event::Done((_, fin)) => {
                    writeln!(out)?;
                    if a.print_ids {
                        eprintln!("{}", serde_json::to_string(&ids)?);
                    }
                    if a.verbose {
                        let total = start.elapsed();
                        let ttft = first_token.unwrap_or(total);
                        let decode = total - ttft;
                        eprintln!(
                            "prompt {} tokens ({} cached), generated {} ({}), first token {:.1} ms, decode {:.1} tokens/s",
                            fin.prompt_tokens,
                            fin.cached_tokens,
                            fin.eval_tokens,
                            fin.reason,
                            ttft.as_secs_f64() * 1e3,
                            (fin.eval_tokens.saturating_sub(1)) as f64 / decode.as_secs_f64().max(1e-9)
                        );
                    }
                    return Ok(());
                }
                Event::Failed((_, msg)) => bail!("generation failed: {msg}"),
                Event::Embedding(_) => bail!("the engine returned an embedding for a generation request"),
            }
        }
    }
}

#[derive(Args)]
pub struct TemplateArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// JSON list of {"role", "content"} messages.
    messages: String,
    /// Do not append the assistant turn opener.
    #[arg(long)]
    no_generation_prompt: bool,
}

pub fn template(a: TemplateArgs) -> Result<()> {
    #[derive(serde::Deserialize)]
    struct M {
        role: String,
        content: String,
    }
    let msgs: Vec<M> = serde_json::from_str(&a.messages).context("messages must be a JSON list of {role, content}")?;
    let msgs: Vec<ChatMessage> = msgs.into_iter().map(|m| ChatMessage::new(m.role, m.content)).collect();
    let mut s = a.model.open()?;
    let options = PromptOptions { add_generation_prompt: !a.no_generation_prompt, ..PromptOptions::default() };
    print!("{}", s.render_prompt(&msgs, &options)?);
    Ok(())
}

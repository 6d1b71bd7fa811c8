//! One engine task per loaded model: a dedicated thread owns the model's session and runs
//! the continuous-batching loop. Requests arrive over a channel; each request's events go to
//! its own sink, and a sink that reports its receiver gone (the client disconnected) cancels
//! the request before the next step.
//!
//! The thread answers commands between steps, so an answer can take a whole step (a long
//! prefill: seconds). Answers therefore come back on oneshot channels that async callers
//! await: waiting for one never holds an async worker.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::{
    ChatMessage, Device, EngineOptions, Error, Event, MetaValue, ModelInfo, PromptOptions, Request, Result, Runtime, Session,
    TemplateFeatures, TokenLogprobs,
};

/// Receives one request's events; returns false when nobody listens any more.
pub type EventSink = Box<dyn FnMut(Event) -> bool + Send>;

/// Receives one request's token log-probabilities, each before the token's event.
pub type LogprobSink = Box<dyn FnMut(TokenLogprobs) + Send>;

type Reply<T> = oneshot::Sender<Result<T>>;

enum Command {
    Submit(Box<Request>, EventSink, Option<LogprobSink>, Reply<u64>),
    Embed(Vec<u32>, EventSink, Reply<u64>),
    Cancel(u64),
    Tokenize(String, bool, bool, Reply<Vec<u32>>),
    RenderPrompt(Vec<ChatMessage>, Box<PromptOptions>, Reply<String>),
    Features(Option<String>, Reply<TemplateFeatures>),
}

/// What a loaded model is, fixed at load.
#[derive(Debug, Clone)]
pub struct LoadedInfo {
    pub info: ModelInfo,
    pub metadata: Vec<(String, MetaValue)>,
    pub options: EngineOptions,
    /// Where the model runs: `cpu (N threads)` or the GPU adapter.
    pub device: String,
    /// Bytes the model's plans hold in GPU memory after the engine started (0 on the CPU):
    /// `/api/ps`'s `size_vram`.
    pub device_bytes: u64,
}

/// A handle to a model's engine thread; dropping it stops the thread once idle (and waits
/// for that, so drop it off the async workers).
pub struct Runner {
    tx: Option<Sender<Command>>,
    thread: Option<JoinHandle<()>>,
    pub loaded: LoadedInfo,
    /// Set by the engine thread when it stopped for good (the GPU device was lost): why.
    dead: Arc<Mutex<Option<String>>>,
}

impl Runner {
    /// Loads the model on a new thread and starts its engine. Dropping the future before the
    /// load ends leaves the thread to finish loading and then stop on its own.
    pub async fn start(path: PathBuf, device: Device, options: EngineOptions) -> Result<Runner> {
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = oneshot::channel::<Result<LoadedInfo>>();
        let dead = Arc::new(Mutex::new(None));
        let dead_in_thread = Arc::clone(&dead);
        let thread = std::thread::Builder::new()
            .name("wollama-engine".into())
            .spawn(move || {
                let loaded = (|| {
                    let mut s = Runtime::shared()?.open_on(&path, &device)?;
                    let info = s.info()?;
                    let metadata = s.metadata()?;
                    s.start_engine(options)?;
                    let device_bytes = s.device_bytes();
                    Ok((s, LoadedInfo { info, metadata, options, device: format!("{device:?}"), device_bytes }))
                })();
                match loaded {
                    Ok((session, info)) => {
                        let _ = ready_tx.send(Ok(info));
                        engine_loop(session, rx, &dead_in_thread);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(|e| Error::Engine(format!("starting the engine thread: {e}")))?;
        let loaded = ready_rx.await.map_err(|_| Error::Engine("the engine thread died while loading".into()))??;
        Ok(Runner { tx: Some(tx), thread: Some(thread), loaded, dead })
    }

    /// Why the engine can no longer run (its GPU device was lost), once it stopped for it: the
    /// owner should start the model again.
    pub fn dead(&self) -> Option<String> {
        self.dead.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn stopped(&self) -> Error {
        Error::Engine(self.dead().unwrap_or_else(|| "the engine thread stopped".into()))
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx))?;
        rx.await.map_err(|_| self.stopped())?
    }

    fn send(&self, cmd: Command) -> Result<()> {
        self.tx.as_ref().expect("sender lives as long as the runner").send(cmd).map_err(|_| self.stopped())
    }

    /// Queues a request; its events go to `sink` from the engine thread, and, when it asked
    /// for them (`top_logprobs`), its log-probabilities to `logprobs`.
    pub async fn submit(&self, req: Request, sink: EventSink, logprobs: Option<LogprobSink>) -> Result<u64> {
        self.call(|r| Command::Submit(Box::new(req), sink, logprobs, r)).await
    }

    /// Queues the embedding of `prompt`: its sink gets one `Embedding` event, then `Done`.
    pub async fn embed(&self, prompt: Vec<u32>, sink: EventSink) -> Result<u64> {
        self.call(|r| Command::Embed(prompt, sink, r)).await
    }

    pub fn cancel(&self, id: u64) {
        let _ = self.send(Command::Cancel(id));
    }

    pub async fn tokenize(&self, text: &str, add_special: bool, parse_special: bool) -> Result<Vec<u32>> {
        self.call(|r| Command::Tokenize(text.to_string(), add_special, parse_special, r)).await
    }

    /// The chat prompt with tools and thinking, rendered in the guest.
    pub async fn render_prompt(&self, messages: Vec<ChatMessage>, options: PromptOptions) -> Result<String> {
        self.call(|r| Command::RenderPrompt(messages, Box::new(options), r)).await
    }

    /// What a Go TEMPLATE (or, with none, the GGUF's chat template) says about the output.
    pub async fn template_features(&self, template: Option<String>) -> Result<TemplateFeatures> {
        self.call(|r| Command::Features(template, r)).await
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        // Closing the channel ends the loop once the requests in progress are done.
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs until the runner is dropped and idle, or until the session can no longer run because
/// its GPU device was lost: then every request in it fails, `dead` says why (before the
/// command channel closes, so callers see the reason), and the loop ends.
fn engine_loop(mut s: Session, rx: Receiver<Command>, dead: &Mutex<Option<String>>) {
    let mut sinks: HashMap<u64, EventSink> = HashMap::new();
    let mut lp_sinks: HashMap<u64, LogprobSink> = HashMap::new();
    let mut open = true;
    loop {
        // Idle: block for work. Busy: take whatever arrived, then step.
        let first = if sinks.is_empty() {
            if !open {
                return;
            }
            match rx.recv() {
                Ok(c) => Some(c),
                Err(_) => return,
            }
        } else {
            match rx.recv_timeout(Duration::ZERO) {
                Ok(c) => Some(c),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => {
                    open = false;
                    None
                }
            }
        };
        let mut cmd = first;
        while let Some(c) = cmd.take() {
            handle(&mut s, &mut sinks, &mut lp_sinks, c);
            cmd = rx.try_recv().ok();
        }
        if sinks.is_empty() {
            continue;
        }
        let events = match s.step() {
            Ok(Some(events)) => events,
            Ok(None) => {
                // Idle with sinks left means their requests ended without an event: drop them.
                sinks.clear();
                lp_sinks.clear();
                continue;
            }
            Err(e) => {
                // The guest trapped: every request in it fails; the instance is unusable.
                let message = e.to_string();
                lp_sinks.clear();
                for (id, mut sink) in sinks.drain() {
                    sink(Event::Failed((id, message.clone())));
                }
                return;
            }
        };
        // A lost device is recorded before the pass's failures reach their callers, so that a
        // caller's next request already finds the runner dead and loads the model again.
        let lost = s.lost().map(str::to_string);
        if let Some(why) = &lost {
            *dead.lock().unwrap_or_else(PoisonError::into_inner) = Some(why.clone());
        }
        // A step's log-probabilities come before its token events.
        if !lp_sinks.is_empty() {
            for (id, l) in s.take_logprobs().unwrap_or_default() {
                if let Some(sink) = lp_sinks.get_mut(&id) {
                    sink(l);
                }
            }
        }
        let mut gone = Vec::new();
        for ev in events {
            let (id, last) = match &ev {
                Event::Token((id, _, _)) | Event::Embedding((id, _)) => (*id, false),
                Event::Done((id, _)) | Event::Failed((id, _)) => (*id, true),
            };
            if let Some(sink) = sinks.get_mut(&id) {
                if !sink(ev) {
                    gone.push(id);
                }
            }
            if last {
                sinks.remove(&id);
                lp_sinks.remove(&id);
            }
        }
        for id in gone {
            lp_sinks.remove(&id);
            if sinks.remove(&id).is_some() {
                let _ = s.cancel(id);
            }
        }
        if let Some(why) = lost {
            // The device is gone: the pass's requests failed with the reason above; the rest
            // (queued, or in later passes) fail too, and the thread stops so the model is
            // loaded again on a fresh device.
            lp_sinks.clear();
            for (id, mut sink) in sinks.drain() {
                sink(Event::Failed((id, why.clone())));
            }
            return;
        }
    }
}

fn handle(
    s: &mut Session,
    sinks: &mut HashMap<u64, EventSink>,
    lp_sinks: &mut HashMap<u64, LogprobSink>,
    cmd: Command,
) {
    match cmd {
        Command::Submit(req, sink, lp_sink, reply) => match s.submit(&req) {
            // Nobody waits for the id (the caller went away): the request is not wanted.
            Ok(id) if reply.is_closed() => {
                let _ = s.cancel(id);
            }
            Ok(id) => {
                sinks.insert(id, sink);
                if let Some(l) = lp_sink {
                    lp_sinks.insert(id, l);
                }
                let _ = reply.send(Ok(id));
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        },
        Command::Embed(prompt, sink, reply) => {
            let r = s.embed(&prompt);
            if let Ok(id) = r {
                sinks.insert(id, sink);
            }
            let _ = reply.send(r);
        }
        Command::Cancel(id) => {
            lp_sinks.remove(&id);
            if sinks.remove(&id).is_some() {
                let _ = s.cancel(id);
            }
        }
        Command::Tokenize(text, add, parse, reply) => {
            let _ = reply.send(s.tokenize(&text, add, parse));
        }
        Command::RenderPrompt(msgs, options, reply) => {
            let _ = reply.send(s.render_prompt(&msgs, &options));
        }
        Command::Features(template, reply) => {
            let _ = reply.send(s.template_features(template.as_deref()));
        }
    }
}

//! The one streaming framer: a generation's pieces, shaped by the route, written as NDJSON
//! (the native API: one JSON object a line; a failure after the start becomes a final
//! `{"error"}` line) or as server-sent events (`/v1`: one `data: {chunk}` event per object, the
//! usage chunk when `stream_options.include_usage` asks, then `data: [DONE]`; a failure ends the
//! stream with an error event in OpenAI's shape and no `[DONE]`). A client that goes away
//! drops the generation, which cancels it.

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::pipeline::generation::{Done, Generation, Piece};
use crate::pipeline::thinking::Split;

/// How a route turns pieces into objects.
pub(crate) trait Shape: Send + 'static {
    /// The route's typed chunk.
    type Object: Serialize + Send;
    /// The objects for one piece of text (none while nothing can be shown). `logprobs` are
    /// the tokens' log-probabilities not shown yet: the shape puts them on an object it makes,
    /// or leaves them for the next.
    fn text(&mut self, split: Split, logprobs: &mut Vec<Value>) -> Vec<Self::Object>;
    /// The objects that close the answer.
    fn done(&mut self, done: &Done) -> Vec<Self::Object>;
    /// SSE's `choices: []` object carrying `usage`, for a request that asked for it.
    fn usage(&mut self, _done: &Done) -> Option<Self::Object> {
        None
    }
}

/// How the objects go on the wire.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Framing {
    Ndjson,
    Sse { include_usage: bool },
}

/// What goes on the wire: an object (written as compact JSON), or SSE's closing sentinel
/// (not JSON).
enum Frame {
    Object(String),
    End,
}

impl Frame {
    fn object(v: &impl Serialize) -> Frame {
        Frame::Object(serde_json::to_string(v).expect("JSON"))
    }
}

impl Framing {
    fn failure(self, message: String) -> Value {
        match self {
            Framing::Ndjson => json!({ "error": message }),
            Framing::Sse { .. } => crate::openai::error::body(&ApiError::internal(message)),
        }
    }

    fn bytes(self, frame: Frame) -> Vec<u8> {
        match (self, frame) {
            (Framing::Ndjson, Frame::Object(v)) => {
                let mut line = v.into_bytes();
                line.push(b'\n');
                line
            }
            (Framing::Sse { .. }, Frame::Object(v)) => format!("data: {v}\n\n").into_bytes(),
            // Only SSE ends with a sentinel.
            (_, Frame::End) => b"data: [DONE]\n\n".to_vec(),
        }
    }
}

/// Streams a generation's pieces as `framing` writes them.
pub(crate) fn stream(mut generation: Generation, mut shape: impl Shape, framing: Framing) -> Response {
    let (tx, mut rx) = mpsc::channel::<Frame>(16);
    // The producer runs on its own task, a chunk of backpressure ahead of the body.
    tokio::spawn(async move {
        let mut logprobs = Vec::new();
        while let Some(piece) = generation.next().await {
            let (frames, last): (Vec<Frame>, bool) = match piece {
                Piece::Text { split, logprobs: l } => {
                    logprobs.extend(l);
                    (shape.text(split, &mut logprobs).iter().map(Frame::object).collect(), false)
                }
                Piece::Done(done) => {
                    let mut objects = shape.done(&done);
                    if let Framing::Sse { include_usage: true } = framing {
                        objects.extend(shape.usage(&done));
                    }
                    let mut frames: Vec<Frame> = objects.iter().map(Frame::object).collect();
                    if let Framing::Sse { .. } = framing {
                        frames.push(Frame::End);
                    }
                    (frames, true)
                }
                Piece::Failed(m) => (vec![Frame::object(&framing.failure(m))], true),
            };
            for f in frames {
                if tx.send(f).await.is_err() {
                    return; // client gone: dropping `generation` cancels it
                }
            }
            if last {
                return;
            }
        }
    });
    let body = Body::from_stream(
        futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
            .map(move |frame| Ok::<_, std::convert::Infallible>(framing.bytes(frame))),
    );
    match framing {
        Framing::Ndjson => (StatusCode::OK, [(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response(),
        Framing::Sse { .. } => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], body)
                .into_response()
        }
    }
}

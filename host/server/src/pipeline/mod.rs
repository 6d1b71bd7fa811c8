//! The one inference path every generating and embedding route takes (Ollama's
//! `server/routes.go` + `server/prompt.go`): the handlers decode a request, call these steps
//! and shape what comes back; they never call each other.
//!
//! | step | module |
//! |---|---|
//! | the model and its Modelfile parts, options merged, load spec | [`resolve`] |
//! | schedule the engine (a `sched` lease), ask the template about thinking and tools, render and fit the prompt to `num_ctx`, submit | [`prompt`] |
//! | the engine's events as typed pieces (text split into thinking and content, tool calls, logprobs, done with metrics) | [`generation`], [`output`] |
//! | embeddings: tokenize, fit and embed every input in one engine run | [`embed`] |

pub(crate) mod embed;
pub(crate) mod generation;
pub(crate) mod logprobs;
pub(crate) mod output;
pub(crate) mod prompt;
pub(crate) mod resolve;
pub(crate) mod thinking;
pub(crate) mod tools;

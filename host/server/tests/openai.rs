//! The OpenAI-compatible routes over real HTTP against a server with the real SmolLM2: one
//! table of cases per endpoint (status, error type and text), the SSE framing, and the
//! structured-output requests' errors. The official SDK's view is in host/cli/tests.

mod common;

use common::{http, start};
use serde_json::{json, Value};

fn error_of(body: &str) -> (String, String) {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let e = &v["error"];
    assert!(e["param"].is_null() && e["code"].is_null(), "{body}");
    (e["type"].as_str().unwrap().to_string(), e["message"].as_str().unwrap().to_string())
}

const ASK: &str = r#"[{"role":"user","content":"What is the capital of France?"}]"#;

#[test]
fn chat_completions_cases() {
    let (addr, _dir) = start();
    // (body, status, error type, error text)
    let cases: &[(String, u16, &str, &str)] = &[
        ("".into(), 400, "invalid_request_error", "missing request body"),
        ("[1]".into(), 400, "invalid_request_error", "the request body must be a JSON object"),
        (format!(r#"{{"messages":{ASK}}}"#), 400, "invalid_request_error", "model is required"),
        (format!(r#"{{"model":"nope","messages":{ASK}}}"#), 404, "not_found_error", "model 'nope' not found"),
        (r#"{"model":"smollm2:135m","messages":[]}"#.into(), 400, "invalid_request_error", "[] is too short - 'messages'"),
        (format!(r#"{{"model":"smollm2:135m","messages":{ASK},"temperature":"hot"}}"#), 400, "invalid_request_error",
            "invalid type for 'temperature': expected a number"),
        (format!(r#"{{"model":"smollm2:135m","messages":{ASK},"stop":[1]}}"#), 400, "invalid_request_error",
            "invalid type for 'stop': expected a string or a list of strings"),
        (format!(r#"{{"model":"smollm2:135m","messages":{ASK},"options":{{"num_ctx":"big"}}}}"#), 400,
            "invalid_request_error", "option \"num_ctx\" must be of type integer"),
        (format!(r#"{{"model":"smollm2:135m","messages":{ASK},"response_format":{{"type":"xml"}}}}"#), 400,
            "invalid_request_error", "invalid response_format type: \"xml\"; expected \"text\", \"json_object\" or \"json_schema\""),
        (format!(r#"{{"model":"smollm2:135m","messages":{ASK},"response_format":{{"type":"json_schema","json_schema":{{"name":"x"}}}}}}"#),
            400, "invalid_request_error", "response_format.json_schema.schema is required"),
        (r#"{"model":"smollm2:135m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:,"}}]}]}"#.into(),
            400, "invalid_request_error", "image and audio input are not supported by this model"),
    ];
    for (body, status, kind, text) in cases {
        let (st, resp) = http(addr, "POST", "/v1/chat/completions", Some(body));
        assert_eq!(st, *status, "{body}: {resp}");
        assert_eq!(error_of(&resp), (kind.to_string(), text.to_string()), "{body}");
    }

    // A schema the grammar compiler refuses is the client's error.
    let body = json!({"model": "smollm2:135m", "messages": serde_json::from_str::<Value>(ASK).unwrap(),
        "response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}, "required": ["a"]}}}});
    let (st, resp) = http(addr, "POST", "/v1/chat/completions", Some(&body.to_string()));
    assert_eq!(st, 400, "{resp}");
    assert_eq!(error_of(&resp).0, "invalid_request_error");

    // A good request: one chat.completion with usage; the same text as /api/chat greedy.
    let body = format!(r#"{{"model":"smollm2:135m","messages":{ASK},"temperature":0,"max_tokens":8}}"#);
    let (st, resp) = http(addr, "POST", "/v1/chat/completions", Some(&body));
    assert_eq!(st, 200, "{resp}");
    let v: Value = serde_json::from_str(&resp).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["usage"]["completion_tokens"], 8);
    let native = format!(r#"{{"model":"smollm2:135m","messages":{ASK},"stream":false,"options":{{"temperature":0,"num_predict":8}}}}"#);
    let (_, n) = http(addr, "POST", "/api/chat", Some(&native));
    let n: Value = serde_json::from_str(&n).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], n["message"]["content"]);
    assert_eq!(v["usage"]["prompt_tokens"], n["prompt_eval_count"]);
}

#[test]
fn streams_are_server_sent_events_ending_in_done() {
    let (addr, _dir) = start();
    let body = format!(
        r#"{{"model":"smollm2:135m","messages":{ASK},"temperature":0,"max_tokens":6,"stream":true,"stream_options":{{"include_usage":true}}}}"#
    );
    let (st, resp) = http(addr, "POST", "/v1/chat/completions", Some(&body));
    assert_eq!(st, 200, "{resp}");
    let events: Vec<&str> = resp.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert!(events.iter().all(|e| e.starts_with("data: ")), "{resp}");
    assert_eq!(*events.last().unwrap(), "data: [DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|e| serde_json::from_str(&e[6..]).unwrap()).collect();
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk" && c["id"] == chunks[0]["id"]));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let finish = &chunks[chunks.len() - 2]["choices"][0];
    assert_eq!(finish["finish_reason"], "length");
    assert_eq!(finish["delta"], json!({}));
    let usage = &chunks[chunks.len() - 1];
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 6);

    // /v1/completions streams the same way, one text piece per chunk.
    let body = r#"{"model":"smollm2:135m","prompt":"Hello","temperature":0,"max_tokens":4,"stream":true}"#;
    let (st, resp) = http(addr, "POST", "/v1/completions", Some(body));
    assert_eq!(st, 200, "{resp}");
    assert!(resp.ends_with("data: [DONE]\n\n"), "{resp}");
    assert!(resp.contains(r#""object":"text_completion""#));
}

#[test]
fn completions_and_models_cases() {
    let (addr, _dir) = start();
    let cases: &[(&str, u16, &str, &str)] = &[
        (r#"{"model":"smollm2:135m"}"#, 400, "invalid_request_error", "prompt is required"),
        (r#"{"model":"smollm2:135m","prompt":["a","b"]}"#, 400, "invalid_request_error", "only a single prompt string is supported"),
        (r#"{"model":"nope","prompt":"a"}"#, 404, "not_found_error", "model 'nope' not found"),
        (r#"{"model":"smollm2:135m","prompt":"a","max_tokens":-1}"#, 400, "invalid_request_error", "max_tokens must be at least 0"),
    ];
    for (body, status, kind, text) in cases {
        let (st, resp) = http(addr, "POST", "/v1/completions", Some(body));
        assert_eq!(st, *status, "{body}: {resp}");
        assert_eq!(error_of(&resp), (kind.to_string(), text.to_string()), "{body}");
    }
    let (st, resp) = http(addr, "POST", "/v1/completions", Some(r#"{"model":"smollm2:135m","prompt":"Hi","max_tokens":3,"temperature":0}"#));
    assert_eq!(st, 200, "{resp}");
    let v: Value = serde_json::from_str(&resp).unwrap();
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["usage"]["completion_tokens"], 3);

    let (st, resp) = http(addr, "GET", "/v1/models", None);
    assert_eq!(st, 200);
    let v: Value = serde_json::from_str(&resp).unwrap();
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["id"], "smollm2:135m");
    assert_eq!(v["data"][0]["owned_by"], "library");
    assert_eq!(v["data"][0]["context_length"], 8192);
    let (st, resp) = http(addr, "GET", "/v1/models/smollm2:135m", None);
    assert_eq!(st, 200, "{resp}");
    assert_eq!(serde_json::from_str::<Value>(&resp).unwrap()["id"], "smollm2:135m");
    let (st, resp) = http(addr, "GET", "/v1/models/library/nope", None);
    assert_eq!(st, 404);
    assert_eq!(error_of(&resp), ("not_found_error".into(), "model 'library/nope' not found".into()));
}

#[test]
fn native_format_cases() {
    let (addr, _dir) = start();
    let cases: &[(&str, u16, &str)] = &[
        (r#"{"model":"smollm2:135m","prompt":"hi","format":5}"#, 500,
            "invalid format: 5; expected \"json\" or a valid JSON Schema object"),
        (r#"{"model":"smollm2:135m","prompt":"hi","format":"yaml"}"#, 500,
            "invalid format: \"yaml\"; expected \"json\" or a valid JSON Schema object"),
    ];
    for (body, status, text) in cases {
        let (st, resp) = http(addr, "POST", "/api/generate", Some(body));
        assert_eq!(st, *status, "{body}: {resp}");
        assert_eq!(serde_json::from_str::<Value>(&resp).unwrap()["error"], *text, "{body}");
    }
    // `format: "json"` with a greedy decode that would otherwise talk: an object comes out.
    let body = r#"{"model":"smollm2:135m","prompt":"Tell me about cats.","format":"json","stream":false,"options":{"temperature":0,"num_predict":300}}"#;
    let (st, resp) = http(addr, "POST", "/api/generate", Some(body));
    assert_eq!(st, 200, "{resp}");
    let v: Value = serde_json::from_str(&resp).unwrap();
    assert_eq!(v["done_reason"], "stop", "{resp}");
    let out: Value = serde_json::from_str(v["response"].as_str().unwrap()).unwrap();
    assert!(out.is_object(), "{out}");

    // A budget far too small for the story the model starts still ends in JSON that parses:
    // the last tokens close the string and the object.
    for n in [12, 20, 40] {
        let body = json!({"model": "smollm2:135m", "prompt": "Tell me a long story about a dragon.", "stream": false,
            "format": {"type": "object", "properties": {"story": {"type": "string"}}, "required": ["story"]},
            "options": {"temperature": 0, "num_predict": n}});
        let (st, resp) = http(addr, "POST", "/api/generate", Some(&body.to_string()));
        assert_eq!(st, 200, "{resp}");
        let v: Value = serde_json::from_str(&resp).unwrap();
        assert!(v["eval_count"].as_u64().unwrap() <= n, "{resp}");
        let out: Value = serde_json::from_str(v["response"].as_str().unwrap()).unwrap_or_else(|e| panic!("{e}: {resp}"));
        assert!(out["story"].is_string(), "{out}");
    }
}

#[test]
fn logprobs_cases() {
    let (addr, _dir) = start();
    let (st, resp) = http(addr, "POST", "/api/generate", Some(r#"{"model":"smollm2:135m","prompt":"hi","logprobs":true,"top_logprobs":21}"#));
    assert_eq!(st, 400);
    assert_eq!(serde_json::from_str::<Value>(&resp).unwrap()["error"], "top_logprobs must be between 0 and 20");

    let body = r#"{"model":"smollm2:135m","prompt":"Why is the sky blue?","stream":false,"logprobs":true,"top_logprobs":3,"options":{"temperature":0,"num_predict":8}}"#;
    // Asked once first, so that both answers compared below come from the cached prompt
    // (a fresh prefill can differ from it in the last bits of a logit).
    http(addr, "POST", "/api/generate", Some(body));
    let (st, resp) = http(addr, "POST", "/api/generate", Some(body));
    assert_eq!(st, 200, "{resp}");
    let v: Value = serde_json::from_str(&resp).unwrap();
    let lps = v["logprobs"].as_array().unwrap();
    assert_eq!(lps.len(), 8);
    let text: String = lps.iter().map(|l| l["token"].as_str().unwrap()).collect();
    assert_eq!(text, v["response"].as_str().unwrap());
    for l in lps {
        let top = l["top_logprobs"].as_array().unwrap();
        assert_eq!(top.len(), 3);
        let p: Vec<f64> = top.iter().map(|t| t["logprob"].as_f64().unwrap()).collect();
        assert!(p[0] >= p[1] && p[1] >= p[2] && p[0] <= 0.0, "{l}");
        // Greedy takes the most likely token.
        assert_eq!(l["logprob"], top[0]["logprob"], "{l}");
        assert_eq!(l["token"], top[0]["token"]);
    }
    // Streamed, the same entries arrive spread over the chunks.
    let (_, streamed) = http(addr, "POST", "/api/generate", Some(&body.replace(r#""stream":false,"#, "")));
    let all: Vec<Value> = streamed
        .lines()
        .flat_map(|l| serde_json::from_str::<Value>(l).unwrap()["logprobs"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(&all, lps);

    // /v1 reports them under choices[].logprobs.content, one per completion token.
    let body = format!(r#"{{"model":"smollm2:135m","messages":{ASK},"temperature":0,"max_tokens":5,"logprobs":true,"top_logprobs":2}}"#);
    let (st, resp) = http(addr, "POST", "/v1/chat/completions", Some(&body));
    assert_eq!(st, 200, "{resp}");
    let v: Value = serde_json::from_str(&resp).unwrap();
    let content = v["choices"][0]["logprobs"]["content"].as_array().unwrap();
    assert_eq!(content.len(), 5);
    assert_eq!(content[0]["top_logprobs"].as_array().unwrap().len(), 2);
}

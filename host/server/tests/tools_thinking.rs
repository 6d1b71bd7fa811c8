//! Thinking and tools over real HTTP with the real SmolLM2: models made from it with Go
//! TEMPLATEs (tests/templates) that have thinking tags and tool calls, the output split into
//! `thinking`/`content`/`tool_calls` checked against the raw text the same model generates
//! for the same prompt, and the capability and validation errors.

mod common;

use common::{http, start};
use serde_json::{json, Value};

fn template(name: &str) -> String {
    let p = wollama_tests::repo_root().join("tests/templates").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).trim_end().to_string()
}

fn create(addr: std::net::SocketAddr, model: &str, tmpl: &str) {
    let body = json!({ "model": model, "from": "smollm2:135m", "template": template(tmpl), "stream": false });
    let (st, resp) = http(addr, "POST", "/api/create", Some(&body.to_string()));
    assert_eq!(st, 200, "{resp}");
}

fn post(addr: std::net::SocketAddr, path: &str, body: &Value) -> (u16, Value) {
    let (st, resp) = http(addr, "POST", path, Some(&body.to_string()));
    (st, serde_json::from_str(&resp).unwrap_or_else(|e| panic!("{e}: {resp}")))
}

/// The capabilities `/api/tags` lists for `model`.
fn tags_capabilities(addr: std::net::SocketAddr, model: &str) -> Value {
    let (st, tags) = http(addr, "GET", "/api/tags", None);
    assert_eq!(st, 200);
    let tags: Value = serde_json::from_str(&tags).unwrap();
    let m = tags["models"].as_array().unwrap().iter().find(|m| m["model"] == model).cloned();
    m.unwrap_or_else(|| panic!("{model} in {tags}"))["capabilities"].clone()
}

const QUESTION: &str = "Why is the sky blue?";

#[test]
fn thinking_is_split_from_the_answer() {
    let (addr, _dir) = start();
    create(addr, "smol-think", "think.gotmpl");
    let greedy = json!({ "temperature": 0, "num_predict": 40 });

    // The model's raw continuation of the prompt the template renders with thinking on. Asked
    // twice: the second answer comes, like the chats' below, from the cached prompt prefix
    // (a fresh prefill can differ from it in the last bits of a logit).
    let prompt = format!("<|im_start|>user\n{QUESTION}<|im_end|>\n<|im_start|>assistant\n<think>\n");
    let raw_req = json!({ "model": "smol-think", "prompt": prompt, "raw": true, "stream": false, "options": greedy });
    post(addr, "/api/generate", &raw_req);
    let (st, raw) = post(addr, "/api/generate", &raw_req);
    assert_eq!(st, 200, "{raw}");
    let raw = raw["response"].as_str().unwrap().to_string();
    let (want_thinking, want_content) = match raw.split_once("</think>") {
        Some((t, c)) => (t.to_string(), c.trim_start().to_string()),
        None => (raw.clone(), String::new()),
    };
    assert!(!want_thinking.is_empty());

    let (st, show) = post(addr, "/api/show", &json!({ "model": "smol-think" }));
    assert_eq!(st, 200, "{show}");
    assert_eq!(show["capabilities"], json!(["completion", "thinking"]));
    assert_eq!(tags_capabilities(addr, "smol-think:latest"), show["capabilities"], "/api/tags lists what /api/show says");

    let ask = json!([{ "role": "user", "content": QUESTION }]);
    // Unset `think` on a thinking model means thinking, as with true.
    for think in [json!(true), Value::Null, json!("high")] {
        let (st, v) = post(addr, "/api/chat", &json!({ "model": "smol-think", "messages": ask, "think": think,
            "stream": false, "options": greedy }));
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["message"]["thinking"].as_str().unwrap_or(""), want_thinking, "think {think}");
        assert_eq!(v["message"]["content"], want_content, "think {think}");
    }
    // Streamed, the same split arrives in pieces.
    let body = json!({ "model": "smol-think", "messages": ask, "think": true, "options": greedy });
    let (st, text) = http(addr, "POST", "/api/chat", Some(&body.to_string()));
    assert_eq!(st, 200);
    let chunks: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let joined = |k: &str| chunks.iter().map(|c| c["message"][k].as_str().unwrap_or("")).collect::<String>();
    assert_eq!((joined("thinking"), joined("content")), (want_thinking.clone(), want_content.clone()));

    // /v1 calls it `reasoning`.
    let (st, v) = post(addr, "/v1/chat/completions", &json!({ "model": "smol-think", "messages": ask,
        "reasoning_effort": "high", "temperature": 0, "max_tokens": 40 }));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["choices"][0]["message"]["reasoning"].as_str().unwrap_or(""), want_thinking);

    // /api/generate splits its response the same way.
    let (st, v) = post(addr, "/api/generate", &json!({ "model": "smol-think", "prompt": QUESTION, "think": true,
        "stream": false, "options": greedy }));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["thinking"].as_str().unwrap_or(""), want_thinking);
    assert_eq!(v["response"], want_content);
    let (st, v) = post(addr, "/api/generate", &json!({ "model": "smollm2:135m", "prompt": QUESTION, "think": true }));
    assert_eq!((st, v["error"].clone()), (400, json!("\"smollm2:135m\" does not support thinking")));

    // think false: the template leaves the tag out and everything is content.
    let (st, v) = post(addr, "/api/chat", &json!({ "model": "smol-think", "messages": ask, "think": false,
        "stream": false, "options": greedy }));
    assert_eq!(st, 200, "{v}");
    assert!(v["message"].get("thinking").is_none(), "{v}");
    assert!(!v["message"]["content"].as_str().unwrap().is_empty());

    // (model, think, status, error)
    let cases: &[(&str, Value, u16, &str)] = &[
        ("smollm2:135m", json!(true), 400, "\"smollm2:135m\" does not support thinking"),
        ("smollm2:135m", json!(false), 200, ""),
        ("smol-think", json!("extreme"), 400,
            "invalid think value: \"extreme\" (must be \"high\", \"medium\", \"low\", \"max\", true, or false)"),
        ("smol-think", json!(3), 400,
            "think must be a boolean or string (\"high\", \"medium\", \"low\", \"max\", true, or false), got number"),
    ];
    for (model, think, status, err) in cases {
        let (st, v) = post(addr, "/api/chat", &json!({ "model": model, "messages": ask, "think": think,
            "stream": false, "options": { "num_predict": 2 } }));
        assert_eq!(st, *status, "{model} {think}: {v}");
        if !err.is_empty() {
            assert_eq!(v["error"], *err);
        }
    }
}

fn weather_tool() -> Value {
    json!([{ "type": "function", "function": { "name": "get_weather", "description": "The weather in a city",
        "parameters": { "type": "object", "properties": { "city": { "type": "string", "maxLength": 30 } }, "required": ["city"] } } }])
}

#[test]
fn forced_tool_calls_are_parsed_and_results_fed_back() {
    let (addr, _dir) = start();
    create(addr, "smol-tools", "tools-tagged.gotmpl");
    let ask = json!([{ "role": "user", "content": "What is the weather in Paris?" }]);

    let (_, show) = post(addr, "/api/show", &json!({ "model": "smol-tools" }));
    assert_eq!(show["capabilities"], json!(["completion", "tools"]));
    assert_eq!(tags_capabilities(addr, "smol-tools:latest"), show["capabilities"], "/api/tags lists what /api/show says");
    let (_, show) = post(addr, "/api/show", &json!({ "model": "smollm2:135m" }));
    assert_eq!(show["capabilities"], json!(["completion"]));
    assert_eq!(tags_capabilities(addr, "smollm2:135m"), show["capabilities"]);

    // A model whose template has no tools refuses them.
    let (st, v) = post(addr, "/api/chat", &json!({ "model": "smollm2:135m", "messages": ask, "tools": weather_tool() }));
    assert_eq!(st, 400);
    assert_eq!(v["error"], "registry.ollama.ai/library/smollm2:135m does not support tools");

    for choice in [json!("required"), json!({ "type": "function", "function": { "name": "get_weather" } })] {
        let (st, v) = post(addr, "/v1/chat/completions", &json!({ "model": "smol-tools", "messages": ask,
            "tools": weather_tool(), "tool_choice": choice, "temperature": 0, "max_tokens": 60 }));
        assert_eq!(st, 200, "{v}");
        let c = &v["choices"][0];
        assert_eq!(c["finish_reason"], "tool_calls", "{v}");
        let call = &c["message"]["tool_calls"][0];
        assert_eq!(call["type"], "function");
        assert_eq!(call["function"]["name"], "get_weather");
        assert!(call["id"].as_str().unwrap().starts_with("call_"));
        let args: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert!(args["city"].is_string(), "{args}");
        assert_eq!(c["message"]["content"], "");
    }

    // The call and its result go back; with tool_choice none the model answers in words.
    let (_, v) = post(addr, "/v1/chat/completions", &json!({ "model": "smol-tools", "messages": ask,
        "tools": weather_tool(), "tool_choice": "required", "temperature": 0, "max_tokens": 60 }));
    let call = v["choices"][0]["message"]["tool_calls"][0].clone();
    let history = json!([
        ask[0],
        { "role": "assistant", "content": null, "tool_calls": [call] },
        { "role": "tool", "tool_call_id": call["id"], "content": "18 degrees and sunny" },
    ]);
    let (st, v) = post(addr, "/v1/chat/completions", &json!({ "model": "smol-tools", "messages": history,
        "tools": weather_tool(), "tool_choice": "none", "temperature": 0, "max_tokens": 20 }));
    assert_eq!(st, 200, "{v}");
    assert!(v["choices"][0]["message"].get("tool_calls").is_none(), "{v}");
    assert!(!v["choices"][0]["message"]["content"].as_str().unwrap().is_empty(), "{v}");
    // The fed-back call and result are in the prompt: it is longer than the question alone.
    let (_, alone) = post(addr, "/v1/chat/completions", &json!({ "model": "smol-tools", "messages": ask,
        "temperature": 0, "max_tokens": 1 }));
    assert!(v["usage"]["prompt_tokens"].as_u64() > alone["usage"]["prompt_tokens"].as_u64().map(|n| n + 20), "{v} {alone}");

    // (body change, status, error)
    let cases: &[(Value, u16, &str)] = &[
        (json!({ "tool_choice": "always" }), 400, "invalid tool_choice: \"always\""),
        (json!({ "tool_choice": { "type": "function", "function": { "name": "nope" } } }), 400,
            "tool_choice names \"nope\", which is not among the tools"),
        (json!({ "tools": null, "tool_choice": "required" }), 400, "tool_choice requires tools"),
        (json!({ "messages": [{ "role": "assistant", "content": null, "tool_calls": [{ "function": { "name": "f", "arguments": "{oops" } }] }] }),
            400, "invalid tool call arguments"),
    ];
    for (change, status, err) in cases {
        let mut body = json!({ "model": "smol-tools", "messages": ask, "tools": weather_tool(), "max_tokens": 2 });
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (st, v) = post(addr, "/v1/chat/completions", &body);
        assert_eq!(st, *status, "{change}: {v}");
        assert_eq!(v["error"]["message"], *err, "{change}");
    }
}

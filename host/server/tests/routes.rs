//! The store routes over real HTTP against a server on a free loopback port with a
//! temporary store holding the real SmolLM2: one table of cases per endpoint.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::{http, http_full, start};
use serde_json::{json, Value};

#[test]
fn root_version_tags_copy_delete() {
    let (addr, _dir) = start();

    assert_eq!(http(addr, "GET", "/", None), (200, "Ollama is running".into()));
    let (st, body) = http(addr, "GET", "/api/version", None);
    assert_eq!(st, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), json!({"version": "0.33.0"}));

    let tags = |addr| -> Vec<Value> {
        let (st, body) = http(addr, "GET", "/api/tags", None);
        assert_eq!(st, 200);
        serde_json::from_str::<Value>(&body).unwrap()["models"].as_array().unwrap().clone()
    };
    let models = tags(addr);
    assert_eq!(models.len(), 1);
    assert_eq!(models[0]["name"], "smollm2:135m");
    assert_eq!(models[0]["details"]["family"], "llama");
    assert_eq!(models[0]["details"]["quantization_level"], "Q4_1");
    assert_eq!(models[0]["digest"].as_str().unwrap().len(), 64);
    assert!(models[0]["size"].as_u64().unwrap() > 90_000_000);
    // What /api/show says the model can do, read from its GGUF and template without loading it.
    assert_eq!(models[0]["capabilities"], json!(["completion"]));
    assert_eq!(http(addr, "GET", "/api/ps", None).1, r#"{"models":[]}"#, "nothing was loaded for it");

    // /api/copy: (body, status, error text)
    let copy_cases: &[(&str, u16, &str)] = &[
        (r#"{"source":"smollm2:135m","destination":"mine:latest"}"#, 200, ""),
        (r#"{"source":"nope","destination":"x"}"#, 404, "model \"nope\" not found"),
        (r#"{"source":"smollm2:135m","destination":"bad/name/a/b/c"}"#, 400, "destination \"bad/name/a/b/c\" is invalid"),
        (r#"{"source":5}"#, 400, "json: cannot unmarshal number into Go struct field CopyRequest.source of type string"),
        ("", 400, "missing request body"),
    ];
    for (body, status, err) in copy_cases {
        let (st, resp) = http(addr, "POST", "/api/copy", Some(body));
        assert_eq!(st, *status, "copy {body}: {resp}");
        if !err.is_empty() {
            assert_eq!(serde_json::from_str::<Value>(&resp).unwrap()["error"], *err, "copy {body}");
        }
    }
    let models = tags(addr);
    assert_eq!(models.len(), 2);
    assert!(models.iter().all(|m| m["capabilities"] == json!(["completion"])), "the copy too: {models:?}");

    // /api/delete
    let delete_cases: &[(&str, u16, &str)] = &[
        (r#"{"model":"mine"}"#, 200, ""),
        (r#"{"model":"mine"}"#, 404, "model 'mine' not found"),
        (r#"{"name":"a/"}"#, 400, "name \"a/\" is invalid"),
    ];
    for (body, status, err) in delete_cases {
        let (st, resp) = http(addr, "DELETE", "/api/delete", Some(body));
        assert_eq!(st, *status, "delete {body}: {resp}");
        if !err.is_empty() {
            assert_eq!(serde_json::from_str::<Value>(&resp).unwrap()["error"], *err, "delete {body}");
        }
    }
    let models = tags(addr);
    assert_eq!(models.len(), 1, "the copy is gone, the original stays");
    assert_eq!(models[0]["name"], "smollm2:135m");

    let (st, body) = http(addr, "GET", "/api/ps", None);
    assert_eq!((st, serde_json::from_str::<Value>(&body).unwrap()), (200, json!({"models": []})));
    assert_eq!(http(addr, "GET", "/api/nothing", None).0, 404);
}

fn err_of(body: &str) -> String {
    serde_json::from_str::<Value>(body).map(|v| v["error"].as_str().unwrap_or("").to_string()).unwrap_or_default()
}

#[test]
fn generate_errors_load_stream_and_unload() {
    let (addr, _dir) = start();
    let cases: &[(&str, u16, &str)] = &[
        (r#"{"model":""}"#, 404, "model '' not found"),
        (r#"{"model":"nope","prompt":"hi"}"#, 404, "model 'nope' not found"),
        (r#"{"model":"smollm2:135m","prompt":"x","raw":true,"system":"s"}"#, 400, "raw mode does not support template, system, or context"),
        (r#"{"model":"smollm2:135m","keep_alive":"abc"}"#, 400, "time: invalid duration \"abc\""),
        (r#"{"model":"smollm2:135m","prompt":"x","options":{"temperature":"hot"}}"#, 500, "option \"temperature\" must be of type float32"),
        (r#"{"model":"smollm2:135m","prompt":5}"#, 400, "json: cannot unmarshal number into Go struct field GenerateRequest.prompt of type string"),
    ];
    for (body, status, err) in cases {
        let (st, resp) = http(addr, "POST", "/api/generate", Some(body));
        assert_eq!((st, err_of(&resp).as_str()), (*status, *err), "{body}: {resp}");
    }

    // Load on an empty prompt; /api/ps then lists the model.
    let (st, resp) = http(addr, "POST", "/api/generate", Some(r#"{"model":"smollm2:135m"}"#));
    let v: Value = serde_json::from_str(&resp).unwrap();
    assert_eq!((st, &v["done_reason"], &v["done"]), (200, &json!("load"), &json!(true)));
    let ps: Value = serde_json::from_str(&http(addr, "GET", "/api/ps", None).1).unwrap();
    assert_eq!(ps["models"][0]["name"], "smollm2:135m");
    assert_eq!(ps["models"][0]["context_length"], 4096);

    // Greedy, not streamed: the context is the golden prompt followed by llama.cpp's tokens.
    let g = wollama_tests::golden("smollm2");
    let case = g["greedy"].as_array().unwrap().iter().find(|c| c["name"] == "chat_capital_of_france").unwrap();
    let body = json!({"model": "smollm2:135m", "prompt": "What is the capital of France?", "stream": false,
                      "options": {"temperature": 0, "num_predict": 8}});
    let (st, resp) = http(addr, "POST", "/api/generate", Some(&body.to_string()));
    assert_eq!(st, 200, "{resp}");
    let v: Value = serde_json::from_str(&resp).unwrap();
    let mut want = wollama_tests::ids(&case["prompt_ids"]);
    want.extend(&wollama_tests::ids(&case["generated_ids"])[..8]);
    assert_eq!(wollama_tests::ids(&v["context"]), want);
    assert_eq!((&v["done"], &v["done_reason"], &v["eval_count"]), (&json!(true), &json!("length"), &json!(8)));
    assert_eq!(v["prompt_eval_count"], json!(case["prompt_ids"].as_array().unwrap().len()));
    assert!(v["total_duration"].as_u64().unwrap() > 0 && v["eval_duration"].as_u64().unwrap() > 0);
    let whole = v["response"].as_str().unwrap().to_string();
    assert!(!whole.is_empty());

    // Streamed: NDJSON chunks whose text adds up to the same response; metrics on the last.
    let body = json!({"model": "smollm2:135m", "prompt": "What is the capital of France?",
                      "options": {"temperature": 0, "num_predict": 8}});
    let (st, resp) = http(addr, "POST", "/api/generate", Some(&body.to_string()));
    assert_eq!(st, 200);
    let chunks: Vec<Value> = resp.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(chunks.len() >= 2);
    let text: String = chunks.iter().map(|c| c["response"].as_str().unwrap()).collect();
    assert_eq!(text, whole);
    let last = chunks.last().unwrap();
    assert_eq!((&last["done"], &last["eval_count"]), (&json!(true), &json!(8)));
    assert!(chunks[..chunks.len() - 1].iter().all(|c| c["done"] == json!(false) && c.get("eval_count").is_none()));

    // keep_alive 0 with an empty prompt unloads.
    let (st, resp) = http(addr, "POST", "/api/generate", Some(r#"{"model":"smollm2:135m","keep_alive":0}"#));
    assert_eq!((st, serde_json::from_str::<Value>(&resp).unwrap()["done_reason"].clone()), (200, json!("unload")));
    std::thread::sleep(std::time::Duration::from_millis(200));
    let ps: Value = serde_json::from_str(&http(addr, "GET", "/api/ps", None).1).unwrap();
    assert_eq!(ps["models"], json!([]));
}

#[test]
fn chat_errors_and_a_greedy_answer_equal_to_llama_cpp() {
    let (addr, _dir) = start();
    let cases: &[(&str, u16, &str)] = &[
        (r#"{"model":""}"#, 400, "model is required"),
        (r#"{"model":"a/"}"#, 400, "invalid model name"),
        (r#"{"model":"nope","messages":[]}"#, 404, "model 'nope' not found"),
        (r#"{"model":"smollm2:135m","messages":"hi"}"#, 400, "json: cannot unmarshal string into Go struct field ChatRequest.messages of type []api.Message"),
    ];
    for (body, status, err) in cases {
        let (st, resp) = http(addr, "POST", "/api/chat", Some(body));
        assert_eq!((st, err_of(&resp).as_str()), (*status, *err), "{body}: {resp}");
    }
    let g = wollama_tests::golden("smollm2");
    let case = g["greedy"].as_array().unwrap().iter().find(|c| c["name"] == "chat_python_sum").unwrap();
    let body = json!({"model": "smollm2:135m", "messages": case["messages"], "stream": false,
                      "options": {"temperature": 0, "num_predict": 10}});
    let (st, resp) = http(addr, "POST", "/api/chat", Some(&body.to_string()));
    assert_eq!(st, 200, "{resp}");
    let v: Value = serde_json::from_str(&resp).unwrap();
    // The first 10 of llama.cpp's greedy tokens, as text (no near-tie before step 10).
    let want_text: String = case["generated_text"].as_str().unwrap().to_string();
    let got = v["message"]["content"].as_str().unwrap();
    assert!(want_text.starts_with(got) && got.len() >= 10, "{got:?} is not a prefix of {want_text:?}");
    assert_eq!((&v["message"]["role"], &v["done_reason"], &v["eval_count"]), (&json!("assistant"), &json!("length"), &json!(10)));
    assert_eq!(v["prompt_eval_count"], json!(case["prompt_ids"].as_array().unwrap().len()));

    let (st, resp) = http(addr, "POST", "/api/chat", Some(r#"{"model":"smollm2:135m","messages":[],"keep_alive":0}"#));
    let v: Value = serde_json::from_str(&resp).unwrap();
    assert_eq!((st, &v["done_reason"], &v["message"]["content"]), (200, &json!("unload"), &json!("")));
}

/// Uploads the SmolLM2 GGUF as a blob and creates a model from it, as `ollama create` does.
#[test]
fn blobs_and_create_then_generate() {
    let (addr, _dir) = start();
    let gguf = std::fs::read(wollama_tests::model_path("smollm2")).unwrap();
    let hex: String = {
        use sha2::Digest as _;
        sha2::Sha256::digest(&gguf).iter().map(|b| format!("{b:02x}")).collect()
    };
    let blob = format!("/api/blobs/sha256:{hex}");
    // The start() store already holds this file: HEAD finds it, POST answers 200.
    assert_eq!(http(addr, "HEAD", &blob, None).0, 200);
    let zeros = format!("/api/blobs/sha256:{}", "0".repeat(64));
    assert_eq!(http(addr, "HEAD", &zeros, None).0, 404);
    assert_eq!(http(addr, "HEAD", "/api/blobs/sha256:xyz", None).0, 400);
    let (st, resp) = http(addr, "POST", &zeros, Some("not these bytes"));
    assert_eq!(st, 400, "{resp}");
    assert!(err_of(&resp).starts_with("digest mismatch"), "{resp}");

    let cases: &[(&str, u16, &str)] = &[
        (r#"{"model":"x"}"#, 400, "neither 'from' or 'files' was specified"),
        (r#"{"model":"a/","from":"smollm2:135m"}"#, 400, "invalid model name"),
    ];
    for (body, status, err) in cases {
        let (st, resp) = http(addr, "POST", "/api/create", Some(body));
        assert_eq!((st, err_of(&resp).as_str()), (*status, *err), "{body}: {resp}");
    }
    let body = json!({"model": "tiny:chat", "files": {"model.gguf": format!("sha256:{hex}")},
                      "system": "You are terse.", "parameters": {"temperature": 0, "num_predict": 4}});
    let (st, resp) = http(addr, "POST", "/api/create", Some(&body.to_string()));
    assert_eq!(st, 200, "{resp}");
    let statuses: Vec<String> =
        resp.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["status"].as_str().unwrap().to_string()).collect();
    assert_eq!(statuses.first().map(String::as_str), Some("parsing GGUF"));
    assert_eq!(statuses.last().map(String::as_str), Some("success"));
    assert!(statuses.iter().any(|s| s == "writing manifest"));

    let (_, tags) = http(addr, "GET", "/api/tags", None);
    let tags: Value = serde_json::from_str(&tags).unwrap();
    let m = tags["models"].as_array().unwrap().iter().find(|m| m["name"] == "tiny:chat").expect("created").clone();
    assert_eq!((&m["details"]["family"], &m["details"]["quantization_level"]), (&json!("llama"), &json!("Q4_1")));
    assert_eq!(m["details"]["parameter_size"], "135M");

    // The Modelfile parameters apply: greedy, 4 tokens.
    let (st, resp) = http(addr, "POST", "/api/generate", Some(r#"{"model":"tiny:chat","prompt":"Hi","stream":false}"#));
    let v: Value = serde_json::from_str(&resp).unwrap();
    assert_eq!((st, &v["eval_count"], &v["done_reason"]), (200, &json!(4), &json!("length")), "{resp}");
}

#[test]
fn show_reports_details_model_info_and_modelfile() {
    let (addr, _dir) = start();
    let cases: &[(&str, u16, &str)] = &[
        (r#"{}"#, 400, "model is required"),
        (r#"{"model":"nope"}"#, 404, "model 'nope' not found"),
    ];
    for (body, status, err) in cases {
        let (st, resp) = http(addr, "POST", "/api/show", Some(body));
        assert_eq!((st, err_of(&resp).as_str()), (*status, *err), "{body}: {resp}");
    }
    assert_eq!(http(addr, "GET", "/api/show", None).0, 405);
    let (st, resp) = http(addr, "POST", "/api/show", Some(r#"{"model":"smollm2:135m"}"#));
    assert_eq!(st, 200, "{resp}");
    let v: Value = serde_json::from_str(&resp).unwrap();
    assert_eq!(v["model_info"]["llama.context_length"], json!(8192));
    assert_eq!(v["model_info"]["general.architecture"], json!("llama"));
    assert!(v["model_info"].get("general.name").is_none());
    assert_eq!(v["details"]["quantization_level"], json!("Q4_1"));
    assert!(v["template"].as_str().unwrap().contains("<|im_start|>"));
    assert!(v["modelfile"].as_str().unwrap().starts_with("# Modelfile generated by \"ollama show\""));
    assert_eq!(v["capabilities"], json!(["completion"]));
    // Long arrays are [] and there are no tensors unless verbose, as Ollama.
    assert_eq!(v["model_info"]["tokenizer.ggml.tokens"], json!([]));
    assert!(v.get("tensors").is_none());
    let (st, resp) = http(addr, "POST", "/api/show", Some(r#"{"model":"smollm2:135m","verbose":true}"#));
    assert_eq!(st, 200, "{resp}");
    let v: Value = serde_json::from_str(&resp).unwrap();
    let tokens = v["model_info"]["tokenizer.ggml.tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 49152);
    assert_eq!((&tokens[0], &tokens[1]), (&json!("<|endoftext|>"), &json!("<|im_start|>")));
    assert_eq!(v["model_info"]["tokenizer.ggml.merges"].as_array().unwrap().len(), 48900);
    let tensors = v["tensors"].as_array().unwrap();
    // 30 blocks of 9 tensors, the embedding (tied to the output) and the output norm.
    assert_eq!(tensors.len(), 30 * 9 + 2);
    let find = |n: &str| tensors.iter().find(|t| t["name"] == n).unwrap_or_else(|| panic!("{n}: {tensors:?}"));
    assert_eq!(find("token_embd.weight"), &json!({"name": "token_embd.weight", "type": "Q8_0", "shape": [576, 49152]}));
    assert_eq!(find("blk.0.ffn_down.weight"), &json!({"name": "blk.0.ffn_down.weight", "type": "Q4_1", "shape": [1536, 576]}));
}

/// A model whose Modelfile TEMPLATE (Go) writes out SmolLM2's chat format renders the same
/// prompt as the GGUF's Jinja template, so greedy generation equals llama.cpp's golden.
#[test]
fn a_go_template_renders_the_prompt() {
    let (addr, _dir) = start();
    let template = "{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ else }}<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n{{ end }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n<|im_start|>assistant\n";
    let body = json!({"model": "gotmpl", "from": "smollm2:135m", "template": template});
    let (st, resp) = http(addr, "POST", "/api/create", Some(&body.to_string()));
    assert_eq!(st, 200, "{resp}");
    let g = wollama_tests::golden("smollm2");
    let case = g["greedy"].as_array().unwrap().iter().find(|c| c["name"] == "chat_capital_of_france").unwrap();
    let body = json!({"model": "gotmpl", "prompt": "What is the capital of France?", "stream": false,
                      "options": {"temperature": 0, "num_predict": 4}});
    let (st, resp) = http(addr, "POST", "/api/generate", Some(&body.to_string()));
    assert_eq!(st, 200, "{resp}");
    let v: Value = serde_json::from_str(&resp).unwrap();
    let mut want = wollama_tests::ids(&case["prompt_ids"]);
    want.extend(&wollama_tests::ids(&case["generated_ids"])[..4]);
    assert_eq!(wollama_tests::ids(&v["context"]), want);
    // A broken request template is Ollama's 500 with the parser's message.
    let (st, resp) = http(addr, "POST", "/api/generate", Some(r#"{"model":"gotmpl","prompt":"x","template":"{{ .Prompt "}"#));
    assert_eq!(st, 500, "{resp}");
    assert!(err_of(&resp).starts_with("template error"), "{resp}");
}

/// Modelfile MESSAGEs are part of every chat: a model created with a first exchange renders
/// it before the request's messages (visible in the prompt token count).
#[test]
fn modelfile_messages_precede_the_conversation() {
    let (addr, _dir) = start();
    let chat = |model: &str| -> u64 {
        let body = json!({"model": model, "stream": false, "options": {"temperature": 0, "num_predict": 1},
                          "messages": [{"role": "user", "content": "And Germany?"}]});
        let (st, resp) = http(addr, "POST", "/api/chat", Some(&body.to_string()));
        assert_eq!(st, 200, "{resp}");
        serde_json::from_str::<Value>(&resp).unwrap()["prompt_eval_count"].as_u64().unwrap()
    };
    let plain = chat("smollm2:135m");
    let body = json!({"model": "withhistory", "from": "smollm2:135m", "messages": [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."}]});
    let (st, resp) = http(addr, "POST", "/api/create", Some(&body.to_string()));
    assert_eq!(st, 200, "{resp}");
    let with = chat("withhistory");
    assert!(with > plain + 10, "history did not reach the prompt: {with} vs {plain}");
}

/// A client that goes away mid-stream stops its generation: the next request is served
/// right away instead of waiting for thousands of tokens.
#[test]
fn a_disconnected_stream_is_cancelled() {
    let (addr, _dir) = start();
    // llama.cpp's greedy continuation of this raw prompt loops without ever stopping.
    let g = wollama_tests::golden("smollm2");
    let case = g["greedy"].as_array().unwrap().iter().find(|c| c["name"] == "raw_continuation").unwrap();
    let body = json!({"model": "smollm2:135m", "prompt": case["prompt_text"], "raw": true,
                      "options": {"temperature": 0, "num_predict": 100000}}).to_string();
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut first = [0u8; 256];
    let n = s.read(&mut first).unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).contains("200 OK"));
    drop(s);
    let t = std::time::Instant::now();
    let (st, resp) = http(addr, "POST", "/api/generate",
        Some(r#"{"model":"smollm2:135m","prompt":"Hi","stream":false,"options":{"num_predict":2}}"#));
    assert_eq!(st, 200, "{resp}");
    // Without cancellation this waits for the first request to fill the 4096-token context.
    assert!(t.elapsed() < std::time::Duration::from_secs(20), "waited {:?}", t.elapsed());
}

/// A prompt longer than `num_ctx` keeps its first `num_keep` tokens and a tail, as Ollama's
/// runner cuts it, and unlike Ollama the final chunk says how many tokens went; with
/// `truncate: false` it is Ollama's 400.
#[test]
fn an_over_long_generate_prompt_is_cut_and_reported() {
    let (addr, _dir) = start();
    let prompt = "The quick brown fox jumps over the lazy dog. ".repeat(30);
    let ask = |num_ctx: u32, truncate: bool| {
        let body = json!({"model": "smollm2:135m", "prompt": prompt, "stream": false, "truncate": truncate,
                          "options": {"temperature": 0, "num_predict": 3, "num_ctx": num_ctx}});
        let (st, resp) = http(addr, "POST", "/api/generate", Some(&body.to_string()));
        (st, serde_json::from_str::<Value>(&resp).unwrap())
    };
    let (st, whole) = ask(4096, true);
    assert_eq!(st, 200, "{whole}");
    assert!(whole.get("truncated").is_none(), "{whole}");
    let full = wollama_tests::ids(&whole["context"]);
    let full_prompt = &full[..whole["prompt_eval_count"].as_u64().unwrap() as usize];
    assert!(full_prompt.len() > 300, "{}", full_prompt.len());

    let (st, cut) = ask(128, true);
    assert_eq!(st, 200, "{cut}");
    let kept = cut["prompt_eval_count"].as_u64().unwrap() as usize;
    assert_eq!(kept + cut["truncated"].as_u64().unwrap() as usize, full_prompt.len(), "{cut}");
    assert!((4 + 62..128).contains(&kept), "{kept}");
    let ctx = wollama_tests::ids(&cut["context"]);
    assert_eq!(&ctx[..4], &full_prompt[..4], "the head is kept");
    assert_eq!(&ctx[4..kept], &full_prompt[full_prompt.len() - (kept - 4)..], "then the tail");
    assert_eq!(cut["eval_count"], 3);

    let (st, err) = ask(128, false);
    assert_eq!((st, err["error"].as_str().unwrap()), (400, wollama_server::PROMPT_TOO_LONG));
}

/// A conversation longer than `num_ctx` loses its oldest turns but keeps its system message
/// and last question: the answer is then exactly the one to that short conversation.
#[test]
fn an_over_long_chat_drops_its_oldest_turns() {
    let (addr, _dir) = start();
    let system = json!({"role": "system", "content": "You answer in one word."});
    let question = json!({"role": "user", "content": "What is the capital of France?"});
    let mut history = vec![system.clone()];
    for i in 0..6 {
        history.push(json!({"role": "user", "content": format!("Tell me fact number {i} about the history of the Roman Empire.")}));
        history.push(json!({"role": "assistant", "content": "The Roman Empire was founded in 27 BC by Augustus, after a long civil war that ended the Republic. ".repeat(4)}));
    }
    history.push(question.clone());
    let ask = |messages: &[Value], num_ctx: u32| {
        let body = json!({"model": "smollm2:135m", "messages": messages, "stream": false,
                          "options": {"temperature": 0, "num_predict": 6, "num_ctx": num_ctx}});
        let (st, resp) = http(addr, "POST", "/api/chat", Some(&body.to_string()));
        assert_eq!(st, 200, "{resp}");
        serde_json::from_str::<Value>(&resp).unwrap()
    };
    let long = ask(&history, 4096);
    let short = ask(&[system, question], 4096);
    let cut = ask(&history, 96);
    assert!(long.get("truncated").is_none() && short.get("truncated").is_none());
    assert_eq!(cut["message"], short["message"], "{cut}");
    assert_eq!(cut["prompt_eval_count"], short["prompt_eval_count"]);
    let dropped = long["prompt_eval_count"].as_u64().unwrap() - short["prompt_eval_count"].as_u64().unwrap();
    assert_eq!(cut["truncated"], json!(dropped), "{cut}");
}

/// Generation that fills `num_ctx` shifts the context (keeps `num_keep` tokens, drops half
/// the rest) and goes on, as Ollama does by default; with `shift: false` it stops there with
/// `length`.
#[test]
fn generation_past_the_context_shifts_unless_told_not_to() {
    let (addr, _dir) = start();
    let ask = |shift: bool| {
        let body = json!({"model": "smollm2:135m", "prompt": "Count from 1 to 200, separated by commas.", "stream": false,
                          "shift": shift, "options": {"temperature": 0, "num_predict": 120, "num_ctx": 64}});
        let (st, resp) = http(addr, "POST", "/api/generate", Some(&body.to_string()));
        assert_eq!(st, 200, "{resp}");
        serde_json::from_str::<Value>(&resp).unwrap()
    };
    let stopped = ask(false);
    let (prompt, eval) = (stopped["prompt_eval_count"].as_u64().unwrap(), stopped["eval_count"].as_u64().unwrap());
    assert_eq!(stopped["done_reason"], "length", "{stopped}");
    assert!(prompt + eval <= 64 && eval >= 20, "{prompt} + {eval}");
    let shifted = ask(true);
    assert_eq!((&shifted["done_reason"], &shifted["eval_count"]), (&json!("length"), &json!(120)), "{}", shifted["response"]);
    // Before the first shift both runs are the same greedy decode.
    let head = stopped["response"].as_str().unwrap();
    assert!(shifted["response"].as_str().unwrap().starts_with(head), "{head:?} vs {}", shifted["response"]);
}

/// Where the router has no answer of its own it answers as Gin does, and JSON goes out with
/// Gin's content type: (method, path, body, status, content type, body).
#[test]
fn unknown_routes_methods_and_content_types_as_gin() {
    let (addr, _dir) = start();
    let (text, json) = ("text/plain; charset=utf-8", "application/json; charset=utf-8");
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, u16, &'a str, &'a str);
    let cases: &[Case] = &[
        ("GET", "/api/nothing", None, 404, text, "404 page not found"),
        ("GET", "/api/show", None, 405, text, "405 method not allowed"),
        ("POST", "/api/tags", None, 405, text, "405 method not allowed"),
        ("GET", "/api/version", None, 200, json, r#"{"version":"0.33.0"}"#),
        ("POST", "/api/show", Some("{}"), 400, json, r#"{"error":"model is required"}"#),
        ("POST", "/api/push", Some("{}"), 400, json, r#"{"error":"model is required"}"#),
        ("POST", "/api/push", Some(r#"{"model":"a/"}"#), 400, json, r#"{"error":"invalid model name"}"#),
        ("POST", "/api/pull", Some("{}"), 400, json, r#"{"error":"invalid model name"}"#),
        ("POST", "/api/copy", Some(r#"{"source":"smollm2:135m","destination":"c"}"#), 200, "", ""),
    ];
    for (method, path, body, status, ctype, want) in cases {
        let (st, head, got) = http_full(addr, method, path, *body);
        assert_eq!((st, got.as_str()), (*status, *want), "{method} {path}");
        let ct = head.lines().find_map(|l| l.strip_prefix("content-type: ")).unwrap_or("");
        assert_eq!(ct, *ctype, "{method} {path}");
    }
}

/// `/api/ps` carries the model's `details`, and times are marshalled as Go's `time.Time`:
/// no trailing zeros in the fraction, `Z` for a zero offset.
#[test]
fn ps_details_and_go_times() {
    let (addr, _dir) = start();
    let (st, _) = http(addr, "POST", "/api/generate", Some(r#"{"model":"smollm2:135m"}"#));
    assert_eq!(st, 200);
    let (_, ps) = http(addr, "GET", "/api/ps", None);
    let ps: Value = serde_json::from_str(&ps).unwrap();
    let m = &ps["models"][0];
    assert_eq!(m["details"], json!({"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
        "parameter_size": "134.52M", "quantization_level": "Q4_1", "context_length": 8192, "embedding_length": 576}), "{ps}");
    let (_, tags) = http(addr, "GET", "/api/tags", None);
    let tags: Value = serde_json::from_str(&tags).unwrap();
    let (_, show) = http(addr, "POST", "/api/show", Some(r#"{"model":"smollm2:135m"}"#));
    let show: Value = serde_json::from_str(&show).unwrap();
    for t in [&m["expires_at"], &tags["models"][0]["modified_at"], &show["modified_at"]] {
        let t = t.as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(t).is_ok(), "{t}");
        let offset_at = t.rfind(['Z', '+', '-']).unwrap();
        let fraction = t[..offset_at].split_once('.').map_or("1", |(_, f)| f);
        assert!(!t.ends_with("+00:00") && !fraction.ends_with('0'), "not as Go marshals it: {t}");
    }
}

/// `/api/create`'s checks before and while it streams: (body, status, error, streamed lines
/// before the error).
#[test]
fn create_refusals_as_ollama() {
    let (addr, dir) = start();
    let store = wollama_store::Store::open(dir.path()).unwrap();
    let entry = store.get(&wollama_store::ModelName::parse("smollm2:135m").unwrap()).unwrap();
    let gguf = entry.manifest.layers[0].digest.clone();
    let cases: Vec<(Value, u16, &str, Vec<&str>)> = vec![
        (json!({"model": "x", "files": {"/abs.gguf": "sha256:00"}}), 400, "file path must be relative", vec![]),
        (json!({"model": "x", "files": {"a.gguf": ""}}), 400, "invalid digest format", vec![]),
        (json!({"model": "x", "from": "smollm2:135m", "template": "{{ .Prompt "}), 400, "template error", vec![]),
        (json!({"model": "x", "from": "smollm2:135m", "template": "{{ .Prompt ", "stream": false}), 400, "template error", vec![]),
        (json!({"model": "x", "from": "smollm2:135m", "quantize": "q4_K_M", "stream": false}), 500,
            "quantization is only supported for F16, BF16 and F32 models", vec![]),
        (json!({"model": "x", "from": "smollm2:135m", "quantize": "q2"}), 500,
            "unsupported quantization type Q2 - supported types are F32, F16, Q4_K_S, Q4_K_M, Q8_0", vec![]),
        (json!({"model": "x", "files": {"m.gguf": gguf}, "quantize": "q8_0"}), 200,
            "quantization is only supported for F16, BF16 and F32 models", vec!["parsing GGUF"]),
        (json!({"model": "x", "files": {"m.gguf": gguf}, "template": "{{ if }}"}), 200, "template error", vec!["parsing GGUF"]),
    ];
    for (body, status, err, before) in &cases {
        let (st, resp) = http(addr, "POST", "/api/create", Some(&body.to_string()));
        assert_eq!(st, *status, "{body}: {resp}");
        let lines: Vec<Value> = resp.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let (last, rest) = lines.split_last().unwrap();
        assert!(last["error"].as_str().unwrap_or("").starts_with(err), "{body}: {resp}");
        let statuses: Vec<&str> = rest.iter().map(|l| l["status"].as_str().unwrap()).collect();
        assert_eq!(&statuses, before, "{body}");
    }
    let (_, tags) = http(addr, "GET", "/api/tags", None);
    assert_eq!(serde_json::from_str::<Value>(&tags).unwrap()["models"].as_array().unwrap().len(), 1, "nothing was made");
}

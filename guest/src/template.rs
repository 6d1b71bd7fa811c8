//! Chat templates: a GGUF's `tokenizer.chat_template` (Jinja) rendered with minijinja the way
//! Hugging Face transformers' `apply_chat_template` (and llama.cpp's `--jinja` path) render it.
//!
//! What HF provides and what this module mirrors:
//!
//! - environment: `trim_blocks` and `lstrip_blocks` on, `keep_trailing_newline` off, loop controls;
//! - context: `messages`, `add_generation_prompt`, `bos_token`, `eos_token`, plus any extra
//!   variables (`tools`, `documents`, `enable_thinking`, …). Like llama.cpp (minja), `tools` is
//!   left undefined when there are none, so templates testing `tools is defined` work; HF passes
//!   `tools=None` instead, which a caller can reproduce with `"tools": null` in the extras;
//! - `raise_exception(msg)`: rendering fails with exactly `msg` as the error;
//! - `strftime_now(fmt)`: the current UTC time formatted C-style;
//! - `tojson`: Python's `json.dumps` output (`", "` / `": "` separators, no HTML escaping,
//!   `ensure_ascii=False`, keys in insertion order; `indent`, `ensure_ascii`, `sort_keys`,
//!   `separators` keyword arguments);
//! - Python string/dict/list methods (`.strip()`, `.startswith()`, `.split()`, `.items()`,
//!   `.get()` …) through minijinja-contrib's pycompat layer;
//! - `{{ }}` prints like Python: `None`, `True`/`False`, lists and dicts as their `repr`;
//! - HF's `{% generation %}…{% endgeneration %}` marker blocks are accepted and render their body;
//! - string literals unescape like Python's: a backslash-newline is a line continuation (Mistral's
//!   templates rely on it) and `\/` stays two characters.

use minijinja::{Environment, Error, ErrorKind, Value};

/// `strftime_now` and the calendar arithmetic behind it (which Go templates' `currentDate`
/// uses too).
pub(crate) mod dates;
/// `tojson` as Python's `json.dumps`.
mod pyjson;
/// `{{ }}` printing as Python's `repr`.
mod pyrepr;

use crate::message::ChatMessage;

const TEMPLATE_NAME: &str = "chat_template";

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish_non_exhaustive()
    }
}

/// The error `raise_exception` attaches as the source, so that `render` can hand back the
/// template's own message unchanged.
#[derive(Debug)]
struct RaisedException(String);

impl std::fmt::Display for RaisedException {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RaisedException {}

impl ChatTemplate {
    /// Compiles `source`. `bos_token` / `eos_token` are the text of the model's BOS/EOS tokens
    /// (available to the template as `bos_token` / `eos_token`).
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, String> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(false);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_formatter(pyrepr::python_formatter);
        env.add_filter("tojson", pyjson::tojson_filter);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", dates::strftime_now);
        let source = python_string_escapes(&strip_generation_tags(source));
        env.add_template_owned(TEMPLATE_NAME, source)
            .map_err(|e| format!("chat template does not compile: {e}"))?;
        Ok(ChatTemplate { env, bos_token: bos_token.to_string(), eos_token: eos_token.to_string() })
    }

    /// Renders a conversation with no extra variables (messages as `ChatMessage::to_jinja`).
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String, String> {
        let messages = serde_json::Value::Array(messages.iter().map(ChatMessage::to_jinja).collect());
        self.render_json(&messages, add_generation_prompt, &serde_json::Map::new())
    }

    /// Renders with `messages` given as JSON (a list of objects, which may carry more than role
    /// and content: `tool_calls`, a list `content`, …) and `extra` top-level variables (`tools`,
    /// `documents`, `enable_thinking`, …). `extra` may override `bos_token` and `eos_token`;
    /// `messages` and `add_generation_prompt` always come from the arguments.
    pub fn render_json(
        &self,
        messages: &serde_json::Value,
        add_generation_prompt: bool,
        extra: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<String, String> {
        let mut ctx = serde_json::Map::new();
        ctx.insert("bos_token".into(), self.bos_token.clone().into());
        ctx.insert("eos_token".into(), self.eos_token.clone().into());
        for (k, v) in extra {
            ctx.insert(k.clone(), v.clone());
        }
        ctx.insert("messages".into(), messages.clone());
        ctx.insert("add_generation_prompt".into(), add_generation_prompt.into());
        let tmpl = self.env.get_template(TEMPLATE_NAME).map_err(|e| e.to_string())?;
        tmpl.render(Value::from_serialize(&ctx)).map_err(describe_error)
    }
}

/// `raise_exception`'s message as is; anything else as minijinja describes it.
fn describe_error(e: Error) -> String {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = src {
        if let Some(r) = err.downcast_ref::<RaisedException>() {
            return r.0.clone();
        }
        src = err.source();
    }
    format!("chat template error: {e}")
}

/// HF's `AssistantTracker` extension adds `{% generation %}` … `{% endgeneration %}` blocks that
/// only mark text; minijinja has no such tag, so they become always-true `if` blocks (keeping any
/// whitespace-control markers).
fn strip_generation_tags(source: &str) -> String {
    if !source.contains("generation") {
        return source.to_string();
    }
    let re = fancy_regex::Regex::new(r"\{%([-+]?)\s*(end)?generation\s*([-+]?)%\}").expect("valid regex");
    re.replace_all(source, |c: &fancy_regex::Captures| {
        let (l, r) = (c.get(1).map_or("", |m| m.as_str()), c.get(3).map_or("", |m| m.as_str()));
        if c.get(2).is_some() {
            format!("{{%{l} endif {r}%}}")
        } else {
            format!("{{%{l} if true {r}%}}")
        }
    })
    .into_owned()
}

/// Where Jinja2's string literals (Python `unicode-escape`) and minijinja's differ, rewrites the
/// literals inside `{{ }}` / `{% %}` tags to minijinja spellings of Python's meaning: a
/// backslash-newline disappears (line continuation) and `\/` is kept as backslash + slash (minijinja
/// would drop the backslash). Text, comments and `{% raw %}` blocks are left alone.
fn python_string_escapes(src: &str) -> String {
    if !src.contains('\\') {
        return src.to_string();
    }
    enum St {
        Text,
        Tag(&'static [u8]),
        Str(&'static [u8], u8),
    }
    let b = src.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut st = St::Text;
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        match st {
            St::Text => {
                if rest.starts_with(b"{#") {
                    let end = find(rest, b"#}").map_or(rest.len(), |e| e + 2);
                    out.extend_from_slice(&rest[..end]);
                    i += end;
                    continue;
                }
                if rest.starts_with(b"{%") {
                    let tag_end = find(rest, b"%}").map_or(rest.len(), |e| e + 2);
                    let inner = String::from_utf8_lossy(&rest[2..tag_end.saturating_sub(2).max(2)]);
                    if inner.trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace()) == "raw" {
                        // copy up to and including the matching endraw tag
                        let mut j = tag_end;
                        let mut end = rest.len();
                        while let Some(k) = find(&rest[j..], b"{%") {
                            let s = j + k + 2;
                            let t = String::from_utf8_lossy(&rest[s..(s + 32).min(rest.len())]);
                            if t.trim_start_matches(['-', '+']).trim_start().starts_with("endraw") {
                                end = find(&rest[s..], b"%}").map_or(rest.len(), |e| s + e + 2);
                                break;
                            }
                            j = s;
                        }
                        out.extend_from_slice(&rest[..end]);
                        i += end;
                        continue;
                    }
                    st = St::Tag(b"%}");
                    out.extend_from_slice(b"{%");
                    i += 2;
                    continue;
                }
                if rest.starts_with(b"{{") {
                    st = St::Tag(b"}}");
                    out.extend_from_slice(b"{{");
                    i += 2;
                    continue;
                }
                out.push(b[i]);
                i += 1;
            }
            St::Tag(end) => {
                if rest.starts_with(end) {
                    out.extend_from_slice(end);
                    i += end.len();
                    st = St::Text;
                    continue;
                }
                if b[i] == b'"' || b[i] == b'\'' {
                    st = St::Str(end, b[i]);
                }
                out.push(b[i]);
                i += 1;
            }
            St::Str(end, q) => {
                if b[i] == b'\\' {
                    match rest.get(1) {
                        Some(b'\n') => i += 2,
                        Some(b'\r') if rest.get(2) == Some(&b'\n') => i += 3,
                        Some(b'/') => {
                            out.extend_from_slice(b"\\\\/");
                            i += 2;
                        }
                        Some(&c) => {
                            out.push(b'\\');
                            out.push(c);
                            i += 2;
                        }
                        None => {
                            out.push(b'\\');
                            i += 1;
                        }
                    }
                    continue;
                }
                if b[i] == q {
                    st = St::Tag(end);
                }
                out.push(b[i]);
                i += 1;
            }
        }
    }
    // Only ASCII bytes were dropped or inserted, so this is still UTF-8.
    String::from_utf8(out).unwrap_or_else(|_| src.to_string())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// Functions and filters

fn raise_exception(msg: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, msg.clone()).with_source(RaisedException(msg)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs(pairs: &[(&str, &str)]) -> Vec<ChatMessage> {
        pairs.iter().map(|(r, c)| ChatMessage::new(*r, *c)).collect()
    }

    fn conversation() -> Vec<ChatMessage> {
        msgs(&[("user", "Hi"), ("assistant", "Hello!"), ("user", "How are you?")])
    }

    fn golden(name: &str) -> serde_json::Value {
        let path = format!("{}/../tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
    }

    #[test]
    fn smollm2_golden_prompts() {
        let g = golden("smollm2.json");
        let src = g["chat_template"].as_str().unwrap();
        let t = ChatTemplate::new(src, "<|im_start|>", "<|im_end|>").unwrap();
        let mut checked = 0;
        for entry in g["greedy"].as_array().unwrap() {
            let Some(messages) = entry["messages"].as_array() else { continue };
            let messages: Vec<ChatMessage> = messages
                .iter()
                .map(|m| ChatMessage::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
                .collect();
            let want = entry["prompt_text"].as_str().unwrap();
            assert_eq!(t.render(&messages, true).unwrap(), want, "{}", entry["name"]);
            // the JSON path gives the same
            let json = serde_json::to_value(&messages).unwrap();
            assert_eq!(t.render_json(&json, true, &serde_json::Map::new()).unwrap(), want);
            checked += 1;
        }
        assert!(checked >= 2, "golden entries with messages: {checked}");
    }

    #[test]
    fn smollm2_system_message_and_no_generation_prompt() {
        let g = golden("smollm2.json");
        let t = ChatTemplate::new(g["chat_template"].as_str().unwrap(), "", "").unwrap();
        let m = msgs(&[("system", "You are a pirate."), ("user", "Hi"), ("assistant", "Arr!")]);
        assert_eq!(
            t.render(&m, false).unwrap(),
            "<|im_start|>system\nYou are a pirate.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n\
             <|im_start|>assistant\nArr!<|im_end|>\n"
        );
        let m = msgs(&[("user", "Hi")]);
        assert_eq!(
            t.render(&m, true).unwrap(),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
             <|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    const LLAMA3: &str = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = \
        '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}\
        {% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}\
        {% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

    #[test]
    fn llama3_template() {
        let t = ChatTemplate::new(LLAMA3, "<|begin_of_text|>", "<|eot_id|>").unwrap();
        let mut c = conversation();
        c[0].content = "  Hi\n".into(); // trimmed by the template
        assert_eq!(
            t.render(&c, true).unwrap(),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>\
             <|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>\
             <|start_header_id|>user<|end_header_id|>\n\nHow are you?<|eot_id|>\
             <|start_header_id|>assistant<|end_header_id|>\n\n"
        );
    }

    const GEMMA: &str = "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}\
        {% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\
        {{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}\
        {% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}\
        {{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}\
        {% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}";

    #[test]
    fn gemma_template_and_raise_exception() {
        let t = ChatTemplate::new(GEMMA, "<bos>", "<eos>").unwrap();
        assert_eq!(
            t.render(&conversation(), true).unwrap(),
            "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n\
             <start_of_turn>user\nHow are you?<end_of_turn>\n<start_of_turn>model\n"
        );
        let err = t.render(&msgs(&[("system", "x"), ("user", "Hi")]), true).unwrap_err();
        assert_eq!(err, "System role not supported");
        let err = t.render(&msgs(&[("user", "a"), ("user", "b")]), true).unwrap_err();
        assert_eq!(err, "Conversation roles must alternate user/assistant/user/assistant/...");
    }

    #[test]
    fn trim_and_lstrip_blocks_like_hf() {
        let src = "{% for message in messages %}\n    {% if message.role == 'user' %}\nU: {{ message.content }}\n    \
                   {% else %}\nA: {{ message.content }}\n    {% endif %}\n{% endfor %}\n";
        let t = ChatTemplate::new(src, "", "").unwrap();
        assert_eq!(t.render(&conversation(), false).unwrap(), "U: Hi\nA: Hello!\nU: How are you?\n");
        // a single trailing newline of the source is dropped (keep_trailing_newline off)
        let t = ChatTemplate::new("x\n", "", "").unwrap();
        assert_eq!(t.render(&[], false).unwrap(), "x");
    }

    #[test]
    fn python_methods_and_tojson() {
        let src = "{{ messages[0].content.strip() }}|{{ messages[0].content.strip().lower().startswith('hi') }}|\
                   {{ 'a,b,c'.split(',') | join('-') }}|{{ messages | tojson }}|\
                   {% for k, v in {'x': 1, 'y': 2}.items() %}{{ k }}={{ v }};{% endfor %}|\
                   {{ {'a': [1, 2.5, none, true], 'b': 'é\"<'} | tojson }}|{{ messages[0].get('name', 'anon') }}";
        let t = ChatTemplate::new(src, "", "").unwrap();
        let out = t.render(&msgs(&[("user", "  Hi There \n")]), false).unwrap();
        assert_eq!(
            out,
            "Hi There|True|a-b-c|[{\"role\": \"user\", \"content\": \"  Hi There \\n\"}]|x=1;y=2;|\
             {\"a\": [1, 2.5, null, true], \"b\": \"é\\\"<\"}|anon"
        );
    }

    #[test]
    fn tojson_options() {
        let t = ChatTemplate::new(
            "{{ tools | tojson(indent=2) }}\n{{ tools | tojson(ensure_ascii=true, sort_keys=true) }}\n\
             {{ tools | tojson(separators=(',', ':')) }}\n{{ [] | tojson(indent=4) }}{{ {} | tojson }}",
            "",
            "",
        )
        .unwrap();
        let mut extra = serde_json::Map::new();
        extra.insert("tools".into(), serde_json::json!([{"name": "f", "a": {"é": 1.0, "n": 1e20}}]));
        let out = t.render_json(&serde_json::json!([]), false, &extra).unwrap();
        assert_eq!(
            out,
            "[\n  {\n    \"name\": \"f\",\n    \"a\": {\n      \"é\": 1.0,\n      \"n\": 1e+20\n    }\n  }\n]\n\
             [{\"a\": {\"n\": 1e+20, \"\\u00e9\": 1.0}, \"name\": \"f\"}]\n\
             [{\"name\":\"f\",\"a\":{\"é\":1.0,\"n\":1e+20}}]\n[]{}"
        );
    }

    #[test]
    fn python_printing() {
        let t = ChatTemplate::new("{{ none }}|{{ true }}|{{ [1, 'a', none] }}|{{ {'k': false} }}|{{ 0.5 }}|{{ nope }}|", "", "")
            .unwrap();
        assert_eq!(t.render(&[], false).unwrap(), "None|True|[1, 'a', None]|{'k': False}|0.5||");
    }

    #[test]
    fn extra_variables_and_defaults() {
        let src = "{% if enable_thinking is defined and not enable_thinking %}<think></think>{% endif %}\
                   {{ tools is defined }}{{ bos_token }}{{ eos_token }}{{ add_generation_prompt }}";
        let t = ChatTemplate::new(src, "<s>", "</s>").unwrap();
        assert_eq!(t.render(&[], true).unwrap(), "False<s></s>True");
        let mut extra = serde_json::Map::new();
        extra.insert("enable_thinking".into(), false.into());
        extra.insert("bos_token".into(), "[BOS]".into());
        extra.insert("add_generation_prompt".into(), true.into()); // cannot override the argument
        assert_eq!(t.render_json(&serde_json::json!([]), false, &extra).unwrap(), "<think></think>False[BOS]</s>False");
    }

    #[test]
    fn json_messages_with_more_fields() {
        let src = "{% for m in messages %}{{ m.role }}:{% if m.tool_calls %}{{ m.tool_calls[0].function.arguments | tojson }}\
                   {% else %}{{ m.content }}{% endif %};{% endfor %}";
        let t = ChatTemplate::new(src, "", "").unwrap();
        let messages = serde_json::json!([
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "tool_calls": [{"function": {"name": "w", "arguments": {"city": "Paris", "days": 2}}}]}
        ]);
        assert_eq!(
            t.render_json(&messages, false, &serde_json::Map::new()).unwrap(),
            "user:weather?;assistant:{\"city\": \"Paris\", \"days\": 2};"
        );
    }

    #[test]
    fn generation_tags_are_accepted() {
        let src = "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{%- endgeneration %}\
                   {% else %}[{{ m.content }}]{% endif %}{% endfor %}";
        let t = ChatTemplate::new(src, "", "").unwrap();
        assert_eq!(t.render(&conversation(), false).unwrap(), "[Hi]Hello![How are you?]");
    }

    #[test]
    fn string_literals_unescape_like_python() {
        let src = "{{ \"a\\\nb\" }}|{{ 'x\\/y' }}|{{ \"q\\\\\nz\" }}|{% raw %}{{ \"a\\\nb\" }}{% endraw %}{# \"\\\n #}|a\\\nb";
        let t = ChatTemplate::new(src, "", "").unwrap();
        assert_eq!(t.render(&[], false).unwrap(), "ab|x\\/y|q\\\nz|{{ \"a\\\nb\" }}|a\\\nb");
        // Mistral's templates continue long system prompts over lines inside a literal
        let src = "{%- set msg = \"one.\\\ntwo.\\\n\\\nthree.\" %}{{ msg }}";
        assert_eq!(ChatTemplate::new(src, "", "").unwrap().render(&[], false).unwrap(), "one.two.three.");
    }

    #[test]
    fn errors_are_messages() {
        let e = ChatTemplate::new("{% for x in %}", "", "").unwrap_err();
        assert!(e.contains("does not compile"), "{e}");
        let t = ChatTemplate::new("{{ undefined_fn() }}", "", "").unwrap();
        assert!(t.render(&[], false).unwrap_err().starts_with("chat template error"));
        let t = ChatTemplate::new("{{ messages[0].content.nosuchmethod() }}", "", "").unwrap();
        assert!(t.render(&msgs(&[("user", "x")]), false).is_err());
        let t = ChatTemplate::new("{{ raise_exception('boom: ' ~ messages | length) }}", "", "").unwrap();
        assert_eq!(t.render(&[], false).unwrap_err(), "boom: 0");
    }

    #[test]
    fn strftime_now_is_the_current_year() {
        let tmpl = ChatTemplate::new("{{ strftime_now('%Y') }}", "", "").unwrap();
        let year: i64 = tmpl.render(&[], false).unwrap().parse().unwrap();
        assert!(year >= 2024);
    }
}

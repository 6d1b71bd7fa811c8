//! Tests: Ollama's template golden files and `template_test.go` cases, the tool/thinking tag
//! heuristics' tests, and unit tests of the engine against Go `text/template` behaviour.

use serde_json::json;

use super::ollama::{self, ThinkValue, Values};
use super::{ExecOptions, Template, Value};
use crate::message::ChatMessage;

fn testdata() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/gotemplate/testdata")
}

fn msg(role: &str, content: &str) -> ChatMessage {
    ChatMessage::new(role, content)
}

fn conversations() -> Vec<(&'static str, Vec<ChatMessage>)> {
    vec![
        ("user", vec![msg("user", "Hello, how are you?")]),
        (
            "user-assistant-user",
            vec![
                msg("user", "Hello, how are you?"),
                msg("assistant", "I'm doing great. How can I help you today?"),
                msg("user", "I'd like to show off how chat templating works!"),
            ],
        ),
        (
            "system-user-assistant-user",
            vec![
                msg("system", "You are a helpful assistant."),
                msg("user", "Hello, how are you?"),
                msg("assistant", "I'm doing great. How can I help you today?"),
                msg("user", "I'd like to show off how chat templating works!"),
            ],
        ),
    ]
}

/// Go data for `execute`.
fn run(src: &str, data: serde_json::Value) -> Result<String, String> {
    Template::parse(src)?.execute(&data)
}

fn ok(src: &str, data: serde_json::Value) -> String {
    match run(src, data) {
        Ok(s) => s,
        Err(e) => panic!("template {src:?} failed: {e}"),
    }
}

fn err(src: &str, data: serde_json::Value) -> String {
    match run(src, data) {
        Ok(s) => panic!("template {src:?} should fail, rendered {s:?}"),
        Err(e) => e,
    }
}

// ---------------------------------------------------------------------------------------------
// Ollama's golden files (template/testdata).

#[test]
fn ollama_golden_templates() {
    let dir = testdata();
    let mut names: Vec<String> = std::fs::read_dir(dir.join("templates"))
        .expect("testdata/templates")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".gotmpl"))
        .collect();
    names.sort();
    assert!(names.len() >= 20, "expected Ollama's 20 templates, found {}", names.len());
    let mut checked = 0;
    for name in &names {
        let src = std::fs::read_to_string(dir.join("templates").join(name)).expect("template");
        let tmpl = ollama::parse(&src).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (case, msgs) in conversations() {
            let mut got = ollama::execute(&tmpl, &Values { messages: &msgs, ..Default::default() })
                .unwrap_or_else(|e| panic!("{name}/{case}: {e}"));
            // As template_test.go: these templates end a turn with a space the golden files lack.
            if ["chatqa.gotmpl", "llama2-chat.gotmpl", "mistral-instruct.gotmpl", "openchat.gotmpl", "vicuna.gotmpl"]
                .contains(&name.as_str())
                && got.ends_with(' ')
            {
                got.pop();
            }
            let want = std::fs::read_to_string(dir.join("expected").join(name).join(case)).expect("expected output");
            assert_eq!(got, want, "{name}/{case}");
            checked += 1;
        }
    }
    assert_eq!(checked, names.len() * 3);
}

// ---------------------------------------------------------------------------------------------
// template_test.go

#[test]
fn ollama_parse_vars() {
    let cases: &[(&str, &[&str])] = &[
        ("{{ .Prompt }}", &["prompt", "response"]),
        ("{{ .System }} {{ .Prompt }}", &["prompt", "response", "system"]),
        ("{{ .System }} {{ .Prompt }} {{ .Response }}", &["prompt", "response", "system"]),
        ("{{ with .Tools }}{{ . }}{{ end }} {{ .System }} {{ .Prompt }}", &["prompt", "response", "system", "tools"]),
        ("{{ range .Messages }}{{ .Role }} {{ .Content }}{{ end }}", &["content", "messages", "role"]),
        (
            "{{ range .Messages }}{{ if eq .Role \"tool\" }}Tool Result: {{ .ToolName }} {{ .Content }}{{ end }}{{ end }}",
            &["content", "messages", "role", "toolname"],
        ),
        (
            "{{- range .Messages }}\n{{- if eq .Role \"system\" }}SYSTEM:\n{{- else if eq .Role \"user\" }}USER:\n{{- else if eq .Role \"assistant\" }}ASSISTANT:\n{{- else if eq .Role \"tool\" }}TOOL:\n{{- end }} {{ .Content }}\n{{- end }}",
            &["content", "messages", "role"],
        ),
        (
            "{{- if .Messages }}\n{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n{{ else -}}\n{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}<|im_start|>assistant\n{{ .Response }}<|im_end|>\n{{- end -}}",
            &["content", "messages", "prompt", "response", "role", "system"],
        ),
    ];
    for (src, want) in cases {
        let t = ollama::parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert_eq!(t.vars(), want.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "{src}");
    }
    // Variables count too ($ and $.Tools).
    let t = Template::parse("{{ range $i, $m := $.Messages }}{{ $m.Content }}{{ end }}").unwrap();
    assert_eq!(t.vars(), ["$", "$m", "content", "messages"]);
}

#[test]
fn ollama_parse_errors() {
    let e = ollama::parse("{{ .Prompt ").unwrap_err();
    assert!(e.contains("unclosed action"), "{e}");
    let e = ollama::parse(r#"{{define "x"}}{{template "x"}}{{end}}{{template "x"}}"#).unwrap_err();
    assert!(e.to_lowercase().contains("undefined template specified"), "{e}");
}

#[test]
fn ollama_execute_with_messages() {
    type Case = (&'static [(&'static str, &'static str)], Vec<ChatMessage>, &'static str);
    let mistral: &[(&str, &str)] = &[
        ("no response", "[INST] {{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }}[/INST] "),
        ("response", "[INST] {{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }}[/INST] {{ .Response }}"),
        (
            "messages",
            "[INST] {{ if .System }}{{ .System }}\n\n{{ end }}\n{{- range .Messages }}\n{{- if eq .Role \"user\" }}{{ .Content }}[/INST] {{ else if eq .Role \"assistant\" }}{{ .Content }}[INST] {{ end }}\n{{- end }}",
        ),
    ];
    let cases: Vec<Case> = vec![
        (
            mistral,
            vec![msg("user", "Hello friend!"), msg("assistant", "Hello human!"), msg("user", "What is your name?")],
            "[INST] Hello friend![/INST] Hello human![INST] What is your name?[/INST] ",
        ),
        (
            mistral,
            vec![
                msg("system", "You are a helpful assistant!"),
                msg("user", "Hello friend!"),
                msg("assistant", "Hello human!"),
                msg("user", "What is your name?"),
            ],
            "[INST] You are a helpful assistant!\n\nHello friend![/INST] Hello human![INST] What is your name?[/INST] ",
        ),
        (
            &[
                ("no response", "[INST] {{ .Prompt }}[/INST] "),
                ("response", "[INST] {{ .Prompt }}[/INST] {{ .Response }}"),
                (
                    "messages",
                    "\n{{- range $i, $m := .Messages }}\n{{- if eq .Role \"user\" }}[INST] {{ .Content }}[/INST] {{ else if eq .Role \"assistant\" }}{{ .Content }}{{ end }}\n{{- end }}",
                ),
            ],
            vec![
                msg("user", "Hello friend!"),
                msg("assistant", "Hello human!"),
                msg("user", "What is your name?"),
                msg("assistant", "My name is Ollama and I"),
            ],
            "[INST] Hello friend![/INST] Hello human![INST] What is your name?[/INST] My name is Ollama and I",
        ),
        (
            &[
                (
                    "response",
                    "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}<|im_start|>assistant\n{{ .Response }}<|im_end|>\n",
                ),
                ("messages", "\n{{- range $index, $_ := .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"),
            ],
            vec![
                msg("system", "You are a helpful assistant!"),
                msg("user", "Hello friend!"),
                msg("assistant", "Hello human!"),
                msg("user", "What is your name?"),
            ],
            "<|im_start|>system\nYou are a helpful assistant!<|im_end|>\n<|im_start|>user\nHello friend!<|im_end|>\n<|im_start|>assistant\nHello human!<|im_end|>\n<|im_start|>user\nWhat is your name?<|im_end|>\n<|im_start|>assistant\n",
        ),
    ];
    for (templates, msgs, want) in cases {
        for (name, src) in templates {
            let t = ollama::parse(src).unwrap();
            let got = ollama::execute(&t, &Values { messages: &msgs, ..Default::default() }).unwrap();
            assert_eq!(got, want, "{name}: {src}");
        }
    }
}

#[test]
fn ollama_execute_with_suffix() {
    let t = ollama::parse(
        "{{- if .Suffix }}<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>\n{{- else }}{{ .Prompt }}\n{{- end }}",
    )
    .unwrap();
    assert!(t.vars().contains(&"suffix".to_string()));
    let got = ollama::execute(&t, &Values { messages: &[msg("user", "hello")], ..Default::default() }).unwrap();
    assert_eq!(got, "hello");
    assert_eq!(ollama::render_suffix(&t, "def add(", "return x", None).unwrap(), "<PRE> def add( <SUF>return x <MID>");
}

#[test]
fn ollama_date_functions() {
    // 2024-03-01 00:30 UTC.
    let opts = ExecOptions { now_unix_secs: Some(1_709_253_000), ..Default::default() };
    let t = ollama::parse("{{- range .Messages }}{{ .Content }}{{ end }} Today is {{ currentDate }}").unwrap();
    let v = Values { messages: &[msg("user", "Hello")], ..Default::default() };
    assert_eq!(ollama::execute_with(&t, &v, &opts).unwrap(), "Hello Today is 2024-03-01");
    let t = ollama::parse("{{- range .Messages }}{{ .Content }}{{ end }} Yesterday was {{ yesterdayDate }}").unwrap();
    assert_eq!(ollama::execute_with(&t, &v, &opts).unwrap(), "Hello Yesterday was 2024-02-29");
    // The format argument is accepted (and ignored, as in Ollama); a zone offset moves the day.
    let t = Template::parse(r#"{{ currentDate "2006" }}"#).unwrap();
    let west = ExecOptions { utc_offset_secs: -3600, ..opts.clone() };
    assert_eq!(t.execute_value(&Value::Nil, &west).unwrap(), "2024-02-29");
    // The real clock gives a date shape.
    let today = Template::parse("{{ currentDate }}").unwrap().execute(&json!({})).unwrap();
    assert_eq!(today.len(), 10);
    assert_eq!(&today[4..5], "-");
    let e = Template::parse("{{ currentDate 1 }}").unwrap().execute(&json!({})).unwrap_err();
    assert!(e.contains("expected string"), "{e}");
}

#[test]
fn ollama_collate() {
    let (sys, c) = ollama::collate(&[msg("user", "Hello"), msg("user", "How are you?")]);
    assert_eq!(sys, "");
    assert_eq!(c, vec![msg("user", "Hello\n\nHow are you?")]);

    let tool = |content: &str, name: &str| ChatMessage { tool_name: Some(name.into()), ..msg("tool", content) };
    let (_, c) = ollama::collate(&[tool("sunny", "get_weather"), tool("72F", "get_temperature")]);
    assert_eq!(c, vec![tool("sunny", "get_weather"), tool("72F", "get_temperature")]);

    let input = vec![
        msg("system", "You are helpful"),
        msg("user", "Hello"),
        msg("assistant", "Hi there!"),
        msg("user", "What's the weather?"),
        tool("sunny", "get_weather"),
        tool("72F", "get_temperature"),
        msg("user", "Thanks"),
    ];
    let (sys, c) = ollama::collate(&input);
    assert_eq!(sys, "You are helpful");
    assert_eq!(c, input);

    let (sys, c) = ollama::collate(&[msg("system", "a"), msg("system", "b"), msg("user", "u")]);
    assert_eq!(sys, "a\n\nb");
    assert_eq!(c, vec![msg("system", "a\n\nb"), msg("user", "u")]);
}

fn tool_call_msg(args: serde_json::Value) -> ChatMessage {
    ChatMessage {
        tool_calls: Some(json!([{"function": {"name": "get_weather", "arguments": args}}])),
        ..msg("assistant", "")
    }
}

#[test]
fn ollama_tool_call_arguments() {
    // {{ .Function.Arguments }} prints JSON (sorted keys, like json.Marshal of a Go map).
    let t = ollama::parse("{{- range .Messages }}{{- range .ToolCalls }}{{ .Function.Arguments }}{{- end }}{{- end }}")
        .unwrap();
    let m = [tool_call_msg(json!({"unit": "celsius", "location": "Tokyo"}))];
    let got = ollama::execute(&t, &Values { messages: &m, ..Default::default() }).unwrap();
    assert_eq!(got, r#"{"location":"Tokyo","unit":"celsius"}"#);
    // Ranging over them.
    let t = ollama::parse("{{- range .Messages }}{{- range .ToolCalls }}{{- range $k, $v := .Function.Arguments }}{{ $k }}={{ $v }};{{- end }}{{- end }}{{- end }}").unwrap();
    let m = [tool_call_msg(json!({"city": "Tokyo", "n": 3, "big": 1000000}))];
    let got = ollama::execute(&t, &Values { messages: &m, ..Default::default() }).unwrap();
    // Numbers are float64 as Go decodes them: 1e+06.
    assert_eq!(got, "big=1e+06;city=Tokyo;n=3;");
    // No arguments: "{}" printed, null as JSON; id/index/name.
    let t = ollama::parse(r#"{{ range .Messages }}{{ range .ToolCalls }}[{{ .ID }}|{{ .Function.Index }}|{{ .Function.Name }}|{{ .Function.Arguments }}|{{ json .Function.Arguments }}]{{ end }}{{ end }}"#).unwrap();
    let m = [ChatMessage {
        tool_calls: Some(json!([{"id": "call_1", "function": {"index": 2, "name": "f"}}])),
        ..msg("assistant", "")
    }];
    assert_eq!(ollama::execute(&t, &Values { messages: &m, ..Default::default() }).unwrap(), "[call_1|2|f|{}|null]");
}

fn weather_tools() -> serde_json::Value {
    json!([{
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get weather <now>",
            "parameters": {
                "type": "object",
                "required": ["location"],
                "additionalProperties": false,
                "properties": {
                    "location": {"type": "string", "description": "City name", "minLength": 1},
                    "unit": {"type": ["string", "null"], "enum": ["c", "f"]}
                }
            }
        }
    }])
}

#[test]
fn ollama_tools() {
    let tools = weather_tools();
    let m = [msg("user", "test")];
    let v = Values { messages: &m, tools: Some(&tools), ..Default::default() };
    // Properties print as JSON; unknown schema keywords are dropped like api.Tool decoding does;
    // <, > are escaped like json.Marshal.
    let t = ollama::parse(
        "{{- range .Messages }}{{- end }}{{- range .Tools }}{{ .Function.Parameters.Properties }}{{- end }}",
    )
    .unwrap();
    assert_eq!(
        ollama::execute(&t, &v).unwrap(),
        r#"{"location":{"type":"string","description":"City name"},"unit":{"type":["string","null"],"enum":["c","f"]}}"#
    );
    let t = ollama::parse("{{- range .Messages }}{{- end }}{{- range .Tools }}{{- range $name, $prop := .Function.Parameters.Properties }}{{ $name }}:{{ $prop.Type }};{{- end }}{{- end }}").unwrap();
    assert_eq!(ollama::execute(&t, &v).unwrap(), "location:string;unit:[string null];");
    // .Tools, json .Tools, a tool, .Function (JSON — see the module docs).
    let full = r#"[{"type":"function","function":{"name":"get_weather","description":"Get weather \u003cnow\u003e","parameters":{"type":"object","required":["location"],"properties":{"location":{"type":"string","description":"City name"},"unit":{"type":["string","null"],"enum":["c","f"]}}}}}]"#;
    let t = ollama::parse("{{ .Messages }}{{ .Tools }}|{{ json .Tools }}").unwrap();
    let got = ollama::execute(&t, &v).unwrap();
    assert!(got.ends_with(&format!("{full}|{full}")), "{got}");
    let t = ollama::parse("{{ .Messages }}{{ range .Tools }}{{ . }}|{{ .Function }}{{ end }}").unwrap();
    let got = ollama::execute(&t, &v).unwrap();
    let one = &full[1..full.len() - 1];
    let func = &one[one.find(r#"{"name""#).unwrap()..one.len() - 1];
    assert!(got.ends_with(&format!("{one}|{func}")), "{got}");
    // toTypeScriptType.
    let t = ollama::parse("{{ .Messages }}{{ range .Tools }}{{ range $n, $p := .Function.Parameters.Properties }}{{ $n }}: {{ toTypeScriptType $p }}; {{ end }}{{ end }}{{ toTypeScriptType 1 }}").unwrap();
    let got = ollama::execute(&t, &v).unwrap();
    assert!(got.ends_with("location: string; unit: string | null; any"), "{got}");
    // No tools: .Tools is false and prints null.
    let t =
        ollama::parse("{{ .Messages }}{{ if .Tools }}yes{{ else }}no{{ end }} {{ .Tools }} {{ len .Tools }}").unwrap();
    let got = ollama::execute(&t, &Values { messages: &m, ..Default::default() }).unwrap();
    assert!(got.ends_with("no null 0"), "{got}");
    // Capability: tools.
    assert!(t.vars().contains(&"tools".to_string()));
}

#[test]
fn ollama_message_fields_and_think() {
    let t = ollama::parse(
        "{{ range .Messages }}[{{ .Role }}|{{ .Content }}|{{ .Thinking }}|{{ .ToolName }}|{{ .ToolCallID }}|{{ len .Images }}|{{ if .ToolCalls }}tc{{ end }}]{{ end }}{{ .Think }} {{ .ThinkLevel }} {{ .IsThinkSet }} {{ .Prompt }}",
    )
    .unwrap();
    let m = [
        ChatMessage { thinking: Some("hmm".into()), ..msg("assistant", "a") },
        ChatMessage { tool_name: Some("f".into()), ..msg("tool", "r") },
    ];
    let got = ollama::execute(
        &t,
        &Values { messages: &m, think: Some(ThinkValue::Level("high".into())), ..Default::default() },
    )
    .unwrap();
    assert_eq!(got, "[assistant|a|hmm|||0|][tool|r||f||0|]true high true <no value>");
    let got = ollama::execute(&t, &Values { messages: &m, think: Some(true.into()), ..Default::default() }).unwrap();
    assert!(got.ends_with("true medium true <no value>"), "{got}");
    let got = ollama::execute(&t, &Values { messages: &m, ..Default::default() }).unwrap();
    assert!(got.ends_with("false  false <no value>"), "{got}");
    // An unknown message field is an error, as on Ollama's struct.
    let t = ollama::parse("{{ range .Messages }}{{ .Nope }}{{ end }}").unwrap();
    let e = ollama::execute(&t, &Values { messages: &m, ..Default::default() }).unwrap_err();
    assert!(e.contains("can't evaluate field Nope in type *template.templateMessage"), "{e}");
}

#[test]
fn ollama_render_prompt_system() {
    let t = ollama::parse(&std::fs::read_to_string(testdata().join("templates/chatml.gotmpl")).unwrap()).unwrap();
    let got = ollama::render_prompt(&t, Some("Be brief."), &[msg("user", "Hi")], None, None).unwrap();
    assert_eq!(got, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    let got = ollama::render_prompt(&t, Some(""), &[msg("user", "Hi")], None, None).unwrap();
    assert_eq!(got, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

#[test]
fn ollama_legacy_templates() {
    // The default template: one execution per exchange, the appended {{ .Response }} included.
    let t = ollama::default_template();
    assert_eq!(t.vars(), ["prompt", "response"]);
    let m = [msg("user", "Hello"), msg("assistant", "Hi!"), msg("user", "How are you")];
    assert_eq!(ollama::execute(&t, &Values { messages: &m, ..Default::default() }).unwrap(), "HelloHi!How are you");
    // Everything after .Response is cut in the last execution, including later siblings and
    // the rest of enclosing blocks.
    let t = ollama::parse(
        "{{ if .System }}S:{{ .System }} {{ end }}U:{{ .Prompt }} A:{{ if .Prompt }}<{{ .Response }}>{{ end }}</s>",
    )
    .unwrap();
    let m = [msg("system", "sys"), msg("user", "q1"), msg("assistant", "a1"), msg("user", "q2")];
    assert_eq!(
        ollama::execute(&t, &Values { messages: &m, ..Default::default() }).unwrap(),
        "S:sys U:q1 A:<a1></s>U:q2 A:<"
    );
    // A system message after a turn starts a new execution; tool messages are ignored.
    let t = ollama::parse("[{{ .System }}|{{ .Prompt }}|{{ .Response }}]").unwrap();
    let m = [msg("user", "q1"), msg("tool", "t"), msg("system", "s2"), msg("user", "q2"), msg("assistant", "partial")];
    assert_eq!(ollama::execute(&t, &Values { messages: &m, ..Default::default() }).unwrap(), "[|q1|][s2|q2|partial");
}

// ---------------------------------------------------------------------------------------------
// tools/template_test.go and thinking/template_test.go

#[test]
fn ollama_tool_call_tag() {
    let cases = [
        ("", "{"),
        ("{{if .ToolCalls}}{{end}}", "{"),
        ("{{if .ToolCalls}}{{range .ToolCalls}}{{ . }}{{end}}{{end}}", "{"),
        ("{{if .ToolCalls}}```json\n{{end}}", "```json"),
        ("{{if .ToolCalls}}[{{range .ToolCalls}}{{ . }}{{end}}]{{end}}", "["),
        ("{{if .ToolCalls}}\n [ {{range .ToolCalls}}{{ . }}{{end}}]{{end}}", "["),
        ("{{if .ToolCalls}}{{range .ToolCalls}}{{ . }}{{end}}]{{end}}", "{"),
        ("{{if .ToolCalls}} {{range .ToolCalls}}{{ . }}{{end}}{{end}}", "{"),
        ("{{if .ToolCalls}}{{range .ToolCalls}}\n{{ . }}\n{{end}}{{end}}", "{"),
        (r#"{{if .ToolCalls}}{{range .ToolCalls}}{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}}{{end}}{{end}}"#, "{"),
        ("{{if .ToolCalls}}{{range .ToolCalls}}\r\n{\"name\": \"{{ .Function.Name }}\"}{{end}}{{end}}", "{"),
        ("{{if .ToolCalls}}<|tool▁calls▁begin|>{{range .ToolCalls}}<|tool▁call▁begin|>x\n{{end}}<|tool▁calls▁end|>{{end}}", "<|tool▁calls▁begin|>"),
        (r#"{{if .ToolCalls}}{{range .ToolCalls}}<tool_call>{"name": "{{ .Function.Name }}"}</tool_call>{{end}}{{end}}"#, "<tool_call>"),
        ("{{if .ToolCalls}}First text{{if .Something}}inner{{end}}Second text{{end}}", "First text"),
        ("{{if .ToolCalls}}Action: ```json{{end}}", "Action: ```json"),
        ("{{if .ToolCalls}}functools[{{end}}", "functools["),
        ("{{if .ToolCalls}}[TOOL_CALL] [{{end}}", "[TOOL_CALL] ["),
        ("{{ range .Messages }}{{ if .Content }}x{{ else if .ToolCalls }}[TOOL_CALLS] [{{ end }}{{ end }}", "[TOOL_CALLS] ["),
    ];
    for (src, want) in cases {
        let t = Template::parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert_eq!(ollama::tool_call_tag(&t), want, "{src:?}");
    }
}

#[test]
fn ollama_thinking_tags() {
    let basic = "\n\t\t\t{{ if .Thinking}}\n\t\t\t\t/think\n\t\t\t{{ end }}\n\t\t\t{{- range $i, $_ := .Messages }}\n\t\t\t\t{{- $last := eq (len (slice $.Messages $i)) 1 -}}\n\t\t\t\t{{ if and $last .Thinking }}\n\t\t\t\t\t<think>{{ .Thinking }}</think>\n\t\t\t\t{{ end }}\n\t\t\t{{ end }}\n\t\t";
    let nested = "\n{{- range $i, $_ := .Messages }}\n{{- range $j, $_ := .NotMessages }}\n{{ if .Thinking }}<think>{{ .Thinking }}</think>{{ end }}\n{{ end }}\n{{ end }}";
    let trimmed = "{{- range $i, $_ := .Messages }}\n{{ if .Thinking }}\n   Some text before   {{ .Thinking }}    Some text after\n{{ end }}{{ end }}";
    let cases = [
        (basic, "<think>", "</think>"),
        (nested, "", ""),
        (trimmed, "Some text before", "Some text after"),
        ("{{ .Thinking }}", "", ""),
    ];
    for (src, open, close) in cases {
        let t = Template::parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert_eq!(ollama::infer_thinking_tags(&t), (open.to_string(), close.to_string()), "{src:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Engine: constructs.

#[test]
fn text_and_fields() {
    assert_eq!(ok("hello", json!({})), "hello");
    assert_eq!(ok("", json!({})), "");
    assert_eq!(ok("{{ .A }}-{{ .B.C }}-{{.B.D.E}}", json!({"A": "x", "B": {"C": 1, "D": {"E": true}}})), "x-1-true");
    assert_eq!(ok("{{ $ }}", json!("root")), "root");
    assert_eq!(ok("{{ . }}", json!([1, "a", null])), "[1 a <nil>]");
    assert_eq!(ok("{{ . }}", json!({"b": 1, "a": [true]})), "map[a:[true] b:1]");
    assert_eq!(ok("{{ .x }}", json!({"x": 1.5})), "1.5");
    assert_eq!(ok("{{ .x }}", json!({"x": 1e21})), "1e+21");
    assert_eq!(ok("{{ .x }}", json!({"x": 0.00001})), "1e-05");
    assert_eq!(ok("{{ .x }}", json!({"x": 123456.0})), "123456");
    assert_eq!(ok("{{ .x }}", json!({"x": 1234567.0})), "1.234567e+06");
    // Missing keys: <no value>; nil values likewise.
    assert_eq!(ok("[{{ .Missing }}]", json!({})), "[<no value>]");
    assert_eq!(ok("[{{ .N }}]", json!({"N": null})), "[<no value>]");
    assert_eq!(ok("[{{ print .Missing }}]", json!({})), "[<nil>]");
    // A field of a missing key is an error (Go: nil pointer evaluating interface {}.B).
    let e = err("{{ .A.B }}", json!({}));
    assert!(e.contains("nil pointer evaluating interface {}.B"), "{e}");
    // …but a field of nil data or of a nil variable is just nothing.
    assert_eq!(ok("[{{ .A.B }}]", json!(null)), "[<no value>]");
    assert_eq!(ok("{{ $x := .M }}[{{ $x.A }}]", json!({})), "[<no value>]");
    let e = err("{{ .A.B }}", json!({"A": "s"}));
    assert!(e.contains("can't evaluate field B in type string"), "{e}");
    assert!(e.starts_with("template: :1:3: executing \"\" at <.A.B>:"), "{e}");
}

#[test]
fn trimming_and_comments() {
    assert_eq!(ok("a  {{- 1 -}}  b", json!({})), "a1b");
    assert_eq!(ok("a \n\t{{- 1 }} \n b", json!({})), "a1 \n b");
    assert_eq!(ok("a {{ 1 -}} \n\r\t b", json!({})), "a 1b");
    assert_eq!(ok("a {{/* comment */}} b", json!({})), "a  b");
    assert_eq!(ok("a {{- /* comment\n spanning */ -}} b", json!({})), "ab");
    assert_eq!(ok("{{-3}}", json!({})), "-3");
    assert_eq!(ok("{{ 3 -}}\n", json!({})), "3");
    assert_eq!(ok("x{{- \"\" -}}\n\n{{- \"y\" }}", json!({})), "xy");
    assert!(err("{{/* x */ .A }}", json!({})).contains("comment ends before closing delimiter"));
    assert!(err("{{/* x ", json!({})).contains("unclosed comment"));
}

#[test]
fn literals() {
    assert_eq!(ok(r#"{{ "a\tb\n\"c\" \u00e9 \x41" }}"#, json!({})), "a\tb\n\"c\" é A");
    assert_eq!(ok("{{ `raw \\n {{` }}", json!({})), "raw \\n {{");
    assert_eq!(ok("{{ 'a' }} {{ '\\n' }}", json!({})), "97 10");
    assert_eq!(
        ok("{{ 0x1F }} {{ 0o17 }} {{ 017 }} {{ 0b101 }} {{ 1_000 }} {{ -5 }} {{ +5 }}", json!({})),
        "31 15 15 5 1000 -5 5"
    );
    assert_eq!(ok("{{ 1.5 }} {{ 1e3 }} {{ .5 }} {{ 2.0 }}", json!({})), "1.5 1000 0.5 2");
    assert_eq!(ok("{{ true }} {{ false }}", json!({})), "true false");
    assert!(err("{{ nil }}", json!({})).contains("nil is not a command"));
    assert!(err("{{ 1i }}", json!({})).contains("not supported"));
    assert!(err(r#"{{ "abc }}"#, json!({})).contains("unterminated quoted string"));
    assert!(err("{{ 3x }}", json!({})).contains("bad number syntax"));
    assert!(err("{{ 99999999999999999999 }}", json!({})).contains("overflows int"));
    assert!(err(r#"{{ "\q" }}"#, json!({})).contains("invalid syntax"));
}

#[test]
fn variables() {
    assert_eq!(ok("{{ $x := 1 }}{{ $x }}{{ $x = 2 }}{{ $x }}", json!({})), "12");
    assert_eq!(ok("{{ $x := .A }}{{ with .B }}{{ $x }}{{ . }}{{ end }}", json!({"A": "a", "B": "b"})), "ab");
    // Assignment inside a block changes the outer variable; declarations are scoped.
    assert_eq!(ok("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ end }}{{ $x }}", json!({})), "2");
    assert!(err("{{ if true }}{{ $y := 3 }}{{ end }}{{ $y }}", json!({})).contains("undefined variable \"$y\""));
    assert!(err("{{ $z }}", json!({})).contains("undefined variable"));
    assert!(err("{{ $z = 1 }}", json!({})).contains("undefined variable: $z"));
    assert_eq!(ok("{{ $.A }}{{ with .B }}{{ $.A }}{{ end }}", json!({"A": 1, "B": 2})), "11");
    assert_eq!(ok("{{ $m := .M }}{{ $m.k }}", json!({"M": {"k": "v"}})), "v");
    assert_eq!(ok("{{ if $v := .A }}{{ $v }}{{ end }}", json!({"A": 7})), "7");
}

#[test]
fn pipelines_and_parens() {
    assert_eq!(ok(r#"{{ "x" | printf "%s-%s" "a" }}"#, json!({})), "a-x");
    assert_eq!(ok("{{ .A | len | printf \"%03d\" }}", json!({"A": [1, 2]})), "002");
    assert_eq!(
        ok(
            "{{ (len .A) }} {{ (index .M \"k\").z }} {{ printf \"%d\" (len (slice .A 1)) }}",
            json!({"A": [1, 2], "M": {"k": {"z": "deep"}}})
        ),
        "2 deep 1"
    );
    assert!(err("{{ 1 | 2 }}", json!({})).contains("non executable command in pipeline stage 2"));
    assert!(err("{{ .A 1 }}", json!({"A": {}})).contains("A is not a method but has arguments"));
    assert!(err("{{ \"x\" 1 }}", json!({})).contains("can't give argument to non-function"));
    assert!(err("{{ (1 }}", json!({})).contains("unclosed left paren"));
    assert!(err("{{ 1) }}", json!({})).contains("unexpected right paren"));
    assert!(err("{{ }}", json!({})).contains("missing value for command"));
    // Go's parser accepts a trailing `|`.
    assert_eq!(ok("{{ .A | }}", json!({"A": 1})), "1");
    assert!(err("{{ | .A }}", json!({})).contains("unexpected \"|\" in command"));
    assert!(err("{{ 1.X }}", json!({})).contains("bad number syntax"));
    assert!(err("{{ \"s\".X }}", json!({})).contains("unexpected . after term"));
    assert_eq!(ok("{{ (.M).k }} {{ (index .L 0).k }}", json!({"M": {"k": 1}, "L": [{"k": 2}]})), "1 2");
}

#[test]
fn conditionals() {
    let t = "{{ if .A }}a{{ else if .B }}b{{ else if eq .C 3 }}c{{ else }}d{{ end }}";
    assert_eq!(ok(t, json!({"A": 1})), "a");
    assert_eq!(ok(t, json!({"B": "x"})), "b");
    assert_eq!(ok(t, json!({"C": 3})), "c");
    assert_eq!(ok(t, json!({"C": 4})), "d");
    // Go truthiness.
    for (v, want) in [
        (json!(0), "F"),
        (json!(0.0), "F"),
        (json!(""), "F"),
        (json!([]), "F"),
        (json!({}), "F"),
        (json!(false), "F"),
        (json!(null), "F"),
        (json!(1), "T"),
        (json!(" "), "T"),
        (json!([0]), "T"),
        (json!({"a": 0}), "T"),
        (json!(-0.5), "T"),
    ] {
        assert_eq!(ok("{{ if .V }}T{{ else }}F{{ end }}", json!({ "V": v })), want);
    }
    assert_eq!(ok("{{ if .Missing }}T{{ else }}F{{ end }}", json!({})), "F");
    assert_eq!(ok("{{ with .A }}{{ .B }}{{ else }}none{{ end }}", json!({"A": {"B": "b"}})), "b");
    assert_eq!(ok("{{ with .A }}{{ .B }}{{ else }}none{{ end }}", json!({})), "none");
    assert_eq!(ok("{{ with .A }}a{{ else with .B }}{{ . }}{{ else }}none{{ end }}", json!({"B": "bb"})), "bb");
}

#[test]
fn range_loops() {
    assert_eq!(ok("{{ range .L }}[{{ . }}]{{ end }}", json!({"L": [1, 2, 3]})), "[1][2][3]");
    assert_eq!(ok("{{ range $i, $v := .L }}{{ $i }}={{ $v }},{{ end }}", json!({"L": ["a", "b"]})), "0=a,1=b,");
    assert_eq!(ok("{{ range $v := .L }}{{ $v }}{{ end }}", json!({"L": ["a", "b"]})), "ab");
    // Maps iterate in sorted key order.
    assert_eq!(
        ok("{{ range $k, $v := .M }}{{ $k }}:{{ $v }} {{ end }}", json!({"M": {"b": 2, "a": 1, "c": 3}})),
        "a:1 b:2 c:3 "
    );
    assert_eq!(ok("{{ range .L }}x{{ else }}empty{{ end }}", json!({"L": []})), "empty");
    assert_eq!(ok("{{ range .Missing }}x{{ else }}empty{{ end }}", json!({})), "empty");
    assert_eq!(ok("{{ range 3 }}{{ . }}{{ end }}", json!({})), "012");
    assert_eq!(ok("{{ range $i := 2 }}{{ $i }}{{ end }}", json!({})), "01");
    assert_eq!(
        ok(
            "{{ range .L }}{{ if eq . 2 }}{{ continue }}{{ end }}{{ if eq . 4 }}{{ break }}{{ end }}{{ . }}{{ end }}",
            json!({"L": [1, 2, 3, 4, 5]})
        ),
        "13"
    );
    // Assignment form.
    assert_eq!(
        ok("{{ $i := 0 }}{{ $v := 0 }}{{ range $i, $v = .L }}{{ end }}{{ $i }}{{ $v }}", json!({"L": ["a", "b"]})),
        "1b"
    );
    // Nested ranges and $.
    assert_eq!(
        ok(
            "{{ range .A }}{{ $x := . }}{{ range $.B }}{{ $x }}{{ . }} {{ end }}{{ end }}",
            json!({"A": [1, 2], "B": ["x", "y"]})
        ),
        "1x 1y 2x 2y "
    );
    assert!(err("{{ range .S }}{{ end }}", json!({"S": "str"})).contains("range can't iterate over str"));
    assert!(err("{{ range $i, $v := 3 }}{{ end }}", json!({}))
        .contains("can't use 3 to iterate over more than one variable"));
    assert!(err("{{ break }}", json!({})).contains("{{break}} outside {{range}}"));
    assert!(err("{{ range .L }}{{ if true }}{{ continue 1 }}{{ end }}{{ end }}", json!({})).contains("unexpected"));
    assert!(err("{{ range $a, $b, $c := .L }}{{ end }}", json!({})).contains("too many declarations"));
    assert!(err("{{ range .L }}", json!({})).contains("unexpected EOF"));
    assert!(err("{{ range .L }}{{ else if .X }}{{ end }}", json!({})).contains("unexpected <if>"));
}

#[test]
fn define_template_block() {
    let src =
        r#"{{ define "item" }}<{{ . }}>{{ end }}{{ range .L }}{{ template "item" . }}{{ end }}{{ template "item" }}"#;
    assert_eq!(ok(src, json!({"L": [1, 2]})), "<1><2><<no value>>");
    let src = r#"{{ block "b" .A }}[{{ . }}]{{ end }}"#;
    assert_eq!(ok(src, json!({"A": "x"})), "[x]");
    let t = Template::parse(r#"{{ define "b" }}({{ . }}){{ end }}{{ block "b" .A }}[{{ . }}]{{ end }}"#);
    assert!(t.unwrap_err().contains("multiple definition of template \"b\""));
    // Variables do not cross into a definition; $ is its argument.
    assert_eq!(ok(r#"{{ define "t" }}{{ $.K }}{{ end }}{{ template "t" .M }}"#, json!({"M": {"K": "k"}})), "k");
    assert!(err(r#"{{ $x := 1 }}{{ define "t" }}{{ $x }}{{ end }}"#, json!({})).contains("undefined variable"));
    assert!(err(r#"{{ template "nope" }}"#, json!({})).contains("no such template \"nope\""));
    // Unbounded recursion is an error, not a crash.
    assert!(err(r#"{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}"#, json!({}))
        .contains("exceeded maximum template depth"));
    // define is only allowed at top level.
    assert!(err(r#"{{ if true }}{{ define "x" }}{{ end }}{{ end }}"#, json!({})).contains("unexpected <define>"));
    let t = Template::parse(r#"{{ define "a" }}A{{ end }}{{ define "b" }}B{{ end }}x"#).unwrap();
    assert_eq!(t.definitions().map(|(n, _)| n).collect::<Vec<_>>(), ["a", "b"]);
}

#[test]
fn logic_functions() {
    assert_eq!(
        ok(
            "{{ and 1 0 2 }} {{ and 1 2 }} {{ or 0 \"\" }} {{ or 0 \"x\" 1 }} {{ not 0 }} {{ not .L }}",
            json!({"L": [1]})
        ),
        "0 2  x true false"
    );
    // Short-circuit: the failing index is never evaluated.
    assert_eq!(ok("{{ and false (index .L 10) }} {{ or true (index .L 10) }}", json!({"L": []})), "false true");
    assert!(err("{{ and true (index .L 10) }}", json!({"L": []})).contains("index out of range: 10"));
    assert!(err("{{ and }}", json!({})).contains("wrong number of args for and: want at least 1 got 0"));
    assert_eq!(ok("{{ 0 | and 1 }} {{ 3 | or 0 }}", json!({})), "0 3");
}

#[test]
fn comparison_functions() {
    assert_eq!(
        ok(
            "{{ eq 1 1 }} {{ eq 1 2 }} {{ eq \"a\" \"b\" \"a\" }} {{ eq .R \"user\" }} {{ eq true true }}",
            json!({"R": "user"})
        ),
        "true false true true true"
    );
    assert_eq!(
        ok("{{ ne 1 2 }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt \"b\" \"a\" }} {{ ge 1.5 2.5 }}", json!({})),
        "true true true true false"
    );
    assert_eq!(ok("{{ eq .Missing \"x\" }} {{ eq .X 1.0 }} {{ lt 1 1.5 }}", json!({"X": 1})), "false true true");
    assert!(err("{{ eq 1 \"1\" }}", json!({})).contains("incompatible types for comparison"));
    assert!(err("{{ lt true false }}", json!({})).contains("invalid type for comparison"));
    assert!(err("{{ eq .L .L }}", json!({"L": [1]})).contains("non-comparable type"));
    assert!(err("{{ eq 1 }}", json!({})).contains("missing argument for comparison"));
    assert!(err("{{ ne 1 }}", json!({})).contains("wrong number of args for ne: want 2 got 1"));
    assert!(err("{{ eq .X nil }}", json!({})).contains("cannot assign nil to reflect.Value"));
}

#[test]
fn collection_functions() {
    let d = json!({"L": [10, 20, 30], "S": "héllo", "M": {"a": {"b": "deep"}}});
    assert_eq!(ok("{{ len .L }} {{ len .S }} {{ len .M }}", d.clone()), "3 6 1");
    assert_eq!(
        ok(
            "{{ index .L 1 }} {{ index .M \"a\" \"b\" }} {{ index .S 0 }} [{{ index .M \"zz\" }}] {{ index .L }}",
            d.clone()
        ),
        "20 deep 104 [<no value>] [10 20 30]"
    );
    assert_eq!(
        ok("{{ slice .L 1 }} {{ slice .L 1 2 }} {{ slice .L 0 1 2 }} {{ slice .S 0 1 }} {{ slice .L }}", d.clone()),
        "[20 30] [20] [10] h [10 20 30]"
    );
    assert!(err("{{ index .L 3 }}", d.clone()).contains("error calling index: index out of range: 3"));
    assert!(err("{{ index .L -1 }}", d.clone()).contains("index out of range: -1"));
    assert!(err("{{ index .L \"a\" }}", d.clone()).contains("cannot index slice/array with type string"));
    assert!(err("{{ index .M 1 }}", d.clone()).contains("value has type int; should be string"));
    assert!(err("{{ index .Missing 1 }}", d.clone()).contains("index of untyped nil"));
    assert!(err("{{ index 5 1 }}", d.clone()).contains("can't index item of type int"));
    assert!(err("{{ slice .L 2 1 }}", d.clone()).contains("invalid slice index: 2 > 1"));
    assert!(err("{{ slice .S 0 1 2 }}", d.clone()).contains("cannot 3-index slice a string"));
    assert!(err("{{ slice .L 0 9 }}", d.clone()).contains("index out of range: 9"));
    assert!(err("{{ len 3 }}", d.clone()).contains("len of type int"));
    // Slicing a string in the middle of a character does not panic.
    assert_eq!(ok("{{ slice .S 0 2 }}", d), "h\u{FFFD}");
}

#[test]
fn print_functions() {
    assert_eq!(ok("{{ print 1 2 \"a\" \"b\" 3 .Missing }}", json!({})), "1 2ab3 <nil>");
    assert_eq!(ok("{{ println 1 \"a\" }}", json!({})), "1 a\n");
    assert_eq!(
        ok(
            r#"{{ printf "%s|%d|%v|%q|%5.2f|%-4s|%04d|%x|%X|%t|%c|%%|%T" "s" 42 .L "q\"" 3.14159 "ab" 7 255 "hi" true 65 .M }}"#,
            json!({"L": [1, "x"], "M": {}})
        ),
        "s|42|[1 x]|\"q\\\"\"| 3.14|ab  |0007|ff|6869|true|A|%|map[string]interface {}"
    );
    assert_eq!(ok(r#"{{ printf "%d %s" "x" 1 }}"#, json!({})), "%!d(string=x) %!s(int=1)");
    assert_eq!(ok(r#"{{ printf "%d" }} {{ printf "a" 1 }}"#, json!({})), "%!d(MISSING) a%!(EXTRA int=1)");
    assert_eq!(ok(r#"{{ printf "%v %s" .Missing .Missing }}"#, json!({})), "<nil> %!s(<nil>)");
    assert_eq!(
        ok(r#"{{ printf "%e %g %.3g %+d %8.3f|%-8v|" 1234.5678 0.000012 1234567.0 5 2.5 "x" }}"#, json!({})),
        "1.234568e+03 1.2e-05 1.23e+06 +5    2.500|x       |"
    );
    assert_eq!(
        ok(r#"{{ printf "%v %+v" .M .M }}"#, json!({"M": {"b": [1], "a": "x"}})),
        "map[a:x b:[1]] map[a:x b:[1]]"
    );
    assert_eq!(ok(r#"{{ printf "%[2]s %[1]s" "a" "b" }} {{ printf "%*d|" 4 7 }}"#, json!({})), "b a    7|");
    assert_eq!(
        ok(
            r#"{{ printf "%q" "é\n\x01" }} {{ printf "%+q" "é" }} {{ printf "%#q" "a" }} {{ printf "%U" 233 }}"#,
            json!({})
        ),
        "\"é\\n\\x01\" \"\\u00e9\" `a` U+00E9"
    );
    assert!(err("{{ printf 1 }}", json!({})).contains("wrong type for value; expected string; got int"));
    assert!(err("{{ printf }}", json!({})).contains("wrong number of args for printf"));
}

#[test]
fn escaping_functions() {
    assert_eq!(
        ok(r#"{{ html "<a href=\"x\">'&'</a>" }}"#, json!({})),
        "&lt;a href=&#34;x&#34;&gt;&#39;&amp;&#39;&lt;/a&gt;"
    );
    assert_eq!(
        ok(r#"{{ js "it's \"q\" <b> & = \\ \n é" }}"#, json!({})),
        "it\\'s \\\"q\\\" \\u003Cb\\u003E \\u0026 \\u003D \\\\ \\u000A é"
    );
    assert_eq!(ok(r#"{{ urlquery "a b&c=d/é~" }}"#, json!({})), "a+b%26c%3Dd%2F%C3%A9~");
    assert_eq!(ok("{{ html 1 2 }} {{ html .Missing }}", json!({})), "1 2 &lt;no value&gt;");
    assert_eq!(ok(r#"{{ "<x>" | html }}"#, json!({})), "&lt;x&gt;");
}

#[test]
fn json_function() {
    let d = json!({"M": {"b": 1, "a": [true, null, 1.5, "<&>"]}, "S": "a\"b\\\n\u{2028}", "F": 1e21, "G": 0.0000001, "I": 12});
    assert_eq!(ok("{{ json .M }}", d.clone()), r#"{"a":[true,null,1.5,"\u003c\u0026\u003e"],"b":1}"#);
    assert_eq!(ok("{{ json .S }}", d.clone()), r#""a\"b\\\n\u2028""#);
    assert_eq!(
        ok("{{ json .F }} {{ json .G }} {{ json .I }} {{ json .Missing }} {{ json 1.0 }}", d.clone()),
        "1e+21 1e-7 12 null 1"
    );
    assert!(err("{{ json }}", d).contains("wrong number of args for json: want 1 got 0"));
}

#[test]
fn error_cases() {
    for (src, want) in [
        ("{{ .Prompt ", "unclosed action"),
        ("{{ .A", "unclosed action"),
        ("{{ nope }}", "function \"nope\" not defined"),
        ("{{ end }}", "unexpected {{end}}"),
        ("{{ else }}", "unexpected {{else}}"),
        ("{{ if .A }}", "unexpected EOF"),
        ("{{ if }}{{ end }}", "missing value for if"),
        ("{{ if .A }}{{ else }}{{ else }}{{ end }}", "expected end; found {{else}}"),
        ("{{ range }}{{ end }}", "missing value for range"),
        ("{{ .A.B- }}", "bad character"),
        ("{{ @ }}", "unexpected \"@\" in command"),
        ("{{ .A := 1 }}", "unexpected \":=\" in operand"),
        ("{{ .A : 1 }}", "expected :="),
        ("{{ $x := 1 }}{{ $x :== 2 }}", "unexpected"),
        ("{{ template .X }}", "unexpected"),
        ("{{ define \"x\" }}", "unexpected EOF"),
        ("{{ \u{00e9} }}", "function \"é\" not defined"),
        ("{{ \u{2603} }}", "unrecognized character in action"),
        ("{{ with $x, $y := . }}{{ end }}", "too many declarations in with"),
    ] {
        match Template::parse(src) {
            Ok(t) => panic!("{src:?} parsed: {:?}", t.root()),
            Err(e) => {
                assert!(e.contains(want), "{src:?}: {e}");
                assert!(e.starts_with("template: :"), "{src:?}: {e}");
            }
        }
    }
    let e = Template::parse("line1\n{{ if .A }}\n{{ end }}\n{{ end }}").unwrap_err();
    assert_eq!(e, "template: :4: unexpected {{end}}");
    // Execution errors name the place.
    let e = run("ab\ncd{{ index .L 5 }}", json!({"L": []})).unwrap_err();
    assert_eq!(e, "template: :2:5: executing \"\" at <index .L 5>: error calling index: index out of range: 5");
    assert!(err("{{ call .F }}", json!({})).contains("error calling call: call of nil"));
    assert!(err("{{ .S.T }}", json!({"S": 1})).contains("can't evaluate field T in type int"));
}

#[test]
fn limits() {
    // Deep nesting is refused, not a stack overflow.
    let deep = "{{ if true }}".repeat(500) + &"{{ end }}".repeat(500);
    assert!(Template::parse(&deep).unwrap_err().contains("nested too deeply"));
    let parens = "{{ ".to_string() + &"(".repeat(500) + "1" + &")".repeat(500) + " }}";
    assert!(Template::parse(&parens).unwrap_err().contains("nested too deeply"));
    let ok_depth = "{{ if true }}".repeat(50) + "x" + &"{{ end }}".repeat(50);
    assert_eq!(ok(&ok_depth, json!({})), "x");
    // The deepest structure the parser allows, called recursively through templates, fails
    // cleanly (run this in debug builds too: it must not overflow the stack).
    let body = "{{ if true }}".repeat(60)
        + "{{ with ("
        + &"(".repeat(38)
        + "."
        + &")".repeat(38)
        + ") }}{{ template \"r\" . }}{{ end }}"
        + &"{{ end }}".repeat(60);
    let src = format!("{{{{ define \"r\" }}}}{body}{{{{ end }}}}{{{{ template \"r\" 1 }}}}");
    // The guest runs with a 1 MiB stack; stay well inside it (debug builds use more).
    let stack = if cfg!(debug_assertions) { 4 << 20 } else { 512 << 10 };
    let e = std::thread::Builder::new()
        .stack_size(stack)
        .spawn(move || Template::parse(&src).unwrap().execute(&json!({})).unwrap_err())
        .unwrap()
        .join()
        .unwrap();
    assert!(e.contains("exceeded maximum template depth"), "{e}");
    let e = Template::parse(&format!("{{{{ {}1{} }}}}", "(".repeat(99), ")".repeat(99)))
        .unwrap()
        .execute(&json!({}))
        .unwrap();
    assert_eq!(e, "1");
    // Runaway output is cut off.
    let t = Template::parse("{{ range 1000000 }}xxxxxxxxxx{{ end }}").unwrap();
    let opts = ExecOptions { max_output_bytes: 1 << 20, ..Default::default() };
    assert!(t.execute_value(&Value::Nil, &opts).unwrap_err().contains("output exceeds"));
    // Huge printf widths are refused like Go does.
    assert_eq!(ok(r#"{{ printf "%99999999d" 1 }}"#, json!({})), "%!(BADWIDTH)1");
}

/// Every prefix and many mutations of real templates parse or fail cleanly, and whatever parses
/// executes or fails cleanly.
#[test]
fn no_panics_on_mangled_templates() {
    let dir = testdata().join("templates");
    let mut sources: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap()).collect();
    sources.sort();
    sources.push(r#"{{ define "a" }}{{ block "b" . }}{{ printf "%v %[9]d %*.*f %" . 1 2 }}{{ end }}{{ end }}{{ template "a" . }}{{ range $i, $v := . }}{{ slice $v 0 }}{{ js $i }}{{ end }}"#.into());
    let data = [
        Value::Nil,
        Value::from(&json!({"Messages": [{"Role": "user"}], "Prompt": "p", "L": [1, "a", null], "M": {"k": {}}})),
    ];
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let pieces = [
        "{{", "}}", "{{-", "-}}", " ", "(", ")", "|", "$", ".", "\"", "`", "'", "end", "else", "range", "if", ":=",
        "=", ",", "/*", "*/", "0x", "é", "\n",
    ];
    let mut tried = 0;
    for src in &sources {
        let chars: Vec<char> = src.chars().collect();
        let mut variants: Vec<String> = (0..=chars.len()).step_by(7).map(|n| chars[..n].iter().collect()).collect();
        for _ in 0..200 {
            let mut v = chars.clone();
            for _ in 0..(1 + rnd() % 4) {
                let at = (rnd() as usize) % (v.len() + 1);
                match rnd() % 3 {
                    0 if at < v.len() => {
                        v.remove(at);
                    }
                    _ => {
                        let p = pieces[(rnd() as usize) % pieces.len()];
                        for (k, c) in p.chars().enumerate() {
                            v.insert(at + k, c);
                        }
                    }
                }
            }
            variants.push(v.into_iter().collect());
        }
        for s in variants {
            tried += 1;
            if let Ok(t) = Template::parse(&s) {
                for d in &data {
                    let _ = t.execute_value(d, &ExecOptions::default());
                }
                let m = [msg("system", "s"), msg("user", "u"), msg("assistant", "a"), msg("user", "v")];
                let _ = ollama::execute(&t, &Values { messages: &m, ..Default::default() });
                let _ = ollama::tool_call_tag(&t);
                let _ = ollama::infer_thinking_tags(&t);
            }
            let _ = ollama::parse(&s);
        }
    }
    assert!(tried > 4000);
}

// ---------------------------------------------------------------------------------------------
// Tool-using chat templates in the style of Ollama's library (Llama 3.x, Qwen), written for
// these tests; expected outputs worked out by hand from Go's semantics.

const LLAMA_STYLE: &str = r#"{{- if .System }}<|system|>{{ .System }}<|end|>{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq .Role "user" }}<|user|>
{{- if and $.Tools $last }}
Tools:
{{ range $.Tools }}{{ . }}
{{ end }}{{ end }}{{ .Content }}<|end|>
{{- else if eq .Role "assistant" }}<|assistant|>
{{- if .ToolCalls }}{{ range .ToolCalls }}{"name": "{{ .Function.Name }}", "parameters": {{ .Function.Arguments }}}{{ end }}
{{- else }}{{ .Content }}{{ end }}{{ if not $last }}<|end|>{{ end }}
{{- else if eq .Role "tool" }}<|tool|>{{ .Content }}<|end|>
{{- end }}
{{- if and (ne .Role "assistant") $last }}<|assistant|>{{ end }}
{{- end }}"#;

const QWEN_STYLE: &str = r#"{{- if .Tools }}<|im_start|>system
# Tools
<tools>
{{- range .Tools }}
{"type": "function", "function": {{ .Function }}}
{{- end }}
</tools><|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 -}}
{{- if eq .Role "user" }}<|im_start|>user
{{ .Content }}<|im_end|>
{{ else if eq .Role "assistant" }}<|im_start|>assistant
{{ if and $last .Thinking }}<think>{{ .Thinking }}</think>
{{ end }}{{ if .Content }}{{ .Content }}
{{- else if .ToolCalls }}<tool_call>
{{ range .ToolCalls }}{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}}
{{ end }}</tool_call>
{{- end }}{{ if not $last }}<|im_end|>
{{ end }}
{{- else if eq .Role "tool" }}<|im_start|>user
<tool_response>
{{ .Content }}
</tool_response><|im_end|>
{{ end }}
{{- if and (ne .Role "assistant") $last }}<|im_start|>assistant
{{ end }}
{{- end }}"#;

const WEATHER_FUNCTION_JSON: &str = r#"{"name":"get_weather","description":"Get weather \u003cnow\u003e","parameters":{"type":"object","required":["location"],"properties":{"location":{"type":"string","description":"City name"},"unit":{"type":["string","null"],"enum":["c","f"]}}}}"#;

#[test]
fn tool_round_trip_llama_style() {
    let t = ollama::parse(LLAMA_STYLE).unwrap();
    let tools = weather_tools();
    let m = [
        msg("system", "S"),
        msg("user", "weather?"),
        ChatMessage {
            tool_calls: Some(json!([{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}])),
            ..msg("assistant", "")
        },
        ChatMessage { tool_name: Some("get_weather".into()), ..msg("tool", "sunny") },
        msg("user", "thanks"),
    ];
    let got = ollama::execute(&t, &Values { messages: &m, tools: Some(&tools), ..Default::default() }).unwrap();
    let tool_json = format!(r#"{{"type":"function","function":{WEATHER_FUNCTION_JSON}}}"#);
    let want = format!(
        "<|system|>S<|end|><|user|>weather?<|end|><|assistant|>{{\"name\": \"get_weather\", \"parameters\": {{\"city\":\"Paris\"}}}}<|end|><|tool|>sunny<|end|><|user|>\nTools:\n{tool_json}\nthanks<|end|><|assistant|>"
    );
    assert_eq!(got, want);
    assert_eq!(ollama::tool_call_tag(&t), "{");
    assert_eq!(
        t.vars().iter().filter(|v| ["tools", "toolcalls", "messages", "system"].contains(&v.as_str())).count(),
        4
    );
}

#[test]
fn tool_round_trip_qwen_style() {
    let t = ollama::parse(QWEN_STYLE).unwrap();
    assert_eq!(ollama::tool_call_tag(&t), "<tool_call>");
    assert_eq!(ollama::infer_thinking_tags(&t), ("<think>".to_string(), "</think>".to_string()));
    let tools = weather_tools();
    let m = [
        msg("user", "What's the weather in Paris?"),
        ChatMessage {
            thinking: Some("need a tool".into()),
            tool_calls: Some(json!([{"function": {"name": "get_weather", "arguments": {"location": "Paris"}}}])),
            ..msg("assistant", "")
        },
        msg("tool", "sunny"),
    ];
    let got = ollama::execute(&t, &Values { messages: &m, tools: Some(&tools), ..Default::default() }).unwrap();
    let want = format!(
        "<|im_start|>system\n# Tools\n<tools>\n{{\"type\": \"function\", \"function\": {WEATHER_FUNCTION_JSON}}}\n</tools><|im_end|>\n<|im_start|>user\nWhat's the weather in Paris?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{{\"name\": \"get_weather\", \"arguments\": {{\"location\":\"Paris\"}}}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\nsunny\n</tool_response><|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(got, want);
    // A trailing assistant message (prefill) with thinking: no end marker.
    let m = [msg("user", "Hi"), ChatMessage { thinking: Some("hmm".into()), ..msg("assistant", "Hello") }];
    let got = ollama::execute(&t, &Values { messages: &m, ..Default::default() }).unwrap();
    assert_eq!(got, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>hmm</think>\nHello");
}

//! The Modelfile language, parsed with the same character-level state
//! machine as Ollama's `parser/parser.go`, so odd inputs (trailing spaces,
//! quotes inside values, CRLF line counting) behave identically.
//!
//! ```text
//! FROM llama3.2            # model name, GGUF path or safetensors dir
//! PARAMETER stop "<|eot_id|>"
//! TEMPLATE """{{ .Prompt }}"""
//! SYSTEM You are terse.
//! MESSAGE user Hi
//! ```
//!
//! Commands are case-insensitive; values are plain (trimmed), `"…"` or
//! `"""…"""` (may span lines). `#` starts a comment at the start of a line.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::options::{go_format_value, params_from_modelfile, OptionError, DEPRECATED_PARAMETERS};

const INVALID_COMMAND: &str = "command must be one of \"from\", \"license\", \"template\", \"system\", \"adapter\", \"draft\", \"renderer\", \"parser\", \"parameter\", \"message\", or \"requires\"";
const INVALID_ROLE: &str = "message role must be one of \"system\", \"user\", or \"assistant\"";

/// Modelfile errors, worded as Ollama's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelfileError {
    /// A syntax error at a line (`(line 3): command must be one of …`).
    #[error("(line {line}): {msg}")]
    Syntax { line: usize, msg: String },
    /// Input ended inside a command or an open quote; Go's
    /// `io.ErrUnexpectedEOF`, optionally with the pending text.
    #[error("unexpected EOF{}", .0.as_ref().map(|s| format!(": {s}")).unwrap_or_default())]
    UnexpectedEof(Option<String>),
    #[error("no FROM line")]
    MissingFrom,
    #[error(transparent)]
    Parameter(#[from] OptionError),
    #[error("requires must be a valid semver (e.g. 0.14.0)")]
    InvalidRequires,
}

/// One instruction. `name` is lower case: `model` for FROM, the parameter
/// name for PARAMETER, else the command; MESSAGE args are `role: text`
/// (Ollama's representation, kept so rendering round-trips).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub name: String,
    pub args: String,
}

impl Command {
    pub fn new(name: &str, args: impl Into<String>) -> Command {
        Command {
            name: name.to_string(),
            args: args.into(),
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name.as_str() {
            "model" => write!(f, "FROM {}", self.args),
            "license" | "template" | "system" | "adapter" | "renderer" | "parser" | "requires"
            | "draft" => write!(f, "{} {}", self.name.to_uppercase(), quote(&self.args)),
            "message" => {
                let (role, msg) = self.args.split_once(": ").unwrap_or((&self.args, ""));
                write!(f, "MESSAGE {role} {}", quote(msg))
            }
            _ => write!(f, "PARAMETER {} {}", self.name, quote(&self.args)),
        }
    }
}

/// A parsed Modelfile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Modelfile {
    pub commands: Vec<Command>,
}

/// Renders one command per line (`ollama show --modelfile` body).
impl fmt::Display for Modelfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.commands {
            writeln!(f, "{c}")?;
        }
        Ok(())
    }
}

/// A chat message of the `messages` layer / `MESSAGE` command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
    /// Images, tool calls, … carried through untouched.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Message {
    pub fn new(role: &str, content: &str) -> Message {
        Message {
            role: role.into(),
            content: content.into(),
            extra: Map::new(),
        }
    }
}

/// What a Modelfile asks `/api/create` for (Ollama's
/// `Modelfile.CreateRequest`, minus local path hashing, which the CLI does).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelfileRequest {
    /// FROM arguments in order; each is a model name or a local path the
    /// caller resolves (relative to the Modelfile, `~` expanded).
    pub from: Vec<String>,
    pub adapters: Vec<String>,
    pub drafts: Vec<String>,
    pub template: Option<String>,
    pub system: Option<String>,
    pub license: Vec<String>,
    pub renderer: Option<String>,
    pub parser: Option<String>,
    /// Normalised without a `v` prefix.
    pub requires: Option<String>,
    /// Typed parameters (`stop` as a list), as `/api/create` expects.
    pub parameters: Map<String, Value>,
    pub messages: Vec<Message>,
    /// `warning: parameter X is deprecated` lines.
    pub warnings: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Nil,
    Name,
    Value,
    Parameter,
    Message,
    Comment,
}

enum Step {
    Ok(State, Option<char>),
    InvalidCommand,
    UnexpectedEof,
}

impl Modelfile {
    /// Parses raw file bytes: a UTF-16 (LE/BE) or UTF-8 byte-order mark
    /// selects the encoding, anything else is UTF-8 with invalid sequences
    /// replaced (Go's `BOMOverride(UTF8 decoder)`).
    pub fn parse_bytes(bytes: &[u8]) -> Result<Modelfile, ModelfileError> {
        let text = match bytes {
            [0xFF, 0xFE, rest @ ..] => decode_utf16(rest, u16::from_le_bytes),
            [0xFE, 0xFF, rest @ ..] => decode_utf16(rest, u16::from_be_bytes),
            [0xEF, 0xBB, 0xBF, rest @ ..] => String::from_utf8_lossy(rest).into_owned(),
            _ => String::from_utf8_lossy(bytes).into_owned(),
        };
        Self::parse(&text)
    }

    /// Parses Modelfile text.
    pub fn parse(input: &str) -> Result<Modelfile, ModelfileError> {
        let mut f = Modelfile::default();
        let mut cmd = Command::new("", "");
        let mut curr = State::Nil;
        let mut line = 1usize;
        let mut buf = String::new();
        let mut role = String::new();

        for r in input.chars() {
            if is_newline(r) {
                line += 1;
            }
            let (mut next, out) = match step(r, curr) {
                Step::Ok(s, out) => (s, out),
                Step::InvalidCommand => {
                    return Err(ModelfileError::Syntax {
                        line,
                        msg: INVALID_COMMAND.into(),
                    })
                }
                Step::UnexpectedEof => return Err(ModelfileError::UnexpectedEof(Some(buf))),
            };

            if next != curr {
                match curr {
                    State::Name => {
                        if !is_valid_command(&buf) {
                            return Err(ModelfileError::Syntax {
                                line,
                                msg: INVALID_COMMAND.into(),
                            });
                        }
                        match buf.to_ascii_lowercase().as_str() {
                            "from" => cmd.name = "model".into(),
                            // The parameter name is read in its own state.
                            "parameter" => next = State::Parameter,
                            "message" => {
                                next = State::Message;
                                cmd.name = "message".into();
                            }
                            other => cmd.name = other.into(),
                        }
                    }
                    State::Parameter => cmd.name = buf.clone(),
                    State::Message => {
                        if !is_valid_role(&buf) {
                            return Err(ModelfileError::Syntax {
                                line,
                                msg: INVALID_ROLE.into(),
                            });
                        }
                        role = buf.clone();
                    }
                    State::Comment | State::Nil => {}
                    State::Value => {
                        // A value ends at a newline only once its quotes are
                        // balanced; spaces and newlines inside are kept.
                        match unquote(buf.trim()) {
                            Some(s) if !out.is_some_and(is_space) => {
                                let args = if role.is_empty() {
                                    s
                                } else {
                                    format!("{}: {s}", std::mem::take(&mut role))
                                };
                                cmd.args = args;
                                f.commands.push(cmd.clone());
                            }
                            _ => {
                                if let Some(c) = out {
                                    buf.push(c);
                                }
                                continue;
                            }
                        }
                    }
                }
                buf.clear();
                curr = next;
            }

            if let Some(c) = out.filter(|c| is_print(*c)) {
                buf.push(c);
            }
        }

        match curr {
            State::Comment | State::Nil => {}
            State::Value => {
                let s = unquote(buf.trim()).ok_or(ModelfileError::UnexpectedEof(None))?;
                cmd.args = if role.is_empty() {
                    s
                } else {
                    format!("{role}: {s}")
                };
                f.commands.push(cmd);
            }
            _ => return Err(ModelfileError::UnexpectedEof(None)),
        }

        if f.commands.iter().any(|c| c.name == "model") {
            Ok(f)
        } else {
            Err(ModelfileError::MissingFrom)
        }
    }

    /// Converts to create-request fields, validating parameters
    /// (`unknown parameter 'x'`, `invalid float value [..]`) and `REQUIRES`.
    pub fn to_request(&self) -> Result<ModelfileRequest, ModelfileError> {
        let mut req = ModelfileRequest::default();
        let mut params: Vec<(&str, &str)> = Vec::new();
        for c in &self.commands {
            match c.name.as_str() {
                "model" => req.from.push(c.args.clone()),
                "adapter" => req.adapters.push(c.args.clone()),
                "draft" => req.drafts.push(c.args.clone()),
                "template" => req.template = Some(c.args.clone()),
                "system" => req.system = Some(c.args.clone()),
                "license" => req.license.push(c.args.clone()),
                "renderer" => req.renderer = Some(c.args.clone()),
                "parser" => req.parser = Some(c.args.clone()),
                "requires" => {
                    let v = c.args.strip_prefix('v').unwrap_or(&c.args);
                    if !is_semver(v) {
                        return Err(ModelfileError::InvalidRequires);
                    }
                    req.requires = Some(v.to_string());
                }
                "message" => {
                    let (role, content) = c.args.split_once(": ").unwrap_or((&c.args, ""));
                    req.messages.push(Message::new(role, content));
                }
                name if DEPRECATED_PARAMETERS.contains(&name) => {
                    req.warnings
                        .push(format!("warning: parameter {name} is deprecated"));
                }
                name => params.push((name, c.args.as_str())),
            }
        }
        req.parameters = params_from_modelfile(params)?;
        Ok(req)
    }

    /// Appends `PARAMETER` lines for a params map (Go `%v` formatting; one
    /// line per list element; keys sorted).
    pub fn push_parameters(&mut self, params: &Map<String, Value>) {
        let mut keys: Vec<&String> = params.keys().collect();
        keys.sort();
        for k in keys {
            match &params[k] {
                Value::Array(items) => {
                    for v in items {
                        self.commands.push(Command::new(k, go_format_value(v)));
                    }
                }
                v => self.commands.push(Command::new(k, go_format_value(v))),
            }
        }
    }
}

/// Parts of a stored model that `ollama show --modelfile` prints.
#[derive(Clone, Debug, Default)]
pub struct ShowModelfile<'a> {
    /// Shortest display name, for the `# FROM <name>` hint.
    pub short_name: &'a str,
    /// Blob path of the model layer.
    pub model_path: &'a str,
    pub adapter_paths: &'a [String],
    pub draft_path: Option<&'a str>,
    pub projector_paths: &'a [String],
    pub template: Option<&'a str>,
    pub system: &'a str,
    pub renderer: &'a str,
    pub parser: &'a str,
    pub params: Option<&'a Map<String, Value>>,
    pub license: &'a [String],
    pub messages: &'a [Message],
}

impl ShowModelfile<'_> {
    /// The Modelfile in Ollama's order (FROM, ADAPTER, DRAFT, projector FROM,
    /// TEMPLATE, SYSTEM, RENDERER, PARSER, PARAMETER, LICENSE, MESSAGE).
    pub fn modelfile(&self) -> Modelfile {
        let mut m = Modelfile::default();
        m.commands.push(Command::new("model", self.model_path));
        for a in self.adapter_paths {
            m.commands.push(Command::new("adapter", a.clone()));
        }
        if let Some(d) = self.draft_path {
            m.commands.push(Command::new("draft", d));
        }
        for p in self.projector_paths {
            m.commands.push(Command::new("model", p.clone()));
        }
        if let Some(t) = self.template {
            m.commands.push(Command::new("template", t));
        }
        for (name, v) in [
            ("system", self.system),
            ("renderer", self.renderer),
            ("parser", self.parser),
        ] {
            if !v.is_empty() {
                m.commands.push(Command::new(name, v));
            }
        }
        if let Some(p) = self.params {
            m.push_parameters(p);
        }
        for l in self.license {
            m.commands.push(Command::new("license", l.clone()));
        }
        for msg in self.messages {
            m.commands.push(Command::new(
                "message",
                format!("{}: {}", msg.role, msg.content),
            ));
        }
        m
    }

    /// The full `modelfile` string of `/api/show`, header included.
    pub fn render(&self) -> String {
        format!(
            "# Modelfile generated by \"ollama show\"\n\
             # To build a new Modelfile based on this, replace FROM with:\n\
             # FROM {}\n\n{}",
            self.short_name,
            self.modelfile()
        )
    }
}

fn step(r: char, cs: State) -> Step {
    match cs {
        State::Nil => match r {
            '#' => Step::Ok(State::Comment, None),
            c if is_space(c) || is_newline(c) => Step::Ok(State::Nil, None),
            c => Step::Ok(State::Name, Some(c)),
        },
        State::Name => match r {
            c if c.is_ascii_alphabetic() => Step::Ok(State::Name, Some(c)),
            c if is_space(c) => Step::Ok(State::Value, None),
            _ => Step::InvalidCommand,
        },
        State::Value => match r {
            c if is_newline(c) || is_space(c) => Step::Ok(State::Nil, Some(c)),
            c => Step::Ok(State::Value, Some(c)),
        },
        State::Parameter => match r {
            c if c.is_ascii_alphanumeric() || c == '_' => Step::Ok(State::Parameter, Some(c)),
            c if is_space(c) => Step::Ok(State::Value, None),
            _ => Step::UnexpectedEof,
        },
        State::Message => match r {
            c if c.is_ascii_alphabetic() => Step::Ok(State::Message, Some(c)),
            c if is_space(c) => Step::Ok(State::Value, None),
            _ => Step::UnexpectedEof,
        },
        State::Comment => match r {
            c if is_newline(c) => Step::Ok(State::Nil, None),
            _ => Step::Ok(State::Comment, None),
        },
    }
}

/// Quotes a value for rendering the way Ollama does: only when it has a
/// newline or leading/trailing space; triple quotes when it contains `"`.
pub fn quote(s: &str) -> String {
    if s.contains('\n') || s.starts_with(' ') || s.ends_with(' ') {
        if s.contains('"') {
            return format!("\"\"\"{s}\"\"\"");
        }
        return format!("\"{s}\"");
    }
    s.to_string()
}

/// `None` when a quote is opened but not (yet) closed.
fn unquote(s: &str) -> Option<String> {
    if let Some(rest) = s.strip_prefix("\"\"\"") {
        return (s.len() >= 6 && rest.ends_with("\"\"\""))
            .then(|| rest[..rest.len() - 3].to_string());
    }
    if let Some(rest) = s.strip_prefix('"') {
        return (s.len() >= 2 && rest.ends_with('"')).then(|| rest[..rest.len() - 1].to_string());
    }
    Some(s.to_string())
}

fn is_space(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_newline(c: char) -> bool {
    c == '\r' || c == '\n'
}

fn is_valid_command(s: &str) -> bool {
    matches!(
        s.to_ascii_lowercase().as_str(),
        "from"
            | "license"
            | "template"
            | "system"
            | "adapter"
            | "draft"
            | "renderer"
            | "parser"
            | "parameter"
            | "message"
            | "requires"
    )
}

fn is_valid_role(s: &str) -> bool {
    matches!(s, "system" | "user" | "assistant")
}

/// Approximates Go's `strconv.IsPrint` (letters, marks, numbers,
/// punctuation, symbols and ASCII space): drops controls, non-ASCII spaces,
/// common format characters and private-use code points.
fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = c as u32;
    let format_or_private = matches!(u,
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x180E | 0x200B..=0x200F
        | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB
        | 0xE000..=0xF8FF | 0xE0001 | 0xE0020..=0xE007F | 0xF0000..=0x10FFFF);
    !format_or_private
}

/// `golang.org/x/mod/semver.IsValid` minus the leading `v`: `MAJOR[.MINOR[.PATCH]]`
/// with `-prerelease`/`+build` only on a full triple.
fn is_semver(v: &str) -> bool {
    let (core, build) = match v.split_once('+') {
        Some((c, b)) => (c, Some(b)),
        None => (v, None),
    };
    let (core, pre) = match core.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (core, None),
    };
    let nums: Vec<&str> = core.split('.').collect();
    let num_ok = |n: &&str| {
        !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
            && (n.len() == 1 || !n.starts_with('0'))
    };
    let ident_ok = |s: &str| {
        !s.is_empty()
            && s.split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    };
    if nums.is_empty() || nums.len() > 3 || !nums.iter().all(num_ok) {
        return false;
    }
    if (pre.is_some() || build.is_some()) && nums.len() != 3 {
        return false;
    }
    if let Some(p) = pre {
        let numeric_leading_zero = p.split('.').any(|id| {
            id.len() > 1 && id.starts_with('0') && id.bytes().all(|b| b.is_ascii_digit())
        });
        if !ident_ok(p) || numeric_leading_zero {
            return false;
        }
    }
    build.is_none_or(ident_ok)
}

fn decode_utf16(bytes: &[u8], conv: fn([u8; 2]) -> u16) -> String {
    let units = bytes.chunks(2).map(|c| match c {
        [a, b] => conv([*a, *b]),
        // A dangling odd byte is invalid input: replacement character.
        _ => 0xFFFD,
    });
    char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmds(pairs: &[(&str, &str)]) -> Vec<Command> {
        pairs.iter().map(|(n, a)| Command::new(n, *a)).collect()
    }

    fn parse(s: &str) -> Result<Vec<Command>, ModelfileError> {
        Modelfile::parse(s).map(|m| m.commands)
    }

    const LLAMA_TEMPLATE: &str = "{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>\n\n{{ .Prompt }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n{{ .Response }}<|eot_id|>";

    #[test]
    fn parse_file() {
        let input = format!(
            "\nFROM model1\nADAPTER adapter1\nLICENSE MIT\nPARAMETER param1 value1\nPARAMETER param2 value2\nTEMPLATE \"\"\"{LLAMA_TEMPLATE}\"\"\"    \n"
        );
        assert_eq!(
            parse(&input).unwrap(),
            cmds(&[
                ("model", "model1"),
                ("adapter", "adapter1"),
                ("license", "MIT"),
                ("param1", "value1"),
                ("param2", "value2"),
                ("template", LLAMA_TEMPLATE),
            ])
        );
    }

    #[test]
    fn trim_space() {
        let input = format!(
            "\nFROM \"     model 1\"\nADAPTER      adapter3\nLICENSE \"MIT       \"\nPARAMETER param1        value1\nPARAMETER param2    value2\nTEMPLATE \"\"\"   {LLAMA_TEMPLATE}   \"\"\"    \n"
        );
        assert_eq!(
            parse(&input).unwrap(),
            cmds(&[
                ("model", "     model 1"),
                ("adapter", "adapter3"),
                ("license", "MIT       "),
                ("param1", "value1"),
                ("param2", "value2"),
                ("template", &format!("   {LLAMA_TEMPLATE}   ")),
            ])
        );
    }

    #[test]
    fn from_cases() {
        let ok: &[(&str, &[(&str, &str)])] = &[
            ("FROM \"FOO  BAR  \"", &[("model", "FOO  BAR  ")]),
            (
                "FROM \"FOO BAR\"\nPARAMETER param1 value1",
                &[("model", "FOO BAR"), ("param1", "value1")],
            ),
            ("FROM     FOOO BAR    ", &[("model", "FOOO BAR")]),
            ("FROM /what/is/the path ", &[("model", "/what/is/the path")]),
            ("FROM foo", &[("model", "foo")]),
            ("FROM /path/to/model", &[("model", "/path/to/model")]),
            (
                "FROM /path/to/model/fp16.bin",
                &[("model", "/path/to/model/fp16.bin")],
            ),
            ("FROM llama3:latest", &[("model", "llama3:latest")]),
            (
                "FROM llama3:7b-instruct-q4_K_M",
                &[("model", "llama3:7b-instruct-q4_K_M")],
            ),
            (
                "PARAMETER param1 value1\nFROM foo",
                &[("param1", "value1"), ("model", "foo")],
            ),
            (
                "PARAMETER what the \nFROM lemons make lemonade ",
                &[("what", "the"), ("model", "lemons make lemonade")],
            ),
            ("from foo", &[("model", "foo")]),
        ];
        for (input, want) in ok {
            assert_eq!(parse(input).unwrap(), cmds(want), "{input:?}");
        }
        for input in ["", "PARAMETER param1 value1"] {
            assert_eq!(parse(input).unwrap_err(), ModelfileError::MissingFrom);
            assert_eq!(parse(input).unwrap_err().to_string(), "no FROM line");
        }
    }

    #[test]
    fn errors() {
        let e = parse("\nFROM foo\nPARAMETER param1\n").unwrap_err();
        assert!(matches!(e, ModelfileError::UnexpectedEof(_)), "{e}");
        assert_eq!(e.to_string(), "unexpected EOF: param1");

        let e = parse("\nFROM foo\nBADCOMMAND param1 value1\n").unwrap_err();
        assert_eq!(
            e,
            ModelfileError::Syntax {
                line: 3,
                msg: INVALID_COMMAND.into()
            }
        );
        assert_eq!(
            e.to_string(),
            "(line 3): command must be one of \"from\", \"license\", \"template\", \"system\", \"adapter\", \"draft\", \"renderer\", \"parser\", \"parameter\", \"message\", or \"requires\""
        );
        // A command word followed directly by a newline.
        assert!(matches!(
            parse("FROM\n"),
            Err(ModelfileError::Syntax { line: 2, .. })
        ));
    }

    #[test]
    fn renderer_parser_draft() {
        assert_eq!(
            parse("\nFROM foo\nRENDERER renderer1\nPARSER parser1\nDRAFT ./assistant\n").unwrap(),
            cmds(&[
                ("model", "foo"),
                ("renderer", "renderer1"),
                ("parser", "parser1"),
                ("draft", "./assistant")
            ])
        );
        let m = Modelfile::parse("FROM base\nDRAFT ./assistant\n").unwrap();
        assert!(m.to_string().contains("DRAFT ./assistant"));
    }

    #[test]
    fn messages() {
        assert_eq!(
            parse("\nFROM foo\nMESSAGE system You are a file parser. Always parse things.\n")
                .unwrap(),
            cmds(&[
                ("model", "foo"),
                (
                    "message",
                    "system: You are a file parser. Always parse things."
                )
            ])
        );
        assert_eq!(
            parse("\nFROM foo\nMESSAGE system You are a file parser. Always parse things.")
                .unwrap(),
            cmds(&[
                ("model", "foo"),
                (
                    "message",
                    "system: You are a file parser. Always parse things."
                )
            ])
        );
        assert_eq!(
            parse("\nFROM foo\nMESSAGE system You are a file parser. Always parse things.\nMESSAGE user Hey there!\nMESSAGE assistant Hello, I want to parse all the things!\n").unwrap(),
            cmds(&[
                ("model", "foo"),
                ("message", "system: You are a file parser. Always parse things."),
                ("message", "user: Hey there!"),
                ("message", "assistant: Hello, I want to parse all the things!"),
            ])
        );
        assert_eq!(
            parse("\nFROM foo\nMESSAGE system \"\"\"\nYou are a multiline file parser. Always parse things.\n\"\"\"\n\t\t\t").unwrap(),
            cmds(&[("model", "foo"), ("message", "system: \nYou are a multiline file parser. Always parse things.\n")])
        );
        let e = parse("\nFROM foo\nMESSAGE badguy I'm a bad guy!\n").unwrap_err();
        assert_eq!(
            e,
            ModelfileError::Syntax {
                line: 3,
                msg: INVALID_ROLE.into()
            }
        );
        assert!(matches!(
            parse("\nFROM foo\nMESSAGE system\n"),
            Err(ModelfileError::UnexpectedEof(_))
        ));
        assert!(matches!(
            parse("\nFROM foo\nMESSAGE system"),
            Err(ModelfileError::UnexpectedEof(_))
        ));
    }

    #[test]
    fn quoted() {
        let ok: &[(&str, &str)] = &[
            (
                "\nFROM foo\nSYSTEM \"\"\"\nThis is a\nmultiline system.\n\"\"\"\n\t\t\t",
                "\nThis is a\nmultiline system.\n",
            ),
            (
                "\nFROM foo\nSYSTEM \"\"\"\nThis is a\nmultiline system.\"\"\"\n\t\t\t",
                "\nThis is a\nmultiline system.",
            ),
            (
                "\nFROM foo\nSYSTEM \"\"\"This is a\nmultiline system.\"\"\"\n\t\t\t",
                "This is a\nmultiline system.",
            ),
            (
                "\nFROM foo\nSYSTEM \"\"\"This is a multiline system.\"\"\"\n\t\t\t",
                "This is a multiline system.",
            ),
            (
                "\nFROM foo\nSYSTEM \"\"\"\nThis is a multiline system with \"quotes\".\n\"\"\"\n",
                "\nThis is a multiline system with \"quotes\".\n",
            ),
            ("\nFROM foo\nSYSTEM \"\"\"\"\"\"\n", ""),
            ("\nFROM foo\nSYSTEM \"\"\n", ""),
            ("\nFROM foo\nSYSTEM \"'\"\n", "'"),
            (
                "\nFROM foo\nSYSTEM \"\"\"''\"'\"\"'\"\"'\"'''''\"\"'\"\"'\"\"\"\n",
                "''\"'\"\"'\"\"'\"'''''\"\"'\"\"'",
            ),
        ];
        for (input, want) in ok {
            assert_eq!(
                parse(input).unwrap(),
                cmds(&[("model", "foo"), ("system", want)]),
                "{input:?}"
            );
        }
        assert_eq!(
            parse("\nFROM foo\nTEMPLATE \"\"\"\n{{ .Prompt }}\n\"\"\"").unwrap(),
            cmds(&[("model", "foo"), ("template", "\n{{ .Prompt }}\n")])
        );
        for bad in [
            "\nFROM foo\nSYSTEM \"\"\"This is a multiline system.\"\"\n\t\t\t",
            "\nFROM foo\nSYSTEM \"\n\t\t\t",
        ] {
            assert_eq!(
                parse(bad).unwrap_err(),
                ModelfileError::UnexpectedEof(None),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn parameters() {
        let cases: &[(&str, &str, &str)] = &[
            ("numa true", "numa", "true"),
            ("num_ctx 1", "num_ctx", "1"),
            ("top_p 1.0", "top_p", "1.0"),
            ("min_p 0.05", "min_p", "0.05"),
            ("use_mmap true", "use_mmap", "true"),
            ("penalize_newline true", "penalize_newline", "true"),
            ("stop ### User:", "stop", "### User:"),
            ("stop ### User: ", "stop", "### User:"),
            ("stop \"### User:\"", "stop", "### User:"),
            ("stop \"### User: \"", "stop", "### User: "),
            ("stop \"\"\"### User:\"\"\"", "stop", "### User:"),
            ("stop \"\"\"### User:\n\"\"\"", "stop", "### User:\n"),
            ("stop <|endoftext|>", "stop", "<|endoftext|>"),
            ("stop <|eot_id|>", "stop", "<|eot_id|>"),
            ("stop </s>", "stop", "</s>"),
        ];
        for (line, name, value) in cases {
            let input = format!("FROM foo\nPARAMETER {line}\n");
            assert_eq!(
                parse(&input).unwrap(),
                cmds(&[("model", "foo"), (name, value)]),
                "{line:?}"
            );
        }
    }

    #[test]
    fn comments() {
        assert_eq!(
            parse("\n# comment\nFROM foo\n\t").unwrap(),
            cmds(&[("model", "foo")])
        );
        assert_eq!(
            parse("FROM foo # not a comment").unwrap(),
            cmds(&[("model", "foo # not a comment")])
        );
    }

    #[test]
    fn format_roundtrip() {
        for input in [
            "\nFROM foo\nADAPTER adapter1\nLICENSE MIT\nPARAMETER param1 value1\nPARAMETER param2 value2\nTEMPLATE template1\nMESSAGE system You are a file parser. Always parse things.\nMESSAGE user Hey there!\nMESSAGE assistant Hello, I want to parse all the things!\n",
            "\nFROM foo\nADAPTER adapter1\nLICENSE MIT\nPARAMETER param1 value1\nPARAMETER param2 value2\nTEMPLATE template1\nMESSAGE system \"\"\"\nYou are a store greeter. Always respond with \"Hello!\".\n\"\"\"\nMESSAGE user Hey there!\nMESSAGE assistant Hello, I want to parse all the things!\n",
            "\nFROM foo\nADAPTER adapter1\nLICENSE \"\"\"\nVery long and boring legal text.\nBlah blah blah.\n\"Oh look, a quote!\"\n\"\"\"\n\nPARAMETER param1 value1\nPARAMETER param2 value2\nTEMPLATE template1\nMESSAGE system \"\"\"\nYou are a store greeter. Always respond with \"Hello!\".\n\"\"\"\nMESSAGE user Hey there!\nMESSAGE assistant Hello, I want to parse all the things!\n",
            "\nFROM foo\nSYSTEM \"\"\n",
        ] {
            let m = Modelfile::parse(input).unwrap();
            let again = Modelfile::parse(&m.to_string()).unwrap();
            assert_eq!(m, again, "{input:?}");
        }
    }

    #[test]
    fn encodings() {
        let text = "FROM foo\nSYSTEM héllo\n";
        let mut le = vec![0xFF, 0xFE];
        let mut be = vec![0xFE, 0xFF];
        for u in text.encode_utf16() {
            le.extend(u.to_le_bytes());
            be.extend(u.to_be_bytes());
        }
        let want = cmds(&[("model", "foo"), ("system", "héllo")]);
        assert_eq!(Modelfile::parse_bytes(&le).unwrap().commands, want);
        assert_eq!(Modelfile::parse_bytes(&be).unwrap().commands, want);
        let mut bom8 = vec![0xEF, 0xBB, 0xBF];
        bom8.extend(text.as_bytes());
        assert_eq!(Modelfile::parse_bytes(&bom8).unwrap().commands, want);
    }

    #[test]
    fn to_request() {
        let m = Modelfile::parse(
            "FROM llama3.2\nPARAMETER temperature 0.7\nPARAMETER stop <|eot_id|>\nPARAMETER stop </s>\n\
             PARAMETER mirostat 1\nSYSTEM be brief\nLICENSE MIT\nLICENSE Apache\nMESSAGE user hi\n\
             REQUIRES v0.14.0\nTEMPLATE {{ .Prompt }}\n",
        )
        .unwrap();
        let r = m.to_request().unwrap();
        assert_eq!(r.from, ["llama3.2"]);
        assert_eq!(r.system.as_deref(), Some("be brief"));
        assert_eq!(r.template.as_deref(), Some("{{ .Prompt }}"));
        assert_eq!(r.license, ["MIT", "Apache"]);
        assert_eq!(r.requires.as_deref(), Some("0.14.0"));
        assert_eq!(r.messages, [Message::new("user", "hi")]);
        assert_eq!(
            Value::Object(r.parameters),
            serde_json::json!({"temperature": 0.7, "stop": ["<|eot_id|>", "</s>"]})
        );
        assert_eq!(r.warnings, ["warning: parameter mirostat is deprecated"]);

        let bad = |s: &str| {
            Modelfile::parse(s)
                .unwrap()
                .to_request()
                .unwrap_err()
                .to_string()
        };
        assert_eq!(bad("FROM x\nPARAMETER foo 1"), "unknown parameter 'foo'");
        assert_eq!(
            bad("FROM x\nPARAMETER temperature hot"),
            "invalid float value [hot]"
        );
        assert_eq!(
            bad("FROM x\nREQUIRES 1.2.x"),
            "requires must be a valid semver (e.g. 0.14.0)"
        );
    }

    #[test]
    fn semver_rules() {
        for ok in [
            "1",
            "1.2",
            "0.14.0",
            "1.2.3-rc.1",
            "1.2.3+build.5",
            "1.2.3-alpha-1",
        ] {
            assert!(is_semver(ok), "{ok}");
        }
        for bad in [
            "", "01.2.3", "1.2.3.4", "1.2-rc1", "1.2.3-", "1.2.3-01", "a.b.c", "1..2",
        ] {
            assert!(!is_semver(bad), "{bad}");
        }
    }

    #[test]
    fn show_rendering() {
        let params: Map<String, Value> = serde_json::from_str(
            r#"{"stop":["<|start_header_id|>","<|eot_id|>"],"temperature":0.6,"num_ctx":1048576}"#,
        )
        .unwrap();
        let msgs = [Message::new("user", "hi there")];
        let lic = ["MIT".to_string()];
        let show = ShowModelfile {
            short_name: "llama3.2:latest",
            model_path: "/m/blobs/sha256-abc",
            template: Some("{{ .Prompt }}\n"),
            system: "You are helpful.",
            params: Some(&params),
            license: &lic,
            messages: &msgs,
            ..Default::default()
        };
        assert_eq!(
            show.render(),
            "# Modelfile generated by \"ollama show\"\n\
             # To build a new Modelfile based on this, replace FROM with:\n\
             # FROM llama3.2:latest\n\n\
             FROM /m/blobs/sha256-abc\n\
             TEMPLATE \"{{ .Prompt }}\n\"\n\
             SYSTEM You are helpful.\n\
             PARAMETER num_ctx 1.048576e+06\n\
             PARAMETER stop <|start_header_id|>\n\
             PARAMETER stop <|eot_id|>\n\
             PARAMETER temperature 0.6\n\
             LICENSE MIT\n\
             MESSAGE user hi there\n"
        );
        // The rendered Modelfile parses back to the same commands.
        let m = show.modelfile();
        assert_eq!(Modelfile::parse(&m.to_string()).unwrap(), m);
    }
}

//! The lexer: Go `text/template/parse`'s lexical rules, producing the whole token list up front.
//!
//! Text outside `{{ }}` becomes `Text` tokens (with `{{-` / `-}}` trimming applied and empty text
//! dropped), comments `{{/* */}}` vanish, and inside an action spaces are tokens of their own
//! because the grammar needs them (`.A.B` is one operand, `.A .B` two).

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    Text(String),
    LeftDelim,
    RightDelim,
    Space,
    /// `.Name` (the name without the dot).
    Field(String),
    Dot,
    /// `$` or `$name` (with the `$`).
    Variable(String),
    Ident(String),
    Bool(bool),
    Nil,
    Number(String),
    CharConst(String),
    /// A quoted string, as written (with its quotes).
    Str(String),
    RawStr(String),
    Pipe,
    LeftParen,
    RightParen,
    Declare,
    Assign,
    Comma,
    /// Any other printable ASCII character (always a syntax error later).
    Char(char),
    Kw(Kw),
    Error(String),
    Eof,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kw {
    Block,
    Break,
    Continue,
    Define,
    Else,
    End,
    If,
    Range,
    Template,
    With,
}

impl Kw {
    fn from_word(w: &str) -> Option<Kw> {
        Some(match w {
            "block" => Kw::Block,
            "break" => Kw::Break,
            "continue" => Kw::Continue,
            "define" => Kw::Define,
            "else" => Kw::Else,
            "end" => Kw::End,
            "if" => Kw::If,
            "range" => Kw::Range,
            "template" => Kw::Template,
            "with" => Kw::With,
            _ => return None,
        })
    }
    pub(crate) fn word(self) -> &'static str {
        match self {
            Kw::Block => "block",
            Kw::Break => "break",
            Kw::Continue => "continue",
            Kw::Define => "define",
            Kw::Else => "else",
            Kw::End => "end",
            Kw::If => "if",
            Kw::Range => "range",
            Kw::Template => "template",
            Kw::With => "with",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    /// Byte offset in the source.
    pub pos: usize,
    /// 1-based line.
    pub line: usize,
}

impl Token {
    /// How Go's parser quotes a token in "unexpected …" errors.
    pub(crate) fn describe(&self) -> String {
        let raw: String = match &self.tok {
            Tok::Eof => return "EOF".into(),
            Tok::Error(e) => return e.clone(),
            Tok::Kw(k) => return format!("<{}>", k.word()),
            Tok::Nil => return "<nil>".into(),
            Tok::Text(s) => s.clone(),
            Tok::LeftDelim => "{{".into(),
            Tok::RightDelim => "}}".into(),
            Tok::Space => " ".into(),
            Tok::Field(f) => format!(".{f}"),
            Tok::Dot => ".".into(),
            Tok::Variable(v) | Tok::Ident(v) | Tok::Number(v) | Tok::CharConst(v) => v.clone(),
            Tok::Str(v) | Tok::RawStr(v) => v.clone(),
            Tok::Bool(b) => b.to_string(),
            Tok::Pipe => "|".into(),
            Tok::LeftParen => "(".into(),
            Tok::RightParen => ")".into(),
            Tok::Declare => ":=".into(),
            Tok::Assign => "=".into(),
            Tok::Comma => ",".into(),
            Tok::Char(c) => c.to_string(),
        };
        if raw.chars().count() > 10 {
            let short: String = raw.chars().take(10).collect();
            format!("{}...", super::fmt::go_quote(&short, false))
        } else {
            super::fmt::go_quote(&raw, false)
        }
    }
}

const LEFT: &str = "{{";
const RIGHT: &str = "}}";

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

pub(crate) fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

fn has_left_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && is_space(b[1] as char)
}

/// `s` starts with ` -}}` (a space, the trim marker, the delimiter).
fn at_trimmed_right(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && is_space(b[0] as char) && b[1] == b'-' && s[2..].starts_with(RIGHT)
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    line: usize,
    line_pos: usize,
    toks: Vec<Token>,
    paren_depth: usize,
}

/// Tokenises a template. The list always ends with `Eof` or `Error`.
pub(crate) fn lex(src: &str) -> Vec<Token> {
    let mut l = Lexer { src, pos: 0, line: 1, line_pos: 0, toks: Vec::new(), paren_depth: 0 };
    if let Err(e) = l.run() {
        let pos = l.pos.min(src.len());
        let line = l.line_at(pos);
        l.toks.push(Token { tok: Tok::Error(e), pos, line });
    } else {
        let line = l.line_at(src.len());
        l.toks.push(Token { tok: Tok::Eof, pos: src.len(), line });
    }
    l.toks
}

impl<'a> Lexer<'a> {
    /// 1-based line of `pos`; positions are asked for in increasing order, so count on from the
    /// last one.
    fn line_at(&mut self, pos: usize) -> usize {
        if pos < self.line_pos {
            self.line_pos = 0;
            self.line = 1;
        }
        self.line += self.src.as_bytes()[self.line_pos..pos].iter().filter(|&&b| b == b'\n').count();
        self.line_pos = pos;
        self.line
    }

    fn emit(&mut self, tok: Tok, pos: usize) {
        let line = self.line_at(pos);
        self.toks.push(Token { tok, pos, line });
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn run(&mut self) -> Result<(), String> {
        loop {
            // Text up to the next left delimiter.
            let rest = self.rest();
            match rest.find(LEFT) {
                None => {
                    if !rest.is_empty() {
                        self.emit(Tok::Text(rest.to_string()), self.pos);
                    }
                    self.pos = self.src.len();
                    return Ok(());
                }
                Some(x) => {
                    let delim = self.pos + x;
                    let mut text = &self.src[self.pos..delim];
                    let after = &self.src[delim + LEFT.len()..];
                    let trim = has_left_trim(after);
                    if trim {
                        text = text.trim_end_matches(is_space);
                    }
                    if !text.is_empty() {
                        self.emit(Tok::Text(text.to_string()), self.pos);
                    }
                    self.pos = delim + LEFT.len();
                    let marker = if trim { 2 } else { 0 };
                    if self.src[self.pos + marker..].starts_with("/*") {
                        self.pos += marker;
                        self.comment()?;
                    } else {
                        self.emit(Tok::LeftDelim, delim);
                        self.pos += marker;
                        self.paren_depth = 0;
                        self.inside_action()?;
                    }
                }
            }
        }
    }

    /// After the closing delimiter: skip it (and the trim marker) and, if trimmed, the
    /// following whitespace.
    fn close(&mut self, trimmed: bool) {
        if trimmed {
            self.pos += 2;
        }
        self.pos += RIGHT.len();
        if trimmed {
            let rest = self.rest();
            let n = rest.len() - rest.trim_start_matches(is_space).len();
            self.pos += n;
        }
    }

    fn comment(&mut self) -> Result<(), String> {
        let start = self.pos + 2;
        let Some(end) = self.src[start..].find("*/") else {
            return Err("unclosed comment".into());
        };
        self.pos = start + end + 2;
        let rest = self.rest();
        if at_trimmed_right(rest) {
            self.close(true);
        } else if rest.starts_with(RIGHT) {
            self.close(false);
        } else {
            return Err("comment ends before closing delimiter".into());
        }
        Ok(())
    }

    fn inside_action(&mut self) -> Result<(), String> {
        loop {
            let rest = self.rest();
            let trimmed = at_trimmed_right(rest);
            if trimmed || rest.starts_with(RIGHT) {
                if self.paren_depth > 0 {
                    return Err("unclosed left paren".into());
                }
                let p = if trimmed { self.pos + 2 } else { self.pos };
                self.emit(Tok::RightDelim, p);
                self.close(trimmed);
                return Ok(());
            }
            let start = self.pos;
            let Some(c) = self.peek() else {
                return Err("unclosed action".into());
            };
            self.pos += c.len_utf8();
            match c {
                c if is_space(c) => {
                    // A run of spaces, stopping before a space that begins ` -}}` (that one
                    // belongs to the delimiter, checked at the top of the loop).
                    while let Some(c) = self.peek() {
                        if !is_space(c) || at_trimmed_right(self.rest()) {
                            break;
                        }
                        self.pos += 1;
                    }
                    self.emit(Tok::Space, start);
                }
                '=' => self.emit(Tok::Assign, start),
                ':' => {
                    if self.peek() != Some('=') {
                        return Err("expected :=".into());
                    }
                    self.pos += 1;
                    self.emit(Tok::Declare, start);
                }
                '|' => self.emit(Tok::Pipe, start),
                '"' => self.quote(start)?,
                '`' => self.raw_quote(start)?,
                '$' => self.field_or_variable(start, true)?,
                '\'' => self.char_const(start)?,
                '.' => {
                    // ".5" is a number; anything else is a field or the dot.
                    match self.peek() {
                        Some(d) if d.is_ascii_digit() => {
                            self.pos = start;
                            self.number(start)?;
                        }
                        _ => self.field_or_variable(start, false)?,
                    }
                }
                '+' | '-' | '0'..='9' => {
                    self.pos = start;
                    self.number(start)?;
                }
                c if is_alnum(c) => {
                    self.pos = start;
                    self.identifier(start)?;
                }
                '(' => {
                    self.emit(Tok::LeftParen, start);
                    self.paren_depth += 1;
                }
                ')' => {
                    if self.paren_depth == 0 {
                        return Err("unexpected right paren".into());
                    }
                    self.paren_depth -= 1;
                    self.emit(Tok::RightParen, start);
                }
                ',' => self.emit(Tok::Comma, start),
                c if c.is_ascii() && !c.is_ascii_control() => self.emit(Tok::Char(c), start),
                c => return Err(format!("unrecognized character in action: {}", unicode_name(c))),
            }
        }
    }

    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if is_space(c) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            _ => self.rest().starts_with(RIGHT),
        }
    }

    fn field_or_variable(&mut self, start: usize, variable: bool) -> Result<(), String> {
        if self.at_terminator() {
            self.emit(if variable { Tok::Variable("$".into()) } else { Tok::Dot }, start);
            return Ok(());
        }
        while let Some(c) = self.peek() {
            if !is_alnum(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        if !self.at_terminator() {
            let c = self.peek().unwrap_or(' ');
            return Err(format!("bad character {}", unicode_name(c)));
        }
        let word = &self.src[start..self.pos];
        if variable {
            self.emit(Tok::Variable(word.to_string()), start);
        } else {
            self.emit(Tok::Field(word[1..].to_string()), start);
        }
        Ok(())
    }

    fn identifier(&mut self, start: usize) -> Result<(), String> {
        while let Some(c) = self.peek() {
            if !is_alnum(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        if !self.at_terminator() {
            let c = self.peek().unwrap_or(' ');
            return Err(format!("bad character {}", unicode_name(c)));
        }
        let word = &self.src[start..self.pos];
        let tok = if let Some(k) = Kw::from_word(word) {
            Tok::Kw(k)
        } else {
            match word {
                "true" => Tok::Bool(true),
                "false" => Tok::Bool(false),
                "nil" => Tok::Nil,
                _ => Tok::Ident(word.to_string()),
            }
        };
        self.emit(tok, start);
        Ok(())
    }

    fn accept(&mut self, set: &str) -> bool {
        match self.peek() {
            Some(c) if set.contains(c) => {
                self.pos += c.len_utf8();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, set: &str) {
        while self.accept(set) {}
    }

    fn number(&mut self, start: usize) -> Result<(), String> {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if let Some(c) = self.peek() {
            if is_alnum(c) {
                self.pos += c.len_utf8();
                return Err(format!("bad number syntax: {}", super::fmt::go_quote(&self.src[start..self.pos], false)));
            }
        }
        let text = &self.src[start..self.pos];
        if matches!(text, "+" | "-") {
            return Err(format!("bad number syntax: {}", super::fmt::go_quote(text, false)));
        }
        self.emit(Tok::Number(text.to_string()), start);
        Ok(())
    }

    fn quote(&mut self, start: usize) -> Result<(), String> {
        loop {
            match self.peek() {
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c) if c != '\n' => self.pos += c.len_utf8(),
                        _ => return Err("unterminated quoted string".into()),
                    }
                }
                None | Some('\n') => return Err("unterminated quoted string".into()),
                Some('"') => {
                    self.pos += 1;
                    break;
                }
                Some(c) => self.pos += c.len_utf8(),
            }
        }
        self.emit(Tok::Str(self.src[start..self.pos].to_string()), start);
        Ok(())
    }

    fn raw_quote(&mut self, start: usize) -> Result<(), String> {
        match self.rest().find('`') {
            None => Err("unterminated raw quoted string".into()),
            Some(i) => {
                self.pos += i + 1;
                self.emit(Tok::RawStr(self.src[start..self.pos].to_string()), start);
                Ok(())
            }
        }
    }

    fn char_const(&mut self, start: usize) -> Result<(), String> {
        loop {
            match self.peek() {
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c) if c != '\n' => self.pos += c.len_utf8(),
                        _ => return Err("unterminated character constant".into()),
                    }
                }
                None | Some('\n') => return Err("unterminated character constant".into()),
                Some('\'') => {
                    self.pos += 1;
                    break;
                }
                Some(c) => self.pos += c.len_utf8(),
            }
        }
        self.emit(Tok::CharConst(self.src[start..self.pos].to_string()), start);
        Ok(())
    }
}

/// Go's `%#U`: `U+0041 'A'`.
fn unicode_name(c: char) -> String {
    if c.is_control() {
        format!("U+{:04X}", c as u32)
    } else {
        format!("U+{:04X} '{}'", c as u32, c)
    }
}

/// Go's `strconv.Unquote` for the three literal forms the lexer produces.
pub(crate) fn unquote(s: &str) -> Result<String, String> {
    let bad = || "invalid syntax".to_string();
    if s.len() < 2 {
        return Err(bad());
    }
    let (q, body) = (s.as_bytes()[0], &s[1..s.len() - 1]);
    if !s.ends_with(q as char) {
        return Err(bad());
    }
    match q {
        b'`' => Ok(body.replace('\r', "")),
        b'"' | b'\'' => {
            let mut out: Vec<u8> = Vec::with_capacity(body.len());
            let mut chars = body.char_indices().peekable();
            let mut count = 0usize;
            while let Some((_, c)) = chars.next() {
                count += 1;
                if c == q as char || (c == '\n') {
                    return Err(bad());
                }
                if c != '\\' {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    continue;
                }
                let Some((_, e)) = chars.next() else { return Err(bad()) };
                let simple = match e {
                    'a' => Some(7u8),
                    'b' => Some(8),
                    'f' => Some(12),
                    'n' => Some(b'\n'),
                    'r' => Some(b'\r'),
                    't' => Some(b'\t'),
                    'v' => Some(11),
                    '\\' => Some(b'\\'),
                    '\'' if q == b'\'' => Some(b'\''),
                    '"' if q == b'"' => Some(b'"'),
                    _ => None,
                };
                if let Some(b) = simple {
                    out.push(b);
                    continue;
                }
                let mut take_hex = |n: usize| -> Result<u32, String> {
                    let mut v: u32 = 0;
                    for _ in 0..n {
                        let (_, d) = chars.next().ok_or_else(bad)?;
                        v = v * 16 + d.to_digit(16).ok_or_else(bad)?;
                    }
                    Ok(v)
                };
                match e {
                    'x' => {
                        let v = take_hex(2)?;
                        if q == b'\'' {
                            let ch = char::from_u32(v).ok_or_else(bad)?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        } else {
                            out.push(v as u8);
                        }
                    }
                    'u' | 'U' => {
                        let v = take_hex(if e == 'u' { 4 } else { 8 })?;
                        let ch = char::from_u32(v).ok_or_else(bad)?;
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                    }
                    '0'..='7' => {
                        let mut v = e.to_digit(8).unwrap_or(0);
                        for _ in 0..2 {
                            let (_, d) = chars.next().ok_or_else(bad)?;
                            v = v * 8 + d.to_digit(8).ok_or_else(bad)?;
                        }
                        if v > 255 {
                            return Err(bad());
                        }
                        out.push(v as u8);
                    }
                    _ => return Err(bad()),
                }
            }
            if q == b'\'' && count != 1 {
                return Err(bad());
            }
            Ok(String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
        }
        _ => Err(bad()),
    }
}

//! Go's `fmt` as the template functions `print`, `printf`, `println` use it, plus the escapers
//! behind `html`, `js` and `urlquery`.

use super::value::{format_float_e, format_float_f, format_float_g, format_plus_v, format_v, write_v, Value};

/// An approximation of Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and
/// the ASCII space.
pub(crate) fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = c as u32;
    // Format characters (Cf), surrogates/private use and noncharacters.
    !matches!(u,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E
        | 0x2060..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB | 0xE000..=0xF8FF | 0xFFFE | 0xFFFF
        | 0xF0000..=0x10FFFF | 0xE0001 | 0xE0020..=0xE007F)
}

/// Go's `strconv.Quote` (`ascii_only`: `strconv.QuoteToASCII`).
pub(crate) fn go_quote(s: &str, ascii_only: bool) -> String {
    quote_with(s, '"', ascii_only)
}

fn quote_with(s: &str, q: char, ascii_only: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        push_quoted_rune(&mut out, c, q, ascii_only);
    }
    out.push(q);
    out
}

fn push_quoted_rune(out: &mut String, c: char, q: char, ascii_only: bool) {
    if c == q || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if ((c as u32) < 0x80 || !ascii_only) && is_print(c) {
        out.push(c);
        return;
    }
    match c {
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

fn can_backquote(s: &str) -> bool {
    s.chars().all(|c| c != '`' && c != '\u{FEFF}' && (c == '\t' || !c.is_control()))
}

/// `fmt.Sprint`: operands are separated by a space when neither side is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = matches!(a, Value::Str(_));
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        write_v(&mut out, a, false, 0);
        prev_string = is_string;
    }
    out
}

/// `fmt.Sprintln`: always spaces, then a newline.
pub fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_v(&mut out, a, false, 0);
    }
    out.push('\n');
    out
}

#[derive(Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// Go's `fmt` treats widths and precisions above 10⁶ as bad.
const MAX_WIDTH: usize = 1_000_000;

/// `fmt.Sprintf` for the common verbs: `%v %+v %s %q %d %b %o %O %x %X %c %U %e %E %f %F %g %G
/// %t %T %%`, flags `+ - # 0 space`, widths and precisions (also `*`), explicit `[n]` indexes.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut arg_num = 0usize;
    let mut reordered = false;
    let mut chars = format.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        // Flags.
        while let Some(&(_, f)) = chars.peek() {
            match f {
                '#' => spec.sharp = true,
                '0' => spec.zero = !spec.minus,
                '+' => spec.plus = true,
                '-' => {
                    spec.minus = true;
                    spec.zero = false;
                }
                ' ' => spec.space = true,
                _ => break,
            }
            chars.next();
        }
        let arg_index = |chars: &mut std::iter::Peekable<std::str::CharIndices>,
                         arg_num: &mut usize,
                         reordered: &mut bool|
         -> bool {
            if chars.peek().map(|x| x.1) != Some('[') {
                return true;
            }
            chars.next();
            let mut n = 0usize;
            let mut ok = false;
            while let Some(&(_, d)) = chars.peek() {
                if let Some(v) = d.to_digit(10) {
                    n = n.saturating_mul(10).saturating_add(v as usize);
                    ok = true;
                    chars.next();
                } else {
                    break;
                }
            }
            if chars.peek().map(|x| x.1) != Some(']') || !ok || n == 0 || n > args.len() {
                // Skip to the closing bracket.
                for (_, d) in chars.by_ref() {
                    if d == ']' {
                        break;
                    }
                }
                *reordered = true;
                return false;
            }
            chars.next();
            *arg_num = n - 1;
            *reordered = true;
            true
        };
        let mut good_index = arg_index(&mut chars, &mut arg_num, &mut reordered);
        // Width.
        let mut bad_width = false;
        if chars.peek().map(|x| x.1) == Some('*') {
            chars.next();
            match args.get(arg_num) {
                Some(Value::Int(w)) if w.unsigned_abs() as usize <= MAX_WIDTH => {
                    if *w < 0 {
                        spec.minus = true;
                        spec.zero = false;
                    }
                    spec.width = Some(w.unsigned_abs() as usize);
                }
                _ => bad_width = true,
            }
            arg_num += 1;
        } else {
            let mut w: Option<usize> = None;
            while let Some(&(_, d)) = chars.peek() {
                if let Some(v) = d.to_digit(10) {
                    w = Some(w.unwrap_or(0).saturating_mul(10).saturating_add(v as usize));
                    chars.next();
                } else {
                    break;
                }
            }
            if let Some(w) = w {
                if w > MAX_WIDTH {
                    bad_width = true;
                } else {
                    spec.width = Some(w);
                }
            }
        }
        if bad_width {
            out.push_str("%!(BADWIDTH)");
        }
        // Precision.
        let mut bad_prec = false;
        if chars.peek().map(|x| x.1) == Some('.') {
            chars.next();
            good_index = good_index && arg_index(&mut chars, &mut arg_num, &mut reordered);
            if chars.peek().map(|x| x.1) == Some('*') {
                chars.next();
                match args.get(arg_num) {
                    Some(Value::Int(p)) if *p >= 0 && (*p as usize) <= MAX_WIDTH => spec.prec = Some(*p as usize),
                    _ => bad_prec = true,
                }
                arg_num += 1;
            } else {
                let mut p = 0usize;
                while let Some(&(_, d)) = chars.peek() {
                    if let Some(v) = d.to_digit(10) {
                        p = p.saturating_mul(10).saturating_add(v as usize);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if p > MAX_WIDTH {
                    bad_prec = true;
                } else {
                    spec.prec = Some(p);
                }
            }
        }
        if bad_prec {
            out.push_str("%!(BADPREC)");
        }
        if good_index {
            good_index = arg_index(&mut chars, &mut arg_num, &mut reordered);
        }
        let Some((_, verb)) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        if !good_index {
            out.push_str(&format!("%!{verb}(BADINDEX)"));
            continue;
        }
        let Some(arg) = args.get(arg_num) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        arg_num += 1;
        format_arg(&mut out, arg, verb, spec);
    }
    if !reordered && arg_num < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, a) in args[arg_num..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            if let Value::Nil = a {
                out.push_str("<nil>");
            } else {
                out.push_str(&a.type_name());
                out.push('=');
                out.push_str(&format_v(a));
            }
        }
        out.push(')');
    }
    out
}

fn pad(out: &mut String, s: &str, spec: Spec) {
    let n = s.chars().count();
    let w = spec.width.unwrap_or(0);
    if n >= w {
        out.push_str(s);
        return;
    }
    let fill = w - n;
    if spec.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', fill));
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(s);
    }
}

/// Pads a number, with zeros after the sign when the `0` flag is set.
fn pad_number(out: &mut String, s: &str, spec: Spec, zero_ok: bool) {
    let w = spec.width.unwrap_or(0);
    let n = s.chars().count();
    if spec.zero && zero_ok && !spec.minus && n < w {
        let (sign, digits) = match s.chars().next() {
            Some(c @ ('+' | '-' | ' ')) => (Some(c), &s[1..]),
            _ => (None, s),
        };
        if let Some(c) = sign {
            out.push(c);
        }
        out.extend(std::iter::repeat_n('0', w - n));
        out.push_str(digits);
    } else {
        pad(out, s, spec);
    }
}

fn bad_verb(out: &mut String, arg: &Value, verb: char) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    match arg {
        Value::Nil => out.push_str("<nil>"),
        _ => {
            out.push_str(&arg.type_name());
            out.push('=');
            out.push_str(&format_v(arg));
        }
    }
    out.push(')');
}

fn format_arg(out: &mut String, arg: &Value, verb: char, spec: Spec) {
    if verb == 'T' {
        pad(out, &arg.type_name(), spec);
        return;
    }
    format_value(out, arg, verb, spec, 0);
}

fn format_value(out: &mut String, arg: &Value, verb: char, spec: Spec, depth: usize) {
    if depth > 100 {
        out.push_str("<...>");
        return;
    }
    match arg {
        Value::Nil => {
            if verb == 'v' || depth > 0 {
                pad(out, "<nil>", spec);
            } else {
                bad_verb(out, arg, verb);
            }
        }
        Value::Bool(b) => match verb {
            't' | 'v' => pad(out, if *b { "true" } else { "false" }, spec),
            _ => bad_verb(out, arg, verb),
        },
        Value::Int(i) => format_int(out, *i, arg, verb, spec),
        Value::Float(f) => format_float(out, *f, arg, verb, spec),
        Value::Str(s) => format_str(out, s, arg, verb, spec),
        _ => {
            if matches!(verb, 'v' | 's' | 'x' | 'X' | 'q') {
                if let Some(s) = arg.stringer() {
                    format_str(out, &s, arg, verb, spec);
                    return;
                }
            }
            if verb == 'v' && spec.width.is_none() && spec.prec.is_none() {
                out.push_str(&if spec.plus { format_plus_v(arg) } else { format_v(arg) });
                return;
            }
            match arg {
                Value::List(l) => {
                    out.push('[');
                    for (i, it) in l.items.iter().enumerate() {
                        if i > 0 {
                            out.push(' ');
                        }
                        format_value(out, it, verb, spec, depth + 1);
                    }
                    out.push(']');
                }
                Value::Map(m) => {
                    out.push_str("map[");
                    for (i, (k, it)) in m.entries.iter().enumerate() {
                        if i > 0 {
                            out.push(' ');
                        }
                        format_str(out, k, &Value::Nil, verb, spec);
                        out.push(':');
                        format_value(out, it, verb, spec, depth + 1);
                    }
                    out.push(']');
                }
                Value::Struct(s) => {
                    out.push('{');
                    for (i, f) in s.fields.iter().enumerate() {
                        if i > 0 {
                            out.push(' ');
                        }
                        if spec.plus {
                            out.push_str(&f.name);
                            out.push(':');
                        }
                        format_value(out, &f.value, verb, spec, depth + 1);
                    }
                    out.push('}');
                }
                _ => bad_verb(out, arg, verb),
            }
        }
    }
}

fn format_int(out: &mut String, i: i64, arg: &Value, verb: char, spec: Spec) {
    let neg = i < 0;
    let mag = i.unsigned_abs();
    let (digits, prefix) = match verb {
        'v' | 'd' => (mag.to_string(), ""),
        'b' => (format!("{mag:b}"), if spec.sharp { "0b" } else { "" }),
        'o' => (format!("{mag:o}"), if spec.sharp { "0" } else { "" }),
        'O' => (format!("{mag:o}"), "0o"),
        'x' => (format!("{mag:x}"), if spec.sharp { "0x" } else { "" }),
        'X' => (format!("{mag:X}"), if spec.sharp { "0X" } else { "" }),
        'c' => {
            let c = u32::try_from(i).ok().and_then(char::from_u32).unwrap_or('\u{FFFD}');
            pad(out, &c.to_string(), spec);
            return;
        }
        'q' => {
            let c = u32::try_from(i).ok().and_then(char::from_u32).unwrap_or('\u{FFFD}');
            let s = if spec.sharp && c != '\'' && is_print(c) {
                format!("'{c}'")
            } else {
                let mut s = String::from("'");
                push_quoted_rune(&mut s, c, '\'', spec.plus);
                s.push('\'');
                s
            };
            pad(out, &s, spec);
            return;
        }
        'U' => {
            let mut s = format!("U+{mag:04X}");
            if spec.sharp {
                if let Some(c) = u32::try_from(i).ok().and_then(char::from_u32) {
                    if is_print(c) {
                        s.push_str(&format!(" '{c}'"));
                    }
                }
            }
            pad(out, &s, spec);
            return;
        }
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' | 's' | 't' => {
            bad_verb(out, arg, verb);
            return;
        }
        _ => {
            bad_verb(out, arg, verb);
            return;
        }
    };
    let mut digits = digits;
    if let Some(p) = spec.prec {
        if p == 0 && i == 0 {
            digits.clear();
        }
        while digits.len() < p {
            digits.insert(0, '0');
        }
    }
    let mut s = String::new();
    if neg {
        s.push('-');
    } else if spec.plus {
        s.push('+');
    } else if spec.space {
        s.push(' ');
    }
    s.push_str(prefix);
    s.push_str(&digits);
    pad_number(out, &s, spec, spec.prec.is_none());
}

fn format_float(out: &mut String, f: f64, arg: &Value, verb: char, spec: Spec) {
    let mut s = match verb {
        'v' => format_float_g(f, spec.prec, false),
        'g' => format_float_g(f, spec.prec, false),
        'G' => format_float_g(f, spec.prec, true),
        'e' => format_float_e(f, spec.prec.unwrap_or(6), false),
        'E' => format_float_e(f, spec.prec.unwrap_or(6), true),
        'f' | 'F' => format_float_f(f, spec.prec.unwrap_or(6)),
        _ => {
            bad_verb(out, arg, verb);
            return;
        }
    };
    if !f.is_nan() && !s.starts_with('-') && !s.starts_with('+') {
        if spec.plus {
            s.insert(0, '+');
        } else if spec.space {
            s.insert(0, ' ');
        }
    } else if s.starts_with('+') && !spec.plus {
        // "+Inf" prints as "+Inf" only with the plus flag.
        s.remove(0);
        if spec.space {
            s.insert(0, ' ');
        }
    }
    pad_number(out, &s, spec, f.is_finite());
}

fn format_str(out: &mut String, s: &str, arg: &Value, verb: char, spec: Spec) {
    match verb {
        'v' | 's' => {
            let t: String = match spec.prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.to_string(),
            };
            pad(out, &t, spec);
        }
        'q' => {
            let t: String = match spec.prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.to_string(),
            };
            let q = if spec.sharp && can_backquote(&t) { format!("`{t}`") } else { go_quote(&t, spec.plus) };
            pad(out, &q, spec);
        }
        'x' | 'X' => {
            let bytes = s.as_bytes();
            let bytes = match spec.prec {
                Some(p) if p < bytes.len() => &bytes[..p],
                _ => bytes,
            };
            let mut t = String::new();
            for (i, b) in bytes.iter().enumerate() {
                if spec.space && i > 0 {
                    t.push(' ');
                }
                if spec.sharp && (spec.space || i == 0) {
                    t.push_str(if verb == 'x' { "0x" } else { "0X" });
                }
                if verb == 'x' {
                    t.push_str(&format!("{b:02x}"));
                } else {
                    t.push_str(&format!("{b:02X}"));
                }
            }
            pad(out, &t, spec);
        }
        _ => {
            if let Value::Nil = arg {
                // A map key printed with a bad verb.
                out.push_str(&format!("%!{verb}(string={s})"));
            } else {
                bad_verb(out, arg, verb);
            }
        }
    }
}

/// `template.HTMLEscapeString`.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// `template.JSEscapeString`.
pub fn js_escape(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => {
                let b = c as u8;
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
            c if (c as u32) < 0x80 => out.push(c),
            c if is_print(c) => out.push(c),
            c => out.push_str(&format!("\\u{:04X}", c as u32)),
        }
    }
    out
}

/// `url.QueryEscape`.
pub fn url_query_escape(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
        }
    }
    out
}

//! Reasoning in the model's output, kept out of the answer: text between the template's
//! thinking tags (`<think>`/`</think>`, inferred from the template in the guest) is thinking,
//! the rest content. A tag split over tokens is held back until it is whole; when the prompt
//! already ends with the opening tag the output starts inside the thinking.

/// Where the parser stands in the output.
#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// Before anything but blanks: the opening tag may still come.
    Start,
    Thinking,
    Content,
}

pub struct ThinkingParser {
    open: String,
    close: String,
    state: State,
    held: String,
}

/// One step's split of the output.
#[derive(Debug, Default, PartialEq)]
pub struct Split {
    pub thinking: String,
    pub content: String,
}

impl ThinkingParser {
    pub fn new(open: &str, close: &str, prompt_ends_open: bool) -> ThinkingParser {
        let state = if prompt_ends_open { State::Thinking } else { State::Start };
        ThinkingParser { open: open.into(), close: close.into(), state, held: String::new() }
    }

    pub fn push(&mut self, text: &str) -> Split {
        self.held.push_str(text);
        let mut out = Split::default();
        loop {
            match self.state {
                State::Start => {
                    let t = self.held.trim_start();
                    if t.starts_with(self.open.as_str()) {
                        let at = self.held.len() - t.len() + self.open.len();
                        self.held.drain(..at);
                        self.state = State::Thinking;
                    } else if t.is_empty() || self.open.starts_with(t) {
                        return out; // still may be the opening tag
                    } else {
                        self.state = State::Content;
                    }
                }
                State::Thinking => match self.held.find(self.close.as_str()) {
                    Some(at) => {
                        out.thinking += &self.held[..at];
                        self.held.drain(..at + self.close.len());
                        // The answer starts after the blank line models put after the tag.
                        let rest = self.held.trim_start().to_string();
                        self.held = rest;
                        self.state = State::Content;
                    }
                    None => {
                        let keep = partial_suffix(&self.held, &self.close);
                        let cut = self.held.len() - keep;
                        out.thinking += &self.held[..cut];
                        self.held.drain(..cut);
                        return out;
                    }
                },
                State::Content => {
                    out.content += &std::mem::take(&mut self.held);
                    return out;
                }
            }
        }
    }

    /// Whatever is still held at the end of the output.
    pub fn finish(&mut self) -> Split {
        let held = std::mem::take(&mut self.held);
        match self.state {
            State::Thinking => Split { thinking: held, content: String::new() },
            _ => Split { thinking: String::new(), content: held },
        }
    }
}

/// Length of the longest suffix of `text` that is a proper prefix of `tag`.
pub(crate) fn partial_suffix(text: &str, tag: &str) -> usize {
    (1..tag.len().min(text.len() + 1))
        .rev()
        .find(|&n| {
            let start = text.len() - n;
            text.is_char_boundary(start) && tag.as_bytes().starts_with(&text.as_bytes()[start..])
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pieces: &[&str], inside: bool) -> (String, String) {
        let mut p = ThinkingParser::new("<think>", "</think>", inside);
        let (mut t, mut c) = (String::new(), String::new());
        for piece in pieces {
            let s = p.push(piece);
            t += &s.thinking;
            c += &s.content;
        }
        let s = p.finish();
        (t + &s.thinking, c + &s.content)
    }

    #[test]
    fn thinking_is_split_from_content_across_split_tags() {
        assert_eq!(run(&["<th", "ink>Let me", " see.</th", "ink>\n\nParis."], false), ("Let me see.".into(), "Paris.".into()));
        assert_eq!(run(&["Let me see.</think>Paris."], true), ("Let me see.".into(), "Paris.".into()));
        assert_eq!(run(&["Paris, <think> is text here."], false), ("".into(), "Paris, <think> is text here.".into()));
        assert_eq!(run(&["  <think>unfinished"], false), ("unfinished".into(), "".into()));
    }
}

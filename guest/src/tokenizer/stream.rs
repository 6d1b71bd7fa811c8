//! Streaming detokenization: tokens may end in the middle of a UTF-8 character (byte tokens,
//! byte-level BPE pieces of an emoji), so text is released only a whole character at a time.

#[derive(Debug, Default, Clone)]
pub struct StreamDecoder {
    /// The start of a character whose remaining bytes have not arrived yet (at most 3 bytes).
    pending: Vec<u8>,
}

impl StreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a token's bytes; returns the complete characters now available. Bytes that can never
    /// form a character become U+FFFD; an incomplete sequence at the end is held back.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    out.push_str(std::str::from_utf8(valid).expect("validated prefix"));
                    match e.error_len() {
                        Some(n) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[n..];
                        }
                        // A valid but unfinished sequence: wait for the next token.
                        None => {
                            rest = after;
                            break;
                        }
                    }
                }
            }
        }
        let keep = rest.len();
        self.pending.drain(..self.pending.len() - keep);
        out
    }

    /// Ends the stream: an unfinished character becomes U+FFFD.
    pub fn flush(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_back_split_characters() {
        let mut d = StreamDecoder::new();
        let smile = "🙂".as_bytes();
        assert_eq!(d.push(b"a"), "a");
        assert_eq!(d.push(&smile[..1]), "");
        assert_eq!(d.push(&smile[1..3]), "");
        assert_eq!(d.push(&smile[3..]), "🙂");
        assert_eq!(d.push("é!".as_bytes()), "é!");
        assert_eq!(d.flush(), "");
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let mut d = StreamDecoder::new();
        assert_eq!(d.push(&[b'x', 0xFF, b'y']), "x\u{FFFD}y");
        // a lead byte followed by a non-continuation byte is invalid at once
        assert_eq!(d.push(&[0xE2, b'z']), "\u{FFFD}z");
        assert_eq!(d.push(&[0xF0, 0x9F]), "");
        assert_eq!(d.flush(), "\u{FFFD}");
        assert_eq!(d.flush(), "");
    }
}

//! The tokenizers against llama.cpp's output on the test models (tests/golden/*.json).
//! The models come from `scripts/fetch-models.sh smollm2 gemma3`; a missing model fails.

use serde_json::Value;
use std::path::PathBuf;
use std::time::Instant;
use wollama_guest::gguf::{self, native::FileSource, Gguf};
use wollama_guest::tokenizer::{StreamDecoder, Tokenizer};

struct Model {
    env: &'static str,
    file: &'static str,
    golden: &'static str,
    fetch: &'static str,
}

const SMOLLM2: Model =
    Model { env: "WOLLAMA_SMOLLM2", file: "SmolLM2-135M-Instruct.Q4_1.gguf", golden: "smollm2.json", fetch: "smollm2" };
const GEMMA3: Model =
    Model { env: "WOLLAMA_GEMMA3", file: "gemma-3-270m-q4_k_m.gguf", golden: "gemma3.json", fetch: "gemma3" };

fn model_path(m: &Model) -> PathBuf {
    if let Some(p) = std::env::var_os(m.env) {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").expect("HOME is set");
    PathBuf::from(home).join(".cache/wollama/models").join(m.file)
}

fn load(m: &Model) -> (Tokenizer, Value) {
    let path = model_path(m);
    let file = std::fs::File::open(&path).unwrap_or_else(|e| {
        panic!(
            "test model {} is missing ({e}): run `scripts/fetch-models.sh {}` (or set {})",
            path.display(),
            m.fetch,
            m.env
        )
    });
    let g = Gguf::parse(&FileSource(file)).expect("the test model parses");
    let t0 = Instant::now();
    let tok = Tokenizer::from_gguf(&g).expect("the tokenizer loads");
    eprintln!("{}: tokenizer loaded in {:?}", m.file, t0.elapsed());
    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/golden").join(m.golden);
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(golden).unwrap()).unwrap();
    (tok, golden)
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().expect("an id list").iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

/// Bytes as Python's `decode("utf-8", "backslashreplace")` shows them (the goldens' `pieces`).
fn show(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                break;
            }
            Err(e) => {
                let (ok, bad) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(ok).unwrap());
                let n = e.error_len().unwrap_or(bad.len());
                for b in &bad[..n] {
                    out.push_str(&format!("\\x{b:02x}"));
                }
                rest = &bad[n..];
            }
        }
    }
    out
}

fn check_tokenize_cases(m: &Model) {
    let (tok, golden) = load(m);
    let mut failures = Vec::new();
    for case in golden["tokenize"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let text = case["text"].as_str().unwrap();
        let want = ids(&case["ids_no_special"]);
        let got = tok.encode(text, false, false);
        if got != want {
            failures.push(format!("{name}: encode(text, false, false)\n   got {got:?}\n  want {want:?}"));
        }
        let want_special = ids(&case["ids_add_special"]);
        let got_special = tok.encode(text, true, false);
        if got_special != want_special {
            failures
                .push(format!("{name}: encode(text, true, false)\n   got {got_special:?}\n  want {want_special:?}"));
        }
        let pieces: Vec<String> = want.iter().map(|&id| show(&tok.token_bytes(id, false))).collect();
        let want_pieces: Vec<&str> = case["pieces"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
        if pieces != want_pieces {
            failures.push(format!("{name}: pieces\n   got {pieces:?}\n  want {want_pieces:?}"));
        }
        if case["roundtrip_equal"].as_bool() == Some(true) {
            assert_eq!(tok.decode(&want), text, "{name}: decode round trip");
            assert_eq!(tok.decode(&want_special), text, "{name}: decode skips BOS (a control token)");
        }
    }
    assert!(failures.is_empty(), "{} golden mismatches:\n{}", failures.len(), failures.join("\n"));
}

fn check_special_tokens_case(m: &Model) {
    let (tok, golden) = load(m);
    let case = &golden["special_tokens_case"];
    let text = case["text"].as_str().unwrap();
    assert_eq!(tok.encode(text, false, true), ids(&case["ids_parse_special"]), "parse_special = true");
    assert_eq!(tok.encode(text, false, false), ids(&case["ids_no_parse_special"]), "parse_special = false");
}

fn check_chat_prompts(m: &Model) {
    let (tok, golden) = load(m);
    for g in golden["greedy"].as_array().unwrap() {
        let prompt = g["prompt_text"].as_str().unwrap();
        let want = ids(&g["prompt_ids"]);
        assert_eq!(tok.encode(prompt, true, true), want, "{}: prompt_ids", g["name"]);
        // Control tokens vanish from text unless asked for.
        let with_specials: Vec<u8> = want.iter().flat_map(|&id| tok.token_bytes(id, true)).collect();
        let bos = tok.bos().filter(|_| tok.add_bos()).map(|b| tok.token_text(b).unwrap().to_string());
        assert_eq!(String::from_utf8(with_specials).unwrap(), bos.unwrap_or_default() + prompt);
    }
}

#[test]
fn smollm2_tokenize_goldens() {
    check_tokenize_cases(&SMOLLM2);
}

#[test]
fn smollm2_special_tokens() {
    check_special_tokens_case(&SMOLLM2);
}

#[test]
fn smollm2_chat_prompts() {
    check_chat_prompts(&SMOLLM2);
}

#[test]
fn gemma3_tokenize_goldens() {
    check_tokenize_cases(&GEMMA3);
}

#[test]
fn gemma3_special_tokens() {
    check_special_tokens_case(&GEMMA3);
}

#[test]
fn gemma3_chat_prompts() {
    check_chat_prompts(&GEMMA3);
}

#[test]
fn smollm2_metadata_and_eog() {
    let (tok, _) = load(&SMOLLM2);
    assert_eq!(tok.vocab_size(), 49152);
    assert_eq!((tok.bos(), tok.eos(), tok.add_bos()), (Some(1), Some(2), false));
    assert_eq!(tok.token_text(2), Some("<|im_end|>"));
    assert_eq!(tok.token_text(49152), None);
    // <|endoftext|>, <|im_end|>, and <reponame> (llama.cpp's FIM "repo" token, which it also
    // counts as end of generation): the set llama.cpp b11434 prints for this model
    assert_eq!(tok.eog_ids(), vec![0, 2, 4]);
    assert!(tok.is_eog(2) && tok.is_eog(0) && !tok.is_eog(1) && !tok.is_eog(198));
    assert_eq!(tok.token_bytes(2, false), b"");
    assert_eq!(tok.token_bytes(2, true), b"<|im_end|>");
    assert_eq!(tok.token_bytes(198, false), b"\n");
    assert_eq!(tok.token_bytes(u32::MAX, true), b"");
}

#[test]
fn gemma3_metadata_and_eog() {
    let (tok, _) = load(&GEMMA3);
    assert_eq!(tok.vocab_size(), 262144);
    assert_eq!((tok.bos(), tok.eos(), tok.add_bos()), (Some(2), Some(1), true));
    // as llama.cpp b11434 lists them (it also makes </s> a control token in this vocabulary)
    assert_eq!(tok.eog_ids(), vec![1, 106, 212]);
    assert_eq!(tok.token_bytes(212, false), b"");
    assert_eq!(tok.token_text(106), Some("<end_of_turn>"));
    // byte tokens give their byte; characters outside the vocabulary fall back to them
    assert_eq!(tok.token_bytes(248, false), b"\n");
    assert_eq!(tok.encode("\u{4}", false, false), vec![238 + 4]);
    let ids = tok.encode("\u{1FAE8}", false, false);
    assert_eq!(ids, "\u{1FAE8}".bytes().map(|b| 238 + b as u32).collect::<Vec<_>>());
    assert_eq!(tok.decode(&ids), "\u{1FAE8}");
}

/// The other pre-tokenizers, on SmolLM2's vocabulary with `tokenizer.ggml.pre` swapped: ids from
/// llama.cpp b11434's llama-tokenize on the same metadata (--no-bos).
#[test]
fn other_pre_tokenizers_match_llama_cpp() {
    const TEXT: &str = "Hello  world!\n\n  It's 2024-11-24, IT'S 1234567 ½ café e\u{301} 日本語 🙂 $5+3<=>~|x`y\t\tdone... we'll\r\n  end  ";
    const EXPECTED: &[(&str, &[u32])] = &[
        (
            "chatglm-bpe",
            &[
                19556, 216, 905, 17, 1116, 216, 657, 506, 216, 34, 32, 34, 36, 29, 33, 33, 29, 34, 36, 28, 9627, 23,
                67, 216, 33, 34, 35, 36, 37, 38, 39, 216, 16738, 37366, 297, 151, 219, 17097, 241, 115, 40993, 179,
                120, 248, 47526, 1885, 37, 27, 35, 44, 45, 46, 110, 108, 104, 80, 105, 197, 197, 22744, 2026, 392,
                3060, 2738, 216, 1112, 256,
            ],
        ),
        (
            "dbrx",
            &[
                19556, 216, 905, 17, 1116, 216, 657, 506, 216, 34, 32, 34, 36, 29, 33, 33, 29, 34, 36, 28, 9627, 23,
                67, 216, 33, 34, 35, 36, 37, 38, 39, 216, 16738, 37366, 297, 151, 219, 17097, 241, 115, 40993, 179,
                120, 248, 47526, 1885, 37, 27, 35, 44, 45, 46, 110, 108, 104, 80, 105, 197, 197, 22744, 2026, 392,
                3060, 2738, 216, 1112, 256,
            ],
        ),
        (
            "deepseek-coder",
            &[
                19556, 216, 905, 17, 198, 198, 216, 657, 23, 99, 216, 34, 32, 34, 36, 29, 33, 33, 29, 34, 36, 28, 9627,
                23, 67, 216, 33, 34, 35, 36, 37, 38, 39, 216, 16738, 37366, 297, 151, 219, 216, 23274, 115, 40993, 179,
                120, 248, 47526, 1885, 37, 27, 35, 44, 45, 46, 110, 108, 104, 80, 105, 197, 197, 22744, 2026, 392, 23,
                764, 201, 198, 216, 1112, 256,
            ],
        ),
        (
            "default",
            &[
                19556, 216, 905, 17, 8866, 657, 23, 99, 216, 34, 32, 34, 36, 29, 33, 33, 29, 34, 36, 28, 9627, 23, 67,
                216, 33, 34, 35, 36, 37, 38, 39, 216, 16738, 37366, 297, 151, 219, 17097, 241, 115, 40993, 179, 120,
                248, 47526, 216, 20, 37, 27, 35, 44, 45, 46, 110, 108, 104, 80, 105, 197, 197, 22744, 2026, 392, 23,
                764, 23799, 1112, 256,
            ],
        ),
        (
            "falcon",
            &[
                19556, 216, 905, 17, 8866, 657, 23, 99, 216, 34, 32, 34, 36, 29, 33, 33, 29, 34, 36, 28, 9627, 23, 67,
                216, 33, 34, 35, 36, 37, 38, 39, 3351, 138, 37366, 297, 151, 219, 17097, 241, 115, 40993, 179, 120,
                248, 47526, 216, 20, 37, 27, 35, 44, 45, 46, 110, 108, 104, 80, 105, 197, 197, 22744, 2026, 392, 23,
                764, 23799, 1112, 256,
            ],
        ),
        (
            "gpt-2",
            &[
                19556, 216, 905, 17, 8866, 657, 506, 216, 34, 32, 34, 36, 29, 33, 33, 29, 34, 36, 28, 9627, 23, 67,
                216, 33, 34, 35, 36, 37, 38, 39, 3351, 138, 37366, 297, 151, 219, 17097, 241, 115, 40993, 179, 120,
                248, 47526, 1885, 37, 27, 35, 44, 45, 46, 110, 108, 104, 80, 105, 197, 197, 22744, 2026, 392, 3060,
                23799, 1112, 256,
            ],
        ),
        (
            "gpt-4o",
            &[
                19556, 216, 905, 17, 1116, 216, 657, 506, 216, 34, 32, 34, 36, 29, 33, 33, 29, 34, 36, 28, 9627, 23,
                67, 216, 33, 34, 35, 36, 37, 38, 39, 216, 16738, 37366, 297, 151, 219, 17097, 241, 115, 40993, 179,
                120, 248, 47526, 1885, 37, 27, 35, 44, 45, 46, 110, 108, 104, 80, 105, 197, 197, 22744, 2026, 392,
                3060, 2738, 216, 1112, 256,
            ],
        ),
        (
            "llama-bpe",
            &[
                19556, 216, 905, 17, 1116, 216, 657, 506, 216, 34, 32, 34, 36, 29, 33, 33, 29, 34, 36, 28, 9627, 23,
                67, 216, 33, 34, 35, 36, 37, 38, 39, 216, 16738, 37366, 297, 151, 219, 17097, 241, 115, 40993, 179,
                120, 248, 47526, 1885, 37, 27, 35, 44, 45, 46, 110, 108, 104, 80, 105, 197, 197, 22744, 2026, 392,
                3060, 2738, 216, 1112, 256,
            ],
        ),
        (
            "poro-chat",
            &[
                19556, 216, 905, 17, 8866, 657, 506, 216, 34, 32, 34, 36, 29, 33, 33, 29, 34, 36, 28, 9627, 23, 67,
                216, 33, 34, 35, 36, 37, 38, 39, 3351, 138, 37366, 297, 151, 219, 17097, 241, 115, 40993, 179, 120,
                248, 47526, 1885, 37, 27, 35, 44, 45, 46, 110, 108, 104, 80, 105, 1656, 22744, 2026, 392, 3060, 23799,
                1112, 256,
            ],
        ),
        (
            "qwen2",
            &[
                19556, 216, 905, 17, 1116, 216, 657, 506, 216, 34, 32, 34, 36, 29, 33, 33, 29, 34, 36, 28, 9627, 23,
                67, 216, 33, 34, 35, 36, 37, 38, 39, 216, 16738, 37366, 297, 151, 219, 17097, 241, 115, 40993, 179,
                120, 248, 47526, 1885, 37, 27, 35, 44, 45, 46, 110, 108, 104, 80, 105, 197, 197, 22744, 2026, 392,
                3060, 2738, 216, 1112, 256,
            ],
        ),
        (
            "tekken",
            &[
                19556, 216, 905, 17, 1116, 216, 657, 506, 216, 34, 32, 34, 36, 29, 33, 33, 29, 34, 36, 28, 9627, 23,
                67, 216, 33, 34, 35, 36, 37, 38, 39, 216, 16738, 37366, 297, 151, 219, 17097, 241, 115, 40993, 179,
                120, 248, 47526, 1885, 37, 27, 35, 44, 45, 46, 110, 108, 104, 80, 105, 197, 197, 22744, 2026, 392,
                3060, 2738, 216, 1112, 256,
            ],
        ),
        (
            "viking",
            &[
                19556, 216, 905, 17, 8866, 657, 506, 216, 34, 32, 34, 36, 29, 33, 33, 29, 34, 36, 28, 9627, 23, 67,
                216, 33, 34, 35, 36, 37, 38, 39, 216, 16738, 37366, 297, 151, 219, 17097, 241, 115, 40993, 179, 120,
                248, 47526, 1885, 37, 27, 35, 44, 45, 46, 110, 108, 104, 80, 105, 1656, 22744, 2026, 392, 3060, 23799,
                1112, 256,
            ],
        ),
    ];
    let path = model_path(&SMOLLM2);
    let file = std::fs::File::open(&path).unwrap_or_else(|e| {
        panic!("test model {} is missing ({e}): run `scripts/fetch-models.sh smollm2`", path.display())
    });
    let base = Gguf::parse(&FileSource(file)).expect("the test model parses");
    for &(pre, want) in EXPECTED {
        let mut g = base.clone();
        g.metadata.insert("tokenizer.ggml.pre".into(), gguf::Value::Str(pre.into()));
        let tok = Tokenizer::from_gguf(&g).unwrap_or_else(|e| panic!("{pre}: {e}"));
        assert_eq!(tok.encode(TEXT, false, true), want, "pre-tokenizer {pre}");
    }
    let mut g = base.clone();
    g.metadata.insert("tokenizer.ggml.pre".into(), gguf::Value::Str("no-such-pre".into()));
    assert!(Tokenizer::from_gguf(&g).err().unwrap().contains("no-such-pre"));
}

/// Byte-level pieces of emoji arrive one invalid fragment at a time; the stream decoder must
/// give each character exactly once and never a replacement character.
#[test]
fn stream_decoder_reassembles_split_characters() {
    for m in [&SMOLLM2, &GEMMA3] {
        let (tok, golden) = load(m);
        for case in golden["tokenize"].as_array().unwrap() {
            let text = case["text"].as_str().unwrap();
            let mut d = StreamDecoder::new();
            let mut out = String::new();
            for id in ids(&case["ids_no_special"]) {
                let piece = d.push(&tok.token_bytes(id, false));
                assert!(!piece.contains('\u{FFFD}'), "{}: {piece:?}", case["name"]);
                out.push_str(&piece);
            }
            out.push_str(&d.flush());
            assert_eq!(out, text);
        }
    }
    let (tok, _) = load(&SMOLLM2);
    let ids = tok.encode("🤖", false, false);
    assert!(ids.len() > 1, "the robot emoji is split into byte pieces: {ids:?}");
    let mut d = StreamDecoder::new();
    let outs: Vec<String> = ids.iter().map(|&id| d.push(&tok.token_bytes(id, false))).collect();
    assert_eq!(outs.last().unwrap(), "🤖");
    assert!(outs[..outs.len() - 1].iter().all(String::is_empty), "{outs:?}");
}

/// Round trips and special-token handling on text the goldens do not cover.
#[test]
fn more_round_trips() {
    let text = "Tabs\tand  spaces, <|im_start|> <start_of_turn> lookalikes <|im_end|x>, émojis 🤖🚀, CJK 漢字かな, \
                numbers 3.14159e-10, code `fn main() { println!(\"hi\"); }`\r\n\u{0}\u{7f}\u{85}\u{a0}end";
    for m in [&SMOLLM2, &GEMMA3] {
        let (tok, _) = load(m);
        assert_eq!(tok.decode(&tok.encode(text, false, false)), text, "{}", m.file);
        // As plain text, the special token's characters are tokenized like any others.
        let plain = tok.encode(text, false, false);
        let parsed = tok.encode(text, false, true);
        assert!(parsed.len() < plain.len(), "{}: a control token is one token when parsed", m.file);
    }
}

/// Encoding speed on about 1 KB of mixed text (printed; the bound only catches pathologies).
#[test]
fn encode_speed() {
    let unit = "The quick brown fox jumps over the lazy dog; naïve café 日本語 🙂 1234567 <|im_end|>\n";
    let text: String = unit.repeat(1024 / unit.len() + 1);
    for m in [&SMOLLM2, &GEMMA3] {
        let (tok, _) = load(m);
        let runs = 200;
        let t0 = Instant::now();
        let mut n = 0;
        for _ in 0..runs {
            n += tok.encode(&text, true, true).len();
        }
        let per = t0.elapsed() / runs;
        eprintln!("{}: {} bytes -> {} tokens in {per:?}", m.file, text.len(), n / runs as usize);
        assert!(per.as_millis() < 50, "encoding 1 KB took {per:?}");
    }
}

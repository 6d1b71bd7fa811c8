//! all-MiniLM-L6-v2 converted from safetensors and run through the guest's BERT encoder:
//! pooled vectors for the golden sentences match sentence-transformers' (cosine >= 0.9999),
//! in F32 and F16 conversions, and a batch of all sentences gives what each gives alone.

use wollama_runtime::{EngineOptions, Runtime};
use wollama_tests::{convert_minilm, cosine, embed_all, golden};

struct Case {
    index: u64,
    ids: Vec<u32>,
    want: Vec<f32>,
}

fn cases() -> Vec<Case> {
    golden("minilm")["sentences"]
        .as_array()
        .expect("sentences")
        .iter()
        .map(|s| Case {
            index: s["index"].as_u64().unwrap(),
            ids: wollama_tests::ids(&s["token_ids"]),
            want: s["embedding_unnormalized"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect(),
        })
        .collect()
}

fn session(target: &str, dir: &tempfile::TempDir) -> wollama_runtime::Session {
    let path = dir.path().join(format!("minilm-{target}.gguf"));
    convert_minilm(target, &path);
    let mut s = Runtime::shared().unwrap().open(&path, 2).expect("the converted model opens");
    s.start_engine(EngineOptions { max_slots: 64, ctx_cells: 2048, batch_tokens: 2048 }).expect("encoder engine");
    s
}

fn check(target: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut s = session(target, &dir);
    let cases = cases();
    // The tokenizer's ids are the reference's (sentence 12 as the reference truncated it).
    for c in cases.iter().filter(|c| c.ids.len() < 256) {
        let text = golden("minilm")["sentences"][(c.index - 1) as usize]["text"].as_str().unwrap().to_string();
        assert_eq!(s.tokenize(&text, true, true).unwrap(), c.ids, "sentence {}", c.index);
    }
    let prompts: Vec<Vec<u32>> = cases.iter().map(|c| c.ids.clone()).collect();
    let alone: Vec<Vec<f32>> = prompts.iter().map(|p| embed_all(&mut s, std::slice::from_ref(p)).remove(0)).collect();
    let batched = embed_all(&mut s, &prompts);
    for ((c, a), b) in cases.iter().zip(&alone).zip(&batched) {
        let cos = cosine(a, &c.want);
        assert!(cos >= 0.9999, "{target}: sentence {} has cosine {cos} to sentence-transformers", c.index);
        let agree = cosine(a, b);
        assert!(agree >= 0.999_999, "{target}: sentence {} batched vs alone: cosine {agree}", c.index);
        eprintln!("{target} sentence {:2}: cosine {cos:.7}, batch vs alone {agree:.9}", c.index);
    }
}

#[test]
fn f32_conversion_matches_sentence_transformers() {
    check("f32");
}

#[test]
fn f16_conversion_matches_sentence_transformers() {
    check("f16");
}

#[test]
fn the_encoder_refuses_generation_and_long_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = session("f16", &dir);
    let e = s.submit(&wollama_tests::request(vec![101, 102], wollama_tests::greedy(), 4)).unwrap_err().to_string();
    assert!(e.contains("only computes embeddings"), "{e}");
    let e = s.embed(&vec![1000; 3000]).unwrap_err().to_string();
    assert!(e.contains("more than the context"), "{e}");
}

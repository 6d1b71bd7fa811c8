//! The safetensors conversion of all-MiniLM-L6-v2 (from `scripts/fetch-models.sh minilm`):
//! the planned GGUF parses, carries llama.cpp's BERT metadata and tensor names, builds an
//! encoder graph, and its WordPiece tokenizer gives sentence-transformers' ids for the golden
//! sentences. Native: the F32 -> F32 conversion is a plain byte copy, assembled here.

use std::path::PathBuf;

use serde_json::Value;
use wollama_guest::convert;
use wollama_guest::gguf::Gguf;
use wollama_guest::tokenizer::Tokenizer;

fn model_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("WOLLAMA_MINILM") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").expect("HOME is set");
    let dir = PathBuf::from(home).join(".cache/wollama/models/all-minilm-l6-v2");
    assert!(dir.join("model.safetensors").exists(), "{} is missing: run scripts/fetch-models.sh minilm", dir.display());
    dir
}

fn text_files(dir: &std::path::Path) -> Vec<(String, String)> {
    ["config.json", "tokenizer.json", "modules.json", "1_Pooling/config.json"]
        .iter()
        .map(|n| (n.to_string(), std::fs::read_to_string(dir.join(n)).unwrap()))
        .collect()
}

/// The whole GGUF file, in memory.
fn convert_f32() -> Vec<u8> {
    let dir = model_dir();
    let st = std::fs::read(dir.join("model.safetensors")).unwrap();
    let n = u64::from_le_bytes(st[..8].try_into().unwrap()) as usize;
    let plan = convert::plan(&text_files(&dir), &st[..8 + n], st.len() as u64, "f32").unwrap();
    let mut out = plan.header;
    for t in plan.tensors {
        assert_eq!((t.source_type, t.target_type), (convert::F32, convert::F32));
        out.extend_from_slice(&st[t.source_offset as usize..(t.source_offset + t.source_len) as usize]);
        out.resize(out.len() + t.padding as usize, 0);
    }
    out
}

fn golden() -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/golden/minilm.json");
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn minilm_converts_to_a_bert_gguf_that_builds_an_encoder() {
    let bytes = convert_f32();
    let g = Gguf::parse(&bytes[..]).expect("the converted GGUF parses");
    assert_eq!(g.architecture().unwrap(), "bert");
    assert_eq!(g.u64("bert.pooling_type"), Some(1), "mean pooling, from 1_Pooling/config.json");
    assert_eq!(g.u64("bert.block_count"), Some(6));
    assert_eq!(g.u64("bert.context_length"), Some(512));
    assert_eq!(g.bool("bert.attention.causal"), Some(false));
    assert_eq!(g.u64("tokenizer.ggml.cls_token_id"), Some(101));
    assert_eq!(g.u64("tokenizer.ggml.seperator_token_id"), Some(102));
    let t = g.tensor("blk.5.ffn_down.weight").expect("a mapped layer tensor");
    assert_eq!(t.dims, vec![1536, 384], "ggml order is the reverse of the safetensors shape");
    assert!(g.tensor("embeddings.position_ids").is_none() && g.tensor("position_embd.weight").is_some());
    let (_, graph) = wollama_guest::model::build_graph(&g).expect("an encoder graph");
    assert!(graph.is_embedding());
    assert_eq!(graph.kv.widths, vec![384; 6]);
}

#[test]
fn f16_conversion_keeps_vectors_f32() {
    let dir = model_dir();
    let st = std::fs::read(dir.join("model.safetensors")).unwrap();
    let n = u64::from_le_bytes(st[..8].try_into().unwrap()) as usize;
    let plan = convert::plan(&text_files(&dir), &st[..8 + n], st.len() as u64, "f16").unwrap();
    let types: std::collections::BTreeSet<u32> = plan.tensors.iter().map(|t| t.target_type).collect();
    assert_eq!(types, [convert::F32, convert::F16].into());
    let err = convert::plan(&text_files(&dir), &st[..8 + n], st.len() as u64, "q4_0").unwrap_err();
    assert!(err.contains("f32 and f16"), "{err}");
    let err = convert::plan(&text_files(&dir), &st[..8 + n], 1000, "f16").unwrap_err();
    assert!(err.contains("outside the file") || err.contains("more than the file"), "{err}");
    let err = convert::plan(&text_files(&dir)[1..], &st[..8 + n], st.len() as u64, "f16").unwrap_err();
    assert_eq!(err, "config.json is missing from the model directory");
}

#[test]
fn wordpiece_ids_match_sentence_transformers() {
    let bytes = convert_f32();
    let g = Gguf::parse(&bytes[..]).unwrap();
    let tok = Tokenizer::from_gguf(&g).expect("the WordPiece tokenizer loads");
    for s in golden()["sentences"].as_array().unwrap() {
        let want: Vec<u32> = s["token_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let mut got = tok.encode(s["text"].as_str().unwrap(), true, true);
        if s["truncated"].as_bool() == Some(true) {
            // The reference cuts to 256 tokens and closes with [SEP].
            got.truncate(want.len());
            *got.last_mut().unwrap() = 102;
        }
        assert_eq!(got, want, "sentence {}: {:?}", s["index"], s["text"]);
    }
}
